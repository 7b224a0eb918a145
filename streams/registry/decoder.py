"""Decode the registry-encoded messages of a window before admission.

For each message on a topic with `encoding = "registry"`: read the wire-format header
(`not_wire_format`), find its schema (`unknown_schema_id`; cached schemas need no I/O) and
decode the payload (`undecodable_payload`). Schemas missing from the cache are fetched, one
request per id, all at once. When the registry cannot be asked, the messages under those ids are
`waiting`: the caller keeps them (unacked, uncommitted) and calls `wait_for` before trying them
again; messages under cached ids go on meanwhile. A registry refusing the credentials (401/403)
holds them the same way (only the operator can fix it, the input is not at fault), reported
once as an error naming the `[registry]` keys to check, until the registry answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.domain.registry import RegistryReason, decode_payload, unframe
from streams.registry.cache import SchemaCache, SchemaFailure
from streams.registry.client import RegistryAuthRefused, RegistryUnavailable

__all__ = ["DecodedWindow", "RegistryDecoder"]

logger = logging.getLogger(__name__)

Value = bytes | Mapping[str, Any] | None


@dataclass(slots=True)
class DecodedWindow:
    """Per position: the decoded object (or the value unchanged), or a failure reason, or
    waiting for the registry."""

    values: list[Value]
    failures: dict[int, str] = field(default_factory=dict)
    waiting: dict[int, int] = field(default_factory=dict)  # position -> schema id


class RegistryDecoder:
    """Decodes a window's registry-encoded values with the schemas of `cache`."""

    def __init__(
        self,
        cache: SchemaCache,
        encoded: Callable[[str], bool],
        *,
        max_message_bytes: int,
        retry_s: float = 2.0,
        sleep: Callable[[float], Awaitable[bool]] | None = None,
    ) -> None:
        """`sleep(s)` waits between tries and returns False when the waiting must end (the
        dataset holds' stop switch: shutdown, or a rebalance past its grace period)."""
        self._cache = cache
        self._encoded = encoded
        self._max_bytes = max_message_bytes
        self._retry_s = retry_s
        self._sleep = sleep or _sleep
        self._refused: str | None = None  # the credentials refusal reported, until an answer

    def encoded(self, topic: str) -> bool:
        return self._encoded(topic)

    async def decode(self, items: Sequence[tuple[str, Value]]) -> DecodedWindow:
        """`items` are (topic, value) in window order."""
        out = DecodedWindow([value for _, value in items])
        pending: dict[int, list[tuple[int, bytes]]] = {}  # schema id -> (position, payload)
        for pos, (topic, value) in enumerate(items):
            if not isinstance(value, bytes) or len(value) > self._max_bytes:
                continue  # tombstones and oversized messages: admission says why
            if not self._encoded(topic):
                continue
            framed = unframe(value)
            if framed is None:
                out.failures[pos] = RegistryReason.NOT_WIRE_FORMAT
                continue
            pending.setdefault(framed.schema_id, []).append((pos, framed.payload))
        if not pending:
            return out
        missing = [i for i in pending if self._cache.cached(i) is None]
        if missing:
            await asyncio.gather(*(self._try(i) for i in missing))
        for schema_id, members in pending.items():
            entry = self._cache.cached(schema_id)
            for pos, payload in members:
                if entry is None:
                    out.waiting[pos] = schema_id
                elif isinstance(entry, SchemaFailure):
                    out.failures[pos] = entry.reason
                else:
                    decoded = decode_payload(payload, entry)
                    if isinstance(decoded, RegistryReason):
                        out.failures[pos] = decoded
                    else:
                        out.values[pos] = decoded
        return out

    async def _try(self, schema_id: int) -> None:
        try:
            await self._cache.resolve(schema_id)
        except RegistryAuthRefused as error:
            self._report_refusal(error)
        except RegistryUnavailable as error:
            logger.warning("schema registry unavailable schema_id=%d error=%s", schema_id, error)
        else:
            self._answered()

    def _report_refusal(self, error: RegistryAuthRefused) -> None:
        if self._refused == str(error):
            return
        self._refused = str(error)
        logger.error(
            "schema registry refused the credentials, a configuration error: %s; messages "
            "whose schema is not cached wait (unacked) and it is asked again every %.0f s",
            error,
            self._retry_s,
        )

    def _answered(self) -> None:
        if self._refused is not None:
            self._refused = None
            logger.warning("schema registry accepts the credentials again")

    async def wait_for(self, schema_ids: set[int]) -> bool:
        """Return True once every id in `schema_ids` is resolved (known, unknown or unusable),
        asking the registry again every `retry_s` while it cannot be asked; False when the
        wait was ended first (`sleep` said so)."""
        todo = set(schema_ids)
        while True:
            for schema_id in list(todo):
                try:
                    await self._cache.resolve(schema_id)
                except RegistryAuthRefused as error:
                    self._report_refusal(error)
                    continue
                except RegistryUnavailable:
                    continue
                self._answered()
                todo.discard(schema_id)
            if not todo:
                return True
            if not await self._sleep(self._retry_s):
                return False


async def _sleep(delay: float) -> bool:
    await asyncio.sleep(delay)
    return True
