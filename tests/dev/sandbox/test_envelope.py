"""Encodings, token locations, authentication and the connectivity check, through real HTTP."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp
import orjson
import pytest

from tests.dev.sandbox.support import (
    APP_SECRET,
    DS1,
    DS2,
    DS3,
    TOKEN1,
    TOKEN2,
    TOKEN3,
    Client,
    Reply,
    event,
)


async def stored(client: Client) -> list[dict[str, Any]]:
    page = await client.admin("GET", "events")
    events: list[dict[str, Any]] = page.doc["events"]
    return events


async def test_json_body_with_test_event_code(client: Client) -> None:
    reply = await client.post_events(
        [event(event_id="a"), event(event_id="b")],
        test_event_code="TEST123",
        partner_agent="capi-streams-0.1",
    )
    assert reply.status == 200
    assert reply.doc["events_received"] == 2
    assert reply.headers["Content-Type"].startswith("application/json")
    assert [(e["event_id"], e["test_event_code"]) for e in await stored(client)] == [
        ("a", "TEST123"),
        ("b", "TEST123"),
    ]


async def test_json_body_with_data_as_a_json_string(client: Client) -> None:
    body = {"data": orjson.dumps([event()]).decode(), "access_token": TOKEN1}
    reply = await client.request("POST", client.events_url(), json=body)
    assert reply.status == 200
    assert reply.doc["events_received"] == 1


async def test_multipart_form(client: Client) -> None:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("data", orjson.dumps([event(event_id="m1")]).decode())
    form.add_field("access_token", TOKEN1)
    form.add_field("test_event_code", "TEST9")
    payload = form()
    assert payload.content_type.startswith("multipart/form-data")
    reply = await client.request("POST", client.events_url(), data=payload)
    assert reply.status == 200
    assert reply.doc["events_received"] == 1
    [receipt] = await stored(client)
    assert receipt["event_id"] == "m1" and receipt["test_event_code"] == "TEST9"
    assert receipt["payload"] == event(event_id="m1")


async def test_multipart_form_with_data_as_a_file_part(client: Client) -> None:
    form = aiohttp.FormData()
    form.add_field(
        "data",
        orjson.dumps([event()]),
        filename="events.json",
        content_type="application/json",
    )
    form.add_field("access_token", TOKEN1)
    reply = await client.request("POST", client.events_url(), data=form)
    assert reply.status == 200


async def test_urlencoded_form(client: Client) -> None:
    form = {"data": orjson.dumps([event(), event(event_id="x")]).decode(), "access_token": TOKEN1}
    reply = await client.request("POST", client.events_url(), data=form)
    assert reply.status == 200
    assert reply.doc["events_received"] == 2


async def test_urlencoded_form_with_one_json_string_per_event(client: Client) -> None:
    """The Python SDK's synchronous path: data is an array of JSON strings."""
    per_event = [orjson.dumps(event(event_id=f"s{i}")).decode() for i in range(3)]
    form = {"data": orjson.dumps(per_event).decode(), "access_token": TOKEN1}
    reply = await client.request("POST", client.events_url(), data=form)
    assert reply.status == 200
    assert [e["event_id"] for e in await stored(client)] == ["s0", "s1", "s2"]
    assert (await stored(client))[0]["payload"] == event(event_id="s0")


async def test_form_values_are_validated_like_json(client: Client) -> None:
    form = {"data": orjson.dumps([event(event_time=1)]).decode(), "access_token": TOKEN1}
    reply = await client.request("POST", client.events_url(), data=form)
    assert reply.error["error_subcode"] == 2804003


async def test_token_in_query_string(client: Client) -> None:
    reply = await client.request(
        "POST",
        client.events_url(),
        params={"access_token": TOKEN1},
        data={"data": orjson.dumps([event()]).decode()},
    )
    assert reply.status == 200


@pytest.mark.parametrize("scheme", ["Bearer", "OAuth"])
async def test_token_in_authorization_header(client: Client, scheme: str) -> None:
    reply = await client.request(
        "POST",
        client.events_url(),
        json={"data": [event()]},
        headers={"Authorization": f"{scheme} {TOKEN1}"},
    )
    assert reply.status == 200


