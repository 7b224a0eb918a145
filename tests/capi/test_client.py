"""GraphClient against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import orjson
import pytest
from aiohttp import web

from streams.capi.client import GraphClient, GraphReply
from streams.settings import Secret
from tests.capi.fake_server import serve

TOKEN = "EAAB-secret-token-value"
TOKENS = {ds: Secret(TOKEN) for ds in ("1234567890", "42", "1", "7")}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def ok(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    return web.json_response(
        {"events_received": len(body["data"]), "messages": [], "fbtrace_id": "TRACE1"}
    )


def reset_connection(request: web.Request) -> None:
    """Close the client's connection with a TCP RST."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    assert sock is not None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert request.transport is not None
    request.transport.abort()


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeGraph:
    handler: Handler = ok
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.query_string,
                dict(request.headers),
                await request.read(),
            )
        )
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self.handler(request)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    async with serve(fake.handle) as url:
        fake.url = url
        yield fake


@pytest.fixture
async def client(graph: FakeGraph) -> AsyncIterator[GraphClient]:
    """A client whose timeout never decides a test: the fake server runs on the test's own event
    loop, so a stall of the process on a loaded machine counts against the client's total
    timeout (a 0.3 s one turned a 502 into a timeout). The timeout test has its own client."""
    async with GraphClient(
        graph.url, "v25.0", tokens=TOKENS, timeout_s=30.0, max_connections=4
    ) as c:
        yield c


EVENTS = [{"event_name": "Purchase", "event_id": "e1", "event_time": 1_760_000_000}]


async def test_posts_json_to_the_events_edge_with_bearer_token(
    graph: FakeGraph, client: GraphClient
) -> None:
    reply = await client.post_events("1234567890", EVENTS, "TEST123")
    assert reply.status == 200
    assert orjson.loads(reply.body)["events_received"] == 1
    assert reply.error_kind is None
    assert reply.latency_s > 0
    [seen] = graph.seen
    assert (seen.method, seen.path) == ("POST", "/v25.0/1234567890/events")
    assert seen.query == ""
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"].startswith("capi-streams/")
    assert orjson.loads(seen.body) == {"data": EVENTS, "test_event_code": "TEST123"}
    assert TOKEN.encode() not in seen.body


async def test_no_test_event_code_and_partner_agent(graph: FakeGraph) -> None:
    async with GraphClient(
        graph.url + "/", "v26.0", tokens=TOKENS, partner_agent="capi-streams"
    ) as c:
        events = (MappingProxyType({"event_name": "Lead", "custom_data": {"v": (1, 2)}}),)
        await c.post_events("42", events, None)
    [seen] = graph.seen
    assert seen.path == "/v26.0/42/events"
    assert orjson.loads(seen.body) == {
        "data": [{"event_name": "Lead", "custom_data": {"v": [1, 2]}}],
        "partner_agent": "capi-streams",
    }


async def test_error_replies_are_returned_not_raised(graph: FakeGraph, client: GraphClient) -> None:
    async def throttled(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"error": {"code": 80004, "type": "OAuthException", "fbtrace_id": "F"}},
            status=400,
            headers={"X-Business-Use-Case-Usage": '{"1":[{"estimated_time_to_regain_access":1}]}'},
        )

    graph.handler = throttled
    reply = await client.post_events("1", EVENTS)
    assert reply.status == 400
    assert orjson.loads(reply.body)["error"]["code"] == 80004
    assert "estimated_time_to_regain_access" in reply.headers["x-business-use-case-usage"]


async def test_5xx_html_is_returned(graph: FakeGraph, client: GraphClient) -> None:
    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    graph.handler = html
    reply = await client.post_events("1", EVENTS)
    assert (reply.status, reply.error_kind) == (502, None)
    assert reply.body == b"<html>bad gateway</html>"
    assert reply.headers["content-type"].startswith("text/html")


async def test_timeout_becomes_a_reply(graph: FakeGraph) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.5)
        return await ok(request)

    graph.handler = hang
    async with GraphClient(graph.url, "v25.0", tokens=TOKENS, timeout_s=0.05) as c:
        reply = await c.post_events("1", EVENTS)
    assert reply.status is None
    assert reply.error_kind == "timeout"
    assert 0.04 < reply.latency_s < 0.4


