"""Run take-windows through the pipeline concurrently and ack them strictly in order.

faust commits the highest contiguous acked offset of each partition, and its head-gap check
can skip an unacked offset when a later one is acked first (faust-streaming/faust#606). So:

* windows are processed concurrently (up to `max_pending`; then consumption waits), but
* they are acked one after the other, in the order they were taken, each window's events in
  the order faust yielded them (offset order per partition), and only after the window's
  outcome records were acknowledged by Kafka;
* an event that is held (not delivered, not failed: shutdown or a rebalance during a
  configuration hold or a throttle pause) is never acked, and neither is anything after it on
  its partition until faust seeks back to the committed offset (after a rebalance, or at the
  next start), so Kafka redelivers it. Held events are abandoned (`discard`): faust stops
  waiting for them, so shutdown and rebalances are not blocked by a held dataset.

The runner never lets an exception escape into the faust agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Sequence
from typing import Any

from streams.pipeline import InputMessage, WindowResult

__all__ = ["WindowRunner"]

logger = logging.getLogger(__name__)


class WindowRunner:
    """Feeds windows of faust events to `process` and acks them in order via `ack`."""

    def __init__(
        self,
        process: Callable[[Sequence[InputMessage]], Coroutine[Any, Any, WindowResult]],
        ack: Callable[[Any], Awaitable[Any]],
        to_input: Callable[[Any], InputMessage],
        *,
        max_pending: int,
        discard: Callable[[Any], None] = lambda event: None,
        on_pending: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._process = process
        self._ack = ack
        self._to_input = to_input
        self._discard = discard
        self._queue: asyncio.Queue[tuple[asyncio.Task[WindowResult], list[Any]] | None] = (
            asyncio.Queue()
        )
        # Windows in flight (processing or waiting for their turn to be acked).
        self._slots = asyncio.Semaphore(max_pending)
        self._blocked: set[tuple[str, int]] = set()
        self._on_pending = on_pending
        self.acked = 0
        # Next offset to commit per (topic, partition): the last acked offset + 1.
        self.acked_next: dict[tuple[str, int], int] = {}

    async def run(self, windows: AsyncIterable[Sequence[Any]]) -> None:
        acker = asyncio.create_task(self._ack_loop(), name="capi-acker")
        try:
            async for events in windows:
                batch = list(events)
                if not batch:
                    continue
                try:
                    inputs = [self._to_input(ev) for ev in batch]
                except Exception:
                    logger.exception("cannot read window events=%d; holding them", len(batch))
                    self._block(batch)
                    continue
                await self._slots.acquire()  # backpressure: consumption waits here
                task = asyncio.create_task(self._process(inputs))
                await self._queue.put((task, batch))
                self._on_pending(self._queue.qsize())
        finally:
            # Let the acker finish what is queued; the pipeline bounds the time that takes
            # (the deliverer is stopped at shutdown, so pauses end at once).
            try:
                await self._queue.put(None)
                await asyncio.shield(acker)
            except asyncio.CancelledError:
                acker.cancel()
                raise

    async def _ack_loop(self) -> None:
        while True:
            if self._queue.empty():
                self._on_pending(0)
            item = await self._queue.get()
            if item is None:
                return
            task, events = item
            try:
                result = await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
                result = WindowResult(frozenset(range(len(events))), 0, 0)
            except Exception:
                logger.exception("window task failed; holding events=%d", len(events))
                result = WindowResult(frozenset(range(len(events))), 0, 0)
            await self._ack_window(events, result.held)
            self._slots.release()
            self._on_pending(self._queue.qsize())

    async def _ack_window(self, events: Sequence[Any], held: frozenset[int]) -> None:
        for pos, event in enumerate(events):
            tp = _tp(event)
            if pos in held or tp in self._blocked:
                self._discard(event)
            if pos in held:
                if tp not in self._blocked:
                    logger.warning(
                        "holding partition until restart topic=%s partition=%d offset=%d",
                        tp[0],
                        tp[1],
                        event.message.offset,
                    )
                self._blocked.add(tp)
                continue
            if tp in self._blocked:
                continue
            try:
                await self._ack(event)
                self.acked += 1
                self.acked_next[tp] = int(event.message.offset) + 1
            except Exception:
                logger.exception("ack failed topic=%s partition=%d", tp[0], tp[1])
                self._blocked.add(tp)

    def _block(self, events: Sequence[Any]) -> None:
        for event in events:
            with contextlib.suppress(Exception):
                self._blocked.add(_tp(event))
                self._discard(event)

    def reset_blocks(self) -> None:
        """faust sought back to the committed offsets (rebalance): held events come again."""
        if self._blocked:
            logger.info("partitions unblocked after seek to committed count=%d", len(self._blocked))
        self._blocked.clear()
        self.acked_next.clear()


def _tp(event: Any) -> tuple[str, int]:
    msg = event.message
    return (str(msg.topic), int(msg.partition))
