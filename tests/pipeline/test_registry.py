"""Registry-encoded topics end to end: a real worker process, the real broker, the real Apicurio
registry (session fixtures) and the sandbox; every input delivered or in the failures topic."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.dev.apicurio import RegistryInfo
from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    Inputs,
    OutcomeReader,
    Topics,
    WorkerProcess,
    check_ledger,
    committed,
    end_offsets,
    outcomes_by_coord,
    produce_keyed,
    sandbox_events,
    worker_env,
)
from tests.pipeline.registry_inputs import (
    MAPPING_TOML,
    avro_native_v2,
    inputs_for,
    native_event,
    shapes,
)
from tests.registry.support import avro_message, register

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=11) as server:
        yield server


def _config(path: Path, registry_url: str, mapped: Sequence[str]) -> str:
    lines = [
        "[registry]",
        f'url = "{registry_url}"',
        "timeout_seconds = 1",
        "retry_seconds = 0.5",
        "",
        "[formats]",
        'encoding = "registry"',
        "",
    ]
    for topic in mapped:
        lines += [f'[formats.topics."{topic}"]', 'format = "mapping:orders"', ""]
    path.write_text("\n".join(lines) + MAPPING_TOML)
    return str(path)


async def _create(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


def _ledger(
    label: str,
    coords: list[tuple[int, int]],
    inputs: Inputs,
    records: list[dict[str, Any]],
    receipts: list[dict[str, Any]],
    topic: str,
    prefix: str,
) -> None:
    mine = [r for r in receipts if str(r["event_id"]).startswith(prefix + "-")]
    check_ledger(label, coords, inputs, records, mine, topic)


async def test_avro_protobuf_and_json_schema_topics_end_to_end(
    kafka_bootstrap: str,
    registry_url: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    """Native and declaratively mapped events in Avro, Protobuf and JSON Schema, one message
    per registry failure reason on each topic, and a v2 Avro schema (a field added) mid-stream."""
    tag = uuid.uuid4().hex[:8]
    all_shapes = await shapes(registry_url, tag)
    topic_of = {s.name: f"{unique_topic}-{s.name}" for s in all_shapes}
    topics = Topics.unique(unique_topic, unique_group, partitions=2)
    await _create(kafka_bootstrap, [*topic_of.values(), topics.responses, topics.failures], 2)
    mapped = [topic_of[s.name] for s in all_shapes if s.mapping]
    env = worker_env(kafka_bootstrap, sandbox.url, topics)
    env["CAPI_KAFKA__INPUT_TOPICS"] = ",".join(topic_of.values())
    env["CAPI_CONFIG"] = _config(tmp_path / "capi.toml", registry_url, mapped)
    now = int(time.time())

    produced: dict[str, tuple[list[tuple[int, int]], Inputs, str]] = {}
    for shape in all_shapes:
        prefix = f"{tag}-{shape.name}"
        inputs = inputs_for(shape, 6, now, prefix)
        coords = await produce_keyed(
            kafka_bootstrap, topic_of[shape.name], inputs.values, inputs.keys
        )
        produced[shape.name] = (coords, inputs, prefix)

    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        async with OutcomeReader(kafka_bootstrap, topics) as reader:
            for name, (coords, _, _) in produced.items():
                await _wait_covered(reader, topic_of[name], coords, worker)
            # Schema evolution mid-stream: v2 adds custom_data.order_channel.
            avro = next(s for s in all_shapes if s.name == "avro-native")
            v2 = avro_native_v2()
            v2_id = await register(registry_url, f"{tag}-an", orjson.dumps(v2).decode())
            assert v2_id != avro.schema_id
            prefix = f"{tag}-avro-native"
            later = _v2_inputs(v2, v2_id, now, prefix, start=100, n=5)
            later_coords = await produce_keyed(
                kafka_bootstrap, topic_of["avro-native"], later.values, later.keys
            )
            await _wait_covered(reader, topic_of["avro-native"], later_coords, worker)
            records = list(reader.records)
            metrics = await asyncio.to_thread(worker.metrics)
            # six schemas and v2 fetched once each; the unknown id looked up and remembered
            assert metrics["capi_registry_schema_fetches_total{outcome=ok}"] == 6
            assert metrics["capi_registry_schema_fetches_total{outcome=unknown}"] >= 1
    finally:
        assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()

    receipts = await sandbox_events(sandbox.url)
    for name, (coords, inputs, prefix) in produced.items():
        if name == "avro-native":
            coords = coords + later_coords
            inputs = _joined(inputs, later)
        _ledger(name, coords, inputs, records, receipts, topic_of[name], prefix)

    by_id = {r["event_id"]: r["payload"] for r in receipts}
    # Avro logical types: timestamp-millis -> event_time, decimal -> value, as sent to Meta
    first = by_id[f"{tag}-avro-native-0"]
    assert first["event_time"] == now - 30
    assert first["custom_data"] == {"value": 10.25, "currency": "USD"}
    assert by_id[f"{tag}-proto-native-1"]["custom_data"]["value"] == 11.5
    # the mapped order: Avro enum and proto3's unsent first enum value both mapped to Purchase
    for kind in ("avro", "proto", "json"):
        mapped_event = by_id[f"{tag}-{kind}-mapped-2"]
        assert mapped_event["event_name"] == "Purchase"
        assert mapped_event["event_time"] == now - 30
        assert len(mapped_event["user_data"]["em"][0]) == 64  # hashed
    assert by_id[f"{tag}-avro-mapped-2"]["custom_data"]["value"] == 22.99
    # v2 events carry the added field; v1 events do not
    assert by_id[f"{tag}-avro-native-100"]["custom_data"]["order_channel"] == "store"
    assert "order_channel" not in by_id[f"{tag}-avro-native-0"]["custom_data"]


def _v2_inputs(
    schema: dict[str, Any], schema_id: int, now: int, prefix: str, *, start: int, n: int
) -> Inputs:
    out = Inputs([], [], [], {}, [])
    for i in range(start, start + n):
        ev = native_event(i, now, prefix)
        ev["event_time"] = datetime.fromtimestamp(ev["event_time"], UTC)
        ev["custom_data"] = {
            "value": Decimal(ev["custom_data"]["value"]),
            "currency": "USD",
            "order_channel": "store",
        }
        out.values.append(avro_message(schema_id, schema, ev))
        out.keys.append(f"{prefix}-{i}".encode())
        out.event_ids.append(f"{prefix}-{i}")
        out.datasets.append(ev["dataset_id"])
    return out


def _valid_only(inputs: Inputs) -> Inputs:
    n = min(inputs.invalid, default=len(inputs.values))
    return Inputs(inputs.values[:n], inputs.keys[:n], inputs.event_ids[:n], {}, inputs.datasets[:n])


def _joined(a: Inputs, b: Inputs) -> Inputs:
    shift = len(a.values)
    return Inputs(
        a.values + b.values,
        a.keys + b.keys,
        a.event_ids + b.event_ids,
        {**a.invalid, **{i + shift: r for i, r in b.invalid.items()}},
        a.datasets + b.datasets,
    )


async def _wait_covered(
    reader: OutcomeReader,
    topic: str,
    coords: Sequence[tuple[int, int]],
    worker: WorkerProcess,
    timeout_s: float = 120,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        done = outcomes_by_coord(reader.records, topic)
        missing = [c for c in coords if c not in done]
        if not missing:
            return
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
        assert time.monotonic() < deadline, (
            f"{len(missing)} inputs of {topic} without outcome; log:\n{worker.log_tail()}"
        )
        await asyncio.sleep(0.3)


async def test_registry_outage_holds_uncached_schemas_and_loses_nothing(
    kafka_bootstrap: str,
    registry_info: RegistryInfo,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    """The registry stops answering mid-run (its process frozen: requests time out). Messages
    under a cached schema keep flowing; messages under a schema the worker has not fetched yet
    wait: no outcome, nothing committed past them. Once it answers again, everything completes."""
    url = registry_info.ccompat_url
    tag = uuid.uuid4().hex[:8]
    avro = next(s for s in await shapes(url, tag) if s.name == "avro-native")
    v2 = avro_native_v2()
    v2_id = await register(url, f"{tag}-an", orjson.dumps(v2).decode())
    topics = Topics.unique(unique_topic, unique_group, partitions=1)
    await _create(kafka_bootstrap, [topics.input, topics.responses, topics.failures], 1)
    env = worker_env(kafka_bootstrap, sandbox.url, topics)
    env["CAPI_CONFIG"] = _config(tmp_path / "capi.toml", url, [])
    now = int(time.time())
    prefix = f"{tag}-outage"

    first = _valid_only(inputs_for(avro, 4, now, prefix))
    coords = await produce_keyed(kafka_bootstrap, topics.input, first.values, first.keys)
    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    frozen = False
    try:
        async with OutcomeReader(kafka_bootstrap, topics) as reader:
            await _wait_covered(reader, topics.input, coords, worker)  # v1 is cached now
            os.kill(registry_info.pid, signal.SIGSTOP)
            frozen = True
            waiting = _v2_inputs(v2, v2_id, now, prefix, start=50, n=3)
            flowing = _valid_only(inputs_for(avro, 3, now, prefix, start=60))
            both = _joined(waiting, flowing)
            more = await produce_keyed(kafka_bootstrap, topics.input, both.values, both.keys)
            # cached v1 messages behind the waiting v2 ones are delivered meanwhile ...
            await _wait_covered(reader, topics.input, more[3:], worker)
            await asyncio.sleep(3)  # several retry rounds while the registry is away
            got = {c for c in reader.outcomes() if c in set(more[:3])}
            assert not got, f"v2 messages got outcomes while the registry was down: {got}"
            # ... and nothing is committed past the first waiting message.
            first_waiting = more[0][1]
            done = await committed(kafka_bootstrap, topics.group, topics.input, 1)
            assert done[0] <= first_waiting, (done, first_waiting)
            metrics = await asyncio.to_thread(worker.metrics)
            assert metrics["capi_registry_waiting_messages"] == 3
            assert metrics["capi_registry_schema_fetches_total{outcome=unavailable}"] >= 2
            os.kill(registry_info.pid, signal.SIGCONT)
            frozen = False
            await _wait_covered(reader, topics.input, more[:3], worker)
            ends = await end_offsets(kafka_bootstrap, topics.input, 1)
            deadline = time.monotonic() + 60
            while (await committed(kafka_bootstrap, topics.group, topics.input, 1)) != ends:
                assert time.monotonic() < deadline, "offsets not committed after recovery"
                await asyncio.sleep(0.5)
            records = list(reader.records)
            metrics = await asyncio.to_thread(worker.metrics)
            assert metrics["capi_registry_waiting_messages"] == 0
    finally:
        if frozen:
            os.kill(registry_info.pid, signal.SIGCONT)
        assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()
    receipts = await sandbox_events(sandbox.url)
    _ledger("outage", coords + more, _joined(first, both), records, receipts, topics.input, prefix)
    assert "schema registry unavailable" in worker.log_path.read_text()


async def test_a_stop_while_messages_wait_for_the_registry_commits_nothing_past_them(
    kafka_bootstrap: str,
    registry_info: RegistryInfo,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    """SIGTERM while messages wait for a frozen registry: the wait ends at once (the holds'
    stop switch), the worker exits 0 without committing them; the next worker delivers them."""
    url = registry_info.ccompat_url
    tag = uuid.uuid4().hex[:8]
    avro = next(s for s in await shapes(url, tag) if s.name == "avro-native")
    topics = Topics.unique(unique_topic, unique_group, partitions=1)
    await _create(kafka_bootstrap, [topics.input, topics.responses, topics.failures], 1)
    env = worker_env(kafka_bootstrap, sandbox.url, topics)
    env["CAPI_CONFIG"] = _config(tmp_path / "capi.toml", url, [])
    inputs = _valid_only(inputs_for(avro, 3, int(time.time()), f"{tag}-stop"))
    worker = WorkerProcess(env, tmp_path / "w1.log")
    await asyncio.to_thread(worker.start)
    os.kill(registry_info.pid, signal.SIGSTOP)
    try:
        coords = await produce_keyed(kafka_bootstrap, topics.input, inputs.values, inputs.keys)
        deadline = time.monotonic() + 60
        while (await asyncio.to_thread(worker.metrics)).get(
            "capi_registry_waiting_messages", 0
        ) < 3:
            assert time.monotonic() < deadline, worker.log_tail()
            await asyncio.sleep(0.5)
        started = time.monotonic()
        assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()
        assert time.monotonic() - started < 30, "the stop waited for the registry"
        assert (await committed(kafka_bootstrap, topics.group, topics.input, 1))[0] == 0
    finally:
        os.kill(registry_info.pid, signal.SIGCONT)
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill()
    assert "released messages waiting for the schema registry" in worker.log_path.read_text()
    second = WorkerProcess(env, tmp_path / "w2.log")
    await asyncio.to_thread(second.start)
    try:
        async with OutcomeReader(kafka_bootstrap, topics) as reader:
            await _wait_covered(reader, topics.input, coords, second)
            records = list(reader.records)
    finally:
        assert await asyncio.to_thread(second.stop) == 0, second.log_tail()
    receipts = await sandbox_events(sandbox.url)
    _ledger("stop", coords, inputs, records, receipts, topics.input, f"{tag}-stop")
