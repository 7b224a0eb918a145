"""Start-up check of the Kafka connection, with an error a user can act on.

aiokafka reports every way a connection can fail as `KafkaConnectionError: Unable to bootstrap
from [...]` (the cause only in a log line). Before the worker, replay, import or a local run
start their clients, `check_connection(kafka)` connects to the bootstrap servers itself, step
by step, and raises `PreflightError` (a `ConfigError`) whose message names the key to fix:

| what went wrong | key named |
|---|---|
| not `host:port` | `kafka.bootstrap_servers` |
| no answer, refused, unknown host | `kafka.bootstrap_servers` |
| TLS listener but PLAINTEXT/SASL_PLAINTEXT configured, or the reverse | `kafka.security_protocol` |
| SASL listener without SASL configured, or the reverse | `kafka.security_protocol` |
| broker certificate not signed by a trusted CA | `kafka.ssl_ca_file` |
| certificate not valid for the host name | `kafka.bootstrap_servers`, `ssl_check_hostname` |
| client certificate missing or not accepted | `kafka.ssl_cert_file` |
| mechanism not enabled on the listener | `kafka.sasl_mechanism` |
| user or password refused | `kafka.sasl_username` / `kafka.sasl_password_env` |
| token refused or not obtainable | the `kafka.oauth_*` key |

One bootstrap server that works is enough (as for the clients); otherwise the first server's
failure is reported. Secrets never appear in the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka import errors as kafka_errors
from aiokafka.conn import create_conn
from aiokafka.protocol.metadata import MetadataRequest

from streams.kafka_connection.clients import client_kwargs
from streams.kafka_connection.oauth import OAuthTokenError
from streams.settings import ConfigError, KafkaSettings

__all__ = ["PreflightError", "check_connection", "parse_bootstrap"]

HOSTNAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


class PreflightError(ConfigError):
    """The Kafka connection does not work; the message names the key to fix."""


@dataclass(frozen=True)
class _Server:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_bootstrap(bootstrap: str) -> list[_Server]:
    """`host:port[,host:port]` (IPv6 as `[::1]:9092`), or a PreflightError naming the key."""
    servers = []
    for item in (part.strip() for part in bootstrap.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or "/" in item or not port.isdigit() or not 0 < int(port) < 65536:
            raise PreflightError(
                f"kafka.bootstrap_servers: {item!r} is not host:port "
                "(expected e.g. broker-1.example.com:9092,broker-2.example.com:9092)"
            )
        servers.append(_Server(host, int(port)))
    if not servers:
        raise PreflightError("kafka.bootstrap_servers: empty")
    return servers


async def check_connection(kafka: KafkaSettings, timeout_s: float = 15.0) -> None:
    """Connect, authenticate and fetch metadata once; PreflightError naming the key if not."""
    servers = parse_bootstrap(kafka.bootstrap_servers)
    kwargs = client_kwargs(kafka)  # ConfigError for unreadable files, unset variables
    kwargs.pop("bootstrap_servers")
    first: PreflightError | None = None
    for server in servers:
        try:
            await asyncio.wait_for(_check_server(server, kafka, kwargs), timeout_s)
            return
        except TimeoutError:
            error = PreflightError(
                f"kafka.bootstrap_servers: {server} did not answer within {timeout_s:g} s "
                f"(with security_protocol {kafka.security_protocol})"
            )
        except PreflightError as exc:
            error = exc
        first = first or error
    assert first is not None
    raise first


async def _check_server(server: _Server, kafka: KafkaSettings, kwargs: dict[str, Any]) -> None:
    await _reachable(server)
    tls = kafka.security_protocol in ("SSL", "SASL_SSL")
    speaks_tls = await _speaks_tls(server)
    if tls and not speaks_tls:
        raise PreflightError(
            f"kafka.security_protocol: {kafka.security_protocol} needs TLS, but the listener "
            f"at {server} does not speak TLS (PLAINTEXT or SASL_PLAINTEXT there?)"
        )
    if speaks_tls and not tls:
        raise PreflightError(
            f"kafka.security_protocol: the listener at {server} expects TLS: set "
            f"security_protocol = SSL or SASL_SSL (not {kafka.security_protocol}) "
            "and kafka.ssl_ca_file"
        )
    try:
        conn = await create_conn(server.host, server.port, request_timeout_ms=10_000, **kwargs)
    except Exception as exc:  # noqa: BLE001  # every failure becomes a message naming a key
        raise PreflightError(_explain(exc, server, kafka)) from None
    try:
        await conn.send(MetadataRequest([]))
    except kafka_errors.KafkaError:
        raise PreflightError(
            f"kafka.security_protocol: the listener at {server} closed the connection after "
            f"the handshake: it expects SASL authentication (security_protocol "
            f"{'SASL_SSL' if tls else 'SASL_PLAINTEXT'} with kafka.sasl_mechanism), "
            f"not {kafka.security_protocol}"
        ) from None
    finally:
        conn.close()


async def _reachable(server: _Server) -> None:
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(server.host, server.port), 10
        )
    except TimeoutError:
        raise PreflightError(
            f"kafka.bootstrap_servers: {server} did not accept a connection within 10 s"
        ) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise PreflightError(f"kafka.bootstrap_servers: cannot reach {server} ({why})") from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _speaks_tls(server: _Server) -> bool:
    """Whether the listener completes a TLS handshake (certificate not checked here)."""
    probe = ssl.create_default_context()
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(server.host, server.port, ssl=probe), 10
        )
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


def _explain(exc: BaseException, server: _Server, kafka: KafkaSettings) -> str:
    if isinstance(exc, ConfigError | OAuthTokenError):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _explain_certificate(exc, server)
    if isinstance(exc, ssl.SSLError):
        if "CERTIFICATE_REQUIRED" in str(exc).upper():
            return (
                f"kafka.ssl_cert_file: the listener at {server} requires a client certificate "
                "(mutual TLS): set ssl_cert_file and ssl_key_file"
            )
        return f"kafka.ssl_ca_file: TLS with {server} failed ({exc.reason or exc})"
    if isinstance(exc, kafka_errors.KafkaConnectionError) and kafka.ssl_cert_file:
        return (
            f"kafka.ssl_cert_file: the broker at {server} closed the connection after the TLS "
            "handshake: it does not accept the client certificate (signed by a CA it does "
            "not trust?)"
        )
    if isinstance(exc, kafka_errors.KafkaConnectionError) and "SSL" in kafka.security_protocol:
        return (
            f"kafka.ssl_cert_file: the broker at {server} closed the connection after the TLS "
            "handshake: it probably requires a client certificate (mutual TLS): set "
            "ssl_cert_file and ssl_key_file"
        )
    if isinstance(exc, kafka_errors.IllegalSaslStateError):
        return (
            f"kafka.security_protocol: the listener at {server} does not take SASL "
            f"authentication: set security_protocol = "
            f"{'SSL' if kafka.security_protocol == 'SASL_SSL' else 'PLAINTEXT'} "
            "(and remove the sasl_* keys), or use the broker's SASL listener"
        )
    if isinstance(exc, kafka_errors.UnsupportedSaslMechanismError):
        return f"kafka.sasl_mechanism: {kafka.sasl_mechanism} is not enabled at {server}: {exc}"
    if isinstance(
        exc, kafka_errors.SaslAuthenticationFailed | kafka_errors.AuthenticationFailedError
    ):
        return _explain_refusal(exc, server, kafka)
    return (
        f"kafka.bootstrap_servers: connecting to {server} with security_protocol "
        f"{kafka.security_protocol} failed ({type(exc).__name__})"
    )


def _explain_certificate(exc: ssl.SSLCertVerificationError, server: _Server) -> str:
    if exc.verify_code in HOSTNAME_MISMATCH:
        return (
            f"kafka.bootstrap_servers: the broker certificate at {server} is not valid for the "
            f"name {server.host!r}: connect by a name the certificate holds "
            "(hostname verification: kafka.ssl_check_hostname)"
        )
    return (
        f"kafka.ssl_ca_file: the broker certificate at {server} is not trusted "
        f"({exc.verify_message}): set ssl_ca_file to the CA that signed it"
    )


def _explain_refusal(exc: BaseException, server: _Server, kafka: KafkaSettings) -> str:
    said = str(exc).split(": ", 1)[-1]
    for secret in (kafka.sasl_password, kafka.oauth_client_secret):
        if secret is not None:
            said = said.replace(secret.reveal(), "***")
    said = said[:200]  # after the secrets are replaced: a cut must not leave a secret's prefix
    if kafka.sasl_mechanism == "OAUTHBEARER":
        key = (
            "kafka.oauth_token_provider"
            if kafka.oauth_token_provider
            else "kafka.oauth_token_endpoint / kafka.oauth_scope"
        )
        return f"{key}: the broker at {server} refused the OAuth token ({said})"
    return (
        f"kafka.sasl_username / kafka.sasl_password_env: the broker at {server} refused user "
        f"{kafka.sasl_username!r} with {kafka.sasl_mechanism} ({said})"
    )
