"""Dataset holds: one home for configuration holds, the stop switch, rebalance release, and
the pipeline's wait (woken by holds, not by polling)."""

from __future__ import annotations

import asyncio

import orjson

from streams.capi.holds import DatasetHolds
from streams.domain.classify import classify

TOKEN_ERROR = classify(
    400, orjson.dumps({"error": {"code": 190, "type": "OAuthException", "fbtrace_id": "t"}}), {}
)
OK = classify(200, orjson.dumps({"events_received": 1, "messages": [], "fbtrace_id": "t"}), {})


class Paused:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def on_paused(self, dataset: str, paused: bool) -> None:
        self.calls.append((dataset, paused))


async def test_a_hold_is_reported_once_and_released_once() -> None:
    seen = Paused()
    holds = DatasetHolds(seen)
    holds.hold("1", TOKEN_ERROR)
    holds.hold("1", TOKEN_ERROR)
    assert holds.is_held("1") and holds.held() == {"1"}
    holds.release("1", OK)
    holds.release("1", OK)
    assert not holds.is_held("1")
    assert seen.calls == [("1", True), ("1", False)]


async def test_settle_returns_as_soon_as_every_running_task_is_held() -> None:
    holds = DatasetHolds()
    gate = asyncio.Event()

    async def batch(result: str) -> str:
        await gate.wait()
        return result

    fast = asyncio.create_task(asyncio.sleep(0, "a"))
    slow = asyncio.create_task(batch("b"))
    waiting = asyncio.create_task(holds.settle({fast: "A", slow: "B"}))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # B runs and is not held: keep waiting
    holds.hold("B", TOKEN_ERROR)  # wakes the wait: no polling interval involved
    done, pending = await asyncio.wait_for(waiting, 1)
    assert done == [fast] and pending == {slow}
    gate.set()
    assert await slow == "b"


async def test_settle_waits_for_everything_when_nothing_is_held() -> None:
    holds = DatasetHolds()
    tasks = {asyncio.create_task(asyncio.sleep(0.01 * i, i)): "A" for i in range(3)}
    done, pending = await holds.settle(tasks)
    assert [t.result() for t in done] == [0, 1, 2] and pending == set()


async def test_stop_ends_sleeps_and_resume_undoes_it() -> None:
    holds = DatasetHolds()
    sleeper = asyncio.create_task(holds.sleep(30))
    await asyncio.sleep(0.01)
    holds.stop()
    assert await asyncio.wait_for(sleeper, 1) is False
    assert await holds.sleep(0) is False  # stopped: no wait at all
    holds.resume()
    assert await holds.sleep(0.001) is True


async def test_a_rebalance_that_still_waits_after_its_grace_releases_the_holds() -> None:
    holds = DatasetHolds()
    holds.rebalance_started(0.02, lambda: True)
    await asyncio.sleep(0.1)
    assert holds.stopping
    holds.rebalance_ended(shutting_down=False)
    assert not holds.stopping  # delivery resumes after the rebalance
    holds.rebalance_started(0.02, lambda: True)
    holds.rebalance_ended(shutting_down=False)  # ended within the grace: nothing released
    await asyncio.sleep(0.1)
    assert not holds.stopping
    holds.stop()
    holds.rebalance_ended(shutting_down=True)
    assert holds.stopping  # a shutdown stays stopped
