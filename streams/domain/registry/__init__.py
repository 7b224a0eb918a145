"""Schema Registry input: the Confluent wire format and payload decoding, given parsed schemas.

Pure: the schemas come from the registry client (`streams.registry`), which fetches them by id;
everything here only reads bytes it is given.
"""

from streams.domain.registry.decode import RegistryReason, decode_payload
from streams.domain.registry.schemas import (
    AvroSchema,
    JsonSchema,
    ParsedSchema,
    ProtobufSchema,
    SchemaError,
    parse_avro,
    parse_protobuf,
)
from streams.domain.registry.wire import Framed, frame, split_wire_file, unframe

__all__ = [
    "AvroSchema",
    "Framed",
    "JsonSchema",
    "ParsedSchema",
    "ProtobufSchema",
    "RegistryReason",
    "SchemaError",
    "decode_payload",
    "frame",
    "parse_avro",
    "parse_protobuf",
    "split_wire_file",
    "unframe",
]
