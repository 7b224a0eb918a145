"""WindowRunner: concurrent windows, acks strictly in order, held events never acked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from streams.domain.records import SourceRef
from streams.kafka.windows import WindowRunner
from streams.pipeline import InputMessage, WindowResult


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None = None


@dataclass
class Ev:
    message: Msg


def _ev(partition: int, offset: int, size: int = 0) -> Ev:
    return Ev(Msg("t", partition, offset, b"x" * size if size else None))


def _to_input(ev: Ev) -> InputMessage:
    m = ev.message
    return InputMessage(SourceRef(m.topic, m.partition, m.offset), None, b"{}")


async def _windows(*windows: list[Ev]) -> AsyncIterator[Sequence[Ev]]:
    for w in windows:
        yield w


async def test_windows_finishing_out_of_order_are_acked_in_order() -> None:
    acked: list[tuple[int, int]] = []
    delays = iter([0.2, 0.01, 0.05])

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        await asyncio.sleep(next(delays))
        return WindowResult(frozenset(), len(msgs), 0)

    async def ack(ev: Ev) -> None:
        acked.append((ev.message.partition, ev.message.offset))

    runner = WindowRunner(process, ack, _to_input, max_pending=4)
    w1 = [_ev(0, 0), _ev(1, 0)]
    w2 = [_ev(0, 1), _ev(1, 1)]
    w3 = [_ev(0, 2)]
    await runner.run(_windows(w1, w2, w3))
    assert acked == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]
    assert runner.acked_next == {("t", 0): 3, ("t", 1): 2}


async def test_a_held_event_blocks_its_partition_and_is_abandoned_not_acked() -> None:
    acked: list[tuple[int, int]] = []
    discarded: list[tuple[int, int]] = []
    results = iter([frozenset({1}), frozenset()])

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        return WindowResult(next(results), 0, 0)

    async def ack(ev: Ev) -> None:
        acked.append((ev.message.partition, ev.message.offset))

    def discard(ev: Ev) -> None:
        discarded.append((ev.message.partition, ev.message.offset))

    runner = WindowRunner(process, ack, _to_input, max_pending=2, discard=discard)
    # window 1: p0/0 ok, p0/1 held, p1/0 ok; window 2: p0/2 (after the hold), p1/1
    await runner.run(_windows([_ev(0, 0), _ev(0, 1), _ev(1, 0)], [_ev(0, 2), _ev(1, 1)]))
    assert acked == [(0, 0), (1, 0), (1, 1)]
    assert discarded == [(0, 1), (0, 2)]
    runner.reset_blocks()  # faust sought back to the committed offsets
    assert runner.acked_next == {}


async def test_a_failing_window_is_held_whole_and_the_runner_goes_on() -> None:
    acked: list[tuple[int, int]] = []
    calls = 0

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return WindowResult(frozenset(), 0, 0)

    async def ack(ev: Ev) -> None:
        acked.append((ev.message.partition, ev.message.offset))

    runner = WindowRunner(process, ack, _to_input, max_pending=2)
    await runner.run(_windows([_ev(0, 0)], [_ev(1, 0)], [_ev(0, 1)]))
    assert acked == [(1, 0)]  # partition 0 stays blocked behind the failed window


async def test_backpressure_bounds_pending_windows() -> None:
    running = 0
    peak = 0
    gate = asyncio.Event()

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1
        return WindowResult(frozenset(), 0, 0)

    async def ack(ev: Ev) -> None:
        return None

    runner = WindowRunner(process, ack, _to_input, max_pending=3)
    task = asyncio.create_task(runner.run(_windows(*[[_ev(0, i)] for i in range(10)])))
    await asyncio.sleep(0.05)
    assert peak == 3
    gate.set()
    await task
    assert runner.acked == 10


async def test_waiting_events_do_not_stop_later_windows_and_are_acked_in_order() -> None:
    """A held dataset's events wait; other windows finish, but a partition is acked only up to
    its first waiting event, until that event is done."""
    acked: list[tuple[int, int]] = []
    release: asyncio.Future[WindowResult] = asyncio.get_running_loop().create_future()
    results = iter(
        [
            WindowResult(frozenset(), 1, 0, waiting=frozenset({1}), later=release),
            WindowResult(frozenset(), 2, 0),
        ]
    )

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        return next(results)

    async def ack(ev: Ev) -> None:
        acked.append((ev.message.partition, ev.message.offset))

    runner = WindowRunner(process, ack, _to_input, max_pending=1)
    task = asyncio.create_task(
        runner.run(_windows([_ev(0, 0), _ev(0, 1), _ev(1, 0)], [_ev(0, 2), _ev(1, 1)]))
    )
    await asyncio.sleep(0.05)
    # window 2 ran although window 1 waits (max_pending=1 frees its slot)
    assert acked == [(0, 0), (1, 0), (1, 1)]
    assert runner.unacked == 2  # p0/1 waiting, p0/2 behind it
    release.set_result(WindowResult(frozenset(), 1, 0))
    await task
    assert acked == [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2)]
    assert runner.unacked == 0


async def test_unacked_events_are_bounded() -> None:
    release: asyncio.Future[WindowResult] = asyncio.get_running_loop().create_future()
    taken = 0

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        nonlocal taken
        taken += len(msgs)
        return WindowResult(frozenset(), 0, 0, waiting=frozenset({0}), later=release)

    async def ack(ev: Ev) -> None:
        return None

    runner = WindowRunner(process, ack, _to_input, max_pending=8, max_unacked=5)
    task = asyncio.create_task(runner.run(_windows(*[[_ev(0, i)] for i in range(20)])))
    await asyncio.sleep(0.05)
    assert taken == 5  # consumption waits once 5 events are unacked
    release.set_result(WindowResult(frozenset(), 0, 0))
    await task
    assert runner.acked == 20


async def test_unacked_input_bytes_are_bounded_and_values_released_once_processed() -> None:
    """1 MB messages behind a held dataset: consumption waits once 3 MB of input is unacked
    (worker.max_unacked_bytes), and every value is released once its window was processed
    (a held event keeps only its coordinates)."""
    release: asyncio.Future[WindowResult] = asyncio.get_running_loop().create_future()
    taken: list[int] = []
    released: list[int] = []

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        taken.extend(m.source.offset for m in msgs)
        if msgs[0].source.offset == 0:  # the first event's dataset is held
            return WindowResult(frozenset(), 0, 0, waiting=frozenset({0}), later=release)
        return WindowResult(frozenset(), len(msgs), 0)

    async def ack(ev: Ev) -> None:
        return None

    def free(ev: Ev) -> None:
        released.append(ev.message.offset)
        ev.message.value = None

    mb = 1024 * 1024
    runner = WindowRunner(
        process, ack, _to_input, max_pending=8, max_unacked_bytes=3 * mb, release=free
    )
    events = [_ev(0, i, mb) for i in range(20)]
    task = asyncio.create_task(runner.run(_windows(*[[e] for e in events])))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(released) == 3:
            break
    assert taken == [0, 1, 2]  # consumption waits at 3 MB, not at max_unacked (20,000)
    assert runner.unacked_bytes == 3 * mb and runner.unacked == 3
    assert released == [0, 1, 2] and all(e.message.value is None for e in events[:3])
    release.set_result(WindowResult(frozenset(), 1, 0))
    await task
    assert runner.acked == 20 and runner.unacked_bytes == 0
    assert sorted(released) == list(range(20))


async def test_a_broken_window_is_reported_and_its_partition_no_longer_processed() -> None:
    """An unexpected error in a window: `on_broken` is told (the worker stops and the group
    consumes again from the committed offsets); later events of its partitions are abandoned
    at once instead of being sent and then discarded; other partitions flow."""
    processed: list[tuple[int, int]] = []
    acked: list[tuple[int, int]] = []
    discarded: list[tuple[int, int]] = []
    broken: list[int] = []

    async def process(msgs: Sequence[InputMessage]) -> WindowResult:
        processed.extend((m.source.partition, m.source.offset) for m in msgs)
        if (0, 1) in processed[-len(msgs) :]:
            return WindowResult(frozenset(range(len(msgs))), 0, 0, broken=True)
        return WindowResult(frozenset(), len(msgs), 0)

    async def ack(ev: Ev) -> None:
        acked.append((ev.message.partition, ev.message.offset))

    def discard(ev: Ev) -> None:
        discarded.append((ev.message.partition, ev.message.offset))

    runner = WindowRunner(
        process, ack, _to_input, max_pending=1, discard=discard, on_broken=broken.append
    )
    windows = [
        [_ev(0, 0)],
        [_ev(0, 1), _ev(1, 0)],
        [_ev(0, 2), _ev(1, 1), _ev(2, 0)],
        [_ev(0, 3), _ev(2, 1)],
    ]
    await runner.run(_windows(*windows))
    assert broken == [2] and runner.broken == 1
    assert acked == [(0, 0), (2, 0), (2, 1)]
    assert processed == [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)]  # p0/2, p1/1, p0/3 never sent
    assert discarded == [(0, 1), (1, 0), (0, 2), (1, 1), (0, 3)]
