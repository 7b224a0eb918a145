"""The /healthz and /readyz probes against a real event loop and a real HTTP client."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from streams.observability.health import Health, start_metrics_server


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _in_loop(loop: asyncio.AbstractEventLoop, receiver: Callable[..., None], *args: object) -> None:
    """Call a signal receiver in the loop's thread, as faust does, and wait for it."""

    async def call() -> None:
        receiver(*args)

    asyncio.run_coroutine_threadsafe(call(), loop).result(5)


@pytest.fixture
def served() -> Iterator[tuple[Health, int]]:
    registry = CollectorRegistry()
    Counter("capi_probe_test_total", "a metric beside the probes", registry=registry).inc()
    health = Health(stall_seconds=0.5)
    server, thread = start_metrics_server(0, "127.0.0.1", registry, health)
    try:
        yield health, server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_metrics_still_served_beside_the_probes(served: tuple[Health, int]) -> None:
    _, port = served
    status, body = _get(port, "/metrics")
    assert status == 200
    assert "capi_probe_test_total 1.0" in body


def test_not_ready_before_an_assignment_and_live_while_starting(
    served: tuple[Health, int],
) -> None:
    _, port = served
    assert _get(port, "/readyz") == (503, "waiting for the consumer group's first assignment\n")
    assert _get(port, "/healthz") == (200, "ok: starting\n")


def test_live_follows_the_event_loop_and_ready_the_assignment(
    served: tuple[Health, int],
) -> None:
    health, port = served
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        _in_loop(loop, health.on_partitions_assigned, None, {("t", 0), ("t", 1)})
        assert _get(port, "/readyz") == (200, "ok: 2 partitions assigned\n")
        assert _get(port, "/healthz") == (200, "ok\n")
        # A callback that blocks the loop (as a CPU-bound stretch or a blocking call would).
        unblock = threading.Event()
        loop.call_soon_threadsafe(unblock.wait, 30)
        try:
            assert _get(port, "/healthz") == (503, "event loop did not answer within 0.5 s\n")
        finally:
            unblock.set()
        assert _get(port, "/healthz") == (200, "ok\n")
        _in_loop(loop, health.on_before_shutdown, None)
        assert _get(port, "/readyz") == (503, "stopping\n")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()
    assert _get(port, "/healthz") == (503, "event loop closed\n")


def test_an_empty_assignment_is_ready(served: tuple[Health, int]) -> None:
    """More workers than partitions: the spare ones are healthy members, not failing pods."""
    health, port = served
    loop = asyncio.new_event_loop()
    try:
        loop.call_soon(health.on_partitions_assigned, None, set())
        loop.call_soon(loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert _get(port, "/readyz") == (200, "ok: 0 partitions assigned\n")


# Against a real worker on the broker: tests/kafka/test_static_membership.py waits for /readyz
# and checks /healthz of real workers.


def test_each_assignment_is_counted() -> None:
    """One per rebalance the worker took part in (tests/kafka/test_supervisor.py reads it to
    show that a restarted static member caused none)."""
    registry = CollectorRegistry()
    health = Health(registry=registry)
    loop = asyncio.new_event_loop()
    try:
        loop.call_soon(health.on_partitions_assigned, None, {("t", 0)})
        loop.call_soon(health.on_partitions_assigned, None, {("t", 0), ("t", 1)})
        loop.call_soon(loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert registry.get_sample_value("capi_partition_assignments_total") == 2
