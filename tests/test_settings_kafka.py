"""The [kafka] security keys: env overrides, which keys go together, errors naming the key,
secrets only from the environment and masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import ConfigError, Secret, load_settings

PASSWORD = "scram-password-4d9e8b"


def test_environment_overrides_set_the_security_keys() -> None:
    s = load_settings(
        None,
        {
            "CAPI_KAFKA__SECURITY_PROTOCOL": "sasl_ssl",
            "CAPI_KAFKA__SASL_MECHANISM": "scram-sha-512",
            "CAPI_KAFKA__SASL_USERNAME": "capi",
            "CAPI_KAFKA__SASL_PASSWORD_ENV": "KAFKA_PW",
            "CAPI_KAFKA__SSL_CA_FILE": "/etc/ca.pem",
            "CAPI_KAFKA__SSL_CHECK_HOSTNAME": "false",
            "KAFKA_PW": PASSWORD,
        },
    )
    k = s.kafka
    assert (k.security_protocol, k.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert k.ssl_ca_file == "/etc/ca.pem" and k.ssl_check_hostname is False
    assert k.sasl_password == Secret(PASSWORD)
    assert PASSWORD not in repr(s) and PASSWORD not in str(s.kafka)


def test_defaults_are_plaintext_with_hostname_verification_on() -> None:
    k = load_settings(None, {}).kafka
    assert k.security_protocol == "PLAINTEXT" and k.ssl_check_hostname is True
    assert k.sasl_password is None and k.oauth_client_secret is None


def test_oauth_keys_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[kafka]\n"
        'security_protocol = "SASL_SSL"\n'
        'sasl_mechanism = "OAUTHBEARER"\n'
        'oauth_token_endpoint = "https://login.example.com/oauth2/token"\n'
        'oauth_client_id = "capi"\n'
        'oauth_client_secret_env = "OAUTH_SECRET"\n'
        'oauth_scope = "kafka"\n'
        'oauth_extensions = ["logicalCluster=lkc-1", "identityPoolId=pool-2"]\n'
    )
    k = load_settings(path, {"OAUTH_SECRET": "s3cr3t-value"}).kafka
    assert k.oauth_client_secret == Secret("s3cr3t-value")
    assert k.oauth_extensions == ("logicalCluster=lkc-1", "identityPoolId=pool-2")
    assert "s3cr3t-value" not in repr(k)


SASL = "[kafka]\nsecurity_protocol = 'SASL_SSL'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[kafka]\nsecurity_protocol = 'TLS'\n", "kafka.security_protocol: expected one of"),
        ("[kafka]\nsasl_mechanism = 'PLAIN'\n", "kafka.sasl_mechanism: needs security_protocol"),
        ("[kafka]\nssl_ca_file = 'ca.pem'\n", "kafka.ssl_ca_file: needs security_protocol SSL"),
        ("[kafka]\nsecurity_protocol = 'SSL'\nssl_cert_file = 'c.pem'\n", "kafka.ssl_key_file"),
        ("[kafka]\nsasl_password = 'x'\n", "kafka.sasl_password: secrets never sit in the file"),
        ("[kafka]\noauth_client_secret = 'x'\n", "kafka.oauth_client_secret: secrets never"),
        ("[kafka]\nsasl_pasword_env = 'X'\n", "kafka.sasl_pasword_env: unknown key"),
        (SASL, "kafka.sasl_mechanism: expected one of PLAIN, SCRAM-SHA-256"),
        (SASL + "sasl_mechanism = 'GSSAPI'\n", "kafka.sasl_mechanism: expected one of"),
        (SASL + "sasl_mechanism = 'PLAIN'\n", "kafka.sasl_username: required"),
        (
            SASL + "sasl_mechanism = 'PLAIN'\nsasl_username = 'u'\n",
            "kafka.sasl_password_env: required",
        ),
        (SASL + "sasl_mechanism = 'OAUTHBEARER'\n", "kafka.oauth_token_endpoint: required"),
        (
            SASL + "sasl_mechanism = 'OAUTHBEARER'\noauth_token_endpoint = 'login'\n",
            "kafka.oauth_token_endpoint: expected an https:// URL",
        ),
        (
            SASL + "sasl_mechanism = 'OAUTHBEARER'\noauth_token_endpoint = 'http://idp/t'\n",
            "kafka.oauth_token_endpoint: expected an https:// URL (http only to a loopback",
        ),
        (
            SASL + "sasl_mechanism = 'OAUTHBEARER'\noauth_token_endpoint = 'https://x/t'\n",
            "kafka.oauth_client_id: required",
        ),
        (
            SASL + "sasl_mechanism = 'OAUTHBEARER'\noauth_token_provider = 'nocolon'\n",
            "kafka.oauth_token_provider: expected 'module:callable'",
        ),
        (
            SASL + "sasl_mechanism = 'OAUTHBEARER'\noauth_token_provider = 'm:f'\n"
            "oauth_extensions = ['novalue']\n",
            "kafka.oauth_extensions: expected entries like 'logicalCluster=lkc-1'",
        ),
        ("[kafka]\nssl_check_hostname = 'maybe'\n", "kafka.ssl_check_hostname: expected true"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, {})
    assert message in str(err.value)


def test_an_unknown_protocol_from_the_environment_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^kafka\.security_protocol: expected one of"):
        load_settings(None, {"CAPI_KAFKA__SECURITY_PROTOCOL": "SASL_TLS"})


def test_the_example_configs_commented_security_keys_are_real_keys(tmp_path: Path) -> None:
    """Uncommented (all but the alternative provider), the example's [kafka] security lines
    load: the names and values it shows are ones the settings accept."""
    example = Path(__file__).resolve().parents[1] / "config" / "capi-streams.example.toml"
    lines = []
    section = ""
    for line in example.read_text().splitlines():
        section = line if line.startswith("[") else section
        body = line[2:] if line.startswith("# ") and section == "[kafka]" else ""
        key = body.split(" = ", 1)[0]
        if key.isidentifier() and " = " in body and key != "oauth_token_provider":
            lines.append(body)
        else:
            lines.append(line)
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines) + "\n")
    k = load_settings(path, {"CAPI_TOKEN_WEB": "t", "CAPI_KAFKA_PASSWORD": PASSWORD}).kafka
    assert (k.security_protocol, k.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert k.ssl_cert_file and k.oauth_token_endpoint and k.sasl_password == Secret(PASSWORD)
