"""Tests for streams.domain.retry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.retry import RetryPolicy, backoff_delay


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (60, 10.0), (5000, 10.0)],
)
def test_exponential_ceiling_without_jitter(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, 0.5, 10.0, 0.0, 0.9) == expected


@pytest.mark.parametrize(
    ("jitter", "rand", "expected"),
    [(1.0, 0.0, 4.0), (1.0, 0.5, 2.0), (1.0, 0.999, pytest.approx(0.004)), (0.25, 1.0, 3.0)],
)
def test_jitter_removes_a_fraction_of_the_ceiling(
    jitter: float, rand: float, expected: float
) -> None:
    assert backoff_delay(3, 1.0, 60.0, jitter, rand) == expected


@pytest.mark.parametrize(
    "args",
    [
        (0, 1.0, 1.0, 0.5, 0.5),
        (1, -1.0, 1.0, 0.5, 0.5),
        (1, 1.0, -1.0, 0.5, 0.5),
        (1, 1.0, 1.0, 1.5, 0.5),
        (1, 1.0, 1.0, 0.5, 1.5),
    ],
)
def test_backoff_rejects_bad_arguments(args: tuple[int, float, float, float, float]) -> None:
    with pytest.raises(ValueError):
        backoff_delay(*args)


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=1_000),
    jitter=st.floats(min_value=0, max_value=1),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_delay_is_bounded_by_cap(
    attempt: int, base: float, cap: float, jitter: float, rand: float
) -> None:
    delay = backoff_delay(attempt, base, cap, jitter, rand)
    assert 0.0 <= delay <= cap
    assert delay >= min(cap, base * 2 ** min(attempt - 1, 62)) * (1 - jitter) - 1e-9


@given(attempt=st.integers(min_value=1, max_value=200))
def test_ceiling_never_decreases(attempt: int) -> None:
    assert backoff_delay(attempt, 0.1, 30.0, 0.0, 0.0) <= backoff_delay(
        attempt + 1, 0.1, 30.0, 0.0, 0.0
    )


def test_policy_stops_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, base_s=1.0, cap_s=10.0, max_elapsed_s=1e9)
    assert policy.next_delay(1, 0.0, 0.0) == 1.0
    assert policy.next_delay(2, 0.0, 0.0) == 2.0
    assert policy.next_delay(3, 0.0, 0.0) is None


def test_policy_with_one_attempt_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).next_delay(1, 0.0, 0.0) is None


def test_policy_stops_when_the_delay_would_pass_max_elapsed() -> None:
    policy = RetryPolicy(max_attempts=100, base_s=1.0, cap_s=8.0, max_elapsed_s=10.0)
    assert policy.next_delay(2, 7.5, 0.0) == 2.0  # ends at 9.5 s
    assert policy.next_delay(2, 8.5, 0.0) is None  # would end at 10.5 s
    assert policy.next_delay(2, 8.5, 0.9) == pytest.approx(0.2)  # jittered delay still fits


def test_policy_delay_uses_its_own_jitter() -> None:
    policy = RetryPolicy(base_s=2.0, cap_s=100.0, jitter_fraction=0.5)
    assert policy.delay(2, 1.0) == 2.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_s": -1.0},
        {"cap_s": -1.0},
        {"max_elapsed_s": -1.0},
        {"jitter_fraction": 1.1},
    ],
)
def test_policy_validates(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
