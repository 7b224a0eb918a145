"""Decoding payloads with parsed schemas; the payloads are written by fastavro and the protobuf
runtime, as producers write them."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import orjson
import pytest

from streams.domain.registry import (
    JsonSchema,
    ProtobufSchema,
    RegistryReason,
    SchemaError,
    decode_payload,
    parse_avro,
    parse_protobuf,
)
from streams.registry.protoc import SCHEMA_FILE, compile_proto

ORDER = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "event_name", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "sent_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {
            "name": "value",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        },
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "birthday", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "email_sha256", "type": "bytes"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}


def _avro(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def test_avro_logical_types_come_out_plain() -> None:
    schema = parse_avro(orjson.dumps(ORDER).decode())
    payload = _avro(
        ORDER,
        {
            "event_name": "Purchase",
            "event_time": datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
            "sent_at": datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC),
            "value": Decimal("19.99"),
            "status": "PAID",
            "birthday": date(1990, 2, 3),
            "email_sha256": bytes.fromhex("ab" * 32),
            "tags": ["a", "b"],
        },
    )
    assert decode_payload(payload, schema) == {
        "event_name": "Purchase",
        "event_time": 1714564800,
        "sent_at": 1714564800.5,
        "value": 19.99,
        "status": "PAID",
        "birthday": "1990-02-03",
        "email_sha256": "ab" * 32,
        "tags": ["a", "b"],
    }


def test_avro_payload_of_another_schema_is_undecodable() -> None:
    schema = parse_avro(orjson.dumps(ORDER).decode())
    assert decode_payload(b"\x02", schema) is RegistryReason.UNDECODABLE_PAYLOAD
    other = {"type": "record", "name": "X", "fields": [{"name": "n", "type": "long"}]}
    small = parse_avro(orjson.dumps(other).decode())
    # bytes left over after the record: not written with this schema
    assert decode_payload(_avro(other, {"n": 1}) + b"junk", small) is (
        RegistryReason.UNDECODABLE_PAYLOAD
    )


def test_avro_top_level_non_record_is_not_an_object() -> None:
    schema = parse_avro('"string"')
    assert decode_payload(_avro("string", "hi"), schema) is RegistryReason.NOT_AN_OBJECT


def test_avro_references_are_named_types() -> None:
    status = {"type": "enum", "name": "Status", "namespace": "shop", "symbols": ["A", "B"]}
    main = {"type": "record", "name": "R", "fields": [{"name": "s", "type": "shop.Status"}]}
    schema = parse_avro(orjson.dumps(main).decode(), [orjson.dumps(status).decode()])
    full = {**main, "fields": [{"name": "s", "type": status}]}
    assert decode_payload(_avro(full, {"s": "B"}), schema) == {"s": "B"}


def test_bad_avro_schema() -> None:
    with pytest.raises(SchemaError):
        parse_avro("{not json")
    with pytest.raises(SchemaError):
        parse_avro('{"type": "record", "name": "R", "fields": [{"name": "x", "type": "nope"}]}')


def test_json_schema_payload() -> None:
    assert decode_payload(b'{"event_name": "Lead"}', JsonSchema()) == {"event_name": "Lead"}
    assert decode_payload(b"{oops", JsonSchema()) is RegistryReason.UNDECODABLE_PAYLOAD
    assert decode_payload(b"[1]", JsonSchema()) is RegistryReason.NOT_AN_OBJECT


PROTO = """
syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

message Other { string x = 1; }
message Order {
  enum Status { NEW = 0; PAID = 1; }
  message Item { string id = 1; int64 quantity = 2; }
  string event_name = 1;
  google.protobuf.Timestamp event_time = 2;
  double value = 3;
  Status status = 4;
  repeated Item contents = 5;
  map<string, string> custom = 6;
  int64 big = 7;
  google.protobuf.StringValue currency = 8;
  bytes email_sha256 = 9;
}
"""


async def _proto() -> ProtobufSchema:
    return parse_protobuf(await compile_proto(PROTO, {}), SCHEMA_FILE)


async def test_protobuf_message_comes_out_plain() -> None:
    schema = await _proto()
    order_type = schema.message_type([1])
    assert order_type is not None
    msg = order_type(
        event_name="Purchase",
        value=19.99,
        status=1,
        custom={"k": "v"},
        big=2**40,
        email_sha256=b"\xab\xcd",
    )
    msg.event_time.seconds = 1714564800
    msg.event_time.nanos = 250_000_000
    msg.contents.add(id="sku", quantity=3)
    msg.currency.value = "EUR"
    payload = b"\x02\x02" + msg.SerializeToString()  # indexes [1]
    assert decode_payload(payload, schema) == {
        "event_name": "Purchase",
        "event_time": 1714564800.25,
        "value": 19.99,
        "status": "PAID",
        "contents": [{"id": "sku", "quantity": 3}],
        "custom": {"k": "v"},
        "big": 2**40,
        "currency": "EUR",
        "email_sha256": "abcd",
    }


async def test_protobuf_indexes_pick_nested_and_first_messages() -> None:
    schema = await _proto()
    other = schema.message_type([0])
    item = schema.message_type([1, 0])
    assert other is not None and item is not None
    assert decode_payload(b"\x00" + other(x="y").SerializeToString(), schema) == {"x": "y"}
    nested = b"\x04\x02\x00" + item(id="a").SerializeToString()  # indexes [1, 0]
    assert decode_payload(nested, schema) == {"id": "a"}
    order = schema.message_type([1])
    assert order is not None
    # status left at NEW (0): proto3 sends nothing for it, the decoded object still names it
    assert decode_payload(b"\x02\x02" + order(event_name="x").SerializeToString(), schema) == {
        "event_name": "x",
        "status": "NEW",
    }


async def test_protobuf_bad_payloads() -> None:
    schema = await _proto()
    assert decode_payload(b"\x02\x10", schema) is RegistryReason.UNDECODABLE_PAYLOAD  # index 8
    assert decode_payload(b"", schema) is RegistryReason.UNDECODABLE_PAYLOAD
    truncated = b"\x00\x0a\x05ab"  # field 1, length 5, only 2 bytes
    assert decode_payload(truncated, schema) is RegistryReason.UNDECODABLE_PAYLOAD


async def test_protoc_refuses_bad_schema_with_its_reason() -> None:
    with pytest.raises(SchemaError, match="protoc refused"):
        await compile_proto('syntax = "proto3"; message { }', {})
    with pytest.raises(SchemaError, match="relative"):
        await compile_proto('syntax = "proto3";', {"../etc/x.proto": ""})
