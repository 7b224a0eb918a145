"""GA4 Measurement Protocol payloads, from the raw sample to the exact CAPI events."""

from __future__ import annotations

from typing import Any

import pytest

from streams.domain.formats import (
    SOURCE_INDEX_KEY,
    FormatOptions,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
)
from streams.domain.formats.ga4 import GA4_EVENTS, map_ga4
from streams.domain.model import STANDARD_EVENT_NAMES
from streams.domain.transform import Rejected, RejectReason
from tests.domain.formats.samples import NOW, accepted_events, load, mapped, sha, to_capi

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _payload(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"client_id": "1.2", "user_id": "u-1", "events": list(events)}
    payload.update(fields)
    return payload


class TestSamples:
    def test_purchase_is_the_exact_capi_event(self) -> None:
        (event,) = accepted_events(mapped("ga4/purchase.json", "ga4"))
        assert event == {
            "event_name": "Purchase",
            "event_time": 1_795_165_200,  # timestamp_micros / 10^6
            "action_source": "website",
            "event_id": "purchase-T_12345",
            "event_source_url": "https://shop.example.com/checkout/thanks",
            "user_data": {
                # Google's SHA-256 values pass through untouched
                "em": [sha("jdoe@example.com")],
                "ph": [sha("+16505550134")],
                "fn": [sha("jane")],
                "ln": [sha("doe")],
                # plain address parts are normalized and hashed here
                "ct": [sha("mountainview")],
                "st": [sha("ca")],
                "zp": [sha("94043")],
                "country": [sha("us")],
                "external_id": [sha("crm-00042")],
                "client_ip_address": "203.0.113.50",
                "client_user_agent": UA,
            },
            "custom_data": {
                "value": 72.05,
                "currency": "USD",
                "order_id": "T_12345",
                "content_type": "product",
                "content_ids": ["SKU_12345", "SKU_12346"],
                "contents": [
                    {
                        "id": "SKU_12345",
                        "quantity": 3,
                        "item_price": 10.01,
                        "title": "Stan and Friends Tee",
                        "brand": "Google",
                        "category": "Apparel",
                    },
                    {
                        "id": "SKU_12346",
                        "quantity": 2,
                        "item_price": 21.01,
                        "title": "Google Grey Women's Tee",
                        "brand": "Google",
                        "category": "Apparel",
                    },
                ],
                "num_items": 5,
                "tax": 3.6,
                "shipping": 5.99,
                "coupon": "SUMMER_SUN",
            },
        }

    def test_one_payload_with_several_events_gives_several_capi_events(self) -> None:
        options = FormatOptions(action_source="other")
        result = mapped("ga4/multiple_events.json", "ga4", options)
        assert [e["event_name"] for e in result.events] == [
            "AddToCart",
            "AddToCart",
            "InitiateCheckout",
            "scroll",
        ]
        assert result.unmapped == (
            Unmapped(UnmappableReason.UNKNOWN_EVENT, UnmappedAction.CUSTOM, "events.3.name", 3),
        )
        events = accepted_events(result)
        first, second, checkout, scroll = events
        # identical events of one payload still get distinct, stable ids
        assert first["event_id"] != second["event_id"]
        assert [e["event_id"] for e in accepted_events(result)] == [e["event_id"] for e in events]
        assert all(e["event_id"].startswith("cs-") for e in events)
        assert SOURCE_INDEX_KEY not in first
        assert first["event_time"] == 1_795_168_800
        assert checkout["event_time"] == 1_795_168_860  # the event's own timestamp_micros
        assert first["user_data"] == {
            "em": [sha("lee@example.org")],
            "ct": [sha("austin")],  # user_location
            "st": [sha("tx")],  # region_id US-TX
            "country": [sha("us")],
        }
        assert checkout["custom_data"] == {
            "value": 30.03,
            "currency": "USD",
            "coupon": "SUMMER_FUN",
            "content_type": "product",
            "content_ids": ["SKU_12345"],
            "contents": [{"id": "SKU_12345", "quantity": 3, "item_price": 10.01}],
            "num_items": 3,
        }
        assert scroll["custom_data"] == {"percent_scrolled": 90}

    def test_multiple_events_with_unknown_names_dropped(self) -> None:
        options = FormatOptions(action_source="other", unknown_event=UnmappedAction.DROP)
        result = mapped("ga4/multiple_events.json", "ga4", options)
        assert len(result.events) == 3
        assert result.unmapped[0].action is UnmappedAction.DROP

    def test_consent_denied_is_unmapped(self) -> None:
        result = mapped("ga4/consent_denied.json", "ga4")
        assert result.events == ()
        assert result.unmapped == (
            Unmapped(
                UnmappableReason.CONSENT_DENIED, UnmappedAction.FAIL, "consent.ad_user_data", None
            ),
        )

    def test_missing_timestamp_uses_the_kafka_time_and_plain_user_data(self) -> None:
        options = FormatOptions(action_source="system_generated")
        (event,) = accepted_events(mapped("ga4/generate_lead_no_timestamp.json", "ga4", options))
        assert event["event_name"] == "Lead"
        assert event["event_time"] == NOW
        assert event["action_source"] == "system_generated"
        assert event["user_data"] == {
            "em": [sha("pat.kim@example.com")],
            "ph": [sha("442079460958")],
            "fn": [sha("pat")],
            "ln": [sha("kim")],
            "ct": [sha("london")],
            "zp": [sha("sw1a1aa")],
            "country": [sha("gb")],
            "external_id": [sha("lead-771")],
        }
        assert event["custom_data"] == {
            "value": 50,
            "currency": "GBP",
            "lead_source": "in_app_form",
        }

    def test_firebase_payload_is_left_to_the_dataset_default(self) -> None:
        (verdict,) = to_capi(mapped("ga4/generate_lead_no_timestamp.json", "ga4"))
        assert isinstance(verdict, Rejected)
        assert verdict.reason is RejectReason.MISSING_ACTION_SOURCE


