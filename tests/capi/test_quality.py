"""DatasetQualityClient: end to end against the sandbox, and failure cases against a fake Graph."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import aiohttp
import orjson
import pytest
from aiohttp import web

from streams.capi.quality import DEFAULT_FIELDS, DatasetQualityClient
from streams.dev.sandbox.server import SandboxServer
from streams.domain.quality import DatasetQuality
from streams.settings import Secret
from tests.capi.fake_server import serve
from tests.dev.sandbox.support import (
    DATASETS,
    DS1,
    DS2,
    TOKEN1,
    TOKEN2,
    FakeClock,
    event,
    user_data,
)

VERSION = "v25.0"


async def post_known_events(http: aiohttp.ClientSession, base: str) -> None:
    """Events with known keys for DS1 (expected answer: see test_fetch_from_the_sandbox).

    Purchase x4: em ph ua fbc fbp everywhere, client_ip_address in 3 of 4;
    Lead x2: em and ua only; custom "pLTVPurchase" x1: all six keys; custom "B2B Lead" x1: em, ua.
    """
    lean = user_data(ph=None, client_ip_address=None, fbc=None, fbp=None)
    batches = [
        [event(event_id=f"p{i}") for i in range(3)]
        + [event(event_id="p3", user_data=user_data(client_ip_address=None))],
        [
            event(event_name="Lead", event_id=f"l{i}", user_data=lean, custom_data=None)
            for i in (0, 1)
        ],
        [
            event(event_name="pLTVPurchase", event_id="c0"),
            event(event_name="B2B Lead", event_id="c1", user_data=lean, custom_data=None),
        ],
    ]
    for data in batches:
        body = orjson.dumps({"data": data, "access_token": TOKEN1})
        url = f"{base}/{VERSION}/{DS1}/events"
        async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200, await r.text()


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(datasets=DATASETS, clock=FakeClock(), seed=1) as server:
        yield server


TOKENS: dict[str, Secret] = {}


async def fetch(client: DatasetQualityClient, dataset: str, token: str) -> DatasetQuality | None:
    """`client.fetch(dataset)` with `token` as the dataset's token (the client reads its
    token mapping at each request)."""
    TOKENS[dataset] = Secret(token)
    return await client.fetch(dataset)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_fetch_from_the_sandbox(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    await post_known_events(http, sandbox.url)
    client = DatasetQualityClient(sandbox.url, VERSION, tokens=TOKENS, session=http)
    quality = await fetch(client, DS1, TOKEN1)
    assert quality is not None
    by_name = {e.event_name: e for e in quality.events}
    assert list(by_name) == ["B2B Lead", "Lead", "Purchase", "pLTVPurchase"]
    purchase = by_name["Purchase"]
    assert dict(purchase.coverage) == {
        "email": 1.0,
        "phone": 1.0,
        "ip_address": 0.75,
        "user_agent": 1.0,
        "fbc": 1.0,
        "fbp": 1.0,
    }
    # sandbox weights: 3 (em) + 2 (ph) + 0.75 x 0.75 (ip) + 0.5 (ua) + 1.5 (fbc) + 1 (fbp)
    assert purchase.composite_score == 8.6
    assert purchase.upload_frequency == "real_time"  # events 60 s old
    lead = by_name["Lead"]
    assert dict(lead.coverage) == {"email": 1.0, "user_agent": 1.0}
    assert lead.composite_score == 3.5
    assert await fetch(client, DS2, TOKEN2) == DatasetQuality(())


async def test_wrong_token_is_none_and_never_logged(
    sandbox: SandboxServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = DatasetQualityClient(sandbox.url, VERSION, tokens=TOKENS, session=http)
    assert await fetch(client, DS1, TOKEN2) is None  # a known token, not DS1's: 100/33
    assert await fetch(client, DS1, "no-such-token") is None  # 190
    sandbox.state.faults.set_token_invalid(DS1, True)
    assert await fetch(client, DS1, TOKEN1) is None  # 190/460
    lines = [r.getMessage() for r in caplog.records if r.name == "streams.capi.quality"]
    assert len(lines) == 3
    assert all("reason=graph_error status=400" in line for line in lines)
    assert "code=100 subcode=33" in lines[0]
    assert "code=190 subcode=None" in lines[1]
    assert "code=190 subcode=460" in lines[2]
    for secret in (TOKEN1, TOKEN2, "no-such-token"):
        assert secret not in caplog.text
    assert "Invalid OAuth" not in caplog.text  # Graph's message text is not logged


# ---- against a fake Graph --------------------------------------------------------------------


class FakeGraph:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.reply: web.StreamResponse | None = None
        self.delay_s = 0.0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, request.query_string, dict(request.headers)))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.reply is not None:
            return self.reply
        return web.json_response({"web": []})


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    async with serve(fake.handle) as url:
        fake.url = url
        yield fake


async def test_request_shape_token_only_in_the_header(graph: FakeGraph) -> None:
    async with DatasetQualityClient(
        graph.url + "/", "v26.0", tokens=TOKENS, agent_name="capistreams"
    ) as client:
        assert await fetch(client, "1234567890", "EAAB-secret") == DatasetQuality(())
    [(path, query, headers)] = graph.requests
    assert path == "/v26.0/dataset_quality"
    assert parse_qs(query) == {
        "dataset_id": ["1234567890"],
        "fields": [DEFAULT_FIELDS],
        "agent_name": ["capistreams"],
    }
    assert "EAAB-secret" not in query and "access_token" not in query
    assert headers["Authorization"] == "Bearer EAAB-secret"
    assert headers["User-Agent"].startswith("capi-streams/")
    assert "EAAB-secret" not in repr(client)


async def test_no_agent_name_by_default(graph: FakeGraph) -> None:
    async with DatasetQualityClient(graph.url, VERSION, tokens=TOKENS) as client:
        await fetch(client, "1", "t")
    assert "agent_name" not in parse_qs(graph.requests[0][1])


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (web.Response(status=200, body=b"<html>", content_type="text/html"), "not_json"),
        (web.json_response({"web": "x"}), "bad_answer"),
        (web.json_response({"error": {"code": 1, "fbtrace_id": "T1"}}), "graph_error"),
        (web.Response(status=503, body=b"[]", content_type="application/json"), "http_error"),
        (
            web.json_response(
                {"error": {"code": 4, "error_subcode": 0, "message": "x", "fbtrace_id": "A b"}},
                status=400,
            ),
            "graph_error",
        ),
    ],
)
async def test_failures_are_none_with_a_reason(
    graph: FakeGraph, caplog: pytest.LogCaptureFixture, reply: web.Response, reason: str
) -> None:
    caplog.set_level(logging.WARNING, logger="streams.capi.quality")
    graph.reply = reply
    async with DatasetQualityClient(graph.url, VERSION, tokens=TOKENS) as client:
        assert await fetch(client, "1", "tok") is None
    [line] = [r.getMessage() for r in caplog.records]
    assert f"dataset=1 reason={reason} " in line
    if "code=4" in line:
        assert "fbtrace_id=None" in line  # not id-like: left out


async def test_timeout(graph: FakeGraph, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="streams.capi.quality")
    graph.delay_s = 1.0
    async with DatasetQualityClient(graph.url, VERSION, tokens=TOKENS, timeout_s=0.1) as client:
        assert await fetch(client, "1", "tok") is None
    assert "reason=timeout" in caplog.text


async def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="streams.capi.quality")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with DatasetQualityClient(f"http://127.0.0.1:{port}", VERSION, tokens=TOKENS) as client:
        assert await fetch(client, "1", "tok") is None
    assert "reason=connect" in caplog.text


async def test_session_lifecycle(graph: FakeGraph, http: aiohttp.ClientSession) -> None:
    owned = DatasetQualityClient(graph.url, VERSION, tokens=TOKENS)
    with pytest.raises(RuntimeError):
        await fetch(owned, "1", "t")
    await owned.start()
    await owned.start()
    assert await fetch(owned, "1", "t") is not None
    await owned.close()
    await owned.close()
    with pytest.raises(RuntimeError):
        await fetch(owned, "1", "t")
    given = DatasetQualityClient(graph.url, VERSION, tokens=TOKENS, session=http)
    async with given:
        assert await fetch(given, "1", "t") is not None
    assert not http.closed  # a given session is not ours to close
    assert await fetch(given, "1", "t") is not None


@pytest.mark.parametrize(
    ("base_url", "version", "timeout_s"),
    [
        ("ftp://graph.example", "v25.0", 1.0),
        ("https://graph.example?x=1", "v25.0", 1.0),
        ("graph.example", "v25.0", 1.0),
        ("https://graph.example", "25.0", 1.0),
        ("https://graph.example", "v25.0", 0),
    ],
)
def test_rejects_bad_settings(base_url: str, version: str, timeout_s: float) -> None:
    with pytest.raises(ValueError):
        DatasetQualityClient(base_url, version, timeout_s=timeout_s)


FULLWIDTH_DIGITS = "\uff11\uff12"


@pytest.mark.parametrize("dataset_id", ["", "abc", "1/../me", "1" * 33, FULLWIDTH_DIGITS])
def test_rejects_bad_dataset_ids(dataset_id: str) -> None:
    with pytest.raises(ValueError):
        DatasetQualityClient("https://graph.example", VERSION, tokens=TOKENS).url_for(dataset_id)
