"""Tests for streams.capi.in_flight: a semaphore whose limit shrinks and grows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from streams.capi.in_flight import InFlightLimiter


async def _until(cond: Callable[[], bool]) -> None:
    """Let the other tasks run until ``cond`` holds (at most 5 s)."""
    async with asyncio.timeout(5.0):
        while not cond():  # noqa: ASYNC110 - polls the limiter's and the holders' state
            await asyncio.sleep(0)


class Holders:
    """Tasks that enter the limiter and stay in until told to leave."""

    def __init__(self, limiter: InFlightLimiter) -> None:
        self.limiter = limiter
        self.inside: list[int] = []
        self.peak = 0
        self.order: list[int] = []
        self._leave: dict[int, asyncio.Event] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, n: int) -> None:
        self._leave[n] = asyncio.Event()
        self.tasks[n] = asyncio.create_task(self._hold(n))

    async def _hold(self, n: int) -> None:
        async with self.limiter:
            self.inside.append(n)
            self.order.append(n)
            self.peak = max(self.peak, len(self.inside))
            await self._leave[n].wait()
            self.inside.remove(n)

    def leave(self, n: int) -> None:
        self._leave[n].set()


async def test_admits_up_to_the_limit_in_arrival_order() -> None:
    lim = InFlightLimiter(2)
    h = Holders(lim)
    for n in range(5):
        h.start(n)
    await _until(lambda: lim.waiting == 3)
    assert h.inside == [0, 1]
    h.leave(0)
    await _until(lambda: 2 in h.inside)
    h.leave(1)
    h.leave(2)
    await _until(lambda: h.inside == [3, 4])
    assert h.order == [0, 1, 2, 3, 4]
    assert h.peak == 2
    h.leave(3)
    h.leave(4)
    await asyncio.gather(*h.tasks.values())
    assert lim.in_use == 0


async def test_a_lower_limit_lets_holders_finish_and_holds_newcomers() -> None:
    lim = InFlightLimiter(4)
    h = Holders(lim)
    for n in range(4):
        h.start(n)
    await _until(lambda: len(h.inside) == 4)
    lim.set_limit(1)
    for n in range(4, 6):
        h.start(n)
    await _until(lambda: lim.waiting == 2)
    assert lim.in_use == 4  # nobody was pushed out
    for n in range(3):
        h.leave(n)
        await _until(lambda n=n: n not in h.inside)
        await asyncio.sleep(0)
        assert h.inside == list(range(n + 1, 4)), "admitted while over the lower limit"
    h.leave(3)
    await _until(lambda: h.inside == [4])
    await asyncio.sleep(0.01)
    assert h.inside == [4]  # one at a time now
    h.leave(4)
    await _until(lambda: h.inside == [5])
    h.leave(5)
    await asyncio.gather(*h.tasks.values())
    assert (lim.in_use, lim.waiting, h.peak) == (0, 0, 4)


async def test_a_higher_limit_admits_waiters_at_once() -> None:
    lim = InFlightLimiter(1)
    h = Holders(lim)
    for n in range(4):
        h.start(n)
    await _until(lambda: lim.waiting == 3)
    lim.set_limit(3)
    await _until(lambda: h.inside == [0, 1, 2])
    assert lim.waiting == 1
    for n in range(4):
        h.leave(n)
    await asyncio.gather(*h.tasks.values())
    assert lim.in_use == 0


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    lim = InFlightLimiter(1)
    h = Holders(lim)
    for n in range(3):
        h.start(n)
    await _until(lambda: lim.waiting == 2)
    h.tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await h.tasks[1]
    h.leave(0)
    await _until(lambda: h.inside == [2])
    h.leave(2)
    await asyncio.gather(h.tasks[0], h.tasks[2])
    assert (lim.in_use, lim.waiting) == (0, 0)


async def test_admitted_then_cancelled_before_running_releases_its_place() -> None:
    lim = InFlightLimiter(1)
    await lim.acquire()
    waiter = asyncio.create_task(lim.acquire())
    await _until(lambda: lim.waiting == 1)
    lim.release()  # admits the waiter, which has not run yet
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert lim.in_use == 0
    await asyncio.wait_for(lim.acquire(), 1.0)
    assert lim.in_use == 1


def test_rejects_bad_limits_and_a_stray_release() -> None:
    with pytest.raises(ValueError):
        InFlightLimiter(0)
    lim = InFlightLimiter(1)
    with pytest.raises(ValueError):
        lim.set_limit(0)
    with pytest.raises(RuntimeError):
        lim.release()
