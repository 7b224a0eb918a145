"""One take-window of input messages, from Kafka records to durable outcomes.

`Pipeline.process(messages)` runs four steps; the caller (`streams.kafka.windows`) acks
afterwards, in offset order:

1. admit: decode, size limits, format mapping, routing, transform (`streams.domain.admission`);
   a message or event that cannot be sent becomes a failure record at once;
2. plan: accepted events into per-dataset requests that fill across windows
   (`streams.pipeline.batcher`: sent at `max_events`/`max_bytes` or after the batching wait);
3. deliver: every request through the `Deliverer` (retries, throttling, bisection, holds),
   waiting through `DatasetHolds.settle`: batches of a dataset held for a configuration error
   finish later (`WindowResult.later`) so the other datasets keep flowing;
4. emit: the outcome records (`OutcomeWriter`), and wait until Kafka acknowledged all of them.

Nothing here raises for bad input; an unexpected error inside a window marks the whole window
held, so its offsets are never committed and the events come back after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.capi.delivery import Deliverer
from streams.capi.holds import DatasetHolds
from streams.domain.admission import AcceptedEvent, AdmissionContext, InputMessage, admit_all
from streams.domain.batching import BatchLimits
from streams.domain.records import SourceRef
from streams.pipeline.batcher import DatasetBatcher, Part, PartResult, SendOutcome
from streams.pipeline.observer import PipelineObserver
from streams.pipeline.outcomes import OutcomeWriter

__all__ = ["Pipeline", "WindowResult"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What a window came to. `held` positions must never be acked; `waiting` positions belong
    to datasets held for a configuration error: `later` resolves to their own WindowResult
    once they are delivered, failed or abandoned."""

    held: frozenset[int]
    delivered: int
    failed: int
    waiting: frozenset[int] = frozenset()
    later: Awaitable[WindowResult] | None = field(default=None, repr=False)
    # held because of an unexpected error (a bug or a broken dependency), not a stop
    broken: bool = False


