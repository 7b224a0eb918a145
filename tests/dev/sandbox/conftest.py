"""Fixtures for the sandbox tests: an in-process server on 127.0.0.1 and a client bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from streams.dev.sandbox.server import SandboxServer
from tests.dev.sandbox.support import DATASETS, Client, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(datasets=DATASETS, clock=clock, seed=7) as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(http, sandbox.url)
