"""The start-up check of the Kafka connection against the session broker's real listeners:
each way a connection can be misconfigured gives a message naming the key to fix, quickly,
without a traceback, and without the secret that was tried."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.dev.broker import BrokerInfo
from streams.kafka_connection.preflight import (
    PreflightError,
    _explain_refusal,
    check_connection,
    parse_bootstrap,
)
from streams.settings import ConfigError, KafkaSettings, Secret, load_settings
from tests.kafka.secure import PASSWORD_ENV, kafka_env, token_server

WRONG = "wrong-password-5c1d2e"  # a test value


def _env(secure_broker: BrokerInfo, case: str) -> dict[str, str]:
    """The variables of one misconfiguration (see CASES)."""
    b = secure_broker
    scram = kafka_env(b, "sasl_ssl", mechanism="SCRAM-SHA-512")
    ssl = kafka_env(b, "ssl")
    cases = {
        "wrong SCRAM password": {**scram, PASSWORD_ENV: WRONG},
        "wrong PLAIN password": {
            **kafka_env(b, "sasl_ssl", mechanism="PLAIN"),
            PASSWORD_ENV: WRONG,
        },
        "unknown CA": {**ssl, "CAPI_KAFKA__SSL_CA_FILE": ""},
        "hostname mismatch": {
            **ssl,
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{b.listeners['ssl']}",
        },
        "broker not reachable": {"CAPI_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"},
        "malformed bootstrap": {"CAPI_KAFKA__BOOTSTRAP_SERVERS": "kafka://localhost"},
        "PLAINTEXT on the TLS listener": {
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": b.secured_bootstrap("ssl")
        },
        "SSL on the PLAINTEXT listener": {
            **ssl,
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": f"localhost:{b.port}",
        },
        "SASL_SSL on the SSL listener": {
            **scram,
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": b.secured_bootstrap("ssl"),
        },
        "SSL on the SASL_SSL listener": {
            **ssl,
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": b.secured_bootstrap("sasl_ssl"),
        },
        "PLAIN not enabled on the listener": kafka_env(b, "sasl_plaintext", mechanism="PLAIN"),
        "password variable not set": {k: v for k, v in scram.items() if k != PASSWORD_ENV},
    }
    return cases[case]


CASES = {
    "wrong SCRAM password": "kafka.sasl_password_env",
    "wrong PLAIN password": "kafka.sasl_password_env",
    "unknown CA": "kafka.ssl_ca_file",
    "hostname mismatch": "kafka.ssl_check_hostname",
    "broker not reachable": "kafka.bootstrap_servers",
    "malformed bootstrap": "kafka.bootstrap_servers",
    "PLAINTEXT on the TLS listener": "kafka.security_protocol",
    "SSL on the PLAINTEXT listener": "kafka.security_protocol",
    "SASL_SSL on the SSL listener": "kafka.security_protocol",
    "SSL on the SASL_SSL listener": "kafka.security_protocol",
    "PLAIN not enabled on the listener": "kafka.sasl_mechanism",
    "password variable not set": "kafka.sasl_password_env",
}


@pytest.mark.integration
@pytest.mark.parametrize(("case", "key"), CASES.items(), ids=list(CASES))
async def test_each_misconfiguration_names_the_key(
    secure_broker: BrokerInfo, case: str, key: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        # a malformed address is refused when the settings load, the rest by the check
        await check_connection(load_settings(None, _env(secure_broker, case)).kafka)
    assert time.monotonic() - started < 20
    message = str(err.value)
    assert key in message, message
    assert WRONG not in message and secure_broker.security().password not in message


@pytest.mark.integration
async def test_each_correct_setting_connects(secure_broker: BrokerInfo) -> None:
    b = secure_broker
    for env in (
        kafka_env(b, "ssl"),
        kafka_env(b, "ssl", tls="mutual"),
        {
            **kafka_env(b, "ssl"),
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{b.listeners['ssl']}",
            "CAPI_KAFKA__SSL_CHECK_HOSTNAME": "false",
        },
        *(
            kafka_env(b, "sasl_ssl", mechanism=m)
            for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
        ),
        kafka_env(b, "sasl_plaintext", mechanism="SCRAM-SHA-256"),
        # one unreachable server in the list is fine while another answers
        {
            **kafka_env(b, "ssl"),
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:1,{b.secured_bootstrap('ssl')}",
        },
    ):
        await check_connection(load_settings(None, env).kafka)


@pytest.mark.integration
async def test_oauth_token_endpoint_problems_name_the_key(secure_broker: BrokerInfo) -> None:
    base = kafka_env(secure_broker, "sasl_ssl", mechanism="OAUTHBEARER")
    async with token_server() as tokens:
        good = load_settings(None, {**base, **tokens.env()})
        await check_connection(good.kafka)
        bad_secret = "not-the-client-secret-77"  # a test value
        with pytest.raises(ConfigError) as err:
            await check_connection(load_settings(None, {**base, **tokens.env(bad_secret)}).kafka)
        assert "kafka.oauth_client_secret_env" in str(err.value)
        assert bad_secret not in str(err.value)
        url = tokens.url
    with pytest.raises(ConfigError) as err:  # the server is gone now
        env = {**base, **tokens.env(), "CAPI_KAFKA__OAUTH_TOKEN_ENDPOINT": f"{url}/oauth2/token"}
        await check_connection(load_settings(None, env).kafka)
    assert "kafka.oauth_token_endpoint" in str(err.value)


def test_bootstrap_addresses_are_parsed_or_refused_naming_the_key() -> None:
    assert [str(s) for s in parse_bootstrap(" a:1, [::1]:9093 ,b.example.com:9092")] == [
        "a:1",
        "::1:9093",
        "b.example.com:9092",
    ]
    for bad in ("a", "a:b", "a:0", "a:70000", ":9092", "kafka://a:1", ",,"):
        with pytest.raises(PreflightError, match=r"^kafka\.bootstrap_servers: "):
            parse_bootstrap(bad)


@pytest.mark.integration
def test_the_worker_exits_at_start_up_with_the_key_and_no_traceback(
    secure_broker: BrokerInfo, tmp_path: Path
) -> None:
    from tests.kafka.harness import Topics, worker_env

    topics = Topics.unique("preflight", "g-preflight")
    env = worker_env(secure_broker.secured_bootstrap("sasl_ssl"), "http://127.0.0.1:1", topics)
    env.update(_env(secure_broker, "wrong SCRAM password"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert "kafka.sasl_password_env" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert WRONG not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr
    assert took < 30, f"{took:.1f} s"
    print(f"\nworker refused in {took:.1f} s: {done.stderr.strip()}")


@pytest.mark.integration
async def test_the_worker_exits_quickly_when_the_broker_is_not_reachable() -> None:
    from tests.kafka.harness import Topics, worker_env

    env = worker_env("127.0.0.1:1", "http://127.0.0.1:1", Topics.unique("pf", "g-pf"))
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "worker",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    text = (out + err).decode()
    assert "kafka.bootstrap_servers: cannot reach 127.0.0.1:1" in text
    assert "Traceback" not in text
    assert time.monotonic() - started < 30


def _self_signed(d: Path, name: str) -> None:
    """`<name>.pem` and `<name>.key`: a certificate signed by no CA the broker knows."""
    for args in (
        ("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.ec"),
        ("pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.ec", "-out", f"{name}.key"),
        ("req", "-x509", "-new", "-key", f"{name}.key", "-subj", "/CN=x", "-out", f"{name}.pem"),
    ):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)


@pytest.mark.integration
async def test_a_client_certificate_the_broker_does_not_trust_names_the_key(
    secure_broker: BrokerInfo, tmp_path: Path
) -> None:
    """The SSL listener asks for a client certificate: one from another CA is refused, which
    also shows that the configured certificate is presented (mutual TLS)."""
    _self_signed(tmp_path, "other")
    env = {
        **kafka_env(secure_broker, "ssl"),
        "CAPI_KAFKA__SSL_CERT_FILE": str(tmp_path / "other.pem"),
        "CAPI_KAFKA__SSL_KEY_FILE": str(tmp_path / "other.key"),
    }
    with pytest.raises(ConfigError, match=r"^kafka\.ssl_cert_file: .* does not accept the client"):
        await check_connection(load_settings(None, env).kafka)


def test_a_refusal_message_is_cut_after_its_secrets_are_replaced() -> None:
    secret = "s3cret-value-7f2a9c"  # a test value
    kafka = KafkaSettings(
        sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password=Secret(secret)
    )
    said = "x" * 190 + secret + " more"  # the secret straddles the 200-character cut
    message = _explain_refusal(RuntimeError(f"refused: {said}"), parse_bootstrap("h:9")[0], kafka)
    assert secret[:8] not in message and "***" in message
