"""Requests per dataset across take-windows.

A take-window closes after `worker.take_within_ms` or `take_max` events, whichever comes
first; at a few thousand events a second that is a few hundred events, so planning each window
on its own sends requests far below Meta's 1,000 events. The batcher keeps one open request
per dataset instead: a window's admitted events join it, and it is sent when it reaches the
dataset's `max_events` or `max_bytes`, or `wait_s` after its first event joined.

Each window gets one `Part` per request its events went into, and awaits the parts' `done`
futures; a window therefore completes when its last request does, and the window runner still
acks strictly in offset order (a window may simply complete later). With `wait_s` 0 every
window's open requests are sent at the end of the window (requests planned per window).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.domain.admission import AcceptedEvent
from streams.domain.batching import META_MAX_EVENTS, BatchLimits
from streams.domain.records import SourceRef

__all__ = ["DatasetBatcher", "Part", "PartResult", "SendOutcome"]


@dataclass(slots=True)
class SendOutcome:
    """What one request came to, by index into the request's events."""

    acks: list[Awaitable[Any]]
    delivered: Sequence[int]
    failed: Sequence[int]
    held: Sequence[int]


@dataclass(slots=True)
class PartResult:
    """One window's share of a request. `acks` covers the whole request's outcome records (a
    superset of the window's own); `held` are window positions."""

    acks: list[Awaitable[Any]]
    delivered: int
    failed: int
    held: frozenset[int]


@dataclass(slots=True)
class Part:
    """One window's events in one request (`sources[i]` is where `items[i]` came from)."""

    items: list[AcceptedEvent]
    sources: list[SourceRef]
    done: asyncio.Future[PartResult]


@dataclass(slots=True)
class _Open:
    parts: list[Part] = field(default_factory=list)
    count: int = 0
    size: int = 0
    timer: asyncio.TimerHandle | None = None


Send = Callable[[str, list[AcceptedEvent], list[SourceRef]], Awaitable[SendOutcome]]


class DatasetBatcher:
    """One open request per dataset, filled across windows."""

    def __init__(self, send: Send, limits: Mapping[str, BatchLimits], *, wait_s: float) -> None:
        self._send = send
        self._limits = limits
        self._wait_s = wait_s
        self._open: dict[str, _Open] = {}
        self._running: set[asyncio.Task[None]] = set()

    def add(
        self, dataset: str, items: Sequence[AcceptedEvent], sources: Sequence[SourceRef]
    ) -> list[Part]:
        """Put a window's events of `dataset` (in input order) into requests; its parts."""
        lim = self._limits.get(dataset) or BatchLimits()
        max_events = min(lim.max_events, META_MAX_EVENTS)
        loop = asyncio.get_running_loop()
        parts: list[Part] = []
        part: Part | None = None
        for item, source in zip(items, sources, strict=True):
            cur = self._open.get(dataset)
            if cur is not None and (
                cur.count >= max_events or (cur.count and cur.size + item.size > lim.max_bytes)
            ):
                self._flush(dataset)
                cur = None
            if cur is None:
                cur = self._open[dataset] = _Open()
                part = None
            if part is None:
                part = Part([], [], loop.create_future())
                cur.parts.append(part)
                parts.append(part)
            part.items.append(item)
            part.sources.append(source)
            cur.count += 1
            cur.size += item.size
        cur = self._open.get(dataset)
        if cur is not None:
            if cur.count >= max_events or self._wait_s <= 0:
                self._flush(dataset)
            elif cur.timer is None:
                cur.timer = loop.call_later(self._wait_s, self._flush_if_open, dataset, cur)
        return parts

    def _flush_if_open(self, dataset: str, cur: _Open) -> None:
        if self._open.get(dataset) is cur:
            self._flush(dataset)

    def _flush(self, dataset: str) -> None:
        cur = self._open.pop(dataset)
        if cur.timer is not None:
            cur.timer.cancel()
        task = asyncio.create_task(self._run(dataset, cur.parts))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, dataset: str, parts: list[Part]) -> None:
        items = [item for p in parts for item in p.items]
        sources = [source for p in parts for source in p.sources]
        try:
            out = await self._send(dataset, items, sources)
        except asyncio.CancelledError:
            for p in parts:
                p.done.cancel()
            raise
        except Exception as exc:  # noqa: BLE001  # handed to every window of the request
            for p in parts:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        owner = [k for k, p in enumerate(parts) for _ in p.items]
        first = [0]
        for p in parts[:-1]:
            first.append(first[-1] + len(p.items))
        delivered = [0] * len(parts)
        failed = [0] * len(parts)
        held: list[list[int]] = [[] for _ in parts]
        for i in out.delivered:
            delivered[owner[i]] += 1
        for i in out.failed:
            failed[owner[i]] += 1
        for i in out.held:
            k = owner[i]
            held[k].append(parts[k].items[i - first[k]].position)
        for k, p in enumerate(parts):
            if not p.done.done():
                p.done.set_result(PartResult(out.acks, delivered[k], failed[k], frozenset(held[k])))
