"""`capi-streams worker --processes N|auto` with N > 1: check once, plan, serve, supervise.

The plan is streams/kafka/process_plan.py, the children's lifecycle streams/kafka/supervisor.py,
the merged /metrics and probes streams/observability/merged.py.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import os
import socket
import sys

from prometheus_client import CollectorRegistry, Counter

from streams.kafka.process_plan import choose_processes, instance_ids
from streams.kafka.supervisor import STOP_MARGIN_S, Supervisor, worker_command
from streams.kafka.topics import input_partitions
from streams.kafka.worker import check_ready, prepare_start, worker_logging
from streams.observability.health import start_metrics_server
from streams.observability.merged import WorkersCollector, WorkersProbes
from streams.settings import Settings

__all__ = ["run_processes", "usable_cpus"]

logger = logging.getLogger(__name__)


def usable_cpus() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_processes(
    settings: Settings, requested: int | None, config: str | None, *, debug: bool = False
) -> int:
    """Run the supervised workers until SIGTERM/SIGINT; the supervisor's exit status.
    `requested` None: one per usable core."""
    check_ready(settings)
    # the worker's own redaction, OAuth tokens fetched while running included (the connection
    # check and the partition count fetch them here too)
    logging.config.dictConfig(worker_logging(settings))
    prepare_start(settings)
    partitions = asyncio.run(input_partitions(settings.kafka))
    choice = choose_processes(requested, usable_cpus(), partitions)
    if choice.warning:
        logger.warning("%s", choice.warning)
    ids = instance_ids(settings.kafka.group_instance_id or socket.gethostname(), choice.processes)
    registry = CollectorRegistry()
    restarts = Counter(
        "capi_worker_restarts",
        "worker processes started again after they exited unexpectedly (worker --processes N)",
        ["worker"],
        registry=registry,
    )
    for index in range(len(ids)):
        restarts.labels(str(index))
    supervisor = Supervisor(
        worker_command(config, debug=debug),
        os.environ,
        ids,
        stop_timeout_s=settings.worker.shutdown_timeout_seconds + STOP_MARGIN_S,
        restarts=restarts,
    )
    probes = WorkersProbes(supervisor.targets)
    registry.register(WorkersCollector(supervisor.targets))
    server, _thread = start_metrics_server(
        settings.metrics.port, settings.metrics.host, registry, probes
    )
    print(
        f"capi-streams worker: processes={len(ids)} partitions={partitions} "
        f"group={settings.kafka.consumer_group} instance_ids={ids[0]}..{ids[-1]} "
        f"metrics=http://{settings.metrics.host}:{server.server_port}/metrics",
        file=sys.stderr,
        flush=True,
    )
    try:
        return supervisor.run(on_stopping=lambda: setattr(probes, "stopping", True))
    finally:
        server.shutdown()
