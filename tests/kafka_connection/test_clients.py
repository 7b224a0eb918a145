"""streams/kafka_connection/clients.py: one translation of the [kafka] keys into client arguments.
Mistakes in files, variables and providers are ConfigErrors naming the key; the clients built
from the arguments connect to the session broker's secured listeners."""

from __future__ import annotations

import io
import logging
import logging.config
import shutil
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient
from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials

from streams.dev.broker import BrokerInfo
from streams.kafka.worker import worker_logging
from streams.kafka_connection.clients import (
    client_kwargs,
    faust_credentials,
    kafka_secrets,
    ssl_context,
)
from streams.kafka_connection.oauth import OidcTokenProvider, RedactedTokens
from streams.settings import ConfigError, KafkaSettings, load_settings
from tests.kafka.secure import kafka_env


class FixedToken(AbstractTokenProvider):  # type: ignore[misc]
    """For the extension point: `tests.kafka_connection.test_clients:fixed_token`."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka

    async def token(self) -> str:
        return "fixed"


def fixed_token(kafka: KafkaSettings) -> FixedToken:
    return FixedToken(kafka)


def not_a_provider(kafka: KafkaSettings) -> object:
    return object()


def _kafka(env: dict[str, str]) -> KafkaSettings:
    return load_settings(None, {"CAPI_KAFKA__BOOTSTRAP_SERVERS": "localhost:9093", **env}).kafka


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    assert exe is not None, "the TLS tests need openssl"
    subprocess.run([exe, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate with its key, the key encrypted, and an unrelated key."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "a.ec", cwd=d)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "a.ec", "-out", "a.key", cwd=d)
    _openssl(
        *("pkcs8", "-topk8", "-in", "a.ec", "-out", "a-enc.key"),
        *("-passout", "pass:key-pass-31", "-v2", "aes-256-cbc"),
        cwd=d,
    )
    _openssl("req", "-x509", "-new", "-key", "a.key", "-subj", "/CN=a", "-out", "a.pem", cwd=d)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "b.ec", cwd=d)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "b.ec", "-out", "b.key", cwd=d)
    return d


def _tls(pki: Path, **keys: str) -> dict[str, str]:
    env = {"CAPI_KAFKA__SECURITY_PROTOCOL": "SSL", "CAPI_KAFKA__SSL_CA_FILE": str(pki / "a.pem")}
    env.update({f"CAPI_KAFKA__{k.upper()}": v for k, v in keys.items() if k.islower()})
    env.update({k: v for k, v in keys.items() if k.isupper()})
    return env


def test_plaintext_gives_only_the_bootstrap_and_protocol() -> None:
    assert client_kwargs(_kafka({})) == {
        "bootstrap_servers": "localhost:9093",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(_kafka({})) is None


def test_tls_context_verifies_the_host_unless_told_not_to(pki: Path) -> None:
    ctx = ssl_context(_kafka(_tls(pki)))
    assert ctx is not None and ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    off = ssl_context(_kafka(_tls(pki, ssl_check_hostname="false")))
    assert off is not None and not off.check_hostname and off.verify_mode == ssl.CERT_REQUIRED
    assert isinstance(faust_credentials(_kafka(_tls(pki))), SSLCredentials)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"ssl_ca_file": "/nonexistent/ca.pem"}, "kafka.ssl_ca_file: cannot read /nonexistent"),
        ({"ssl_ca_file": "{d}/a.key"}, "kafka.ssl_ca_file: {d}/a.key holds no PEM certificate"),
        (
            {"ssl_cert_file": "{d}/a.pem", "ssl_key_file": "{d}/missing.key"},
            "kafka.ssl_key_file: cannot read {d}/missing.key",
        ),
        (
            {"ssl_cert_file": "{d}/a.pem", "ssl_key_file": "{d}/b.key"},
            "kafka.ssl_key_file: {d}/b.key is not the key of kafka.ssl_cert_file",
        ),
        (
            {"ssl_cert_file": "{d}/a.pem", "ssl_key_file": "{d}/a-enc.key"},
            "kafka.ssl_key_password_env: the key in kafka.ssl_key_file is encrypted",
        ),
        (
            {
                "ssl_cert_file": "{d}/a.pem",
                "ssl_key_file": "{d}/a-enc.key",
                "ssl_key_password_env": "KEY_PW",
                "KEY_PW": "not-the-key-pass",
            },
            "kafka.ssl_key_password_env: the key in kafka.ssl_key_file is encrypted and the "
            "password does not open it",
        ),
        (
            {
                "ssl_cert_file": "{d}/a.pem",
                "ssl_key_file": "{d}/a.key",
                "ssl_key_password_env": "NOPE",
            },
            "kafka.ssl_key_password_env: the environment variable NOPE",
        ),
    ],
)
def test_tls_file_mistakes_name_the_key(pki: Path, keys: dict[str, str], message: str) -> None:
    keys = {k: v.format(d=pki) for k, v in keys.items()}
    with pytest.raises(ConfigError) as err:
        client_kwargs(_kafka(_tls(pki, **keys)))
    assert message.format(d=pki) in str(err.value)
    assert "not-the-key-pass" not in str(err.value)


def test_an_encrypted_client_key_opens_with_its_password(pki: Path) -> None:
    keys = {
        "ssl_cert_file": str(pki / "a.pem"),
        "ssl_key_file": str(pki / "a-enc.key"),
        "ssl_key_password_env": "KEY_PW",
        "KEY_PW": "key-pass-31",
    }
    kafka = _kafka(_tls(pki, **keys))
    assert isinstance(client_kwargs(kafka)["ssl_context"], ssl.SSLContext)
    assert [s.reveal() for s in kafka_secrets(kafka)] == ["key-pass-31"]


SCRAM = {
    "CAPI_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "CAPI_KAFKA__SASL_MECHANISM": "SCRAM-SHA-256",
    "CAPI_KAFKA__SASL_USERNAME": "capi",
    "CAPI_KAFKA__SASL_PASSWORD_ENV": "KAFKA_PW",
}


def test_sasl_password_comes_from_the_named_variable() -> None:
    kwargs = client_kwargs(_kafka({**SCRAM, "KAFKA_PW": "pw-1"}))
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("capi", "pw-1")
    creds = faust_credentials(_kafka({**SCRAM, "KAFKA_PW": "pw-1"}))
    assert isinstance(creds, SASLCredentials) and "pw-1" not in repr(creds)
    with pytest.raises(ConfigError, match=r"kafka\.sasl_password_env: the environment variable"):
        client_kwargs(_kafka(SCRAM))


OAUTH = {
    "CAPI_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "CAPI_KAFKA__SASL_MECHANISM": "OAUTHBEARER",
}


def test_oauth_uses_the_built_in_provider_or_the_named_callable() -> None:
    builtin = {
        **OAUTH,
        "CAPI_KAFKA__OAUTH_TOKEN_ENDPOINT": "https://login.example.com/token",
        "CAPI_KAFKA__OAUTH_CLIENT_ID": "id",
        "CAPI_KAFKA__OAUTH_CLIENT_SECRET_ENV": "SECRET",
        "CAPI_KAFKA__OAUTH_EXTENSIONS": "logicalCluster=lkc-1,identityPoolId=pool-2",
    }
    provider = client_kwargs(_kafka({**builtin, "SECRET": "s-1"}))["sasl_oauth_token_provider"]
    assert isinstance(provider, OidcTokenProvider)
    assert provider.extensions() == {"logicalCluster": "lkc-1", "identityPoolId": "pool-2"}
    assert "s-1" not in repr(provider)
    with pytest.raises(ConfigError, match=r"kafka\.oauth_client_secret_env: the environment"):
        client_kwargs(_kafka(builtin))

    custom = {**OAUTH, "CAPI_KAFKA__OAUTH_TOKEN_PROVIDER": f"{__name__}:fixed_token"}
    creds = faust_credentials(_kafka(custom))
    assert isinstance(creds, OAuthCredentials) and isinstance(creds.oauth_cb, RedactedTokens)
    assert isinstance(creds.oauth_cb.provider, FixedToken)
    assert creds.oauth_cb.provider.kafka.sasl_mechanism == "OAUTHBEARER"


class MintedToken(AbstractTokenProvider):  # type: ignore[misc]
    """A custom provider minting a new token at each call (as one refreshing would)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.minted: list[str] = []

    async def token(self) -> str:
        self.minted.append(f"custom-{uuid.uuid4().hex}")
        return self.minted[-1]

    def extensions(self) -> dict[str, str]:
        return {"logicalCluster": "lkc-9"}


