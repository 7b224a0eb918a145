"""The sandbox's Dataset Quality endpoint and the counters behind it."""

from __future__ import annotations

from typing import Any

import pytest

from streams.dev.sandbox import quality as sq
from streams.dev.sandbox.quality import QualityCounters, composite_score, upload_frequency
from tests.dev.sandbox.support import (
    DS1,
    DS2,
    DS3,
    NOW,
    TOKEN1,
    TOKEN2,
    Client,
    FakeClock,
    event,
    user_data,
)


async def dataset_quality(client: Client, **query: str) -> Any:
    headers = {"Authorization": f"Bearer {query.pop('token')}"} if "token" in query else {}
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return await client.request("GET", f"{client.base}/v25.0/dataset_quality?{qs}", headers=headers)


def feedback(entry: dict[str, Any]) -> dict[str, float]:
    return {
        f["identifier"]: f["coverage"]["percentage"]
        for f in entry["event_match_quality"]["match_key_feedback"]
    }


async def test_answer_from_accepted_events(client: Client, clock: FakeClock) -> None:
    lean = user_data(ph=None, fbc=None, fbp=None, client_ip_address=None)
    sent = [
        event(event_id="a"),
        event(event_id="b", user_data=user_data(ph=None, em=[])),  # an empty list is not sent
        event(event_id="c", event_name="Lead", user_data=lean, custom_data=None),
    ]
    assert (await client.post_events(sent)).status == 200
    assert (
        await client.post_events([event(event_id="x")], dataset=DS2, token=TOKEN2)
    ).status == 200
    # rejected requests count for nothing
    bad = await client.post_events([event(event_id="d", event_time=NOW - 8 * 86_400)])
    assert bad.status == 400
    reply = await dataset_quality(client, dataset_id=DS1, token=TOKEN1)
    assert reply.status == 200
    web = reply.doc["web"]
    assert [e["event_name"] for e in web] == ["Lead", "Purchase"]
    lead, purchase = web
    assert feedback(purchase) == {
        "email": 50.0,
        "phone": 50.0,
        "ip_address": 100.0,
        "user_agent": 100.0,
        "fbc": 100.0,
        "fbp": 100.0,
    }
    # 3 x 0.5 + 2 x 0.5 + 0.75 + 0.5 + 1.5 + 1
    assert purchase["event_match_quality"]["composite_score"] == 6.3  # 6.25, half up
    assert feedback(lead) == {"email": 100.0, "user_agent": 100.0}
    assert lead["event_match_quality"]["composite_score"] == 3.5
    assert "data_freshness" not in purchase  # not asked for


async def test_fields_select_the_parts(client: Client, clock: FakeClock) -> None:
    old = event(event_id="old", event_time=NOW - 2 * 3600)
    assert (await client.post_events([event(event_id="new"), old])).status == 200
    only_freshness = await dataset_quality(
        client,
        dataset_id=DS1,
        fields="web{event_name,data_freshness{upload_frequency}}",
        access_token=TOKEN1,
    )
    assert only_freshness.status == 200
    # mean delay (60 s + 7200 s) / 2 = 3630 s: "hourly"
    assert only_freshness.doc == {
        "web": [{"event_name": "Purchase", "data_freshness": {"upload_frequency": "hourly"}}]
    }
    both = await dataset_quality(
        client,
        dataset_id=DS1,
        fields="web{event_name,event_match_quality,data_freshness}",
        access_token=TOKEN1,
    )
    assert set(both.doc["web"][0]) == {"event_name", "event_match_quality", "data_freshness"}
    names_only = await dataset_quality(
        client, dataset_id=DS1, fields="web{event_name}", token=TOKEN1
    )
    assert names_only.doc == {"web": [{"event_name": "Purchase"}]}


@pytest.mark.parametrize(
    ("query", "status", "code", "subcode"),
    [
        ({}, 400, 190, None),
        ({"token": TOKEN1}, 400, 100, None),
        ({"token": TOKEN1, "dataset_id": "abc"}, 400, 100, None),
        ({"token": "unknown", "dataset_id": DS1}, 400, 190, None),
        ({"token": TOKEN2, "dataset_id": DS1}, 400, 100, 33),
        ({"token": TOKEN1, "dataset_id": "1999999999999999"}, 400, 100, 33),
        ({"token": TOKEN1, "dataset_id": DS3}, 400, 100, 33),
    ],
)
async def test_errors_like_events(
    client: Client, query: dict[str, str], status: int, code: int, subcode: int | None
) -> None:
    if not query:
        query = {"dataset_id": DS1}
    reply = await dataset_quality(client, **query)
    assert reply.status == status
    assert reply.error["code"] == code
    assert reply.error.get("error_subcode") == subcode


