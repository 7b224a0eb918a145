"""The backoff between failed metadata refreshes, on a real aiokafka client with no broker."""

from __future__ import annotations

import time

from aiokafka.client import AIOKafkaClient

from streams.kafka import metadata_backoff
from streams.kafka.metadata_backoff import MetadataBackoff


def test_the_wait_doubles_up_to_the_cap() -> None:
    b = MetadataBackoff(base_s=0.1, cap_s=2.0)
    assert [b.delay(n) for n in range(7)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert b.delay(10_000) == 2.0


async def test_consecutive_failed_refreshes_wait_longer_each_time() -> None:
    metadata_backoff.install(MetadataBackoff(base_s=0.02, cap_s=0.08))
    metadata_backoff.install(MetadataBackoff(base_s=0.02, cap_s=0.08))  # no double wrapping
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1")  # nothing listens there
    try:
        started = time.monotonic()
        results = [await client._metadata_update(client.cluster, set()) for _ in range(4)]
        elapsed = time.monotonic() - started
        assert results == [False] * 4
        assert elapsed >= 0.02 + 0.04 + 0.08 + 0.08  # without the patch: microseconds
        assert client._capi_metadata_failures == 4  # type: ignore[attr-defined]
    finally:
        metadata_backoff.install()  # the default policy, as the worker installs it
        await client.close()
