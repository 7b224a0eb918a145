"""Receive times: per accepted request, when it arrived and was answered, with its event ids."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from streams.dev.sandbox.cli import main
from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.receive_times import ReceiveTimes
from streams.dev.sandbox.server import SandboxServer
from tests.dev.sandbox.support import DATASETS, DS1, DS2, NOW, TOKEN2, Client, FakeClock, event


async def times(client: Client, query: str = "") -> dict[str, Any]:
    reply = await client.admin("GET", f"receive-times{query}")
    assert reply.status == 200, reply.doc
    doc: dict[str, Any] = reply.doc
    return doc


async def test_each_accepted_request_with_its_times_and_event_ids(
    client: Client, clock: FakeClock
) -> None:
    clock.now = NOW + 1.5
    await client.post_events([event(event_id="a"), event(event_id=7), event(event_id=None)])
    await client.post_events([event(event_time=1)], dataset=DS2, token=TOKEN2)  # rejected
    clock.now = NOW + 2.25
    await client.post_events([event(event_id="c")], dataset=DS2, token=TOKEN2)
    doc = await times(client)
    assert doc == {
        "requests": [
            {
                "seq": 1,
                "dataset": DS1,
                "arrived_at": NOW + 1.5,
                "answered_at": NOW + 1.5,
                "event_ids": ["a", "7", None],
            },
            {
                "seq": 2,
                "dataset": DS2,
                "arrived_at": NOW + 2.25,
                "answered_at": NOW + 2.25,
                "event_ids": ["c"],
            },
        ],
        "next_after": 2,
        "first_kept": 1,
    }


async def test_the_answer_time_includes_the_sandbox_latency() -> None:
    faults = FaultConfig(latency_ms=150)
    async with (
        SandboxServer(datasets=DATASETS, faults=faults) as server,
        aiohttp.ClientSession() as http,
    ):
        client = Client(http, server.url)
        before = time.time()
        assert (await client.post_events([event(event_time=int(before) - 60)])).status == 200
        after = time.time()
        (req,) = (await times(client))["requests"]
    assert before <= req["arrived_at"] < req["arrived_at"] + 0.15 <= req["answered_at"] <= after


async def test_paging_after_a_sequence_number_and_reset(client: Client) -> None:
    for r in range(5):
        await client.post_events([event(event_id=f"r{r}")])
    first = await times(client, "?limit=2")
    assert [r["event_ids"] for r in first["requests"]] == [["r0"], ["r1"]]
    rest = await times(client, f"?after={first['next_after']}&limit=10")
    assert [r["seq"] for r in rest["requests"]] == [3, 4, 5]
    assert (await times(client, f"?after={rest['next_after']}"))["requests"] == []
    await client.admin("POST", "reset")
    await client.post_events([event(event_id="again")])
    assert [r["seq"] for r in (await times(client))["requests"]] == [1]


@pytest.mark.parametrize("query", ["?limit=0", "?limit=1001", "?after=-1", "?after=x"])
async def test_bad_paging_is_refused(client: Client, query: str) -> None:
    assert (await client.admin("GET", f"receive-times{query}")).status == 400


async def test_served_only_with_admin() -> None:
    async with SandboxServer(admin=False) as server, aiohttp.ClientSession() as http:
        assert (await Client(http, server.url).admin("GET", "receive-times")).status == 404


def test_the_oldest_requests_are_dropped_past_max_events() -> None:
    kept = ReceiveTimes(max_events=3)
    for i in range(4):
        kept.add(DS1, float(i), float(i), (f"e{i}a", f"e{i}b"))
    doc = kept.page()
    assert [r["seq"] for r in doc["requests"]] == [4]  # 2 + 2 ids would pass 3
    assert doc["first_kept"] == 4  # requests 1..3 were dropped
    none = ReceiveTimes(max_events=0)
    none.add(DS1, 0.0, 0.0, ("x",))
    assert none.page() == {"requests": [], "next_after": 0, "first_kept": 2}


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_events"):
        ReceiveTimes(max_events=-1)
    assert main(["--max-receive-times", "-1"]) == 2


@pytest.fixture
async def bounded() -> AsyncIterator[Client]:
    async with (
        SandboxServer(datasets=DATASETS, max_receive_times=2) as server,
        aiohttp.ClientSession() as http,
    ):
        yield Client(http, server.url)


async def test_the_server_bound_applies(bounded: Client) -> None:
    now = int(time.time())
    for r in range(3):
        await bounded.post_events([event(event_id=f"r{r}", event_time=now - 60)])
    doc = await times(bounded)
    assert [r["event_ids"] for r in doc["requests"]] == [["r1"], ["r2"]]
    assert doc["first_kept"] == 2
