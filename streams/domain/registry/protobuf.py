"""A decoded Protobuf message -> plain values, field names as written in the .proto file.

The protobuf runtime decodes; this only walks the fields that are set. Enums become their
value's name (also an enum left at its first value, which proto3 does not send), 64-bit
integers stay numbers, maps become objects, well-known types their plain value: Timestamp ->
Unix seconds, Duration -> seconds, wrappers -> the wrapped value, Struct, Value and ListValue
-> JSON values.
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from streams.domain.registry.plain import plain

__all__ = ["message_to_plain"]

_WRAPPERS: Final = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
_JSON_TYPES: Final = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def message_to_plain(message: Message) -> Any:
    """The message's set fields as plain values (a dict for ordinary messages)."""
    name = message.DESCRIPTOR.full_name
    if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        seconds: int = getattr(message, "seconds", 0)
        nanos: int = getattr(message, "nanos", 0)
        return seconds if nanos == 0 else seconds + nanos / 1_000_000_000
    if name in _WRAPPERS:
        value_field: Any = message.DESCRIPTOR.fields_by_name["value"]
        return _scalar(value_field, getattr(message, "value", None))
    if name in _JSON_TYPES:
        return json_format.MessageToDict(message)
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        out[field.name] = _field_value(field, value)
    for unset in message.DESCRIPTOR.fields:
        # proto3 leaves an enum at its first value (0) off the wire: still say its name
        if unset.name in out or unset.enum_type is None or unset.has_presence:
            continue
        if not _is_repeated(unset):
            out[unset.name] = _scalar(unset, 0)
    return out


def _field_value(field: Any, value: Any) -> Any:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {str(k): _single(value_field, v) for k, v in value.items()}
    if _is_repeated(field):
        return [_single(field, v) for v in value]
    return _single(field, value)


def _is_repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if isinstance(repeated, bool):
        return repeated
    return bool(getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED)  # protobuf < 6


def _single(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_to_plain(value)
    return _scalar(field, value)


def _scalar(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    return plain(value)
