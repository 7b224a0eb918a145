"""Back off between failed Kafka metadata refreshes (aiokafka retries them in a busy loop).

When no broker answers, aiokafka's producer `Sender` asks for a metadata refresh, the refresh
fails at once (connection refused), and the sender asks again without waiting: one core at
100% and thousands of log lines a second for as long as the outage lasts (measured here:
95% CPU, ~5,800 ERROR lines/s; the upstream reports are aio-libs/aiokafka#267 and, for the
same flaw in kafka-python, dpkp/kafka-python#1284). Java's client waits `retry.backoff.ms`
after a failed refresh (KAFKA-4024).

`install()` makes every `AIOKafkaClient` do the same: after a refresh that reached no broker,
the metadata synchronizer sleeps before it reports the failure, doubling the wait on each
consecutive failure up to a cap, so the waiting callers (and the busy loop) wake at most once
per backoff. A successful refresh resets the wait. Nothing changes while brokers answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.client import AIOKafkaClient

__all__ = ["MetadataBackoff", "install"]

_Update = Callable[[AIOKafkaClient, Any, Any], Awaitable[bool]]


class MetadataBackoff:
    """The wait after consecutive failed refreshes: `base_s` doubling up to `cap_s`."""

    def __init__(self, base_s: float = 0.1, cap_s: float = 2.0) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError("expected 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1-based)."""
        if failures <= 0:
            return 0.0
        return min(self.cap_s, self.base_s * float(2 ** min(failures - 1, 30)))


_ATTR = "_capi_metadata_failures"


def install(backoff: MetadataBackoff | None = None) -> None:
    """Patch `AIOKafkaClient._metadata_update` once per process (later calls change the
    backoff only)."""
    policy = backoff or MetadataBackoff()
    current = AIOKafkaClient._metadata_update
    original: _Update = getattr(current, "__wrapped__", current)

    async def _metadata_update(self: AIOKafkaClient, cluster_metadata: Any, topics: Any) -> bool:
        ok = await original(self, cluster_metadata, topics)
        if ok:
            setattr(self, _ATTR, 0)
            return True
        failures = int(getattr(self, _ATTR, 0)) + 1
        setattr(self, _ATTR, failures)
        await asyncio.sleep(policy.delay(failures))
        return False

    _metadata_update.__wrapped__ = original  # type: ignore[attr-defined]
    AIOKafkaClient._metadata_update = _metadata_update
