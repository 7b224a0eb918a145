"""Payload Helper: for each event of a file, what would be sent to Meta, or why not.

`explain` runs the stream's own admission step (format mapping, the transform, the event size
limit) on every message of a JSON document, a JSON array of messages, or JSON Lines, and
returns one `Explanation` per resulting event or unmapped part: the hashed event that would be
sent, or the rejection (reason and CAPI field), plus the values that were dropped and why.
`render_text` formats them for a terminal. Pure: `now` is passed in, nothing is read or sent.

A message may also be written as `{"headers": {...}, "value": {...}}` to give it Kafka headers
(e.g. `capi-format`, or the `ce_` headers of a binary-mode CloudEvent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, cast

import orjson

from streams.domain.admission import AdmissionContext, EventAdmission, InputMessage, admit
from streams.domain.civil_time import SECONDS_PER_DAY, year_of_day
from streams.domain.formats import (
    FormatConfig,
    FormatOptions,
    MappingSpec,
    TopicFormat,
    Unmapped,
    UnmappedAction,
)
from streams.domain.formats.result import SOURCE_INDEX_KEY
from streams.domain.model import (
    APP_DATA_KEYS,
    ATTRIBUTION_DATA_KEYS,
    INPUT_ONLY_KEYS,
    ORIGINAL_EVENT_DATA_KEYS,
    SERVER_EVENT_KEYS,
)
from streams.domain.normalize import (
    ALIASES,
    HASHED_KEYS,
    UNHASHED_KEYS,
    UNKNOWN_KEY_FIELD,
    national_phone_without_country,
)
from streams.domain.privacy.guard import Guarded, PiiPolicy
from streams.domain.privacy.redact import KeepEvent, kept_event, kept_ids
from streams.domain.records import FailureRecord, SourceRef
from streams.domain.transform import DatasetPolicy, RejectReason

__all__ = [
    "DroppedField",
    "Explanation",
    "SourceMessage",
    "Verdict",
    "explain",
    "has_failures",
    "read_messages",
    "render_text",
]

_USER_DATA_INPUT_KEYS: Final = HASHED_KEYS | UNHASHED_KEYS | ALIASES.keys() | {"fbclid"}
_TOP_LEVEL_INPUT_KEYS: Final = SERVER_EVENT_KEYS | INPUT_ONLY_KEYS | {SOURCE_INDEX_KEY}
_TYPED_OBJECTS: Final[Mapping[str, frozenset[str]]] = {
    "app_data": APP_DATA_KEYS,
    "original_event_data": ORIGINAL_EVENT_DATA_KEYS,
    "attribution_data": ATTRIBUTION_DATA_KEYS,
}
_KAFKA_MESSAGE_KEYS: Final = frozenset({"headers", "value"})
_TOPIC: Final = "validate"  # the source topic of file messages (no topic format applies)

PHONE_WITHOUT_COUNTRY: Final = (
    "user_data.ph: a phone number without a country code and no country (neither the event's "
    "user_data.country nor the dataset's default_country): hashed as bare national digits, "
    "which rarely match; add the country code, the country, or datasets[].default_country"
)


class Verdict(StrEnum):
    """What `validate` says happens to one event (or unmapped part) of the input (a Graph
    request's outcome is `classify.Outcome`)."""

    SENT = "sent"  # accepted: this is what Meta would receive
    REJECTED = "rejected"  # the transform refuses it (reason, field)
    UNMAPPED = "unmapped"  # the format mapping produced no event (reason, action)
    CUSTOM = "custom"  # note: an unknown event name, sent as a custom event


@dataclass(frozen=True, slots=True)
class DroppedField:
    """A value left out of the event: its CAPI path and why (never the value)."""

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """The fate of one event of the input.

    `message` is the 1-based position of the message in the file (line for JSON Lines),
    `index` the position of the event or part inside a multi-event message.
    """

    message: int
    index: int | None
    format: str
    outcome: Verdict
    # sent: the event; rejected: as its failure record keeps it (redacted, README: Privacy)
    event: dict[str, Any] | None = field(default=None, repr=False)
    event_id: str | None = None
    event_name: str | None = None
    reason: str | None = None  # RejectReason or UnmappableReason value
    field: str | None = None  # CAPI field (rejected) or source field (unmapped)
    action: UnmappedAction | None = None  # unmapped and custom: what the topic policy does
    dropped: tuple[DroppedField, ...] = ()
    guarded: tuple[Guarded, ...] = ()  # what the PII guard removed or hashed (sent events)
    warnings: tuple[str, ...] = ()  # sent, but will likely not match (PHONE_WITHOUT_COUNTRY)

    @property
    def fails(self) -> bool:
        """Whether this ends as a failure record (rejected, or unmapped with action fail)."""
        if self.outcome is Verdict.REJECTED:
            return True
        return self.outcome is Verdict.UNMAPPED and self.action is UnmappedAction.FAIL


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """One message of an input file: its position, headers and decoded value (or problem)."""

    position: int
    headers: Mapping[str, Any]
    value: dict[str, Any] | None = field(repr=False)  # plain customer data: no repr
    problem: RejectReason | None = None


def read_messages(data: bytes | str) -> list[SourceMessage]:
    """The messages of a file: one JSON object, a JSON array of them, or JSON Lines."""
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _json_lines(data)
    if isinstance(whole, list):
        return [_message(position, item) for position, item in enumerate(whole, 1)]
    return [_message(1, whole)]


def _json_lines(data: bytes | str) -> list[SourceMessage]:
    raw = data.encode() if isinstance(data, str) else data
    out: list[SourceMessage] = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(_message(number, orjson.loads(line)))
        except orjson.JSONDecodeError:
            out.append(SourceMessage(number, {}, None, RejectReason.INVALID_JSON))
    return out


def _message(position: int, item: object) -> SourceMessage:
    if isinstance(item, dict) and item.keys() == _KAFKA_MESSAGE_KEYS:
        headers, value = item["headers"], item["value"]
        if isinstance(headers, dict):
            item = value
            if isinstance(item, dict):
                return SourceMessage(position, headers, item)
            return SourceMessage(position, headers, None, RejectReason.NOT_AN_OBJECT)
    if not isinstance(item, dict):
        return SourceMessage(position, {}, None, RejectReason.NOT_AN_OBJECT)
    return SourceMessage(position, {}, item)


def explain(
    source: bytes | str | Mapping[str, Any],
    fmt: str,
    policy: DatasetPolicy,
    now: float,
    *,
    headers: Mapping[str, Any] | None = None,
    options: FormatOptions | None = None,
    mappings: Mapping[str, MappingSpec] | None = None,
    received_at: float | None = None,
    max_event_bytes: int | None = None,
    guard: PiiPolicy | None = None,
) -> list[Explanation]:
    """One `Explanation` per event or unmapped part of `source`, in input order.

    `source` is file content (see `read_messages`) or one decoded message. `fmt` is the
    format name (or `auto`); `headers` apply to every message that has none of its own.
    Every event goes through the worker's admission step (`streams.domain.admission`) with
    `policy`'s dataset, limited to `max_event_bytes` when given (the dataset's setting).
    `guard` is the dataset's PII guard policy (default: the guard's defaults, `drop`).
    `received_at` (default `now`) stands in for the Kafka record time. Event ids derived
    here use no Kafka key, so they differ from those of keyed records in the stream.
    """
    if isinstance(source, Mapping):
        messages = [SourceMessage(1, {}, dict(source))]
    else:
        messages = read_messages(source)
    context = _context(fmt, policy, options, mappings, max_event_bytes, guard or PiiPolicy())
    arrival = now if received_at is None else received_at
    out: list[Explanation] = []
    for message in messages:
        if message.value is None:
            problem = message.problem or RejectReason.NOT_AN_OBJECT
            out.append(
                Explanation(message.position, None, fmt, Verdict.REJECTED, reason=problem.value)
            )
            continue
        msg = InputMessage(
            SourceRef(_TOPIC, 0, message.position),
            None,
            message.value,
            headers=cast(Mapping[str, bytes], message.headers or headers or {}),
        )
        admitted = admit(msg, context, now, received_at=arrival)
        name = admitted.format or fmt
        several = len(admitted.events) > 1
        for index, event in enumerate(admitted.events):
            where = index if several else None
            guard = context.guards[policy.dataset_id]
            explained = _explain_event(message.position, where, name, event, policy, guard, now)
            out.append(explained)
        out.extend(_explain_part(message.position, name, part) for _, part in admitted.unmapped)
    return out


def _context(
    fmt: str,
    policy: DatasetPolicy,
    options: FormatOptions | None,
    mappings: Mapping[str, MappingSpec] | None,
    max_event_bytes: int | None,
    guard: PiiPolicy,
) -> AdmissionContext:
    """Admission for one dataset, with no routing: every event goes to `policy`."""
    dataset = policy.dataset_id
    return AdmissionContext(
        policies={dataset: policy},
        max_event_bytes={dataset: max_event_bytes} if max_event_bytes is not None else {},
        formats=FormatConfig(
            default=TopicFormat(fmt, options or FormatOptions()), mappings=mappings or {}
        ),
        fixed_dataset=dataset,
        guards={dataset: guard},
    )


def _explain_part(position: int, fmt: str, part: Unmapped) -> Explanation:
    outcome = Verdict.CUSTOM if part.action is UnmappedAction.CUSTOM else Verdict.UNMAPPED
    return Explanation(
        position,
        part.index,
        fmt,
        outcome,
        reason=part.reason.value,
        field=part.field,
        action=part.action,
    )


def _explain_event(
    position: int,
    index: int | None,
    fmt: str,
    one: EventAdmission,
    policy: DatasetPolicy,
    guard: PiiPolicy,
    now: float,
) -> Explanation:
    result = one.result
    dropped = _dropped(one.native or {}, one.dropped)
    warnings = _warnings(one.native or {}, result.event, policy)
    if isinstance(result, FailureRecord):
        # shown as the failure record keeps it (redacted), never with raw personal data
        year = year_of_day(int(now) // SECONDS_PER_DAY)
        kept = kept_event(
            result.event, KeepEvent.REDACTED, guard, hashed=result.hashed, current_year=year
        )
        event_id, event_name = kept_ids(
            result.event_id, result.event_name, KeepEvent.REDACTED, guard
        )
        return Explanation(
            position,
            index,
            fmt,
            Verdict.REJECTED,
            event=kept.event,
            event_id=event_id,
            event_name=event_name,
            reason=str(result.reason),
            field=result.field,
            dropped=dropped,
            warnings=warnings,
        )
    return Explanation(
        position,
        index,
        fmt,
        Verdict.SENT,
        event=result.event,
        event_id=result.event_id,
        event_name=result.event_name,
        dropped=dropped,
        guarded=one.guarded,
        warnings=warnings,
    )


def _warnings(
    native: Mapping[str, Any], event: Mapping[str, Any] | None, policy: DatasetPolicy
) -> tuple[str, ...]:
    """Values that are sent but will likely not match anyone."""
    sent = event.get("user_data") if event is not None else None
    if not isinstance(sent, Mapping) or "ph" not in sent:
        return ()
    user_data = native.get("user_data")
    if isinstance(user_data, Mapping) and national_phone_without_country(
        user_data, policy.default_country
    ):
        return (PHONE_WITHOUT_COUNTRY,)
    return ()


def _dropped(native: Mapping[str, Any], reported: Sequence[Any]) -> tuple[DroppedField, ...]:
    out = [
        DroppedField(key, "unknown_key")
        for key in native
        if isinstance(key, str) and key not in _TOP_LEVEL_INPUT_KEYS
    ]
    for name, allowed in _TYPED_OBJECTS.items():
        inner = native.get(name)
        if isinstance(inner, Mapping):
            out.extend(
                DroppedField(f"{name}.{key}", "unknown_key")
                for key in inner
                if isinstance(key, str) and key not in allowed
            )
    user_data = native.get("user_data")
    if isinstance(user_data, Mapping):
        out.extend(
            DroppedField(f"user_data.{key}", "unknown_key")
            for key in user_data
            if key not in _USER_DATA_INPUT_KEYS
        )
    for drop in reported:
        if drop.field != UNKNOWN_KEY_FIELD:
            out.append(DroppedField(f"user_data.{drop.field}", drop.reason.value))
    return tuple(out)


def has_failures(explanations: Sequence[Explanation]) -> bool:
    """Whether any event would fail (the CLI exits non-zero then)."""
    return any(item.fails for item in explanations)


def _label(item: Explanation) -> str:
    where = f"#{item.message}" if item.index is None else f"#{item.message}.{item.index + 1}"
    return f"{where} [{item.format}]"


def _indented(event: Mapping[str, Any]) -> str:
    body = orjson.dumps(event, option=orjson.OPT_INDENT_2).decode()
    return "\n".join("    " + line for line in body.splitlines())


def render_text(explanations: Sequence[Explanation]) -> str:
    """A readable report: one block per event, then a summary line."""
    lines: list[str] = []
    for item in explanations:
        label = _label(item)
        where = f" at {item.field}" if item.field else ""
        if item.outcome is Verdict.SENT:
            lines.append(f"{label} {item.event_name}: OK, would send (event_id {item.event_id})")
        elif item.outcome is Verdict.REJECTED:
            name = f" {item.event_name}" if item.event_name else ""
            lines.append(f"{label}{name}: REJECTED {item.reason}{where}")
        elif item.outcome is Verdict.CUSTOM:
            lines.append(f"{label}: note: {item.reason}{where}, sent as a custom event")
        else:
            action = item.action.value if item.action is not None else "fail"
            lines.append(f"{label}: UNMAPPED {item.reason}{where} (policy: {action})")
        if item.event is not None:
            shown = (
                "would send" if item.outcome is Verdict.SENT else "as its failure record keeps it"
            )
            lines.append(f"  {shown}:")
            lines.append(_indented(item.event))
        lines.extend(f"  dropped {d.field}: {d.reason}" for d in item.dropped)
        lines.extend(f"  pii guard {g.action.value} {g.field}" for g in item.guarded)
        lines.extend(f"  warning: {w}" for w in item.warnings)
    events = [e for e in explanations if e.outcome is not Verdict.CUSTOM]
    sent = sum(e.outcome is Verdict.SENT for e in events)
    failing = sum(e.fails for e in events)
    skipped = len(events) - sent - failing
    lines.append(
        f"{len(events)} result(s): {sent} would be sent, {failing} would fail, "
        f"{skipped} dropped by policy"
    )
    return "\n".join(lines) + "\n"
