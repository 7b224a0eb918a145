"""Shapes of the outcome records written to the responses and failures topics.

Responses topic: one record per request Meta accepted. Failures topic: one record per event that
will not be delivered, with a reason code. Neither carries raw customer information by default:
a failure record holds the event as `failures.keep_event` says (`streams.domain.privacy.redact`;
by default as it would have been sent, user_data hashed, minus the client IP address, with the
PII guard applied to the rest); raw input appears only for messages that could not be parsed at
all, and only when the operator turned `failures.include_raw` on.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any, Final

import orjson

from streams.domain.privacy.guard import PiiPolicy
from streams.domain.privacy.redact import KeepEvent, kept_event, kept_ids

__all__ = [
    "FailureRecord",
    "GraphErrorInfo",
    "PipelineReason",
    "SourceRef",
    "failure_record",
    "failure_record_bytes",
    "response_record",
]

SCHEMA_VERSION = 1


class PipelineReason(StrEnum):
    """Failure reasons decided outside the event transform (the transform's are RejectReason)."""

    UNKNOWN_DATASET = "unknown_dataset"  # the event names no configured dataset
    # the event names a dataset its locked topic does not allow (routing.topics lock = true)
    DATASET_NOT_ALLOWED_FOR_TOPIC = "dataset_not_allowed_for_topic"
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
    # False: `event` is the input event, user_data never normalized (no dataset policy)
    hashed: bool = True


def failure_record(
    failure: FailureRecord,
    now: float,
    *,
    keep: KeepEvent = KeepEvent.REDACTED,
    guard: PiiPolicy | None = None,
    current_year: int = 0,
) -> dict[str, Any]:
    """The failures-topic record of `failure`, failed at `now`; its event as `keep` says
    (`guard`: the dataset's PII guard policy, None for the defaults)."""
    kept = kept_event(failure.event, keep, guard, hashed=failure.hashed, current_year=current_year)
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
    event_id, event_name = kept_ids(failure.event_id, failure.event_name, keep, guard)
    if event_id is not None:
        out["event_id"] = event_id
    if event_name is not None:
        out["event_name"] = event_name
    if failure.graph is not None:
        out["graph"] = failure.graph.as_dict()
    if kept.event is not None:
        out["event"] = kept.event
    if kept.redacted:
        out["redacted"] = list(kept.redacted)
    if kept.redacted_more:
        out["redacted_more"] = kept.redacted_more
    if kept.user_data_keys is not None:
        out["user_data_keys"] = list(kept.user_data_keys)
    if failure.raw is not None:
        out["raw_base64"] = base64.b64encode(failure.raw).decode("ascii")
    return out


# Left out first when a failure record is too large for Kafka, in this order.
_BULKY: Final = ("event", "raw_base64", "redacted", "redacted_more", "user_data_keys", "graph")
# All a record keeps when it is still too large without them.
_ESSENTIAL: Final = ("schema", "kind", "reason", "source", "failed_at")


def failure_record_bytes(record: dict[str, Any], max_bytes: int) -> bytes:
    """`record` serialized within `max_bytes` (Kafka refuses larger records and the partition
    would be blocked): the bulky fields left out and listed in `omitted` when needed, and as
    a last resort only the reason and the source coordinates (and `omitted`)."""
    value = orjson.dumps(record)
    if len(value) <= max_bytes:
        return value
    slim = {k: v for k, v in record.items() if k not in _BULKY}
    slim["omitted"] = [k for k in _BULKY if k in record]
    value = orjson.dumps(slim)
    if len(value) <= max_bytes:
        return value
    bare: dict[str, Any] = {k: record[k] for k in _ESSENTIAL if k in record}
    bare["omitted"] = [k for k in record if k not in _ESSENTIAL]
    return orjson.dumps(bare)


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
