"""The built-in OIDC client-credentials token provider against a real local token endpoint:
tokens are kept until 80% of their lifetime, then fetched again; refusals name the key; the
client secret and the tokens appear in no log line, message or repr."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from streams.kafka_connection.oauth import (
    KEPT_TOKENS,
    OAuthTokenError,
    OidcTokenProvider,
    fetched_tokens,
)
from streams.settings import Secret
from tests.capi.fake_server import serve
from tests.kafka.secure import CLIENT_ID, CLIENT_SECRET, token_server, unsecured_jws


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _provider(url: str, clock: Clock, secret: str = CLIENT_SECRET) -> OidcTokenProvider:
    return OidcTokenProvider(
        f"{url}/oauth2/token",
        CLIENT_ID,
        Secret(secret),
        scope="kafka",
        extensions={"logicalCluster": "lkc-1"},
        clock=clock,
    )


async def test_a_token_is_kept_until_80_percent_of_its_lifetime_then_refreshed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    async with token_server(lifetime_s=100) as server:
        provider = _provider(server.url, clock)
        first = await provider.token()
        clock.now += 79
        assert await provider.token() == first and len(server.issued) == 1
        clock.now += 2  # 81 s of 100
        second = await provider.token()
        assert len(server.issued) == 2 and second == server.issued[-1]
        assert provider.extensions() == {"logicalCluster": "lkc-1"}
    text = caplog.text + repr(provider)
    for secret in (CLIENT_SECRET, *server.issued):
        assert secret not in text


async def test_the_lifetime_falls_back_to_the_tokens_exp_claim() -> None:
    clock = Clock()

    async def no_expires_in(request: web.Request) -> web.Response:
        return web.json_response({"access_token": unsecured_jws("x", 50, now=clock.now)})

    async with serve(no_expires_in, "/oauth2/token", "POST") as url:
        provider = _provider(url, clock)
        first = await provider.token()
        clock.now += 39
        assert await provider.token() == first
        clock.now += 2  # 41 s of 50
        assert provider.fetches == 1
        await provider.token()
        assert provider.fetches == 2


async def test_a_failed_refresh_keeps_a_still_valid_token() -> None:
    clock = Clock()
    async with token_server(lifetime_s=100) as server:
        provider = _provider(server.url, clock)
        first = await provider.token()
    clock.now += 90  # refresh due, the endpoint is gone, the token still valid
    assert await provider.token() == first
    clock.now += 20  # expired: now the failure surfaces
    with pytest.raises(OAuthTokenError, match=r"^kafka\.oauth_token_endpoint: cannot reach"):
        await provider.token()


@pytest.mark.parametrize(
    ("status", "body", "key"),
    [
        (401, {"error": "invalid_client"}, "kafka.oauth_client_id / kafka.oauth_client_secret_env"),
        (400, {"error": "invalid_scope"}, "kafka.oauth_scope"),
        (500, {"error": "server_error"}, "kafka.oauth_token_endpoint"),
        (200, {"token_type": "Bearer"}, "kafka.oauth_token_endpoint"),
    ],
)
async def test_refusals_name_the_key_and_never_the_secret(
    status: int, body: dict[str, str], key: str
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response(body, status=status)

    async with serve(refuse, "/oauth2/token", "POST") as url:
        provider = _provider(url, Clock(), secret="the-secret-that-was-tried")
        with pytest.raises(OAuthTokenError) as err:
            await provider.token()
    assert str(err.value).startswith(key), str(err.value)
    assert "the-secret-that-was-tried" not in str(err.value)


async def test_the_client_authenticates_with_http_basic_and_the_client_credentials_grant() -> None:
    async with token_server() as server:
        assert await _provider(server.url, Clock()).token() == server.issued[0]
        with pytest.raises(OAuthTokenError, match="refused the client credentials"):
            await _provider(server.url, Clock(), secret="wrong").token()
    assert server.refused == 1


async def test_the_last_tokens_fetched_are_kept_for_the_log_redaction() -> None:
    clock = Clock()
    async with token_server(lifetime_s=10) as server:
        provider = _provider(server.url, clock)
        for _ in range(KEPT_TOKENS + 2):
            await provider.token()
            assert fetched_tokens()[-1] == server.issued[-1]
            clock.now += 9  # past 80% of the lifetime: the next call fetches a new one
    assert fetched_tokens() == tuple(server.issued[-KEPT_TOKENS:])
