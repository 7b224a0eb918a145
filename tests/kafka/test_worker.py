"""The worker end to end: real broker, real worker process, the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    DATASET_A,
    DATASET_B,
    Topics,
    WorkerProcess,
    committed,
    create_topics,
    end_offsets,
    produce,
    read_all,
    sandbox_events,
    source_coords,
    worker_env,
)

pytestmark = pytest.mark.integration

HEX64 = re.compile(r"^[0-9a-f]{64}$")
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
EXTINFO = ["a2", "com.example", "1.0", "1.0", "14", "Pixel", "en_US", "UTC"] + [""] * 8


def _event(i: int, source: str, now: int, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": now - 60,
        "action_source": source,
        "event_id": f"ev-{i}",
        "user_data": {
            "email": f"Person.{i}@Example.com",
            "phone": "+1 (650) 555-1212",
            "first_name": "Zoë",
            "ip": "203.0.113.7",
            "user_agent": UA,
        },
        "custom_data": {"value": 10.5 + i, "currency": "usd"},
    }
    if source == "website":
        ev["event_source_url"] = f"https://shop.example.com/p/{i}?fbclid=IwAR{i}"
    if source == "app":
        ev["app_data"] = {"advertiser_tracking_enabled": 1, "extinfo": EXTINFO}
    if source == "business_messaging":
        ev["messaging_channel"] = "whatsapp"
        ev["user_data"]["ctwa_clid"] = f"ARAclid{i}"
    ev.update(over)
    return ev


SOURCES = (
    "website",
    "app",
    "physical_store",
    "system_generated",
    "business_messaging",
    "email",
    "phone_call",
    "chat",
    "other",
)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=1) as server:
        yield server


@pytest.fixture
def topics(unique_topic: str, unique_group: str) -> Topics:
    return Topics.unique(unique_topic, unique_group)


async def _run_until_covered(
    worker: WorkerProcess,
    bootstrap: str,
    topics: Topics,
    coords: list[tuple[int, int]],
    timeout_s: float = 90,
) -> tuple[list[dict[str, Any]], dict[tuple[int, int], str]]:
    want = set(coords)
    records: list[dict[str, Any]] = []

    def covered(recs: list[dict[str, Any]]) -> bool:
        return want <= set(source_coords(recs, topics.input))

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        responses = await read_all(bootstrap, topics.responses, until=lambda r: False, timeout_s=1)
        failures = await read_all(bootstrap, topics.failures, until=lambda r: False, timeout_s=1)
        records = responses + failures
        if covered(records):
            break
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
    outcome = source_coords(records, topics.input)
    missing = want - set(outcome)
    assert not missing, f"{len(missing)} events without outcome; log:\n{worker.log_tail()}"
    return records, outcome


async def test_every_action_source_is_hashed_validated_and_recorded(
    kafka_bootstrap: str, sandbox: SandboxServer, topics: Topics, tmp_path: Path
) -> None:
    await create_topics(kafka_bootstrap, topics)
    now = int(time.time())
    valid = [
        _event(i, src, now, dataset_id=(DATASET_A, DATASET_B)[i % 2])
        for i, src in enumerate(SOURCES)
    ]
    invalid = {
        "event_time_too_old": _event(100, "website", now, event_time=now - 8 * 86400),
        "missing_currency": _event(101, "chat", now, custom_data={"value": 3}),
        "missing_client_user_agent": _event(
            102, "website", now, user_data={"email": "a@example.com"}
        ),
        "unknown_dataset": _event(103, "email", now, dataset_id="999"),
    }
    values = [orjson.dumps(e) for e in valid] + [orjson.dumps(e) for e in invalid.values()]
    values.append(b"\xff\xfe not json")
    coords = await produce(kafka_bootstrap, topics.input, values)

    worker = WorkerProcess(worker_env(kafka_bootstrap, sandbox.url, topics), tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        records, outcome = await _run_until_covered(worker, kafka_bootstrap, topics, coords)
    finally:
        assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()

    # Valid events: delivered, hashed at the sandbox, routed to their dataset.
    for coord in coords[: len(valid)]:
        assert outcome[coord] == "delivered"
    received = await sandbox_events(sandbox.url)
    by_id = {r["event_id"]: r for r in received}
    for i, ev in enumerate(valid):
        got = by_id[ev["event_id"]]
        assert got["dataset"] == ev["dataset_id"]
        ud = got["payload"]["user_data"]
        assert all(HEX64.match(h) for h in ud["em"] + ud["ph"] + ud["fn"])
        assert "dataset_id" not in got["payload"]
        assert got["payload"]["action_source"] == SOURCES[i]
    raw = orjson.dumps(received)
    assert b"Example.com" not in raw and b'example.com"' not in raw and b"Zo\xc3\xab" not in raw

    # Invalid events: one failure record each, with the specific reason.
    expected = [*invalid, "invalid_json"]
    assert [outcome[c] for c in coords[len(valid) :]] == expected
    failures = [r for r in records if r["kind"] == "failure"]
    for f in failures:
        assert "client_ip_address" not in f.get("event", {}).get("user_data", {})
        assert b"Example.com" not in orjson.dumps(f) and b"203.0.113.7" not in orjson.dumps(f)
        assert "raw_base64" not in f  # failures.include_raw is off by default

    # Responses match what the sandbox recorded.
    responses = [r for r in records if r["kind"] == "response"]
    assert sum(r["events_received"] for r in responses) == len(valid)
    assert sorted(i for r in responses for i in r["event_ids"]) == sorted(
        e["event_id"] for e in valid
    )
    assert all(r["fbtrace_id"] for r in responses)

    # Every offset is committed after the graceful stop.
    assert await committed(kafka_bootstrap, topics.group, topics.input, 4) == await end_offsets(
        kafka_bootstrap, topics.input, 4
    )


async def test_transient_errors_and_throttling_deliver_everything(
    kafka_bootstrap: str, sandbox: SandboxServer, topics: Topics, tmp_path: Path
) -> None:
    sandbox.state.faults.config = FaultConfig(
        http_5xx=0.15, transient=0.15, throttle=0.15, throttle_minutes=0, reset=0.05
    )
    await create_topics(kafka_bootstrap, topics)
    now = int(time.time())
    events = [orjson.dumps(_event(i, "system_generated", now)) for i in range(3000)]
    coords = await produce(kafka_bootstrap, topics.input, events)
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        topics,
        extra={"CAPI_DATASETS__0__MAX_EVENTS": "100", "CAPI_GRAPH__MAX_ATTEMPTS": "20"},
    )
    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        _, outcome = await _run_until_covered(worker, kafka_bootstrap, topics, coords)
        retries = await asyncio.to_thread(worker.metric_sum, "capi_retries_total")
        throttles = await asyncio.to_thread(worker.metric_sum, "capi_throttle_pauses_total")
    finally:
        await asyncio.to_thread(worker.stop)
    assert set(outcome.values()) == {"delivered"}
    assert retries > 0 and throttles > 0
    ids = {r["event_id"] for r in await sandbox_events(sandbox.url)}
    assert ids == {f"ev-{i}" for i in range(3000)}


async def test_one_poison_event_is_isolated_and_the_rest_delivered(
    kafka_bootstrap: str, sandbox: SandboxServer, topics: Topics, tmp_path: Path
) -> None:
    """The worker allows 2 h of clock skew, Meta (the sandbox) does not: that event poisons
    its whole batch at Meta, and bisection must isolate it."""
    await create_topics(kafka_bootstrap, topics)
    now = int(time.time())
    events = [_event(i, "email", now) for i in range(500)]
    events[217]["event_time"] = now + 3600
    coords = await produce(kafka_bootstrap, topics.input, [orjson.dumps(e) for e in events])
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        topics,
        extra={"CAPI_DATASETS__0__MAX_FUTURE_SKEW_SECONDS": "7200"},
    )
    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        records, outcome = await _run_until_covered(worker, kafka_bootstrap, topics, coords)
    finally:
        await asyncio.to_thread(worker.stop)
    failed = [c for c, why in outcome.items() if why != "delivered"]
    assert failed == [coords[217]]
    [failure] = [r for r in records if r["kind"] == "failure"]
    assert failure["reason"] == "graph_rejected" and failure["event_id"] == "ev-217"
    assert failure["graph"]["code"] == 100
    ids = {r["event_id"] for r in await sandbox_events(sandbox.url)}
    assert ids == {f"ev-{i}" for i in range(500) if i != 217}


async def test_sigkill_mid_stream_loses_nothing(
    kafka_bootstrap: str, sandbox: SandboxServer, topics: Topics, tmp_path: Path
) -> None:
    sandbox.state.faults.config = FaultConfig(latency_ms=30)
    await create_topics(kafka_bootstrap, topics)
    now = int(time.time())
    n = 20000
    events = [
        orjson.dumps(_event(i, "physical_store", now, dataset_id=(DATASET_A, DATASET_B)[i % 2]))
        for i in range(n)
    ]
    invalid = {i for i in range(0, n, 97)}
    for i in invalid:
        events[i] = b"{broken"
    coords = await produce(kafka_bootstrap, topics.input, events)
    env = worker_env(
        kafka_bootstrap, sandbox.url, topics, extra={"CAPI_DATASETS__0__MAX_EVENTS": "250"}
    )
    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await asyncio.to_thread(worker.metric_sum, "capi_events_delivered_total") > 3000:
            break
        await asyncio.sleep(0.2)
    await asyncio.to_thread(worker.kill)

    worker = WorkerProcess(env, tmp_path / "w2.log")
    await asyncio.to_thread(worker.start)
    try:
        _, outcome = await _run_until_covered(worker, kafka_bootstrap, topics, coords, 180)
    finally:
        await asyncio.to_thread(worker.stop)

    # Ledger: every input is either at the sandbox (by event_id) or a failure with a reason,
    # and the failures are exactly the invalid inputs.
    received = await sandbox_events(sandbox.url)
    ids = [r["event_id"] for r in received]
    valid_ids = {f"ev-{i}" for i in range(n) if i not in invalid}
    assert set(ids) == valid_ids
    failed = {i for i, c in enumerate(coords) if outcome[c] != "delivered"}
    assert failed == invalid
    assert {outcome[coords[i]] for i in invalid} == {"invalid_json"}
    # Duplicates (a replay after the kill) only ever repeat the same event.
    payloads: dict[str, bytes] = {}
    for r in received:
        body = orjson.dumps(r["payload"], option=orjson.OPT_SORT_KEYS)
        assert payloads.setdefault(r["event_id"], body) == body


async def test_the_worker_runs_on_uvloop_when_it_is_installed(
    kafka_bootstrap: str, sandbox: SandboxServer, topics: Topics, tmp_path: Path
) -> None:
    pytest.importorskip("uvloop")
    await create_topics(kafka_bootstrap, topics)
    now = int(time.time())
    coords = await produce(
        kafka_bootstrap,
        topics.input,
        [orjson.dumps(_event(i, "physical_store", now, dataset_id=DATASET_A)) for i in range(20)],
    )
    worker = WorkerProcess(worker_env(kafka_bootstrap, sandbox.url, topics), tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        _, outcome = await _run_until_covered(worker, kafka_bootstrap, topics, coords)
    finally:
        await asyncio.to_thread(worker.stop)
    assert set(outcome.values()) == {"delivered"}
    # The banner names the class of the loop faust's worker runs on.
    assert "capi-streams worker: loop=uvloop " in worker.log_path.read_text()
