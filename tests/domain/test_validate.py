from __future__ import annotations

import inspect
import math
import re
from typing import Any

import orjson
import pytest

from streams.domain import validate
from streams.domain.validate import (
    Invalid,
    RejectReason,
    app_data,
    attribution_data,
    check_customer_information,
    check_event_time,
    clean_json,
    custom_data,
    data_processing,
    original_event_data,
)

R = RejectReason
NOW = 1_795_000_000
EXTINFO = ["a2", "com.example", "1", "1 long", "14", "Pixel 8", "en_US", "CET", "", 1080, 2400,
           2.5, 8, 128.0, None, "Europe/Berlin"]  # fmt: skip
EXTINFO_SENT = ["a2", "com.example", "1", "1 long", "14", "Pixel 8", "en_US", "CET", "", "1080",
                "2400", "2.5", "8", "128", "", "Europe/Berlin"]  # fmt: skip


def reason_of(call: Any, *args: Any) -> tuple[RejectReason, str | None]:
    with pytest.raises(Invalid) as caught:
        call(*args)
    return caught.value.reason, caught.value.field


class TestRejectReason:
    def test_values_are_snake_case_of_names(self) -> None:
        for reason in RejectReason:
            assert reason.value == reason.name.lower()

    def test_every_member_has_a_one_line_meaning(self) -> None:
        source = inspect.getsource(RejectReason)
        for reason in RejectReason:
            lines = source.splitlines()
            line = next(x for x in lines if x.strip().startswith(reason.name + " ="))
            assert re.search(r"#\s*\S.{8,}", line), reason.name

    def test_invalid_carries_no_value(self) -> None:
        error = Invalid(R.INVALID_FIELD, "custom_data.value")
        assert error.args == (R.INVALID_FIELD, "custom_data.value")


class TestEventTimeWindow:
    def test_seven_days(self) -> None:
        check_event_time(NOW - 7 * 86_400, "website", NOW, 60)
        assert reason_of(check_event_time, NOW - 7 * 86_400 - 1, "website", NOW, 60) == (
            R.EVENT_TIME_TOO_OLD,
            "event_time",
        )

    def test_sixty_two_days_for_physical_store(self) -> None:
        check_event_time(NOW - 62 * 86_400, "physical_store", NOW, 60)
        assert reason_of(check_event_time, NOW - 62 * 86_400 - 1, "physical_store", NOW, 60)[0] == (
            R.EVENT_TIME_TOO_OLD
        )

    def test_future_skew(self) -> None:
        check_event_time(NOW + 60, "website", NOW, 60)
        assert reason_of(check_event_time, NOW + 61, "website", NOW, 60)[0] == (
            R.EVENT_TIME_IN_FUTURE
        )
        assert reason_of(check_event_time, NOW + 1, "app", NOW, 0)[0] == R.EVENT_TIME_IN_FUTURE


