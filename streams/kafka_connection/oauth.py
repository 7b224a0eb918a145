"""OAUTHBEARER tokens for the Kafka clients: a built-in OIDC client-credentials provider.

`OidcTokenProvider` implements aiokafka's `AbstractTokenProvider`. It asks the token endpoint
(`kafka.oauth_token_endpoint`) for a token with the client-credentials grant (client id and
secret in an HTTP Basic header, as Kafka's Java client does; `scope` when configured), keeps
it, and fetches a new one once 80% of its lifetime has passed, so a connection opened near
the expiry still gets a token with time left. The lifetime is the response's `expires_in`,
else the token's own `exp` claim. When a refresh fails while the kept token is still valid,
the kept one is used and the refresh is tried again on the next call.

Neither the client secret nor a token is ever logged or put into an exception message;
errors name the `[kafka]` key to fix. The last few tokens fetched in this process are kept
for the worker's log redaction (`fetched_tokens`), a backstop should a library log one; a
custom provider (`kafka.oauth_token_provider`) is wrapped in `RedactedTokens`, so its tokens
are kept the same way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus, urlsplit

import aiohttp
import orjson
from aiokafka.abc import AbstractTokenProvider

from streams.settings import Secret

__all__ = ["OAuthTokenError", "OidcTokenProvider", "RedactedTokens", "fetched_tokens"]

logger = logging.getLogger(__name__)

REFRESH_FACTOR = 0.8
DEFAULT_LIFETIME_S = 60.0  # neither expires_in nor exp: ask again after a minute
KEPT_TOKENS = 8  # fetched tokens kept for the log redaction; older ones expired long ago

# Replaced whole (never changed in place): the logging threads read it without a lock.
_fetched: tuple[str, ...] = ()


def fetched_tokens() -> tuple[str, ...]:
    """The access tokens fetched in this process, the last KEPT_TOKENS (for log redaction)."""
    return _fetched


def _remember(token: str) -> None:
    global _fetched
    _fetched = (*_fetched, token)[-KEPT_TOKENS:]


class RedactedTokens(AbstractTokenProvider):  # type: ignore[misc]
    """Any token provider, each token it returns kept for the log redaction (`fetched_tokens`)
    before a Kafka client sees it, as the built-in provider's are."""

    def __init__(self, provider: AbstractTokenProvider) -> None:
        self.provider = provider
        self._last = ""  # kept already; a provider hands out one token for many connections

    def __repr__(self) -> str:
        return f"RedactedTokens({type(self.provider).__name__})"

    async def token(self) -> str:
        token = await self.provider.token()
        if isinstance(token, str) and token and token != self._last:
            _remember(token)
            self._last = token
        return token  # type: ignore[no-any-return]  # whatever it is, aiokafka judges it

    def extensions(self) -> dict[str, str]:
        return dict(self.provider.extensions())


class OAuthTokenError(Exception):
    """No token could be obtained; the message names the [kafka] key to fix."""


def _jwt_exp(token: str) -> float | None:
    """The `exp` claim of a JWT (not verified: only used to schedule the refresh)."""
    parts = token.split(".")
    if len(parts) < 2:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class OidcTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """Client-credentials tokens from an OIDC/OAuth 2 token endpoint, refreshed before expiry."""

    def __init__(
        self,
        endpoint: str,
        client_id: str,
        client_secret: Secret,
        *,
        scope: str = "",
        extensions: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._endpoint = endpoint
        self._where = "{0.scheme}://{0.netloc}{0.path}".format(urlsplit(endpoint))
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope
        self._extensions = dict(extensions or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._lock: asyncio.Lock | None = None
        self.fetches = 0  # tokens fetched (tests and diagnostics)

    def __repr__(self) -> str:
        return f"OidcTokenProvider(endpoint={self._where!r}, client_id={self._client_id!r})"

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token.reveal()
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                try:
                    await self._fetch()
                except OAuthTokenError as exc:
                    if self._token is None or self._clock() >= self._expires_at:
                        raise
                    logger.warning(
                        "OAuth token refresh failed, the current token is still valid: %s", exc
                    )
            assert self._token is not None
            return self._token.reveal()

    def extensions(self) -> dict[str, str]:
        return dict(self._extensions)

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        # RFC 6749 2.3.1: id and secret form-encoded, then HTTP Basic.
        pair = f"{quote_plus(self._client_id)}:{quote_plus(self._secret.reveal())}"
        headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(self._endpoint, data=form, headers=headers) as resp,
            ):
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OAuthTokenError(
                f"kafka.oauth_token_endpoint: cannot reach {self._where} ({type(exc).__name__})"
            ) from None
        self._accept(status, body)

    def _accept(self, status: int, body: bytes) -> None:
        try:
            doc: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            doc = {}
        if status != 200:
            raise OAuthTokenError(_refusal(status, doc, self._where))
        token = doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthTokenError(
                f"kafka.oauth_token_endpoint: {self._where} answered without an access_token"
            )
        now = self._clock()
        expires_in = doc.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            lifetime = float(expires_in)
        else:
            exp = _jwt_exp(token)
            lifetime = exp - now if exp is not None else DEFAULT_LIFETIME_S
        lifetime = max(lifetime, 1.0)
        _remember(token)
        self._token = Secret(token)
        self._expires_at = now + lifetime
        self._refresh_at = now + lifetime * REFRESH_FACTOR
        self.fetches += 1
        logger.info("OAuth token fetched from %s, valid for %.0f s", self._where, lifetime)


def _refusal(status: int, doc: Mapping[str, Any], where: str) -> str:
    """Which key to fix for a token endpoint's refusal (RFC 6749 section 5.2 error codes)."""
    error = doc.get("error")
    code = error if isinstance(error, str) and error.isascii() and len(error) < 64 else ""
    said = f"HTTP {status}" + (f" {code}" if code else "")
    if code == "invalid_scope":
        return f"kafka.oauth_scope: the token endpoint {where} refused the scope ({said})"
    if status in (400, 401, 403) and code in ("", "invalid_client", "unauthorized_client"):
        return (
            "kafka.oauth_client_id / kafka.oauth_client_secret_env: the token endpoint "
            f"{where} refused the client credentials ({said})"
        )
    return f"kafka.oauth_token_endpoint: {where} refused the token request ({said})"
