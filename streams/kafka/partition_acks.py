"""Per-partition in-order ack queues of the window runner (see streams/kafka/windows.py).

Every event taken goes into its partition's queue in offset order; a queue is acked only from
its head, only for events that are done. A held event (or a failed ack) blocks its partition
until faust seeks back to the committed offsets (`reset`); blocked events are abandoned
(`discard`), never acked. Also counts the unacked events and their input bytes, and keeps
`room` set only while they are under the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from streams.pipeline import WindowResult

__all__ = ["DONE", "HELD", "LATER", "Entry", "PartitionAcks", "tp_of"]

logger = logging.getLogger("streams.kafka.windows")  # the runner's log, as before the split

DONE, LATER, HELD = 0, 1, 2  # an event's state: acked when DONE, never when HELD


class Entry:
    __slots__ = ("event", "size", "state")

    def __init__(self, event: Any, state: int, size: int) -> None:
        self.event = event
        self.state = state
        self.size = size


class PartitionAcks:
    """The partitions' ack queues, their blocks, and the unacked-events accounting."""

    def __init__(
        self,
        ack: Callable[[Any], Awaitable[Any]],
        discard: Callable[[Any], None],
        *,
        max_unacked: int,
        max_unacked_bytes: int,
    ) -> None:
        self._ack = ack
        self._discard = discard
        self._max_unacked = max_unacked
        self._max_unacked_bytes = max_unacked_bytes
        self.unacked = 0
        self.unacked_bytes = 0
        self.room = asyncio.Event()  # set while under the unacked limits
        self.room.set()
        self._partitions: dict[tuple[str, int], deque[Entry]] = {}
        self._blocked: set[tuple[str, int]] = set()
        # partitions with a held event queued: later events cannot be acked, take none
        self._closed: set[tuple[str, int]] = set()
        self._pumping = asyncio.Lock()
        self.acked = 0
        # Next offset to commit per (topic, partition): the last acked offset + 1.
        self.acked_next: dict[tuple[str, int], int] = {}

    def taken(self, sizes: Sequence[int]) -> None:
        """Count a window's events (of these input sizes) as unacked."""
        self.unacked += len(sizes)
        self.unacked_bytes += sum(sizes)
        if self._full():
            self.room.clear()

    def _full(self) -> bool:
        return self.unacked >= self._max_unacked or self.unacked_bytes >= self._max_unacked_bytes

    def unblocked(self, events: Sequence[Any]) -> list[Any]:
        """The events of a window, less those of blocked partitions (abandoned at once)."""
        closed = self._blocked | self._closed
        if not closed:
            return list(events)
        keep = []
        for event in events:
            if tp_of(event) in closed:
                self._discard(event)
            else:
                keep.append(event)
        return keep

    def enqueue(
        self, events: Sequence[Any], sizes: Sequence[int], result: WindowResult
    ) -> list[Entry]:
        entries = []
        for pos, event in enumerate(events):
            if pos in result.held:
                state = HELD
                self._closed.add(tp_of(event))
            elif pos in result.waiting:
                state = LATER
            else:
                state = DONE
            entry = Entry(event, state, sizes[pos])
            entries.append(entry)
            self._partitions.setdefault(tp_of(event), deque()).append(entry)
        return entries

    def settle(self, waiting: list[tuple[Entry, int]], result: WindowResult) -> None:
        """Mark waiting entries (at these window positions) done or held, per `result`."""
        for entry, pos in waiting:
            entry.state = HELD if pos in result.held else DONE
            if entry.state == HELD:
                self._closed.add(tp_of(entry.event))

    async def pump(self, partitions: list[tuple[str, int]]) -> None:
        """Ack each partition's queue from its head, as far as the events are done
        (partitions in the order given: the order they appear in the window)."""
        async with self._pumping:
            await self._pump_locked(partitions)

    async def _pump_locked(self, partitions: list[tuple[str, int]]) -> None:
        for tp in partitions:
            queue = self._partitions.get(tp)
            while queue:
                head = queue[0]
                if head.state == LATER:
                    break
                queue.popleft()
                self.unacked -= 1
                self.unacked_bytes -= head.size
                if head.state == HELD or tp in self._blocked:
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
            self.room.clear()
        else:
            self.room.set()

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

    def block(self, events: Sequence[Any]) -> None:
        for event in events:
            with contextlib.suppress(Exception):
                self._hold(tp_of(event), event)

    def reset(self) -> None:
        """faust sought back to the committed offsets (rebalance): held events come again."""
        if self._blocked:
            logger.info("partitions unblocked after seek to committed count=%d", len(self._blocked))
        self._blocked.clear()
        self._closed.clear()
        self.acked_next.clear()


def tp_of(event: Any) -> tuple[str, int]:
    msg = event.message
    return (str(msg.topic), int(msg.partition))
