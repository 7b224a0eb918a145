from __future__ import annotations

import copy
import gc
import math
import re
import weakref
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.hashing import is_hashed_output
from streams.domain.model import ACTION_SOURCES, SERVER_EVENT_KEYS
from streams.domain.normalize import HASHED_KEYS, Dropped, DropReason
from streams.domain.transform import (
    Accepted,
    DatasetPolicy,
    Rejected,
    RejectReason,
    decode,
    event_dataset_id,
    transform,
)


def decode_and_transform(
    raw: bytes, policy: DatasetPolicy, *, now: float, source_key: bytes | None = None
) -> Accepted | Rejected:
    """What the worker does with a message: `decode`, then `transform` the object."""
    obj = decode(raw)
    if isinstance(obj, Rejected):
        return obj
    return transform(obj, policy, now=now, source_key=source_key)


R = RejectReason
NOW = 1_795_000_000
POLICY = DatasetPolicy("1234567890")
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "native"
SAMPLE_NOW = 1_795_000_000 + 3_600
SAMPLE_POLICY = DatasetPolicy("1234567890123456", default_country="us")
EMAIL = "joe.private@example.com"
EXTINFO = ["i2", "com.example", "1", "1", "18.1", "iPhone", "en_US", "PST", "", "1", "2", "3",
           "4", "5", "6", "America/New_York"]  # fmt: skip
DELETE = object()


def base_event() -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": NOW - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/done",
        "user_data": {"email": EMAIL, "user_agent": "Mozilla/5.0", "ip": "203.0.113.7"},
        "custom_data": {"value": 10, "currency": "USD"},
    }


def changed(changes: dict[str, Any]) -> dict[str, Any]:
    """The base event with dotted paths set (or deleted with DELETE)."""
    event = base_event()
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = event
        for part in parents:
            target = target.setdefault(part, {})
        if value is DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return event


def run(changes: dict[str, Any], policy: DatasetPolicy = POLICY) -> Accepted | Rejected:
    return transform(changed(changes), policy, now=NOW)


