"""Process one take-window of input messages to durable outcomes.

`Pipeline.process(messages)` is the whole job for a window, in this order (the caller acks
afterwards, in offset order; see streams/kafka/agent.py):

1. Decode, route and transform every message (pure domain); a message that cannot be sent
   becomes a failure record at once (the failure records are produced while step 3 runs).
2. Plan the accepted events into per-dataset requests (<= 1,000 events, <= max bytes).
3. Deliver every request (retries, throttle pauses, bisection, config holds: Deliverer).
4. Produce one response record per accepted request and one failure record per failed event,
   and wait until Kafka acknowledged every one of them.
5. Return which messages are done (safe to ack) and which are held (must not be acked).

Nothing here raises for bad input; an unexpected error inside a window marks the whole window
held, so its offsets are never committed and the events come back after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from streams.capi.delivery import Deliverer, DeliveryResult
from streams.domain.batching import BatchLimits, PlannedBatch, plan_batches
from streams.domain.formats import UnmappedAction, map_message
from streams.domain.records import (
    GraphErrorInfo,
    PipelineReason,
    SourceRef,
    failure_record,
    response_record,
)
from streams.domain.routing import DATASET_HEADER, choose_dataset
from streams.domain.transform import (
    DatasetPolicy,
    Rejected,
    RejectReason,
    decode,
    event_dataset_id,
    transform,
)
from streams.observability.metrics import NO_DATASET, Metrics
from streams.settings import Settings

__all__ = ["InputMessage", "Pipeline", "RecordSink", "WindowResult"]

logger = logging.getLogger(__name__)

_UNPARSEABLE = frozenset({RejectReason.INVALID_JSON, RejectReason.NOT_AN_OBJECT})
# Outcome records stay below Kafka's default message.max.bytes (1 MiB) with room to spare.
MAX_RECORD_BYTES = 900_000


@dataclass(frozen=True, slots=True)
class InputMessage:
    source: SourceRef
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes] = field(default_factory=dict)


class RecordSink(Protocol):
    """Where outcome records go. `send` returns once the record is queued; awaiting the
    returned awaitable waits for Kafka's acknowledgement."""

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]: ...


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


@dataclass(slots=True)
class _BatchResult:
    acks: list[Awaitable[Any]]
    delivered: int
    failed: int
    held: frozenset[int]


@dataclass(slots=True)
class _Accepted:
    pos: int
    dataset: str
    event: dict[str, Any]
    event_id: str
    event_name: str
    size: int  # bytes of the event as sent


