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


@dataclass
class Ev:
    message: Msg


def _ev(partition: int, offset: int) -> Ev:
    return Ev(Msg("t", partition, offset))


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
