"""Helpers for the tests against the session broker's secured listeners.

`kafka_env(info, mode, ...)` gives the `CAPI_KAFKA__*` variables of one way to connect;
`TokenServer` is a small OIDC token endpoint (client-credentials grant, HTTP Basic client
authentication) issuing unsecured JWS tokens (`alg: none`), which the broker's unsecured
validator accepts, with a short lifetime so that tokens expire during a run.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from streams.dev.broker import BrokerInfo
from tests.capi.fake_server import serve

PASSWORD_ENV = "CAPI_TEST_KAFKA_PASSWORD"
CLIENT_SECRET_ENV = "CAPI_TEST_OAUTH_SECRET"
CLIENT_ID = "capi-worker"
CLIENT_SECRET = "oauth-client-secret-9f3e1c7a"  # a test value


def kafka_env(
    info: BrokerInfo, mode: str, *, tls: str = "verify", mechanism: str = ""
) -> dict[str, str]:
    """Variables for listener `mode` (ssl, sasl_ssl, sasl_plaintext). `tls`: `verify` (the
    CA file), `mutual` (also the client certificate). `mechanism` for the SASL listeners;
    PLAIN/SCRAM read the password from PASSWORD_ENV (set here), OAUTHBEARER needs
    `TokenServer.env()` too."""
    sec = info.security()
    env = {
        "CAPI_KAFKA__BOOTSTRAP_SERVERS": info.secured_bootstrap(mode),
        "CAPI_KAFKA__SECURITY_PROTOCOL": mode.upper(),
    }
    if mode in ("ssl", "sasl_ssl"):
        env["CAPI_KAFKA__SSL_CA_FILE"] = sec.ca_file
    if tls == "mutual":
        env["CAPI_KAFKA__SSL_CERT_FILE"] = sec.client_cert_file
        env["CAPI_KAFKA__SSL_KEY_FILE"] = sec.client_key_file
    if mechanism:
        env["CAPI_KAFKA__SASL_MECHANISM"] = mechanism
    if mechanism and mechanism != "OAUTHBEARER":
        env["CAPI_KAFKA__SASL_USERNAME"] = sec.username
        env["CAPI_KAFKA__SASL_PASSWORD_ENV"] = PASSWORD_ENV
        env[PASSWORD_ENV] = sec.password
    return env


def unsecured_jws(subject: str, lifetime_s: float, now: float | None = None) -> str:
    """An `alg: none` JWT with `sub`, `iat` and `exp`."""
    issued = int(now if now is not None else time.time())

    def part(doc: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()

    claims = {"sub": subject, "iat": issued, "exp": issued + int(lifetime_s)}
    return f"{part({'alg': 'none'})}.{part(claims)}."


@dataclass
class TokenServer:
    """Issues tokens valid for `lifetime_s` to CLIENT_ID/CLIENT_SECRET; 401 otherwise."""

    lifetime_s: float = 30.0
    url: str = ""
    issued: list[str] = field(default_factory=list)
    refused: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            self.refused += 1
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = unsecured_jws(CLIENT_ID, self.lifetime_s)
        self.issued.append(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": int(self.lifetime_s)}
        )

    def env(self, secret: str = CLIENT_SECRET) -> dict[str, str]:
        return {
            "CAPI_KAFKA__OAUTH_TOKEN_ENDPOINT": f"{self.url}/oauth2/token",
            "CAPI_KAFKA__OAUTH_CLIENT_ID": CLIENT_ID,
            "CAPI_KAFKA__OAUTH_CLIENT_SECRET_ENV": CLIENT_SECRET_ENV,
            "CAPI_KAFKA__OAUTH_SCOPE": "kafka",
            CLIENT_SECRET_ENV: secret,
        }


@asynccontextmanager
async def token_server(lifetime_s: float = 30.0) -> AsyncIterator[TokenServer]:
    server = TokenServer(lifetime_s)
    async with serve(server.handle, "/oauth2/token", "POST") as url:
        server.url = url
        yield server