class TestCustomData:
    def test_standard_fields_are_typed(self) -> None:
        out = custom_data(
            {
                "value": " 12.50 ",
                "currency": " eur ",
                "content_ids": [1, "b", None, " "],
                "contents": [{"id": 7, "quantity": "2", "item_price": "3.5", "extra": {"k": None}}],
                "num_items": 2.0,
                "predicted_ltv": "100",
                "net_revenue": 1,
                "order_id": 123,
                "delivery_category": "CURBSIDE",
                "content_name": "  ",
                "store_data": {"store_code": "B1", "x": None},
                "status": None,
            }
        )
        assert out == {
            "value": 12.5,
            "currency": "EUR",
            "content_ids": ["1", "b"],
            "contents": [{"id": "7", "quantity": 2, "item_price": 3.5, "extra": {}}],
            "num_items": 2,
            "predicted_ltv": 100,
            "net_revenue": 1,
            "order_id": "123",
            "delivery_category": "curbside",
            "store_data": {"store_code": "B1"},
        }

    def test_common_shapes_are_taken_as_they_are(self) -> None:
        out = custom_data(
            {
                "value": 10,
                "currency": "usd ",
                "contents": [{"id": " s1 ", "quantity": 2, "item_price": 5, "title": ""}],
                "num_items": 2,
                "order_id": " o1 ",
                "content_type": "",
            }
        )
        assert out == {
            "value": 10,
            "currency": "USD",
            "contents": [{"id": "s1", "quantity": 2, "item_price": 5}],
            "num_items": 2,
            "order_id": "o1",
        }

    def test_custom_properties_are_kept_without_nulls(self) -> None:
        out = custom_data({"tier": "gold", "tags": ["a", None, 1.5, {"x": None}], "n": None})
        assert out == {"tier": "gold", "tags": ["a", 1.5, {}]}

    def test_empty_is_omitted(self) -> None:
        assert custom_data({"a": None}) is None
        assert custom_data({}) is None

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ({"value": "12,50"}, (R.INVALID_VALUE, "custom_data.value")),
            ({"value": math.nan}, (R.INVALID_VALUE, "custom_data.value")),
            ({"value": "inf"}, (R.INVALID_VALUE, "custom_data.value")),
            ({"value": "1e999"}, (R.INVALID_VALUE, "custom_data.value")),
            ({"value": True}, (R.INVALID_VALUE, "custom_data.value")),
            ({"value": 2**70}, (R.INVALID_VALUE, "custom_data.value")),
            ({"currency": "dollars"}, (R.INVALID_CURRENCY, "custom_data.currency")),
            ({"currency": "XXX"}, (R.INVALID_CURRENCY, "custom_data.currency")),
            ({"currency": 840}, (R.INVALID_CURRENCY, "custom_data.currency")),
            ({"contents": {"id": "a"}}, (R.INVALID_FIELD, "custom_data.contents")),
            ({"contents": [{"quantity": 1}]}, (R.INVALID_FIELD, "custom_data.contents")),
            ({"contents": ["sku"]}, (R.INVALID_FIELD, "custom_data.contents")),
            (
                {"contents": [{"id": "a", "quantity": 2**70}]},
                (R.INVALID_FIELD, "custom_data.contents"),
            ),
            (
                {"contents": [{"id": "a", "quantity": 1.5}]},
                (R.INVALID_FIELD, "custom_data.contents"),
            ),
            (
                {"contents": [{"id": "a", "quantity": True}]},
                (R.INVALID_FIELD, "custom_data.contents"),
            ),
            (
                {"contents": [{"id": "a", "item_price": math.nan}]},
                (R.INVALID_FIELD, "custom_data.contents"),
            ),
            ({"contents": [{"id": "  "}]}, (R.INVALID_FIELD, "custom_data.contents")),
            ({"num_items": "many"}, (R.INVALID_FIELD, "custom_data.num_items")),
            ({"num_items": True}, (R.INVALID_FIELD, "custom_data.num_items")),
            ({"num_items": 2**70}, (R.INVALID_FIELD, "custom_data.num_items")),
            ({"value": -math.inf}, (R.INVALID_VALUE, "custom_data.value")),
            ({"delivery_category": "drone"}, (R.INVALID_FIELD, "custom_data.delivery_category")),
            ({"store_data": "B1"}, (R.INVALID_FIELD, "custom_data.store_data")),
            ({"content_ids": [{"id": 1}]}, (R.INVALID_FIELD, "custom_data.content_ids")),
            ({"custom": math.inf}, (R.INVALID_FIELD, "custom_data")),
            ({"custom": object()}, (R.INVALID_FIELD, "custom_data")),
            ({1: "non-string key"}, (R.INVALID_FIELD, "custom_data")),
            ("not an object", (R.INVALID_FIELD, "custom_data")),
        ],
    )
    def test_rejections(self, data: object, expected: tuple[RejectReason, str]) -> None:
        assert reason_of(custom_data, data) == expected


class TestCleanJson:
    def test_depth_is_bounded(self) -> None:
        nested: Any = "leaf"
        for _ in range(16):  # 16 levels of containers are allowed, the 17th is not
            nested = [nested]
        assert clean_json(nested, "f") == nested
        assert reason_of(clean_json, [nested], "f") == (R.INVALID_FIELD, "f")

    def test_result_always_serializes(self) -> None:
        value = {"a": [1, 2.5, True, "x", None, {"b": None, "c": (1, 2)}], "d": 2**64 - 1}
        assert orjson.loads(orjson.dumps(clean_json(value, "f"))) == {
            "a": [1, 2.5, True, "x", {"c": [1, 2]}],
            "d": 2**64 - 1,
        }


