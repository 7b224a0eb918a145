"""The Payload Helper: what would be sent for each event of a file, and every problem found."""

from __future__ import annotations

from typing import Any

import orjson

from streams.domain.formats import FormatOptions, UnmappedAction, map_message, parse_mapping
from streams.domain.payload_helper import (
    PHONE_WITHOUT_COUNTRY,
    DroppedField,
    Explanation,
    Verdict,
    explain,
    has_failures,
    read_messages,
    render_text,
)
from streams.domain.privacy.guard import GuardMode, PiiPolicy
from streams.domain.transform import DatasetPolicy, RejectReason
from tests.domain.formats.samples import DATA, NOW, POLICY, sha

LEAD: dict[str, Any] = {
    "event_name": "Lead",
    "event_time": 1_795_168_800,
    "action_source": "system_generated",
    "event_id": "lead-1",
    "user_data": {"email": "A@Example.com"},
}


def _jsonl(*items: object) -> bytes:
    return b"\n".join(orjson.dumps(item) for item in items) + b"\n"


class TestReadMessages:
    def test_object_array_and_lines(self) -> None:
        assert [m.value for m in read_messages(orjson.dumps(LEAD))] == [LEAD]
        assert [m.position for m in read_messages(orjson.dumps([LEAD, LEAD]))] == [1, 2]
        lines = _jsonl(LEAD, LEAD) + b"\n{broken\n[1]\n"
        messages = read_messages(lines)
        assert [m.position for m in messages] == [1, 2, 4, 5]
        assert [m.problem for m in messages] == [
            None,
            None,
            RejectReason.INVALID_JSON,
            RejectReason.NOT_AN_OBJECT,
        ]

    def test_kafka_message_shape_carries_headers(self) -> None:
        (message,) = read_messages(orjson.dumps({"headers": {"capi-format": "ga4"}, "value": LEAD}))
        assert message.headers == {"capi-format": "ga4"}
        assert message.value == LEAD


