"""Which failure records to replay, and the input message that re-sends each one.

A failure record keeps the event as it would have been sent (hashed, client IP removed, with its
`event_id`); re-sending it as a native event with `dataset_id` set makes the worker pass the
hashed values through unchanged and keep the `event_id`, so Meta deduplicates it against any
earlier copy of the same event (Meta's rule: same `event_name` + `event_id`, same dataset,
within 48 hours; business messaging is never deduplicated by Meta). A record without an event
(unparseable input) is re-sent as its `raw_base64` bytes when `failures.include_raw` kept them.

`ReplayPlanner.offer` takes the failures topic's records one by one and returns the message to
produce, or None; it counts what it saw for the `ReplaySummary`. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import orjson

from streams.domain.civil_time import parse_iso8601
from streams.domain.formats.names import FORMAT_HEADER, NATIVE
from streams.domain.model import MAX_AGE_PHYSICAL_STORE_S, MAX_AGE_S
from streams.domain.records import SourceRef

__all__ = [
    "PERMANENT_REASONS",
    "REPLAYABLE_REASONS",
    "REPLAY_OF_HEADER",
    "NotReplayable",
    "ReplayFilter",
    "ReplayMessage",
    "ReplayOptions",
    "ReplayPlanner",
    "ReplaySummary",
    "parse_time",
    "replay_message",
]

REPLAY_OF_HEADER: Final = "capi-replay-of"
"""Header of a replayed message: `<failures topic>/<partition>/<offset>` of its failure record."""

_NATIVE_HEADER: Final = (FORMAT_HEADER, NATIVE.encode())

REPLAYABLE_REASONS: Final = frozenset(
    {
        "retries_exhausted",  # a Graph outage or network trouble, now over
        "event_too_large",  # after raising datasets[].max_event_bytes
        "message_too_large",  # after raising kafka.max_message_bytes (raw input only)
        "unknown_dataset",  # after configuring the dataset (nothing kept: re-produce it)
        "missing_action_source",  # after setting datasets[].default_action_source
        "event_time_in_future",  # once the clocks agree (max_future_skew_seconds)
        "unknown_format",  # after fixing [formats] (raw input only)
        "undetected_format",
        "format_mismatch",
        "unknown_event",  # after adding the name to the format's event map
        "missing_mapped_field",  # after fixing the [mappings] entry
    }
)
"""Failure reasons whose cause can be outside the event (a configuration, an outage, a
clock): once that is fixed, the same event can succeed."""

PERMANENT_REASONS: Final = frozenset(
    {
        "invalid_json",
        "not_an_object",
        "missing_event_name",
        "invalid_event_name",
        "missing_event_time",
        "invalid_event_time",
        "event_time_too_old",
        "unknown_action_source",
        "missing_event_source_url",
        "missing_client_user_agent",
        "missing_app_data",
        "missing_advertiser_tracking_enabled",
        "invalid_extinfo",
        "missing_messaging_channel",
        "invalid_messaging_channel",
        "missing_ctwa_clid",
        "missing_value",
        "invalid_value",
        "missing_currency",
        "invalid_currency",
        "no_customer_information",
        "insufficient_customer_information",
        "invalid_ldu",
        "inconsistent_ldu",
        "invalid_field",
        "graph_rejected",  # Meta refused this event itself
        "dataset_not_allowed_for_topic",  # the event names a dataset its topic may not use
        "empty_message",
        "no_action",
        "missing_source_event",
        "consent_denied",  # never to be overridden by a replay
        "invalid_envelope",
        "unsupported_content_type",
    }
)
"""Failure reasons of the event's own content: re-sending the same event fails the same way.
Replay skips them unless asked (`include_permanent`); fix the input and produce it again."""
_NOT_DEDUPLICATED_SOURCES: Final = frozenset({"business_messaging"})


class NotReplayable(StrEnum):
    """Why a selected failure record cannot be re-sent."""

    NO_EVENT = "no_event"  # neither the event nor the raw input was kept
    EVENT_TIME_TOO_OLD = "event_time_too_old"  # Meta would refuse it now (7 days; 62 offline)
    SOURCE_NOT_INPUT = "source_topic_not_an_input"  # source topic is no input topic: use --topic
    USER_DATA_NOT_KEPT = "user_data_not_kept"  # only user_data's key names were kept (redacted)


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which failure records to select; empty sets and None bounds select everything.

    Time bounds apply to `failed_at` (Unix seconds): `since <= failed_at < until`.
    """

    reasons: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since: expected a time before until")

    def matches(self, record: Mapping[str, Any]) -> bool:
        if self.reasons and record.get("reason") not in self.reasons:
            return False
        if self.datasets and record.get("dataset_id") not in self.datasets:
            return False
        if self.since is None and self.until is None:
            return True
        failed_at = record.get("failed_at")
        if not isinstance(failed_at, int | float) or isinstance(failed_at, bool):
            return False
        if self.since is not None and failed_at < self.since:
            return False
        return self.until is None or failed_at < self.until


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """One replay run: the selection, an optional target topic, a cap, and whether to send."""

    filter: ReplayFilter = field(default_factory=ReplayFilter)
    topic: str | None = None  # None: each record's source topic
    limit: int | None = None  # at most this many messages
    dry_run: bool = False
    include_permanent: bool = False  # also re-send PERMANENT_REASONS (they fail again)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit: expected >= 1")


