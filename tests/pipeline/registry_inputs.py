"""Registry-encoded inputs for the worker tests: schemas for the native event shape and for an
order record mapped declaratively, in Avro, Protobuf and JSON Schema, and the ledger `Inputs`
of each topic (valid events plus one message of each registry failure reason)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from streams.domain.registry import frame, parse_protobuf
from streams.registry.protoc import SCHEMA_FILE, compile_proto
from tests.kafka.harness import DATASET_A, DATASET_B, Inputs
from tests.registry.support import avro_message, json_message, protobuf_message, register

UNKNOWN_ID = 1_999_999_999

_DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}
_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}

AVRO_NATIVE: dict[str, Any] = {
    "type": "record",
    "name": "NativeEvent",
    "namespace": "capi.test",
    "fields": [
        {"name": "dataset_id", "type": "string"},
        {"name": "event_name", "type": "string"},
        {"name": "event_time", "type": _MILLIS},
        {"name": "action_source", "type": "string"},
        {"name": "event_id", "type": "string"},
        {
            "name": "user_data",
            "type": {
                "type": "record",
                "name": "UserData",
                "fields": [
                    {"name": "email", "type": "string"},
                    {"name": "phone", "type": ["null", "string"], "default": None},
                ],
            },
        },
        {
            "name": "custom_data",
            "type": {
                "type": "record",
                "name": "CustomData",
                "fields": [
                    {"name": "value", "type": _DECIMAL},
                    {"name": "currency", "type": "string"},
                ],
            },
        },
    ],
}


def avro_native_v2() -> dict[str, Any]:
    """v1 with a field added to custom_data (with a default: a compatible evolution)."""
    schema = orjson.loads(orjson.dumps(AVRO_NATIVE))
    custom = schema["fields"][6]["type"]
    custom["fields"].append({"name": "order_channel", "type": "string", "default": "web"})
    return dict(schema)


AVRO_ORDER: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["ORDER", "SIGNUP"]}},
        {"name": "created_at", "type": _MILLIS},
        {
            "name": "customer",
            "type": {
                "type": "record",
                "name": "Customer",
                "fields": [
                    {"name": "email", "type": "string"},
                    {"name": "phone", "type": "string"},
                ],
            },
        },
        {"name": "total", "type": _DECIMAL},
        {"name": "currency", "type": "string"},
    ],
}

PROTO_NATIVE = """syntax = "proto3";
package capi.test;
import "google/protobuf/timestamp.proto";

message UserData { string email = 1; string phone = 2; }
message CustomData { double value = 1; string currency = 2; }
message NativeEvent {
  string dataset_id = 1;
  string event_name = 2;
  google.protobuf.Timestamp event_time = 3;
  string action_source = 4;
  string event_id = 5;
  UserData user_data = 6;
  CustomData custom_data = 7;
}
"""

PROTO_ORDER = """syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";

message Order {
  enum Kind { ORDER = 0; SIGNUP = 1; }
  message Customer { string email = 1; string phone = 2; }
  string order_id = 1;
  Kind kind = 2;
  google.protobuf.Timestamp created_at = 3;
  Customer customer = 4;
  double total = 5;
  string currency = 6;
}
"""

JSON_SCHEMA = orjson.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"event_name": {"type": "string"}, "order_id": {"type": "string"}},
    }
).decode()

MAPPING_TOML = """
[mappings.orders]
event_name = { path = "kind", map = { ORDER = "Purchase", SIGNUP = "CompleteRegistration" } }
event_time = { path = "created_at", transform = "unix_seconds" }
event_id = "order_id"
action_source = { const = "physical_store" }

[mappings.orders.user_data]
em = "customer.email"
ph = "customer.phone"

