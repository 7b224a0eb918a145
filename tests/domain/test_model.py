from __future__ import annotations

import re

import pytest

from streams.domain.model import (
    ACTION_SOURCES,
    CURRENCIES,
    LDU_COUNTRY_CODES,
    LDU_STATE_CODES,
    REFUSED_MATCH_KEY_SETS,
    SERVER_EVENT_KEYS,
    USER_DATA_KEYS,
    ActionSource,
    DatasetPolicy,
)


def test_action_sources_are_metas_nine() -> None:
    expected = {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
    assert expected == ACTION_SOURCES
    assert {a.value for a in ActionSource} == ACTION_SOURCES


def test_server_event_keys_cover_spec_section_2() -> None:
    spec_keys = {
        "event_name",
        "event_time",
        "user_data",
        "action_source",
        "event_source_url",
        "custom_data",
        "opt_out",
        "event_id",
        "data_processing_options",
        "data_processing_options_country",
        "data_processing_options_state",
        "referrer_url",
        "customer_segmentation",
        "app_data",
        "original_event_data",
        "attribution_data",
        "messaging_channel",
    }
    assert spec_keys == SERVER_EVENT_KEYS
    assert "dataset_id" not in SERVER_EVENT_KEYS


def test_user_data_keys_cover_spec_section_3_1() -> None:
    spec_keys = {
        *("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"),
        *("client_ip_address", "client_user_agent", "fbc", "fbp", "subscription_id"),
        *("fb_login_id", "lead_id", "anon_id", "madid", "page_id", "page_scoped_user_id"),
        *("ctwa_clid", "ig_account_id", "ig_sid"),
    }
    assert spec_keys <= USER_DATA_KEYS


def test_currencies_are_iso_4217_codes() -> None:
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in CURRENCIES)
    assert {"USD", "EUR", "GBP", "JPY", "BRL", "XCG", "ZWG", "SLE", "VES"} <= CURRENCIES
    # "no currency", testing, and withdrawn codes are not accepted
    assert not {"XXX", "XTS", "HRK", "VEF", "MRO", "STD", "usd"} & CURRENCIES
    assert 170 <= len(CURRENCIES) <= 185


def test_ldu_codes() -> None:
    assert set(LDU_COUNTRY_CODES) == {0, 1}
    assert set(LDU_STATE_CODES) == {0, *range(1000, 1014)}
    assert LDU_STATE_CODES[1000] == "CA"
    assert LDU_STATE_CODES[1013] == "RI"


def test_refused_match_key_sets() -> None:
    assert set(REFUSED_MATCH_KEY_SETS) == {
        frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
        frozenset({"db", "client_user_agent"}),
        frozenset({"fn", "ge"}),
        frozenset({"ln", "ge"}),
    }


def test_policy_accepts_valid_settings() -> None:
    policy = DatasetPolicy(
        "123",
        default_action_source="website",
        default_country="us",
        ldu=("LDU",),
        ldu_country=1,
        ldu_state=1000,
        external_id_policy="raw",
        max_future_skew_s=0,
    )
    assert policy.ldu == ("LDU",)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dataset_id": ""},
        {"default_action_source": "web"},
        {"default_country": "usa"},
        {"default_country": "1x"},
        {"ldu": ("GDPR",)},
        {"ldu_country": 2},
        {"ldu_state": 999},
        {"external_id_policy": "plain"},
        {"max_future_skew_s": -1},
    ],
)
def test_policy_rejects_invalid_settings(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"dataset_id": "123", **kwargs}
    with pytest.raises(ValueError):
        DatasetPolicy(**args)  # type: ignore[arg-type]
