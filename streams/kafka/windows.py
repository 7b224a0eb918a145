"""Run take-windows through the pipeline concurrently and ack every partition strictly in order.

faust commits the highest contiguous acked offset of each partition, and its head-gap check
can skip an unacked offset when a later one is acked first (faust-streaming/faust#606). So:

* windows are processed concurrently (up to `max_pending` at once), and their results are
  taken in the order the windows were taken;
* every event goes into its partition's queue in offset order, and a partition's queue is
  acked only from its head, only for events whose outcome records Kafka acknowledged;
* events the pipeline reports as `waiting` (their dataset is held: streams/capi/holds.py)
  finish later (`WindowResult.later`), so other datasets keep flowing; the runner knows no
  more about holds than that. Events behind them on their partition wait in the queue,
  unacked, up to `max_unacked` events and `max_unacked_bytes` bytes of input in all, past
  which consumption waits (memory stays bounded); a window's input values are released
  (`release`) once it has been processed, so a held event keeps only its coordinates;
* an event that ends `held` (shutdown or a rebalance released the hold) is never acked, and
  neither is anything after it on its partition until faust seeks back to the committed
  offset (after a rebalance, or at the next start), so Kafka redelivers it. Such events are
  abandoned (`discard`), so faust does not wait for them at shutdown or in a rebalance.
  Events taken for a blocked partition are abandoned at once, never processed (sent) again;
* a window that fails unexpectedly (`WindowResult.broken`, or its task raised) is held like
  that too, and `on_broken` is called: its partitions stay blocked until the next seek, so the
  caller stops the worker (the group then consumes from the committed offsets again).

The runner never lets an exception escape into the faust agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Sequence
from typing import Any

from streams.kafka.partition_acks import Entry, PartitionAcks, tp_of
from streams.pipeline import InputMessage, WindowResult

__all__ = ["WindowRunner"]

logger = logging.getLogger(__name__)


class WindowRunner:
    """Feeds windows of faust events to `process` and acks them in order via `ack`
    (the per-partition ack queues live in `PartitionAcks`)."""

    def __init__(
        self,
        process: Callable[[Sequence[InputMessage]], Coroutine[Any, Any, WindowResult]],
        ack: Callable[[Any], Awaitable[Any]],
        to_input: Callable[[Any], InputMessage],
        *,
        max_pending: int,
        max_unacked: int = 20_000,
        max_unacked_bytes: int = 256 * 1024 * 1024,
        discard: Callable[[Any], None] = lambda event: None,
        release: Callable[[Any], None] = lambda event: None,
        on_pending: Callable[[int], None] = lambda n: None,
        on_broken: Callable[[int], None] = lambda events: None,
    ) -> None:
        self._process = process
        self._to_input = to_input
        self._release = release
        self._on_pending = on_pending
        self._on_broken = on_broken
        self._queue: asyncio.Queue[
            tuple[asyncio.Task[WindowResult], list[Any], list[int]] | None
        ] = asyncio.Queue()
        # Windows in flight (processing or waiting for their turn).
        self._slots = asyncio.Semaphore(max_pending)
        self._acks = PartitionAcks(
            ack, discard, max_unacked=max_unacked, max_unacked_bytes=max_unacked_bytes
        )
        self.broken = 0  # windows (or their held parts) that failed unexpectedly
        self._later: set[asyncio.Task[None]] = set()

    @property
    def unacked(self) -> int:
        """Events taken but not acked yet (processing, waiting, or behind a waiting event)."""
        return self._acks.unacked

    @property
    def unacked_bytes(self) -> int:
        """Input bytes (keys and values) of the unacked events."""
        return self._acks.unacked_bytes

    @property
    def acked(self) -> int:
        """Events acked so far."""
        return self._acks.acked

    @property
    def acked_next(self) -> dict[tuple[str, int], int]:
        """Next offset to commit per (topic, partition): the last acked offset + 1."""
        return self._acks.acked_next

    async def run(self, windows: AsyncIterable[Sequence[Any]]) -> None:
        acker = asyncio.create_task(self._ack_loop(), name="capi-acker")
        try:
            source = aiter(windows)
            while True:
                # backpressure: the next window is taken only once there is a slot for it and
                # no more than the limits are unacked (records not taken stay in the bounded
                # read-ahead, not in a window waiting here)
                await self._slots.acquire()
                await self._acks.room.wait()
                try:
                    events = await anext(source)
                except StopAsyncIteration:
                    self._slots.release()
                    break
                batch = self._acks.unblocked(events)
                try:
                    inputs = [self._to_input(ev) for ev in batch]
                except Exception:
                    logger.exception("cannot read window events=%d; holding them", len(batch))
                    self._broke(len(batch))
                    self._acks.block(batch)
                    batch = []
                if not batch:
                    self._slots.release()
                    continue
                sizes = [_size(ev) for ev in batch]
                self._acks.taken(sizes)
                task = asyncio.create_task(self._process(inputs))
                del inputs  # the task holds them while it runs, no longer
                await self._queue.put((task, batch, sizes))
                self._on_pending(self._queue.qsize())
        finally:
            try:
                await self._queue.put(None)
                await asyncio.shield(acker)
                if self._later:
                    await asyncio.shield(asyncio.gather(*self._later, return_exceptions=True))
            except asyncio.CancelledError:
                acker.cancel()
                for later in self._later:
                    later.cancel()
                raise

    async def _ack_loop(self) -> None:
        while True:
            if self._queue.empty():
                self._on_pending(0)
            item = await self._queue.get()
            if item is None:
                return
            task, events, sizes = item
            result = await _settle(task, len(events))
            if result.broken:
                self._broke(len(events))
            for event in events:
                self._release(event)  # processed: only its coordinates are needed now
            entries = self._acks.enqueue(events, sizes, result)
            self._slots.release()
            if result.later is not None and result.waiting:
                waiting = [(entries[p], p) for p in sorted(result.waiting)]
                later = asyncio.create_task(self._settle_later(result.later, waiting))
                self._later.add(later)
                later.add_done_callback(self._later.discard)
            await self._acks.pump(list(dict.fromkeys(tp_of(ev) for ev in events)))
            self._on_pending(self._queue.qsize())

    def _broke(self, events: int) -> None:
        self.broken += 1
        with contextlib.suppress(Exception):
            self._on_broken(events)

    async def _settle_later(
        self, later: Awaitable[WindowResult], waiting: list[tuple[Entry, int]]
    ) -> None:
        """The held datasets' events of one window are done: mark them and ack what can be."""
        try:
            result = await later
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("held batches failed; holding events=%d", len(waiting))
            result = WindowResult(frozenset(p for _, p in waiting), 0, 0, broken=True)
        if result.broken:
            self._broke(len(waiting))
        self._acks.settle(waiting, result)
        await self._acks.pump(list(dict.fromkeys(tp_of(entry.event) for entry, _ in waiting)))

    def reset_blocks(self) -> None:
        """faust sought back to the committed offsets (rebalance): held events come again."""
        self._acks.reset()


async def _settle(task: asyncio.Task[WindowResult], n: int) -> WindowResult:
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
    except Exception:
        logger.exception("window task failed; holding events=%d", n)
        return WindowResult(frozenset(range(n)), 0, 0, broken=True)
    return WindowResult(frozenset(range(n)), 0, 0)


def _size(event: Any) -> int:
    """Bytes of an event's input message (key and value)."""
    msg = event.message
    size = 0
    for part in (getattr(msg, "key", None), getattr(msg, "value", None)):
        if isinstance(part, bytes | bytearray):
            size += len(part)
    return size
