"""Replay of failure records: real broker, and for the end-to-end case a real worker + sandbox."""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.server import SandboxServer
from streams.domain.records import FailureRecord, SourceRef, failure_record
from streams.domain.replay import ReplayFilter, ReplayOptions
from streams.kafka.replay import ReplayError, add_arguments, run_from_args, run_replay
from streams.settings import Settings, load_settings
from tests.kafka.harness import (
    DATASET_A,
    DATASET_B,
    Topics,
    WorkerProcess,
    create_topics,
    produce,
    read_all,
    sandbox_events,
    source_coords,
    worker_env,
)

pytestmark = pytest.mark.integration

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
HEX64 = "0123456789abcdef" * 4


@pytest.fixture
def topics(unique_topic: str, unique_group: str) -> Topics:
    return Topics.unique(unique_topic, unique_group)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=1) as server:
        yield server


def _settings(bootstrap: str, topics: Topics, graph_url: str = "http://127.0.0.1:1") -> Settings:
    return load_settings(None, worker_env(bootstrap, graph_url, topics))


def _plain_event(i: int, now: int, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": now - 120,
        "action_source": "website",
        "event_source_url": f"https://shop.example.com/p/{i}?fbclid=IwAR{i}",
        "event_id": f"ev-{i}",
        "user_data": {
            "email": f"Person.{i}@Example.com",
            "phone": "+1 (650) 555-1212",
            "ip": "203.0.113.7",
            "user_agent": UA,
        },
        "custom_data": {"value": 10 + i, "currency": "usd"},
    }
    ev.update(over)
    return ev


def _hashed_event(event_id: str, now: float) -> dict[str, Any]:
    """An event as a failure record holds it (already hashed, no client IP)."""
    return {
        "event_name": "Lead",
        "event_time": int(now) - 600,
        "action_source": "email",
        "event_id": event_id,
        "user_data": {"em": [HEX64]},
    }


async def _messages(bootstrap: str, topic: str) -> list[Any]:
    """Every message of `topic` up to its current end offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        out: list[Any] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for tp, records in batch.items():
                out.extend(r for r in records if r.offset < ends[tp])
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        assert not pending, "timed out reading the topic"
        return out
    finally:
        await consumer.stop()


async def _groups(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {g[0] for g in await admin.list_consumer_groups()}
    finally:
        await admin.close()


async def _produce_failures(
    bootstrap: str, topic: str, records: list[dict[str, Any]]
) -> list[tuple[int, int]]:
    """Write failure records as the worker does: key event_id, stamped after failed_at."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futs = []
        for r in records:
            key = r.get("event_id")
            futs.append(
                await producer.send(
                    topic,
                    orjson.dumps(r),
                    key=key.encode() if key else None,
                    timestamp_ms=int(r["failed_at"] * 1000) + 50,
                )
            )
        mds = await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return [(md.partition, md.offset) for md in mds]


async def _sandbox_stats(url: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/_sandbox/stats") as resp,
    ):
        stats: dict[str, Any] = await resp.json()
    return stats