class TestEvents:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("purchase", "Purchase"),
            ("add_to_cart", "AddToCart"),
            ("begin_checkout", "InitiateCheckout"),
            ("view_item", "ViewContent"),
            ("search", "Search"),
            ("view_search_results", "Search"),
            ("sign_up", "CompleteRegistration"),
            ("generate_lead", "Lead"),
            ("add_payment_info", "AddPaymentInfo"),
            ("add_to_wishlist", "AddToWishlist"),
            ("page_view", "PageView"),
        ],
    )
    def test_recommended_events(self, name: str, expected: str) -> None:
        result = map_ga4(_payload({"name": name}), FormatOptions(), NOW)
        assert result.events[0]["event_name"] == expected
        assert result.unmapped == ()

    def test_every_target_is_a_standard_event(self) -> None:
        assert set(GA4_EVENTS.values()) <= STANDARD_EVENT_NAMES

    def test_search_term(self) -> None:
        payload = _payload({"name": "search", "params": {"search_term": "t-shirts"}})
        (event,) = map_ga4(payload, FormatOptions(), NOW).events
        assert event["custom_data"] == {"search_string": "t-shirts"}

    def test_session_bookkeeping_is_dropped(self) -> None:
        params = {"session_id": "1", "engagement_time_msec": 100, "debug_mode": True, "x": 1}
        (event,) = map_ga4(
            _payload({"name": "sign_up", "params": params}), FormatOptions(), NOW
        ).events
        assert event["custom_data"] == {"x": 1}

    def test_single_event_has_no_index(self) -> None:
        (event,) = map_ga4(_payload({"name": "sign_up"}), FormatOptions(), NOW).events
        assert SOURCE_INDEX_KEY not in event


