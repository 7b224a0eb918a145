"""Admission: one input message in, the events to send and the failures out.

`admit(message, context, now)` runs every step that decides whether an event may be sent, in
this order, and nothing else (no metrics, no I/O):

1. the message: present (`empty_message`), within `kafka.max_message_bytes`
   (`message_too_large`), decodable JSON object (`invalid_json`, `not_an_object`); a message
   may also arrive already decoded (a mapping: a schema registry decoded it), then the byte
   checks do not apply;
2. format mapping (`map_message`): native events, plus unmapped parts; a part whose action is
   `fail` becomes a failure;
3. per native event: routing to a configured dataset (`unknown_dataset`; on a locked topic
   only to its datasets: `dataset_not_allowed_for_topic`), the transform (hashing, validation:
   `RejectReason`), the PII guard on the event as it will be sent (`streams.domain.privacy`:
   no personal data outside hashed user_data), the size of the event as sent
   (`datasets[].max_event_bytes`: `event_too_large`), then every `EventCheck` of the context.

The worker's pipeline, `capi-streams validate` and the benchmarks all call it, so they agree on
what is sent. What the steps noticed (unmapped parts, dropped values, guarded fields) comes back as
data for the caller's metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from streams.domain.civil_time import SECONDS_PER_DAY, year_of_day
from streams.domain.formats import FormatConfig, Unmapped, UnmappedAction, map_message
from streams.domain.normalize import Dropped
from streams.domain.privacy.guard import Guarded, GuardMode, PiiPolicy, guard_built_event
from streams.domain.records import FailureRecord, PipelineReason, SourceRef
from streams.domain.routing import DATASET_HEADER, choose_dataset, locked_out
from streams.domain.transform import (
    Accepted,
    DatasetPolicy,
    Rejected,
    RejectReason,
    decode,
    event_dataset_id,
    transform,
)

__all__ = [
    "AcceptedEvent",
    "Admission",
    "AdmissionContext",
    "EventAdmission",
    "EventCheck",
    "InputMessage",
    "admit",
    "admit_all",
]

_UNPARSEABLE: Final = frozenset({RejectReason.INVALID_JSON, RejectReason.NOT_AN_OBJECT})

#: A check on every event that passed the transform and the size limit, before batching:
#: `(dataset, event as sent)` -> None to accept, or `(reason, field)` to fail it.
EventCheck = Callable[[str, Mapping[str, Any]], tuple[str, str | None] | None]


@dataclass(frozen=True, slots=True)
class InputMessage:
    """One input message. `value` is the raw bytes, an already decoded mapping, or None
    (a tombstone)."""

    source: SourceRef
    key: bytes | None
    value: bytes | Mapping[str, Any] | None = field(repr=False)
    headers: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdmissionContext:
    """What admission needs from the configuration (`Settings.admission()` builds it).

    `fixed_dataset`, when set, skips routing: every event goes to that dataset's policy
    (`capi-streams validate --dataset`).
    """

    policies: Mapping[str, DatasetPolicy]
    max_event_bytes: Mapping[str, int]
    max_message_bytes: int = 1_000_000
    formats: FormatConfig = field(default_factory=FormatConfig)
    topic_datasets: Mapping[str, str] = field(default_factory=dict)
    default_dataset: str | None = None
    include_raw: bool = False
    fixed_dataset: str | None = None
    checks: tuple[EventCheck, ...] = ()
    guards: Mapping[str, PiiPolicy] = field(default_factory=dict)  # per dataset; none: off
    topic_locks: Mapping[str, frozenset[str]] = field(default_factory=dict)
    known: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "known", frozenset(self.policies))


@dataclass(frozen=True, slots=True)
class AcceptedEvent:
    """An event to send: its dataset, the event as sent and its size in bytes (as JSON)."""

    dataset: str
    event: dict[str, Any] = field(repr=False)
    event_id: str
    event_name: str
    size: int
    position: int = 0  # the message's position in the caller's window


@dataclass(frozen=True, slots=True)
class EventAdmission:
    """The fate of one native event: accepted or failed, and the values the transform dropped.
    `native` is the event before the transform (for `validate`'s report)."""

    result: AcceptedEvent | FailureRecord
    dropped: tuple[Dropped, ...] = ()
    native: Mapping[str, Any] | None = field(default=None, repr=False)
    guarded: tuple[Guarded, ...] = ()  # what the PII guard removed or hashed


@dataclass(slots=True)
class Admission:
    """What admission made of one message (or, from `admit_all`, of a window)."""

    accepted: list[AcceptedEvent] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)
    unmapped: list[tuple[str, Unmapped]] = field(default_factory=list)  # (format, part)
    dropped: list[Dropped] = field(default_factory=list)
    guarded: list[tuple[str, Guarded]] = field(default_factory=list)  # (dataset, field)
    events: list[EventAdmission] = field(default_factory=list)  # in input order
    format: str | None = None