def accepted(result: Accepted | Rejected) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def no_nulls(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


APP = {
    "action_source": "app",
    "app_data": {"advertiser_tracking_enabled": True, "extinfo": EXTINFO},
}
LDU_BASE = {"data_processing_options": ["LDU"], "data_processing_options_country": 1}

# Every RejectReason, through the public entry point: (changes, policy, reason, field).
REJECTIONS = [
    pytest.param({"event_name": DELETE}, None, R.MISSING_EVENT_NAME, "event_name", id="no-name"),
    pytest.param({"event_name": "  "}, None, R.MISSING_EVENT_NAME, "event_name", id="blank-name"),
    pytest.param({"event_name": 7}, None, R.INVALID_EVENT_NAME, "event_name", id="name-int"),
    pytest.param(
        {"event_name": ["Lead"]}, None, R.INVALID_EVENT_NAME, "event_name", id="name-list"
    ),
    pytest.param(
        {"event_name": "L" * 257}, None, R.INVALID_EVENT_NAME, "event_name", id="name-257-chars"
    ),
    pytest.param({"event_time": DELETE}, None, R.MISSING_EVENT_TIME, "event_time", id="no-time"),
    pytest.param({"event_time": ""}, None, R.MISSING_EVENT_TIME, "event_time", id="empty-time"),
    pytest.param({"event_time": True}, None, R.INVALID_EVENT_TIME, "event_time", id="time-bool"),
    pytest.param({"event_time": -5}, None, R.INVALID_EVENT_TIME, "event_time", id="time-negative"),
    pytest.param({"event_time": math.nan}, None, R.INVALID_EVENT_TIME, "event_time", id="time-nan"),
    pytest.param({"event_time": math.inf}, None, R.INVALID_EVENT_TIME, "event_time", id="time-inf"),
    pytest.param({"event_time": "soon"}, None, R.INVALID_EVENT_TIME, "event_time", id="time-text"),
    pytest.param(
        {"event_time": (NOW - 60) * 1_000_000},
        None,
        R.INVALID_EVENT_TIME,
        "event_time",
        id="time-microseconds",
    ),
    pytest.param({"event_time": 1.8e22}, None, R.INVALID_EVENT_TIME, "event_time", id="time-huge"),
    pytest.param(
        {"event_time": NOW - 7 * 86_400 - 1}, None, R.EVENT_TIME_TOO_OLD, "event_time", id="old"
    ),
    pytest.param(
        {"event_time": (NOW - 7 * 86_400 - 1) * 1000},
        None,
        R.EVENT_TIME_TOO_OLD,
        "event_time",
        id="old-ms",
    ),
    pytest.param(
        {"event_time": NOW - 62 * 86_400 - 1, "action_source": "physical_store"},
        None,
        R.EVENT_TIME_TOO_OLD,
        "event_time",
        id="old-store",
    ),
    pytest.param({"event_time": NOW + 61}, None, R.EVENT_TIME_IN_FUTURE, "event_time", id="future"),
    pytest.param(
        {"event_time": NOW + 301},
        DatasetPolicy("1", max_future_skew_s=300),
        R.EVENT_TIME_IN_FUTURE,
        "event_time",
        id="future-skew",
    ),
    pytest.param(
        {"action_source": DELETE}, None, R.MISSING_ACTION_SOURCE, "action_source", id="no-source"
    ),
    pytest.param(
        {"action_source": "web"}, None, R.UNKNOWN_ACTION_SOURCE, "action_source", id="bad-source"
    ),
    pytest.param(
        {"action_source": 1}, None, R.UNKNOWN_ACTION_SOURCE, "action_source", id="source-int"
    ),
    pytest.param(
        {"event_source_url": DELETE},
        None,
        R.MISSING_EVENT_SOURCE_URL,
        "event_source_url",
        id="no-url",
    ),
    pytest.param(
        {"event_source_url": " "},
        None,
        R.MISSING_EVENT_SOURCE_URL,
        "event_source_url",
        id="blank-url",
    ),
    pytest.param(
        {"user_data.user_agent": DELETE},
        None,
        R.MISSING_CLIENT_USER_AGENT,
        "user_data.client_user_agent",
        id="no-ua",
    ),
    pytest.param({"action_source": "app"}, None, R.MISSING_APP_DATA, "app_data", id="no-app-data"),
    pytest.param(
        {**APP, "app_data": {"extinfo": EXTINFO}},
        None,
        R.MISSING_ADVERTISER_TRACKING_ENABLED,
        "app_data.advertiser_tracking_enabled",
        id="no-atr",
    ),
    pytest.param(
        {**APP, "app_data": {"advertiser_tracking_enabled": 1}},
        None,
        R.INVALID_EXTINFO,
        "app_data.extinfo",
        id="no-extinfo",
    ),
    pytest.param(
        {**APP, "app_data.extinfo": EXTINFO[:-1]},
        None,
        R.INVALID_EXTINFO,
        "app_data.extinfo",
        id="short-extinfo",
    ),
    pytest.param(
        {**APP, "app_data.extinfo": ["w2", *EXTINFO[1:]]},
        None,
        R.INVALID_EXTINFO,
        "app_data.extinfo",
        id="extinfo-version",
    ),
    pytest.param(
        {"action_source": "business_messaging"},
        None,
        R.MISSING_MESSAGING_CHANNEL,
        "messaging_channel",
        id="no-channel",
    ),
    pytest.param(
        {"action_source": "business_messaging", "messaging_channel": "sms"},
        None,
        R.INVALID_MESSAGING_CHANNEL,
        "messaging_channel",
        id="bad-channel",
    ),
    pytest.param(
        {"action_source": "business_messaging", "messaging_channel": "whatsapp"},
        None,
        R.MISSING_CTWA_CLID,
        "user_data.ctwa_clid",
        id="whatsapp-without-ctwa-clid",
    ),
    pytest.param(
        {"custom_data.value": DELETE}, None, R.MISSING_VALUE, "custom_data.value", id="no-value"
    ),
    pytest.param(
        {"custom_data": DELETE}, None, R.MISSING_VALUE, "custom_data.value", id="no-custom-data"
    ),
    pytest.param(
        {"custom_data.value": "ten"}, None, R.INVALID_VALUE, "custom_data.value", id="value-text"
    ),
    pytest.param(
        {"custom_data.value": math.inf}, None, R.INVALID_VALUE, "custom_data.value", id="value-inf"
    ),
    pytest.param(
        {"event_name": "AddToCart", "custom_data.value": [1]},
        None,
        R.INVALID_VALUE,
        "custom_data.value",
        id="value-list-any-event",
    ),
    pytest.param(
        {"custom_data.currency": DELETE},
        None,
        R.MISSING_CURRENCY,
        "custom_data.currency",
        id="no-currency",
    ),
    pytest.param(
        {"custom_data.currency": "US$"},
        None,
        R.INVALID_CURRENCY,
        "custom_data.currency",
        id="bad-currency",
    ),
    pytest.param(
        {"event_name": "Lead", "custom_data.currency": "ABC"},
        None,
        R.INVALID_CURRENCY,
        "custom_data.currency",
        id="unknown-currency-any-event",
    ),
    pytest.param(
        {"action_source": "email", "user_data": DELETE},
        None,
        R.NO_CUSTOMER_INFORMATION,
        "user_data",
        id="no-user-data",
    ),
    pytest.param(
        {"action_source": "email", "user_data": {"email": "not-an-email", "phone": ""}},
        None,
        R.NO_CUSTOMER_INFORMATION,
        "user_data",
        id="only-invalid-values",
    ),
    pytest.param(
        {"action_source": "email", "user_data": {}},
        DatasetPolicy("1", default_country="us"),
        R.NO_CUSTOMER_INFORMATION,
        "user_data",
        id="only-default-country",
    ),
    pytest.param(
        {"action_source": "chat", "user_data": {"first_name": "Ann", "gender": "f"}},
        None,
        R.INSUFFICIENT_CUSTOMER_INFORMATION,
        "user_data",
        id="fn-ge",
    ),
    pytest.param(
        {"action_source": "chat", "user_data": {"last_name": "Lee", "gender": "male"}},
        None,
        R.INSUFFICIENT_CUSTOMER_INFORMATION,
        "user_data",
        id="ln-ge",
    ),
    pytest.param(
        {"user_data": {"dob": "1990-02-03", "user_agent": "Mozilla/5.0"}},
        None,
        R.INSUFFICIENT_CUSTOMER_INFORMATION,
        "user_data",
        id="db-ua",
    ),
    pytest.param(
        {
            "user_data": {
                "city": "Austin",
                "state": "TX",
                "zip": "73301",
                "country": "us",
                "gender": "f",
                "user_agent": "Mozilla/5.0",
            }
        },
        None,
        R.INSUFFICIENT_CUSTOMER_INFORMATION,
        "user_data",
        id="location-ua",
    ),
    pytest.param(
        {"data_processing_options": ["LDU", "CCPA"]},
        None,
        R.INVALID_LDU,
        "data_processing_options",
        id="ldu-unknown-option",
    ),
    pytest.param(
        {"data_processing_options": "LDU"},
        None,
        R.INVALID_LDU,
        "data_processing_options",
        id="ldu-not-list",
    ),
    pytest.param(
        {**LDU_BASE, "data_processing_options_country": 44},
        None,
        R.INVALID_LDU,
        "data_processing_options_country",
        id="ldu-country",
    ),
    pytest.param(
        {**LDU_BASE, "data_processing_options_state": 1099},
        None,
        R.INVALID_LDU,
        "data_processing_options_state",
        id="ldu-state",
    ),
    pytest.param(
        {"data_processing_options_country": 1},
        None,
        R.INCONSISTENT_LDU,
        "data_processing_options_country",
        id="country-without-ldu",
    ),
    pytest.param(
        {"data_processing_options": [], "data_processing_options_state": 1000},
        None,
        R.INCONSISTENT_LDU,
        "data_processing_options_state",
        id="state-without-ldu",
    ),
    pytest.param(
        {"data_processing_options": ["LDU"]},
        None,
        R.INCONSISTENT_LDU,
        "data_processing_options_country",
        id="ldu-without-country",
    ),
    pytest.param(
        {**LDU_BASE, "user_data.ip": DELETE},
        None,
        R.INCONSISTENT_LDU,
        "data_processing_options_state",
        id="ldu-without-state-or-ip",
    ),
    pytest.param(
        {"user_data": ["a@b.co"]}, None, R.INVALID_FIELD, "user_data", id="user-data-list"
    ),
    pytest.param(
        {"custom_data": "cheap"}, None, R.INVALID_FIELD, "custom_data", id="custom-data-text"
    ),
    pytest.param({"opt_out": "maybe"}, None, R.INVALID_FIELD, "opt_out", id="opt-out"),
    pytest.param({"event_id": {"id": 1}}, None, R.INVALID_FIELD, "event_id", id="event-id-object"),
    pytest.param({"event_id": True}, None, R.INVALID_FIELD, "event_id", id="event-id-bool"),
    pytest.param({"event_id": 10**5000}, None, R.INVALID_FIELD, "event_id", id="event-id-huge"),
    pytest.param({"referrer_url": 5}, None, R.INVALID_FIELD, "referrer_url", id="referrer"),
    pytest.param(
        {"customer_segmentation": "vip"},
        None,
        R.INVALID_FIELD,
        "customer_segmentation",
        id="segmentation",
    ),
    pytest.param(
        {"custom_data.contents": [{"quantity": 1}]},
        None,
        R.INVALID_FIELD,
        "custom_data.contents",
        id="content-without-id",
    ),
    pytest.param(
        {"custom_data.extra": 2**70}, None, R.INVALID_FIELD, "custom_data", id="custom-big-int"
    ),
    pytest.param(
        {"original_event_data": {"event_time": "then"}},
        None,
        R.INVALID_FIELD,
        "original_event_data.event_time",
        id="original-time",
    ),
    pytest.param(
        {"attribution_data": {"attribution_share": 3}},
        None,
        R.INVALID_FIELD,
        "attribution_data.attribution_share",
        id="attribution-share",
    ),
    pytest.param(
        {"app_data": {"advertiser_tracking_enabled": "yes"}},
        None,
        R.INVALID_FIELD,
        "app_data.advertiser_tracking_enabled",
        id="atr-text",
    ),
    pytest.param(
        {"ignored_unknown_key": 2**70},
        None,
        R.INVALID_FIELD,
        None,
        id="no-json-form-for-event-id",
    ),
]


@pytest.mark.parametrize(("changes", "policy", "reason", "field"), REJECTIONS)
def test_rejection_reasons(
    changes: dict[str, Any], policy: DatasetPolicy | None, reason: RejectReason, field: str | None
) -> None:
    result = run(changes, policy or POLICY)
    assert isinstance(result, Rejected), result
    assert (result.reason, result.field) == (reason, field)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", R.INVALID_JSON),
        (b"{", R.INVALID_JSON),
        (b'{"event_name": "\xff"}', R.INVALID_JSON),
        (b"NaN", R.INVALID_JSON),
        (b"[1, 2]", R.NOT_AN_OBJECT),
        (b'"event"', R.NOT_AN_OBJECT),
        (b"null", R.NOT_AN_OBJECT),
    ],
)
def test_decode_rejections(raw: bytes, reason: RejectReason) -> None:
    for result in (decode(raw), decode_and_transform(raw, POLICY, now=NOW)):
        assert result == Rejected(reason, None, None, None, None, ())


