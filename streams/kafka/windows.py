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
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Sequence
from typing import Any

from streams.pipeline import InputMessage, WindowResult

__all__ = ["WindowRunner"]

logger = logging.getLogger(__name__)

_DONE, _LATER, _HELD = 0, 1, 2  # an event's state: acked when _DONE, never when _HELD


class _Entry:
    __slots__ = ("event", "size", "state")

    def __init__(self, event: Any, state: int, size: int) -> None:
        self.event = event
        self.state = state
        self.size = size


class WindowRunner:
    """Feeds windows of faust events to `process` and acks them in order via `ack`."""

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
        self._ack = ack
        self._to_input = to_input
        self._discard = discard
        self._release = release
        self._on_pending = on_pending
        self._on_broken = on_broken
        self._queue: asyncio.Queue[
            tuple[asyncio.Task[WindowResult], list[Any], list[int]] | None
        ] = asyncio.Queue()
        # Windows in flight (processing or waiting for their turn).
        self._slots = asyncio.Semaphore(max_pending)
        self._max_unacked = max_unacked
        self._max_unacked_bytes = max_unacked_bytes
        self._unacked = 0
        self._unacked_bytes = 0
        self.broken = 0  # windows (or their held parts) that failed unexpectedly
        self._room = asyncio.Event()
        self._room.set()
        self._partitions: dict[tuple[str, int], deque[_Entry]] = {}
        self._blocked: set[tuple[str, int]] = set()
        # partitions with a held event queued: later events cannot be acked, take none
        self._closed: set[tuple[str, int]] = set()
        self._later: set[asyncio.Task[None]] = set()
        self._pumping = asyncio.Lock()
        self.acked = 0
        # Next offset to commit per (topic, partition): the last acked offset + 1.
        self.acked_next: dict[tuple[str, int], int] = {}

    @property
    def unacked(self) -> int:
        """Events taken but not acked yet (processing, waiting, or behind a waiting event)."""
        return self._unacked

    @property
    def unacked_bytes(self) -> int:
        """Input bytes (keys and values) of the unacked events."""
        return self._unacked_bytes

    async def run(self, windows: AsyncIterable[Sequence[Any]]) -> None:
        acker = asyncio.create_task(self._ack_loop(), name="capi-acker")
        try:
            async for events in windows:
                await self._slots.acquire()  # backpressure: consumption waits here ...
                await self._room.wait()  # ... and here, while too much is unacked
                batch = self._unblocked(events)
                try:
                    inputs = [self._to_input(ev) for ev in batch]
                except Exception:
                    logger.exception("cannot read window events=%d; holding them", len(batch))
                    self._broke(len(batch))
                    self._block(batch)
                    batch = []
                if not batch:
                    self._slots.release()
                    continue
                sizes = [_size(ev) for ev in batch]
                self._unacked += len(batch)
                self._unacked_bytes += sum(sizes)
                if self._full():
                    self._room.clear()
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
            entries = self._enqueue(events, sizes, result)
            self._slots.release()
            if result.later is not None and result.waiting:
                waiting = [(entries[p], p) for p in sorted(result.waiting)]
                later = asyncio.create_task(self._settle_later(result.later, waiting))
                self._later.add(later)
                later.add_done_callback(self._later.discard)
            await self._pump(list(dict.fromkeys(_tp(ev) for ev in events)))
            self._on_pending(self._queue.qsize())

    def _full(self) -> bool:
        return self._unacked >= self._max_unacked or self._unacked_bytes >= self._max_unacked_bytes

    def _unblocked(self, events: Sequence[Any]) -> list[Any]:
        """The events of a window, less those of blocked partitions (abandoned at once)."""
        closed = self._blocked | self._closed
        if not closed:
            return list(events)
        keep = []
        for event in events:
            if _tp(event) in closed:
                self._discard(event)
            else:
                keep.append(event)
        return keep

    def _broke(self, events: int) -> None:
        self.broken += 1
        with contextlib.suppress(Exception):
            self._on_broken(events)

    def _enqueue(
        self, events: Sequence[Any], sizes: Sequence[int], result: WindowResult
    ) -> list[_Entry]:
        entries = []
        for pos, event in enumerate(events):
            if pos in result.held:
                state = _HELD
                self._closed.add(_tp(event))
            elif pos in result.waiting:
                state = _LATER
            else:
                state = _DONE
            entry = _Entry(event, state, sizes[pos])
            entries.append(entry)
            self._partitions.setdefault(_tp(event), deque()).append(entry)
        return entries

    async def _settle_later(
        self, later: Awaitable[WindowResult], waiting: list[tuple[_Entry, int]]
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
        for entry, pos in waiting:
            entry.state = _HELD if pos in result.held else _DONE
            if entry.state == _HELD:
                self._closed.add(_tp(entry.event))
        await self._pump(list(dict.fromkeys(_tp(entry.event) for entry, _ in waiting)))

    async def _pump(self, partitions: list[tuple[str, int]]) -> None:
        """Ack each partition's queue from its head, as far as the events are done
        (partitions in the order given: the order they appear in the window)."""
        async with self._pumping:
            await self._pump_locked(partitions)

    async def _pump_locked(self, partitions: list[tuple[str, int]]) -> None:
        for tp in partitions:
            queue = self._partitions.get(tp)
            while queue:
                head = queue[0]
                if head.state == _LATER:
                    break
                queue.popleft()
                self._unacked -= 1
                self._unacked_bytes -= head.size
                if head.state == _HELD or tp in self._blocked:
                    self._hold(tp, head.event)
                    continue
                try:
                    await self._ack(head.event)
                    self.acked += 1
                    self.acked_next[tp] = int(head.event.message.offset) + 1
                except Exception:
                    logger.exception("ack failed topic=%s partition=%d", tp[0], tp[1])
                    self._hold(tp, head.event)
            if queue is not None and not queue:
                del self._partitions[tp]
        if self._full():
            self._room.clear()
        else:
            self._room.set()

    def _hold(self, tp: tuple[str, int], event: Any) -> None:
        if tp not in self._blocked:
            logger.warning(
                "holding partition until the next seek topic=%s partition=%d offset=%d",
                tp[0],
                tp[1],
                event.message.offset,
            )
            self._blocked.add(tp)
        self._discard(event)

    def _block(self, events: Sequence[Any]) -> None:
        for event in events:
            with contextlib.suppress(Exception):
                self._hold(_tp(event), event)

    def reset_blocks(self) -> None:
        """faust sought back to the committed offsets (rebalance): held events come again."""
        if self._blocked:
            logger.info("partitions unblocked after seek to committed count=%d", len(self._blocked))
        self._blocked.clear()
        self._closed.clear()
        self.acked_next.clear()


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


def _tp(event: Any) -> tuple[str, int]:
    msg = event.message
    return (str(msg.topic), int(msg.partition))
