"""Deliverer policy over a real GraphClient and a scripted aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from streams.capi.client import GraphClient
from streams.capi.delivery import (
    GRAPH_REJECTED,
    RETRIES_EXHAUSTED,
    Deliverer,
    DeliveryConfig,
    DeliveryResult,
)
from streams.domain.classify import Outcome
from streams.domain.retry import RetryPolicy
from streams.settings import Secret
from tests.capi.fake_server import serve

TOKEN = "EAAB-delivery-secret-token"
DS = "1111"
OTHER = "2222"
TOKENS = {DS: Secret(TOKEN), OTHER: Secret(TOKEN)}
META_TEXT = "Meta free text that may echo a value: jane@example.com"

Reply = web.StreamResponse
Script = Callable[["Req"], Awaitable[Reply]]


@dataclass(frozen=True)
class Req:
    dataset: str
    events: list[dict[str, Any]]
    at: float
    request: web.Request

    @property
    def ids(self) -> list[int]:
        return [e["i"] for e in self.events]

    @property
    def has_poison(self) -> bool:
        return any(e.get("poison") for e in self.events)


def success(req: Req) -> Reply:
    return web.json_response(
        {"events_received": len(req.events), "messages": [], "fbtrace_id": f"T{len(req.events)}"}
    )


def graph_error(
    code: int,
    subcode: int | None = None,
    *,
    status: int = 400,
    headers: dict[str, str] | None = None,
    title: str | None = None,
) -> Reply:
    err: dict[str, Any] = {
        "message": META_TEXT,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": f"F{code}",
        "is_transient": False,
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    if title is not None:
        err["error_user_title"] = title
    return web.json_response({"error": err}, status=status, headers=headers)


def buc_minutes(minutes: float) -> dict[str, str]:
    usage = {"99": [{"type": "ads_management", "estimated_time_to_regain_access": minutes}]}
    return {"X-Business-Use-Case-Usage": orjson.dumps(usage).decode()}


async def ok_script(req: Req) -> Reply:
    return success(req)


@dataclass
class FakeGraph:
    script: Script = ok_script
    seen: list[Req] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    url: str = ""

    def count(self, dataset: str = DS) -> int:
        return sum(1 for r in self.seen if r.dataset == dataset)

    async def handle(self, request: web.Request) -> Reply:
        dataset = request.match_info["dataset"]
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = orjson.loads(await request.read())
        req = Req(dataset, body["data"], time.monotonic(), request)
        self.seen.append(req)
        self.in_flight[dataset] = self.in_flight.get(dataset, 0) + 1
        self.peak[dataset] = max(self.peak.get(dataset, 0), self.in_flight[dataset])
        self.peak_total = max(self.peak_total, sum(self.in_flight.values()))
        try:
            return await self.script(req)
        finally:
            self.in_flight[dataset] -= 1


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    async with serve(fake.handle, "/v25.0/{dataset}/events", "POST") as url:
        fake.url = url
        yield fake


@pytest.fixture
async def client(graph: FakeGraph) -> AsyncIterator[GraphClient]:
    async with GraphClient(
        graph.url, "v25.0", tokens=TOKENS, timeout_s=0.5, max_connections=16
    ) as c:
        yield c


class Recorder:
    """An Observer that records every call."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Outcome, int]] = []
        self.retries: list[str] = []
        self.throttles: list[tuple[str, float]] = []
        self.paused: list[tuple[str, bool]] = []
        self.in_flight: dict[str, int] = {}
        self.in_flight_calls = 0
        self.limits: list[tuple[str, int]] = []

    def on_request(self, dataset: str, outcome: Outcome, duration_s: float, n_events: int) -> None:
        assert duration_s >= 0
        self.requests.append((dataset, outcome, n_events))

    def on_retry(self, dataset: str) -> None:
        self.retries.append(dataset)

    def on_throttle(self, dataset: str, seconds: float) -> None:
        self.throttles.append((dataset, seconds))

    def on_paused(self, dataset: str, paused: bool) -> None:
        self.paused.append((dataset, paused))

    def on_in_flight(self, dataset: str, delta: int) -> None:
        self.in_flight_calls += 1
        self.in_flight[dataset] = self.in_flight.get(dataset, 0) + delta

    def on_in_flight_limit(self, dataset: str, limit: int) -> None:
        self.limits.append((dataset, limit))