[mappings.orders.custom_data]
value = { path = "total", transform = "number" }
currency = "currency"
"""


def native_event(i: int, now: int, prefix: str) -> dict[str, Any]:
    return {
        "dataset_id": (DATASET_A, DATASET_B)[i % 2],
        "event_name": "Purchase",
        "event_time": now - 30,
        "action_source": "physical_store",
        "event_id": f"{prefix}-{i}",
        "user_data": {"email": f"person.{i}@example.com", "phone": "+1 650 555 1212"},
        "custom_data": {"value": 10 + i, "currency": "USD"},
    }


def order(i: int, now: int, prefix: str) -> dict[str, Any]:
    return {
        "order_id": f"{prefix}-{i}",
        "kind": "ORDER",
        "created_at": now - 30,
        "customer": {"email": f"buyer.{i}@example.com", "phone": "+1 650 555 1213"},
        "total": 20 + i,
        "currency": "EUR",
    }


Encoder = Callable[[int, int, str], tuple[bytes, str | None]]  # (i, now, prefix) -> value, ds


@dataclass
class Shape:
    """One registry-encoded input topic: how event i is encoded and which mapping reads it."""

    name: str
    encode: Encoder
    schema_id: int
    mapping: str | None = None  # None: native

    @property
    def bad_payload(self) -> bytes:
        """A payload its schema cannot decode (truncated)."""
        kind = self.name.split("-")[0]
        return {"avro": b"\x02", "proto": b"\x00\x0a\x05ab", "json": b"{oops"}[kind]


def _millis(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def shapes(registry_url: str, tag: str) -> list[Shape]:
    """Register the six schemas (subjects unique per `tag`) and return the topic shapes."""
    avro_native_id = await register(registry_url, f"{tag}-an", orjson.dumps(AVRO_NATIVE).decode())
    avro_order_id = await register(registry_url, f"{tag}-ao", orjson.dumps(AVRO_ORDER).decode())
    proto_native_id = await register(registry_url, f"{tag}-pn", PROTO_NATIVE, "PROTOBUF")
    proto_order_id = await register(registry_url, f"{tag}-po", PROTO_ORDER, "PROTOBUF")
    json_id = await register(registry_url, f"{tag}-j", JSON_SCHEMA, "JSON")
    native_pb = parse_protobuf(await compile_proto(PROTO_NATIVE, {}), SCHEMA_FILE)
    order_pb = parse_protobuf(await compile_proto(PROTO_ORDER, {}), SCHEMA_FILE)
    native_type, order_type = native_pb.message_type([2]), order_pb.message_type([0])
    assert native_type is not None and order_type is not None

    def avro_native(i: int, now: int, prefix: str) -> tuple[bytes, str | None]:
        ev = native_event(i, now, prefix)
        ev["event_time"] = _millis(ev["event_time"])
        ev["custom_data"]["value"] = Decimal(ev["custom_data"]["value"]) + Decimal("0.25")
        return avro_message(avro_native_id, AVRO_NATIVE, ev), ev["dataset_id"]

    def avro_order(i: int, now: int, prefix: str) -> tuple[bytes, str | None]:
        rec = order(i, now, prefix)
        rec["created_at"] = _millis(rec["created_at"])
        rec["total"] = Decimal(rec["total"]) + Decimal("0.99")
        return avro_message(avro_order_id, AVRO_ORDER, rec), DATASET_A

    def proto_native(i: int, now: int, prefix: str) -> tuple[bytes, str | None]:
        ev = native_event(i, now, prefix)
        msg = native_type(
            dataset_id=ev["dataset_id"],
            event_name=ev["event_name"],
            action_source=ev["action_source"],
            event_id=ev["event_id"],
        )
        msg.event_time.seconds = ev["event_time"]
        msg.user_data.email = ev["user_data"]["email"]
        msg.user_data.phone = ev["user_data"]["phone"]
        msg.custom_data.value = ev["custom_data"]["value"] + 0.5
        msg.custom_data.currency = ev["custom_data"]["currency"]
        return protobuf_message(proto_native_id, msg, [2]), ev["dataset_id"]

    def proto_order(i: int, now: int, prefix: str) -> tuple[bytes, str | None]:
        rec = order(i, now, prefix)
        msg = order_type(order_id=rec["order_id"], total=rec["total"], currency=rec["currency"])
        msg.created_at.seconds = rec["created_at"]
        msg.customer.email = rec["customer"]["email"]
        msg.customer.phone = rec["customer"]["phone"]
        return protobuf_message(proto_order_id, msg), DATASET_A  # kind ORDER: proto3 sends none

    def json_native(i: int, now: int, prefix: str) -> tuple[bytes, str | None]:
        ev = native_event(i, now, prefix)
        return json_message(json_id, ev), ev["dataset_id"]

    def json_order(i: int, now: int, prefix: str) -> tuple[bytes, str | None]:
        return json_message(json_id, order(i, now, prefix)), DATASET_A

    return [
        Shape("avro-native", avro_native, avro_native_id),
        Shape("avro-mapped", avro_order, avro_order_id, "orders"),
        Shape("proto-native", proto_native, proto_native_id),
        Shape("proto-mapped", proto_order, proto_order_id, "orders"),
        Shape("json-native", json_native, json_id),
        Shape("json-mapped", json_order, json_id, "orders"),
    ]


def registry_failures(shape: Shape) -> list[tuple[bytes, str]]:
    """One message per registry failure reason."""
    return [
        (b'{"event_name": "Purchase"}', "not_wire_format"),
        (frame(UNKNOWN_ID, b"\x02"), "unknown_schema_id"),
        (frame(shape.schema_id, shape.bad_payload), "undecodable_payload"),
    ]


def inputs_for(shape: Shape, n: int, now: int, prefix: str, *, start: int = 0) -> Inputs:
    """`n` valid events of `shape` (ids `prefix-<i>`), then one message per failure reason."""
    out = Inputs([], [], [], {}, [])
    for i in range(start, start + n):
        value, dataset = shape.encode(i, now, prefix)
        out.values.append(value)
        out.keys.append(f"{prefix}-{i}".encode())
        out.event_ids.append(f"{prefix}-{i}")
        out.datasets.append(dataset)
    for value, reason in registry_failures(shape):
        out.invalid[len(out.values)] = reason
        out.values.append(value)
        out.keys.append(f"{prefix}-bad-{reason}".encode())
        out.event_ids.append(None)
        out.datasets.append(None)
    return out