class TestExplain:
    def test_sent_event_is_the_hashed_event(self) -> None:
        (item,) = explain(orjson.dumps(LEAD), "native", POLICY, NOW)
        assert item == Explanation(
            message=1,
            index=None,
            format="native",
            outcome=Verdict.SENT,
            event={
                "event_name": "Lead",
                "event_time": 1_795_168_800,
                "action_source": "system_generated",
                "event_id": "lead-1",
                "user_data": {"em": [sha("a@example.com")]},
            },
            event_id="lead-1",
            event_name="Lead",
        )
        assert not item.fails

    def test_the_pii_guard_is_applied_and_listed(self) -> None:
        lead = dict(LEAD, custom_data={"customer_email": "A@Example.com", "plan": "pro"})
        (item,) = explain(orjson.dumps(lead), "native", POLICY, NOW)
        assert item.event is not None and item.event["custom_data"] == {"plan": "pro"}
        assert [(g.field, g.action.value) for g in item.guarded] == [
            ("custom_data.customer_email", "drop")
        ]
        assert "  pii guard drop custom_data.customer_email" in render_text([item])
        hashed = explain(orjson.dumps(lead), "native", POLICY, NOW, guard=PiiPolicy(GuardMode.HASH))
        assert hashed[0].event is not None
        assert hashed[0].event["custom_data"]["customer_email"] == sha("a@example.com")

    def test_rejection_and_dropped_fields_with_reasons(self) -> None:
        event = {
            **LEAD,
            "event_name": "Purchase",
            "custom_data": {"value": 5},
            "pixel_id": "123",
            "app_data": {"advertiser_tracking_enabled": True, "colour": "red"},
            "user_data": {
                "email": "not-an-email",
                "phone": "12",
                "mail": "x@y.z",
                "ip": "203.0.113.1",
            },
        }
        (item,) = explain(orjson.dumps(event), "native", POLICY, NOW)
        assert item.outcome is Verdict.REJECTED
        assert (item.reason, item.field) == ("missing_currency", "custom_data.currency")
        assert item.fails
        assert item.event is not None and item.event["user_data"] == {}  # the IP is left out
        assert set(item.dropped) == {
            DroppedField("pixel_id", "unknown_key"),
            DroppedField("app_data.colour", "unknown_key"),
            DroppedField("user_data.mail", "unknown_key"),
            DroppedField("user_data.em", "invalid"),
            DroppedField("user_data.ph", "invalid"),
        }

    def test_unparseable_lines_fail(self) -> None:
        items = explain(b"{broken\n" + orjson.dumps(LEAD) + b"\n", "native", POLICY, NOW)
        assert [(i.message, i.outcome, i.reason) for i in items] == [
            (1, Verdict.REJECTED, "invalid_json"),
            (2, Verdict.SENT, None),
        ]
        assert has_failures(items)

    def test_multi_event_ga4_file(self) -> None:
        data = (DATA / "ga4" / "multiple_events.json").read_bytes()
        options = FormatOptions(action_source="other")
        items = explain(data, "auto", POLICY, NOW, options=options)
        assert [(i.index, i.outcome, i.event_name) for i in items] == [
            (0, Verdict.SENT, "AddToCart"),
            (1, Verdict.SENT, "AddToCart"),
            (2, Verdict.SENT, "InitiateCheckout"),
            (3, Verdict.SENT, "scroll"),
            (3, Verdict.CUSTOM, None),
        ]
        assert {i.format for i in items} == {"ga4"}
        assert not has_failures(items)
        assert items[0].event is not None and "source_index" not in items[0].event
        assert all(not i.dropped for i in items)

    def test_unmapped_parts_follow_the_policy(self) -> None:
        data = (DATA / "segment" / "identify.json").read_bytes()
        (failing,) = explain(data, "segment", POLICY, NOW)
        assert (failing.outcome, failing.reason, failing.field, failing.action) == (
            Verdict.UNMAPPED,
            "no_action",
            "type",
            UnmappedAction.FAIL,
        )
        assert failing.fails
        options = FormatOptions(unmappable=UnmappedAction.DROP)
        (dropped,) = explain(data, "segment", POLICY, NOW, options=options)
        assert not dropped.fails
        assert not has_failures([dropped])

    def test_headers_of_a_kafka_message_shape(self) -> None:
        data = (DATA / "cloudevents" / "binary_native.message.json").read_bytes()
        (item,) = explain(data, "native", POLICY, NOW)
        assert item.format == "cloudevents"
        assert item.event_id == "crm-lead-88231"
        assert item.outcome is Verdict.SENT

    def test_one_decoded_message_and_a_mapping(self) -> None:
        spec = parse_mapping(
            "crm",
            {
                "event_name": {"const": "Lead"},
                "event_time": "t",
                "user_data.em": "mail",
                "action_source": {"const": "email"},
            },
        )
        (item,) = explain(
            {"t": 1_795_168_800, "mail": "b@example.com"},
            "mapping:crm",
            POLICY,
            NOW,
            mappings={"crm": spec},
        )
        assert item.outcome is Verdict.SENT
        assert item.event is not None and item.event["user_data"] == {"em": [sha("b@example.com")]}

    def test_dataset_policy_applies(self) -> None:
        event = {k: v for k, v in LEAD.items() if k != "action_source"}
        (rejected,) = explain(orjson.dumps(event), "native", POLICY, NOW)
        assert rejected.reason == "missing_action_source"
        policy = DatasetPolicy("1", default_action_source="chat")
        (sent,) = explain(orjson.dumps(event), "native", policy, NOW)
        assert sent.event is not None and sent.event["action_source"] == "chat"

    def test_ga4_without_time_uses_now(self) -> None:
        payload = {"client_id": "1", "user_id": "u", "events": [{"name": "sign_up"}]}
        options = FormatOptions(action_source="other")
        (item,) = explain(orjson.dumps(payload), "ga4", POLICY, NOW, options=options)
        assert item.event is not None and item.event["event_time"] == NOW

    def test_a_rejected_event_is_shown_redacted(self) -> None:
        segment = orjson.loads((DATA / "segment" / "order_completed.json").read_bytes())
        del segment["properties"]["currency"]  # rejected: missing_currency
        segment["properties"].update(
            customer_email="jane@example.com",
            shipping_phone="+1 415 555 2671",
            recipient_name="Jane Doe",
        )
        (item,) = explain(orjson.dumps(segment), "segment", POLICY, NOW)
        assert item.outcome is Verdict.REJECTED
        text = render_text([item])
        for raw in ("jane@example.com", "415 555 2671", "Jane Doe"):
            assert raw not in text