class VirtualTime:
    """A clock that jumps forward by whatever the deliverer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


FAST = RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.004, max_elapsed_s=5.0)


def make(
    client: GraphClient,
    *,
    observer: Recorder | None = None,
    vt: VirtualTime | None = None,
    rand: float = 0.0,
    **cfg: Any,
) -> Deliverer:
    cfg.setdefault("retry", FAST)
    cfg.setdefault("throttle_base_s", 0.002)
    cfg.setdefault("throttle_cap_s", 0.01)
    cfg.setdefault("config_retry_s", 0.01)
    extra: dict[str, Any] = {}
    if vt is not None:
        extra = {"sleep": vt.sleep, "clock": vt.clock}
    return Deliverer(client, DeliveryConfig(**cfg), observer, rand=lambda: rand, **extra)


def delivered_indices(result: DeliveryResult) -> list[int]:
    return sorted(i for r in result.delivered for i in r.indices)


def events(n: int, poison: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    batch: list[dict[str, Any]] = [
        {"event_name": "Purchase", "event_id": f"e{i}", "i": i} for i in range(n)
    ]
    for i in poison:
        batch[i]["poison"] = True
    return batch


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait (at most 2 s) until the server or observer state satisfies ``predicate``."""
    async with asyncio.timeout(2.0):
        while not predicate():  # noqa: ASYNC110 - polls state owned by the fake server
            await asyncio.sleep(0.002)


def assert_partition(result: DeliveryResult, n: int) -> None:
    """Every index appears in exactly one of delivered / failed / held."""
    placed = delivered_indices(result) + [f.index for f in result.failures] + list(result.held)
    assert sorted(placed) == list(range(n))


# -- success and transient errors -------------------------------------------------------------


async def test_success_is_one_request(graph: FakeGraph, client: GraphClient) -> None:
    rec = Recorder()
    result = await make(client, observer=rec).deliver(DS, events(5), "TEST1")
    assert graph.count() == 1
    [done] = result.delivered
    assert (done.indices, done.events_received, done.fbtrace_id, done.attempts) == (
        range(5),
        5,
        "T5",
        1,
    )
    assert result.failures == () and result.held == ()
    assert result.requests == 1
    assert rec.requests == [(DS, Outcome.DELIVERED, 5)]
    assert rec.in_flight == {DS: 0} and rec.in_flight_calls == 2
    assert orjson.loads(await graph.seen[0].request.read())["test_event_code"] == "TEST1"


async def test_empty_batch_sends_nothing(graph: FakeGraph, client: GraphClient) -> None:
    result = await make(client).deliver(DS, [])
    assert graph.seen == [] and result.requests == 0 and result.delivered == ()


async def test_5xx_is_retried_with_backoff(graph: FakeGraph, client: GraphClient) -> None:
    async def flaky(req: Req) -> Reply:
        if len(graph.seen) <= 2:
            return web.Response(status=500, text="<html>oops</html>")
        return success(req)

    graph.script = flaky
    rec, vt = Recorder(), VirtualTime()
    d = make(client, observer=rec, vt=vt, retry=RetryPolicy(max_attempts=5, base_s=1, cap_s=8))
    result = await d.deliver(DS, events(10))
    assert graph.count() == 3
    assert result.delivered[0].attempts == 3
    assert result.failures == ()
    assert vt.sleeps == [1.0, 2.0]  # rand=0 -> the full exponential ceiling
    assert rec.retries == [DS, DS]
    assert [o for _, o, _ in rec.requests] == [
        Outcome.TRANSIENT,
        Outcome.TRANSIENT,
        Outcome.DELIVERED,
    ]


