"""A window that fails unexpectedly stops the worker (exit status 70) instead of leaving its
partition blocked while the worker keeps consuming; the failure is counted in
capi_window_failures_total (scraped before the worker stops); nothing past the failure is
committed, and a restarted worker finishes the run. Real broker, real worker processes, the
sandbox over real HTTP.

The unexpected failure is a real one: the failures topic refuses records over 2,000 bytes
(`max.message.bytes`, a misconfigured topic), so the one input whose failure record is larger
makes Kafka reject the record and the window fails."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.dev.sandbox.server import SandboxServer
from streams.kafka.failstop import EXIT_WINDOW_FAILED
from tests.kafka.harness import (
    OutcomeReader,
    Topics,
    WorkerProcess,
    check_ledger,
    committed,
    make_inputs,
    produce_keyed,
    sandbox_events,
    worker_env,
)

pytestmark = pytest.mark.integration

SMALL_RECORDS = {"max.message.bytes": "2000"}


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=11) as server:
        yield server


async def _create(bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics.input, topics.partitions, 1),
                NewTopic(topics.responses, topics.partitions, 1),
                NewTopic(topics.failures, topics.partitions, 1, topic_configs=SMALL_RECORDS),
            ]
        )
    finally:
        await admin.close()


async def _allow_large_records(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": "1048576"})]
        )
    finally:
        await admin.close()


async def test_a_window_failing_unexpectedly_stops_the_worker_and_nothing_is_lost(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    topics = Topics.unique(unique_topic, unique_group, partitions=2)
    await _create(kafka_bootstrap, topics)
    now = int(time.time())
    inputs = make_inputs(400, now, invalid_every=0)
    # input 150: no currency (a failure record) and a 3,000-character property, so that its
    # failure record is over the failures topic's 2,000 bytes
    bad = orjson.loads(inputs.values[150])
    bad["custom_data"] = {"value": 3.5, "note": "x" * 3000}
    inputs.values[150] = orjson.dumps(bad)
    inputs.event_ids[150] = None
    inputs.datasets[150] = None
    inputs.invalid[150] = "missing_currency"
    coords = await produce_keyed(kafka_bootstrap, topics.input, inputs.values, inputs.keys)
    bad_partition, bad_offset = coords[150]
    env = worker_env(kafka_bootstrap, sandbox.url, topics)

    first = WorkerProcess(env, tmp_path / "w1.log")
    await asyncio.to_thread(first.start)
    assert first.proc is not None
    failures = 0.0
    deadline = time.monotonic() + 180
    while first.proc.poll() is None:  # scraping as Prometheus would, until the worker stops
        assert time.monotonic() < deadline, first.log_tail()
        with contextlib.suppress(OSError):  # the worker is going away
            scraped = await asyncio.to_thread(first.metric_sum, "capi_window_failures_total")
            failures = max(failures, scraped)
        await asyncio.sleep(0.3)
    log = first.log_tail(200)
    assert first.proc.returncode == EXIT_WINDOW_FAILED, log
    assert failures >= 1, "capi_window_failures_total was never scraped above 0"
    assert "window failed unexpectedly" in log
    done = await committed(kafka_bootstrap, topics.group, topics.input, topics.partitions)
    assert done.get(bad_partition, 0) <= bad_offset, (done, bad_offset)

    # The cause is fixed (the topic accepts the record): a restarted worker finishes the run.
    await _allow_large_records(kafka_bootstrap, topics.failures)
    second = WorkerProcess(env, tmp_path / "w2.log")
    async with OutcomeReader(kafka_bootstrap, topics) as reader:
        await asyncio.to_thread(second.start)
        try:
            await reader.wait_covered(coords, 600, alive=[second], stall_s=90)
        finally:
            assert await asyncio.to_thread(second.stop) == 0, second.log_tail()
        records = list(reader.records)
    check_ledger(
        "window failed", coords, inputs, records, await sandbox_events(sandbox.url), topics.input
    )
