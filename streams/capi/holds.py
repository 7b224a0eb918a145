"""Dataset holds: the one place that knows which datasets wait on a configuration error.

A dataset is *held* when Meta refused a request for a reason only its owner can fix (an
invalid or expired token, a missing permission: `Outcome.CONFIG`). While held, the
`Deliverer` probes it with one request at a time (`probe_lock`) and every other batch of the
dataset waits; other datasets keep flowing. `DatasetHolds` owns:

* the configuration error of each held dataset (`hold`, `release`, `is_held`), reported once
  (log line and `on_paused`);
* the stop switch (`stop`, `resume`): a stop ends every wait of the deliverer at once and the
  unfinished events come back *held* (never acked, so Kafka redelivers them); the worker stops
  at shutdown, and a rebalance that still waits after its grace period releases the holds
  (`rebalance_started`, `rebalance_ended`);
* `settle`: the pipeline awaits its batches through it, and gets back as soon as every batch
  still running belongs to a held dataset (no polling: a hold or release wakes it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from streams.domain.classify import Classification

__all__ = ["DatasetHolds", "HoldObserver"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class HoldObserver(Protocol):
    def on_paused(self, dataset: str, paused: bool) -> None:
        """The dataset entered (True) or left (False) a configuration hold."""


class DatasetHolds:
    """Configuration holds per dataset, the stop switch, and the rebalance grace timer."""

    def __init__(
        self, observer: HoldObserver | None = None, *, probe_every_s: float = 30.0
    ) -> None:
        self._observer = observer
        self.probe_every_s = probe_every_s
        self._errors: dict[str, Classification] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._stopping = asyncio.Event()
        self._changed: asyncio.Future[None] | None = None
        self._release_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"DatasetHolds(held={sorted(self._errors)!r}, stopping={self.stopping!r})"

    # configuration errors -------------------------------------------------------------------
    def is_held(self, dataset: str) -> bool:
        return dataset in self._errors

    def held(self) -> frozenset[str]:
        """Datasets currently held for a configuration error."""
        return frozenset(self._errors)

    def probe_lock(self, dataset: str) -> asyncio.Lock:
        """Held datasets are probed with one request at a time."""
        lock = self._locks.get(dataset)
        if lock is None:
            lock = self._locks[dataset] = asyncio.Lock()
        return lock

    def hold(self, dataset: str, cls: Classification) -> None:
        """Meta refused `dataset` for a configuration error (reported the first time)."""
        first = dataset not in self._errors
        self._errors[dataset] = cls
        if not first:
            return
        if self._observer is not None:
            self._observer.on_paused(dataset, True)
        err = cls.error
        logger.error(
            "dataset paused: configuration error dataset=%s reason=%s status=%s code=%s "
            "subcode=%s fbtrace_id=%s probe_every_s=%s",
            dataset,
            cls.reason,
            cls.status,
            err.code if err else None,
            err.subcode if err else None,
            cls.fbtrace_id,
            self.probe_every_s,
        )
        self._signal()

    def release(self, dataset: str, cls: Classification) -> None:
        """Meta answered `dataset` on the payload again: the hold ends."""
        if self._errors.pop(dataset, None) is None:
            return
        if self._observer is not None:
            self._observer.on_paused(dataset, False)
        logger.warning(
            "dataset resumed dataset=%s outcome=%s fbtrace_id=%s",
            dataset,
            cls.outcome.value,
            cls.fbtrace_id,
        )
        self._signal()

    # stop switch ----------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """End every delivery wait now; unfinished events come back held (not acked)."""
        self._stopping.set()
        self._signal()

    def resume(self) -> None:
        """Undo `stop` (a rebalance released the holds and has ended): send again."""
        self._stopping.clear()

    async def sleep(
        self, delay: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> bool:
        """Sleep `delay` seconds; return False (early) when `stop` is called."""
        if self.stopping:
            return False
        sleeper = asyncio.ensure_future(sleep(delay))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return not self.stopping

    # rebalances -----------------------------------------------------------------------------
    def rebalance_started(self, grace_s: float, still_waiting: Callable[[], bool]) -> None:
        """faust waits for in-flight events before it gives partitions away: if the rebalance
        still waits after `grace_s`, stop (release the holds) so it can finish."""
        if self._release_timer is not None:
            return

        def release() -> None:
            self._release_timer = None
            if still_waiting() and not self.stopping:
                logger.warning(
                    "rebalance still waiting: releasing dataset holds (events stay unacked)"
                )
                self.stop()

        self._release_timer = asyncio.get_running_loop().call_later(grace_s, release)

    def rebalance_ended(self, *, shutting_down: bool) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        if self.stopping and not shutting_down:
            self.resume()

    # the pipeline's wait --------------------------------------------------------------------
    async def settle(
        self, tasks: Mapping[asyncio.Future[T], str]
    ) -> tuple[list[asyncio.Future[T]], set[asyncio.Future[T]]]:
        """Wait for `tasks` (task -> its dataset) until all are done, or until every one still
        running belongs to a held dataset. Returns (done, still running)."""
        pending = set(tasks)
        done: list[asyncio.Future[T]] = []
        while pending:
            if self._all_held(tasks[t] for t in pending):
                break
            changed = self._change()
            waiters: set[asyncio.Future[Any]] = {*pending, changed}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finished = {t for t in pending if t.done()}
            pending -= finished
            done.extend(t for t in tasks if t in finished)
        return done, pending

    def _all_held(self, datasets: Iterable[str]) -> bool:
        return all(d in self._errors for d in datasets)

    def _change(self) -> asyncio.Future[None]:
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def _signal(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)