class Pipeline:
    """Turns windows of input messages into delivered events and outcome records."""

    def __init__(
        self,
        settings: Settings,
        deliverer: Deliverer,
        sink: RecordSink,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        hold_check_s: float = 0.5,
    ) -> None:
        self._s = settings
        self._hold_check_s = hold_check_s
        self._deliverer = deliverer
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._policies: dict[str, DatasetPolicy] = {d.id: d.policy() for d in settings.datasets}
        self._limits = {
            d.id: BatchLimits(max_events=d.max_events, max_bytes=d.max_bytes)
            for d in settings.datasets
        }
        self._max_event_bytes = {d.id: d.max_event_bytes for d in settings.datasets}
        self._tokens = {d.id: d.token.reveal() if d.token else "" for d in settings.datasets}
        self._test_codes = {d.id: d.test_event_code for d in settings.datasets}
        self._known = frozenset(self._policies)
        self._formats = settings.formats
        self._responses_topic = settings.kafka.responses_topic
        self._failures_topic = settings.kafka.failures_topic

    async def process(self, messages: Sequence[InputMessage]) -> WindowResult:
        """Run one window; never raises except CancelledError (treat all as held then)."""
        try:
            return await self._process(messages)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("window failed unexpectedly; holding it events=%d", len(messages))
            return WindowResult(held=frozenset(range(len(messages))), delivered=0, failed=0)

    async def _process(self, messages: Sequence[InputMessage]) -> WindowResult:
        now = self._clock()
        acks: list[Awaitable[Any]] = []
        accepted: list[_Accepted] = []
        failed = 0
        m = self._metrics
        max_bytes = self._s.kafka.max_message_bytes
        include_raw = self._s.failures.include_raw
        consumed: dict[str, int] = {}
        for pos, msg in enumerate(messages):
            topic = msg.source.topic
            consumed[topic] = consumed.get(topic, 0) + 1
            value = msg.value
            if value is None:
                acks.append(await self._fail(PipelineReason.EMPTY_MESSAGE, None, msg.source, now))
                failed += 1
                continue
            if len(value) > max_bytes:
                acks.append(
                    await self._fail(PipelineReason.MESSAGE_TOO_LARGE, None, msg.source, now)
                )
                failed += 1
                continue
            obj = decode(value)
            if isinstance(obj, Rejected):
                raw = value if include_raw and obj.reason in _UNPARSEABLE else None
                acks.append(await self._fail(obj.reason, obj.field, msg.source, now, raw=raw))
                failed += 1
                continue
            ts = msg.source.timestamp_ms
            topic_format = self._formats.for_topic(topic)
            mapped = map_message(
                obj,
                msg.headers,
                topic_format.format,
                topic_format.options,
                mappings=self._formats.mappings,
                received_at=ts / 1000 if ts is not None else now,
            )
            for part in mapped.unmapped:
                m.unmapped.labels(mapped.format, part.reason.value, part.action.value).inc()
                if part.action is UnmappedAction.FAIL:
                    acks.append(await self._fail(part.reason.value, part.field, msg.source, now))
                    failed += 1
            for native in mapped.events:
                failed += await self._transform_one(native, pos, msg, now, accepted, acks)
        for topic, count in consumed.items():
            m.consumed.labels(topic).inc(count)

        batches = plan_batches(
            ((i, a.dataset, a.size) for i, a in enumerate(accepted)),
            self._limits,
        )
        # Each batch task keeps only its own events and coordinates: a batch held for a
        # configuration error must not keep the whole window (raw messages included) alive.
        tasks: dict[asyncio.Task[_BatchResult], PlannedBatch] = {}
        for b in batches:
            items = [accepted[i] for i in b.items]
            sources = [messages[a.pos].source for a in items]
            task = asyncio.create_task(self._deliver_batch(b.dataset_id, items, sources, now))
            tasks[task] = b
        # Step 3: wait for every batch, except those of datasets held for a configuration error:
        # they finish later (`WindowResult.later`) so other datasets keep flowing meanwhile.
        pending = set(tasks)
        done_results: list[_BatchResult] = []
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=self._hold_check_s, return_when=asyncio.FIRST_COMPLETED
            )
            done_results.extend(t.result() for t in done)
            paused = self._deliverer.paused_datasets()
            if pending and all(tasks[t].dataset_id in paused for t in pending):
                break
        held: set[int] = set()
        delivered = 0
        for res in done_results:
            acks.extend(res.acks)
            delivered += res.delivered
            failed += res.failed
            held.update(res.held)
        # Step 4: every outcome record must be acknowledged by Kafka before any ack.
        await asyncio.gather(*acks)
        if not pending:
            return WindowResult(held=frozenset(held), delivered=delivered, failed=failed)
        waiting = frozenset(accepted[i].pos for t in pending for i in tasks[t].items)
        logger.info(
            "window continues without held datasets events=%d datasets=%s",
            len(waiting),
            ",".join(sorted({tasks[t].dataset_id for t in pending})),
        )
        return WindowResult(
            held=frozenset(held - waiting),
            delivered=delivered,
            failed=failed,
            waiting=waiting,
            later=asyncio.ensure_future(self._finish_later(pending, waiting)),
        )

    async def _finish_later(
        self, pending: set[asyncio.Task[_BatchResult]], waiting: frozenset[int]
    ) -> WindowResult:
        """The held datasets' batches of a window: their outcomes, once durable."""
        try:
            results = await asyncio.gather(*pending)
            await asyncio.gather(*(a for r in results for a in r.acks))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("held batches failed unexpectedly; holding events=%d", len(waiting))
            return WindowResult(held=waiting, delivered=0, failed=0)
        return WindowResult(
            held=frozenset(p for r in results for p in r.held),
            delivered=sum(r.delivered for r in results),
            failed=sum(r.failed for r in results),
        )

    async def _deliver_batch(
        self,
        dataset: str,
        items: Sequence[_Accepted],
        sources: Sequence[SourceRef],
        now: float,
    ) -> _BatchResult:
        """Deliver one planned batch (`sources[i]` is where `items[i]` came from) and queue
        its outcome records."""
        res = await self._deliverer.deliver(
            dataset, self._tokens[dataset], [a.event for a in items], self._test_codes[dataset]
        )
        acks: list[Awaitable[Any]] = []
        delivered = await self._record_delivery(res, items, sources, now, acks)
        return _BatchResult(
            acks=acks,
            delivered=delivered,
            failed=len(res.failures),
            held=frozenset(items[i].pos for i in res.held),
        )

    async def _transform_one(
        self,
        obj: Mapping[str, Any],
        pos: int,
        msg: InputMessage,
        now: float,
        accepted: list[_Accepted],
        acks: list[Awaitable[Any]],
    ) -> int:
        """Route and transform one native event; return 1 if it failed, else 0."""
        dataset, known = choose_dataset(
            event_dataset=event_dataset_id(obj),
            header_dataset=msg.headers.get(DATASET_HEADER),
            topic=msg.source.topic,
            topic_map=self._s.routing.topics,
            default=self._s.routing.default_dataset,
            known=self._known,
            event_names_dataset=obj.get("dataset_id") is not None,
        )
        if dataset is None or not known:
            field_ = "dataset_id" if dataset is not None else None
            acks.append(await self._fail(PipelineReason.UNKNOWN_DATASET, field_, msg.source, now))
            return 1
        result = transform(obj, self._policies[dataset], now=now, source_key=msg.key)
        for drop in result.dropped:
            self._metrics.dropped.labels(drop.field, drop.reason.value).inc()
        size = 0 if isinstance(result, Rejected) else len(orjson.dumps(result.event))
        # Meta documents no size limit per event; a bound keeps one giant event (huge strings,
        # thousands of contents) out of requests. Failure records omit an event too large
        # for Kafka.
        if isinstance(result, Rejected) or size > self._max_event_bytes[dataset]:
            reason, field_ = (
                (result.reason, result.field)
                if isinstance(result, Rejected)
                else (PipelineReason.EVENT_TOO_LARGE, None)
            )
            acks.append(
                await self._fail(
                    reason,
                    field_,
                    msg.source,
                    now,
                    dataset=dataset,
                    event=result.event,
                    event_id=result.event_id,
                    event_name=result.event_name,
                )
            )
            return 1
        accepted.append(
            _Accepted(pos, dataset, result.event, result.event_id, result.event_name, size)
        )
        return 0

    async def _record_delivery(
        self,
        res: DeliveryResult,
        items: Sequence[_Accepted],
        sources: Sequence[SourceRef],
        now: float,
        acks: list[Awaitable[Any]],
    ) -> int:
        dataset = res.dataset_id
        delivered = 0
        test_code = self._test_codes.get(dataset)
        for req in res.delivered:
            sent = [(items[i], sources[i]) for i in req.indices]
            parts = [sent]
            while True:
                values = [
                    orjson.dumps(
                        response_record(
                            dataset_id=dataset,
                            events_received=req.events_received,
                            fbtrace_id=req.fbtrace_id,
                            messages=req.messages,
                            event_ids=[a.event_id for a, _ in part],
                            sources=[src for _, src in part],
                            attempts=req.attempts,
                            latency_s=req.latency_s,
                            now=now,
                            test_event_code=test_code,
                            part=(k + 1, len(parts)) if len(parts) > 1 else None,
                        )
                    )
                    for k, part in enumerate(parts)
                ]
                if max(map(len, values)) <= MAX_RECORD_BYTES or len(parts) >= len(sent):
                    break
                # Long event ids: Kafka would refuse one record; split the request's record.
                n = len(parts) * 2
                parts = [sent[k::n] for k in range(n) if sent[k::n]]
                parts.sort(key=lambda p: p[0][0].pos)
            for value in values:
                acks.append(
                    await self._emit_bytes(
                        self._responses_topic, dataset.encode(), value, "response"
                    )
                )
            self._metrics.on_delivered(dataset, (a.event for a, _ in sent), len(sent), now)
            delivered += len(sent)
        for f in res.failures:
            a = items[f.index]
            graph = GraphErrorInfo(f.status, f.code, f.subcode, f.fbtrace_id, f.title, f.detail)
            acks.append(
                await self._fail(
                    f.reason,
                    None,
                    sources[f.index],
                    now,
                    dataset=dataset,
                    event=a.event,
                    event_id=a.event_id,
                    event_name=a.event_name,
                    attempts=f.attempts,
                    graph=graph,
                )
            )
        return delivered

    async def _fail(
        self,
        reason: str,
        field_: str | None,
        source: SourceRef,
        now: float,
        *,
        dataset: str | None = None,
        event: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        event_name: str | None = None,
        attempts: int = 0,
        graph: GraphErrorInfo | None = None,
        raw: bytes | None = None,
    ) -> Awaitable[Any]:
        self._metrics.failed.labels(dataset or NO_DATASET, str(reason)).inc()
        record = failure_record(
            reason=str(reason),
            field=field_,
            source=source,
            now=now,
            dataset_id=dataset,
            event=event,
            event_id=event_id,
            event_name=event_name,
            attempts=attempts,
            graph=graph,
            raw=raw,
        )
        key = event_id.encode() if event_id else None
        value = orjson.dumps(record)
        if len(value) > MAX_RECORD_BYTES:
            # Kafka would refuse the record (message.max.bytes) and block the partition: keep
            # the reason and coordinates, leave the bulky payload out, and say so.
            omitted = [k for k in ("event", "raw_base64") if record.pop(k, None) is not None]
            record["omitted"] = omitted
            value = orjson.dumps(record)
        return await self._emit_bytes(self._failures_topic, key, value, "failure")

    async def _emit_bytes(
        self, topic: str, key: bytes | None, value: bytes, kind: str
    ) -> Awaitable[Any]:
        """Queue one record; the returned future resolves once Kafka acknowledged it."""
        fut = asyncio.ensure_future(await self._sink.send(topic, key, value))
        fut.add_done_callback(_Count(self._metrics.records.labels(topic, kind)))
        return fut


class _Count:
    """Done-callback: counts a record once Kafka acknowledged it (cheaper than a coroutine
    wrapper per record: no task per record in the window's gather)."""

    __slots__ = ("_counter",)

    def __init__(self, counter: Any) -> None:
        self._counter = counter

    def __call__(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._counter.inc()
