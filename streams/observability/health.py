"""Health probes beside /metrics: `/healthz` (live) and `/readyz` (ready), for a cluster scheduler.

* live: the worker's event loop runs a no-op callback within `stall_seconds` when asked (a
  loop stuck in a blocking call or a CPU-bound loop does not). Before the loop is known (the
  start-up: topics, group join) the worker counts as live; a start-up that never ends is the
  scheduler's start-up probe's business.
* ready: the consumer group has given the worker an assignment (possibly empty: a worker with
  more members than partitions is still a healthy member), and it is not stopping.

Both answer 200 with `ok` or 503 with the reason, as plain text. The server is one thread per
request (the loop probe waits), the same WSGI server as prometheus_client's, with a quiet
request log.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, make_wsgi_app

__all__ = ["Health", "Probes", "start_metrics_server"]

_Start = Callable[[str, list[tuple[str, str]]], Any]


class Probes(Protocol):
    """What /healthz and /readyz ask: (ok, why)."""

    def live(self) -> tuple[bool, str]: ...

    def ready(self) -> tuple[bool, str]: ...


class Health:
    """What the probes report; fed by the worker's faust app signals."""

    def __init__(
        self, stall_seconds: float = 10.0, registry: CollectorRegistry | None = None
    ) -> None:
        self.stall_seconds = stall_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._assigned: int | None = None
        self._stopping = False
        self._assignments = Counter(
            "capi_partition_assignments",
            "assignments the consumer group gave this worker: one per rebalance it took part in",
            registry=registry,
        )

    def on_partitions_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """faust `on_partitions_assigned` receiver (`send(assigned)`), in the worker's loop."""
        assigned: Iterable[object] = args[0]
        self._loop = asyncio.get_running_loop()
        self._assigned = len(set(assigned))
        self._assignments.inc()

    def on_before_shutdown(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """faust `on_before_shutdown` receiver."""
        self._stopping = True

    def ready(self) -> tuple[bool, str]:
        if self._stopping:
            return False, "stopping"
        if self._assigned is None:
            return False, "waiting for the consumer group's first assignment"
        return True, f"ok: {self._assigned} partitions assigned"

    def live(self) -> tuple[bool, str]:
        loop = self._loop
        if loop is None:
            return True, "ok: starting"
        answered = threading.Event()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:
            return False, "event loop closed"
        if not answered.wait(self.stall_seconds):
            return False, f"event loop did not answer within {self.stall_seconds:g} s"
        return True, "ok"


def _wsgi_app(registry: CollectorRegistry, health: Probes) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)
    probes = {"/healthz": health.live, "/readyz": health.ready}

    def app(environ: dict[str, Any], start_response: _Start) -> Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            body: Iterable[bytes] = metrics(environ, start_response)
            return body
        ok, why = probe()
        status = "200 OK" if ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [why.encode() + b"\n"]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood the log."""


def start_metrics_server(
    port: int, addr: str, registry: CollectorRegistry, health: Probes
) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics, /healthz and /readyz on `addr:port` from a daemon thread."""
    server_class = _ThreadingServer6 if ":" in addr else _ThreadingServer
    server = make_server(
        addr, port, _wsgi_app(registry, health), server_class, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
