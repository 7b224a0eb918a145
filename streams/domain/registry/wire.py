"""The Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the payload.

Protobuf payloads start with the message indexes: which message of the schema's file the
payload is (a zigzag-varint count, then that many zigzag-varint indexes; a single 0 byte stands
for the first message, `[0]`).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final

__all__ = ["Framed", "frame", "message_indexes", "split_wire_file", "unframe"]

MAGIC: Final = 0
_HEADER: Final = 5
_MAX_VARINT_BYTES: Final = 10
_MAX_INDEXES: Final = 64


@dataclass(frozen=True, slots=True)
class Framed:
    """A wire-format message: its schema id and the payload after the header."""

    schema_id: int
    payload: bytes


def unframe(value: bytes) -> Framed | None:
    """The schema id and payload of `value`, or None when it is not in the wire format."""
    if len(value) < _HEADER or value[0] != MAGIC:
        return None
    return Framed(int.from_bytes(value[1:_HEADER], "big"), value[_HEADER:])


def frame(schema_id: int, payload: bytes) -> bytes:
    """`payload` in the wire format under `schema_id` (what Confluent serializers write)."""
    return bytes([MAGIC]) + schema_id.to_bytes(4, "big") + payload


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """A zigzag varint at `pos`: (value, next position), or None when truncated or too long."""
    result = 0
    for shift_n in range(_MAX_VARINT_BYTES):
        if pos >= len(data):
            return None
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << (7 * shift_n)
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
    return None


def message_indexes(payload: bytes) -> tuple[tuple[int, ...], bytes] | None:
    """The message indexes at the start of a Protobuf payload and the message bytes after
    them, or None when they are malformed."""
    head = _varint(payload, 0)
    if head is None:
        return None
    count, pos = head
    if count == 0:
        return (0,), payload[pos:]
    if count < 0 or count > _MAX_INDEXES:
        return None
    indexes: list[int] = []
    for _ in range(count):
        item = _varint(payload, pos)
        if item is None or item[0] < 0:
            return None
        indexes.append(item[0])
        pos = item[1]
    return tuple(indexes), payload[pos:]


def split_wire_file(data: bytes) -> list[bytes | None]:
    """The messages of a file of registry-encoded messages (`validate`/`import --registry`):
    one raw wire-format message (the file starts with the magic byte), or one base64-encoded
    message per line (blank lines skipped; None for a line that is not base64)."""
    if data[:1] == bytes([MAGIC]):
        return [data]
    out: list[bytes | None] = []
    for line in data.splitlines():
        text = line.strip()
        if not text:
            continue
        try:
            out.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            out.append(None)
    return out
