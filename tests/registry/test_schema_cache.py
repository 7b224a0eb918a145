"""The schema client, cache and window decoder against the real session registry (Apicurio)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest

from streams.domain.registry import AvroSchema, JsonSchema, ProtobufSchema, RegistryReason
from streams.domain.registry.config import RegistryConfig
from streams.registry.cache import SchemaCache, SchemaFailure
from streams.registry.client import RegistryClient, RegistryUnavailable
from streams.registry.decoder import RegistryDecoder
from tests.kafka.harness import free_port
from tests.registry.support import avro_message, json_message, protobuf_message, register

pytestmark = pytest.mark.integration

RECORD = {
    "type": "record",
    "name": "Ping",
    "fields": [{"name": "n", "type": "long"}, {"name": "tag", "type": "string"}],
}


JSON_SCHEMA = orjson.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"a": {"type": "integer"}},
    }
).decode()


def _subject() -> str:
    return f"s-{uuid.uuid4().hex[:10]}-value"


@pytest.fixture
async def client(registry_url: str) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(RegistryConfig(url=registry_url, timeout_seconds=5)) as c:
        yield c


async def test_avro_schema_fetched_once_and_cached(
    client: RegistryClient, registry_url: str
) -> None:
    schema_id = await register(registry_url, _subject(), orjson.dumps(RECORD).decode())
    cache = SchemaCache(client)
    results = await asyncio.gather(*(cache.resolve(schema_id) for _ in range(5)))
    assert all(isinstance(r, AvroSchema) for r in results)
    assert cache.fetches == 1  # concurrent resolves share one request
    assert cache.cached(schema_id) is results[0]
    await cache.resolve(schema_id)
    assert cache.fetches == 1


async def test_unknown_id_and_bounded_lru(client: RegistryClient, registry_url: str) -> None:
    cache = SchemaCache(client, max_entries=2)
    assert await cache.resolve(2_000_000_000) == SchemaFailure(RegistryReason.UNKNOWN_SCHEMA_ID)
    ids = []
    for i in range(3):
        rec = {**RECORD, "name": f"Ping{i}"}
        ids.append(await register(registry_url, _subject(), orjson.dumps(rec).decode()))
    for schema_id in ids:
        await cache.resolve(schema_id)
    assert cache.cached(ids[0]) is None  # least recently used went first
    assert isinstance(cache.cached(ids[2]), AvroSchema)


async def test_protobuf_with_a_referenced_file_and_json_schema(
    client: RegistryClient, registry_url: str
) -> None:
    common = (
        'syntax = "proto3";\npackage t;\n'
        "message Money { double amount = 1; string currency = 2; }\n"
    )
    common_subject = _subject()
    await register(registry_url, common_subject, common, "PROTOBUF")
    main = (
        'syntax = "proto3";\npackage t;\nimport "money.proto";\n'
        "message Order { string id = 1; t.Money total = 2; }\n"
    )
    ref = {"name": "money.proto", "subject": common_subject, "version": 1}
    order_id = await register(registry_url, _subject(), main, "PROTOBUF", [ref])
    json_id = await register(registry_url, _subject(), JSON_SCHEMA, "JSON")
    cache = SchemaCache(client)
    proto = await cache.resolve(order_id)
    assert isinstance(proto, ProtobufSchema)
    assert isinstance(await cache.resolve(json_id), JsonSchema)
    order_type = proto.message_type([0])
    assert order_type is not None
    msg = order_type(id="o-1")
    msg.total.amount = 12.5
    msg.total.currency = "EUR"

    decoder = RegistryDecoder(cache, lambda topic: topic != "plain", max_message_bytes=1000)
    window = await decoder.decode(
        [
            ("t", protobuf_message(order_id, msg)),
            ("t", json_message(json_id, {"a": 1})),
            ("t", b'{"not": "framed"}'),
            ("plain", b'{"json": true}'),
            ("t", None),
            ("t", json_message(2_000_000_001, {"a": 1})),
            ("t", json_message(json_id, {"a": 1})[:-2]),
        ]
    )
    assert window.values[0] == {"id": "o-1", "total": {"amount": 12.5, "currency": "EUR"}}
    assert window.values[1] == {"a": 1}
    assert window.values[3] == b'{"json": true}'  # a json topic: admission decodes it
    assert window.values[4] is None
    assert window.failures == {
        2: RegistryReason.NOT_WIRE_FORMAT,
        5: RegistryReason.UNKNOWN_SCHEMA_ID,
        6: RegistryReason.UNDECODABLE_PAYLOAD,
    }
    assert window.waiting == {}


async def test_unreachable_registry_holds_only_uncached_ids(registry_url: str) -> None:
    down = RegistryConfig(url=f"http://127.0.0.1:{free_port()}/apis/ccompat/v7", timeout_seconds=2)
    async with RegistryClient(down) as client:
        with pytest.raises(RegistryUnavailable):
            await client.schema(1)
        cache = SchemaCache(client)
        decoder = RegistryDecoder(cache, lambda t: True, max_message_bytes=1000, retry_s=0.05)
        record = {"n": 1, "tag": "x"}
        window = await decoder.decode([("t", avro_message(7, RECORD, record)), ("t", b"{}")])
        assert window.waiting == {0: 7}
        assert window.failures == {1: RegistryReason.NOT_WIRE_FORMAT}
        with pytest.raises(TimeoutError):  # keeps asking while the registry is away
            await asyncio.wait_for(decoder.wait_for({7}), 0.5)
