"""Receipts: listing, paging, filters, statistics, Meta's 48-hour dedup, reset, JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from streams.dev.sandbox.receipts import DEDUP_WINDOW_S, ReceiptStore
from streams.dev.sandbox.server import SandboxServer
from tests.dev.sandbox.support import (
    DATASETS,
    DS1,
    DS2,
    NOW,
    TOKEN1,
    TOKEN2,
    Client,
    FakeClock,
    event,
)


async def listing(client: Client, **query: Any) -> dict[str, Any]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    reply = await client.admin("GET", f"events?{qs}")
    assert reply.status == 200, reply.doc
    doc: dict[str, Any] = reply.doc
    return doc


async def stats(client: Client) -> dict[str, Any]:
    doc: dict[str, Any] = (await client.admin("GET", "stats")).doc
    return doc


async def test_receipt_fields(client: Client, clock: FakeClock) -> None:
    clock.now = NOW + 5.25
    sent = event(event_id="order-9", event_name="Purchase")
    assert (await client.post_events([sent], test_event_code="TEST42")).status == 200
    page = await listing(client)
    assert page["total"] == 1
    assert page["events"] == [
        {
            "seq": 1,
            "dataset": DS1,
            "event_id": "order-9",
            "event_name": "Purchase",
            "test_event_code": "TEST42",
            "received_at": NOW + 5.25,
            "payload": sent,
        }
    ]


async def test_paging_across_requests(client: Client) -> None:
    for r in range(3):
        batch = [event(event_id=f"r{r}-{j}") for j in range(4)]
        assert (await client.post_events(batch)).status == 200
    page = await listing(client, offset=5, limit=4)
    assert page["total"] == 12
    assert [e["seq"] for e in page["events"]] == [6, 7, 8, 9]
    assert [e["event_id"] for e in page["events"]] == ["r1-1", "r1-2", "r1-3", "r2-0"]
    assert (await listing(client, offset=12))["events"] == []
    assert len((await listing(client))["events"]) == 12


async def test_filter_by_dataset_and_event_id(client: Client) -> None:
    await client.post_events([event(event_id="a"), event(event_id="b")])
    await client.post_events([event(event_id="c")], dataset=DS2, token=TOKEN2)
    await client.post_events([event(event_id="a", event_name="Lead")])
    only_ds2 = await listing(client, dataset=DS2)
    assert only_ds2["total"] == 1
    assert only_ds2["events"][0]["event_id"] == "c"
    assert only_ds2["events"][0]["seq"] == 3  # sequence numbers are global
    by_id = await listing(client, event_id="a")
    assert by_id["total"] == 2
    assert [e["event_name"] for e in by_id["events"]] == ["Purchase", "Lead"]
    assert (await listing(client, event_id="a", offset=1))["events"][0]["event_name"] == "Lead"
    assert (await listing(client, dataset="42"))["total"] == 0


@pytest.mark.parametrize("query", ["limit=0", "limit=10001", "offset=-1", "offset=x"])
async def test_bad_paging_is_refused(client: Client, query: str) -> None:
    assert (await client.admin("GET", f"events?{query}")).status == 400


async def test_stats_per_dataset_and_totals(client: Client) -> None:
    await client.post_events([event(event_id=f"e{i}") for i in range(3)])
    await client.post_events([event(event_id="x")], dataset=DS2, token=TOKEN2)
    await client.post_events([event(event_time=1)], dataset=DS2, token=TOKEN2)
    doc = await stats(client)
    assert doc["datasets"][DS1] == {
        "requests": 1,
        "accepted_requests": 1,
        "events_accepted": 3,
        "duplicates": 0,
        "rejected_requests": {},
        "faults": {},
    }
    assert doc["datasets"][DS2]["rejected_requests"] == {"100/2804003": 1}
    assert doc["totals"]["requests"] == 3
    assert doc["totals"]["events_accepted"] == 4
    assert doc["stored_events"] == 4


async def test_duplicates_within_48_hours(client: Client, clock: FakeClock) -> None:
    await client.post_events([event(event_id="o1"), event(event_id="o1")])  # same request
    await client.post_events([event(event_id="o1", event_name="Lead")])  # other name
    await client.post_events([event(event_id="o1")], dataset=DS2, token=TOKEN2)  # other dataset
    await client.post_events([event(event_id=None), event(event_id=None)])  # no event_id
    clock.now = NOW + DEDUP_WINDOW_S - 100  # still inside the window of the first o1
    await client.post_events([event(event_id="o1", event_time=int(clock.now) - 60)])
    doc = await stats(client)
    assert doc["datasets"][DS1]["duplicates"] == 2
    assert doc["datasets"][DS2]["duplicates"] == 0
    assert doc["datasets"][DS1]["events_accepted"] == 6  # duplicates are still accepted
    clock.now = NOW + DEDUP_WINDOW_S + 1  # the window counts from the first o1
    await client.post_events([event(event_id="o1", event_time=int(clock.now) - 60)])
    assert (await stats(client))["datasets"][DS1]["duplicates"] == 2


async def test_integer_and_string_event_ids_are_the_same_key(client: Client) -> None:
    await client.post_events([event(event_id=7)])
    await client.post_events([event(event_id="7")])
    assert (await stats(client))["datasets"][DS1]["duplicates"] == 1


async def test_reset_clears_receipts_stats_and_dedup(client: Client) -> None:
    await client.post_events([event(event_id="o1")])
    assert (await client.admin("POST", "reset")).doc == {"reset": True}
    assert (await listing(client))["total"] == 0
    assert (await stats(client))["datasets"] == {}
    await client.post_events([event(event_id="o1")])
    doc = await stats(client)
    assert doc["datasets"][DS1]["duplicates"] == 0
    assert (await listing(client))["events"][0]["seq"] == 1


async def test_jsonl_file_gets_every_accepted_event(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "receipts.jsonl"
    async with (
        SandboxServer(datasets=DATASETS, clock=clock, jsonl_path=path) as server,
        aiohttp.ClientSession() as http,
    ):
        client = Client(http, server.url)
        await client.post_events([event(event_id="a"), event(event_id="b")], test_event_code="T1")
        await client.post_events([event(event_time=1)])  # rejected: not written
        form = {"data": orjson.dumps([event(event_id="c")]).decode(), "access_token": TOKEN1}
        await client.request("POST", client.events_url(), data=form)
        await client.admin("POST", "reset")
        await client.post_events([event(event_id="d")])
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert [(r["seq"], r["event_id"]) for r in lines] == [
            (1, "a"),
            (2, "b"),
            (3, "c"),
            (1, "d"),
        ]
        assert lines[0]["test_event_code"] == "T1"
        assert lines[0]["dataset"] == DS1
        assert lines[0]["received_at"] == NOW
        assert lines[2]["payload"] == event(event_id="c")
        assert (await listing(client))["events"][0] == lines[3]


async def test_oldest_batches_are_evicted_past_max_events(clock: FakeClock) -> None:
    async with (
        SandboxServer(datasets=DATASETS, clock=clock, max_events=5) as server,
        aiohttp.ClientSession() as http,
    ):
        client = Client(http, server.url)
        for r in range(3):
            await client.post_events([event(event_id=f"r{r}-{j}") for j in range(2)])
        page = await listing(client)
        assert [e["seq"] for e in page["events"]] == [3, 4, 5, 6]
        doc = await stats(client)
        assert (doc["stored_events"], doc["evicted_events"]) == (4, 2)
        assert doc["totals"]["events_accepted"] == 6


def test_store_that_keeps_no_events_still_counts() -> None:
    store = ReceiptStore(lambda: NOW, max_events=0)
    store.record(DS1, None, [event(event_id="a"), event(event_id="a")])
    assert store.list_events()["total"] == 0
    doc = store.stats()
    assert doc["totals"] == {
        "requests": 0,
        "accepted_requests": 1,
        "events_accepted": 2,
        "duplicates": 1,
        "rejected_requests": {},
        "faults": {},
    }
    assert (doc["stored_events"], doc["evicted_events"]) == (0, 2)


def test_dedup_memory_is_bounded() -> None:
    store = ReceiptStore(lambda: NOW, max_dedup_keys=8)
    store.record(DS1, None, [event(event_id=f"e{i}") for i in range(9)])  # forgets e0, e1
    store.record(DS1, None, [event(event_id="e0"), event(event_id="e8")])
    assert store.stats()["datasets"][DS1]["duplicates"] == 1  # only e8 is still known


def test_receipts_decode_from_the_stored_request_bytes() -> None:
    store = ReceiptStore(lambda: NOW)
    events = [event(event_id="raw")]
    raw = orjson.dumps({"access_token": "t", "data": orjson.dumps(events).decode()})
    store.record(DS1, None, events, raw)
    [item] = store.list_events()["events"]
    assert item["payload"] == events[0]
    assert "access_token" not in orjson.dumps(item).decode()
