"""Schemas as the registry serves them, parsed once into what the payload decoders need.

Avro text is parsed here (fastavro). Protobuf text must first be compiled to a descriptor set by
`protoc`, which the registry client runs (it writes files); `parse_protobuf` builds the message
classes from that descriptor set. JSON Schema payloads are JSON: nothing to parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import fastavro
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message

__all__ = [
    "AvroSchema",
    "JsonSchema",
    "ParsedSchema",
    "ProtobufSchema",
    "SchemaError",
    "parse_avro",
    "parse_protobuf",
]


class SchemaError(ValueError):
    """The registry's schema cannot be used to decode payloads; the message says why."""


@dataclass(frozen=True, slots=True)
class AvroSchema:
    """A parsed Avro schema (the writer's schema of the payloads under its id)."""

    parsed: Any = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProtobufSchema:
    """The message types of a Protobuf schema file, top-level first, in file order."""

    messages: tuple[Descriptor, ...] = field(repr=False)

    def message_type(self, indexes: Sequence[int]) -> type[Message] | None:
        """The class of the message at `indexes` (top-level index, then nested ones)."""
        if not indexes or not 0 <= indexes[0] < len(self.messages):
            return None
        desc = self.messages[indexes[0]]
        for i in indexes[1:]:
            if not 0 <= i < len(desc.nested_types):
                return None
            desc = desc.nested_types[i]
        return message_factory.GetMessageClass(desc)


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """A JSON Schema: its payloads are JSON documents."""


ParsedSchema = AvroSchema | ProtobufSchema | JsonSchema


def parse_avro(text: str, references: Sequence[str] = ()) -> AvroSchema:
    """The Avro schema in `text`; `references` are the texts of the named types it uses."""
    named: dict[str, Any] = {}
    try:
        for ref in references:
            fastavro.parse_schema(orjson.loads(ref), named_schemas=named)
        return AvroSchema(fastavro.parse_schema(orjson.loads(text), named_schemas=named))
    except (orjson.JSONDecodeError, fastavro.schema.SchemaParseException) as error:
        raise SchemaError(f"not an Avro schema: {str(error)[:200]}") from None
    except (TypeError, KeyError, ValueError) as error:
        raise SchemaError(f"not an Avro schema: {type(error).__name__}") from None


def parse_protobuf(descriptor_set: bytes, file_name: str) -> ProtobufSchema:
    """The messages of `file_name` in a serialized FileDescriptorSet (dependencies included)."""
    try:
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)
        pool = descriptor_pool.DescriptorPool()
        for proto in files.file:
            pool.Add(proto)
        proto = next(p for p in files.file if p.name == file_name)
        prefix = f"{proto.package}." if proto.package else ""
        # in declaration order: the wire format's message indexes count in it
        messages = tuple(pool.FindMessageTypeByName(prefix + m.name) for m in proto.message_type)
    except (DecodeError, KeyError, TypeError, ValueError, StopIteration) as error:
        raise SchemaError(f"not a Protobuf descriptor set: {str(error)[:200]}") from None
    return ProtobufSchema(messages)