async def test_token_invalid_switch_and_version(client: Client) -> None:
    switched = await client.admin("POST", f"datasets/{DS1}/token-invalid", {"invalid": True})
    assert switched.status == 200
    reply = await dataset_quality(client, dataset_id=DS1, token=TOKEN1)
    assert (reply.error["code"], reply.error["error_subcode"]) == (190, 460)
    bad = await client.request("GET", f"{client.base}/25/dataset_quality?dataset_id={DS1}")
    assert bad.error["code"] == 2500


async def test_dataset_route_still_answers(client: Client) -> None:
    reply = await client.request("GET", f"{client.base}/v25.0/{DS1}?access_token={TOKEN1}")
    assert reply.doc == {"id": DS1}


async def test_reset_forgets(client: Client) -> None:
    assert (await client.post_events([event()])).status == 200
    assert (await dataset_quality(client, dataset_id=DS1, token=TOKEN1)).doc["web"]
    assert (await client.admin("POST", "reset")).status == 200
    assert (await dataset_quality(client, dataset_id=DS1, token=TOKEN1)).doc == {"web": []}


# ---- the counters alone ------------------------------------------------------------------


def ud(*keys: str) -> dict[str, object]:
    return {k: "x" for k in keys}


def ev(name: str, *keys: str, age: int = 0) -> dict[str, object]:
    return {"event_name": name, "event_time": NOW - age, "user_data": ud(*keys)}


def test_mixed_requests_count_per_name() -> None:
    q = QualityCounters()
    q.add(
        DS1, [ev("A", "em", age=10), ev("B", "ph", age=100_000), ev("A", "em", "ph", age=30)], NOW
    )
    q.add(DS1, [ev("A", "ph", "em", age=20)], NOW)  # same key set in another order
    web = q.answer(DS1, freshness=True)["web"]
    assert isinstance(web, list)
    a, b = web
    assert feedback(a) == {"email": 100.0, "phone": pytest.approx(200 / 3, abs=0.005)}
    assert a["data_freshness"] == {"upload_frequency": "real_time"}  # mean 20 s
    assert feedback(b) == {"phone": 100.0}
    assert b["data_freshness"] == {"upload_frequency": "daily"}
    assert q.answer(DS2) == {"web": []}


def test_unknown_keys_are_not_reported() -> None:
    q = QualityCounters()
    q.add(DS1, [ev("A", "em", "lead_id", "madid")], NOW)
    web = q.answer(DS1)["web"]
    assert isinstance(web, list)
    [entry] = web
    assert feedback(entry) == {"email": 100.0}


def test_key_sets_fold_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sq, "MAX_KEY_SETS", 3)
    keys = ["em", "ph", "fn", "ln", "ct"]
    folded, plain = QualityCounters(), QualityCounters()
    requests = [[ev("A", *keys[: i % 5 + 1])] for i in range(12)]
    for request in requests:
        folded.add(DS1, request, NOW)
    monkeypatch.setattr(sq, "MAX_KEY_SETS", 1000)
    for request in requests:
        plain.add(DS1, request, NOW)
    assert folded.answer(DS1) == plain.answer(DS1)
    assert len(folded._datasets[DS1]["A"].key_sets) <= 3


def test_event_names_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sq, "MAX_EVENT_NAMES", 2)
    q = QualityCounters()
    q.add(DS1, [ev("A", "em"), ev("B", "em"), ev("C", "em")], NOW)
    q.add(DS1, [ev("D", "em")], NOW)
    q.add(DS1, [ev("A", "ph")], NOW)
    web = q.answer(DS1)["web"]
    assert isinstance(web, list)
    assert [e["event_name"] for e in web] == ["A", "B"]
    assert feedback(web[0]) == {"email": 50.0, "phone": 50.0}


@pytest.mark.parametrize(
    ("coverage", "score"),
    [
        ({}, 0.0),
        ({"em": 1.0}, 3.0),
        ({"em": 1.0, "client_user_agent": 1.0}, 3.5),
        ({"em": 0.5, "ph": 0.25}, 2.0),
        ({"client_ip_address": 0.75, "client_user_agent": 1.0}, 1.1),  # 1.0625
        ({"em": 1.0, "ph": 1.0, "client_user_agent": 1.0, "fbc": 1.0, "fbp": 1.0, "ct": 1.0}, 8.1),
        ({"em": 0.5, "client_ip_address": 1.0}, 2.3),  # 2.25, half up
        ({k: 1.0 for k in sq.WEIGHTS}, 10.0),  # capped
        ({"lead_id": 1.0}, 0.0),
    ],
)
def test_composite_score(coverage: dict[str, float], score: float) -> None:
    assert composite_score(coverage) == score


@pytest.mark.parametrize(
    ("delay", "word"),
    [(0, "real_time"), (899, "real_time"), (900, "hourly"), (86_399, "hourly"), (86_400, "daily")],
)
def test_upload_frequency(delay: float, word: str) -> None:
    assert upload_frequency(delay) == word


def test_identifiers_are_distinct() -> None:
    assert len(set(sq.IDENTIFIERS.values())) == len(sq.IDENTIFIERS)
    assert set(sq.WEIGHTS) == set(sq.IDENTIFIERS)
