"""The one module that touches faust-streaming's private consumer state.

faust delivers every fetched message through its per-message path (a `Message` and an `Event`
per record, the conductor's callback, the stream's buffer, several tasks and clock reads a
message). `BatchConsumer` keeps faust's consumer (fetcher thread, group membership,
rebalances, seeks, offset commits) and replaces only that hand-over: each partition's fetched
records go as one batch to a `streams.kafka.handover.Handover`, and acks go straight into the
state faust's own commit loop reads. It is registered as the transport `capi://` through
faust's extension point for drivers (the `faust.transports` entry point), and the app uses it
for its consumer only (`broker_consumer`); the producer is faust's.

Private names used here (faust-streaming 0.15.3; `pyproject.toml` pins the tested range,
`tests/kafka/test_faust_private.py` checks them against a real broker):

- `Consumer._drain_messages(fetcher)`: overridden; started by faust's Fetcher service.
- `Consumer._wait_next_records(timeout)`: one fetch over the active partitions.
- `Consumer._read_offset`: the last offset read per partition (faust sets the committed offset
  there when it seeks); read and set as faust's own loop does.
- `Consumer._add_gap(tp, first, last)`: offsets that will never be delivered (transaction
  markers, deleted records) before a read record; faust counts them as acked.
- `Consumer._acked`, `_acked_index`, `_committed_offset`, `_n_acked`, `_commit_every`: an ack
  appends the offset the way `Consumer.ack` does (only at or past the committed offset, once);
  faust's `_new_offset` then commits the highest contiguous offset.
- `Consumer._unacked_messages`: a batch stands in it for its records until each is acked or
  abandoned, so `wait_empty` (before a rebalance, at shutdown) waits for work in progress.
- `Consumer._waiting_for_ack`: woken on ack, as `Consumer.ack` does.
- `Consumer._buffered_partitions`, `app.consumer_generation_id`, `monitor.stream_inbound_time`
  (read by faust's stall detector), as faust's `getmany` uses them.

Acks must come in offset order per partition and never past an unacked record: faust's
`_new_offset` would otherwise commit past it (faust-streaming#606). `streams.kafka.windows`
guarantees that order; a held record is abandoned (`abandon`), never acked.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import MutableSet
from typing import Any, ClassVar, cast

from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.futures import notify

from streams.kafka.handover import Handover, PartitionBatch, Record

__all__ = ["SCHEME", "BatchConsumer", "Transport"]

SCHEME = "capi"


class BatchConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer, handing whole fetched batches to `handover`."""

    @property
    def handover(self) -> Handover:
        """The app's hand-over (`CapiApp.capi_handover`, set before the app starts)."""
        handover = getattr(self.app, "capi_handover", None)
        if not isinstance(handover, Handover):
            raise RuntimeError("the app has no capi_handover: create it with create_app")
        return handover

    # -- acks -----------------------------------------------------------------------------

    def ack_record(self, record: Record) -> None:
        """Mark a record done: faust's next commit may include its offset."""
        batch = record.batch
        tp = batch.tp
        offset = record.offset
        committed = self._committed_offset[tp]
        if batch.generation != self.app.consumer_generation_id:
            pass  # fetched before a rebalance that has ended: faust sought back, it comes again
        elif committed is None or offset >= committed:
            index = self._acked_index[tp]
            if offset not in index:
                index.add(offset)
                self._acked[tp].append(offset)
                self._n_acked += 1
        self._settle(batch)
        notify(self._waiting_for_ack)

    def abandon(self, record: Record) -> None:
        """Stop waiting for a record without acking it (it is redelivered after the next seek)."""
        self._settle(record.batch)

    def _unacked(self) -> MutableSet[Any]:
        """faust's unacked messages (a WeakSet typed for `Message`; a batch stands in it)."""
        return cast("MutableSet[Any]", self._unacked_messages)

    def _settle(self, batch: PartitionBatch) -> None:
        if batch.settle_one():
            self._unacked().discard(batch)

    def drop_queued(self) -> int:
        """Drop the records fetched but not taken yet (a rebalance or a stop follows; faust
        seeks back to the committed offsets, so they come again). Returns how many."""
        dropped = self.handover.clear()
        for record in dropped:
            self._settle(record.batch)
        return len(dropped)

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        self.drop_queued()
        await super().on_partitions_revoked(revoked)

    # -- the hand-over --------------------------------------------------------------------

    async def _drain_messages(self, fetcher: Any) -> None:
        """faust's fetch loop, with one hand-over per fetched partition batch instead of a
        callback per message (same stop, flow, generation and read-offset rules)."""
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, active = await self._wait_next_records(1.0)
                await self.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    await self._seek_after_stopped_flow()
                    continue
                await self._hand_over(records, active)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise

    async def _seek_after_stopped_flow(self) -> None:
        try:
            await self.perform_seek()
        except Exception as exc:  # noqa: BLE001  (faust's getmany logs and goes on, too)
            self.log.warning("exception performing seek when flow not active %r", exc)

    async def _hand_over(self, records: Any, active: set[Any] | None) -> None:
        handover = self.handover
        app = self.app
        # Read before any await: a revocation since (the hand-over cleared, the flow stopped)
        # ends this hand-over. A batch built across one (`_batch` may await) must not be
        # queued: faust's wait before the rebalance would have it acked and committed over
        # the records the revocation dropped.
        generation_id = app.consumer_generation_id
        generation = handover.generation
        inbound = app.monitor.stream_inbound_time if app.monitor is not None else None
        for tp, fetched in records.items():
            if not self._current(generation_id, generation):
                return
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            batch_records = await self._batch(tp, fetched)
            if not batch_records:
                continue
            if not self._current(generation_id, generation):
                return  # revoked meanwhile: faust seeks back before anything is fetched again
            if inbound is not None:
                inbound[tp] = time.monotonic()
            if not await self._put(handover, batch_records, generation):
                return  # flow suspended (a rebalance) or the hand-over cleared: seek follows
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()

    def _current(self, generation_id: int, generation: int) -> bool:
        return (
            self.flow_active
            and self.app.consumer_generation_id == generation_id
            and self.handover.generation == generation
        )

    async def _put(self, handover: Handover, records: list[Record], generation: int) -> bool:
        """Hand a batch over, waiting for room unless the flow is suspended first. The batch
        stands in faust's unacked set from before it is queued (the runner may settle it at
        once) until its records are settled; not at all if it was not handed over."""
        batch = records[0].batch
        unacked = self._unacked()
        unacked.add(batch)
        if handover.put_nowait(records, generation):
            return True
        put = asyncio.ensure_future(handover.put(records, generation))
        suspended = asyncio.ensure_future(self.suspend_flow.wait())
        try:
            await asyncio.wait((put, suspended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            suspended.cancel()
            if not put.done():
                put.cancel()  # still waiting for room: cancelled before it could queue
        if put.done() and not put.cancelled() and put.result():
            return True
        unacked.discard(batch)
        return False

    async def _batch(self, tp: Any, fetched: list[Any]) -> list[Record]:
        """The fetched records at or past the read offset, as one batch; offsets skipped
        before and between them are gaps (faust counts them as acked)."""
        read = self._read_offset[tp]
        if read is not None and fetched[0].offset < read:
            fetched = [r for r in fetched if r.offset >= read]
            if not fetched:
                return []
        first, last = fetched[0].offset, fetched[-1].offset
        if read and first - read > 1:
            await self._add_gap(tp, read + 1, first - 1)
        if last - first + 1 != len(fetched):  # holes between the records
            for before, after in itertools.pairwise(fetched):
                if before.offset and after.offset - before.offset > 1:
                    await self._add_gap(tp, before.offset + 1, after.offset - 1)
        batch = PartitionBatch(tp, len(fetched), self.app.consumer_generation_id)
        topic, partition = str(tp.topic), int(tp.partition)
        self._read_offset[tp] = last
        return [
            Record(batch, topic, partition, r.offset, r.timestamp, r.key, r.value, r.headers)
            for r in fetched
        ]


class Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport with `BatchConsumer` (URL scheme `capi://`)."""

    Consumer: ClassVar[type[Any]] = cast(type[Any], BatchConsumer)
