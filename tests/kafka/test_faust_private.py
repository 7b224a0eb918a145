"""The contract `streams/kafka/faust_private.py` relies on, against the real broker.

`BatchConsumer` uses faust-streaming's private consumer state (listed in its docstring). These
tests pin the behaviour an upgrade of faust could break: acks written into faust's state are
committed by faust; transaction markers before and between records do not stall commits; a held
window is never committed, not even when later windows are done; faust's wait before a
rebalance covers records taken but not acked, and records fetched but not taken are dropped
and come again; acks from before a rebalance do not commit. The worker's SIGKILL ledger with
multi-event messages runs through the same consumer (tests/kafka/test_multi_event_ledger.py).

The apps here are faust apps in the test's event loop with the `capi://` transport and a bare
`Handover`; the tests take windows and ack or abandon records themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaProducer
from faust.types import TP

from streams.domain.records import SourceRef
from streams.kafka.faust_private import SCHEME, BatchConsumer
from streams.kafka.handover import Handover, PartitionBatch, Record
from streams.kafka.windows import WindowRunner
from streams.pipeline import InputMessage, WindowResult
from tests.kafka.harness import Topics, committed, create_topics, end_offsets, produce

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def batch_app(
    bootstrap: str, topics: Topics, datadir: Path, *, max_poll: int = 10, read_ahead: int = 1000
) -> AsyncIterator[faust.App]:
    """A faust app consuming `topics.input` through `BatchConsumer` into a bare hand-over."""
    app = faust.App(
        topics.group,
        env={},
        broker=f"kafka://{bootstrap}",
        broker_consumer=f"{SCHEME}://{bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=3600.0,  # the tests commit themselves
        broker_max_poll_records=max_poll,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        logging_config=None,
    )
    app.capi_handover = Handover(read_ahead)  # type: ignore[attr-defined]
    app.topics.add(
        app.topic(
            topics.input,
            value_type=bytes,
            key_type=bytes,
            value_serializer="raw",
            key_serializer="raw",
        )
    )
    await app.start()
    try:
        assert isinstance(app.consumer, BatchConsumer)
        yield app
    finally:
        await app.stop()


def consumer_of(app: faust.App) -> BatchConsumer:
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    return consumer


async def take(app: faust.App, n: int, timeout_s: float = 120) -> list[Record]:
    """At least `n` records from the app's hand-over (windows as they come)."""
    handover: Handover = app.capi_handover  # type: ignore[attr-defined]
    out: list[Record] = []
    windows = handover.windows(1000, 0.05)
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"took {len(out)} of {n} records"
        out.extend(await asyncio.wait_for(anext(windows), remaining))
    return out