async def test_transient_code_2_exhausts_retries(graph: FakeGraph, client: GraphClient) -> None:
    async def down(req: Req) -> Reply:
        return graph_error(2, title="Service temporarily unavailable")

    graph.script = down
    result = await make(client).deliver(DS, events(4))
    assert graph.count() == FAST.max_attempts
    assert result.delivered == ()
    assert [f.index for f in result.failures] == [0, 1, 2, 3]
    f = result.failures[0]
    assert (f.reason, f.detail, f.code, f.status, f.attempts, f.fbtrace_id, f.isolated) == (
        RETRIES_EXHAUSTED,
        "graph_transient",
        2,
        400,
        3,
        "F2",
        False,
    )
    assert f.title == "Service temporarily unavailable"
    assert_partition(result, 4)


async def test_max_elapsed_bounds_retries(graph: FakeGraph, client: GraphClient) -> None:
    async def down(req: Req) -> Reply:
        return web.Response(status=503)

    graph.script = down
    vt = VirtualTime()
    policy = RetryPolicy(max_attempts=100, base_s=1.0, cap_s=4.0, max_elapsed_s=10.0)
    result = await make(client, vt=vt, retry=policy).deliver(DS, events(2))
    # sleeps 1, 2, 4 (7 s) then 4 more would pass 10 s (plus request time)
    assert vt.sleeps == [1.0, 2.0, 4.0]
    assert graph.count() == 4
    assert {f.reason for f in result.failures} == {RETRIES_EXHAUSTED}


async def test_retry_after_on_503_is_honoured_up_to_the_cap(
    graph: FakeGraph, client: GraphClient
) -> None:
    async def busy(req: Req) -> Reply:
        if len(graph.seen) == 1:
            return web.Response(status=503, headers={"Retry-After": "3"})
        if len(graph.seen) == 2:
            return web.Response(status=503, headers={"Retry-After": "120"})
        return success(req)

    graph.script = busy
    vt = VirtualTime()
    policy = RetryPolicy(max_attempts=5, base_s=0.5, cap_s=10.0, max_elapsed_s=100.0)
    result = await make(client, vt=vt, retry=policy).deliver(DS, events(1))
    assert vt.sleeps == [3.0, 10.0]
    assert result.delivered_count == 1


async def test_timeout_then_exhausted(graph: FakeGraph) -> None:
    async def hang(req: Req) -> Reply:
        await asyncio.sleep(0.3)
        return success(req)

    graph.script = hang
    async with GraphClient(graph.url, "v25.0", tokens=TOKENS, timeout_s=0.05) as c:
        d = make(c, retry=RetryPolicy(max_attempts=2, base_s=0.001, cap_s=0.001))
        started = time.monotonic()
        result = await d.deliver(DS, events(3))
    assert time.monotonic() - started < 0.5
    assert graph.count() == 2
    assert {(f.reason, f.detail, f.status) for f in result.failures} == {
        (RETRIES_EXHAUSTED, "timeout", None)
    }


async def test_connection_reset_is_retried(graph: FakeGraph, client: GraphClient) -> None:
    async def reset_first(req: Req) -> Reply:
        if len(graph.seen) == 1:
            sock = req.request.transport.get_extra_info("socket")  # type: ignore[union-attr]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            req.request.transport.abort()  # type: ignore[union-attr]
            await asyncio.sleep(0.02)
        return success(req)

    graph.script = reset_first
    rec = Recorder()
    result = await make(client, observer=rec).deliver(DS, events(7))
    assert delivered_indices(result) == list(range(7))
    assert result.delivered[0].attempts == 2
    assert rec.retries == [DS]


