"""Segment and RudderStack messages, from the raw sample to the exact CAPI event."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from streams.domain.formats import (
    FormatOptions,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
    map_message,
)
from streams.domain.formats.segment import SEGMENT_EVENTS, map_segment
from streams.domain.transform import Rejected, RejectReason
from tests.domain.formats.samples import NOW, accepted_events, load, mapped, sha, to_capi

UA_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _track(**fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": "Order Completed",
        "messageId": "m-1",
        "userId": "u-1",
        "timestamp": "2026-11-20T10:00:00Z",
        "properties": {"revenue": 10, "currency": "EUR"},
    }
    message.update(fields)
    return message


def _one(message: dict[str, Any], options: FormatOptions | None = None) -> dict[str, Any]:
    result = map_segment(message, options or FormatOptions(), NOW)
    assert result.unmapped == ()
    (event,) = result.events
    return event


class TestSegmentSamples:
    def test_order_completed_is_the_exact_purchase(self) -> None:
        (event,) = accepted_events(mapped("segment/order_completed.json", "segment"))
        assert event == {
            "event_name": "Purchase",
            "event_time": 1_795_102_927,  # 2026-11-19T16:42:07.311+01:00
            "action_source": "website",
            "event_id": "ajs-next-1795102927311-4c1d5e7a-91b2-4f0e-8d3b-2a6c7e9f0b14",
            "event_source_url": "https://shop.example.com/checkout/complete",
            "referrer_url": "https://shop.example.com/checkout/payment",
            "user_data": {
                "em": [sha("jane.doe@example.com")],
                "ph": [sha("16505550134")],
                "fn": [sha("jane")],
                "ln": [sha("doe")],
                "ct": [sha("sanfrancisco")],
                "st": [sha("ca")],
                "zp": [sha("94107")],
                "country": [sha("us")],
                "external_id": [sha("user-8841")],
                "client_ip_address": "203.0.113.24",
                "client_user_agent": UA_WINDOWS,
                "fbp": "fb.1.1795000000000.1234567890",
            },
            "custom_data": {
                "value": 25.0,  # revenue wins over total
                "currency": "USD",
                "order_id": "50314b8e9bcf000000000000",
                "content_type": "product",
                "content_ids": ["507f1f77bcf86cd799439011", "505bd76785ebb509fc183733"],
                "contents": [
                    {
                        "id": "507f1f77bcf86cd799439011",
                        "quantity": 1,
                        "item_price": 19,
                        "title": "Monopoly: 3rd Edition",
                        "category": "Games",
                    },
                    {
                        "id": "505bd76785ebb509fc183733",
                        "quantity": 2,
                        "item_price": 3,
                        "title": "Uno Card Game",
                        "category": "Games",
                    },
                ],
                "num_items": 3,
                # every other property is kept as a custom property
                "checkout_id": "fksdjfsdjfisjf9sdfjsd9f",
                "affiliation": "Google Store",
                "total": 27.5,
                "subtotal": 22.5,
                "shipping": 3,
                "tax": 2,
                "discount": 2.5,
                "coupon": "hasbros",
            },
        }

    def test_product_added_without_traits_or_page(self) -> None:
        result = mapped(
            "segment/product_added.json", "segment", FormatOptions(action_source="other")
        )
        (event,) = accepted_events(result)
        assert event == {
            "event_name": "AddToCart",
            "event_time": 1_795_166_130,
            "action_source": "other",
            "event_id": "node-9f2c1a7e-6b44-4d0b-b7a1-0c3e5d2f8a61",
            "user_data": {
                "external_id": [sha("user-1207")],
                "fbp": "fb.1.1795100000000.987654321",  # context.cookies._fbp
                "fbc": "fb.1.1795160000000.IwAR3xQk9_Z7bLmN0pQr",  # context.cookies._fbc
            },
            "custom_data": {
                "value": 37.98,  # price x quantity
                "content_ids": ["507f1f77bcf86cd799439011"],
                "contents": [
                    {
                        "id": "507f1f77bcf86cd799439011",
                        "quantity": 2,
                        "item_price": 18.99,
                        "title": "Monopoly: 3rd Edition",
                        "brand": "Hasbro",
                        "category": "Games",
                    }
                ],
                "content_name": "Monopoly: 3rd Edition",
                "content_category": "Games",
                "content_type": "product",
                "cart_id": "skdjsidjsdkdj29j",
                "variant": "200 pieces",
                "coupon": "MAYDEALS",
                "position": 3,
                "url": "https://www.example.com/product/path",
                "image_url": "https://www.example.com/product/path.jpg",
            },
        }

    def test_server_event_without_any_source_hint_is_left_to_the_dataset(self) -> None:
        (verdict,) = to_capi(mapped("segment/product_added.json", "segment"))
        assert isinstance(verdict, Rejected)
        assert verdict.reason is RejectReason.MISSING_ACTION_SOURCE

    def test_page_builds_fbc_from_the_page_query(self) -> None:
        (event,) = accepted_events(mapped("segment/page.json", "segment"))
        assert event["event_name"] == "PageView"
        assert event["action_source"] == "website"
        assert event["event_time"] == 1_795_168_800
        assert event["event_source_url"].startswith("https://shop.example.com/collections/winter?")
        assert event["referrer_url"] == "https://l.facebook.com/"
        assert event["user_data"]["fbc"] == ("fb.1.1795168800000.IwZXh0bgNhZW0BMABhZGlkAassF2_aBc")
        assert event["user_data"]["client_ip_address"] == "2001:db8:85a3::8a2e:370:7334"
        # url/referrer/search/path are consumed; the page title stays as a custom property
        assert event["custom_data"] == {"title": "Winter Collection"}

    def test_ios_screen_is_an_app_event_with_extinfo(self) -> None:
        (event,) = accepted_events(mapped("segment/screen_ios.json", "segment"))
        assert event["action_source"] == "app"
        assert event["event_name"] == "PageView"
        assert event["app_data"] == {
            "advertiser_tracking_enabled": True,
            "extinfo": [
                "i2",
                "com.example.shopapp",
                "4.2.0",
                "4.2.0.812",
                "18.1",
                "iPhone16,2",
                "en-US",
                "",
                "T-Mobile",
                "430",
                "932",
                "3",
                "",
                "",
                "",
                "America/Los_Angeles",
            ],
        }
        assert event["user_data"] == {
            "em": [sha("sam.lee@example.org")],
            "external_id": [sha("user-3310")],
            "client_ip_address": "198.51.100.77",
            "madid": "7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB",
        }

    def test_missing_currency_with_iso_offset_and_product_without_id(self) -> None:
        (event,) = accepted_events(mapped("segment/checkout_started_no_currency.json", "segment"))
        assert event["event_name"] == "InitiateCheckout"
        assert event["event_time"] == 1_795_141_200  # 2026-11-20T11:20:00+09:00
        assert event["user_data"]["fn"] == [sha("kenji")]  # split from `name`
        assert event["user_data"]["ln"] == [sha("sato")]
        assert event["custom_data"] == {
            "value": 4200,
            "order_id": "50314b8e9bcf000000000001",
            "content_type": "product",
            "content_ids": ["P-22"],
            "contents": [{"id": "P-22", "quantity": 3, "item_price": 1400}],
            "num_items": 3,  # the gift wrap has no id and is left out
        }

    def test_missing_currency_takes_the_topic_default(self) -> None:
        options = FormatOptions(default_currency="jpy")
        (event,) = accepted_events(
            mapped("segment/checkout_started_no_currency.json", "segment", options)
        )
        assert event["custom_data"]["currency"] == "JPY"

    def test_purchase_without_currency_is_rejected_by_the_transform(self) -> None:
        message = _track(properties={"revenue": 12})
        message["context"] = {"traits": {"email": "a@example.com"}}
        (verdict,) = to_capi(
            map_message(message, {}, "segment", FormatOptions(action_source="other"))
        )
        assert isinstance(verdict, Rejected)
        assert (verdict.reason, verdict.field) == (
            RejectReason.MISSING_CURRENCY,
            "custom_data.currency",
        )

    def test_identify_has_no_action(self) -> None:
        result = mapped("segment/identify.json", "segment")
        assert result.events == ()
        assert result.unmapped == (
            Unmapped(UnmappableReason.NO_ACTION, UnmappedAction.FAIL, "type", None),
        )

    def test_identify_can_be_dropped_by_policy(self) -> None:
        result = mapped(
            "segment/identify.json", "segment", FormatOptions(unmappable=UnmappedAction.DROP)
        )
        assert result.events == ()
        assert result.unmapped[0].action is UnmappedAction.DROP
        assert result.failures == ()

    def test_batch_yields_each_call_with_the_shared_context(self) -> None:
        result = mapped(
            "segment/batch.json", "segment", FormatOptions(action_source="system_generated")
        )
        names = [e["event_name"] for e in result.events]
        assert names == ["CompleteRegistration", "Video Played"]
        assert result.unmapped == (
            Unmapped(UnmappableReason.UNKNOWN_EVENT, UnmappedAction.CUSTOM, "batch.1.event", 1),
            Unmapped(UnmappableReason.NO_ACTION, UnmappedAction.FAIL, "batch.2.type", 2),
        )
        signed_up, video = accepted_events(result)
        assert signed_up["user_data"] == {
            "em": [sha("new.user@example.com")],
            "fn": [sha("ana")],  # a PII-named property feeds user_data ...
            "external_id": [sha("user-9001")],
            "client_ip_address": "192.0.2.10",  # batch-level context
        }
        assert signed_up["custom_data"] == {"type": "organic", "plan": "trial"}  # ... not custom
        assert video["event_id"] == "srv-batch-0002"
        assert video["custom_data"] == {"video_id": "v-77", "position": 0}


class TestRudderStackSamples:
    def test_order_completed_handles_rudderstack_differences(self) -> None:
        (event,) = accepted_events(mapped("rudderstack/order_completed.json", "rudderstack"))
        assert event == {
            "event_name": "Purchase",  # "order completed": names match case-insensitively
            "event_time": 1_795_102_927,
            "action_source": "website",
            "event_id": "1795102927311-2c4e6a8b-0d1f-4b3c-8e5a-7f9b1d3e5c70",
            "event_source_url": "https://shop.example.de/bestellung/danke",
            "referrer_url": "https://shop.example.de/kasse",
            "user_data": {
                "em": [sha("max.mustermann@example.de")],
                "ph": [sha("49301234567")],  # national number, country from the traits
                "fn": [sha("max")],  # `firstname`
                "ln": [sha("mustermann")],  # `last_name`
                "ct": [sha("berlin")],  # traits address, not the IP-based context.geo
                "zp": [sha("10115")],
                "country": [sha("de")],
                "external_id": [sha("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f")],  # anonymousId
                "client_ip_address": "198.51.100.23",  # request_ip
                "client_user_agent": (
                    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
                ),
            },
            "custom_data": {
                "value": 89.9,
                "currency": "EUR",
                "order_id": "DE-2026-7781",
                "content_type": "product",
                "content_ids": ["SKU-4711", "SKU-0815"],
                "contents": [
                    {"id": "SKU-4711", "quantity": 1, "item_price": 59.9, "title": "Kaffeemühle"},
                    {"id": "SKU-0815", "quantity": 2, "item_price": 15, "title": "Filter"},
                ],
                "num_items": 3,
                "shipping": 4.9,
            },
            "data_processing_options": ["LDU"],
            "data_processing_options_country": 0,
            "data_processing_options_state": 0,
        }

    def test_product_viewed_uses_the_pixel_event_id_and_the_url_fbclid(self) -> None:
        (event,) = accepted_events(mapped("rudderstack/product_viewed.json", "rudderstack"))
        assert event["event_id"] == "pixel-evt-4711-0001"
        assert event["event_name"] == "ViewContent"
        assert event["user_data"]["fbp"] == "fb.1.1795100000000.555000111"
        assert event["user_data"]["fbc"] == "fb.1.1795169000000.IwAR0aBcDeF-gh_IjKl"
        assert event["user_data"]["client_ip_address"] == "203.0.113.99"
        assert event["custom_data"] == {
            "value": 59.9,  # "59.90" (text) x 1
            "currency": "EUR",
            "content_ids": ["SKU-4711"],
            "contents": [
                {"id": "SKU-4711", "item_price": 59.9, "title": "Kaffeemühle", "category": "Küche"}
            ],
            "content_name": "Kaffeemühle",
            "content_category": "Küche",
            "content_type": "product",
        }

    def test_geo_fills_the_place_only_without_traits(self) -> None:
        message = load("rudderstack/order_completed.json")
        message["context"]["traits"] = {"email": "x@example.de"}
        (event,) = map_message(message, {}, "rudderstack", received_at=NOW).events
        assert {k: event["user_data"][k] for k in ("ct", "st", "zp", "country")} == {
            "ct": "Potsdam",
            "st": "BB",
            "zp": "14467",
            "country": "DE",
        }

    def test_android_screen_without_ad_tracking_sends_no_madid(self) -> None:
        (event,) = accepted_events(mapped("rudderstack/screen_android.json", "rudderstack"))
        assert event["action_source"] == "app"
        assert event["app_data"]["advertiser_tracking_enabled"] is False
        assert event["app_data"]["extinfo"][:6] == [
            "a2",
            "de.example.kaffee",
            "3.1.1",
            "311",
            "15",
            "Pixel 9",
        ]
        assert "madid" not in event["user_data"]
        assert event["user_data"]["external_id"] == [sha("kunde-2202")]

    def test_identify_has_no_action(self) -> None:
        result = mapped("rudderstack/identify.json", "rudderstack")
        assert [u.reason for u in result.unmapped] == [UnmappableReason.NO_ACTION]

    def test_segment_does_not_fall_back_to_anonymous_id_unless_asked(self) -> None:
        message = load("rudderstack/order_completed.json")
        (event,) = map_message(message, {}, "segment", received_at=NOW).events
        assert "external_id" not in event["user_data"]
        assert "client_ip_address" not in event["user_data"]  # request_ip is RudderStack's
        asked = FormatOptions(anonymous_id=True)
        (event,) = map_message(message, {}, "segment", asked, received_at=NOW).events
        assert event["user_data"]["external_id"] == "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"


class TestEventNames:
    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("Order Completed", "Purchase"),
            ("Product Added", "AddToCart"),
            ("Checkout Started", "InitiateCheckout"),
            ("Product Viewed", "ViewContent"),
            ("Products Searched", "Search"),
            ("Signed Up", "CompleteRegistration"),
            ("Payment Info Entered", "AddPaymentInfo"),
            ("Product Added to Wishlist", "AddToWishlist"),
            ("Lead Generated", "Lead"),
            ("Form Submitted", "Lead"),
            ("Lead", "Lead"),
            ("  order_completed ", "Purchase"),
            ("purchase", "Purchase"),  # already a Meta standard name
            ("Subscribe", "Subscribe"),
        ],
    )
    def test_builtin_map(self, source: str, expected: str) -> None:
        assert _one(_track(event=source))["event_name"] == expected

    def test_topic_names_win(self) -> None:
        options = FormatOptions(
            event_names={"Order Completed": "OrderPlaced", "Demo Booked": "Schedule"}
        )
        assert _one(_track(), options)["event_name"] == "OrderPlaced"
        assert _one(_track(event="demo booked"), options)["event_name"] == "Schedule"

    def test_unknown_names_follow_the_policy(self) -> None:
        message = _track(event="Button Clicked")
        custom = map_segment(message, FormatOptions(), NOW)
        assert custom.events[0]["event_name"] == "Button Clicked"
        assert custom.unmapped[0].action is UnmappedAction.CUSTOM
        dropped = map_segment(message, FormatOptions(unknown_event=UnmappedAction.DROP), NOW)
        assert dropped.events == () and dropped.unmapped[0].action is UnmappedAction.DROP
        failed = map_segment(message, FormatOptions(unknown_event=UnmappedAction.FAIL), NOW)
        assert failed.failures == (
            Unmapped(UnmappableReason.UNKNOWN_EVENT, UnmappedAction.FAIL, "event", None),
        )

    def test_every_builtin_target_is_a_standard_event(self) -> None:
        from streams.domain.model import STANDARD_EVENT_NAMES

        assert set(SEGMENT_EVENTS.values()) <= STANDARD_EVENT_NAMES


class TestAwkwardMessages:
    @pytest.mark.parametrize(
        ("change", "reason", "field"),
        [
            ({"type": "launch"}, UnmappableReason.FORMAT_MISMATCH, "type"),
            ({"type": 3}, UnmappableReason.FORMAT_MISMATCH, "type"),
            ({"event": None}, UnmappableReason.MISSING_SOURCE_EVENT, "event"),
            ({"event": "   "}, UnmappableReason.MISSING_SOURCE_EVENT, "event"),
            ({"type": "group"}, UnmappableReason.NO_ACTION, "type"),
            ({"type": "alias"}, UnmappableReason.NO_ACTION, "type"),
        ],
    )
    def test_unmappable(self, change: dict[str, Any], reason: UnmappableReason, field: str) -> None:
        result = map_segment(_track(**change), FormatOptions(), NOW)
        assert result.events == ()
        assert result.unmapped == (Unmapped(reason, UnmappedAction.FAIL, field, None),)

    def test_batch_entry_that_is_not_an_object(self) -> None:
        result = map_segment({"batch": [_track(), "oops"]}, FormatOptions(), NOW)
        assert len(result.events) == 1
        assert result.unmapped == (
            Unmapped(UnmappableReason.FORMAT_MISMATCH, UnmappedAction.FAIL, "batch.1", 1),
        )

    def test_batch_entries_without_message_id_get_distinct_content(self) -> None:
        first, second = (_track(), _track())
        del first["messageId"], second["messageId"]
        result = map_segment({"batch": [first, second]}, FormatOptions(action_source="other"), NOW)
        ids = [v.event_id for v in to_capi(result)]
        assert len(set(ids)) == 2

    @pytest.mark.parametrize(
        ("stamps", "expected"),
        [
            ({"timestamp": "2026-11-20T10:00:00+02:00"}, 1_795_161_600),
            ({"timestamp": None, "originalTimestamp": "2026-11-20T10:00:00Z"}, 1_795_168_800),
            ({"timestamp": "", "receivedAt": "2026-11-20T10:00:00Z"}, 1_795_168_800),
            ({"timestamp": None}, NOW),  # the Kafka record time
        ],
    )
    def test_event_time_fallbacks(self, stamps: dict[str, Any], expected: int) -> None:
        result = map_segment(_track(**stamps), FormatOptions(action_source="other"), NOW)
        (verdict,) = to_capi(result)
        assert verdict.event is not None and verdict.event["event_time"] == expected

    def test_traits_without_address_and_non_object_context(self) -> None:
        event = _one(_track(context="broken", traits={"address": "1 Main St"}))
        assert event["user_data"] == {"external_id": "u-1"}

    def test_iso_birthday_keeps_the_date(self) -> None:
        event = _one(_track(traits={"birthday": "1990-05-04T00:00:00.000Z", "gender": "female"}))
        assert event["user_data"]["db"] == "1990-05-04"
        (verdict,) = to_capi(
            map_segment(
                _track(traits={"birthday": "1990-05-04T00:00:00.000Z", "email": "a@b.co"}),
                FormatOptions(action_source="other"),
                NOW,
            )
        )
        assert verdict.event is not None
        assert verdict.event["user_data"]["db"] == [sha("19900504")]

    def test_personal_data_never_lands_in_custom_data(self) -> None:
        props = {
            "revenue": 5,
            "currency": "USD",
            "email": "x@y.z",
            "phone": "123",
            "address": {"city": "X"},
            "ip": "1.2.3.4",
            "color": "red",
        }
        event = _one(_track(properties=props))
        assert event["custom_data"] == {"value": 5, "currency": "USD", "color": "red"}
        assert event["user_data"]["em"] == "x@y.z"
        assert event["user_data"]["ct"] == "X"

    def test_value_precedence_and_unreadable_values(self) -> None:
        event = _one(_track(properties={"revenue": "n/a", "total": "30.5", "value": 1}))
        assert event["custom_data"]["value"] == 30.5
        assert event["custom_data"]["revenue"] == "n/a"  # unread: kept as it came
        assert event["custom_data"]["value"] != 1

    def test_message_is_not_modified(self) -> None:
        message = load("segment/order_completed.json")
        before = copy.deepcopy(message)
        map_segment(message, FormatOptions(), NOW)
        assert message == before

    def test_explicit_action_source_beats_the_topic_option(self) -> None:
        message = _track(properties={"action_source": "physical_store", "revenue": 1})
        event = _one(message, FormatOptions(action_source="website"))
        assert event["action_source"] == "physical_store"
        assert "action_source" not in event["custom_data"]

    def test_empty_batch(self) -> None:
        result = map_segment({"batch": []}, FormatOptions(), NOW)
        assert result.unmapped == (
            Unmapped(UnmappableReason.MISSING_SOURCE_EVENT, UnmappedAction.FAIL, "batch", None),
        )
