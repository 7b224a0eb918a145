"""Decode one wire-format payload with its parsed schema into the object the mappings read."""

from __future__ import annotations

import io
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import fastavro
import orjson
from google.protobuf.message import DecodeError

from streams.domain.registry.plain import plain
from streams.domain.registry.protobuf import message_to_plain
from streams.domain.registry.schemas import AvroSchema, JsonSchema, ParsedSchema
from streams.domain.registry.wire import message_indexes

__all__ = ["RegistryReason", "decode_payload"]


class RegistryReason(StrEnum):
    """Failure reasons of registry-encoded input (topics with `encoding = "registry"`)."""

    NOT_WIRE_FORMAT = "not_wire_format"  # no magic byte 0 and 4-byte schema id in front
    UNKNOWN_SCHEMA_ID = "unknown_schema_id"  # the registry has no schema under the id
    UNDECODABLE_PAYLOAD = "undecodable_payload"  # the payload does not match its schema
    NOT_AN_OBJECT = "not_an_object"  # decoded fine, but not a record/message/JSON object


def decode_payload(payload: bytes, schema: ParsedSchema) -> Mapping[str, Any] | RegistryReason:
    """The decoded object, or the reason it cannot be read."""
    if isinstance(schema, AvroSchema):
        value = _avro(payload, schema)
    elif isinstance(schema, JsonSchema):
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return RegistryReason.UNDECODABLE_PAYLOAD
    else:
        found = message_indexes(payload)
        message_type = schema.message_type(found[0]) if found is not None else None
        if found is None or message_type is None:
            return RegistryReason.UNDECODABLE_PAYLOAD
        try:
            value = message_to_plain(message_type.FromString(found[1]))
        except DecodeError:
            return RegistryReason.UNDECODABLE_PAYLOAD
    if isinstance(value, RegistryReason):
        return value
    if not isinstance(value, dict):
        return RegistryReason.NOT_AN_OBJECT
    return value


def _avro(payload: bytes, schema: AvroSchema) -> Any:
    stream = io.BytesIO(payload)
    try:
        value = fastavro.schemaless_reader(stream, schema.parsed, None)
    except (EOFError, ValueError, TypeError, IndexError, KeyError, OverflowError):
        return RegistryReason.UNDECODABLE_PAYLOAD
    if stream.tell() != len(payload):  # bytes left over: written with another schema
        return RegistryReason.UNDECODABLE_PAYLOAD
    return plain(value)
