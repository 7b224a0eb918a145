"""Secured listeners for the local broker: a throwaway CA, SCRAM/PLAIN users, unsecured JWS.

For development and tests only. `capi-streams kafka start --security sasl_ssl` (or `ssl`,
`sasl_plaintext`, `all`) adds listeners next to the broker's PLAINTEXT one:

- SSL: server certificate from a CA made here (openssl), `ssl.client.auth=requested`, so the
  same listener serves clients that only verify the broker and clients with a certificate
  (mutual TLS; a client certificate signed by the same CA is made too).
- SASL_SSL and SASL_PLAINTEXT: PLAIN (SASL_SSL only: it sends the password as it is),
  SCRAM-SHA-256, SCRAM-SHA-512 (one user with one password for all three; the SCRAM
  credentials are written when the storage is formatted) and
  OAUTHBEARER with Kafka's unsecured JWS validator (any `alg: none` token with `sub` and `exp`;
  never in production). An OAUTHBEARER session ends when its token expires, so clients must
  fetch a fresh token (`connections.max.reauth.ms`).

The broker certificate names only `localhost`: clients use `localhost:<port>`; connecting to
`127.0.0.1:<port>` is a hostname mismatch (which the tests use on purpose).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "MODES",
    "PROTOCOL_OF_MODE",
    "SASL_MECHANISMS",
    "LocalSecurity",
    "client_hints",
    "listener_properties",
    "prepare",
    "scram_format_args",
]

MODES = ("ssl", "sasl_ssl", "sasl_plaintext")
PROTOCOL_OF_MODE = {"ssl": "SSL", "sasl_ssl": "SASL_SSL", "sasl_plaintext": "SASL_PLAINTEXT"}
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
USERNAME = "capi"
#: The broker ends an OAUTHBEARER session at its token's expiry, at the latest after this.
OAUTH_MAX_REAUTH_MS = 3_600_000


class SecuritySetupError(Exception):
    """openssl is missing or failed; the message says what to do."""


@dataclass(frozen=True)
class LocalSecurity:
    """Files and credentials of the local broker's secured listeners (under the data dir)."""

    dir: str
    ca_file: str
    client_cert_file: str
    client_key_file: str
    keystore_file: str
    keystore_password: str
    username: str
    password: str


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise SecuritySetupError(
            "openssl is not on PATH: it makes the local broker's throwaway certificates "
            "(Debian: apt-get install openssl)"
        )
    proc = subprocess.run(  # noqa: S603
        [exe, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SecuritySetupError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")


def _sign(name: str, subject: str, extensions: str, d: Path) -> None:
    """A P-256 key and a certificate for it signed by the local CA."""
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.ec", cwd=d)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.ec", "-out", f"{name}.key", cwd=d)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(extensions)
    _openssl(
        *("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-days", "825", "-sha256", "-extfile", f"{name}.ext"),
        *("-out", f"{name}.pem"),
        cwd=d,
    )
    for leftover in (f"{name}.ec", f"{name}.csr", f"{name}.ext"):
        (d / leftover).unlink()


def _make_pki(d: Path, keystore_password: str) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.ec", cwd=d)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "ca.ec", "-out", "ca.key", cwd=d)
    (d / "ca.ec").unlink()
    _openssl(
        *("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "825"),
        *("-subj", "/CN=capi-streams local CA", "-out", "ca.pem"),
        cwd=d,
    )
    _sign("broker", "/CN=localhost", "subjectAltName=DNS:localhost\n", d)
    _sign("client", "/CN=capi-client", "extendedKeyUsage=clientAuth\n", d)
    _openssl(
        *("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key"),
        *("-certfile", "ca.pem", "-name", "broker", "-out", "broker.p12"),
        *("-passout", f"pass:{keystore_password}"),
        cwd=d,
    )


def prepare(data_dir: Path) -> LocalSecurity:
    """The data dir's CA, certificates and user; made on first use, reused afterwards."""
    d = data_dir / "security"
    state = d / "security.json"
    if state.exists():
        return LocalSecurity(**json.loads(state.read_text()))
    if d.exists():
        shutil.rmtree(d)  # an interrupted earlier attempt
    d.mkdir(parents=True, mode=0o700)
    keystore_password = secrets.token_urlsafe(12)
    _make_pki(d, keystore_password)
    sec = LocalSecurity(
        dir=str(d),
        ca_file=str(d / "ca.pem"),
        client_cert_file=str(d / "client.pem"),
        client_key_file=str(d / "client.key"),
        keystore_file=str(d / "broker.p12"),
        keystore_password=keystore_password,
        username=USERNAME,
        password=secrets.token_urlsafe(16),
    )
    state.write_text(json.dumps(asdict(sec)))
    os.chmod(state, 0o600)
    return sec


def scram_format_args(sec: LocalSecurity) -> list[str]:
    """`kafka-storage format` arguments that create the user's SCRAM credentials."""
    return [
        arg
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        for arg in ("--add-scram", f"{mech}=[name={sec.username},password={sec.password}]")
    ]


def _jaas(listener: str, sec: LocalSecurity) -> list[str]:
    prefix = f"listener.name.{listener}"
    return [
        f"{prefix}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule"
        f' required user_{sec.username}="{sec.password}";',
        *(
            f"{prefix}.{mech}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            for mech in ("scram-sha-256", "scram-sha-512")
        ),
        f"{prefix}.oauthbearer.sasl.jaas.config="
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
        ' unsecuredLoginStringClaim_sub="broker";',
        f"{prefix}.oauthbearer.connections.max.reauth.ms={OAUTH_MAX_REAUTH_MS}",
    ]


def listener_properties(ports: dict[str, int], sec: LocalSecurity) -> tuple[list[str], list[str]]:
    """(listener entries, other server.properties lines) for the secured listeners `ports`
    (mode -> port). Listener names equal their protocol names."""
    listeners = [f"{PROTOCOL_OF_MODE[m]}://127.0.0.1:{p}" for m, p in ports.items()]
    lines = [
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={sec.keystore_file}",
        f"ssl.keystore.password={sec.keystore_password}",
        f"ssl.key.password={sec.keystore_password}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={sec.ca_file}",
        "listener.name.ssl.ssl.client.auth=requested",
        f"sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}",
        # PLAIN would send the password in the clear on SASL_PLAINTEXT: not there.
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms="
        + ",".join(m for m in SASL_MECHANISMS if m != "PLAIN"),
    ]
    for mode in ports:
        if mode.startswith("sasl_"):
            lines += _jaas(mode, sec)
    return listeners, lines


def advertised(mode: str, port: int) -> str:
    """TLS listeners advertise `localhost` (the name in the broker certificate)."""
    host = "127.0.0.1" if mode == "sasl_plaintext" else "localhost"
    return f"{PROTOCOL_OF_MODE[mode]}://{host}:{port}"


def client_hints(mode: str, port: int, sec: LocalSecurity) -> str:
    """What a client needs for one listener, as the [kafka] keys of a capi-streams config."""
    host = "127.0.0.1" if mode == "sasl_plaintext" else "localhost"
    lines = [
        f"# {PROTOCOL_OF_MODE[mode]} listener",
        "[kafka]",
        f'bootstrap_servers = "{host}:{port}"',
        f'security_protocol = "{PROTOCOL_OF_MODE[mode]}"',
    ]
    if mode in ("ssl", "sasl_ssl"):
        lines.append(f'ssl_ca_file = "{sec.ca_file}"')
    if mode == "ssl":
        lines += [
            f'# mutual TLS (optional): ssl_cert_file = "{sec.client_cert_file}"',
            f'#                        ssl_key_file = "{sec.client_key_file}"',
        ]
    else:
        lines += [
            'sasl_mechanism = "SCRAM-SHA-512"   # or SCRAM-SHA-256 (and PLAIN with SASL_SSL)',
            f'sasl_username = "{sec.username}"',
            'sasl_password_env = "CAPI_KAFKA_PASSWORD"',
            f"# export CAPI_KAFKA_PASSWORD='{sec.password}'",
            "# OAUTHBEARER: any unsecured JWS token (alg none, with sub and exp) is accepted",
        ]
    return "\n".join(lines)