async def wait_for(check: Callable[[], Any], timeout_s: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def commit_and_read(app: faust.App, bootstrap: str, topics: Topics) -> dict[int, int]:
    await consumer_of(app).commit()
    return await committed(bootstrap, topics.group, topics.input, topics.partitions)


async def test_acks_are_committed_by_faust_and_a_held_window_never_is(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    """Through the window runner: window 1 waits (its dataset is held), the windows behind it
    are done. Nothing is committed, however often faust commits. Window 1 then ends held (a
    stop released the hold): still nothing, the done windows behind it are abandoned too. After
    a seek back to the committed offset every record comes again and, done, is committed."""
    topics = Topics.unique(unique_topic, unique_group, partitions=1)
    await create_topics(kafka_bootstrap, topics)
    await produce(kafka_bootstrap, topics.input, [f"v{i}".encode() for i in range(30)])
    async with batch_app(kafka_bootstrap, topics, tmp_path, max_poll=10) as app:
        consumer = consumer_of(app)
        handover: Handover = app.capi_handover  # type: ignore[attr-defined]
        seen: list[int] = []
        first: asyncio.Future[WindowResult] | None = None

        async def process(inputs: Sequence[InputMessage]) -> WindowResult:
            nonlocal first
            seen.extend(m.source.offset for m in inputs)
            everyone = frozenset(range(len(inputs)))
            if first is None:
                first = asyncio.get_running_loop().create_future()
                return WindowResult(frozenset(), 0, 0, waiting=everyone, later=first)
            return WindowResult(frozenset(), len(inputs), 0)

        async def ack(record: Record) -> None:
            consumer.ack_record(record)

        runner = WindowRunner(process, ack, _to_input, max_pending=4, discard=consumer.abandon)
        task = asyncio.create_task(runner.run(handover.windows(10, 0.05)))
        try:

            async def all_seen() -> bool:
                return len(seen) >= 30

            await wait_for(all_seen, what="30 records processed")
            assert first is not None and seen[:10] == list(range(10))
            for _ in range(3):
                assert await commit_and_read(app, kafka_bootstrap, topics) == {0: 0}
                await asyncio.sleep(0.3)
            first.set_result(WindowResult(frozenset(range(10)), 0, 0))

            async def settled() -> bool:
                return runner.unacked == 0

            await wait_for(settled, what="the held window settled")
            assert runner.acked == 0
            assert await commit_and_read(app, kafka_bootstrap, topics) == {0: 0}
            # back to the committed offset (nothing committed: the start), as faust does after
            # a rebalance: all come again
            runner.reset_blocks()
            await consumer.seek(TP(topics.input, 0), 0)

            async def all_committed() -> bool:
                return await commit_and_read(app, kafka_bootstrap, topics) == {0: 30}

            await wait_for(all_committed, what="offset 30 committed")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert sorted(seen[30:]) == list(range(30))


async def test_transaction_markers_before_and_between_records_do_not_stall_commits(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    """Each transaction leaves a control record (an offset never delivered) after its records,
    between fetched records and at the head of the next start. Acked in order, the commit
    reaches the last record both times."""
    topics = Topics.unique(unique_topic, unique_group, partitions=1)
    await create_topics(kafka_bootstrap, topics)

    async def transactions(first: int, count: int) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, transactional_id=f"{unique_group}-tx"
        )
        await producer.start()
        try:
            for t in range(count):
                async with producer.transaction():
                    for i in range(4):
                        await producer.send(topics.input, f"t{first + t}-{i}".encode())
        finally:
            await producer.stop()

    await transactions(0, 5)  # records 0-3, marker 4, records 5-8, marker 9, ...
    async with batch_app(kafka_bootstrap, topics, tmp_path / "a", max_poll=7) as app:
        records = await take(app, 20)
        offsets = [r.offset for r in records]
        assert offsets == [o for o in range(25) if o % 5 != 4]
        for record in records:
            consumer_of(app).ack_record(record)
        assert await commit_and_read(app, kafka_bootstrap, topics) == {0: 24}
    await transactions(5, 2)  # the restart begins at the marker at offset 24
    async with batch_app(kafka_bootstrap, topics, tmp_path / "b", max_poll=7) as app:
        records = await take(app, 8)
        assert [r.offset for r in records] == [25, 26, 27, 28, 30, 31, 32, 33]
        for record in records:
            consumer_of(app).ack_record(record)
        assert await commit_and_read(app, kafka_bootstrap, topics) == {0: 34}
    ends = await end_offsets(kafka_bootstrap, topics.input, 1)
    assert ends == {0: 35}  # the last marker is never delivered, so never committed


async def test_a_batch_built_across_a_revocation_is_not_handed_over(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    """The consumer builds a batch with a gap (a transaction marker) and faust's `_add_gap`
    yields to the event loop; a revocation drops the read-ahead right then. The batch must not
    be queued after it: faust's wait before the rebalance would have it acked and committed
    over the dropped records (with the committed offset popped, faust's head check is off)."""
    topics = Topics.unique(unique_topic, unique_group, partitions=1)
    await create_topics(kafka_bootstrap, topics)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"{unique_group}-tx"
    )
    await producer.start()
    try:
        for t in range(2):  # records 0-3, marker 4, records 5-8, marker 9
            async with producer.transaction():
                for i in range(4):
                    await producer.send(topics.input, f"t{t}-{i}".encode())
    finally:
        await producer.stop()
    paused, release = asyncio.Event(), asyncio.Event()
    async with batch_app(kafka_bootstrap, topics, tmp_path, max_poll=100) as app:
        consumer = consumer_of(app)
        handover: Handover = app.capi_handover  # type: ignore[attr-defined]
        add_gap = consumer._add_gap

        async def slow_add_gap(tp: Any, first: int, last: int) -> None:
            paused.set()
            await release.wait()
            await add_gap(tp, first, last)

        consumer._add_gap = slow_add_gap  # type: ignore[method-assign,assignment]
        try:
            await asyncio.wait_for(paused.wait(), 120)
            assert handover.queued == 0
            consumer.drop_queued()  # what the revocation does first
            release.set()
            await asyncio.sleep(1)
            assert handover.queued == 0, "a batch built across the revocation was handed over"
            assert not any(isinstance(m, PartitionBatch) for m in consumer._unacked_messages)
        finally:
            release.set()
            consumer.drop_queued()  # nothing left for faust's wait at the app's stop


async def test_a_rebalance_waits_for_taken_records_and_drops_the_rest(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    """Member A takes one window and acks none of it; more is fetched behind it. Member B
    joins: A's rebalance waits for the taken records (faust's wait_empty sees their batches),
    not for those fetched but not taken (dropped). The taken records are abandoned, as a
    released hold does; after the rebalance both members get every record again from the
    committed offsets, and acks from before the rebalance commit nothing."""
    topics = Topics.unique(unique_topic, unique_group, partitions=2)
    await create_topics(kafka_bootstrap, topics)
    await produce(
        kafka_bootstrap, topics.input, [f"v{i}".encode() for i in range(400)], key=lambda i: b""
    )
    ends = await end_offsets(kafka_bootstrap, topics.input, 2)
    async with batch_app(kafka_bootstrap, topics, tmp_path / "a", max_poll=50) as a:
        ca = consumer_of(a)
        handover_a: Handover = a.capi_handover  # type: ignore[attr-defined]
        windows_a = handover_a.windows(60, 0.05)
        taken = await asyncio.wait_for(anext(windows_a), 120)
        await wait_for(lambda: _true(handover_a.queued > 0), what="more fetched behind it")
        async with batch_app(kafka_bootstrap, topics, tmp_path / "b", max_poll=50) as b:
            await wait_for(lambda: _true(a.rebalancing), what="A rebalancing")
            await asyncio.sleep(2)
            assert a.rebalancing, "the rebalance did not wait for the taken records"
            assert handover_a.queued == 0  # fetched, not taken: dropped at revocation
            for record in taken:
                ca.abandon(record)
            await wait_for(lambda: _true(not a.rebalancing), what="the rebalance to end")
            for record in taken:  # too late: fetched before the rebalance
                ca.ack_record(record)
            assert await commit_and_read(a, kafka_bootstrap, topics) == {0: 0, 1: 0}

            got: dict[tuple[int, int], int] = {}
            apps = [(a, windows_a), (b, b.capi_handover.windows(60, 0.05))]  # type: ignore[attr-defined]

            async def drain(app: faust.App, windows: AsyncIterator[list[Record]]) -> None:
                async for window in windows:
                    for record in window:
                        got[(record.partition, record.offset)] = 1
                        consumer_of(app).ack_record(record)

            tasks = [asyncio.create_task(drain(app, w)) for app, w in apps]
            try:

                async def everything() -> bool:
                    for app, _ in apps:
                        await consumer_of(app).commit()
                    done = await committed(kafka_bootstrap, topics.group, topics.input, 2)
                    return done == ends

                await wait_for(everything, what="every offset committed")
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    assert len(got) == 400


async def _true(value: bool) -> bool:
    return value


def _to_input(record: Record) -> InputMessage:
    return InputMessage(
        source=SourceRef(record.topic, record.partition, record.offset, record.timestamp),
        key=record.key,
        value=record.value,
        headers={},
    )