async def _wait_sandbox(url: str, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    received = await sandbox_events(url)
    while len(received) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        received = await sandbox_events(url)
    assert len(received) >= count, f"sandbox has {len(received)} of {count} events"
    return received


async def _wait_outcomes(
    worker: WorkerProcess, bootstrap: str, topics: Topics, coords: list[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    deadline = time.monotonic() + 90
    outcome: dict[tuple[int, int], str] = {}
    while time.monotonic() < deadline:
        records = await read_all(bootstrap, topics.failures, until=lambda r: False, timeout_s=1)
        records += await read_all(bootstrap, topics.responses, until=lambda r: False, timeout_s=1)
        outcome = source_coords(records, topics.input)
        if set(coords) <= set(outcome):
            return outcome
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
    raise AssertionError(f"outcomes missing; log:\n{worker.log_tail()}")


async def test_replay_after_an_outage_delivers_each_event_once_and_meta_dedups_a_rerun(
    kafka_bootstrap: str, sandbox: SandboxServer, topics: Topics, tmp_path: Path
) -> None:
    # The outage: every Graph request answers 5xx, one attempt each -> retries_exhausted.
    sandbox.state.faults.config = FaultConfig(http_5xx=1.0)
    await create_topics(kafka_bootstrap, topics)
    now = int(time.time())
    n = 60
    # Personal data outside user_data: dataset B turned its PII guard off, so its events are
    # sent with it, and only the failure record's redaction removes it.
    custom = {"currency": "usd", "customer_email": "Buyer.7@Example.com"}
    events = [
        _plain_event(
            i, now, dataset_id=(DATASET_A, DATASET_B)[i % 2], custom_data=custom | {"value": 10 + i}
        )
        for i in range(n)
    ]
    invalid = [_plain_event(100 + i, now, custom_data={"value": 3}) for i in range(3)]
    coords = await produce(
        kafka_bootstrap, topics.input, [orjson.dumps(e) for e in events + invalid]
    )
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        topics,
        extra={"CAPI_GRAPH__MAX_ATTEMPTS": "1", "CAPI_DATASETS__1__PII_GUARD": "off"},
    )
    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        outcome = await _wait_outcomes(worker, kafka_bootstrap, topics, coords)
        assert [outcome[c] for c in coords] == ["retries_exhausted"] * n + ["missing_currency"] * 3
        assert await sandbox_events(sandbox.url) == []
        failures = await read_all(
            kafka_bootstrap, topics.failures, until=lambda r: len(r) >= n + 3, timeout_s=30
        )
        assert b"Example.com" not in orjson.dumps(failures)  # redacted records
        redacted_b = [f for f in failures if f.get("dataset_id") == DATASET_B]
        assert redacted_b and all("custom_data.customer_email" in f["redacted"] for f in redacted_b)

        # The cause is fixed; replay only the outage's failures.
        sandbox.state.faults.config = FaultConfig()
        settings = load_settings(None, env)
        options = ReplayOptions(filter=ReplayFilter(reasons=frozenset({"retries_exhausted"})))
        summary = await run_replay(settings, options)
        assert (summary.scanned, summary.matched, summary.selected) == (n + 3, n, n)
        assert summary.replayed == n and not summary.not_replayable
        assert summary.by_dataset == {DATASET_A: n // 2, DATASET_B: n // 2}
        assert summary.by_topic == {topics.input: n}

        received = await _wait_sandbox(sandbox.url, n)
        ids = Counter(r["event_id"] for r in received)
        assert ids == Counter({f"ev-{i}": 1 for i in range(n)})
        by_id = {r["event_id"]: r for r in received}
        for i, ev in enumerate(events):
            got = by_id[f"ev-{i}"]
            assert got["dataset"] == ev["dataset_id"]
            ud = got["payload"]["user_data"]
            assert len(ud["em"][0]) == 64 and ud["client_user_agent"] == UA
            assert "client_ip_address" not in ud  # failure records never keep it
            assert ud["fbc"].endswith(f".IwAR{i}")
        assert b"Example.com" not in orjson.dumps(received)
        assert (await _sandbox_stats(sandbox.url))["totals"]["duplicates"] == 0

        # The replayed messages: native, traceable to their failure record.
        sent = await _messages(kafka_bootstrap, topics.input)
        replayed = [m for m in sent if "capi-replay-of" in dict(m.headers)]
        assert len(sent) == len(coords) + n
        assert len(replayed) == n
        for m in replayed:
            headers = dict(m.headers)
            assert headers["capi-format"] == b"native"
            topic, partition, offset = headers["capi-replay-of"].decode().rsplit("/", 2)
            assert topic == topics.failures and int(partition) >= 0 and int(offset) >= 0
            assert m.key == orjson.loads(m.value)["event_id"].encode()

        # Running the same replay again sends the same events again: same event_id, same
        # payload, all counted by the sandbox as duplicates Meta would drop.
        again = await run_replay(settings, options)
        assert (again.scanned, again.replayed) == (n + 3, n)
        received = await _wait_sandbox(sandbox.url, 2 * n)
        assert Counter(r["event_id"] for r in received) == Counter({f"ev-{i}": 2 for i in range(n)})
        payloads: dict[str, bytes] = {}
        for r in received:
            body = orjson.dumps(r["payload"], option=orjson.OPT_SORT_KEYS)
            assert payloads.setdefault(r["event_id"], body) == body
        assert (await _sandbox_stats(sandbox.url))["totals"]["duplicates"] == n
    finally:
        assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()


async def test_dry_run_counts_and_sends_nothing(
    kafka_bootstrap: str, topics: Topics, unique_group: str
) -> None:
    await create_topics(kafka_bootstrap, topics)
    now = time.time()
    at = now - 60
    records = [
        failure_record(
            FailureRecord(
                "retries_exhausted",
                SourceRef(topics.input, 0, i),
                field=None,
                dataset_id=(DATASET_A, DATASET_B)[i % 2],
                event=_hashed_event(f"r-{i}", now),
                event_id=f"r-{i}",
            ),
            at,
        )
        for i in range(5)
    ]
    records.append(
        failure_record(
            FailureRecord("unknown_dataset", SourceRef(topics.input, 1, 9), field="dataset_id"), at
        )
    )
    records.append(
        failure_record(
            FailureRecord(
                "unknown_format",
                SourceRef(topics.input, 2, 3),
                field=None,
                raw=b"{broken",
            ),
            at,
        )
    )
    await _produce_failures(kafka_bootstrap, topics.failures, records)
    groups_before = await _groups(kafka_bootstrap)

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--dry-run"])
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(
        run_from_args, args, _settings(kafka_bootstrap, topics), out=out, err=err
    )
    assert code == 0, err.getvalue()
    text = out.getvalue()
    assert "scanned 7, matched 7, not replayable 1" in text
    assert "matched by reason: retries_exhausted=5, unknown_dataset=1, unknown_format=1" in text
    assert f"matched by dataset: {DATASET_A}=3, {DATASET_B}=2, none=2" in text
    assert "not replayable: no_event=1" in text
    assert f"would send 6 to {topics.input}" in text
    assert "dry run: 6 messages selected, nothing sent" in text

    assert await _messages(kafka_bootstrap, topics.input) == []
    assert await _groups(kafka_bootstrap) == groups_before  # no consumer group, no commit


async def test_filters_select_by_dataset_and_failed_at_range(
    kafka_bootstrap: str, topics: Topics
) -> None:
    await create_topics(kafka_bootstrap, topics)
    now = time.time()
    hours = (5, 3, 1)
    records = []
    for h in hours:
        for ds in (DATASET_A, DATASET_B):
            for j in range(2):
                event_id = f"{ds[-1]}-{h}h-{j}"
                records.append(
                    failure_record(
                        FailureRecord(
                            "retries_exhausted",
                            SourceRef(topics.input, 0, len(records)),
                            field=None,
                            dataset_id=ds,
                            event=_hashed_event(event_id, now),
                            event_id=event_id,
                        ),
                        now - h * 3600,
                    )
                )
    records.append(
        failure_record(
            FailureRecord(
                "unknown_format",
                SourceRef(topics.input, 0, 99),
                field=None,
                raw=b'{"event_name": "Lead",',
            ),
            now - 3 * 3600,
        )
    )
    coords = await _produce_failures(kafka_bootstrap, topics.failures, records)
    settings = _settings(kafka_bootstrap, topics)

    window = ReplayFilter(
        datasets=frozenset({DATASET_B}), since=now - 4 * 3600, until=now - 2 * 3600
    )
    summary = await run_replay(settings, ReplayOptions(filter=window))
    # With --since, reading starts at the records Kafka stamped after since - 15 min: the four
    # failures of 5 h ago are not even read.
    assert (summary.scanned, summary.matched, summary.replayed) == (len(records) - 4, 2, 2)
    sent = await _messages(kafka_bootstrap, topics.input)
    assert sorted(orjson.loads(m.value)["event_id"] for m in sent) == ["2-3h-0", "2-3h-1"]
    for m in sent:
        body = orjson.loads(m.value)
        assert body["dataset_id"] == DATASET_B
        assert body["user_data"] == {"em": [HEX64]}
        ref = dict(m.headers)["capi-replay-of"].decode()
        index = records.index(next(r for r in records if r.get("event_id") == body["event_id"]))
        assert ref == f"{topics.failures}/{coords[index][0]}/{coords[index][1]}"

    # The raw input of a message in an unknown format goes back unchanged; time range only.
    raw_only = ReplayFilter(reasons=frozenset({"unknown_format"}), since=now - 4 * 3600)
    summary = await run_replay(settings, ReplayOptions(filter=raw_only))
    assert (summary.matched, summary.replayed, summary.raw) == (1, 1, 1)
    sent = await _messages(kafka_bootstrap, topics.input)
    raws = [m for m in sent if m.value == b'{"event_name": "Lead",']
    assert len(raws) == 1 and "capi-format" not in dict(raws[0].headers)

    # --limit caps the messages sent; --topic must be an input topic.
    summary = await run_replay(
        settings, ReplayOptions(filter=ReplayFilter(datasets=frozenset({DATASET_A})), limit=3)
    )
    assert summary.replayed == 3 and summary.limit_reached
    assert len(await _messages(kafka_bootstrap, topics.input)) == 2 + 1 + 3
    for bad in (topics.failures, topics.responses, "not-an-input"):
        with pytest.raises(ReplayError):
            await run_replay(settings, ReplayOptions(topic=bad))


async def test_missing_failures_topic_is_a_clear_error(
    kafka_bootstrap: str, topics: Topics
) -> None:
    settings = _settings(kafka_bootstrap, topics)  # topics not created
    with pytest.raises(ReplayError, match="does not exist"):
        await run_replay(settings, ReplayOptions(dry_run=True))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    args = parser.parse_args(["--reason", "retries_exhausted"])
    code = await asyncio.to_thread(run_from_args, args, settings, out=out, err=err)
    assert code == 2 and out.getvalue() == ""
    assert (
        err.getvalue() == f"capi-streams replay: failures topic {topics.failures} does not exist\n"
    )
    args = parser.parse_args(["--since", "2026-11-02", "--until", "2026-11-01"])
    code = await asyncio.to_thread(run_from_args, args, settings, out=out, err=err)
    assert code == 2 and "before until" in err.getvalue()
