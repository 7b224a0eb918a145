"""Decoded values -> the plain JSON-like values the format mappings read.

What users expect from typed schemas: timestamps (Avro timestamp-millis/micros, Protobuf
google.protobuf.Timestamp) become Unix seconds (an int when whole), so they work as
`event_time`; decimals become numbers (for `value`); dates and times become ISO-8601 text
(`2024-05-01`, as a birthdate); UUIDs text; bytes lowercase hex (how SHA-256 values are sent).
Enums are already their symbol's name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

__all__ = ["plain", "unix_seconds"]


def unix_seconds(moment: datetime) -> int | float:
    """Unix seconds of `moment` (naive means UTC): an int when whole."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    return int(seconds) if moment.microsecond == 0 else seconds


_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """`value` with every typed leaf turned into a plain number or string, recursively.

    Dicts and lists are converted in place (the decoders' fresh output): only typed leaves are
    replaced, so a record that is already plain costs one type check per value."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        for key, item in value.items():
            if type(item) not in _PLAIN:
                value[key] = plain(item)
        return value
    if kind is list:
        for i, item in enumerate(value):
            if type(item) not in _PLAIN:
                value[i] = plain(item)
        return value
    return _leaf(value)


def _leaf(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return unix_seconds(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, UUID):
        return str(value)
    return str(value)