class TestRender:
    def test_report_lists_every_result_and_a_summary(self) -> None:
        bad = {**LEAD, "event_name": "Purchase", "extra": 1}
        identify = {"type": "identify", "userId": "u", "messageId": "m"}
        items = explain(_jsonl(LEAD, bad, identify, [1]), "auto", POLICY, NOW)
        text = render_text(items)
        assert "#1 [native] Lead: OK, would send (event_id lead-1)" in text
        assert "#2 [native] Purchase: REJECTED missing_value at custom_data.value" in text
        assert "  as its failure record keeps it:" in text
        assert "  dropped extra: unknown_key" in text
        assert "#3 [segment]: UNMAPPED no_action at type (policy: fail)" in text
        assert "#4 [auto] : REJECTED not_an_object" not in text
        assert "#4 [auto]: REJECTED not_an_object" in text
        assert text.endswith("4 result(s): 1 would be sent, 3 would fail, 0 dropped by policy\n")
        assert sha("a@example.com") in text
        assert "A@Example.com" not in text  # only hashed values are shown

    def test_custom_note(self) -> None:
        message = {
            "type": "track",
            "event": "Clicked",
            "userId": "u",
            "messageId": "m",
            "timestamp": "2026-11-20T10:00:00Z",
        }
        options = FormatOptions(action_source="other")
        text = render_text(explain(orjson.dumps(message), "segment", POLICY, NOW, options=options))
        assert "#1 [segment]: note: unknown_event at event, sent as a custom event" in text
        assert text.endswith("1 result(s): 1 would be sent, 0 would fail, 0 dropped by policy\n")


def test_reprs_carry_no_plain_customer_data() -> None:
    message = {**LEAD, "user_data": {"email": "secret@example.com", "ip": "203.0.113.9"}}
    assert "secret@example.com" not in repr(map_message(message, {}, "native"))
    (item,) = explain(orjson.dumps(message), "native", POLICY, NOW)
    assert "203.0.113.9" not in repr(item)
    assert "secret@example.com" not in repr(read_messages(orjson.dumps(message)))


class TestPhoneWithoutCountry:
    """A phone number without a country code, in an event without a country, for a dataset
    without default_country: sent as bare national digits, and `validate` says so."""

    def _one(self, user_data: dict[str, Any], policy: DatasetPolicy = POLICY) -> Explanation:
        (item,) = explain(orjson.dumps({**LEAD, "user_data": user_data}), "native", policy, NOW)
        assert item.outcome is Verdict.SENT
        return item

    def test_a_national_number_with_no_country_anywhere_is_a_warning(self) -> None:
        for phone in ("(650) 555-1212", "650.555.1212", ["+1 650 555 1212", "6505551212"]):
            item = self._one({"email": "a@example.com", "phone": phone})
            assert item.event is not None and item.event["user_data"]["ph"]
            assert item.warnings == (PHONE_WITHOUT_COUNTRY,), phone
            text = render_text([item])
            assert f"  warning: {PHONE_WITHOUT_COUNTRY}" in text
            assert "555" not in text  # the warning never repeats the number
        item = self._one({"em": "a@example.com", "ph": "6505551212"})
        assert item.warnings == (PHONE_WITHOUT_COUNTRY,)

    def test_no_warning_when_a_country_places_the_number(self) -> None:
        assert self._one({"phone": "(650) 555-1212", "country": "US"}).warnings == ()
        assert self._one({"phone": "(650) 555-1212", "country": ["xx", "us"]}).warnings == ()
        with_default = DatasetPolicy("1", default_country="us")
        assert self._one({"phone": "(650) 555-1212"}, with_default).warnings == ()

    def test_no_warning_for_international_or_hashed_numbers(self) -> None:
        assert self._one({"phone": "+1 650 555 1212"}).warnings == ()
        assert self._one({"phone": "0044 20 7946 0958"}).warnings == ()
        assert self._one({"phone": "+00 44 20 7946 0958"}).warnings == ()
        assert self._one({"em": "a@example.com", "ph": sha("16505551212")}).warnings == ()
        # a number too short to send is dropped (and reported as such), not warned about
        item = self._one({"em": "a@example.com", "phone": "555-12"})
        assert item.warnings == () and item.dropped