def admit(
    message: InputMessage,
    context: AdmissionContext,
    now: float,
    *,
    position: int = 0,
    received_at: float | None = None,
) -> Admission:
    """Admit one message; never raises for bad input. `received_at` (default: the record's
    timestamp, else `now`) is the event time of formats whose events may lack one."""
    out = Admission()
    _admit_into(out, message, context, now, position, received_at, keep_events=True)
    return out


def admit_all(messages: Sequence[InputMessage], context: AdmissionContext, now: float) -> Admission:
    """Admit a window of messages; accepted events carry their message's position (`events`
    and `format` stay empty: per message, see `admit`)."""
    out = Admission()
    for position, message in enumerate(messages):
        _admit_into(out, message, context, now, position, None, keep_events=False)
    return out


def _admit_into(
    out: Admission,
    message: InputMessage,
    context: AdmissionContext,
    now: float,
    position: int,
    received_at: float | None,
    *,
    keep_events: bool,
) -> None:
    """`admit`, adding to `out` (one Admission for a whole window)."""
    source = message.source
    obj = _decoded(message, context, out)
    if obj is None:
        return
    if received_at is None:
        ts = source.timestamp_ms
        received_at = ts / 1000 if ts is not None else now
    topic_format = context.formats.for_topic(source.topic)
    mapped = map_message(
        obj,
        message.headers,
        topic_format.format,
        topic_format.options,
        mappings=context.formats.mappings,
        received_at=received_at,
    )
    if keep_events:
        out.format = mapped.format
    for part in mapped.unmapped:
        out.unmapped.append((mapped.format, part))
        if part.action is UnmappedAction.FAIL:
            out.failures.append(FailureRecord(part.reason.value, source, field=part.field))
    for native in mapped.events:
        one = _admit_event(native, message, context, now, position)
        if keep_events:
            out.events.append(one)
        if one.dropped:
            out.dropped.extend(one.dropped)
        if isinstance(one.result, AcceptedEvent):
            if one.guarded:
                out.guarded.extend((one.result.dataset, g) for g in one.guarded)
            out.accepted.append(one.result)
        else:
            out.failures.append(one.result)


def _decoded(
    message: InputMessage, context: AdmissionContext, out: Admission
) -> Mapping[str, Any] | None:
    """The decoded value, or None after recording why the message cannot be read."""
    value, source = message.value, message.source
    if value is None:
        out.failures.append(FailureRecord(PipelineReason.EMPTY_MESSAGE, source))
        return None
    if isinstance(value, Mapping):
        return value
    if len(value) > context.max_message_bytes:
        out.failures.append(FailureRecord(PipelineReason.MESSAGE_TOO_LARGE, source))
        return None
    obj = decode(value)
    if isinstance(obj, Rejected):
        raw = value if context.include_raw and obj.reason in _UNPARSEABLE else None
        out.failures.append(FailureRecord(obj.reason, source, field=obj.field, raw=raw))
        return None
    return obj