# -- throttling -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [4, 17, 80004])
async def test_throttle_waits_the_announced_time_and_never_fails(
    graph: FakeGraph, client: GraphClient, code: int
) -> None:
    throttles_left = 5  # more than FAST.max_attempts: throttling is not a failure attempt

    async def throttled(req: Req) -> Reply:
        nonlocal throttles_left
        if throttles_left:
            throttles_left -= 1
            return graph_error(code, headers=buc_minutes(2))
        return success(req)

    graph.script = throttled
    rec, vt = Recorder(), VirtualTime()
    result = await make(client, observer=rec, vt=vt).deliver(DS, events(20))
    assert result.failures == ()
    assert delivered_indices(result) == list(range(20))
    assert result.delivered[0].attempts == 6
    assert rec.throttles == [(DS, 120.0)] * 5
    assert vt.sleeps == [120.0] * 5
    assert rec.retries == []
    assert rec.limits == [(DS, 4)]  # throttling pauses the dataset; the limit stays


async def test_throttle_without_estimate_backs_off_and_is_capped(
    graph: FakeGraph, client: GraphClient
) -> None:
    async def throttled(req: Req) -> Reply:
        return success(req) if len(graph.seen) > 4 else web.Response(status=429)

    graph.script = throttled
    rec, vt = Recorder(), VirtualTime()
    d = make(client, observer=rec, vt=vt, throttle_base_s=10.0, throttle_cap_s=40.0)
    result = await d.deliver(DS, events(1))
    assert result.delivered_count == 1
    assert [s for _, s in rec.throttles] == [10.0, 20.0, 40.0, 40.0]


async def test_throttle_estimate_is_capped_by_max_wait(
    graph: FakeGraph, client: GraphClient
) -> None:
    async def throttled(req: Req) -> Reply:
        return success(req) if len(graph.seen) > 1 else graph_error(80004, headers=buc_minutes(600))

    graph.script = throttled
    rec, vt = Recorder(), VirtualTime()
    d = make(client, observer=rec, vt=vt, throttle_max_wait_s=900.0)
    await d.deliver(DS, events(1))
    assert rec.throttles == [(DS, 900.0)]


async def test_throttle_pauses_every_batch_of_the_dataset_only(
    graph: FakeGraph, client: GraphClient
) -> None:
    pause = 0.15
    throttled_at: list[float] = []

    async def script(req: Req) -> Reply:
        if req.dataset == DS and not throttled_at:
            throttled_at.append(time.monotonic())
            return graph_error(17, headers={"Retry-After": str(pause)})
        return success(req)

    graph.script = script
    d = make(client)
    first = asyncio.create_task(d.deliver(DS, events(3)))
    await eventually(lambda: bool(throttled_at))
    await asyncio.sleep(0.02)  # the pause is in force now
    second = asyncio.create_task(d.deliver(DS, events(3)))
    other = await d.deliver(OTHER, events(3))
    other_at = graph.seen[-1].at
    r1, r2 = await asyncio.gather(first, second)
    assert other.delivered_count == 3
    assert other_at - throttled_at[0] < pause  # another dataset is not paused
    ds_times = [r.at for r in graph.seen if r.dataset == DS]
    assert len(ds_times) == 3
    assert all(t - throttled_at[0] >= pause - 0.01 for t in ds_times[1:])
    assert r1.delivered_count == r2.delivered_count == 3


# -- bisection ------------------------------------------------------------------------------


def bisection_cost(lo: int, hi: int, bad: set[int]) -> int:
    """Requests needed by halving [lo, hi) until every bad index is alone (the spec)."""
    if hi - lo == 1 or not any(lo <= b < hi for b in bad):
        return 1
    mid = (lo + hi) // 2
    return 1 + bisection_cost(lo, mid, bad) + bisection_cost(mid, hi, bad)


async def poison_script(req: Req) -> Reply:
    if req.has_poison:
        return graph_error(100, 2804003, title="Event Timestamp Too Old")
    return success(req)


