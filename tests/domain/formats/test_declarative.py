"""Declarative mappings: parsing (errors name the mapping and key) and applying."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from streams.domain.formats import (
    FormatOptions,
    MappingError,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
    map_message,
    parse_mapping,
    parse_mappings,
)
from streams.domain.formats.declarative import TRANSFORMS, map_declarative
from tests.domain.formats.samples import DATA, NOW, accepted_events, load, sha

BASE: dict[str, Any] = {"event_name": "name", "event_time": "time"}


def _apply(fields: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    spec = parse_mapping("m", {**BASE, **fields})
    result = map_declarative(obj, spec, FormatOptions())
    assert result.unmapped == (), result.unmapped
    (event,) = result.events
    return event


def _value(source: object, obj: dict[str, Any]) -> object:
    return _apply({"custom_data.x": source}, {"name": "N", "time": 1, **obj})["custom_data"]["x"]


class TestSample:
    def test_shop_webhook_is_the_exact_capi_event(self) -> None:
        raw = tomllib.loads((DATA / "mappings" / "shop_webhook.toml").read_text())
        mappings = parse_mappings(raw["mappings"])
        result = map_message(
            load("mappings/shop_webhook_order.json"),
            {},
            "mapping:shop_webhook",
            mappings=mappings,
        )
        assert result.format == "mapping:shop_webhook"
        (event,) = accepted_events(result)
        assert event == {
            "event_name": "Purchase",
            "event_time": 1_795_167_900,  # 20/11/2026 10:45:00 at +01:00
            "event_id": "evt_01JDB7Q4ZP6V2M8K3T9W5X1Y0A",
            "action_source": "website",
            "event_source_url": "https://winkel.example.nl/bedankt?order=1001",
            "user_data": {
                "em": [sha("zoe.vdberg@example.nl")],
                "ph": [sha("31612345678")],
                "fn": [sha("zoë")],  # split from the full name
                "ln": [sha("berg")],
                "ct": [sha("amsterdam")],
                "zp": [sha("1012ab")],
                "country": [sha("nl")],
                "external_id": [sha("77120")],
                "client_ip_address": "192.0.2.200",
                "client_user_agent": (
                    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/18.0 Safari/605.1.15"
                ),
            },
            "custom_data": {
                "value": 129.99,  # cents
                "currency": "EUR",
                "order_id": "1001",
                "content_ids": ["A-100", "B-200"],
                "contents": [
                    {"id": "A-100", "quantity": 2, "item_price": 49.99},
                    {"id": "B-200", "quantity": 1, "item_price": 30.01},
                ],
                "content_type": "product",
                "payment_method": "ideal",
            },
        }

    def test_unknown_topic_value_follows_the_policy(self) -> None:
        raw = tomllib.loads((DATA / "mappings" / "shop_webhook.toml").read_text())
        mappings = parse_mappings(raw["mappings"])
        message = {**load("mappings/shop_webhook_order.json"), "topic": "order.refunded"}
        failing = FormatOptions(unknown_event=UnmappedAction.FAIL)
        result = map_message(message, {}, "mapping:shop_webhook", failing, mappings=mappings)
        assert result.events == ()
        assert result.unmapped == (
            Unmapped(UnmappableReason.UNKNOWN_EVENT, UnmappedAction.FAIL, "event_name", None),
        )
        result = map_message(message, {}, "mapping:shop_webhook", mappings=mappings)
        assert result.events[0]["event_name"] == "order.refunded"


class TestSources:
    def test_paths_constants_and_fallbacks(self) -> None:
        obj = {
            "name": "Lead",
            "time": 5,
            "a": {"b": [{"c": "deep"}]},
            "blank": " ",
            "second": "2nd",
        }
        event = _apply(
            {
                "event_id": "a.b.0.c",
                "action_source": {"const": "chat"},
                "custom_data.k": {"paths": ["missing", "blank", "second"]},
                "custom_data.d": {"path": "nothing", "default": 7},
            },
            obj,
        )
        assert event == {
            "event_name": "Lead",
            "event_time": 5,
            "event_id": "deep",
            "action_source": "chat",
            "custom_data": {"k": "2nd", "d": 7},
        }

    def test_wildcard_collects_from_lists(self) -> None:
        obj = {"items": [{"sku": "a"}, {"sku": None}, {"nosku": 1}, {"sku": "b"}]}
        assert _value("items.*.sku", obj) == ["a", "b"]

    def test_dotted_column_name_is_found_whole(self) -> None:
        assert _value("customer.email", {"customer.email": "x@y.z"}) == "x@y.z"

    def test_index_out_of_range_is_missing(self) -> None:
        event = _apply({"custom_data.x": "items.5"}, {"name": "N", "time": 1, "items": [1]})
        assert "custom_data" not in event

    def test_each_builds_objects(self) -> None:
        source = {
            "each": "lines",
            "fields": {"id": "sku", "quantity": {"path": "n", "transform": "number"}},
        }
        lines = [{"sku": "a", "n": "2"}, {"other": 1}, {"sku": "b"}]
        assert _value(source, {"lines": lines}) == [{"id": "a", "quantity": 2}, {"id": "b"}]
        assert _value(source, {"lines": {"sku": "solo"}}) == [{"id": "solo"}]

    def test_whole_object_with_specific_keys_winning(self) -> None:
        obj = {"name": "N", "time": 1, "props": {"a": 1, "b": 2}, "bee": 3}
        event = _apply({"custom_data": "props", "custom_data.b": "bee"}, obj)
        assert event["custom_data"] == {"a": 1, "b": 3}
        assert obj["props"] == {"a": 1, "b": 2}

    def test_nested_toml_tables_are_targets(self) -> None:
        raw = tomllib.loads(
            """
            event_name = "name"
            event_time = "time"
            user_data.em = "mail"
            [custom_data]
            color = "c"
            """
        )
        event = _apply(raw, {"name": "N", "time": 1, "mail": "m@x.y", "c": "red"})
        assert event["user_data"] == {"em": "m@x.y"}
        assert event["custom_data"] == {"color": "red"}

    def test_required_field(self) -> None:
        spec = parse_mapping("m", {**BASE, "user_data.em": {"path": "mail", "required": True}})
        result = map_declarative({"name": "N", "time": 1, "mail": "  "}, spec, FormatOptions())
        assert result.events == ()
        assert result.unmapped == (
            Unmapped(
                UnmappableReason.MISSING_MAPPED_FIELD, UnmappedAction.FAIL, "user_data.em", None
            ),
        )

    def test_map_is_case_insensitive_and_keeps_other_values_outside_event_name(self) -> None:
        source = {"path": "s", "map": {"Paid": "yes"}}
        assert _value(source, {"s": "paid"}) == "yes"
        assert _value(source, {"s": "open"}) == "open"

    def test_split(self) -> None:
        assert _value({"path": "ids", "split": ","}, {"ids": "a, b,,c"}) == ["a", "b", "c"]


TRANSFORM_CASES: list[tuple[str, object, object]] = [
    ("lower", " AbC ", " abc "),
    ("upper", "eur", "EUR"),
    ("trim", "  x ", "x"),
    ("first_name", "Mary Ann Smith", "Mary"),
    ("last_name", "Mary Ann Smith", "Smith"),
    ("first_name", "Smith, Mary", "Mary"),
    ("last_name", "Smith, Mary", "Smith"),
    ("digits", "+1 (650) 555-0134", "16505550134"),
    ("number", "1.234,50", 1234.5),
    ("number", "1,234.50", 1234.5),
    ("number", "12,5", 12.5),
    ("number", "€ 99", 99),
    ("number", "n/a", "n/a"),
    ("cents", 12999, 129.99),
    ("cents", "500", 5),
    ("string", 42, "42"),
    ("bool", "Yes", True),
    ("bool", "0", False),
    ("bool", "maybe", "maybe"),
    ("date", "1990-05-04T00:00:00Z", "1990-05-04"),
    ("date", "1990-05-04 13:00", "1990-05-04"),
    ("unix_seconds", "2026-11-20T10:00:00Z", 1_795_168_800),
    ("unix_seconds", "2026-11-20T11:00:00+01:00", 1_795_168_800),
    ("unix_seconds", 1_795_168_800_000, 1_795_168_800),
    ("unix_seconds", 1_795_168_800_000_000, 1_795_168_800),
    ("unix_seconds", "1795168800", 1_795_168_800),
    ("unix_seconds", "soon", "soon"),
]


class TestTransforms:
    @pytest.mark.parametrize(("transform", "value", "expected"), TRANSFORM_CASES)
    def test_transform(self, transform: str, value: object, expected: object) -> None:
        assert _value({"path": "v", "transform": transform}, {"v": value}) == expected

    def test_chained(self) -> None:
        assert _value({"path": "v", "transform": ["trim", "upper"]}, {"v": " usd "}) == "USD"

    def test_time_format_and_offset(self) -> None:
        source = {
            "path": "v",
            "transform": "unix_seconds",
            "time_format": "%d.%m.%Y %H:%M",
            "utc_offset": "-05:00",
        }
        assert _value(source, {"v": "20.11.2026 05:00"}) == 1_795_168_800
        naive_iso = {"path": "v", "transform": "unix_seconds", "utc_offset": "+02:00"}
        assert _value(naive_iso, {"v": "2026-11-20 12:00:00"}) == 1_795_168_800

    def test_transforms_apply_to_each_list_element(self) -> None:
        assert _value({"path": "v", "transform": "lower"}, {"v": ["A", "B"]}) == ["a", "b"]

    def test_every_transform_has_cases(self) -> None:
        assert {name for name, _, _ in TRANSFORM_CASES} == TRANSFORMS


class TestErrors:
    @pytest.mark.parametrize(
        ("fields", "key", "message"),
        [
            ({"event_nme": "x"}, "event_nme", "not a CAPI server event field"),
            ({"user_data.emial": "x"}, "user_data.emial", "not a user_data key"),
            ({"app_data.foo": "x"}, "app_data.foo", "not a app_data key"),
            ({"event_id.x": "x"}, "event_id.x", "event_id has no sub-fields"),
            ({"custom_data.a.b": "x"}, "custom_data.a.b", "a target is a CAPI field"),
            ({"event_id": 5}, "event_id", "expected a path string"),
            ({"event_id": ""}, "event_id", "expected a non-empty path"),
            ({"event_id": "a..b"}, "event_id", "empty segment"),
            ({"event_id": {"path": "a", "const": 1}}, "event_id", "exactly one of"),
            ({"event_id": {"transform": "lower"}}, "event_id", "exactly one of"),
            ({"event_id": {"path": "a", "tranform": "x"}}, "event_id", "unknown option 'tranform'"),
            (
                {"event_id": {"path": "a", "transform": "lowercase"}},
                "event_id.transform",
                "unknown 'lowercase'",
            ),
            ({"event_id": {"path": "a", "transform": 3}}, "event_id.transform", "expected a name"),
            (
                {"event_id": {"path": "a", "time_format": "%Y"}},
                "event_id.time_format",
                "needs transform unix_seconds",
            ),
            (
                {"event_id": {"path": "a", "transform": "unix_seconds", "time_format": "YYYY"}},
                "event_id.time_format",
                "strptime",
            ),
            ({"event_id": {"path": "a", "utc_offset": "CET"}}, "event_id.utc_offset", "offset"),
            ({"event_id": {"path": "a", "map": {}}}, "event_id.map", "table"),
            ({"event_id": {"path": "a", "required": "yes"}}, "event_id.required", "true or false"),
            ({"event_id": {"paths": []}}, "event_id.paths", "non-empty list"),
            ({"event_id": {"const": None}}, "event_id.const", "expected a string"),
            ({"custom_data.c": {"each": "x"}}, "custom_data.c.fields", "each needs a table"),
            (
                {
                    "custom_data.c": {
                        "each": "x",
                        "fields": {"id": {"each": "y", "fields": {"a": "b"}}},
                    }
                },
                "custom_data.c.fields.id.each",
                "cannot be nested",
            ),
            (
                {"custom_data.c": {"each": "x", "fields": {"id": "i"}, "transform": "lower"}},
                "custom_data.c.transform",
                "fields of each",
            ),
            (
                {"custom_data.c": {"path": "x", "fields": {"id": "i"}}},
                "custom_data.c.fields",
                "belongs to each",
            ),
        ],
    )
    def test_mistakes_name_the_mapping_and_key(
        self, fields: dict[str, Any], key: str, message: str
    ) -> None:
        with pytest.raises(MappingError) as caught:
            parse_mapping("orders", {**BASE, **fields})
        assert caught.value.name == "orders"
        assert caught.value.key == key
        assert message in caught.value.message
        assert str(caught.value).startswith(f"mappings.orders.{key}: ")

    def test_event_name_and_time_are_required(self) -> None:
        with pytest.raises(MappingError, match=r"mappings\.m\.event_time: is required"):
            parse_mapping("m", {"event_name": "a"})
        with pytest.raises(MappingError, match=r"mappings\.m\.event_name: is required"):
            parse_mapping("m", {"event_time": "a"})

    @pytest.mark.parametrize("name", ["", "has space", "a:b", "x" * 65])
    def test_bad_names(self, name: str) -> None:
        with pytest.raises(MappingError, match="mapping name"):
            parse_mapping(name, BASE)

    def test_not_a_table(self) -> None:
        with pytest.raises(MappingError, match="expected a table"):
            parse_mapping("m", "event_name = x")
        with pytest.raises(MappingError, match="expected a table of mappings"):
            parse_mappings(["m"])

    def test_toml_dates_must_be_strings(self) -> None:
        raw = tomllib.loads("event_name = 'n'\nevent_time = { const = 2026-11-20T10:00:00Z }")
        with pytest.raises(MappingError, match=r"event_time\.const: write dates"):
            parse_mapping("m", raw)


class TestNeverRaises:
    def test_odd_shapes(self) -> None:
        spec = parse_mapping("m", {**BASE, "custom_data.x": "a.b.c", "user_data.em": "a.*.b"})
        for obj in ({}, {"a": 1}, {"a": [1, "x", None]}, {"a": {"b": [1]}}, {"name": ["x"]}):
            result = map_declarative(obj, spec, FormatOptions(), NOW)
            assert len(result.events) == 1
