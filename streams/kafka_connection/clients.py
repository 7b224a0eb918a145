"""How every Kafka client of capi-streams connects: one translation of the `[kafka]` security
keys into client arguments.

- `client_kwargs(kafka)`: keyword arguments for aiokafka's producer, consumer and admin client
  (`bootstrap_servers`, `security_protocol`, `ssl_context`, `sasl_*`).
- `faust_credentials(kafka)`: the same as faust `broker_credentials` (faust hands them to the
  aiokafka clients it creates: consumer, producer, topic creation).

Files and environment variables are read here, so a mistake is reported as a `ConfigError`
naming the key (`kafka.ssl_ca_file: cannot read ...`). Secrets stay `Secret`s until they are
handed to the client; nothing here logs.
"""

from __future__ import annotations

import importlib
import ssl
from typing import Any

from aiokafka.abc import AbstractTokenProvider

from streams.kafka_connection.oauth import OidcTokenProvider, RedactedTokens
from streams.settings import ConfigError, KafkaSettings, Secret

__all__ = ["client_kwargs", "faust_credentials", "kafka_secrets", "ssl_context", "token_provider"]


def _read_error(key: str, path: str, exc: OSError) -> ConfigError:
    return ConfigError(f"kafka.{key}: cannot read {path}: {exc.strerror or exc}")


def ssl_context(k: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (None otherwise): the CA file or the system's CAs,
    hostname verification unless `ssl_check_hostname = false`, the client certificate."""
    if k.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if k.ssl_ca_file:
        try:
            ctx.load_verify_locations(cafile=k.ssl_ca_file)
        except ssl.SSLError:  # before OSError: a subclass of it
            raise ConfigError(
                f"kafka.ssl_ca_file: {k.ssl_ca_file} holds no PEM certificate"
            ) from None
        except OSError as exc:
            raise _read_error("ssl_ca_file", k.ssl_ca_file, exc) from None
    ctx.check_hostname = k.ssl_check_hostname
    if k.ssl_cert_file:
        _load_client_certificate(ctx, k)
    return ctx


def _load_client_certificate(ctx: ssl.SSLContext, k: KafkaSettings) -> None:
    if k.ssl_key_password_env and k.ssl_key_password is None:
        raise ConfigError(
            f"kafka.ssl_key_password_env: the environment variable {k.ssl_key_password_env} "
            "that should hold the key's password is not set"
        )
    password = k.ssl_key_password.reveal() if k.ssl_key_password else None
    key_text = b""
    for key in ("ssl_cert_file", "ssl_key_file"):
        path = getattr(k, key)
        try:
            with open(path, "rb") as f:
                key_text = f.read()
        except OSError as exc:
            raise _read_error(key, path, exc) from None
    try:
        # A password callable: an encrypted key without one fails instead of prompting.
        ctx.load_cert_chain(k.ssl_cert_file, k.ssl_key_file, password=lambda: password or "")
    except ssl.SSLError as exc:
        if "MISMATCH" in str(exc.reason or "").upper():
            raise ConfigError(
                f"kafka.ssl_key_file: {k.ssl_key_file} is not the key of kafka.ssl_cert_file"
            ) from None
        if b"ENCRYPTED" in key_text:
            raise ConfigError(
                "kafka.ssl_key_password_env: the key in kafka.ssl_key_file is encrypted and "
                + ("the password does not open it" if password else "no password is set")
            ) from None
        raise ConfigError(
            "kafka.ssl_cert_file / kafka.ssl_key_file: cannot load the client certificate "
            f"and key ({exc.reason or 'not PEM'})"
        ) from None


def _sasl_password(k: KafkaSettings) -> Secret:
    if k.sasl_password is None:
        raise ConfigError(
            f"kafka.sasl_password_env: the environment variable {k.sasl_password_env} "
            "that should hold the SASL password is not set"
        )
    return k.sasl_password


def token_provider(k: KafkaSettings) -> AbstractTokenProvider:
    """The OAUTHBEARER token provider: `oauth_token_provider` ('module:callable', called with
    the [kafka] settings) or the built-in OIDC client-credentials provider."""
    if k.oauth_token_provider:
        return _custom_provider(k)
    if k.oauth_client_secret is None:
        raise ConfigError(
            f"kafka.oauth_client_secret_env: the environment variable "
            f"{k.oauth_client_secret_env} that should hold the client secret is not set"
        )
    return OidcTokenProvider(
        k.oauth_token_endpoint,
        k.oauth_client_id,
        k.oauth_client_secret,
        scope=k.oauth_scope,
        extensions=dict(e.split("=", 1) for e in k.oauth_extensions),
    )


def _custom_provider(k: KafkaSettings) -> AbstractTokenProvider:
    module_name, _, attr = k.oauth_token_provider.partition(":")
    where = f"kafka.oauth_token_provider: {k.oauth_token_provider!r}"
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import {module_name} ({exc.msg})") from None
    except AttributeError:
        raise ConfigError(f"{where}: {module_name} has no attribute {attr}") from None
    provider = factory(k)
    if not isinstance(provider, AbstractTokenProvider):
        raise ConfigError(
            f"{where}: returned {type(provider).__name__}, expected an "
            "aiokafka.abc.AbstractTokenProvider"
        )
    return RedactedTokens(provider)  # its tokens are redacted from the logs


def kafka_secrets(k: KafkaSettings) -> list[Secret]:
    """The secrets of the [kafka] settings (for the log redaction filter)."""
    return [s for s in (k.sasl_password, k.ssl_key_password, k.oauth_client_secret) if s]


def client_kwargs(k: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
    out: dict[str, Any] = {
        "bootstrap_servers": k.bootstrap_servers,
        "security_protocol": k.security_protocol,
    }
    ctx = ssl_context(k)
    if ctx is not None:
        out["ssl_context"] = ctx
    if not k.security_protocol.startswith("SASL_"):
        return out
    out["sasl_mechanism"] = k.sasl_mechanism
    if k.sasl_mechanism == "OAUTHBEARER":
        out["sasl_oauth_token_provider"] = token_provider(k)
    else:
        out["sasl_plain_username"] = k.sasl_username
        out["sasl_plain_password"] = _sasl_password(k).reveal()
    return out


def faust_credentials(k: KafkaSettings) -> Any:
    """faust `broker_credentials` for the settings (None for PLAINTEXT)."""
    from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials

    ctx = ssl_context(k)
    if k.security_protocol == "SSL":
        return SSLCredentials(ctx)
    if k.security_protocol == "PLAINTEXT":
        return None
    if k.sasl_mechanism == "OAUTHBEARER":
        return OAuthCredentials(oauth_cb=token_provider(k), ssl_context=ctx)
    return SASLCredentials(
        username=k.sasl_username,
        password=_sasl_password(k).reveal(),
        ssl_context=ctx,
        mechanism=k.sasl_mechanism,
    )
