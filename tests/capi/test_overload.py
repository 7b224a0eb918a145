"""Adaptive concurrency against the sandbox over real HTTP, its endpoint overloaded.

The sandbox serves one request at a time, 0.4 s each (fault `capacity`); the client gives up
after 1 s. Two requests at once are answered in time, three are not, and a request the client
abandoned still takes its turn, so retries at full concurrency only lengthen the line: a burst
sent at a fixed 8 requests in flight exhausts its retries, the same burst under the adaptive
limit (halved on each timeout window, down to 1) is delivered, and the limit climbs back to the
ceiling once the endpoint is fast again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streams.capi.client import GraphClient
from streams.capi.delivery import (
    RETRIES_EXHAUSTED,
    Deliverer,
    DeliveryConfig,
    DeliveryResult,
    NullObserver,
)
from streams.dev.sandbox.datasets import DEFAULT_TOKEN
from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.server import SandboxServer
from streams.domain.retry import RetryPolicy
from streams.settings import Secret
from tests.dev.sandbox.support import event

DS = "1000000000000001"
CEILING = 8
BATCHES, PER_BATCH = 16, 20
OVERLOADED = FaultConfig(capacity=1, latency_ms=400)
RETRY = RetryPolicy(max_attempts=6, base_s=0.1, cap_s=1.0, max_elapsed_s=60.0)


class Limits(NullObserver):
    def __init__(self) -> None:
        self.limits: list[int] = []

    def on_in_flight_limit(self, dataset: str, limit: int) -> None:
        self.limits.append(limit)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=7, faults=OVERLOADED) as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[GraphClient]:
    tokens = {DS: Secret(DEFAULT_TOKEN)}
    async with GraphClient(
        sandbox.url, "v25.0", tokens=tokens, timeout_s=1.0, max_connections=32
    ) as c:
        yield c


def burst(tag: str, batches: int = BATCHES, per_batch: int = PER_BATCH) -> list[list[Any]]:
    now = int(time.time()) - 60
    return [
        [event(event_id=f"{tag}-{b}-{i}", event_time=now) for i in range(per_batch)]
        for b in range(batches)
    ]


async def deliver_all(d: Deliverer, batches: list[list[Any]]) -> list[DeliveryResult]:
    async with asyncio.timeout(240):
        return await asyncio.gather(*(d.deliver(DS, b) for b in batches))


def accepted_ids(sandbox: SandboxServer) -> set[str]:
    page = sandbox.state.receipts.list_events(dataset=DS, limit=100_000)
    events: list[dict[str, Any]] = page["events"]  # type: ignore[assignment]
    return {str(e["event_id"]) for e in events}


async def test_a_burst_at_fixed_concurrency_exhausts_its_retries(
    sandbox: SandboxServer, client: GraphClient
) -> None:
    cfg = DeliveryConfig(retry=RETRY, max_in_flight=CEILING, adaptive_in_flight=False)
    results = await deliver_all(Deliverer(client, cfg), burst("fixed"))
    exhausted = [f for r in results for f in r.failures if f.reason == RETRIES_EXHAUSTED]
    requests = sum(r.requests for r in results)
    print(
        f"\nfixed {CEILING} in flight: {len(exhausted)} events retries_exhausted, "
        f"{requests} requests"
    )
    assert len(exhausted) >= BATCHES * PER_BATCH // 2, "the overload did not bite"
    assert {f.detail for f in exhausted} == {"timeout"}


async def test_the_adaptive_limit_delivers_the_burst_and_recovers(
    sandbox: SandboxServer, client: GraphClient
) -> None:
    obs = Limits()
    cfg = DeliveryConfig(retry=RETRY, max_in_flight=CEILING)
    d = Deliverer(client, cfg, obs)
    batches = burst("adaptive")
    results = await deliver_all(d, batches)
    assert [f for r in results for f in r.failures] == []
    assert all(r.delivered_count == PER_BATCH for r in results)
    requests = sum(r.requests for r in results)
    print(f"\nadaptive: {requests} requests, limits {obs.limits}")
    assert obs.limits[0] == CEILING
    assert min(obs.limits) == 1, obs.limits
    assert sum(r.requests for r in results) > BATCHES  # there were timeouts to adapt to
    expected = {str(e["event_id"]) for b in batches for e in b}
    assert accepted_ids(sandbox) >= expected

    # The endpoint is fast again: a window of answers at a time, the limit climbs back.
    sandbox.state.faults.config = FaultConfig()
    after = len(obs.limits)
    while obs.limits[-1] < CEILING:
        assert len(obs.limits) - after <= 3 * CEILING, obs.limits
        more = await deliver_all(d, burst(f"after{len(obs.limits)}", CEILING, 1))
        assert all(r.delivered_count == 1 for r in more)
    raised = obs.limits[after - 1 :]
    assert raised == list(range(raised[0], CEILING + 1)), obs.limits
