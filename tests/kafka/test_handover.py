"""The hand-over between the consumer and the windows (streams/kafka/handover.py)."""

from __future__ import annotations

import asyncio

import pytest

from streams.kafka.handover import Handover, PartitionBatch, Record


def batch(partition: int, first: int, n: int, size: int = 10) -> list[Record]:
    b = PartitionBatch(("t", partition), n, generation=1)
    return [Record(b, "t", partition, first + i, None, None, b"x" * size, ()) for i in range(n)]


def offsets(records: list[Record]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in records]


async def test_windows_close_when_full_and_split_a_batch_keeping_order() -> None:
    h = Handover(100)
    assert h.put_nowait(batch(0, 0, 6), h.generation)
    assert h.put_nowait(batch(1, 0, 3), h.generation)
    windows = h.windows(4, within_s=10)
    assert offsets(await anext(windows)) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert offsets(await anext(windows)) == [(0, 4), (0, 5), (1, 0), (1, 1)]
    assert h.queued == 1 and h.queued_bytes == 10


async def test_a_window_closes_within_its_time_after_its_first_record() -> None:
    h = Handover(100)
    windows = h.windows(1000, within_s=0.2)
    first = asyncio.create_task(anext(windows))
    await asyncio.sleep(0.05)
    assert not first.done()  # nothing yet: waits for a first record, however long
    assert h.put_nowait(batch(0, 0, 2), h.generation)
    await asyncio.sleep(0.05)
    assert h.put_nowait(batch(0, 2, 1), h.generation)  # joins the open window
    window = await asyncio.wait_for(first, 5)
    assert offsets(window) == [(0, 0), (0, 1), (0, 2)]


@pytest.mark.parametrize(("max_events", "max_bytes"), [(5, 1 << 30), (1000, 50)])
async def test_put_waits_at_the_bound_in_events_or_bytes_but_one_batch_always_fits(
    max_events: int, max_bytes: int
) -> None:
    h = Handover(max_events, max_bytes)
    assert h.put_nowait(batch(0, 0, 8), h.generation)  # larger than the bound, queue empty
    assert not h.put_nowait(batch(0, 8, 1), h.generation)
    waiting = asyncio.create_task(h.put(batch(0, 8, 1), h.generation))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    windows = h.windows(8, within_s=0)
    assert len(await anext(windows)) == 8
    assert await asyncio.wait_for(waiting, 5) is True
    assert h.queued == 1


async def test_clear_drops_what_is_queued_and_puts_of_the_older_generation() -> None:
    h = Handover(4)
    old = h.generation
    assert h.put_nowait(batch(0, 0, 4), old)
    waiting = asyncio.create_task(h.put(batch(0, 4, 2), old))
    await asyncio.sleep(0.05)
    dropped = h.clear()
    assert offsets(dropped) == [(0, i) for i in range(4)]
    assert await asyncio.wait_for(waiting, 5) is False  # fetched before the seek: dropped
    assert h.queued == 0 and h.queued_bytes == 0
    assert not h.put_nowait(batch(0, 0, 1), old)
    assert h.put_nowait(batch(0, 0, 1), h.generation)


def test_a_batch_is_acked_once_every_record_is_settled() -> None:
    records = batch(0, 0, 3)
    b = records[0].batch
    assert [b.settle_one() for _ in records] == [False, False, True]
    assert b.acked and b.pending == 0
    assert records[0].message is records[0]  # read like a faust event by the window runner