def minted_token(kafka: KafkaSettings) -> MintedToken:
    return MintedToken(kafka)


async def test_a_custom_providers_tokens_are_redacted_from_the_worker_log() -> None:
    env = {
        "CAPI_KAFKA__BOOTSTRAP_SERVERS": "localhost:9093",
        **OAUTH,
        "CAPI_KAFKA__OAUTH_TOKEN_PROVIDER": f"{__name__}:minted_token",
    }
    settings = load_settings(None, env)
    provider = client_kwargs(settings.kafka)["sasl_oauth_token_provider"]
    assert provider.extensions() == {"logicalCluster": "lkc-9"}
    stream = io.StringIO()
    config = worker_logging(settings)
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        first = await provider.token()
        logging.getLogger("aiokafka.conn").warning("SASL token %s", first)
        second = await provider.token()  # a later token too
        logging.getLogger("streams.kafka").warning("reconnecting with %s", second)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    assert [first, second] == provider.provider.minted
    out = stream.getvalue()
    assert first not in out and second not in out
    assert "SASL token ***" in out and "reconnecting with ***" in out, out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_x:f", "cannot import no_such_module_x"),
        (f"{__name__}:missing", "has no attribute missing"),
        (f"{__name__}:not_a_provider", "returned object, expected an aiokafka"),
    ],
)
def test_a_bad_token_provider_names_the_key(target: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        client_kwargs(_kafka({**OAUTH, "CAPI_KAFKA__OAUTH_TOKEN_PROVIDER": target}))
    assert str(err.value).startswith("kafka.oauth_token_provider: ") and message in str(err.value)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("mode", "tls", "mechanism"),
    [
        ("ssl", "verify", ""),
        ("ssl", "mutual", ""),
        ("sasl_ssl", "verify", "SCRAM-SHA-256"),
        ("sasl_plaintext", "verify", "SCRAM-SHA-512"),
    ],
)
async def test_an_admin_client_from_the_kwargs_connects(
    secure_broker: BrokerInfo, mode: str, tls: str, mechanism: str
) -> None:
    kafka = load_settings(None, kafka_env(secure_broker, mode, tls=tls, mechanism=mechanism)).kafka
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        assert isinstance(await admin.list_topics(), list)
    finally:
        await admin.close()