def test_every_reason_is_tested() -> None:
    tested = {p.values[2] for p in REJECTIONS} | {R.INVALID_JSON, R.NOT_AN_OBJECT}
    assert tested == set(RejectReason)


def test_non_mapping_input_to_transform() -> None:
    result = transform([1, 2], POLICY, now=NOW)  # type: ignore[arg-type]
    assert isinstance(result, Rejected)
    assert result.reason is R.NOT_AN_OBJECT


# ------------------------------------------------------------------ accepted events


def test_base_event_is_accepted_and_shaped_for_meta() -> None:
    result = accepted(run({}))
    event = result.event
    assert event["event_name"] == result.event_name == "Purchase"
    assert event["event_time"] == result.event_time == NOW - 60
    assert event["event_id"] == result.event_id
    assert event["custom_data"] == {"value": 10, "currency": "USD"}
    user = event["user_data"]
    assert set(user) == {"em", "client_user_agent", "client_ip_address"}
    assert user["client_ip_address"] == "203.0.113.7"
    assert all(is_hashed_output(h) for h in user["em"])
    assert EMAIL not in orjson.dumps(event).decode()
    assert result.dropped == ()


def test_decode_returns_the_object() -> None:
    assert decode(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


def test_unknown_keys_and_dataset_id_are_dropped() -> None:
    event = accepted(
        run({"dataset_id": "42", "fbclid": "Xy", "advanced_measurement_table": "t", "junk": [1]})
    ).event
    assert set(event) <= SERVER_EVENT_KEYS
    assert not {"dataset_id", "fbclid", "advanced_measurement_table", "junk"} & set(event)


def test_nulls_mean_absent() -> None:
    result = accepted(
        run(
            {
                "event_id": None,
                "referrer_url": None,
                "opt_out": None,
                "custom_data.extra": None,
                "user_data.phone": None,
                "app_data": None,
            }
        )
    )
    assert no_nulls(result.event)
    assert "referrer_url" not in result.event
    assert result.event["event_id"].startswith("cs-")


def test_optional_fields_are_kept() -> None:
    event = accepted(
        run(
            {
                "opt_out": 1,
                "referrer_url": " https://shop.example.com/cart ",
                "customer_segmentation": "Existing_Customer_To_Business",
                "messaging_channel": "Instagram",
                "original_event_data": {"event_name": "Lead", "event_time": NOW - 10},
                "attribution_data": {"ad_id": "1", "touchpoint_ts": NOW - 20},
                "custom_data.contents": [{"id": "sku", "quantity": 1, "item_price": 10}],
                "custom_data.loyalty": {"tier": "gold"},
            }
        )
    ).event
    assert event["opt_out"] is True
    assert event["referrer_url"] == "https://shop.example.com/cart"
    assert event["customer_segmentation"] == "existing_customer_to_business"
    assert event["messaging_channel"] == "instagram"
    assert event["original_event_data"] == {"event_name": "Lead", "event_time": NOW - 10}
    assert event["attribution_data"] == {"ad_id": "1", "touchpoint_ts": NOW - 20}
    assert event["custom_data"]["loyalty"] == {"tier": "gold"}


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        (NOW - 60, NOW - 60),
        ((NOW - 60) * 1000 + 999, NOW - 60),
        ("2026-11-18T11:05:40Z", NOW - 60),
        (str(NOW - 60), NOW - 60),
        (float(NOW - 60) + 0.5, NOW - 60),
    ],
)
def test_event_time_forms(event_time: object, expected: int) -> None:
    result = accepted(run({"event_time": event_time}))
    assert result.event["event_time"] == result.event_time == expected


