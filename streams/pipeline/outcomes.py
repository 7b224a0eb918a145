"""Outcome records: build them, keep them within Kafka's record size, emit them, count acks.

* one response record per request Meta accepted (split in parts when its event ids would make
  it larger than `MAX_RECORD_BYTES`);
* one failure record per event that will not be delivered (the bulky `event`, `raw_base64`,
  `redacted`, `user_data_keys`, `graph` left out, and listed in `omitted`, when the record
  would be too large for Kafka; `records.failure_record_bytes`).

Every `emit` returns an awaitable that resolves once Kafka acknowledged the record; the
pipeline awaits all of a window's before it lets the window be acked.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from streams.capi.delivery import DeliveredRequest, EventFailure
from streams.domain.admission import AcceptedEvent
from streams.domain.privacy.guard import PiiPolicy
from streams.domain.privacy.redact import KeepEvent
from streams.domain.records import (
    FailureRecord,
    GraphErrorInfo,
    SourceRef,
    failure_record,
    failure_record_bytes,
    response_record,
)
from streams.pipeline.observer import PipelineObserver

__all__ = ["MAX_RECORD_BYTES", "OutcomeWriter", "RecordSink"]

# Outcome records stay below Kafka's default message.max.bytes (1 MiB) with room to spare.
MAX_RECORD_BYTES = 900_000


class RecordSink(Protocol):
    """Where outcome records go. `send` returns once the record is queued; awaiting the
    returned awaitable waits for Kafka's acknowledgement."""

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]: ...


class OutcomeWriter:
    """Writes response and failure records to their topics through a `RecordSink`."""

    def __init__(
        self,
        sink: RecordSink,
        observer: PipelineObserver,
        *,
        responses_topic: str,
        failures_topic: str,
        test_codes: Mapping[str, str | None],
        max_record_bytes: int = MAX_RECORD_BYTES,
        keep_event: KeepEvent = KeepEvent.REDACTED,
        guards: Mapping[str, PiiPolicy] | None = None,
    ) -> None:
        self._sink = sink
        self._observer = observer
        self._responses = responses_topic
        self._failures = failures_topic
        self._test_codes = dict(test_codes)
        self._max = max_record_bytes
        self._keep = keep_event  # what a failure record keeps of its event (README: Privacy)
        self._guards = dict(guards or {})

    async def failure(self, failure: FailureRecord, now: float) -> Awaitable[Any]:
        """Emit one failure record."""
        self._observer.on_failed(failure.dataset_id, str(failure.reason))
        return await self._failure(failure, now)

    async def failures(self, failures: Sequence[FailureRecord], now: float) -> list[Awaitable[Any]]:
        """Emit the failure records of a window, counted once per dataset and reason."""
        acks: list[Awaitable[Any]] = []
        try:
            for f in failures:
                acks.append(await self._failure(f, now))
        finally:  # the records queued (all of them unless the sink failed)
            counts = Counter((f.dataset_id, str(f.reason)) for f in failures[: len(acks)])
            for (dataset, reason), n in counts.items():
                self._observer.on_failed(dataset, reason, n)
        return acks

    async def _failure(self, failure: FailureRecord, now: float) -> Awaitable[Any]:
        dataset = failure.dataset_id
        record = failure_record(
            failure,
            now,
            keep=self._keep,
            guard=self._guards.get(dataset) if dataset is not None else None,
            current_year=time.gmtime(now).tm_year,
        )
        # Kafka would refuse a larger record (message.max.bytes) and block the partition
        value = failure_record_bytes(record, self._max)
        event_id = record.get("event_id")  # as the record keeps it (personal data hashed)
        key = event_id.encode() if isinstance(event_id, str) and event_id else None
        return await self._emit(self._failures, key, value, "failure")

    async def delivery_failure(
        self, dataset: str, f: EventFailure, event: AcceptedEvent, source: SourceRef, now: float
    ) -> Awaitable[Any]:
        """Emit the failure record of an event Meta refused or that ran out of retries."""
        graph = GraphErrorInfo(f.status, f.code, f.subcode, f.fbtrace_id, f.title, f.detail)
        failure = FailureRecord(
            f.reason,
            source,
            dataset_id=dataset,
            event=event.event,
            event_id=event.event_id,
            event_name=event.event_name,
            attempts=f.attempts,
            graph=graph,
        )
        return await self.failure(failure, now)

    async def response(
        self,
        dataset: str,
        req: DeliveredRequest,
        sent: Sequence[tuple[AcceptedEvent, SourceRef]],
        now: float,
    ) -> list[Awaitable[Any]]:
        """Emit the response record(s) of one accepted request."""
        acks = [
            await self._emit(self._responses, dataset.encode(), value, "response")
            for value in self._response_values(dataset, req, sent, now)
        ]
        self._observer.on_delivered(dataset, (a.event for a, _ in sent), len(sent), now)
        return acks

    def _response_values(
        self,
        dataset: str,
        req: DeliveredRequest,
        sent: Sequence[tuple[AcceptedEvent, SourceRef]],
        now: float,
    ) -> list[bytes]:
        parts = [list(sent)]
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
                        test_event_code=self._test_codes.get(dataset),
                        part=(k + 1, len(parts)) if len(parts) > 1 else None,
                    )
                )
                for k, part in enumerate(parts)
            ]
            if max(map(len, values)) <= self._max or len(parts) >= len(sent):
                return values
            # Long event ids: Kafka would refuse one record; split the request's record.
            n = len(parts) * 2
            parts = [list(sent[k::n]) for k in range(n) if sent[k::n]]
            parts.sort(key=lambda p: p[0][0].position)

    async def _emit(self, topic: str, key: bytes | None, value: bytes, kind: str) -> Awaitable[Any]:
        """Queue one record; the returned future resolves once Kafka acknowledged it."""
        fut = asyncio.ensure_future(await self._sink.send(topic, key, value))
        fut.add_done_callback(_Count(self._observer, topic, kind))
        return fut


class _Count:
    """Done-callback: counts a record once Kafka acknowledged it (cheaper than a coroutine
    wrapper per record: no task per record in the window's gather)."""

    __slots__ = ("_kind", "_observer", "_topic")

    def __init__(self, observer: PipelineObserver, topic: str, kind: str) -> None:
        self._observer = observer
        self._topic = topic
        self._kind = kind

    def __call__(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._observer.on_record(self._topic, self._kind)
