"""Metric updates for many observations at once, and labelled children without `labels()`.

prometheus_client costs a few microseconds per `labels(...)` call and per `observe`: per event,
that is a noticeable share of the worker's CPU. These helpers give the same samples for a
whole request or window in one update per label set (and per histogram bucket).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Histogram

__all__ = ["Children", "observe_many"]


class Children:
    """A labelled counter's children by label values, each made once by `labels()`. Only for
    counters whose children are never removed, with label values from bounded sets."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Counter) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Counter] = {}

    def __call__(self, *values: str) -> Counter:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


def observe_many(child: Histogram, amounts: Sequence[float]) -> None:
    """`child.observe(amount)` for each of `amounts`, as one update per bucket and one of the
    sum (the same samples; the buckets as `observe` fills them)."""
    if not amounts:
        return
    parts: Any = child  # the bucket values are prometheus_client's own (see tests)
    bounds: Sequence[float] | None = getattr(parts, "_upper_bounds", None)
    buckets = getattr(parts, "_buckets", None)
    total = getattr(parts, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for amount in amounts:  # another prometheus_client layout: one at a time
            child.observe(amount)
        return
    ordered = sorted(amounts)
    below = 0
    for bound, bucket in zip(bounds, buckets, strict=True):
        upto = bisect_right(ordered, bound)  # amounts <= bound: observe's first fitting bucket
        if upto > below:
            bucket.inc(upto - below)
            below = upto
    total.inc(sum(amounts))