def test_time_window_edges() -> None:
    accepted(run({"event_time": NOW - 7 * 86_400}))
    accepted(run({"event_time": NOW + 60}))
    accepted(run({"event_time": NOW - 62 * 86_400, "action_source": "physical_store"}))
    accepted(run({"event_time": NOW + 300}, DatasetPolicy("1", max_future_skew_s=300)))


# ------------------------------------------------------------------ enrichment


def test_event_id_given_is_kept_and_numbers_become_strings() -> None:
    assert accepted(run({"event_id": " order-1 "})).event_id == "order-1"
    assert accepted(run({"event_id": 12345})).event["event_id"] == "12345"


def test_derived_event_id_is_stable_across_replays() -> None:
    raw = orjson.dumps(changed({}))
    respaced = orjson.dumps(changed({}), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    first = decode_and_transform(raw, POLICY, now=NOW, source_key=b"topic/0/k1")
    again = decode_and_transform(respaced, POLICY, now=NOW + 3_600, source_key=b"topic/0/k1")
    other_key = decode_and_transform(raw, POLICY, now=NOW, source_key=b"topic/0/k2")
    other_content = decode_and_transform(
        orjson.dumps(changed({"custom_data.value": 11})), POLICY, now=NOW, source_key=b"topic/0/k1"
    )
    assert isinstance(first, Accepted)
    assert re.fullmatch(r"cs-[0-9a-f]{32}", first.event_id)
    assert accepted(again).event_id == first.event_id
    assert accepted(other_key).event_id != first.event_id
    assert accepted(other_content).event_id != first.event_id


def test_empty_event_id_is_derived() -> None:
    assert accepted(run({"event_id": "  "})).event_id.startswith("cs-")


@pytest.mark.parametrize(
    "changes",
    [
        {"event_source_url": "https://shop.example.com/p?utm=x&fbclid=IwAR_Case-Kept"},
        {"fbclid": "IwAR_Case-Kept"},
        {"user_data.fbclid": "IwAR_Case-Kept"},
    ],
)
def test_fbc_built_from_fbclid(changes: dict[str, Any]) -> None:
    result = accepted(run(changes))
    assert result.event["user_data"]["fbc"] == f"fb.1.{(NOW - 60) * 1000}.IwAR_Case-Kept"
    assert "fbclid" not in result.event["user_data"]
    assert result.dropped == ()  # fbclid is not reported as an unknown user_data key


def test_existing_fbc_is_never_overwritten() -> None:
    fbc = "fb.1.1794000000000.OriginalClick"
    event = accepted(run({"fbclid": "NewClick", "user_data.fbc": fbc})).event
    assert event["user_data"]["fbc"] == fbc


def test_malformed_fbc_is_replaced_by_the_fbclid_one() -> None:
    result = accepted(run({"fbclid": "NewClick", "user_data.fbc": "garbage"}))
    assert result.event["user_data"]["fbc"] == f"fb.1.{(NOW - 60) * 1000}.NewClick"
    assert Dropped("fbc", DropReason.INVALID) in result.dropped


def test_default_action_source() -> None:
    policy = DatasetPolicy("1", default_action_source="website")
    assert accepted(run({"action_source": DELETE}, policy)).event["action_source"] == "website"
    assert accepted(run({"action_source": "Website"}, policy)).event["action_source"] == "website"
    rejected = run({"action_source": "web"}, policy)
    assert isinstance(rejected, Rejected)
    assert rejected.reason is R.UNKNOWN_ACTION_SOURCE


def test_default_country_is_added_only_when_missing() -> None:
    policy = DatasetPolicy("1", default_country="DE")
    with_default = accepted(run({}, policy)).event["user_data"]["country"]
    own = accepted(run({"user_data.country": "France"}, policy)).event["user_data"]["country"]
    assert with_default != own
    assert with_default == accepted(run({"user_data.country": "de"})).event["user_data"]["country"]


def test_default_country_is_the_phone_region() -> None:
    policy = DatasetPolicy("1", default_country="us")
    national = accepted(run({"user_data.phone": "(650) 555-1212"}, policy)).event
    international = accepted(run({"user_data.phone": "+1 650 555 1212"})).event
    assert national["user_data"]["ph"] == international["user_data"]["ph"]


def test_ldu_defaults_and_event_override() -> None:
    policy = DatasetPolicy("1", ldu=("LDU",), ldu_country=1, ldu_state=1000)
    event = accepted(run({}, policy)).event
    assert event["data_processing_options"] == ["LDU"]
    assert event["data_processing_options_country"] == 1
    assert event["data_processing_options_state"] == 1000
    opted_out = accepted(run({"data_processing_options": []}, policy)).event
    assert opted_out["data_processing_options"] == []
    assert "data_processing_options_country" not in opted_out


def test_ldu_state_is_optional_with_an_ip() -> None:
    event = accepted(run(LDU_BASE)).event
    assert event["data_processing_options_country"] == 1
    assert "data_processing_options_state" not in event


def test_external_id_policy_is_passed_to_normalization() -> None:
    raw = accepted(
        run({"user_data.external_id": "U-1"}, DatasetPolicy("1", external_id_policy="raw"))
    )
    hashed = accepted(run({"user_data.external_id": "U-1"}))
    assert raw.event["user_data"]["external_id"] == ["U-1"]
    assert is_hashed_output(hashed.event["user_data"]["external_id"][0])


def test_dropped_values_are_reported_without_rejecting() -> None:
    result = accepted(run({"user_data.phone": "not a phone", "user_data.favourite": "x"}))
    assert {d.field for d in result.dropped} == {"ph", "unknown_key"}
    assert "ph" not in result.event["user_data"]


# ------------------------------------------------------------------ rejected events


def test_rejected_event_is_hashed_and_complete_except_the_bad_field() -> None:
    result = run({"custom_data.currency": "US$", "referrer_url": "https://r.example/"})
    assert isinstance(result, Rejected)
    assert result.event is not None
    assert result.event_name == "Purchase"
    assert result.event_id == result.event["event_id"]
    assert result.event["referrer_url"] == "https://r.example/"
    assert "custom_data" not in result.event
    assert all(is_hashed_output(h) for h in result.event["user_data"]["em"])
    assert EMAIL not in repr(result)
    orjson.dumps(result.event)


def test_first_broken_rule_wins() -> None:
    result = run({"event_name": DELETE, "event_time": "soon", "custom_data.currency": "US$"})
    assert isinstance(result, Rejected)
    assert result.reason is R.MISSING_EVENT_NAME
    assert result.event_name is None


def test_one_bad_event_does_not_affect_others() -> None:
    events = [changed({}), changed({"event_time": "soon"}), changed({"custom_data.value": 99})]
    alone = [transform(e, POLICY, now=NOW) for e in events]
    together = [transform(e, POLICY, now=NOW) for e in events]
    assert alone == together
    assert [type(r) for r in together] == [Accepted, Rejected, Accepted]
    # results share no mutable state: changing one output leaves later ones intact
    accepted(together[0]).event["user_data"]["em"].append("tampered")
    again = accepted(transform(events[0], POLICY, now=NOW))
    assert "tampered" not in again.event["user_data"]["em"]


def test_input_is_not_modified() -> None:
    event = changed({"fbclid": "Abc", "user_data.fbclid": "Def", "custom_data.extra": {"x": None}})
    before = copy.deepcopy(event)
    transform(event, DatasetPolicy("1", default_country="us", ldu=("LDU",), ldu_country=0), now=NOW)
    assert event == before


# ------------------------------------------------------------------ event_dataset_id


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"dataset_id": "1234567890"}, "1234567890"),
        ({"dataset_id": " 1234567890 "}, "1234567890"),
        ({"dataset_id": 1234567890}, "1234567890"),
        ({}, None),
        ({"dataset_id": None}, None),
        ({"dataset_id": ""}, None),
        ({"dataset_id": "12a4"}, None),
        ({"dataset_id": "../events"}, None),
        ({"dataset_id": "\uff11\uff12\uff13"}, None),  # full-width digits
        ({"dataset_id": 0}, None),
        ({"dataset_id": -5}, None),
        ({"dataset_id": True}, None),
        ({"dataset_id": 1.5}, None),
        ({"dataset_id": "9" * 33}, None),
        ([1], None),
    ],
)
def test_event_dataset_id(obj: Any, expected: str | None) -> None:
    assert event_dataset_id(obj) == expected


