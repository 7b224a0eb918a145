"""The admission step: one message in, accepted events and typed failures out, with what the
steps noticed reported as data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from streams.domain.admission import (
    AcceptedEvent,
    AdmissionContext,
    InputMessage,
    admit,
    admit_all,
)
from streams.domain.formats import parse_format_config
from streams.domain.privacy.guard import PiiPolicy
from streams.domain.records import FailureRecord, SourceRef
from streams.domain.transform import DatasetPolicy

DATA = Path(__file__).parents[1] / "data"
NOW = 1795168900.0
DS_A, DS_B = "1000000000000001", "1000000000000002"


def _context(**over: Any) -> AdmissionContext:
    values: dict[str, Any] = {
        "policies": {DS_A: DatasetPolicy(DS_A), DS_B: DatasetPolicy(DS_B)},
        "max_event_bytes": {DS_A: 262_144, DS_B: 262_144},
        "default_dataset": DS_A,
    }
    values.update(over)
    return AdmissionContext(**values)


def _event(i: int = 0, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_name": "Lead",
        "event_time": int(NOW) - 10,
        "action_source": "system_generated",
        "event_id": f"n-{i}",
        "user_data": {"email": f"p{i}@example.com"},
    }
    ev.update(over)
    return ev


def _msg(value: bytes | dict[str, Any] | None, topic: str = "in", offset: int = 0) -> InputMessage:
    return InputMessage(SourceRef(topic, 0, offset), b"key", value)


def test_a_good_event_is_accepted_with_its_size_as_sent() -> None:
    result = admit(_msg(orjson.dumps(_event())), _context(), NOW, position=3)
    [accepted] = result.accepted
    assert isinstance(accepted, AcceptedEvent)
    assert (accepted.dataset, accepted.event_id, accepted.event_name) == (DS_A, "n-0", "Lead")
    assert accepted.size == len(orjson.dumps(accepted.event)) and accepted.position == 3
    assert result.failures == [] and result.format == "native"


def test_a_decoded_mapping_is_admitted_like_its_bytes() -> None:
    from_bytes = admit(_msg(orjson.dumps(_event())), _context(), NOW)
    from_mapping = admit(_msg(_event()), _context(), NOW)
    assert from_mapping.accepted == from_bytes.accepted


def test_message_problems_are_typed_failures_with_their_source() -> None:
    ctx = _context(max_message_bytes=100, include_raw=True)
    cases = [(None, "empty_message"), (b"x" * 101, "message_too_large"), (b"{no", "invalid_json")]
    for value, reason in cases:
        [failure] = admit(_msg(value, offset=7), ctx, NOW).failures
        assert isinstance(failure, FailureRecord)
        assert failure.reason == reason and failure.source == SourceRef("in", 0, 7)
        assert (failure.raw is not None) == (reason == "invalid_json")


def test_routing_and_the_event_size_limit_fail_with_a_reason() -> None:
    ctx = _context(max_event_bytes={DS_A: 1_000, DS_B: 262_144})
    big = _event(1, custom_data={"note": "x" * 2_000})
    result = admit_all(
        [_msg(orjson.dumps(_event(0, dataset_id="42"))), _msg(orjson.dumps(big))], ctx, NOW
    )
    assert [(f.reason, f.field) for f in result.failures] == [
        ("unknown_dataset", "dataset_id"),
        ("event_too_large", None),
    ]
    too_large = result.failures[1]
    assert too_large.dataset_id == DS_A and too_large.event_id == "n-1"
    assert too_large.event is not None


def test_event_checks_run_on_every_accepted_event() -> None:
    def no_leads(dataset: str, event: Any) -> tuple[str, str | None] | None:
        return ("pii_guard", "event_name") if event["event_name"] == "Lead" else None

    ctx = _context(checks=(no_leads,))
    result = admit_all(
        [_msg(orjson.dumps(_event(0))), _msg(orjson.dumps(_event(1, event_name="Contact")))],
        ctx,
        NOW,
    )
    assert [(f.reason, f.field) for f in result.failures] == [("pii_guard", "event_name")]
    assert [a.event_name for a in result.accepted] == ["Contact"]


def test_unmapped_parts_and_dropped_values_come_back_as_data() -> None:
    formats = parse_format_config({"topics": {"seg": {"format": "segment"}}}, None)
    identify = (DATA / "segment" / "identify.json").read_bytes()
    result = admit(_msg(identify, topic="seg"), _context(formats=formats), NOW)
    assert [(fmt, part.reason.value) for fmt, part in result.unmapped] == [("segment", "no_action")]
    assert [f.reason for f in result.failures] == ["no_action"]
    dropped = admit(_msg(orjson.dumps(_event(user_data={"email": "nope"}))), _context(), NOW)
    assert [(d.field, d.reason.value) for d in dropped.dropped] == [("em", "invalid")]


def test_a_fixed_dataset_skips_routing() -> None:
    ctx = _context(fixed_dataset=DS_B)
    [accepted] = admit(_msg(orjson.dumps(_event(dataset_id=DS_A))), ctx, NOW).accepted
    assert accepted.dataset == DS_B


# ---------------------------------------------------------------- privacy


def test_every_format_goes_through_the_pii_guard_before_sizing() -> None:
    ctx = _context(guards={DS_A: PiiPolicy(country="us")})
    event = _event(
        custom_data={"customer_email": "p@example.com", "note": "call (650) 555-1212"},
        event_source_url="https://x.example/?email=p%40example.com&utm_source=fb",
    )
    result = admit(_msg(orjson.dumps(event)), ctx, NOW)
    [accepted] = result.accepted
    assert "custom_data" not in accepted.event
    assert accepted.event["event_source_url"] == "https://x.example/?utm_source=fb"
    assert accepted.size == len(orjson.dumps(accepted.event))
    assert sorted((ds, g.field, g.action.value) for ds, g in result.guarded) == [
        (DS_A, "custom_data.customer_email", "drop"),
        (DS_A, "custom_data.note", "drop"),
        (DS_A, "event_source_url?email", "drop"),
    ]
    segment = json.loads((DATA / "segment" / "order_completed.json").read_text())
    segment["properties"]["customer_email"] = "p@example.com"
    segment["timestamp"] = "2026-11-19T16:42:07Z"
    seg_ctx = _context(
        guards={DS_A: PiiPolicy()},
        formats=parse_format_config({"format": "segment"}, {}),
    )
    [seg] = admit(_msg(orjson.dumps(segment)), seg_ctx, NOW).accepted
    assert "customer_email" not in seg.event["custom_data"]


def test_a_dataset_without_a_guard_policy_sends_as_transformed() -> None:
    event = _event(custom_data={"customer_email": "p@example.com"})
    [accepted] = admit(_msg(orjson.dumps(event)), _context(), NOW).accepted
    assert accepted.event["custom_data"] == {"customer_email": "p@example.com"}


def test_a_locked_topic_refuses_events_naming_another_dataset() -> None:
    ctx = _context(topic_datasets={"team-a": DS_A}, topic_locks={"team-a": frozenset({DS_A})})
    own = admit(_msg(orjson.dumps(_event(1)), topic="team-a"), ctx, NOW)
    assert own.accepted and not own.failures
    named = admit(_msg(orjson.dumps(_event(2, dataset_id=DS_B)), topic="team-a"), ctx, NOW)
    [failure] = named.failures
    assert (failure.reason, failure.field) == ("dataset_not_allowed_for_topic", "dataset_id")
    assert failure.hashed is False and failure.dataset_id is None
    header = InputMessage(
        SourceRef("team-a", 0, 3), b"k", orjson.dumps(_event(3)), {"capi-dataset": DS_B.encode()}
    )
    [failure] = admit(header, ctx, NOW).failures
    assert (failure.reason, failure.field) == ("dataset_not_allowed_for_topic", None)
    other_topic = admit(_msg(orjson.dumps(_event(4, dataset_id=DS_B)), topic="b"), ctx, NOW)
    assert [a.dataset for a in other_topic.accepted] == [DS_B]


def test_accepted_and_failed_events_carry_their_ids_as_sent() -> None:
    ctx = _context(guards={DS_A: PiiPolicy()}, max_event_bytes={DS_A: 1_000, DS_B: 262_144})
    [accepted] = admit(_msg(orjson.dumps(_event(event_id="p@example.com"))), ctx, NOW).accepted
    assert accepted.event_id == accepted.event["event_id"] != "p@example.com"
    big = _event(event_id="p@example.com", custom_data={"note": "x" * 2_000})
    [failure] = admit(_msg(orjson.dumps(big)), ctx, NOW).failures
    assert failure.reason == "event_too_large" and failure.event_id == accepted.event_id


def test_an_event_over_the_size_limit_fails_before_the_guard_scans_it() -> None:
    ctx = _context(guards={DS_A: PiiPolicy()}, max_event_bytes={DS_A: 2_000, DS_B: 262_144})
    notes = {f"n{i}": f"call (415) 555-{1000 + i} x" for i in range(200)}
    result = admit(_msg(orjson.dumps(_event(custom_data=notes))), ctx, NOW)
    [failure] = result.failures
    assert failure.reason == "event_too_large"
    assert result.guarded == []  # not scanned: the failure record redacts it (bounded scan)