@pytest.mark.parametrize("poison", [(0,), (617,), (999,), (3, 870), (500, 501)])
async def test_bisection_isolates_poison_events(
    graph: FakeGraph, client: GraphClient, poison: tuple[int, ...]
) -> None:
    graph.script = poison_script
    n = 1000
    rec = Recorder()
    result = await make(client, observer=rec).deliver(DS, events(n, poison))
    assert_partition(result, n)
    assert [f.index for f in result.failures] == list(poison)
    for f in result.failures:
        assert (f.reason, f.detail, f.code, f.subcode, f.attempts, f.isolated) == (
            GRAPH_REJECTED,
            "payload_invalid",
            100,
            2804003,
            1,
            True,
        )
        assert f.title == "Event Timestamp Too Old"
    good = set(range(n)) - set(poison)
    assert set(delivered_indices(result)) == good
    accepted = [i for r in graph.seen if not r.has_poison for i in r.ids]
    assert sorted(accepted) == sorted(good)  # every good event reached Meta exactly once
    assert result.requests == graph.count() == bisection_cost(0, n, set(poison))
    if len(poison) == 1:
        assert result.requests <= 1 + 2 * math.ceil(math.log2(n))
    assert len(rec.requests) == result.requests


async def test_rejected_without_subcode_is_bisected_too(
    graph: FakeGraph, client: GraphClient
) -> None:
    async def script(req: Req) -> Reply:
        return graph_error(100) if req.has_poison else success(req)

    graph.script = script
    result = await make(client).deliver(DS, events(16, (5,)))
    assert [(f.index, f.detail) for f in result.failures] == [(5, "invalid_parameter")]
    assert result.delivered_count == 15


async def test_bisection_budget_fails_the_rest_unisolated(
    graph: FakeGraph, client: GraphClient
) -> None:
    async def everything_bad(req: Req) -> Reply:
        return graph_error(100, 2804016)

    graph.script = everything_bad
    result = await make(client, max_rejected_requests=7).deliver(DS, events(64))
    assert_partition(result, 64)
    assert len(result.failures) == 64
    assert {f.reason for f in result.failures} == {GRAPH_REJECTED}
    assert any(not f.isolated for f in result.failures)
    assert result.requests <= 1 + 2 * 7


async def test_single_event_rejection_fails_without_bisection(
    graph: FakeGraph, client: GraphClient
) -> None:
    graph.script = poison_script
    result = await make(client).deliver(DS, events(1, (0,)))
    assert graph.count() == 1
    assert [f.index for f in result.failures] == [0]


# -- configuration errors -----------------------------------------------------------------