# ------------------------------------------------------------------ sample events


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.json"))


def test_one_sample_per_action_source() -> None:
    sources = {orjson.loads(p.read_bytes())["action_source"] for p in sample_files()}
    assert sources == ACTION_SOURCES
    assert {p.stem for p in sample_files()} == ACTION_SOURCES


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.stem)
def test_samples_are_accepted(path: Path) -> None:
    raw = path.read_bytes()
    result = accepted(decode_and_transform(raw, SAMPLE_POLICY, now=SAMPLE_NOW, source_key=b"k"))
    event = result.event
    assert no_nulls(event)
    assert set(event) <= SERVER_EVENT_KEYS
    assert orjson.loads(orjson.dumps(event)) == event
    assert event["action_source"] == path.stem
    for key in HASHED_KEYS & set(event["user_data"]):
        assert all(is_hashed_output(v) for v in event["user_data"][key])
    assert result == decode_and_transform(raw, SAMPLE_POLICY, now=SAMPLE_NOW, source_key=b"k")
    assert event_dataset_id(orjson.loads(raw)) == (
        "1234567890123456" if path.stem == "website" else None
    )


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.stem)
def test_output_fed_back_is_unchanged(path: Path) -> None:
    """Replaying a sent (or dead-lettered) event re-hashes nothing and keeps its event_id."""
    first = accepted(decode_and_transform(path.read_bytes(), SAMPLE_POLICY, now=SAMPLE_NOW))
    again = accepted(transform(first.event, SAMPLE_POLICY, now=SAMPLE_NOW))
    assert again.event == first.event
    assert again.dropped == ()


