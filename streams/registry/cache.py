"""Parsed schemas by id: fetched once, kept in a bounded LRU, one fetch per id at a time.

A schema under an id never changes, so a parsed schema (or a schema that cannot be used) stays
until the LRU evicts it. An id the registry does not know is remembered for `unknown_ttl_s`
only: a producer may register it a moment later. `RegistryUnavailable` passes through: the
caller holds the messages and tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from streams.domain.registry import (
    JsonSchema,
    ParsedSchema,
    RegistryReason,
    SchemaError,
    parse_avro,
    parse_protobuf,
)
from streams.registry.client import (
    RegistryAuthRefused,
    RegistryClient,
    RegistryUnavailable,
    SchemaText,
)
from streams.registry.protoc import SCHEMA_FILE, compile_proto

__all__ = ["FetchObserver", "SchemaCache", "SchemaFailure"]

_MAX_REFERENCE_DEPTH = 16


@dataclass(frozen=True, slots=True)
class SchemaFailure:
    """Why no payload under an id can be decoded: unknown id, or an unusable schema."""

    reason: RegistryReason
    detail: str = ""


Entry = ParsedSchema | SchemaFailure


class FetchObserver(Protocol):
    def on_fetch(self, outcome: str) -> None:
        """One look-up ended: ok, unknown, unusable, unavailable or refused (401/403)."""


class _NoObserver:
    def on_fetch(self, outcome: str) -> None:
        pass


class SchemaCache:
    """`cached(id)` answers without I/O; `resolve(id)` fetches what is missing."""

    def __init__(
        self,
        client: RegistryClient,
        max_entries: int = 1000,
        *,
        unknown_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        observer: FetchObserver | None = None,
    ) -> None:
        self._client = client
        self._observer: FetchObserver = observer or _NoObserver()
        self._max = max_entries
        self._unknown_ttl_s = unknown_ttl_s
        self._clock = clock
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._unknown: dict[int, float] = {}  # id -> when it was found unknown
        self._inflight: dict[int, asyncio.Future[Entry]] = {}
        self.fetches = 0

    def cached(self, schema_id: int) -> Entry | None:
        entry = self._entries.get(schema_id)
        if entry is not None:
            self._entries.move_to_end(schema_id)
            return entry
        seen = self._unknown.get(schema_id)
        if seen is not None and self._clock() - seen < self._unknown_ttl_s:
            return SchemaFailure(RegistryReason.UNKNOWN_SCHEMA_ID)
        return None

    async def resolve(self, schema_id: int) -> Entry:
        """The schema under `schema_id`; raises RegistryUnavailable when it cannot be asked."""
        entry = self.cached(schema_id)
        if entry is not None:
            return entry
        pending = self._inflight.get(schema_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(schema_id))
            self._inflight[schema_id] = pending
            pending.add_done_callback(lambda _f: self._inflight.pop(schema_id, None))
        return await asyncio.shield(pending)

    async def _fetch(self, schema_id: int) -> Entry:
        self.fetches += 1
        try:
            text = await self._client.schema(schema_id)
            if text is None:
                self._observer.on_fetch("unknown")
                self._unknown[schema_id] = self._clock()
                if len(self._unknown) > self._max:
                    self._unknown.pop(next(iter(self._unknown)))
                return SchemaFailure(RegistryReason.UNKNOWN_SCHEMA_ID)
            entry: Entry = await self._parse(text)
            self._observer.on_fetch("ok")
        except SchemaError as error:
            self._observer.on_fetch("unusable")
            entry = SchemaFailure(RegistryReason.UNDECODABLE_PAYLOAD, str(error))
        except RegistryAuthRefused:
            self._observer.on_fetch("refused")
            raise
        except RegistryUnavailable:
            self._observer.on_fetch("unavailable")
            raise
        self._unknown.pop(schema_id, None)
        self._entries[schema_id] = entry
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return entry

    async def _parse(self, text: SchemaText) -> ParsedSchema:
        references = await self._references(text, {}, 0)
        if text.schema_type == "AVRO":
            return parse_avro(text.text, list(references.values()))
        if text.schema_type == "PROTOBUF":
            descriptor_set = await compile_proto(text.text, references)
            return parse_protobuf(descriptor_set, SCHEMA_FILE)
        if text.schema_type == "JSON":
            return JsonSchema()
        raise SchemaError(f"schema type {text.schema_type[:40]!r} is not AVRO, PROTOBUF or JSON")

    async def _references(
        self, text: SchemaText, found: dict[str, str], depth: int
    ) -> dict[str, str]:
        """Every schema `text` references, directly or not: name -> text, dependencies first."""
        if depth > _MAX_REFERENCE_DEPTH:
            raise SchemaError("schema references nest too deep")
        for ref in text.references:
            if ref.name in found:
                continue
            ref_text = await self._client.subject_version(ref.subject, ref.version)
            if ref_text is None:
                raise SchemaError(f"referenced schema {ref.subject[:100]!r} not found")
            await self._references(ref_text, found, depth + 1)
            found[ref.name] = ref_text.text
        return found
