"""Replay selection: the filter, time parsing, failure record -> input message, the planner."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.domain.event_time import parse_event_time
from streams.domain.privacy.guard import PiiPolicy, guard_event
from streams.domain.privacy.redact import KeepEvent, kept_event
from streams.domain.records import FailureRecord, SourceRef, failure_record
from streams.domain.replay import (
    REPLAY_OF_HEADER,
    NotReplayable,
    ReplayFilter,
    ReplayMessage,
    ReplayOptions,
    ReplayPlanner,
    parse_time,
    replay_message,
)
from streams.domain.transform import Accepted, DatasetPolicy, transform

NOW = 1_795_000_000.0
DS_A = "1000000000000001"
DS_B = "1000000000000002"
NATIVE = Path(__file__).parent.parent / "data" / "native"
AT = SourceRef("capi-failures", 2, 41)
INPUTS = frozenset({"capi-events", "other-events"})


def _event(event_id: str = "order-1", **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": int(NOW) - 600,
        "action_source": "email",
        "event_id": event_id,
        "user_data": {"em": ["a" * 64], "ph": ["b" * 64]},
        "custom_data": {"value": 12.5, "currency": "USD"},
    }
    ev.update(over)
    return ev


def _record(
    *,
    reason: str = "retries_exhausted",
    dataset: str | None = DS_A,
    event: dict[str, Any] | None = None,
    failed_at: float = NOW - 300,
    topic: str = "capi-events",
    offset: int = 7,
    raw: bytes | None = None,
) -> dict[str, Any]:
    return failure_record(
        FailureRecord(
            reason,
            SourceRef(topic, 0, offset, 1_794_999_000_000),
            dataset_id=dataset,
            event=event,
            event_id=event.get("event_id") if event else None,
            event_name=event.get("event_name") if event else None,
            raw=raw,
        ),
        failed_at,
    )


# ---------------------------------------------------------------- parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1795000000", 1_795_000_000.0),
        (" 1795000000.25 ", 1_795_000_000.25),
        ("0", 0.0),
        ("2026-11-17T10:00:00Z", 1_794_909_600.0),
        ("2026-11-17T11:00:00+01:00", 1_794_909_600.0),
        ("2026-11-17T10:00:00", 1_794_909_600.0),  # no offset: UTC
        ("2026-11-17", 1_794_873_600.0),
        ("2026-11-17T10:00:00.5Z", 1_794_909_600.5),
    ],
)
def test_parse_time_accepts_unix_seconds_and_iso_8601(text: str, expected: float) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "-5", "nan", "inf", "2026-13-01", "17/11/2026"])
def test_parse_time_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_time(text)


def test_parse_time_error_does_not_echo_the_input() -> None:
    with pytest.raises(ValueError) as info:
        parse_time("jane@example.com")
    assert "jane" not in str(info.value)


# ---------------------------------------------------------------- filter


def test_empty_filter_selects_every_record() -> None:
    assert ReplayFilter().matches(_record(event=_event()))
    assert ReplayFilter().matches({"kind": "failure"})


def test_filter_by_reason_and_dataset() -> None:
    rec = _record(reason="graph_rejected", dataset=DS_B, event=_event())
    assert ReplayFilter(reasons=frozenset({"graph_rejected", "x"})).matches(rec)
    assert not ReplayFilter(reasons=frozenset({"retries_exhausted"})).matches(rec)
    assert ReplayFilter(datasets=frozenset({DS_B})).matches(rec)
    assert not ReplayFilter(datasets=frozenset({DS_A})).matches(rec)
    both = ReplayFilter(reasons=frozenset({"graph_rejected"}), datasets=frozenset({DS_A}))
    assert not both.matches(rec)


def test_dataset_filter_never_matches_a_record_without_dataset() -> None:
    rec = _record(reason="invalid_json", dataset=None)
    assert not ReplayFilter(datasets=frozenset({DS_A})).matches(rec)


def test_time_range_is_half_open_on_failed_at() -> None:
    window = ReplayFilter(since=100.0, until=200.0)
    assert window.matches({"failed_at": 100.0})
    assert window.matches({"failed_at": 199.999})
    assert not window.matches({"failed_at": 200.0})
    assert not window.matches({"failed_at": 99.999})
    assert ReplayFilter(since=100.0).matches({"failed_at": 10**10})
    assert ReplayFilter(until=100.0).matches({"failed_at": 0})


@pytest.mark.parametrize("failed_at", [None, "150", True, [150]])
def test_time_filter_skips_records_without_a_numeric_failed_at(failed_at: object) -> None:
    assert not ReplayFilter(since=100.0).matches({"failed_at": failed_at})
    assert ReplayFilter().matches({"failed_at": failed_at})


# ---------------------------------------------------------------- record -> message


def test_event_becomes_a_native_message_on_its_source_topic() -> None:
    ev = _event()
    msg = replay_message(_record(event=ev), AT, topic=None, input_topics=INPUTS, now=NOW)
    assert isinstance(msg, ReplayMessage)
    assert msg.topic == "capi-events"
    assert msg.key == b"order-1"
    assert not msg.raw
    assert dict(msg.headers) == {
        "capi-format": b"native",
        REPLAY_OF_HEADER: b"capi-failures/2/41",
    }
    assert orjson.loads(msg.value) == {"dataset_id": DS_A, **ev}


def test_topic_option_overrides_the_source_topic() -> None:
    rec = _record(event=_event(), topic="retired-topic")
    assert (
        replay_message(rec, AT, topic=None, input_topics=INPUTS, now=NOW)
        is NotReplayable.SOURCE_NOT_INPUT
    )
    msg = replay_message(rec, AT, topic="other-events", input_topics=INPUTS, now=NOW)
    assert isinstance(msg, ReplayMessage) and msg.topic == "other-events"


def test_record_without_event_or_raw_is_not_replayable() -> None:
    for reason in ("unknown_dataset", "message_too_large", "invalid_json"):
        rec = _record(reason=reason, event=None)
        assert (
            replay_message(rec, AT, topic=None, input_topics=INPUTS, now=NOW)
            is NotReplayable.NO_EVENT
        )


def test_raw_input_is_resent_unchanged_keyed_by_the_failure_coordinates() -> None:
    raw = b'{"event_name": "Lead", broken'
    rec = _record(reason="invalid_json", dataset=None, raw=raw)
    msg = replay_message(rec, AT, topic=None, input_topics=INPUTS, now=NOW)
    assert isinstance(msg, ReplayMessage)
    assert msg.raw and msg.value == raw
    assert msg.key == b"capi-failures/2/41"
    assert msg.headers == ((REPLAY_OF_HEADER, b"capi-failures/2/41"),)  # topic's own format


def test_invalid_raw_base64_counts_as_no_event() -> None:
    rec = _record(reason="invalid_json", dataset=None)
    rec["raw_base64"] = "not base64!"
    assert (
        replay_message(rec, AT, topic=None, input_topics=INPUTS, now=NOW) is NotReplayable.NO_EVENT
    )


def test_event_older_than_meta_accepts_is_not_replayable() -> None:
    old = _event(event_time=int(NOW) - 7 * 86_400 - 1)
    assert (
        replay_message(_record(event=old), AT, topic=None, input_topics=INPUTS, now=NOW)
        is NotReplayable.EVENT_TIME_TOO_OLD
    )
    store = _event(action_source="physical_store", event_time=int(NOW) - 30 * 86_400)
    msg = replay_message(_record(event=store), AT, topic=None, input_topics=INPUTS, now=NOW)
    assert isinstance(msg, ReplayMessage)
    just_in = _event(event_time=int(NOW) - 7 * 86_400 + 60)
    msg = replay_message(_record(event=just_in), AT, topic=None, input_topics=INPUTS, now=NOW)
    assert isinstance(msg, ReplayMessage)


def test_event_without_event_id_is_keyed_by_the_failure_coordinates() -> None:
    ev = _event()
    del ev["event_id"]
    msg = replay_message(_record(event=ev), AT, topic=None, input_topics=INPUTS, now=NOW)
    assert isinstance(msg, ReplayMessage) and msg.key == b"capi-failures/2/41"


@pytest.mark.parametrize("path", sorted(NATIVE.glob("*.json")), ids=lambda p: p.stem)
def test_replayed_event_transforms_to_the_same_event_and_event_id(path: Path) -> None:
    """The contract replay relies on: the worker's transform of a failure record's event (as
    replay sends it) is that event unchanged, with the same event_id, so Meta deduplicates."""
    raw = json.loads(path.read_text())
    policy = DatasetPolicy(dataset_id=DS_A)
    seconds = parse_event_time(raw["event_time"])
    assert seconds is not None
    now = seconds + 60.0
    first = transform(raw, policy, now=now, source_key=b"original-key")
    assert isinstance(first, Accepted)
    rec = _record(event=first.event, failed_at=now)
    msg = replay_message(rec, AT, topic=None, input_topics=INPUTS, now=now)
    assert isinstance(msg, ReplayMessage)
    again = transform(orjson.loads(msg.value), policy, now=now + 3600, source_key=msg.key)
    assert isinstance(again, Accepted)
    assert again.event_id == first.event_id
    assert again.event == rec["event"]  # as first sent, minus the client IP address
    assert "client_ip_address" not in again.event["user_data"]


# ---------------------------------------------------------------- planner


def _planner(**options: Any) -> ReplayPlanner:
    return ReplayPlanner(
        ReplayOptions(**options), failures_topic="capi-failures", input_topics=INPUTS, now=NOW
    )


def _offer(planner: ReplayPlanner, record: dict[str, Any] | bytes, offset: int) -> Any:
    value = record if isinstance(record, bytes) else orjson.dumps(record)
    return planner.offer(value, SourceRef("capi-failures", 0, offset))


def test_planner_counts_and_selects() -> None:
    planner = _planner(filter=ReplayFilter(reasons=frozenset({"retries_exhausted", "x"})))
    records: list[dict[str, Any] | bytes] = [
        _record(event=_event("a")),
        _record(event=_event("b"), dataset=DS_B),
        _record(reason="missing_currency", event=_event("c")),
        _record(reason="x", event=None, dataset=None),
        _record(event=_event("d", event_time=1)),
        b"not json",
        orjson.dumps({"kind": "response"}),
    ]
    sent = [m for i, r in enumerate(records) if (m := _offer(planner, r, i)) is not None]
    assert [m.key for m in sent] == [b"a", b"b"]
    s = planner.summary
    assert (s.scanned, s.unreadable, s.matched, s.selected) == (7, 2, 4, 2)
    assert s.by_reason == {"retries_exhausted": 3, "x": 1}
    assert s.by_dataset == {DS_A: 2, DS_B: 1, "none": 1}
    assert s.not_replayable == {"no_event": 1, "event_time_too_old": 1}
    assert s.by_topic == {"capi-events": 2}
    assert not planner.done


def test_planner_selects_an_event_once_per_run() -> None:
    planner = _planner()
    first = _offer(planner, _record(event=_event("a"), failed_at=NOW - 900), 0)
    again = _offer(planner, _record(event=_event("a"), failed_at=NOW - 10), 1)
    other_dataset = _offer(planner, _record(event=_event("a"), dataset=DS_B), 2)
    assert first is not None and again is None and other_dataset is not None
    assert planner.summary.repeated == 1 and planner.summary.selected == 2


def test_planner_stops_at_the_limit() -> None:
    planner = _planner(limit=2)
    got = [_offer(planner, _record(event=_event(f"e{i}")), i) for i in range(2)]
    assert all(got) and planner.done and planner.summary.limit_reached
    assert any("--limit" in line for line in planner.summary.lines())


def test_since_must_be_before_until() -> None:
    with pytest.raises(ValueError, match="since"):
        ReplayFilter(since=200.0, until=200.0)


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        ReplayOptions(limit=0)


def test_summary_lines_name_counts_and_warn_about_business_messaging() -> None:
    planner = _planner(dry_run=True)
    _offer(planner, _record(event=_event("a", action_source="business_messaging")), 0)
    _offer(planner, _record(reason="unknown_format", dataset=None, raw=b"{x"), 1)
    _offer(planner, _record(reason="unknown_dataset", dataset=None), 2)
    text = "\n".join(planner.summary.lines())
    assert "scanned 3, matched 3, not replayable 1" in text
    assert "matched by reason: retries_exhausted=1, unknown_dataset=1, unknown_format=1" in text
    assert f"matched by dataset: {DS_A}=1, none=2" in text
    assert "not replayable: no_event=1" in text
    assert "would send 2 to capi-events" in text
    assert "raw input messages: 1" in text
    assert "1 business_messaging events" in text
    assert text.endswith("dry run: 2 messages selected, nothing sent")


def test_summary_never_holds_event_values() -> None:
    planner = _planner()
    ev = _event(user_data={"em": ["c" * 64]}, custom_data={"value": 1, "currency": "EUR"})
    _offer(planner, _record(event=ev), 0)
    raw = b'{"email": "jane@example.com"'
    _offer(planner, _record(reason="invalid_json", dataset=None, raw=raw), 1)
    text = "\n".join(planner.summary.lines())
    assert "c" * 64 not in text and "jane" not in text and "base64" not in text
    assert base64.b64encode(raw).decode() not in text


@pytest.mark.parametrize("path", sorted(NATIVE.glob("*.json")), ids=lambda p: p.stem)
def test_a_redacted_record_replays_to_the_event_it_keeps(path: Path) -> None:
    """Redacted failure records stay replayable: the guarded event, sent again, transforms and
    guards to itself (same event_id), so nothing personal comes back and Meta deduplicates."""
    raw = json.loads(path.read_text())
    raw.setdefault("custom_data", {})["customer_email"] = "jane.doe@example.com"
    policy = DatasetPolicy(dataset_id=DS_A)
    guard = PiiPolicy()
    seconds = parse_event_time(raw["event_time"])
    assert seconds is not None
    now = seconds + 60.0
    first = transform(raw, policy, now=now, source_key=b"original-key")
    assert isinstance(first, Accepted)
    kept = kept_event(first.event, KeepEvent.REDACTED, guard, hashed=True)
    assert kept.event is not None and "custom_data.customer_email" in kept.redacted
    rec = _record(event=kept.event, failed_at=now)
    msg = replay_message(rec, AT, topic=None, input_topics=INPUTS, now=now)
    assert isinstance(msg, ReplayMessage)
    again = transform(orjson.loads(msg.value), policy, now=now + 3600, source_key=msg.key)
    assert isinstance(again, Accepted)
    assert again.event_id == first.event_id
    sent = guard_event(again.event, guard)
    assert sent.guarded == ()
    assert sent.event == rec["event"]


def test_a_record_that_kept_only_user_data_key_names_is_not_replayable() -> None:
    rec = _record(reason="unknown_dataset", dataset=None, event=_event())
    rec["user_data_keys"] = ["email"]
    assert (
        replay_message(rec, AT, topic=None, input_topics=INPUTS, now=NOW)
        is NotReplayable.USER_DATA_NOT_KEPT
    )


# ---------------------------------------------------------------- permanent reasons


def test_every_failure_reason_is_either_replayable_or_permanent() -> None:
    from streams.domain.formats.result import UnmappableReason
    from streams.domain.records import PipelineReason
    from streams.domain.replay import PERMANENT_REASONS, REPLAYABLE_REASONS
    from streams.domain.validate import RejectReason

    every = {r.value for enum in (RejectReason, PipelineReason, UnmappableReason) for r in enum}
    assert not PERMANENT_REASONS & REPLAYABLE_REASONS
    assert every == PERMANENT_REASONS | REPLAYABLE_REASONS


def test_permanent_reasons_are_skipped_unless_included() -> None:
    records = [
        _record(reason="retries_exhausted", event=_event("a")),
        _record(reason="missing_currency", event=_event("b")),
        _record(reason="graph_rejected", event=_event("c")),
        _record(reason="missing_action_source", event=_event("d")),
    ]
    planner = _planner(dry_run=True)
    sent = [_offer(planner, rec, i) for i, rec in enumerate(records)]
    assert [m is not None for m in sent] == [True, False, False, True]
    s = planner.summary
    assert s.matched == 4 and s.selected == 2
    assert s.permanent == {"missing_currency": 1, "graph_rejected": 1}
    text = "\n".join(s.lines())
    assert "permanent 2" in text
    assert "--include-permanent re-sends them anyway): graph_rejected=1, missing_currency=1" in text

    everything = _planner(dry_run=True, include_permanent=True)
    assert all(_offer(everything, rec, i) is not None for i, rec in enumerate(records))
    assert everything.summary.selected == 4 and not everything.summary.permanent
