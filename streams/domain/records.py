"""Shapes of the outcome records written to the responses and failures topics.

Responses topic: one record per request Meta accepted. Failures topic: one record per event that
will not be delivered, with a reason code. Neither carries raw customer information: failure
records hold the event as it would have been sent (user_data already hashed) minus the client IP
address, which Meta takes unhashed and is personal data; raw input appears only for messages that
could not be parsed at all, and only when the operator turned `failures.include_raw` on.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any

__all__ = [
    "REDACTED_USER_DATA_KEYS",
    "FailureRecord",
    "GraphErrorInfo",
    "PipelineReason",
    "SourceRef",
    "failure_record",
    "response_record",
    "safe_event",
]

SCHEMA_VERSION = 1
REDACTED_USER_DATA_KEYS = ("client_ip_address",)


class PipelineReason(StrEnum):
    """Failure reasons decided outside the event transform (the transform's are RejectReason)."""

    UNKNOWN_DATASET = "unknown_dataset"  # the event names no configured dataset
    MESSAGE_TOO_LARGE = "message_too_large"  # the Kafka message is over kafka.max_message_bytes
    EVENT_TOO_LARGE = "event_too_large"  # the event as sent is over datasets[].max_event_bytes
    EMPTY_MESSAGE = "empty_message"  # a record with no value (tombstone)
    GRAPH_REJECTED = "graph_rejected"  # Meta refused the event (isolated by bisection)
    RETRIES_EXHAUSTED = "retries_exhausted"  # transient errors outlasted the retry policy


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where an input message came from."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }
        if self.timestamp_ms is not None:
            out["timestamp_ms"] = self.timestamp_ms
        return out


@dataclass(frozen=True, slots=True)
class GraphErrorInfo:
    status: int | None
    code: int | None
    subcode: int | None
    fbtrace_id: str | None
    title: str | None  # Meta's error_user_title: a fixed per-error title, no event values
    detail: str | None  # our classification detail (timeout, http_5xx, payload_invalid, ...)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in _fields(self) if v is not None}


def _fields(info: GraphErrorInfo) -> Iterable[tuple[str, Any]]:
    yield "status", info.status
    yield "code", info.code
    yield "subcode", info.subcode
    yield "fbtrace_id", info.fbtrace_id
    yield "title", info.title
    yield "detail", info.detail


def safe_event(event: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, list[str]]:
    """The event without raw personal data, and the paths that were removed."""
    if event is None:
        return None, []
    user_data = event.get("user_data")
    if not isinstance(user_data, Mapping) or not any(
        k in user_data for k in REDACTED_USER_DATA_KEYS
    ):
        return dict(event), []
    cleaned = {k: v for k, v in user_data.items() if k not in REDACTED_USER_DATA_KEYS}
    removed = [f"user_data.{k}" for k in REDACTED_USER_DATA_KEYS if k in user_data]
    out = dict(event)
    out["user_data"] = cleaned
    return out, removed


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """One event (or message) that will not be delivered: why, where from, and what is known.

    `raw` must only be set for unparseable input with `failures.include_raw` on."""

    reason: str
    source: SourceRef
    field: str | None = None
    dataset_id: str | None = None
    event: Mapping[str, Any] | None = dataclass_field(default=None, repr=False)
    event_id: str | None = None
    event_name: str | None = None
    attempts: int = 0
    graph: GraphErrorInfo | None = None
    raw: bytes | None = dataclass_field(default=None, repr=False)


def failure_record(failure: FailureRecord, now: float) -> dict[str, Any]:
    """The failures-topic record of `failure`, failed at `now`."""
    safe, removed = safe_event(failure.event)
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "kind": "failure",
        "reason": str(failure.reason),
        "source": failure.source.as_dict(),
        "failed_at": round(now, 3),
        "attempts": failure.attempts,
    }
    if failure.field is not None:
        out["field"] = failure.field
    if failure.dataset_id is not None:
        out["dataset_id"] = failure.dataset_id
    if failure.event_id is not None:
        out["event_id"] = failure.event_id
    if failure.event_name is not None:
        out["event_name"] = failure.event_name
    if failure.graph is not None:
        out["graph"] = failure.graph.as_dict()
    if safe is not None:
        out["event"] = safe
    if removed:
        out["redacted"] = removed
    if failure.raw is not None:
        out["raw_base64"] = base64.b64encode(failure.raw).decode("ascii")
    return out


def response_record(
    *,
    dataset_id: str,
    events_received: int | None,
    fbtrace_id: str | None,
    messages: Sequence[str],
    event_ids: Sequence[str],
    sources: Sequence[SourceRef],
    attempts: int,
    latency_s: float,
    now: float,
    test_event_code: str | None = None,
    part: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One responses-topic record for a request Meta accepted (`part` = (k, n) when the
    request's record is split in n records to stay within Kafka's record size)."""
    by_tp: dict[tuple[str, int], list[int]] = {}
    for s in sources:
        by_tp.setdefault((s.topic, s.partition), []).append(s.offset)
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "kind": "response",
        "dataset_id": dataset_id,
        "events_sent": len(event_ids),
        "events_received": events_received,
        "fbtrace_id": fbtrace_id,
        "messages": list(messages),
        "event_ids": list(event_ids),
        "sources": [
            {"topic": t, "partition": p, "offsets": offs} for (t, p), offs in by_tp.items()
        ],
        "attempts": attempts,
        "latency_s": round(latency_s, 4),
        "delivered_at": round(now, 3),
    }
    if test_event_code is not None:
        out["test_event_code"] = test_event_code
    if part is not None:
        out["part"], out["parts"] = part
    return out
