"""Stop the worker when a window fails unexpectedly, so that it restarts from the commits.

A window that fails for an unexpected reason (a bug, a broken dependency) is held whole: its
offsets are never committed, and neither is anything after them on its partitions. Left
running, the worker would keep those partitions blocked until a rebalance or restart, while
their lag grows and, past Meta's 48-hour deduplication window, a late replay double-counts.
So the worker stops itself the normal way (SIGTERM: in-flight windows finish, their outcome
records are written, what is done is committed) and exits with `EXIT_WINDOW_FAILED`, for the
orchestrator to restart it; the restarted worker consumes from the committed offsets. A
failure that persists becomes a crash loop the orchestrator backs off, not silent loss.

Before stopping it waits (at most `linger_s`) until /metrics was scraped once, so that
`capi_window_failures_total` reaches Prometheus and the `CapiWindowFailed` alert fires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

__all__ = ["EXIT_WINDOW_FAILED", "FailStop"]

logger = logging.getLogger(__name__)

#: Exit status after a window failed unexpectedly (EX_SOFTWARE): restart the worker.
EXIT_WINDOW_FAILED = 70


class _ScrapeSignal:
    """A collector that exports nothing and notes each scrape of the registry."""

    def __init__(self) -> None:
        self.scraped = threading.Event()

    def collect(self) -> Iterator[Metric]:
        self.scraped.set()
        return iter(())


class FailStop:
    """Called with the number of events of a window that failed unexpectedly (first call
    only): logs it, waits for a scrape, then sends this process SIGTERM."""

    def __init__(self, registry: CollectorRegistry | None, *, linger_s: float = 15.0) -> None:
        self._signal = _ScrapeSignal()
        if registry is not None:
            registry.register(self._signal)
        self._linger_s = linger_s if registry is not None else 0.0
        self._task: asyncio.Task[None] | None = None
        self.exit_code: int | None = None

    def __call__(self, events: int) -> None:
        if self._task is not None:
            return
        self.exit_code = EXIT_WINDOW_FAILED
        logger.error(
            "window failed unexpectedly events=%d: stopping the worker (exit status %d) so "
            "that it restarts from the committed offsets; see the error logged before this",
            events,
            EXIT_WINDOW_FAILED,
        )
        self._signal.scraped.clear()
        self._task = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        if self._linger_s > 0:
            await asyncio.to_thread(self._signal.scraped.wait, self._linger_s)
        os.kill(os.getpid(), signal.SIGTERM)
