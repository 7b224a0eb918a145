"""Backoff schedule as pure functions: the caller passes the attempt number and the random draw."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RetryPolicy", "backoff_delay"]

_MAX_EXPONENT = 62  # 2**62 * any positive base exceeds every sane cap; avoids float overflow


def backoff_delay(
    attempt: int, base: float, cap: float, jitter_fraction: float, rand: float
) -> float:
    """Delay in seconds before retry number ``attempt`` (1 = after the first failure).

    The ceiling is ``min(cap, base * 2**(attempt-1))``; jitter removes up to
    ``jitter_fraction`` of it: ``ceiling * (1 - jitter_fraction * rand)``. With
    ``jitter_fraction=1`` this is "full jitter" (uniform in ``[0, ceiling]``), with ``0`` plain
    exponential backoff. ``rand`` is a draw from ``[0, 1)`` supplied by the caller.
    """
    if attempt < 1:
        raise ValueError("attempt must be >= 1")
    if base < 0 or cap < 0 or not 0.0 <= jitter_fraction <= 1.0 or not 0.0 <= rand <= 1.0:
        raise ValueError("base/cap must be >= 0; jitter_fraction and rand must be in [0, 1]")
    ceiling = min(cap, base * math.ldexp(1.0, min(attempt - 1, _MAX_EXPONENT)))
    return ceiling * (1.0 - jitter_fraction * rand)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for retrying a transient failure.

    ``max_attempts`` counts requests that failed transiently (the first request included), so
    ``max_attempts=1`` never retries. ``max_elapsed_s`` bounds the time spent on one request's
    retries: a retry whose delay would end past it is not made.
    """

    max_attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    max_elapsed_s: float = 120.0
    jitter_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_s < 0 or self.cap_s < 0 or self.max_elapsed_s < 0:
            raise ValueError("base_s, cap_s and max_elapsed_s must be >= 0")
        if not 0.0 <= self.jitter_fraction <= 1.0:
            raise ValueError("jitter_fraction must be in [0, 1]")

    def delay(self, attempt: int, rand: float) -> float:
        """The jittered delay before retry number ``attempt``."""
        return backoff_delay(attempt, self.base_s, self.cap_s, self.jitter_fraction, rand)

    def next_delay(self, failures: int, elapsed_s: float, rand: float) -> float | None:
        """Delay before the next attempt after ``failures`` transient failures, or None to stop.

        Stops when ``failures >= max_attempts`` or when ``elapsed_s`` plus the delay would
        exceed ``max_elapsed_s``.
        """
        if failures >= self.max_attempts:
            return None
        wait = self.delay(failures, rand)
        if elapsed_s + wait > self.max_elapsed_s:
            return None
        return wait
