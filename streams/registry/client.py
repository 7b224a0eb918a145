"""HTTP client for a schema registry's Confluent-compatible API (Apicurio, Confluent, ...).

`GET {url}/schemas/ids/{id}` gives a schema's text, type (AVRO when absent, PROTOBUF, JSON) and
references; `GET {url}/subjects/{subject}/versions/{version}` gives a referenced schema. Basic
auth or a bearer token (from environment variables named in the config) travel only in the
`Authorization` header; `ca_file` adds a CA bundle for TLS. A 404 means the id is unknown (bad
input); anything else that is not a schema (no connection, timeout, 5xx) raises
`RegistryUnavailable`: the registry is down, the input is not at fault. A 401 or 403 raises
`RegistryAuthRefused` (a `RegistryUnavailable`: the messages wait all the same), whose message
names the registry (no credentials in it) and the `[registry]` keys to fix: only the operator
can fix it, so it is reported as a configuration error rather than an outage.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from streams import __version__
from streams.capi.lifecycle import AsyncClient
from streams.domain.registry.config import RegistryConfig

__all__ = [
    "RegistryAuthRefused",
    "RegistryClient",
    "RegistryUnavailable",
    "SchemaReference",
    "SchemaText",
]


class RegistryUnavailable(Exception):
    """The registry gave no usable answer (down, slow, refusing our credentials)."""


class RegistryAuthRefused(RegistryUnavailable):
    """The registry answered 401 or 403: the credentials are wrong, missing or lack a
    permission; the message says which `[registry]` keys to check."""


def _where(url: str) -> str:
    """`url` without credentials, query or fragment (safe for logs and messages)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _refusal(status: int, url: str, config: RegistryConfig) -> str:
    if config.token_env is not None:
        keys, sent = "registry.token_env", f"the bearer token from ${config.token_env}"
    elif config.username is not None and config.password_env is not None:
        keys = "registry.username / registry.password_env"
        sent = f"user {config.username!r} with the password from ${config.password_env}"
    else:
        keys = "registry.username / registry.password_env (or registry.token_env)"
        sent = "a request without credentials (none are configured)"
    return (
        f"{keys}: the schema registry {_where(url)} refused {sent} (HTTP {status}); "
        "check the registry credentials"
    )


@dataclass(frozen=True, slots=True)
class SchemaReference:
    name: str
    subject: str
    version: int


@dataclass(frozen=True, slots=True)
class SchemaText:
    """A schema as the registry serves it."""

    schema_type: str  # AVRO, PROTOBUF or JSON
    text: str = field(repr=False)
    references: tuple[SchemaReference, ...] = ()


class RegistryClient(AsyncClient):
    """Fetches schemas by id over one aiohttp session."""

    def __init__(self, config: RegistryConfig, authorization: str | None = None) -> None:
        """`authorization`: the `Authorization` header value (`registry_authorization`)."""
        self._url = config.url
        self._config = config
        self._auth = authorization
        self._ca_file = config.ca_file
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"RegistryClient(url={_where(self._url)!r}, auth={'set' if self._auth else 'none'})"

    __str__ = __repr__

    async def start(self) -> None:
        if self._session is not None and not self._session.closed:
            return
        ssl_context: ssl.SSLContext | bool = True
        if self._ca_file is not None:
            ssl_context = ssl.create_default_context(cafile=self._ca_file)
        headers = {"User-Agent": f"capi-streams/{__version__}", "Accept": "application/json"}
        if self._auth is not None:
            headers["Authorization"] = self._auth
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=8, ssl=ssl_context),
            timeout=self._timeout,
            headers=headers,
            raise_for_status=False,
            trust_env=False,
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def schema(self, schema_id: int) -> SchemaText | None:
        """The schema under `schema_id`, or None when the registry has none."""
        body = await self._get(f"/schemas/ids/{schema_id}")
        return None if body is None else _schema_text(body)

    async def subject_version(self, subject: str, version: int) -> SchemaText | None:
        """A schema by subject and version (what references point at), or None."""
        body = await self._get(f"/subjects/{quote(subject, safe='')}/versions/{version}")
        return None if body is None else _schema_text(body)

    async def _get(self, path: str) -> Mapping[str, Any] | None:
        if self._session is None:
            await self.start()
        assert self._session is not None
        try:
            async with self._session.get(self._url + path) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise RegistryUnavailable(f"{type(error).__name__} from the registry") from None
        if status == 404:
            return None
        if status in (401, 403):
            raise RegistryAuthRefused(_refusal(status, self._url, self._config))
        if status != 200:
            raise RegistryUnavailable(f"HTTP {status} from the registry")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise RegistryUnavailable("the registry answered no JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise RegistryUnavailable("the registry's answer holds no schema")
        return body


def _schema_text(body: Mapping[str, Any]) -> SchemaText:
    refs = body.get("references") or []
    references = tuple(
        SchemaReference(str(r.get("name")), str(r.get("subject")), int(r.get("version", 1)))
        for r in refs
        if isinstance(r, dict)
    )
    return SchemaText(str(body.get("schemaType") or "AVRO").upper(), body["schema"], references)