def test_rejected_event_fixed_and_replayed_keeps_its_id() -> None:
    rejected = run({"custom_data.currency": "US$"})
    assert isinstance(rejected, Rejected)
    assert rejected.event is not None
    fixed = {**rejected.event, "custom_data": {"value": 10, "currency": "USD"}}
    replayed = accepted(transform(fixed, POLICY, now=NOW))
    assert replayed.event_id == rejected.event_id
    assert replayed.event["user_data"] == rejected.event["user_data"]


def test_website_sample_details() -> None:
    result = accepted(
        decode_and_transform((SAMPLES / "website.json").read_bytes(), SAMPLE_POLICY, now=SAMPLE_NOW)
    )
    event = result.event
    assert event["user_data"]["fbc"] == (
        "fb.1.1795000000000.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
    )
    assert event["custom_data"]["value"] == 142.5
    assert event["custom_data"]["currency"] == "USD"
    assert event["custom_data"]["contents"][1]["id"] == "4711"
    assert event["custom_data"]["coupon"] == "WINTER10"
    assert event["opt_out"] is False
    assert event["event_id"].startswith("cs-")


def test_app_sample_details() -> None:
    result = accepted(
        decode_and_transform((SAMPLES / "app.json").read_bytes(), SAMPLE_POLICY, now=SAMPLE_NOW)
    )
    assert result.event_time == 1_795_000_000  # given in milliseconds
    app = result.event["app_data"]
    assert app["advertiser_tracking_enabled"] is True
    assert len(app["extinfo"]) == 16
    assert all(isinstance(x, str) for x in app["extinfo"])
    assert app["extinfo"][9] == "1179"


