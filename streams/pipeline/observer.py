"""What the pipeline reports, for metrics: an observer like the Deliverer's.

`streams.observability.metrics.Metrics` implements it; tests may pass `NullPipelineObserver`.
Called synchronously on the event loop; implementations must not block. Counts come per
window or per request where they can (`n`): a metric update per event costs microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

__all__ = ["NullPipelineObserver", "PipelineObserver"]


class PipelineObserver(Protocol):
    def on_consumed(self, topic: str, n: int) -> None:
        """`n` input messages of `topic` were taken."""

    def on_unmapped(self, fmt: str, reason: str, action: str, n: int = 1) -> None:
        """An input format could not map part of a message (`n` parts)."""

    def on_dropped(self, field: str, reason: str, n: int = 1) -> None:
        """A customer-information value was dropped during normalization (`n` values)."""

    def on_guarded(self, dataset: str, field: str, action: str, n: int = 1) -> None:
        """The PII guard removed (`drop`) or hashed (`hash`) a field (a path pattern), `n`
        times."""

    def on_failed(self, dataset: str | None, reason: str, n: int = 1) -> None:
        """An event (or message) goes to the failures topic (`n` of them)."""

    def on_delivered(
        self, dataset: str, events: Iterable[Mapping[str, Any]], n: int, now: float
    ) -> None:
        """Meta accepted a request of `n` events."""

    def on_record(self, topic: str, kind: str) -> None:
        """Kafka acknowledged one outcome record (`kind`: response or failure)."""


class NullPipelineObserver:
    """A `PipelineObserver` that records nothing."""

    def on_consumed(self, topic: str, n: int) -> None:
        pass

    def on_unmapped(self, fmt: str, reason: str, action: str, n: int = 1) -> None:
        pass

    def on_dropped(self, field: str, reason: str, n: int = 1) -> None:
        pass

    def on_guarded(self, dataset: str, field: str, action: str, n: int = 1) -> None:
        pass

    def on_failed(self, dataset: str | None, reason: str, n: int = 1) -> None:
        pass

    def on_delivered(
        self, dataset: str, events: Iterable[Mapping[str, Any]], n: int, now: float
    ) -> None:
        pass

    def on_record(self, topic: str, kind: str) -> None:
        pass
