"""Requests fill across take-windows (streams/pipeline/batcher.py), on the real broker and
sandbox: under a backlog they carry at least 90% of `max_events`, every event is delivered
once and the group commits everything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from streams.dev.demo import demo_events
from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    DATASET_A,
    Topics,
    WorkerProcess,
    committed,
    create_topics,
    end_offsets,
    produce,
    sandbox_events,
    worker_env,
)

pytestmark = pytest.mark.integration

N = 10_000  # valid events: ten full requests; one split more still averages 909


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=3) as server:
        yield server


def _valid_events(n: int) -> list[bytes]:
    now = int(time.time())
    out: list[bytes] = []
    for i, ev in enumerate(
        demo_events(3 * n, now=now, datasets=[DATASET_A], seed=9, formats=False)
    ):
        if ev.kind == "valid" and b'"action_source": "app"' not in ev.value:
            obj = orjson.loads(ev.value)
            obj["event_id"] = f"b-{i}"
            out.append(orjson.dumps(obj))
            if len(out) == n:
                break
    return out


async def test_requests_carry_at_least_90_percent_of_max_events_under_backlog(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    sandbox.state.faults.config = FaultConfig(latency_ms=20)
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    await produce(kafka_bootstrap, topics.input, _valid_events(N))  # the backlog
    # A request fills when its dataset admits `max_events` within the batching wait: on a
    # loaded 2-core machine a worker may admit well under 1,000 events/s (a CI run at load
    # average 11 admitted under 100 events/s at times), so the wait is the longest allowed.
    # The backlog is a multiple of max_events: every request fills, none waits it out.
    # The sandbox serves from this test's own process: at a load average of 5-7 a 1,000-event
    # request took longer than the tests' usual 2 s Graph timeout, was sent again and reached
    # the sandbox twice (13,000 events for 10,000). Timeouts are not what this test is about.
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        topics,
        extra={
            "CAPI_DATASETS__0__MAX_EVENTS": "1000",
            "CAPI_WORKER__BATCH_WAIT_MS": "60000",
            "CAPI_GRAPH__TIMEOUT_SECONDS": "20",
        },
    )
    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        deadline = time.monotonic() + 240
        delivered = 0.0
        while time.monotonic() < deadline:
            delivered = await asyncio.to_thread(worker.metric_sum, "capi_events_delivered_total")
            if delivered >= N:
                break
            assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
            await asyncio.sleep(0.5)
        assert delivered == N, worker.log_tail()
        metrics = await asyncio.to_thread(worker.metrics)
        ends = await end_offsets(kafka_bootstrap, topics.input, topics.partitions)
        commit_deadline = time.monotonic() + 60
        while await committed(kafka_bootstrap, topics.group, topics.input, 4) != ends:
            assert time.monotonic() < commit_deadline, "the group did not commit every offset"
            await asyncio.sleep(0.5)
    finally:
        await asyncio.to_thread(worker.stop)
    requests = metrics[f"capi_batch_events_count{{dataset={DATASET_A}}}"]
    events = metrics[f"capi_batch_events_sum{{dataset={DATASET_A}}}"]
    assert events == N
    assert events / requests >= 900, f"{requests:.0f} requests for {N} events"
    # Ledger: every event at the sandbox, once.
    ids = [r["event_id"] for r in await sandbox_events(sandbox.url)]
    assert len(ids) == len(set(ids)) == N