class Pipeline:
    """admit -> plan -> deliver -> emit, for one window at a time (windows may overlap)."""

    def __init__(
        self,
        admission: AdmissionContext,
        limits: Mapping[str, BatchLimits],
        deliverer: Deliverer,
        holds: DatasetHolds,
        outcomes: OutcomeWriter,
        observer: PipelineObserver,
        *,
        test_codes: Mapping[str, str | None],
        clock: Callable[[], float] = time.time,
        batch_wait_s: float = 0.0,
    ) -> None:
        self._admission = admission
        self._deliverer = deliverer
        self._holds = holds
        self._outcomes = outcomes
        self._observer = observer
        self._test_codes = dict(test_codes)
        self._clock = clock
        self._batcher = DatasetBatcher(self._send, limits, wait_s=batch_wait_s)

    async def process(self, messages: Sequence[InputMessage]) -> WindowResult:
        """Run one window; never raises except CancelledError (treat all as held then)."""
        try:
            return await self._process(messages)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("window failed unexpectedly; holding it events=%d", len(messages))
            return WindowResult(
                held=frozenset(range(len(messages))), delivered=0, failed=0, broken=True
            )

    async def _process(self, messages: Sequence[InputMessage]) -> WindowResult:
        now = self._clock()
        accepted, acks = await self._admit(messages, now)
        failed = len(acks)
        per_dataset: dict[str, list[AcceptedEvent]] = {}
        for a in accepted:
            per_dataset.setdefault(a.dataset, []).append(a)
        # A part keeps only its own events and coordinates: a request held for a configuration
        # error must not keep the whole window (raw messages included) alive.
        parts: dict[asyncio.Future[PartResult], Part] = {}
        for dataset, items in per_dataset.items():
            sources = [messages[a.position].source for a in items]
            for part in self._batcher.add(dataset, items, sources):
                parts[part.done] = part
        done, pending = await self._holds.settle(
            {fut: part.items[0].dataset for fut, part in parts.items()}
        )
        results = [t.result() for t in done]
        for res in results:
            acks.extend(res.acks)
        held = {p for r in results for p in r.held}
        delivered = sum(r.delivered for r in results)
        failed += sum(r.failed for r in results)
        await asyncio.gather(*acks)  # every outcome record is durable before any ack
        if not pending:
            return WindowResult(held=frozenset(held), delivered=delivered, failed=failed)
        waiting = frozenset(a.position for t in pending for a in parts[t].items)
        logger.info(
            "window continues without held datasets events=%d datasets=%s",
            len(waiting),
            ",".join(sorted({parts[t].items[0].dataset for t in pending})),
        )
        # A message whose events went to several requests may be waiting (one request held
        # for a configuration error) and held (another ended held): it stays held then.
        return WindowResult(
            held=frozenset(held - waiting),
            delivered=delivered,
            failed=failed,
            waiting=waiting,
            later=asyncio.ensure_future(_finish_later(pending, waiting, frozenset(held & waiting))),
        )

    async def _admit(
        self, messages: Sequence[InputMessage], now: float
    ) -> tuple[list[AcceptedEvent], list[Awaitable[Any]]]:
        """Step 1: admission, its observations reported, its failures emitted."""
        obs = self._observer
        consumed: dict[str, int] = {}
        for msg in messages:
            topic = msg.source.topic
            consumed[topic] = consumed.get(topic, 0) + 1
        admitted = admit_all(messages, self._admission, now)
        # one metric update per label set and window, not per event
        unmapped = Counter((fmt, p.reason.value, p.action.value) for fmt, p in admitted.unmapped)
        for (fmt, reason, action), n in unmapped.items():
            obs.on_unmapped(fmt, reason, action, n)
        for (field_, reason), n in Counter(
            (d.field, d.reason.value) for d in admitted.dropped
        ).items():
            obs.on_dropped(field_, reason, n)
        guarded = Counter((ds, g.field, g.action.value) for ds, g in admitted.guarded)
        for (dataset, field_, action), n in guarded.items():
            obs.on_guarded(dataset, field_, action, n)
        for topic, count in consumed.items():
            obs.on_consumed(topic, count)
        acks = await self._outcomes.failures(admitted.failures, now)
        return admitted.accepted, acks

    async def _send(
        self, dataset: str, items: list[AcceptedEvent], sources: list[SourceRef]
    ) -> SendOutcome:
        """Steps 3 and 4 for one request (`sources[i]` is where `items[i]` came from)."""
        res = await self._deliverer.deliver(
            dataset, [a.event for a in items], self._test_codes.get(dataset)
        )
        now = self._clock()
        acks: list[Awaitable[Any]] = []
        delivered: list[int] = []
        for req in res.delivered:
            sent = [(items[i], sources[i]) for i in req.indices]
            acks.extend(await self._outcomes.response(dataset, req, sent, now))
            delivered.extend(req.indices)
        for f in res.failures:
            acks.append(
                await self._outcomes.delivery_failure(
                    dataset, f, items[f.index], sources[f.index], now
                )
            )
        return SendOutcome(acks, delivered, [f.index for f in res.failures], res.held)


async def _finish_later(
    pending: set[asyncio.Future[PartResult]], waiting: frozenset[int], held: frozenset[int]
) -> WindowResult:
    """The held datasets' batches of a window: their outcomes, once durable. `held`: waiting
    positions that another batch of the window already left held."""
    try:
        results = await asyncio.gather(*pending)
        await asyncio.gather(*(a for r in results for a in r.acks))
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("held batches failed unexpectedly; holding events=%d", len(waiting))
        return WindowResult(held=waiting, delivered=0, failed=0, broken=True)
    return WindowResult(
        held=held | frozenset(p for r in results for p in r.held),
        delivered=sum(r.delivered for r in results),
        failed=sum(r.failed for r in results),
    )
