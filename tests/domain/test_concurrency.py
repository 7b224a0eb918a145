"""Tests for streams.domain.concurrency: the AIMD limit of requests in flight."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.classify import Outcome
from streams.domain.concurrency import Concurrency, Signal, signal_of

ANSWERED, OVERLOAD, NEUTRAL = Signal.ANSWERED, Signal.OVERLOAD, Signal.NEUTRAL


@pytest.mark.parametrize(
    ("outcome", "status", "expected"),
    [
        (Outcome.DELIVERED, 200, ANSWERED),
        (Outcome.PAYLOAD, 400, ANSWERED),
        (Outcome.REJECTED, 400, ANSWERED),
        (Outcome.TRANSIENT, None, OVERLOAD),  # timeout, reset, refused connection
        (Outcome.TRANSIENT, 500, OVERLOAD),
        (Outcome.TRANSIENT, 503, OVERLOAD),
        (Outcome.TRANSIENT, 400, NEUTRAL),  # a transient Graph code on a 4xx
        (Outcome.THROTTLED, 400, NEUTRAL),
        (Outcome.THROTTLED, 429, NEUTRAL),
        (Outcome.CONFIG, 401, NEUTRAL),
        (Outcome.CONFIG, None, NEUTRAL),  # request_invalid
    ],
)
def test_signal_of(outcome: Outcome, status: int | None, expected: Signal) -> None:
    assert signal_of(outcome, status) is expected


def test_starts_at_the_ceiling() -> None:
    c = Concurrency.start(4)
    assert (c.limit, c.ceiling, c.epoch, c.successes) == (4, 4, 0, 0)


def test_overload_halves_down_to_one() -> None:
    c = Concurrency.start(8)
    limits = []
    for _ in range(5):
        c = c.after(OVERLOAD, c.epoch)
        limits.append(c.limit)
    assert limits == [4, 2, 1, 1, 1]
    assert c.epoch == 5


def test_odd_limits_round_down() -> None:
    c = Concurrency.start(7).after(OVERLOAD, 0)
    assert c.limit == 3
    assert c.after(OVERLOAD, c.epoch).limit == 1


def test_overloads_of_one_window_halve_once() -> None:
    """Four requests sent at limit 8 all time out: the first halves, the others were sent
    before that decrease and change nothing."""
    c = Concurrency.start(8)
    for _ in range(4):
        c = c.after(OVERLOAD, 0)
    assert (c.limit, c.epoch) == (4, 1)
    c = c.after(OVERLOAD, 1)  # sent under the lowered limit
    assert (c.limit, c.epoch) == (2, 2)


def test_a_window_of_answers_raises_by_one() -> None:
    c = Concurrency.start(4)
    c = c.after(OVERLOAD, 0).after(OVERLOAD, 1)
    assert c.limit == 1
    c = c.after(ANSWERED, c.epoch)
    assert c.limit == 2  # a window of 1
    c = c.after(ANSWERED, c.epoch)
    assert (c.limit, c.successes) == (2, 1)
    c = c.after(ANSWERED, c.epoch)
    assert (c.limit, c.successes) == (3, 0)
    for _ in range(3):
        c = c.after(ANSWERED, c.epoch)
    assert c.limit == 4
    for _ in range(20):
        c = c.after(ANSWERED, c.epoch)
    assert (c.limit, c.successes) == (4, 0)  # never past the ceiling


def test_overload_restarts_the_run_of_answers() -> None:
    c = Concurrency.start(8).after(OVERLOAD, 0)  # 4
    for _ in range(3):
        c = c.after(ANSWERED, c.epoch)
    assert (c.limit, c.successes) == (4, 3)
    c = c.after(OVERLOAD, c.epoch)
    assert (c.limit, c.successes) == (2, 0)


def test_neutral_answers_change_nothing() -> None:
    c = Concurrency.start(8).after(OVERLOAD, 0).after(ANSWERED, 1)
    assert c.after(NEUTRAL, c.epoch) == c
    assert c.after(NEUTRAL, 0) == c


def test_a_stale_overload_keeps_the_run() -> None:
    c = Concurrency.start(8).after(OVERLOAD, 0).after(ANSWERED, 1)
    assert c.after(OVERLOAD, 0) == c


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ceiling": 0, "limit": 1},
        {"ceiling": 2, "limit": 0},
        {"ceiling": 2, "limit": 3},
        {"ceiling": 2, "limit": 1, "epoch": -1},
        {"ceiling": 2, "limit": 1, "successes": -1},
    ],
)
def test_rejects_bad_states(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Concurrency(**kwargs)


@given(
    st.integers(1, 64),
    st.lists(st.tuples(st.sampled_from(list(Signal)), st.integers(0, 3)), max_size=200),
)
def test_limit_stays_within_bounds(ceiling: int, steps: list[tuple[Signal, int]]) -> None:
    c = Concurrency.start(ceiling)
    for signal, lag in steps:
        before = c
        c = c.after(signal, max(0, c.epoch - lag))
        assert 1 <= c.limit <= ceiling
        assert c.limit in (before.limit, before.limit + 1, max(1, before.limit // 2))
