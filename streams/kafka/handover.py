"""The batch hand-over: fetched partition batches in, take-windows out.

The consumer (`streams.kafka.faust_private.BatchConsumer`) puts each partition's fetched records
as one `PartitionBatch`; the worker's agent takes windows of records (`Handover.windows`) and
acks or abandons every record, in order per partition (`streams.kafka.windows`). No per-message
faust machinery (stream, event, message objects, per-message tasks) runs on this path.

A batch stands for its records in faust's set of unacked messages (see `faust_private`): it is
"acked" there once every record was acked or abandoned, so faust's waits before a rebalance and
at shutdown cover the records in flight.

How much is read ahead is bounded: `put` waits while the queued records reach `max_events` or
their values `max_bytes` (one batch always fits, so a batch larger than the bound cannot stall
the consumer).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

__all__ = ["Handover", "PartitionBatch", "Record"]


class PartitionBatch:
    """The records one fetch returned for one partition, as faust's consumer tracks them: an
    object in its unacked set with `acked` and `refcount` (what faust's wait reads)."""

    __slots__ = ("__weakref__", "acked", "generation", "pending", "refcount", "tp")

    def __init__(self, tp: Any, size: int, generation: int) -> None:
        self.tp = tp
        self.pending = size  # records neither acked nor abandoned yet
        self.refcount = size  # faust's wait_empty logs it
        self.acked = False
        self.generation = generation

    def settle_one(self) -> bool:
        """One record is acked or abandoned; True when that was the batch's last."""
        self.pending -= 1
        self.refcount = self.pending
        if self.pending <= 0 and not self.acked:
            self.acked = True
            return True
        return False

    def __repr__(self) -> str:
        return f"<PartitionBatch {self.tp} pending={self.pending}>"


class Record:
    """One input message of a fetched batch. `message` is the record itself, so the window
    runner reads it like a faust event (`event.message.offset`)."""

    __slots__ = ("batch", "headers", "key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(
        self,
        batch: PartitionBatch,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        self.batch = batch
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp_ms
        self.key = key
        self.value = value
        self.headers = headers

    @property
    def message(self) -> Record:
        return self


class Handover:
    """A bounded queue of records, taken as windows (FIFO across partitions, in fetch order)."""

    def __init__(
        self,
        max_events: int,
        max_bytes: int = 1 << 62,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("max_events and max_bytes must be >= 1")
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._queue: deque[tuple[list[Record], int]] = deque()
        self._queued = 0
        self._queued_bytes = 0
        self._changed = asyncio.Event()  # set when records were added or taken
        self._clock = clock
        self.generation = 0  # bumped by `clear` (a rebalance): older puts are dropped

    @property
    def queued(self) -> int:
        """Records waiting to be taken."""
        return self._queued

    @property
    def queued_bytes(self) -> int:
        """Bytes of the queued records' values."""
        return self._queued_bytes

    def _fits(self, n: int, size: int) -> bool:
        if not self._queued:
            return True
        return self._queued + n <= self._max_events and self._queued_bytes + size <= self._max_bytes

    def put_nowait(self, records: list[Record], generation: int) -> bool:
        """Queue the records if they fit now (False: they do not, or `clear` ran since
        `generation` was read; then nothing was queued)."""
        if generation != self.generation or not records:
            return False
        size = _value_bytes(records)
        if not self._fits(len(records), size):
            return False
        self._append(records, size)
        return True

    def _append(self, records: list[Record], size: int) -> None:
        self._queue.append((records, size))
        self._queued += len(records)
        self._queued_bytes += size
        self._changed.set()

    async def put(self, records: list[Record], generation: int) -> bool:
        """Queue one partition batch's records; waits while the bound is reached. False (the
        records dropped) when `clear` ran since `generation` was read."""
        size = _value_bytes(records)
        while not self._fits(len(records), size):
            if generation != self.generation:
                return False
            self._changed.clear()
            await self._changed.wait()
        if generation != self.generation or not records:
            return False
        self._append(records, size)
        return True

    def clear(self) -> list[Record]:
        """Drop every queued record (the consumer seeks back: they will be fetched again) and
        return them, so the caller can release them from faust's unacked set."""
        self.generation += 1
        dropped = [record for records, _ in self._queue for record in records]
        self._queue.clear()
        self._queued = 0
        self._queued_bytes = 0
        self._changed.set()
        return dropped

    def _take(self, room: int) -> list[Record]:
        taken: list[Record] = []
        while self._queue and room > 0:
            head, size = self._queue[0]
            if len(head) <= room:
                self._queue.popleft()
                part = head
            else:  # split: the rest stays at the head of the queue
                part = head[:room]
                del head[:room]
                size = _value_bytes(part)
                self._queue[0] = (head, self._queue[0][1] - size)
            taken.extend(part)
            room -= len(part)
            self._queued_bytes -= size
        self._queued -= len(taken)
        self._changed.set()
        return taken

    async def windows(self, take_max: int, within_s: float) -> AsyncIterator[list[Record]]:
        """Windows of at most `take_max` records: each closes when full or `within_s` after
        its first record arrived."""
        loop = asyncio.get_running_loop()
        clock = self._clock or loop.time
        while True:
            while not self._queued:
                self._changed.clear()
                await self._changed.wait()
            window = self._take(take_max)
            deadline = clock() + within_s
            while len(window) < take_max:
                if not self._queued:
                    remaining = deadline - clock()
                    if remaining <= 0:
                        break
                    self._changed.clear()
                    try:
                        await asyncio.wait_for(self._changed.wait(), remaining)
                    except TimeoutError:
                        break
                    continue
                window.extend(self._take(take_max - len(window)))
            yield window


def _value_bytes(records: list[Record]) -> int:
    return sum(len(r.value) for r in records if r.value is not None)
