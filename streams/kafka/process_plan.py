"""The decisions of `capi-streams worker --processes N`, as pure functions (no I/O, no clock).

streams/kafka/supervisor.py does the I/O; these say what it does:

* how many workers: `--processes N` as asked, or one per usable core (`auto`), never more
  than the input topics' partitions (extra members of a group get no partition: they would
  only cost memory and a rebalance each);
* each worker's `group.instance.id`: the base (`kafka.group_instance_id`, else the host name)
  plus `-{index}`, fixed for the life of the supervisor, so a restarted worker rejoins as the
  same static member and takes its partitions back without a rebalance;
* when a worker that stopped on its own is started again (a backoff that stays well inside the
  session timeout, and a limit after which the supervisor gives up);
* the supervisor's exit status from its workers' ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "EXIT_ABANDONED",
    "EXIT_FAILED",
    "EXIT_WINDOW_FAILED",
    "ProcessChoice",
    "RestartBudget",
    "choose_processes",
    "instance_ids",
    "supervisor_exit",
]

#: The worker's exit statuses (streams/kafka/worker.py, failstop.py), repeated here so that
#: this module stays free of faust imports.
EXIT_WINDOW_FAILED = 70
EXIT_ABANDONED = 75
#: A worker failed otherwise (crashed, a signal, a start-up error).
EXIT_FAILED = 1

_MAX_INSTANCE_ID = 249  # the broker's limit, as kafka.group_instance_id is checked
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class ProcessChoice:
    processes: int
    warning: str | None = None


def choose_processes(requested: int | None, cpus: int, partitions: int) -> ProcessChoice:
    """How many workers to run: `requested` (None: one per core), at most `partitions`."""
    ceiling = max(1, partitions)
    if requested is None:
        return ProcessChoice(max(1, min(cpus, ceiling)))
    if requested > ceiling:
        return ProcessChoice(
            ceiling,
            f"--processes {requested} is more than the {partitions} partitions of the input "
            f"topics: running {ceiling} (a consumer group gives each partition to one member; "
            "more members would sit idle)",
        )
    return ProcessChoice(requested)


def instance_ids(base: str, processes: int) -> list[str]:
    """`base-0`, `base-1`, ...: valid Kafka group instance ids (characters outside letters,
    digits, `.`, `_`, `-` become `-`; the base is cut so that each id fits 249 characters)."""
    clean = _NOT_ALLOWED.sub("-", base) or "capi-streams"
    ids = []
    for index in range(processes):
        suffix = f"-{index}"
        ids.append(clean[: _MAX_INSTANCE_ID - len(suffix)] + suffix)
    return ids


@dataclass(frozen=True)
class RestartBudget:
    """Restarts of one worker: the n-th restart within `window_s` waits
    min(`cap_delay_s`, `base_delay_s` * 2**(n-1)); past `max_restarts` within the window
    the supervisor gives up. The delays stay far below the default 30 s session timeout, so
    the restarted static member is back before the broker would move its partitions."""

    max_restarts: int = 5
    window_s: float = 300.0
    base_delay_s: float = 1.0
    cap_delay_s: float = 10.0

    def delay(self, earlier_restarts: Sequence[float], now: float) -> float | None:
        """Seconds to wait before the next restart, or None to give up; `earlier_restarts`
        are the times (same clock as `now`) of this worker's restarts so far."""
        recent = sum(1 for t in earlier_restarts if now - t < self.window_s)
        if recent >= self.max_restarts:
            return None
        return float(min(self.cap_delay_s, self.base_delay_s * 2.0**recent))


def supervisor_exit(codes: Sequence[int | None]) -> int:
    """The supervisor's exit status from its workers' last ones (None: killed by the
    supervisor after the shutdown bound). A fail-stop (70) wins, so the orchestrator sees
    the same status as from a single worker; then an abandoned stop (75: a worker that did not
    finish in time, killed or timed out on its own, nothing more committed); then any other
    failure (1); 0 when every worker stopped cleanly."""
    if EXIT_WINDOW_FAILED in codes:
        return EXIT_WINDOW_FAILED
    if None in codes or EXIT_ABANDONED in codes:
        return EXIT_ABANDONED
    if any(code != 0 for code in codes):
        return EXIT_FAILED
    return 0
