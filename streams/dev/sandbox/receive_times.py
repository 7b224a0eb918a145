"""When each accepted request arrived and was answered, with its events' ids: what an
end-to-end latency measurement joins against the input records (benchmarks/latency_bench.py).

One entry per accepted request: the dataset, `arrived_at` (the handler started, before the
sandbox's latency and the body read), `answered_at` (the events were accepted, just before the
answer; the moment Meta would have them) and the `event_id` of every event (None for an event
without one), in order. To bound memory the oldest entries are dropped once more than
`max_events` ids are kept (0 = keep none); `reset()` forgets them all.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_EVENTS", "ReceiveTimes"]

DEFAULT_MAX_EVENTS = 200_000


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    dataset: str
    arrived_at: float
    answered_at: float
    event_ids: tuple[str | None, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "dataset": self.dataset,
            "arrived_at": self.arrived_at,
            "answered_at": self.answered_at,
            "event_ids": list(self.event_ids),
        }


class ReceiveTimes:
    """Accepted requests' arrival and answer times with their event ids, oldest first."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if max_events < 0:
            raise ValueError("max_events must be >= 0")
        self._max_events = max_events
        self._entries: deque[_Entry] = deque()
        self._kept = 0
        self._next_seq = 1

    def add(
        self,
        dataset: str,
        arrived_at: float,
        answered_at: float,
        event_ids: tuple[str | None, ...],
    ) -> None:
        seq = self._next_seq
        self._next_seq += 1
        if self._max_events == 0:
            return
        self._entries.append(_Entry(seq, dataset, arrived_at, answered_at, event_ids))
        self._kept += len(event_ids)
        while self._kept > self._max_events and self._entries:
            self._kept -= len(self._entries.popleft().event_ids)

    def page(self, *, after: int = 0, limit: int = 100) -> dict[str, object]:
        """Up to `limit` requests with a sequence number above `after`, oldest first, and the
        sequence number to pass as `after` for the next page (`next_after`); `first_kept` above
        `after + 1` means requests in between were dropped (past `max_events`)."""
        items = [e for e in self._entries if e.seq > after][:limit]
        return {
            "requests": [e.to_json() for e in items],
            "next_after": items[-1].seq if items else after,
            "first_kept": self._entries[0].seq if self._entries else self._next_seq,
        }

    def reset(self) -> None:
        self._entries.clear()
        self._kept = 0
        self._next_seq = 1