async def test_config_error_pauses_then_recovers(
    graph: FakeGraph, client: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(req: Req) -> Reply:
        if req.dataset == DS and graph.count(DS) <= 3:
            return graph_error(190, 463)
        return success(req)

    graph.script = script
    rec = Recorder()
    d = make(client, observer=rec, config_retry_s=0.03)
    caplog.set_level(logging.DEBUG, logger="streams.capi.delivery")
    task = asyncio.create_task(d.deliver(DS, events(8)))
    await eventually(lambda: bool(rec.paused))
    assert d.holds.held() == frozenset({DS})
    other = await d.deliver(OTHER, events(2))  # unaffected while DS is held
    assert other.delivered_count == 2
    result = await task
    assert delivered_indices(result) == list(range(8))
    assert result.delivered[0].attempts == 4
    assert result.failures == () and result.held == ()
    assert rec.paused == [(DS, True), (DS, False)]
    assert d.holds.held() == frozenset()
    paused_lines = [r for r in caplog.records if "configuration error" in r.getMessage()]
    assert len(paused_lines) == 1
    assert paused_lines[0].levelno == logging.ERROR
    line = paused_lines[0].getMessage()
    assert f"dataset={DS}" in line and "code=190" in line and "subcode=463" in line
    assert "fbtrace_id=F190" in line


async def test_a_request_the_client_cannot_build_holds_the_dataset(graph: FakeGraph) -> None:
    """A token with a newline inside makes aiohttp refuse every request ('Forbidden control
    character'): a configuration hold of that dataset, probed, not a failure of its events
    and not an error of the window; other datasets flow."""
    tokens = {DS: Secret(f"{TOKEN}\n"), OTHER: Secret(TOKEN)}
    rec = Recorder()
    async with GraphClient(graph.url, "v25.0", tokens=tokens, timeout_s=0.3) as c:
        d = make(c, observer=rec, config_retry_s=0.02)
        task = asyncio.create_task(d.deliver(DS, events(3)))
        await eventually(lambda: bool(rec.paused))
        assert d.holds.held() == frozenset({DS})
        assert (await d.deliver(OTHER, events(2))).delivered_count == 2
        await asyncio.sleep(0.1)  # probes go on, the events stay held
        d.holds.stop()
        result = await task
    assert result.held == (0, 1, 2) and result.failures == () and result.delivered == ()
    assert rec.paused == [(DS, True)]
    assert graph.count(DS) == 0  # nothing with the bad token ever left the process


async def test_config_hold_probes_one_request_at_a_time(
    graph: FakeGraph, client: GraphClient
) -> None:
    async def script(req: Req) -> Reply:
        return graph_error(100, 33)

    graph.script = script
    d = make(client, config_retry_s=0.02, max_in_flight=8)
    tasks = [asyncio.create_task(d.deliver(DS, events(3))) for _ in range(5)]
    await asyncio.sleep(0.15)
    d.holds.stop()
    results = await asyncio.gather(*tasks)
    for r in results:
        assert r.held == (0, 1, 2)
        assert r.failures == () and r.delivered == ()
        assert r.held
    # a first burst, then probes serialized: at most one request per config_retry_s interval
    assert graph.count() <= 5 + math.ceil(0.15 / 0.02) + 1
    assert graph.peak[DS] <= 5


async def test_config_hold_stops_with_held_events(graph: FakeGraph, client: GraphClient) -> None:
    async def script(req: Req) -> Reply:
        return graph_error(10)

    graph.script = script
    rec = Recorder()
    d = make(client, observer=rec, config_retry_s=10.0)
    task = asyncio.create_task(d.deliver(DS, events(6)))
    await eventually(lambda: graph.count() >= 1 and bool(rec.paused))
    started = time.monotonic()
    d.holds.stop()
    result = await task
    assert time.monotonic() - started < 0.5  # the 10 s probe wait ended at once
    assert result.held == tuple(range(6))
    assert result.failures == () and result.delivered == ()
    assert rec.paused == [(DS, True)]
    # once stopped, nothing more is sent
    again = await d.deliver(DS, events(2))
    assert again.held == (0, 1) and graph.count() == 1


async def test_config_hold_cancellation_propagates(graph: FakeGraph, client: GraphClient) -> None:
    async def script(req: Req) -> Reply:
        return graph_error(200)

    graph.script = script
    d = make(client, config_retry_s=10.0)
    task = asyncio.create_task(d.deliver(DS, events(2)))
    await eventually(lambda: graph.count() >= 1)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_stop_interrupts_throttle_and_backoff(graph: FakeGraph, client: GraphClient) -> None:
    async def script(req: Req) -> Reply:
        if req.dataset == DS:
            return graph_error(80004, headers=buc_minutes(30))
        return web.Response(status=500)

    graph.script = script
    d = make(client, retry=RetryPolicy(max_attempts=5, base_s=30.0, cap_s=30.0))
    t1 = asyncio.create_task(d.deliver(DS, events(2)))
    t2 = asyncio.create_task(d.deliver(OTHER, events(3)))
    await eventually(lambda: graph.count(DS) >= 1 and graph.count(OTHER) >= 1)
    await asyncio.sleep(0.01)
    d.holds.stop()
    r1, r2 = await asyncio.wait_for(asyncio.gather(t1, t2), timeout=1.0)
    assert r1.held == (0, 1) and r2.held == (0, 1, 2)
    assert r1.failures == () and r2.failures == ()


# -- concurrency, logging -----------------------------------------------------------------


async def test_in_flight_is_bounded_per_dataset(graph: FakeGraph, client: GraphClient) -> None:
    async def slow(req: Req) -> Reply:
        await asyncio.sleep(0.02)
        return success(req)

    graph.script = slow
    rec = Recorder()
    d = make(client, observer=rec, max_in_flight=2)
    results = await asyncio.gather(
        *(d.deliver(ds, events(5)) for ds in (DS, OTHER) for _ in range(6))
    )
    assert all(r.delivered_count == 5 for r in results)
    assert graph.peak == {DS: 2, OTHER: 2}
    assert graph.peak_total == 4
    assert rec.in_flight == {DS: 0, OTHER: 0}


async def test_overload_lowers_concurrency_then_it_recovers(
    graph: FakeGraph, client: GraphClient
) -> None:
    """Six 503s: the four requests of the first window halve the limit once (4 -> 2), the two
    sent under 2 halve it again (-> 1); then one answer raises it to 2, two more to 3, three
    more to 4."""
    overloads = 6
    arrivals: list[int] = []

    async def overloaded(req: Req) -> Reply:
        nonlocal overloads
        arrivals.append(graph.in_flight[req.dataset])
        if overloads:
            overloads -= 1
            await asyncio.sleep(0.05)
            return web.Response(status=503, text="<html>busy</html>")
        return success(req)

    graph.script = overloaded
    rec = Recorder()
    d = make(client, observer=rec, retry=RetryPolicy(max_attempts=4, base_s=0.001, cap_s=0.004))
    results = await asyncio.gather(*(d.deliver(DS, events(5)) for _ in range(12)))
    assert all(r.delivered_count == 5 for r in results)
    assert [limit for _, limit in rec.limits] == [4, 2, 1, 2, 3, 4]
    assert max(arrivals) == 4
    assert max(arrivals[4:6]) <= 2  # sent under the halved limit
    assert arrivals[6] == 1  # the first request after the second decrease goes alone
    assert len(arrivals) == 18


async def test_events_received_mismatch_is_logged(
    graph: FakeGraph, client: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def short(req: Req) -> Reply:
        return web.json_response({"events_received": 1, "messages": [], "fbtrace_id": "X"})

    graph.script = short
    caplog.set_level(logging.WARNING, logger="streams.capi.delivery")
    result = await make(client).deliver(DS, events(3))
    assert result.delivered[0].events_received == 1
    assert any(
        "events_received mismatch" in r.getMessage() and "events=3" in r.getMessage()
        for r in caplog.records
    )


async def test_logs_hold_no_token_event_data_or_meta_text(
    graph: FakeGraph, client: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(req: Req) -> Reply:
        if req.has_poison:
            return graph_error(100, 2804050, title=META_TEXT)
        if len(graph.seen) == 1:
            return graph_error(17)
        return success(req)

    graph.script = script
    caplog.set_level(logging.DEBUG, logger="streams.capi.delivery")
    batch = [dict(e, em="jane@example.com") for e in events(8, (2,))]
    result = await make(client).deliver(DS, batch)
    assert [f.index for f in result.failures] == [2]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in text
    assert "jane@example.com" not in text
    assert "Meta free text" not in text
    assert "Meta free text" not in repr(result)
    summary = [r for r in caplog.records if r.getMessage().startswith("capi batch")]
    assert len(summary) == 1
    assert "outcome=partial" in summary[0].getMessage()
    assert summary[0].levelno == logging.WARNING


async def test_clean_delivery_logs_summary_only_at_debug(
    graph: FakeGraph, client: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streams.capi.delivery")
    await make(client).deliver(DS, events(3))
    # Our records only: whether the fake Graph server's access log (aiohttp.access, INFO)
    # is captured too depends on the root logger's level, which this test does not own.
    assert [r for r in caplog.records if r.name.startswith("streams.")] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_in_flight": 0},
        {"max_rejected_requests": 0},
        {"throttle_base_s": -1.0},
        {"throttle_jitter": 2.0},
        {"config_retry_s": 0.0},
    ],
)
def test_config_validates(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DeliveryConfig(**kwargs)


def test_repr_has_no_token() -> None:
    d = Deliverer(GraphClient("http://127.0.0.1", "v25.0", tokens=TOKENS))
    assert "Deliverer(" in repr(d) and TOKEN not in repr(d)
