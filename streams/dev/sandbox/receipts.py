"""Receipts of accepted events, per-dataset statistics, and Meta's deduplication as a count.

Each accepted request is kept as one batch holding the request's JSON bytes (about a third of
the parsed objects' size; decoded again only when listed) and listed event by event with a
global sequence number. To bound memory, the oldest batches are dropped once more than
`max_events` events are stored (None = unbounded; 0 = keep none); statistics and deduplication
keep counting past that. With `jsonl_path`, every accepted event is also appended to that file as
one JSON line (the same object the listing returns); `reset()` leaves the file alone.

Duplicates: an event whose (event_name, event_id) was first received for the same dataset less
than 48 hours earlier is one Meta would drop (Meta's Conversions API
docs: Handling Duplicate Pixel and Conversions API Events). The sandbox still accepts and
stores it (Meta counts it in `events_received` too) and counts it in `duplicates`. First-seen
times are kept for at most `max_dedup_keys` (event_name, event_id) pairs per dataset; past that
the oldest quarter is forgotten.

Match-key counts per dataset and event name (streams.dev.sandbox.quality) are kept in `quality`,
updated for every accepted request whatever `max_events` is, and cleared by `reset()`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from streams.dev.sandbox.envelope import Envelope, build_envelope, params_from_json
from streams.dev.sandbox.errors import GraphError
from streams.dev.sandbox.quality import QualityCounters

__all__ = [
    "DEDUP_WINDOW_S",
    "DEFAULT_MAX_DEDUP_KEYS",
    "DEFAULT_MAX_EVENTS",
    "DatasetStats",
    "ReceiptStore",
    "event_id_of",
]

DEDUP_WINDOW_S = 48 * 3600
DEFAULT_MAX_EVENTS = 200_000
DEFAULT_MAX_DEDUP_KEYS = 2_000_000


@dataclass(slots=True)
class DatasetStats:
    """Counters of one dataset."""

    requests: int = 0
    accepted_requests: int = 0
    events_accepted: int = 0
    duplicates: int = 0
    rejected_requests: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "events_accepted": self.events_accepted,
            "duplicates": self.duplicates,
            "rejected_requests": dict(sorted(self.rejected_requests.items())),
            "faults": dict(sorted(self.faults.items())),
        }


@dataclass(slots=True)
class _Batch:
    first_seq: int
    count: int
    dataset: str
    test_event_code: str | None
    received_at: float
    raw: bytes  # a JSON object whose `data` decodes (streams.dev.sandbox.envelope) to the events

    def events(self) -> list[dict[str, object]]:
        params = params_from_json(self.raw)
        envelope = None if isinstance(params, GraphError) else build_envelope(params)
        if not isinstance(envelope, Envelope):
            raise RuntimeError("stored receipt no longer decodes")  # cannot happen: validated
        return envelope.data  # type: ignore[return-value]  # validated objects

    def item(self, j: int, ev: dict[str, object]) -> dict[str, object]:
        return _item(self.first_seq + j, self.dataset, self.test_event_code, self.received_at, ev)


def event_id_of(ev: dict[str, object]) -> str | None:
    """An event's `event_id` as text (Meta takes integers too), None without one."""
    eid = ev.get("event_id")
    if eid is None:
        return None
    return eid if type(eid) is str else str(eid)