class TestAppData:
    def test_extinfo_becomes_sixteen_strings(self) -> None:
        out = app_data(
            {
                "advertiser_tracking_enabled": 0,
                "application_tracking_enabled": "true",
                "extinfo": EXTINFO,
                "url_schemes": "fb123",
                "campaign_ids": 42,
                "unknown_key": "dropped",
            }
        )
        assert out == {
            "advertiser_tracking_enabled": False,
            "application_tracking_enabled": True,
            "extinfo": EXTINFO_SENT,
            "url_schemes": ["fb123"],
            "campaign_ids": "42",
        }

    def test_extinfo_version_case(self) -> None:
        out = app_data({"extinfo": ["I2", *EXTINFO[1:]]})
        assert out is not None
        assert out["extinfo"][0] == "i2"

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ({"extinfo": EXTINFO[:15]}, (R.INVALID_EXTINFO, "app_data.extinfo")),
            ({"extinfo": [*EXTINFO, ""]}, (R.INVALID_EXTINFO, "app_data.extinfo")),
            ({"extinfo": ["x2", *EXTINFO[1:]]}, (R.INVALID_EXTINFO, "app_data.extinfo")),
            (
                {"extinfo": [*EXTINFO[:4], "", *EXTINFO[5:]]},
                (R.INVALID_EXTINFO, "app_data.extinfo"),
            ),
            (
                {"extinfo": [*EXTINFO[:5], {"m": 1}, *EXTINFO[6:]]},
                (R.INVALID_EXTINFO, "app_data.extinfo"),
            ),
            (
                {"extinfo": [*EXTINFO[:5], True, *EXTINFO[6:]]},
                (R.INVALID_EXTINFO, "app_data.extinfo"),
            ),
            ({"extinfo": "a2,..."}, (R.INVALID_EXTINFO, "app_data.extinfo")),
            (
                {"advertiser_tracking_enabled": "yes"},
                (R.INVALID_FIELD, "app_data.advertiser_tracking_enabled"),
            ),
            (
                {"advertiser_tracking_enabled": 2},
                (R.INVALID_FIELD, "app_data.advertiser_tracking_enabled"),
            ),
            ({"install_referrer": ["a"]}, (R.INVALID_FIELD, "app_data.install_referrer")),
            ([], (R.INVALID_FIELD, "app_data")),
        ],
    )
    def test_rejections(self, data: object, expected: tuple[RejectReason, str]) -> None:
        assert reason_of(app_data, data) == expected


class TestOriginalAndAttribution:
    def test_original_event_data(self) -> None:
        assert original_event_data(
            {"event_name": "Lead", "event_time": "2026-11-18T11:06:40Z", "order_id": 9, "x": 1}
        ) == {"event_name": "Lead", "event_time": NOW, "order_id": "9"}
        assert original_event_data({"x": 1}) is None
        assert reason_of(original_event_data, {"event_time": "yesterday"}) == (
            R.INVALID_FIELD,
            "original_event_data.event_time",
        )

    def test_attribution_data(self) -> None:
        out = attribution_data(
            {
                "ad_id": 123,
                "touchpoint_ts": NOW * 1000,
                "attribution_share": "0.5",
                "attribution_value": 10,
                "attribution_model": "Last_Click",
                "attribution_method": "srn",
                "decline_reason": "duplicated",
                "attr_window": 7,
                "attribution_setting": {"inactivity_window_hours": 24, "other": 1},
                "unknown": "dropped",
            }
        )
        assert out == {
            "ad_id": "123",
            "touchpoint_ts": NOW,
            "attribution_share": 0.5,
            "attribution_value": 10,
            "attribution_model": "last_click",
            "attribution_method": "srn",
            "decline_reason": "duplicated",
            "attr_window": 7,
            "attribution_setting": {"inactivity_window_hours": 24},
        }

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"attribution_share": 1.5}, "attribution_data.attribution_share"),
            ({"attribution_model": "best"}, "attribution_data.attribution_model"),
            ({"attribution_method": "x"}, "attribution_data.attribution_method"),
            ({"decline_reason": "x"}, "attribution_data.decline_reason"),
            ({"attr_window": "week"}, "attribution_data.attr_window"),
            (
                {"attribution_setting": {"inactivity_window_hours": "a"}},
                "attribution_data.attribution_setting.inactivity_window_hours",
            ),
            ({"visit_time": -5}, "attribution_data.visit_time"),
        ],
    )
    def test_attribution_rejections(self, data: dict[str, Any], field: str) -> None:
        assert reason_of(attribution_data, data) == (R.INVALID_FIELD, field)


