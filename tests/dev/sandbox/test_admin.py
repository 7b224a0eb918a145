"""The sandbox's admin endpoints are off unless asked for."""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from streams.dev.sandbox.cli import ADMIN_ENV, add_arguments
from streams.dev.sandbox.server import SandboxServer
from tests.dev.sandbox.support import Client, event


@pytest.fixture
async def closed() -> AsyncIterator[Client]:
    async with SandboxServer(admin=False) as server, aiohttp.ClientSession() as http:
        yield Client(http, server.url)


async def test_without_admin_only_the_api_and_the_health_check_answer(closed: Client) -> None:
    reply = await closed.post_events(
        [event(event_time=int(time.time()) - 60)], token="sandbox-token", dataset="1000000000000001"
    )
    assert reply.status == 200 and reply.doc["events_received"] == 1
    assert (await closed.admin("GET", "health")).status == 200
    for method, path in [
        ("GET", "events"),
        ("GET", "stats"),
        ("POST", "reset"),
        ("GET", "faults"),
        ("POST", "faults"),
        ("GET", "datasets"),
        ("POST", "datasets/1000000000000001/token-invalid"),
    ]:
        reply = await closed.admin(method, path, {} if method == "POST" else None)
        assert reply.status == 404, path
        assert "admin endpoints are off" in str(reply.doc)


async def test_with_admin_the_receipts_are_served(client: Client) -> None:
    assert (await client.admin("GET", "events")).status == 200


def test_the_command_serves_admin_endpoints_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def parse(*argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return parser.parse_args(argv)

    monkeypatch.delenv(ADMIN_ENV, raising=False)
    assert parse().admin is False
    assert parse("--admin").admin is True
    monkeypatch.setenv(ADMIN_ENV, "1")
    assert parse().admin is True
    monkeypatch.setenv(ADMIN_ENV, "0")
    assert parse().admin is False
