"""Plan one take-window's accepted events into requests: per dataset, in input order, each
request within the dataset's event and byte limits (Meta takes at most 1,000 events a request).

Batching is a pure planning step over the window : the window
already bounds time and size, and every event of it is acked once its outcome is durable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["BatchLimits", "PlannedBatch", "plan_batches"]

META_MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_events: int = META_MAX_EVENTS
    max_bytes: int = 4_000_000


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    dataset_id: str
    items: tuple[int, ...]  # caller's item positions, in input order


def plan_batches(
    items: Iterable[tuple[int, str, int]],
    limits: Mapping[str, BatchLimits],
) -> list[PlannedBatch]:
    """Group `(position, dataset_id, size_bytes)` items into batches.

    A new batch starts when adding an item would pass `max_events` (capped at 1,000) or
    `max_bytes`; an item larger than `max_bytes` on its own still travels alone.
    """
    open_: dict[str, tuple[list[int], int]] = {}
    out: list[PlannedBatch] = []
    default = BatchLimits()
    for pos, dataset, size in items:
        lim = limits.get(dataset, default)
        max_events = min(lim.max_events, META_MAX_EVENTS)
        current = open_.get(dataset)
        if current is not None:
            members, total = current
            if len(members) >= max_events or (members and total + size > lim.max_bytes):
                out.append(PlannedBatch(dataset, tuple(members)))
                current = None
        if current is None:
            open_[dataset] = ([pos], size)
        else:
            current[0].append(pos)
            open_[dataset] = (current[0], current[1] + size)
    out.extend(PlannedBatch(ds, tuple(members)) for ds, (members, _) in open_.items())
    return out
