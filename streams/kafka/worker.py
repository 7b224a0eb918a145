"""`capi-streams worker`: run the faust worker for validated settings, with /metrics served."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import os
import signal
import sys
import threading
from typing import Any

import faust
import mode.loop
from prometheus_client import CollectorRegistry

from streams.kafka.app import create_app
from streams.kafka.failstop import EXIT_WINDOW_FAILED, FailStop
from streams.kafka.topics import ensure_topics
from streams.kafka_connection.clients import kafka_secrets
from streams.kafka_connection.oauth import fetched_tokens
from streams.kafka_connection.preflight import check_connection
from streams.observability.health import Health, start_metrics_server
from streams.observability.logging import logging_config
from streams.settings import ConfigError, Settings

__all__ = [
    "EXIT_ABANDONED",
    "EXIT_WINDOW_FAILED",
    "check_ready",
    "prepare_start",
    "run_worker",
    "worker_logging",
]

logger = logging.getLogger(__name__)

#: Exit status when a stop took longer than worker.shutdown_timeout_seconds (EX_TEMPFAIL):
#: nothing more was committed; the uncommitted events are consumed again by the group.
EXIT_ABANDONED = 75


class _Worker(faust.Worker):
    """faust's Worker with a bound on how long a signalled stop may take.

    faust waits for in-flight sends and a final commit; with the broker down that wait has no
    end. At-least-once does not need it: whatever is not committed is consumed again. So the
    first SIGTERM/SIGINT arms a watchdog thread that ends the process after the timeout: with
    status 75 if the stop (its final commit) had not finished, else 0 (only the event loop's
    teardown was still running).
    """

    capi_shutdown_timeout_s: float = 30.0
    capi_failstop: FailStop | None = None
    _capi_watchdog: threading.Timer | None = None
    _capi_stopped: threading.Event | None = None

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self._capi_watchdog is None:
            self._capi_stopped = threading.Event()
            self._capi_watchdog = threading.Timer(
                self.capi_shutdown_timeout_s,
                _watchdog,
                args=(self._capi_stopped, self.capi_failstop),
            )
            self._capi_watchdog.daemon = True
            self._capi_watchdog.start()
        super()._schedule_shutdown(signal)

    async def _stop_on_signal(self, signal: signal.Signals) -> None:
        await super()._stop_on_signal(signal)
        if self._capi_stopped is not None:
            self._capi_stopped.set()


def _watchdog(stopped: threading.Event, failstop: FailStop | None) -> None:
    if stopped.is_set():
        os._exit((failstop.exit_code or 0) if failstop is not None else 0)
    # No logging here: the main thread may hold a handler's lock (say, blocked writing to a
    # full stderr pipe), and this must exit regardless.
    with contextlib.suppress(OSError):
        os.write(
            2,
            b"capi-streams worker: stop did not finish within worker.shutdown_timeout_seconds: "
            b"exiting without committing (the uncommitted events will be consumed again)\n",
        )
    os._exit(EXIT_ABANDONED)


def check_ready(settings: Settings) -> None:
    """Refuse to start without what the worker needs, naming the missing piece."""
    if not settings.kafka.bootstrap_servers:
        raise ConfigError(
            "kafka.bootstrap_servers: required for the worker "
            "(CAPI_KAFKA__BOOTSTRAP_SERVERS; `capi-streams run` starts a local broker)"
        )
    if not settings.datasets:
        raise ConfigError("datasets: configure at least one [[datasets]] entry")
    for ds in settings.datasets:
        if ds.token is None:
            raise ConfigError(
                f"datasets[{ds.id}].token_env: the environment variable {ds.token_env} "
                "that should hold this dataset's access token is not set"
            )


def use_uvloop() -> bool:
    """Select uvloop's event loop policy (faust's `mode.loop.use`) when uvloop is installed
    (a dependency wherever it builds): faust's per-message path costs less CPU on it."""
    if importlib.util.find_spec("uvloop") is None:
        return False
    mode.loop.use("uvloop")
    return True


def worker_logging(settings: Settings) -> dict[str, Any]:
    """The worker's logging config: the redaction hides the datasets' tokens, the `[kafka]`
    secrets and the OAuth tokens the Kafka clients fetch while it runs."""
    secrets = [d.token.reveal() for d in settings.datasets if d.token is not None]
    secrets += [s.reveal() for s in kafka_secrets(settings.kafka)]
    w = settings.worker
    return logging_config(w.log_level, w.log_format, secrets, later=fetched_tokens)


def prepare_start(settings: Settings) -> None:
    """What `capi-streams worker` does before it starts, with one process or a supervisor:
    print the configuration's deprecations, check the Kafka connection (a ConfigError naming
    the key to fix), create the missing input/outcome topics and name them."""
    for message in settings.deprecations:
        print(f"capi-streams worker: configuration: {message}", file=sys.stderr)
    asyncio.run(check_connection(settings.kafka))
    created = asyncio.run(ensure_topics(settings.kafka))
    if created:
        print(f"capi-streams worker: created topics {', '.join(created)}", file=sys.stderr)


def run_worker(settings: Settings) -> int:
    """Start metrics, then the faust worker in the foreground until SIGTERM/SIGINT."""
    check_ready(settings)
    use_uvloop()
    prepare_start(settings)
    # The hot path allocates and frees many short-lived containers per event; collect the
    # young generation every 50,000 net allocations instead of 700 (fewer, larger passes),
    # the older ones rarely. Cycles are still collected, memory stays bounded (the soak
    # benchmark and tests/kafka/test_reliability.py check it).
    gc.set_threshold(50_000, 20, 100)
    registry = CollectorRegistry()
    failstop = FailStop(registry)  # first in the registry: a scrape it notes has the metrics
    health = Health(registry=registry)
    server, _thread = start_metrics_server(
        settings.metrics.port, settings.metrics.host, registry, health
    )
    port = server.server_port
    app = create_app(settings, registry=registry, on_broken=failstop)
    # mode's signal types spell receivers as a union mypy cannot match a method against.
    app.on_partitions_assigned.connect(health.on_partitions_assigned)  # type: ignore[arg-type]
    app.on_before_shutdown.connect(health.on_before_shutdown)  # type: ignore[arg-type]
    worker = _Worker(
        app,
        loglevel=settings.worker.log_level,
        logging_config=worker_logging(settings),
        quiet=True,
        redirect_stdouts=False,
    )
    worker.capi_shutdown_timeout_s = settings.worker.shutdown_timeout_seconds
    worker.capi_failstop = failstop
    worker.spinner = None  # faust's spinner writes cursor codes and backspaces even to files
    print(
        f"capi-streams worker: loop={type(worker.loop).__module__.split('.')[0]} "
        f"group={settings.kafka.consumer_group} "
        f"inputs={','.join(settings.kafka.input_topics)} metrics=http://{settings.metrics.host}:{port}/metrics",
        file=sys.stderr,
        flush=True,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return failstop.exit_code or int(exc.code or 0)
    finally:
        server.shutdown()
    return failstop.exit_code or 0