def test_physical_store_sample_may_be_older_than_seven_days() -> None:
    result = accepted(
        decode_and_transform(
            (SAMPLES / "physical_store.json").read_bytes(), SAMPLE_POLICY, now=SAMPLE_NOW
        )
    )
    assert SAMPLE_NOW - result.event_time > 7 * 86_400
    assert len(result.event["user_data"]["em"]) == 1  # duplicates after normalization removed


# ------------------------------------------------------------------ properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
TOP_KEYS = sorted(SERVER_EVENT_KEYS | {"dataset_id", "fbclid", "unknown"})
USER_KEYS = ["em", "email", "ph", "phone", "fn", "ln", "ge", "db", "ct", "st", "zp",
             "country", "external_id", "ip", "user_agent", "fbc", "fbp", "fbclid", "madid",
             "lead_id", "x"]  # fmt: skip
PATHS = [
    "event_name", "event_time", "action_source", "event_id", "event_source_url", "user_data",
    "user_data.em", "user_data.ph", "user_data.client_user_agent", "custom_data",
    "custom_data.value", "custom_data.currency", "custom_data.contents", "custom_data.free",
    "app_data", "app_data.extinfo", "app_data.advertiser_tracking_enabled",
    "data_processing_options", "data_processing_options_country",
    "data_processing_options_state", "messaging_channel", "original_event_data",
    "attribution_data", "attribution_data.attribution_setting", "opt_out", "fbclid",
]  # fmt: skip
FIELD_PATH = re.compile(r"[a-z_]+(?:\.[a-z_]+)*")