class TestAwkwardPayloads:
    @pytest.mark.parametrize(
        ("payload", "reason", "field"),
        [
            ({"client_id": "1", "events": "purchase"}, UnmappableReason.FORMAT_MISMATCH, "events"),
            ({"client_id": "1", "events": []}, UnmappableReason.MISSING_SOURCE_EVENT, "events"),
        ],
    )
    def test_whole_payload_unmapped(
        self, payload: dict[str, Any], reason: UnmappableReason, field: str
    ) -> None:
        result = map_ga4(payload, FormatOptions(), NOW)
        assert result.events == ()
        assert result.unmapped == (Unmapped(reason, UnmappedAction.FAIL, field, None),)

    def test_bad_entries_do_not_stop_the_others(self) -> None:
        payload = _payload("junk", {"params": {}}, {"name": "purchase"})
        result = map_ga4(payload, FormatOptions(), NOW)
        assert [e["event_name"] for e in result.events] == ["Purchase"]
        assert result.unmapped == (
            Unmapped(UnmappableReason.FORMAT_MISMATCH, UnmappedAction.FAIL, "events.0", 0),
            Unmapped(
                UnmappableReason.MISSING_SOURCE_EVENT, UnmappedAction.FAIL, "events.1.name", 1
            ),
        )
        assert result.events[0][SOURCE_INDEX_KEY] == 2

    def test_purchase_without_currency_or_value(self) -> None:
        payload = _payload(
            {"name": "purchase", "params": {"value": 10}},
            {"name": "purchase", "params": {"currency": "EUR"}},
            user_agent="UA",
            timestamp_micros=1_795_168_800_000_000,
        )
        no_currency, no_value = to_capi(map_ga4(payload, FormatOptions(action_source="other"), NOW))
        assert (
            isinstance(no_currency, Rejected)
            and no_currency.reason is RejectReason.MISSING_CURRENCY
        )
        assert isinstance(no_value, Rejected) and no_value.reason is RejectReason.MISSING_VALUE
        fixed = FormatOptions(action_source="other", default_currency="EUR")
        verdict = to_capi(map_ga4(payload, fixed, NOW))[0]
        assert verdict.event is not None and verdict.event["custom_data"]["currency"] == "EUR"

    def test_unreadable_value_reaches_the_transform(self) -> None:
        payload = _payload({"name": "purchase", "params": {"value": "ten", "currency": "EUR"}})
        (verdict,) = to_capi(map_ga4(payload, FormatOptions(action_source="other"), NOW))
        assert isinstance(verdict, Rejected) and verdict.reason is RejectReason.INVALID_VALUE

    @pytest.mark.parametrize(
        ("stamp", "expected"),
        [
            ("1795168800123456", 1_795_168_800),
            (1_795_168_800_999_999.0, 1_795_168_800),
        ],
    )
    def test_micros(self, stamp: object, expected: int) -> None:
        payload = _payload({"name": "sign_up", "timestamp_micros": stamp})
        assert map_ga4(payload, FormatOptions(), NOW).events[0]["event_time"] == expected

    def test_unreadable_timestamp_is_rejected_by_the_transform(self) -> None:
        payload = _payload({"name": "sign_up", "timestamp_micros": "yesterday"})
        (verdict,) = to_capi(map_ga4(payload, FormatOptions(action_source="other"), NOW))
        assert isinstance(verdict, Rejected) and verdict.reason is RejectReason.INVALID_EVENT_TIME

    def test_items_without_id_are_left_out(self) -> None:
        items = [{"item_name": "no id", "price": 1}, {"item_id": 42, "quantity": "2"}]
        payload = _payload({"name": "add_to_cart", "params": {"items": items}})
        (event,) = map_ga4(payload, FormatOptions(), NOW).events
        assert event["custom_data"]["contents"] == [{"id": "42", "quantity": 2}]
        assert event["custom_data"]["content_ids"] == ["42"]

    def test_client_id_is_external_id_only_when_asked(self) -> None:
        payload = _payload({"name": "sign_up"}, user_id=None)
        (event,) = map_ga4(payload, FormatOptions(), NOW).events
        assert "external_id" not in event["user_data"]
        (event,) = map_ga4(payload, FormatOptions(anonymous_id=True), NOW).events
        assert event["user_data"]["external_id"] == "1.2"

    def test_user_data_of_each_event_is_its_own_copy(self) -> None:
        payload = _payload({"name": "sign_up"}, {"name": "purchase"})
        first, second = map_ga4(payload, FormatOptions(), NOW).events
        first["user_data"]["em"] = "changed"
        assert "em" not in second["user_data"]

    def test_sample_is_not_modified(self) -> None:
        payload = load("ga4/purchase.json")
        before = repr(payload)
        map_ga4(payload, FormatOptions(), NOW)
        assert repr(payload) == before
