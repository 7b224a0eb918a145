"""`capi-streams worker --processes N`: N ordinary workers of one consumer group, supervised.

One worker is bound by one core (one event loop), so a machine with more cores runs more
workers. Each is a fresh `python -m streams.cli worker` process (never a fork of a running
event loop), started with two settings changed through its environment:
`kafka.group_instance_id` = base + `-{index}` (static membership; base: the configured
`kafka.group_instance_id`, else the host name; streams/kafka/process_plan.py) and its metrics
server on a free loopback port. Everything else is the same config file and environment, so
each child is exactly the single worker `--processes 1` runs (that one runs in-process, with
no supervisor).

* Start: the supervisor checks the settings and the Kafka connection once (one clear error
  instead of N), creates missing topics, reads the input topics' partition count and caps N
  there (a warning names both numbers when `--processes` asked for more).
* Metrics and probes: one server on `metrics.host:metrics.port` merges the workers' /metrics
  (a `worker` label) and probes (streams/observability/merged.py); the supervisor adds
  `capi_worker_restarts_total{worker}`.
* A worker that exits on its own (a crash, SIGKILL, a fail-stop exit 70 after a window failed)
  is started again under the same instance id after a backoff of 1, 2, 4, 8, 10 s
  (process_plan.RestartBudget): as a static member it takes its partitions back without a
  rebalance of the others, provided it is back within `kafka.session_timeout_seconds`, and
  consumes from the committed offsets, as an orchestrator's restart of a single worker would.
  After 5 restarts of one worker within 5 minutes the supervisor gives up: it stops the others
  and exits with that worker's status (70 stays 70), leaving the crash loop to the orchestrator.
* Signals: SIGTERM and SIGINT are forwarded to every worker (they run in their own process
  group, so a terminal's Ctrl-C reaches them once, through the supervisor), which then stop as
  a single worker does. A worker still running `worker.shutdown_timeout_seconds` + 10 s later
  (its own watchdog exits at the timeout) is killed. Exit status: 70 if a worker fail-stopped,
  75 if one did not finish its stop in time, 1 for any other failure, else 0
  (process_plan.supervisor_exit).
* On Linux each worker gets SIGTERM if the supervisor dies (PR_SET_PDEATHSIG), so no orphan
  keeps consuming under an instance id a new supervisor would reuse.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from prometheus_client import Counter

from streams.kafka.process_plan import RestartBudget, supervisor_exit
from streams.observability.merged import Target

__all__ = ["STOP_MARGIN_S", "Supervisor", "free_port", "worker_command"]

logger = logging.getLogger(__name__)

#: How long after `worker.shutdown_timeout_seconds` a stopping worker is killed.
STOP_MARGIN_S = 10.0

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_command(config: str | None, *, debug: bool = False) -> list[str]:
    """The command of one child: the ordinary single worker."""
    cmd = [sys.executable, "-m", "streams.cli"]
    cmd += ["--debug"] if debug else []
    cmd += ["worker"]
    cmd += ["--config", config] if config else []
    return cmd


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_pdeathsig() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_pdeathsig


@dataclass
class _Child:
    index: int
    instance_id: str
    proc: subprocess.Popen[bytes] | None = None
    port: int | None = None
    restarts: list[float] = field(default_factory=list)
    restart_at: float | None = None
    last_code: int | None = None


class Supervisor:
    """Runs one child per instance id until SIGTERM/SIGINT; see the module docstring."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        ids: Sequence[str],
        *,
        stop_timeout_s: float,
        restarts: Counter | None = None,
        budget: RestartBudget | None = None,
        poll_s: float = 0.2,
    ) -> None:
        self._command = list(command)
        self._env = dict(env)
        self._children = [_Child(i, iid) for i, iid in enumerate(ids)]
        self._stop_timeout_s = stop_timeout_s
        self._restarts = restarts
        self._budget = budget or RestartBudget()
        self._poll_s = poll_s
        self._signal: signal.Signals | None = None
        self._wake = threading.Event()
        self._preexec = _die_with_parent()

    def targets(self) -> list[Target]:
        """(worker label, metrics port or None) of each child, for metrics and probes."""
        return [(str(c.index), c.port if c.proc is not None else None) for c in self._children]

    def pids(self) -> list[int | None]:
        return [c.proc.pid if c.proc is not None else None for c in self._children]

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._signal is None:
            self._signal = signal.Signals(signum)
        self._wake.set()

    def run(self, on_stopping: Callable[[], None] = lambda: None) -> int:
        """Start the children, keep them running, stop them on a signal; the exit status."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for child in self._children:
            self._spawn(child)
        failed: int | None = None
        while self._signal is None and failed is None:
            self._wake.wait(self._poll_s)
            self._wake.clear()
            failed = self._tend(time.monotonic())
        on_stopping()
        return self._stop(self._signal or signal.SIGTERM, failed)

    def _spawn(self, child: _Child) -> None:
        child.port = free_port()
        env = dict(
            self._env,
            CAPI_KAFKA__GROUP_INSTANCE_ID=child.instance_id,
            CAPI_METRICS__HOST="127.0.0.1",
            CAPI_METRICS__PORT=str(child.port),
        )
        child.proc = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            self._command,
            env=env,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=self._preexec,
        )
        logger.info(
            "worker %d started pid=%d instance_id=%s",
            *(child.index, child.proc.pid, child.instance_id),
        )

    def _tend(self, now: float) -> int | None:
        """Note exited children and restart the due ones; a status when giving up."""
        for child in self._children:
            code = child.proc.poll() if child.proc is not None else None
            if code is not None:
                child.proc, child.last_code = None, code
                delay = self._budget.delay(child.restarts, now)
                if delay is None:
                    logger.error(
                        "worker %d (instance_id=%s) exited with status %d, its %d restarts "
                        "within %.0f s are used up: stopping all workers",
                        *(child.index, child.instance_id, code, len(child.restarts)),
                        self._budget.window_s,
                    )
                    return code
                child.restart_at = now + delay
                logger.warning(
                    "worker %d (instance_id=%s) exited unexpectedly with status %d%s: starting "
                    "it again in %.0f s under the same instance id (no rebalance)",
                    *(child.index, child.instance_id, code, _why(code), delay),
                )
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                child.restarts.append(now)
                child.restart_at = None
                if self._restarts is not None:
                    self._restarts.labels(str(child.index)).inc()
                self._spawn(child)
        return None

    def _stop(self, sig: signal.Signals, failed: int | None) -> int:
        running = [c for c in self._children if c.proc is not None]
        logger.info("stopping %d workers (%s forwarded)", len(running), sig.name)
        for child in running:
            assert child.proc is not None
            child.proc.send_signal(sig)
        deadline = time.monotonic() + self._stop_timeout_s
        codes: list[int | None] = [] if failed is None else [failed]
        codes += [c.last_code for c in self._children if c.proc is None and c.last_code]
        for child in running:
            assert child.proc is not None
            try:
                codes.append(child.proc.wait(max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                logger.error(
                    "worker %d did not stop within %.0f s: killed",
                    *(child.index, self._stop_timeout_s),
                )
                child.proc.kill()
                child.proc.wait()
                codes.append(None)
            child.proc = None
        return supervisor_exit(codes)


def _why(code: int) -> str:
    if code == 70:
        return " (a window failed: fail-stop, see its log)"
    if code < 0:
        return f" (killed by {signal.Signals(-code).name})"
    return ""
