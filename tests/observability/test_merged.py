"""The supervisor's one /metrics, /healthz and /readyz over its workers' servers (real HTTP
servers with real registries and probes, as each worker serves them)."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.observability.health import Health, start_metrics_server
from streams.observability.merged import (
    Target,
    WorkersCollector,
    WorkersProbes,
    merge_families,
)


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _registry(consumed: int, lag: float, delay: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("capi_events_consumed", "input messages", ["topic"], registry=registry).labels(
        "in"
    ).inc(consumed)
    Gauge("capi_consumer_lag", "lag", ["topic", "partition"], registry=registry).labels(
        "in", "0"
    ).set(lag)
    Histogram("capi_request_duration_seconds", "latency", registry=registry).observe(delay)
    return registry


def test_merged_families_keep_every_worker_apart_with_a_worker_label() -> None:
    scrapes = [
        (str(i), list(text_string_to_metric_families(generate_latest(r).decode())))
        for i, r in enumerate([_registry(5, 1, 0.2), _registry(7, 3, 3.0)])
    ]
    merged = CollectorRegistry()

    class Merged:
        def collect(self) -> object:
            return merge_families(scrapes)

    merged.register(Merged())  # type: ignore[arg-type]
    value = merged.get_sample_value
    assert value("capi_events_consumed_total", {"topic": "in", "worker": "0"}) == 5
    assert value("capi_events_consumed_total", {"topic": "in", "worker": "1"}) == 7
    assert value("capi_consumer_lag", {"topic": "in", "partition": "0", "worker": "1"}) == 3
    assert value("capi_request_duration_seconds_count", {"worker": "0"}) == 1
    assert value("capi_request_duration_seconds_bucket", {"le": "0.25", "worker": "0"}) == 1
    assert value("capi_request_duration_seconds_bucket", {"le": "0.25", "worker": "1"}) == 0
    text = generate_latest(merged).decode()
    assert text.count("# TYPE capi_events_consumed_total counter") == 1
    assert text.count("# TYPE capi_request_duration_seconds histogram") == 1


@dataclass
class _Worker:
    health: Health
    server: WSGIServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)


@pytest.fixture
def workers() -> Iterator[list[_Worker]]:
    out = []
    for consumed in (5, 7):
        health = Health(stall_seconds=0.5)
        registry = _registry(consumed, 0, 0.1)
        server, _ = start_metrics_server(0, "127.0.0.1", registry, health)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        out.append(_Worker(health, server, loop, thread))
    yield out
    for w in out:
        w.server.shutdown()
        w.server.server_close()
        w.loop.call_soon_threadsafe(w.loop.stop)
        w.thread.join(5)
        w.loop.close()


def _assign(worker: _Worker, partitions: int) -> None:
    async def call() -> None:
        worker.health.on_partitions_assigned(None, {("t", p) for p in range(partitions)})

    asyncio.run_coroutine_threadsafe(call(), worker.loop).result(5)


def _serve(targets: list[Target]) -> tuple[WSGIServer, WorkersProbes]:
    registry = CollectorRegistry()
    registry.register(WorkersCollector(lambda: targets))
    probes = WorkersProbes(lambda: targets)
    server, _ = start_metrics_server(0, "127.0.0.1", registry, probes)
    return server, probes


def test_one_port_serves_every_workers_metrics(workers: list[_Worker]) -> None:
    server, _ = _serve([("0", workers[0].port), ("1", workers[1].port), ("2", None)])
    try:
        status, text = _get(server.server_port, "/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200
    assert 'capi_events_consumed_total{topic="in",worker="0"} 5.0' in text
    assert 'capi_events_consumed_total{topic="in",worker="1"} 7.0' in text
    assert 'capi_worker_up{worker="0"} 1.0' in text
    assert 'capi_worker_up{worker="2"} 0.0' in text  # being restarted: no series of its own


def test_ready_when_every_worker_is_ready_with_the_partitions_together(
    workers: list[_Worker],
) -> None:
    targets: list[Target] = [("0", workers[0].port), ("1", workers[1].port)]
    server, probes = _serve(targets)
    port = server.server_port
    try:
        _assign(workers[0], 3)
        assert _get(port, "/readyz") == (
            503,
            "worker 1: waiting for the consumer group's first assignment\n",
        )
        _assign(workers[1], 1)
        assert _get(port, "/readyz") == (200, "ok: 4 partitions assigned to 2 workers\n")
        assert _get(port, "/healthz") == (200, "ok\n")
        targets[1] = ("1", None)
        assert _get(port, "/readyz") == (503, "worker 1: not running (restarting)\n")
        assert _get(port, "/healthz") == (200, "ok\n")  # restarting is the supervisor's job
        probes.stopping = True
        assert _get(port, "/readyz") == (503, "stopping\n")
    finally:
        server.shutdown()
        server.server_close()


def test_not_live_when_a_workers_event_loop_is_stuck(workers: list[_Worker]) -> None:
    server, _ = _serve([("0", workers[0].port), ("1", workers[1].port)])
    try:
        _assign(workers[1], 1)
        unblock = threading.Event()
        workers[1].loop.call_soon_threadsafe(unblock.wait, 30)
        try:
            assert _get(server.server_port, "/healthz") == (
                503,
                "worker 1: event loop did not answer within 0.5 s\n",
            )
        finally:
            unblock.set()
        assert _get(server.server_port, "/healthz") == (200, "ok\n")
    finally:
        server.shutdown()
        server.server_close()
