"""The one place that builds the worker's objects from Settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from prometheus_client import CollectorRegistry

from streams.settings import load_settings
from streams.wiring import build_worker

TOKEN = "EAAB-wiring-secret-token"


class _Sink:
    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def test_one_settings_object_builds_every_part_and_tokens_stay_in_the_clients() -> None:
    env = {
        "CAPI_DATASETS__0__ID": "1000000000000001",
        "CAPI_DATASETS__0__TOKEN_ENV": "T",
        "CAPI_WORKER__TAKE_WITHIN_MS": "150",
        "CAPI_QUALITY__ENABLED": "true",
        "T": TOKEN,
    }
    settings = load_settings(None, env)
    worker = build_worker(settings, _Sink(), CollectorRegistry())
    assert worker.deliverer.holds is worker.holds  # the pipeline and the deliverer share it
    assert worker.window_s == 0.15
    assert worker.quality is not None
    for part in (worker.pipeline, worker.deliverer, worker.holds, worker.client, *worker.quality):
        assert TOKEN not in repr(part)
        assert TOKEN not in repr(vars(part) if hasattr(part, "__dict__") else part)