@dataclass(frozen=True, slots=True)
class ReplayMessage:
    """One message to produce onto an input topic."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    raw: bool  # the raw input bytes rather than the recorded event


def parse_time(text: str) -> float:
    """Unix seconds from `text`: a number of seconds, or ISO-8601 (no offset means UTC).

    Raises ValueError with a message that quotes the expected forms, never the input.
    """
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("expected non-negative Unix seconds or an ISO-8601 time")
        return seconds
    moment = parse_iso8601(value)
    if moment is None:
        raise ValueError(
            "expected Unix seconds or an ISO-8601 time such as 2026-11-27T09:15:00+01:00"
        )
    return moment


def _coords(ref: SourceRef) -> str:
    return f"{ref.topic}/{ref.partition}/{ref.offset}"


def _source_topic(record: Mapping[str, Any]) -> str | None:
    source = record.get("source")
    topic = source.get("topic") if isinstance(source, Mapping) else None
    return topic if isinstance(topic, str) and topic else None


def _too_old(event: Mapping[str, Any], now: float) -> bool:
    seconds = event.get("event_time")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return False  # the worker decides (and records) what is wrong with it
    max_age = (
        MAX_AGE_PHYSICAL_STORE_S if event.get("action_source") == "physical_store" else MAX_AGE_S
    )
    return seconds < now - max_age


def _raw_bytes(record: Mapping[str, Any]) -> bytes | None:
    text = record.get("raw_base64")
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def replay_message(
    record: Mapping[str, Any],
    at: SourceRef,
    *,
    topic: str | None,
    input_topics: Collection[str],
    now: float,
) -> ReplayMessage | NotReplayable:
    """The message that re-sends the failure record found at `at`, or why it cannot be sent.

    `topic` overrides the target (default: the record's source topic, which must be one of
    `input_topics`). An event goes out as native JSON with the record's `dataset_id`, keyed by
    its `event_id`; raw input goes out unchanged, keyed by the failure record's coordinates (so
    an event_id derived from it is the same at every replay).
    """
    event = record.get("event")
    raw = None if isinstance(event, Mapping) else _raw_bytes(record)
    if not isinstance(event, Mapping) and raw is None:
        return NotReplayable.NO_EVENT
    if raw is None and record.get("user_data_keys") is not None:
        return NotReplayable.USER_DATA_NOT_KEPT
    target = topic
    if target is None:
        target = _source_topic(record)
        if target is None or target not in input_topics:
            return NotReplayable.SOURCE_NOT_INPUT
    replay_of = (REPLAY_OF_HEADER, _coords(at).encode())
    if raw is not None:
        return ReplayMessage(target, replay_of[1], raw, (replay_of,), raw=True)
    assert isinstance(event, Mapping)
    if _too_old(event, now):
        return NotReplayable.EVENT_TIME_TOO_OLD
    dataset = record.get("dataset_id")
    body = {"dataset_id": dataset, **event} if isinstance(dataset, str) else dict(event)
    event_id = event.get("event_id")
    key = event_id.encode() if isinstance(event_id, str) and event_id else replay_of[1]
    return ReplayMessage(target, key, orjson.dumps(body), (_NATIVE_HEADER, replay_of), raw=False)


@dataclass(slots=True)
class ReplaySummary:
    """What one replay run saw and did."""

    failures_topic: str
    dry_run: bool
    scanned: int = 0  # records read from the failures topic
    unreadable: int = 0  # records that are not failure records
    matched: int = 0  # failure records the filter selected
    by_reason: Counter[str] = field(default_factory=Counter)  # matched, per failure reason
    by_dataset: Counter[str] = field(default_factory=Counter)  # matched, per dataset ("none")
    not_replayable: Counter[str] = field(default_factory=Counter)  # per NotReplayable
    permanent: Counter[str] = field(default_factory=Counter)  # skipped, per permanent reason
    repeated: int = 0  # matched again for an event already selected in this run
    selected: int = 0  # messages to send
    raw: int = 0  # of which raw input
    by_topic: Counter[str] = field(default_factory=Counter)  # selected, per target topic
    not_deduplicated: int = 0  # selected events Meta never deduplicates (business messaging)
    replayed: int = 0  # messages Kafka acknowledged
    limit_reached: bool = False

    def lines(self) -> list[str]:
        """A human-readable report, one line each."""
        out = [
            f"failures topic {self.failures_topic}: scanned {self.scanned}, "
            f"matched {self.matched}, not replayable {sum(self.not_replayable.values())}, "
            f"permanent {sum(self.permanent.values())}, "
            f"repeated event ids skipped {self.repeated}, unreadable {self.unreadable}"
        ]
        if self.by_reason:
            out.append("  matched by reason: " + _counts(self.by_reason))
        if self.by_dataset:
            out.append("  matched by dataset: " + _counts(self.by_dataset))
        if self.not_replayable:
            out.append("  not replayable: " + _counts(self.not_replayable))
        if self.permanent:
            out.append(
                "  skipped, the event itself fails (fix the input and produce it again; "
                "--include-permanent re-sends them anyway): " + _counts(self.permanent)
            )
        for topic, n in sorted(self.by_topic.items()):
            verb = "would send" if self.dry_run else "send"
            out.append(f"  {verb} {n} to {topic}")
        if self.raw:
            out.append(f"  of which raw input messages: {self.raw}")
        if self.not_deduplicated:
            out.append(
                f"  warning: {self.not_deduplicated} business_messaging events; Meta does not "
                "deduplicate these, replay them only once"
            )
        if self.limit_reached:
            out.append("  stopped at --limit; later records were not scanned")
        if self.dry_run:
            out.append(f"dry run: {self.selected} messages selected, nothing sent")
        else:
            out.append(f"replayed {self.replayed} of {self.selected} messages")
        return out


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items()))


class ReplayPlanner:
    """Applies one run's options to the failure records offered in topic order.

    An event already selected in this run (same dataset and event_id, e.g. a record of an
    earlier replay that failed again) is selected once. Once `limit` messages are selected,
    `done` is true and the caller stops reading.
    """

    __slots__ = ("_input_topics", "_now", "_options", "_seen", "summary")

    def __init__(
        self,
        options: ReplayOptions,
        *,
        failures_topic: str,
        input_topics: Collection[str],
        now: float,
    ) -> None:
        self._options = options
        self._input_topics = frozenset(input_topics)
        self._now = now
        self._seen: set[tuple[str, str]] = set()
        self.summary = ReplaySummary(failures_topic=failures_topic, dry_run=options.dry_run)

    @property
    def done(self) -> bool:
        return self.summary.limit_reached

    def offer(self, value: bytes | None, at: SourceRef) -> ReplayMessage | None:
        """The message to produce for the record `value` found at `at`, or None."""
        s = self.summary
        s.scanned += 1
        try:
            record = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or record.get("kind") != "failure":
            s.unreadable += 1
            return None
        if not self._options.filter.matches(record):
            return None
        s.matched += 1
        reason = str(record.get("reason"))
        s.by_reason[reason] += 1
        dataset = record.get("dataset_id")
        s.by_dataset[dataset if isinstance(dataset, str) else "none"] += 1
        if reason in PERMANENT_REASONS and not self._options.include_permanent:
            s.permanent[reason] += 1
            return None
        event = record.get("event")
        event_id = event.get("event_id") if isinstance(event, Mapping) else None
        seen_key = (str(dataset), event_id) if isinstance(event_id, str) else None
        if seen_key is not None and seen_key in self._seen:
            s.repeated += 1
            return None
        message = replay_message(
            record,
            at,
            topic=self._options.topic,
            input_topics=self._input_topics,
            now=self._now,
        )
        if isinstance(message, NotReplayable):
            s.not_replayable[message.value] += 1
            return None
        if seen_key is not None:
            self._seen.add(seen_key)
        s.selected += 1
        s.by_topic[message.topic] += 1
        if message.raw:
            s.raw += 1
        elif isinstance(event, Mapping) and event.get("action_source") in (
            _NOT_DEDUPLICATED_SOURCES
        ):
            s.not_deduplicated += 1
        limit = self._options.limit
        if limit is not None and s.selected >= limit:
            s.limit_reached = True
        return message