def _route(
    obj: Mapping[str, Any], message: InputMessage, context: AdmissionContext
) -> tuple[str | None, bool]:
    if context.fixed_dataset is not None:
        return context.fixed_dataset, context.fixed_dataset in context.policies
    return choose_dataset(
        event_dataset=event_dataset_id(obj),
        header_dataset=message.headers.get(DATASET_HEADER),
        topic=message.source.topic,
        topic_map=context.topic_datasets,
        default=context.default_dataset,
        known=context.known,
        event_names_dataset=obj.get("dataset_id") is not None,
    )


_NO_LIMIT: Final = 2**63


def _admit_event(
    native: Mapping[str, Any],
    message: InputMessage,
    context: AdmissionContext,
    now: float,
    position: int,
) -> EventAdmission:
    source = message.source
    dataset, known = _route(native, message, context)
    if dataset is None or not known:
        field_ = "dataset_id" if dataset is not None else None
        failure = FailureRecord(
            PipelineReason.UNKNOWN_DATASET, source, field=field_, event=native, hashed=False
        )
        return EventAdmission(failure, native=native)
    if context.topic_locks and locked_out(source.topic, dataset, context.topic_locks):
        field_ = "dataset_id" if native.get("dataset_id") is not None else None
        failure = FailureRecord(
            PipelineReason.DATASET_NOT_ALLOWED_FOR_TOPIC,
            source,
            field=field_,
            event=native,
            hashed=False,
        )
        return EventAdmission(failure, native=native)
    result = transform(native, context.policies[dataset], now=now, source_key=message.key)
    limit = context.max_event_bytes.get(dataset, _NO_LIMIT)
    if isinstance(result, Rejected):
        failure = FailureRecord(
            result.reason,
            source,
            field=result.field,
            dataset_id=dataset,
            event=result.event,
            event_id=result.event_id,
            event_name=result.event_name,
        )
        return EventAdmission(failure, tuple(result.dropped), native)
    event, guarded, size = _sized(result, context.guards.get(dataset), now, limit)
    problem: tuple[str, str | None] | None = None
    if size > limit:
        problem = (PipelineReason.EVENT_TOO_LARGE, None)
    for check in context.checks:
        if problem is not None:
            break
        problem = check(dataset, event)
    if problem is not None:
        failure = FailureRecord(
            problem[0],
            source,
            field=problem[1],
            dataset_id=dataset,
            event=event,
            event_id=event["event_id"],
            event_name=event["event_name"],
        )
        return EventAdmission(failure, tuple(result.dropped), native, guarded)
    # event_id and event_name as sent: the guard hashes personal data in them
    accepted = AcceptedEvent(dataset, event, event["event_id"], event["event_name"], size, position)
    return EventAdmission(accepted, tuple(result.dropped), native, guarded)


def _sized(
    accepted: Accepted, guard: PiiPolicy | None, now: float, limit: int
) -> tuple[dict[str, Any], tuple[Guarded, ...], int]:
    """The event as sent, what the guard did, and its size; an event over `limit` before the
    guard is not guarded (the guard's scan of a huge event is what the limit avoids): only
    its ids are, as they would be sent. Meta documents no size limit per event; the bound
    keeps one giant event (huge strings, thousands of contents) out of requests."""
    event = accepted.event
    size = len(orjson.dumps(event))
    if size > limit:
        ids = {k: event[k] for k in ("event_id", "event_name")}
        return {**event, **_guarded(ids, guard, now, accepted.derived_id)[0]}, (), size
    event, guarded = _guarded(event, guard, now, accepted.derived_id)
    if not guarded:  # the guard reports every change: the same JSON, the same size
        return event, guarded, size
    return event, guarded, len(orjson.dumps(event))  # hashes can make it larger


def _guarded(
    event: dict[str, Any], guard: PiiPolicy | None, now: float, derived_id: bool
) -> tuple[dict[str, Any], tuple[Guarded, ...]]:
    """The event as it will be sent: no personal data outside hashed user_data (the event
    itself when the guard changes nothing: the transform built it, admission owns it)."""
    if guard is None or guard.mode is GuardMode.OFF:
        return event, ()
    year = year_of_day(int(now) // SECONDS_PER_DAY) if guard.mode is GuardMode.HASH else 0
    return guard_built_event(event, guard, year, derived_id=derived_id)
