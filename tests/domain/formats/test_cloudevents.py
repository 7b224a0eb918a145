"""CloudEvents envelopes (structured and binary mode) around the other formats."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from streams.domain.formats import (
    CLOUDEVENTS,
    FormatOptions,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
    map_message,
)
from streams.domain.formats.cloudevents import Envelope, EnvelopeError, is_envelope, unwrap
from tests.domain.formats.samples import NOW, accepted_events, load, sha


def _binary(relative: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    message = load(relative)
    headers = {k: v.encode() for k, v in message["headers"].items()}
    return message["value"], headers


def _structured(data: object, **attrs: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/tests",
        "type": "com.example.test",
        "data": data,
    }
    envelope.update(attrs)
    return envelope


NATIVE = {
    "event_name": "Lead",
    "action_source": "system_generated",
    "user_data": {"email": "a@example.com"},
}


class TestSamples:
    def test_structured_segment_is_the_exact_capi_event(self) -> None:
        result = map_message(load("cloudevents/structured_segment.json"), {}, "cloudevents")
        assert result.format == CLOUDEVENTS
        (event,) = accepted_events(result)
        assert event == {
            "event_name": "Search",
            "event_time": 1_795_170_000,  # the data's own timestamp wins over the envelope
            "action_source": "website",
            "event_id": "ajs-next-1795170000000-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
            "event_source_url": "https://shop.example.com/search?q=blue+hotpants",
            "user_data": {
                "client_ip_address": "2001:db8:85a3::8a2e:370:7334",
                "client_user_agent": (
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
                ),
            },
            "custom_data": {"search_string": "blue hotpants"},
        }

    def test_structured_base64_ga4_gets_envelope_ids(self) -> None:
        options = FormatOptions(action_source="other")
        result = map_message(load("cloudevents/structured_ga4_base64.json"), {}, "auto", options)
        assert result.format == CLOUDEVENTS
        events = accepted_events(result)
        assert [e["event_id"] for e in events] == [
            "evt-000193-0",
            "evt-000193-1",
            "evt-000193-2",
            "evt-000193-3",
        ]
        assert [e["event_name"] for e in events] == [
            "AddToCart",
            "AddToCart",
            "InitiateCheckout",
            "scroll",
        ]
        assert result.unmapped[0].reason is UnmappableReason.UNKNOWN_EVENT

    def test_binary_native_takes_time_and_id_from_the_headers(self) -> None:
        value, headers = _binary("cloudevents/binary_native.message.json")
        result = map_message(value, headers, "native", received_at=NOW)
        (event,) = accepted_events(result)
        assert event == {
            "event_name": "Lead",
            "event_time": 1_795_163_400,  # ce_time 2026-11-20T09:30:00+01:00
            "action_source": "system_generated",
            "event_id": "crm-lead-88231",  # ce_id
            "user_data": {
                "em": [sha("chris@example.net")],
                "ph": [sha("4915123456789")],
                "country": [sha("de")],
            },
            "custom_data": {"lead_type": "demo_request"},
        }
        assert "event_time" not in value  # the message itself is untouched


class TestUnwrap:
    def test_structured_attributes(self) -> None:
        envelope = unwrap(_structured(NATIVE, time="2026-11-20T10:00:00Z", capiformat="native"), {})
        assert envelope == Envelope(
            data=NATIVE,
            id="ce-1",
            source="/tests",
            type="com.example.test",
            time=1_795_168_800,
            format="native",
            binary=False,
        )

    def test_data_as_json_text_and_base64(self) -> None:
        text = orjson.dumps(NATIVE).decode()
        as_text = unwrap(_structured(text), {})
        assert isinstance(as_text, Envelope) and as_text.data == NATIVE
        encoded = base64.b64encode(orjson.dumps(NATIVE)).decode()
        envelope = _structured(None, data_base64=encoded)
        del envelope["data"]
        as_base64 = unwrap(envelope, {})
        assert isinstance(as_base64, Envelope) and as_base64.data == NATIVE

    @pytest.mark.parametrize(
        ("change", "reason", "field"),
        [
            ({"specversion": "0.3"}, UnmappableReason.INVALID_ENVELOPE, "specversion"),
            ({"id": ""}, UnmappableReason.INVALID_ENVELOPE, "id"),
            ({"source": None}, UnmappableReason.INVALID_ENVELOPE, "source"),
            ({"data": [1, 2]}, UnmappableReason.INVALID_ENVELOPE, "data"),
            ({"data": "{not json"}, UnmappableReason.INVALID_ENVELOPE, "data"),
            ({"data": None}, UnmappableReason.INVALID_ENVELOPE, "data"),
            (
                {"datacontenttype": "application/xml"},
                UnmappableReason.UNSUPPORTED_CONTENT_TYPE,
                "datacontenttype",
            ),
        ],
    )
    def test_broken_structured(
        self, change: dict[str, Any], reason: UnmappableReason, field: str
    ) -> None:
        envelope = _structured(NATIVE)
        envelope.update(change)
        assert unwrap(envelope, {}) == EnvelopeError(reason, field)

    def test_broken_base64(self) -> None:
        envelope = _structured(None, data_base64="***")
        del envelope["data"]
        assert unwrap(envelope, {}) == EnvelopeError(
            UnmappableReason.INVALID_ENVELOPE, "data_base64"
        )

    @pytest.mark.parametrize(
        ("headers", "reason", "field"),
        [
            ({"ce_specversion": b"2.0"}, UnmappableReason.INVALID_ENVELOPE, "ce_specversion"),
            (
                {"ce_specversion": b"1.0", "ce_source": b"s", "ce_type": b"t"},
                UnmappableReason.INVALID_ENVELOPE,
                "ce_id",
            ),
            (
                {
                    "ce_specversion": b"1.0",
                    "ce_id": b"1",
                    "ce_source": b"s",
                    "ce_type": b"t",
                    "content-type": b"text/plain",
                },
                UnmappableReason.UNSUPPORTED_CONTENT_TYPE,
                "content-type",
            ),
        ],
    )
    def test_broken_binary(
        self, headers: dict[str, bytes], reason: UnmappableReason, field: str
    ) -> None:
        assert unwrap(NATIVE, headers) == EnvelopeError(reason, field)
        result = map_message(NATIVE, headers, "native")
        assert result.events == ()
        assert result.unmapped == (Unmapped(reason, UnmappedAction.FAIL, field, None),)

    def test_header_names_are_case_insensitive_and_json_media_types_accepted(self) -> None:
        headers = {
            "CE_SpecVersion": b"1.0",
            "ce_id": b"1",
            "ce_source": b"s",
            "ce_type": b"t",
            "Content-Type": b"application/vnd.shop+json; charset=utf-8",
        }
        envelope = unwrap(NATIVE, headers)
        assert isinstance(envelope, Envelope) and envelope.binary

    def test_is_envelope(self) -> None:
        assert is_envelope(_structured(NATIVE), {})
        assert is_envelope({}, {"content-type": b"application/cloudevents+json"})
        assert not is_envelope(NATIVE, {})
        assert not is_envelope(NATIVE, {"content-type": b"application/json"})


class TestInnerFormat:
    def test_capiformat_attribute_wins(self) -> None:
        ga4 = load("ga4/purchase.json")
        result = map_message(
            _structured(ga4, capiformat="ga4"),
            {},
            "cloudevents",
            FormatOptions(inner_format="segment"),
        )
        assert [e["event_name"] for e in result.events] == ["Purchase"]

    def test_topic_inner_format(self) -> None:
        segment = load("segment/products_searched.json")
        options = FormatOptions(inner_format="segment")
        result = map_message(_structured(segment), {}, "cloudevents", options)
        assert [e["event_name"] for e in result.events] == ["Search"]

    def test_chosen_format_is_the_inner_format(self) -> None:
        segment = load("segment/products_searched.json")
        result = map_message(_structured(segment), {}, "segment")
        assert result.format == CLOUDEVENTS
        assert [e["event_name"] for e in result.events] == ["Search"]

    def test_nested_cloudevents_are_refused(self) -> None:
        inner = _structured(NATIVE)
        result = map_message(_structured(inner, capiformat="cloudevents"), {}, "cloudevents")
        assert result.unmapped == (
            Unmapped(UnmappableReason.INVALID_ENVELOPE, UnmappedAction.FAIL, "capiformat", None),
        )

    def test_unknown_capiformat(self) -> None:
        result = map_message(_structured(NATIVE, capiformat="avro"), {}, "cloudevents")
        assert result.unmapped[0].reason is UnmappableReason.UNKNOWN_FORMAT

    def test_undetectable_data(self) -> None:
        result = map_message(_structured({"hello": "world"}), {}, "cloudevents")
        assert result.unmapped == (
            Unmapped(UnmappableReason.UNDETECTED_FORMAT, UnmappedAction.FAIL, "data", None),
        )

    def test_cloudevents_topic_with_a_plain_message(self) -> None:
        result = map_message(NATIVE, {}, "cloudevents")
        assert result.unmapped == (
            Unmapped(UnmappableReason.FORMAT_MISMATCH, UnmappedAction.FAIL, "specversion", None),
        )

    def test_envelope_time_fills_native_events_only_when_missing(self) -> None:
        timed = {**NATIVE, "event_time": 1_795_160_000}
        result = map_message(_structured(timed, time="2026-11-20T10:00:00Z"), {}, "cloudevents")
        assert result.events[0]["event_time"] == 1_795_160_000
        result = map_message(_structured(NATIVE, time="2026-11-20T10:00:00Z"), {}, "cloudevents")
        assert result.events[0]["event_time"] == 1_795_168_800

    def test_envelope_time_is_the_fallback_time_of_ga4(self) -> None:
        ga4 = {"client_id": "1", "events": [{"name": "sign_up"}]}
        envelope = _structured(ga4, time="2026-11-20T10:00:00Z")
        result = map_message(envelope, {}, "cloudevents", received_at=NOW)
        assert result.events[0]["event_time"] == 1_795_168_800

    def test_own_event_id_is_kept(self) -> None:
        result = map_message(_structured({**NATIVE, "event_id": "mine"}), {}, "cloudevents")
        assert result.events[0]["event_id"] == "mine"