def check_result(result: Accepted | Rejected) -> None:
    assert isinstance(result, Accepted | Rejected)
    event = result.event
    if isinstance(result, Rejected):
        assert isinstance(result.reason, RejectReason)
        if result.field is not None:
            assert FIELD_PATH.fullmatch(result.field)
            assert result.field.split(".")[0] in SERVER_EVENT_KEYS
    if event is not None:
        assert set(event) <= SERVER_EVENT_KEYS
        assert no_nulls(event)
        orjson.dumps(event)
        for key in HASHED_KEYS & set(event.get("user_data", {})) - {"external_id"}:
            assert all(is_hashed_output(v) for v in event["user_data"][key])
    if isinstance(result, Accepted):
        assert result.event["event_id"] == result.event_id


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_value_never_raises(value: Any) -> None:
    result = transform(value, POLICY, now=NOW)
    check_result(result)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(TOP_KEYS), JSON, max_size=10),
    st.dictionaries(st.sampled_from(USER_KEYS), JSON, max_size=8),
)
def test_any_event_shape_never_raises(event: dict[str, Any], user: dict[str, Any]) -> None:
    if "user_data" not in event:
        event["user_data"] = user
    policy = DatasetPolicy("1", default_country="us", ldu=("LDU",), ldu_country=1)
    result = transform(event, policy, now=NOW, source_key=b"k")
    check_result(result)
    assert result == transform(event, policy, now=NOW, source_key=b"k")


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=3),
    st.sampled_from(sorted(ACTION_SOURCES)),
)
def test_any_values_in_fields_of_a_valid_event_never_raise(
    changes: list[tuple[str, Any]], source: str
) -> None:
    event = base_event()
    event["action_source"] = source
    for path, value in changes:
        *parents, last = path.split(".")
        target = event
        for part in parents:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        target[last] = value
    check_result(transform(event, POLICY, now=NOW))


@given(st.binary(max_size=64))
def test_any_bytes_never_raise(raw: bytes) -> None:
    check_result(decode_and_transform(raw, POLICY, now=NOW))


def test_deep_nesting_never_raises() -> None:
    deep: Any = "x"
    for _ in range(2000):
        deep = [deep]
    for changes in ({"custom_data.deep": deep}, {"user_data.em": deep}, {"unknown": deep}):
        check_result(run(changes))
    raw = b'{"event_name":"Lead","custom_data":{"d":' + b"[" * 1000 + b"]" * 1000 + b"}}"
    check_result(decode_and_transform(raw, POLICY, now=NOW))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"event_name": 7}, id="first-check"),
        pytest.param({"custom_data": {"value": "x", "currency": "USD"}}, id="later-check"),
        pytest.param({"user_data": {}}, id="cross-field-rule"),
    ],
)
def test_a_rejection_leaves_no_reference_cycle(changes: dict[str, Any]) -> None:
    """Freed by reference counting alone: a cycle through the caught exception's traceback
    would keep the caller's frame (in the pipeline: its whole window) until a GC pass."""

    class Window:
        pass

    def caller() -> weakref.ref[Window]:
        window = Window()
        assert isinstance(run(changes), Rejected)
        return weakref.ref(window)

    gc.collect()
    gc.disable()
    try:
        assert caller()() is None
    finally:
        gc.enable()