class ReceiptStore:
    """Accepted events, statistics and first-seen times for deduplication."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        jsonl_path: Path | None = None,
        max_events: int | None = DEFAULT_MAX_EVENTS,
        max_dedup_keys: int = DEFAULT_MAX_DEDUP_KEYS,
    ) -> None:
        if max_events is not None and max_events < 0:
            raise ValueError("max_events must be >= 0 or None")
        self._clock = clock
        self._max_events = max_events
        self._max_dedup_keys = max_dedup_keys
        self._jsonl_path = jsonl_path
        self._jsonl: BinaryIO | None = None
        self._batches: deque[_Batch] = deque()
        self._stored = 0
        self._evicted = 0
        self._next_seq = 1
        self._stats: dict[str, DatasetStats] = {}
        self._first_seen: dict[str, dict[tuple[str, str], float]] = {}
        self.quality = QualityCounters()

    def stats_for(self, dataset: str) -> DatasetStats:
        """The counters of a dataset, created on first use."""
        stats = self._stats.get(dataset)
        if stats is None:
            stats = self._stats[dataset] = DatasetStats()
        return stats

    def count_request(self, dataset: str) -> DatasetStats:
        stats = self.stats_for(dataset)
        stats.requests += 1
        return stats

    def count_fault(self, dataset: str, kind: str) -> None:
        faults = self.stats_for(dataset).faults
        faults[kind] = faults.get(kind, 0) + 1

    def count_rejected(self, dataset: str, key: str) -> None:
        rejected = self.stats_for(dataset).rejected_requests
        rejected[key] = rejected.get(key, 0) + 1

    def record(
        self,
        dataset: str,
        test_event_code: str | None,
        events: list[dict[str, object]],
        raw: bytes | None = None,
    ) -> float:
        """Store an accepted request's events; returns the receive time.

        `raw` is the request's JSON body when `events` came from its `data` (stored as is, far
        smaller than the parsed objects); otherwise the events are serialized.
        """
        now = self._clock()
        stats = self.stats_for(dataset)
        stats.accepted_requests += 1
        stats.events_accepted += len(events)
        stats.duplicates += self._count_duplicates(dataset, events, now)
        self.quality.add(dataset, events, now)
        first_seq = self._next_seq
        self._next_seq += len(events)
        if self._jsonl_path is not None:
            self._append_jsonl(first_seq, dataset, test_event_code, now, events)
        if self._max_events == 0:
            self._evicted += len(events)
            return now
        if raw is None:
            raw = orjson.dumps({"data": events})
        self._batches.append(_Batch(first_seq, len(events), dataset, test_event_code, now, raw))
        self._stored += len(events)
        if self._max_events is not None:
            while self._stored > self._max_events and self._batches:
                dropped = self._batches.popleft()
                self._stored -= dropped.count
                self._evicted += dropped.count
        return now

    def _count_duplicates(self, dataset: str, events: list[dict[str, object]], now: float) -> int:
        seen = self._first_seen.get(dataset)
        if seen is None:
            seen = self._first_seen[dataset] = {}
        window_start = now - DEDUP_WINDOW_S
        dups = 0
        for ev in events:
            eid = ev.get("event_id")
            if eid is None:
                continue
            key = (str(ev["event_name"]), eid if type(eid) is str else str(eid))
            first = seen.get(key)
            if first is None or first <= window_start:
                seen[key] = now
            else:
                dups += 1
        if len(seen) > self._max_dedup_keys:
            # Forget the oldest quarter (insertion order) to bound memory.
            for key in list(itertools.islice(seen, len(seen) // 4)):
                del seen[key]
        return dups

    def _append_jsonl(
        self,
        first_seq: int,
        dataset: str,
        test_event_code: str | None,
        now: float,
        events: list[dict[str, object]],
    ) -> None:
        if self._jsonl is None:
            assert self._jsonl_path is not None
            self._jsonl = self._jsonl_path.open("ab")
        dumps, opt = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        lines = (
            dumps(_item(first_seq + j, dataset, test_event_code, now, ev), option=opt)
            for j, ev in enumerate(events)
        )
        self._jsonl.write(b"".join(lines))
        self._jsonl.flush()

    def list_events(
        self,
        *,
        dataset: str | None = None,
        event_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> dict[str, object]:
        """A page of stored events, oldest first, optionally filtered."""
        items: list[dict[str, object]] = []
        total = 0
        for batch in self._batches:
            if dataset is not None and batch.dataset != dataset:
                continue
            n = batch.count
            if event_id is None:
                if total + n > offset and len(items) < limit:
                    events = batch.events()
                    for j in range(max(0, offset - total), n):
                        if len(items) >= limit:
                            break
                        items.append(batch.item(j, events[j]))
                total += n
                continue
            for j, ev in enumerate(batch.events()):
                if event_id_of(ev) == event_id:
                    if total >= offset and len(items) < limit:
                        items.append(batch.item(j, ev))
                    total += 1
        return {"total": total, "offset": offset, "limit": limit, "events": items}

    def stats(self) -> dict[str, object]:
        """Per-dataset counters, their totals, and the store's size."""
        totals = DatasetStats()
        for s in self._stats.values():
            totals.requests += s.requests
            totals.accepted_requests += s.accepted_requests
            totals.events_accepted += s.events_accepted
            totals.duplicates += s.duplicates
            for k, v in s.rejected_requests.items():
                totals.rejected_requests[k] = totals.rejected_requests.get(k, 0) + v
            for k, v in s.faults.items():
                totals.faults[k] = totals.faults.get(k, 0) + v
        return {
            "datasets": {d: s.to_json() for d, s in sorted(self._stats.items())},
            "totals": totals.to_json(),
            "stored_events": self._stored,
            "evicted_events": self._evicted,
        }

    def reset(self) -> None:
        """Forget receipts, statistics and deduplication state (the JSONL file is kept)."""
        self._batches.clear()
        self._stored = 0
        self._evicted = 0
        self._next_seq = 1
        self._stats.clear()
        self._first_seen.clear()
        self.quality.reset()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None


def _item(
    seq: int, dataset: str, test_event_code: str | None, received_at: float, ev: dict[str, object]
) -> dict[str, object]:
    return {
        "seq": seq,
        "dataset": dataset,
        "event_id": event_id_of(ev),
        "event_name": ev.get("event_name"),
        "test_event_code": test_event_code,
        "received_at": received_at,
        "payload": ev,
    }