class TestDataProcessing:
    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            ((None, None, None, False), (None, None, None)),
            (([], None, None, False), ([], None, None)),
            ((["LDU"], 1, 1000, False), (["LDU"], 1, 1000)),
            ((["LDU", "LDU"], "0", 0, False), (["LDU"], 0, 0)),
            ((["LDU"], 1.0, 1013.0, False), (["LDU"], 1, 1013)),
            ((["LDU"], 0, None, True), (["LDU"], 0, None)),  # state optional with an IP
        ],
    )
    def test_accepted(self, args: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
        assert data_processing(*args) == expected

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (("LDU", 1, 1000, False), (R.INVALID_LDU, "data_processing_options")),
            ((["LDU", "GDPR"], 1, 1000, False), (R.INVALID_LDU, "data_processing_options")),
            ((["ldu"], 1, 1000, False), (R.INVALID_LDU, "data_processing_options")),
            ((["LDU"], 2, 1000, False), (R.INVALID_LDU, "data_processing_options_country")),
            ((["LDU"], "US", 1000, False), (R.INVALID_LDU, "data_processing_options_country")),
            ((["LDU"], 1, 999, False), (R.INVALID_LDU, "data_processing_options_state")),
            ((["LDU"], 1, 1014, False), (R.INVALID_LDU, "data_processing_options_state")),
            ((["LDU"], 1, True, False), (R.INVALID_LDU, "data_processing_options_state")),
            ((None, 1, None, False), (R.INCONSISTENT_LDU, "data_processing_options_country")),
            ((None, None, 1000, False), (R.INCONSISTENT_LDU, "data_processing_options_state")),
            (([], 1, None, False), (R.INCONSISTENT_LDU, "data_processing_options_country")),
            (([], None, 0, False), (R.INCONSISTENT_LDU, "data_processing_options_state")),
            ((["LDU"], None, 1000, True), (R.INCONSISTENT_LDU, "data_processing_options_country")),
            ((["LDU"], 1, None, False), (R.INCONSISTENT_LDU, "data_processing_options_state")),
        ],
    )
    def test_rejected(self, args: tuple[Any, ...], expected: tuple[RejectReason, str]) -> None:
        assert reason_of(data_processing, *args) == expected


class TestCustomerInformation:
    @pytest.mark.parametrize(
        "keys",
        [
            {"ct", "country", "st", "zp", "ge", "client_user_agent"},
            {"ct", "zp"},
            {"client_user_agent"},
            {"db", "client_user_agent"},
            {"db"},
            {"fn", "ge"},
            {"ln", "ge"},
            {"fn"},
        ],
    )
    def test_refused_combinations(self, keys: set[str]) -> None:
        user = {key: ["0" * 64] for key in keys}
        assert reason_of(check_customer_information, user, False) == (
            R.INSUFFICIENT_CUSTOMER_INFORMATION,
            "user_data",
        )

    @pytest.mark.parametrize(
        "keys",
        [
            {"em"},
            {"fbp"},
            {"fn", "ln"},
            {"db", "fn"},
            {"ct", "country", "st", "zp", "ge", "client_user_agent", "client_ip_address"},
            {"fn", "ge", "country"},
        ],
    )
    def test_enough(self, keys: set[str]) -> None:
        check_customer_information(dict.fromkeys(keys, "x"), False)

    def test_nothing(self) -> None:
        assert reason_of(check_customer_information, {}, False)[0] == R.NO_CUSTOMER_INFORMATION

    def test_default_country_alone_is_not_customer_information(self) -> None:
        assert reason_of(check_customer_information, {"country": ["x"]}, True)[0] == (
            R.NO_CUSTOMER_INFORMATION
        )
        assert reason_of(check_customer_information, {"country": ["x"]}, False)[0] == (
            R.INSUFFICIENT_CUSTOMER_INFORMATION
        )
        check_customer_information({"em": ["x"]}, True)  # default country dropped by normalize


def test_module_exports_exist() -> None:
    for name in validate.__all__:
        assert hasattr(validate, name)
