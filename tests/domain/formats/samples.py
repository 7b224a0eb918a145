"""Shared helpers for the format tests: sample files, a fixed clock, raw message -> CAPI."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from streams.domain.formats import DEFAULT_OPTIONS, FormatOptions, MapResult, map_message
from streams.domain.transform import Accepted, DatasetPolicy, Rejected, transform

DATA = Path(__file__).resolve().parents[2] / "data"
NOW = 1_795_176_000  # 2026-11-20T12:00:00Z, a little after the samples
POLICY = DatasetPolicy("1234567890123456")


def load(relative: str) -> dict[str, Any]:
    """A sample message (tests/data/<relative>) as a decoded dict."""
    value: dict[str, Any] = orjson.loads((DATA / relative).read_bytes())
    return value


def sha(text: str) -> str:
    """SHA-256 hex of an already normalized value (the golden side of a test)."""
    return hashlib.sha256(text.encode()).hexdigest()


def mapped(
    relative: str,
    fmt: str,
    options: FormatOptions = DEFAULT_OPTIONS,
    headers: dict[str, Any] | None = None,
) -> MapResult:
    return map_message(load(relative), headers or {}, fmt, options, received_at=NOW)


def to_capi(
    result: MapResult, policy: DatasetPolicy = POLICY, now: float = NOW
) -> list[Accepted | Rejected]:
    """The transform's verdict on every native event of a mapping result."""
    return [transform(event, policy, now=now) for event in result.events]


def accepted_events(result: MapResult, policy: DatasetPolicy = POLICY) -> list[dict[str, Any]]:
    """The CAPI events; fails the test if any native event is rejected."""
    out = []
    for verdict in to_capi(result, policy):
        assert isinstance(verdict, Accepted), verdict
        out.append(verdict.event)
    return out
