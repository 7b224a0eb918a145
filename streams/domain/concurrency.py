"""Adaptive concurrency per dataset as pure functions: additive increase, multiplicative decrease.

A dataset may have at most ``limit`` Graph requests in flight, between 1 and the configured
``ceiling`` (``graph.max_in_flight``). The limit starts at the ceiling and moves like TCP's
congestion window:

* an *overload* answer (a timeout or other network error, an HTTP 5xx: see :func:`signal_of`)
  halves it (not below 1). The requests already in flight when the limit dropped were sent at
  the old concurrency, so their overload answers do not halve it again: each request carries
  the ``epoch`` (the number of decreases) current when it was sent, and only a request sent
  since the last decrease can cause the next one;
* an *answered* request (Meta accepted or refused it on its merits) counts as a success; after
  ``limit`` successes since the last change (one full window answered), the limit grows by
  one, up to the ceiling;
* anything else (a throttle pause, a configuration hold, a transient Graph code on a 4xx) is
  *neutral*: those have their own pauses, and tell nothing about the endpoint's capacity.

The caller supplies the signal and the request's epoch; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from streams.domain.classify import Outcome

__all__ = ["Concurrency", "Signal", "signal_of"]


class Signal(Enum):
    """What one request's answer says about the endpoint's capacity."""

    ANSWERED = "answered"
    OVERLOAD = "overload"
    NEUTRAL = "neutral"


_ANSWERED = frozenset({Outcome.DELIVERED, Outcome.PAYLOAD, Outcome.REJECTED})


def signal_of(outcome: Outcome, status: int | None) -> Signal:
    """The signal of one classified reply (``status`` None: no HTTP answer arrived)."""
    if outcome in _ANSWERED:
        return Signal.ANSWERED
    if outcome is Outcome.TRANSIENT and (status is None or status >= 500):
        return Signal.OVERLOAD
    return Signal.NEUTRAL


@dataclass(frozen=True, slots=True)
class Concurrency:
    """One dataset's allowed requests in flight (see the module docstring).

    ``epoch`` counts the decreases; ``successes`` the answered requests since the last change.
    """

    ceiling: int
    limit: int
    epoch: int = 0
    successes: int = 0

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("ceiling must be >= 1")
        if not 1 <= self.limit <= self.ceiling:
            raise ValueError("limit must be in [1, ceiling]")
        if self.epoch < 0 or self.successes < 0:
            raise ValueError("epoch and successes must be >= 0")

    @classmethod
    def start(cls, ceiling: int) -> Concurrency:
        """The initial state: the full ``ceiling``."""
        return cls(ceiling=ceiling, limit=ceiling)

    def after(self, signal: Signal, sent_epoch: int) -> Concurrency:
        """The state after a request sent at ``sent_epoch`` answered with ``signal``."""
        if signal is Signal.OVERLOAD:
            if sent_epoch < self.epoch:  # sent before the last decrease: already reacted
                return self
            return replace(self, limit=max(1, self.limit // 2), epoch=self.epoch + 1, successes=0)
        if signal is Signal.ANSWERED:
            if self.limit >= self.ceiling:
                return self if self.successes == 0 else replace(self, successes=0)
            successes = self.successes + 1
            if successes >= self.limit:
                return replace(self, limit=self.limit + 1, successes=0)
            return replace(self, successes=successes)
        return self