async def test_connection_reset_becomes_a_reply(graph: FakeGraph, client: GraphClient) -> None:
    async def rst(request: web.Request) -> web.StreamResponse:
        reset_connection(request)
        await asyncio.sleep(0.05)
        return web.Response()

    graph.handler = rst
    reply = await client.post_events("1", EVENTS)
    assert reply.status is None
    assert reply.error_kind == "connection_reset"


async def test_closed_connection_becomes_a_reply(graph: FakeGraph, client: GraphClient) -> None:
    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response()

    graph.handler = drop
    reply = await client.post_events("1", EVENTS)
    assert (reply.status, reply.error_kind) == (None, "disconnected")


async def test_refused_connection_becomes_a_reply() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with GraphClient(f"http://127.0.0.1:{port}", "v25.0", tokens=TOKENS, timeout_s=1.0) as c:
        reply = await c.post_events("1", EVENTS)
    assert (reply.status, reply.error_kind) == (None, "connect")


async def test_redirects_are_not_followed(graph: FakeGraph, client: GraphClient) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/events"):
            raise web.HTTPFound(location="/elsewhere")
        return await ok(request)

    graph.handler = redirect
    reply = await client.post_events("1", EVENTS)
    assert reply.status == 302
    assert [s.path for s in graph.seen] == ["/v25.0/1/events"]


async def test_pool_bounds_concurrent_requests(graph: FakeGraph) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.03)
        return await ok(request)

    graph.handler = slow
    async with GraphClient(graph.url, "v25.0", tokens=TOKENS, max_connections=2) as c:
        replies = await asyncio.gather(*(c.post_events("1", EVENTS) for _ in range(8)))
    assert [r.status for r in replies] == [200] * 8
    assert graph.peak_in_flight == 2


async def test_connections_are_reused(graph: FakeGraph, client: GraphClient) -> None:
    ports: set[int] = set()

    async def peer(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        ports.add(request.transport.get_extra_info("peername")[1])
        return await ok(request)

    graph.handler = peer
    for _ in range(5):
        await client.post_events("1", EVENTS)
    assert len(ports) == 1


async def test_repr_and_urls_never_show_the_token(client: GraphClient) -> None:
    reply: GraphReply = await client.post_events("7", EVENTS)
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    assert TOKEN not in repr(reply)
    assert TOKEN not in str(client.url_for("7"))


async def test_requires_start() -> None:
    c = GraphClient("http://127.0.0.1:9", "v25.0", tokens=TOKENS)
    assert not c.started
    with pytest.raises(RuntimeError):
        await c.post_events("1", EVENTS)
    await c.start()
    await c.start()  # idempotent
    assert c.started
    await c.close()
    await c.close()
    assert not c.started


@pytest.mark.parametrize("dataset", ["", "../1", "1/events?x=1", "1 2", "a" * 65])
def test_dataset_id_must_be_a_plain_id(dataset: str) -> None:
    with pytest.raises(ValueError):
        GraphClient("http://127.0.0.1", "v25.0", tokens=TOKENS).url_for(dataset)


@pytest.mark.parametrize(
    ("base_url", "version"),
    [
        ("ftp://graph.facebook.com", "v25.0"),
        ("https://graph.facebook.com?access_token=x", "v25.0"),
        ("https://graph.facebook.com", "25.0"),
        ("graph.facebook.com", "v25.0"),
    ],
)
def test_constructor_validates(base_url: str, version: str) -> None:
    with pytest.raises(ValueError):
        GraphClient(base_url, version)


@pytest.mark.parametrize("bad", [f"{TOKEN}\n", f"{TOKEN[:5]}\r\n{TOKEN[5:]}", f"{TOKEN}\x00"])
async def test_a_token_aiohttp_refuses_becomes_a_request_invalid_reply(
    graph: FakeGraph, bad: str
) -> None:
    """aiohttp refuses a header with a control character ('Forbidden control character'):
    a reply naming that, never an exception, and nothing sent (tokens from the settings are
    stripped and checked at load; this is the client's own guard)."""
    async with GraphClient(graph.url, "v25.0", tokens={"42": Secret(bad)}) as c:
        reply = await c.post_events("42", EVENTS)
    assert reply.status is None and reply.error_kind == "request_invalid"
    assert graph.seen == []
    assert TOKEN not in repr(reply)
