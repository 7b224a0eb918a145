"""At-least-once for messages that carry several events (a Segment `batch`, a GA4 payload with
several events), under SIGKILL, SIGTERM, a rebalance and a dataset held by an invalid token.

Requests hold at most 2 events (`max_events = 2`), so a message's events often go to different
requests. The promise checked AT EACH KILL (and while two workers rebalance), not only at the
end: every message below the committed offset of its partition has an outcome record for
every one of its events. One worker run per step, all in one test (the steps share the
backlog); the final ledger then checks that every event reached the sandbox, and that any
repeat carries the same payload. Real broker, real worker processes, the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.server import SandboxServer
from streams.domain.payload_helper import Verdict, explain
from streams.domain.transform import DatasetPolicy
from tests.kafka.harness import (
    DATASET_A,
    DATASET_B,
    Topics,
    WorkerProcess,
    committed,
    create_topics,
    produce_keyed,
    sandbox_events,
    set_token_invalid,
    wait_accepted,
    worker_env,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Message:
    value: bytes
    key: bytes
    headers: dict[str, bytes]
    event_ids: tuple[str, ...]  # every event of the message, each must reach Meta
    dataset: str


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _segment(i: int, now: int) -> dict[str, Any]:
    calls = [
        ("Order Completed", {"revenue": 12.5 + i % 10, "currency": "USD", "order_id": f"o{i}"}),
        ("Product Viewed", {"product_id": f"p{i}", "price": 3.0, "currency": "USD"}),
        ("Signed Up", {"plan": "trial"}),
    ]
    return {
        "batch": [
            {
                "type": "track",
                "event": name,
                "messageId": f"seg-{i}-{j}",
                "userId": f"user-{i}",
                "timestamp": _iso(now - 60),
                "traits": {"email": f"seg.{i}@example.com"},
                "properties": props,
            }
            for j, (name, props) in enumerate(calls)
        ]
    }


def _ga4(i: int, now: int) -> dict[str, Any]:
    params = {
        "currency": "USD",
        "value": 20.0 + i % 7,
        "page_location": f"https://shop.example.com/p/{i}",
    }
    return {
        "client_id": f"{i}.1795100000",
        "user_id": f"ga-{i}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "timestamp_micros": (now - 60) * 1_000_000,
        "user_data": {"sha256_email_address": f"{i:064x}"},
        "events": [
            {"name": name, "params": {**params, "event_id": f"ga4-{i}-{j}"}}
            for j, name in enumerate(("add_to_cart", "begin_checkout", "purchase"))
        ],
    }


def _native(i: int, now: int) -> dict[str, Any]:
    return {
        "event_name": "Lead",
        "event_time": now - 60,
        "event_id": f"nat-{i}",
        "user_data": {"email": f"nat.{i}@example.com"},
    }


def make_messages(n: int, now: int) -> list[Message]:
    """Segment batches of 3 events, GA4 payloads of 3 events and native single events in
    turn; the second half's every 4th message goes to dataset B (held in the middle steps),
    so the first half's commits can move while B holds its partitions later."""
    out = []
    for i in range(n):
        kind = ("segment", "ga4", "native")[i % 3]
        doc = (_segment, _ga4, _native)[i % 3](i, now)
        dataset = DATASET_B if i >= n // 2 and i % 4 == 0 else DATASET_A
        value = orjson.dumps(doc)
        headers = {"capi-format": kind.encode(), "capi-dataset": dataset.encode()}
        policy = DatasetPolicy(dataset, default_action_source="system_generated")
        explained = explain(value, kind, policy, float(now))
        ids = tuple(str(e.event_id) for e in explained if e.outcome is Verdict.SENT)
        assert len(ids) == len(explained) == (1 if kind == "native" else 3), explained
        out.append(Message(value, f"m{i}".encode(), headers, ids, dataset))
    return out