async def test_body_token_wins_over_header(client: Client) -> None:
    reply = await client.request(
        "POST",
        client.events_url(),
        json={"data": [event()], "access_token": TOKEN1},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert reply.status == 200


def assert_error(reply: Reply, status: int, code: int, subcode: int | None) -> None:
    assert reply.status == status, reply.doc
    assert reply.error["code"] == code
    assert reply.error.get("error_subcode") == subcode
    assert reply.error["fbtrace_id"]


async def test_missing_token_is_190(client: Client) -> None:
    reply = await client.post_events([event()], token=None)
    assert_error(reply, 400, 190, None)
    assert reply.error["type"] == "OAuthException"
    assert "invalid_token" in reply.headers["WWW-Authenticate"]


async def test_unknown_token_is_190(client: Client) -> None:
    reply = await client.post_events([event()], token="guess")
    assert_error(reply, 400, 190, None)
    assert "guess" not in str(reply.doc)


async def test_unknown_authorization_scheme_is_no_token(client: Client) -> None:
    reply = await client.request(
        "POST",
        client.events_url(),
        json={"data": [event()]},
        headers={"Authorization": f"Basic {TOKEN1}"},
    )
    assert_error(reply, 400, 190, None)


async def test_unknown_dataset_is_100_33(client: Client) -> None:
    reply = await client.post_events([event()], dataset="999")
    assert_error(reply, 400, 100, 33)
    assert reply.error["type"] == "GraphMethodException"


async def test_token_of_another_dataset_is_100_33(client: Client) -> None:
    reply = await client.post_events([event()], dataset=DS2, token=TOKEN1)
    assert_error(reply, 400, 100, 33)
    assert (await client.post_events([event()], dataset=DS2, token=TOKEN2)).status == 200


async def test_token_is_checked_before_the_payload(client: Client) -> None:
    reply = await client.post_events([event(event_time=1)], token="guess")
    assert_error(reply, 400, 190, None)


def proof(token: str) -> str:
    return hmac.new(APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


async def test_appsecret_proof_required_and_checked(client: Client) -> None:
    missing = await client.post_events([event()], dataset=DS3, token=TOKEN3)
    assert_error(missing, 400, 100, None)
    assert "appsecret_proof" in missing.error["message"]
    wrong = await client.post_events(
        [event()], dataset=DS3, token=TOKEN3, appsecret_proof=proof("other")
    )
    assert_error(wrong, 400, 100, None)
    right = await client.post_events(
        [event()], dataset=DS3, token=TOKEN3, appsecret_proof=proof(TOKEN3)
    )
    assert right.status == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b'{"data": [', "application/json", id="truncated-json"),
        pytest.param(b"[1, 2]", "application/json", id="json-array-body"),
        pytest.param(b"data=hello", "text/plain", id="text-body"),
    ],
)
async def test_unparseable_body_is_100(client: Client, body: bytes, content_type: str) -> None:
    reply = await client.request(
        "POST",
        client.events_url(),
        data=body,
        headers={"Content-Type": content_type},
        params={"access_token": TOKEN1},
    )
    assert_error(reply, 400, 100, None)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-data"),
        pytest.param({"data": "not json"}, id="data-not-json"),
        pytest.param({"data": {"event_name": "Purchase"}}, id="data-an-object"),
        pytest.param({"data": [], "test_event_code": 5}, id="test-event-code-number"),
        pytest.param({"data": ['{"event_name": ']}, id="event-string-not-json"),
    ],
)
async def test_malformed_envelope_is_100(client: Client, body: dict[str, Any]) -> None:
    reply = await client.request("POST", client.events_url(), json={**body, "access_token": TOKEN1})
    assert_error(reply, 400, 100, None)


async def test_unknown_top_level_parameters_are_ignored(client: Client) -> None:
    reply = await client.post_events([event()], upload_tag="store-upload", format="json")
    assert reply.status == 200


async def test_malformed_version_is_rejected(client: Client) -> None:
    reply = await client.request(
        "POST", client.events_url(version="latest"), json={"data": [event()]}
    )
    assert_error(reply, 400, 2500, None)


async def test_rejections_are_counted_by_code(client: Client) -> None:
    await client.post_events([event()], token=None)
    await client.post_events([event()], dataset="999")
    await client.post_events([event(event_time=1)])
    stats = (await client.admin("GET", "stats")).doc
    assert stats["datasets"][DS1]["rejected_requests"] == {"100/2804003": 1, "190": 1}
    assert stats["datasets"]["999"]["rejected_requests"] == {"100/33": 1}
    assert stats["datasets"][DS1]["requests"] == 2


async def test_connectivity_check(client: Client) -> None:
    url = f"{client.base}/v25.0/{DS1}"
    ok = await client.request(
        "GET", url, params={"fields": "id,is_consolidated_container", "access_token": TOKEN1}
    )
    assert ok.status == 200
    assert ok.doc == {"id": DS1, "is_consolidated_container": True}
    plain = await client.request("GET", url, headers={"Authorization": f"Bearer {TOKEN1}"})
    assert plain.doc == {"id": DS1}
    assert_error(await client.request("GET", url), 400, 190, None)
    unknown = await client.request(
        "GET", f"{client.base}/v25.0/42", params={"access_token": TOKEN1}
    )
    assert_error(unknown, 400, 100, 33)