async def _outcome_records(bootstrap: str, topics: Topics) -> list[dict[str, Any]]:
    """Every record of the responses and failures topics up to their current ends."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in (topics.responses, topics.failures)
            for p in range(topics.partitions)
        ]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[dict[str, Any]] = []
        left = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 120
        while left:
            assert time.monotonic() < deadline, f"outcome topics not read to their end: {left}"
            batch = await consumer.getmany(timeout_ms=300, max_records=10_000)
            for tp, records in batch.items():
                out.extend(orjson.loads(r.value) for r in records if r.value)
                if records and records[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
        return out
    finally:
        await consumer.stop()


async def check_commits(
    label: str,
    bootstrap: str,
    topics: Topics,
    coords: list[tuple[int, int]],
    messages: list[Message],
) -> int:
    """Committed offsets first, then the outcome records (written before any commit): every
    message below its partition's committed offset has an outcome for each of its events.
    Returns how many messages are committed."""
    done = await committed(bootstrap, topics.group, topics.input, topics.partitions)
    records = await _outcome_records(bootstrap, topics)
    outcome_ids = {e for r in records if r["kind"] == "response" for e in r["event_ids"]}
    outcome_ids |= {r.get("event_id") for r in records if r["kind"] == "failure"}
    lost = []
    count = 0
    for i, (partition, offset) in enumerate(coords):
        if offset < done.get(partition, 0):
            count += 1
            missing = [e for e in messages[i].event_ids if e not in outcome_ids]
            if missing:
                lost.append((i, partition, offset, missing))
    print(f"[{label}] committed messages {count} of {len(coords)}; offsets {done}")
    assert not lost, f"{label}: committed messages with events without an outcome: {lost[:5]}"
    return count


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=13) as server:
        yield server


@pytest.mark.timeout(1500)
async def test_multi_event_messages_under_kills_rebalance_and_a_hold(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    now = int(time.time())
    n = 1_500
    messages = make_messages(n, now)
    events = sum(len(m.event_ids) for m in messages)
    coords = await produce_keyed(
        kafka_bootstrap,
        topics.input,
        [m.value for m in messages],
        [m.key for m in messages],
        headers=[m.headers for m in messages],
    )
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        topics,
        extra={
            "CAPI_KAFKA__SESSION_TIMEOUT_SECONDS": "10",
            "CAPI_WORKER__REBALANCE_GRACE_SECONDS": "3",
            "CAPI_DATASETS__0__MAX_EVENTS": "2",
            "CAPI_DATASETS__1__MAX_EVENTS": "2",
            "CAPI_DATASETS__0__DEFAULT_ACTION_SOURCE": "system_generated",
            "CAPI_DATASETS__1__DEFAULT_ACTION_SOURCE": "system_generated",
        },
    )
    sandbox.state.faults.config = FaultConfig(latency_ms=30)

    async def check(label: str) -> int:
        return await check_commits(label, kafka_bootstrap, topics, coords, messages)

    # 1. SIGKILL mid-run, nothing held yet.
    w1 = WorkerProcess(env, tmp_path / "w1.log")
    await asyncio.to_thread(w1.start)
    await wait_accepted(sandbox, events // 5, [w1], 300)
    deadline = time.monotonic() + 120
    while not any(
        (await committed(kafka_bootstrap, topics.group, topics.input, topics.partitions)).values()
    ):
        assert time.monotonic() < deadline, "nothing committed"  # kill after a first commit
        await asyncio.sleep(0.2)
    await asyncio.to_thread(w1.kill)
    assert await check("sigkill") > 0

    # 2. Dataset B held (invalid token); SIGTERM while its batches wait in the hold.
    await set_token_invalid(sandbox.url, DATASET_B, True)
    w2 = WorkerProcess(env, tmp_path / "w2.log")
    await asyncio.to_thread(w2.start)
    await wait_accepted(sandbox, events // 2, [w2], 300)
    await asyncio.sleep(2)  # B's requests meet the token error and wait
    assert await asyncio.to_thread(w2.stop) == 0, w2.log_tail()
    await check("sigterm during a hold")

    # 3. Two workers (a rebalance while B is held, released after the grace), then SIGKILL one.
    w3 = WorkerProcess(env, tmp_path / "w3.log")
    w4 = WorkerProcess(env, tmp_path / "w4.log")
    await asyncio.to_thread(w3.start)
    await asyncio.sleep(3)
    await asyncio.to_thread(w4.start)
    await asyncio.sleep(15)  # the rebalance, past the grace
    await check("rebalance during a hold")
    await asyncio.to_thread(w3.kill)
    await check("sigkill during a hold")

    # 4. B works again: the survivor takes over w3's partitions and finishes the run.
    await set_token_invalid(sandbox.url, DATASET_B, False)
    deadline = time.monotonic() + 900
    while await check("draining") < n:
        assert w4.proc is not None and w4.proc.poll() is None, w4.log_tail()
        assert time.monotonic() < deadline, "the run did not finish"
        await asyncio.sleep(5)
    assert await asyncio.to_thread(w4.stop) == 0, w4.log_tail()

    receipts = await sandbox_events(sandbox.url)
    seen: dict[str, bytes] = {}
    for r in receipts:
        body = orjson.dumps(r["payload"], option=orjson.OPT_SORT_KEYS)
        assert seen.setdefault(r["event_id"], body) == body, f"{r['event_id']} changed"
    expected = {e: m.dataset for m in messages for e in m.event_ids}
    assert set(seen) == set(expected), (len(seen), len(expected))
    assert {str(r["event_id"]): str(r["dataset"]) for r in receipts} == expected
    print(f"[ledger multi-event] messages={n} events={events} sandbox_events={len(receipts)}")
