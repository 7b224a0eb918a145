from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pytest

from streams.domain.enrich import (
    derive_event_id,
    fbc_from_fbclid,
    find_fbclid,
    ldu_inputs,
    user_data_input,
)
from streams.domain.model import DatasetPolicy

EVENT: dict[str, Any] = {
    "event_name": "Lead",
    "event_time": 1_795_000_000,
    "user_data": {"em": "a@b.co"},
}


class TestDeriveEventId:
    def test_shape_and_stability(self) -> None:
        first = derive_event_id(EVENT, b"key-1")
        assert first is not None
        assert re.fullmatch(r"cs-[0-9a-f]{32}", first)
        assert derive_event_id(dict(EVENT), b"key-1") == first

    def test_key_order_does_not_matter(self) -> None:
        reordered = {
            "user_data": {"em": "a@b.co"},
            "event_time": 1_795_000_000,
            "event_name": "Lead",
        }
        assert derive_event_id(reordered, None) == derive_event_id(EVENT, None)

    def test_content_and_source_key_matter(self) -> None:
        base = derive_event_id(EVENT, b"k")
        assert derive_event_id({**EVENT, "event_time": 1_795_000_001}, b"k") != base
        assert derive_event_id(EVENT, b"other") != base
        assert derive_event_id(EVENT, None) != base
        assert derive_event_id(EVENT, None) == derive_event_id(EVENT, b"")

    def test_source_key_is_length_prefixed(self) -> None:
        # moving bytes between key and content must not collide
        assert derive_event_id({"a": 1}, b'{"a":1}') != derive_event_id({"a": 1}, b"")

    def test_non_json_inputs(self) -> None:
        assert derive_event_id({"n": 2**70}, None) is None
        int_keys: Any = {1: "x"}
        assert derive_event_id(int_keys, None) is not None  # non-str keys are allowed
        proxy = MappingProxyType({"event_name": "Lead", "user_data": MappingProxyType({"em": "x"})})
        assert derive_event_id(proxy, None) == derive_event_id(
            {"event_name": "Lead", "user_data": {"em": "x"}}, None
        )


class TestFbclid:
    def test_top_level_then_user_data_then_url(self) -> None:
        url = "https://x.example/p?fbclid=FromUrl"
        assert find_fbclid({"fbclid": "Top", "event_source_url": url}, {"fbclid": "Ud"}) == "Top"
        assert find_fbclid({"event_source_url": url}, {"fbclid": "Ud"}) == "Ud"
        assert find_fbclid({"event_source_url": url}, {}) == "FromUrl"
        assert find_fbclid({"event_source_url": url}, None) == "FromUrl"

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://x.example/p?a=1&fbclid=IwAR2F4-db_P0#section", "IwAR2F4-db_P0"),
            ("https://x.example/p?fbclid=&fbclid=Second", "Second"),
            ("https://x.example/p?fbclid=Ab%2DcD", "Ab-cD"),
            ("https://x.example/p?xfbclid=Nope", None),
            ("https://x.example/p#fbclid=Nope", None),
            ("https://x.example/fbclid=Nope", None),
            ("https://x.example/p?fbclid=has%20space", None),
            ("https://x.example/p?fbclid=a.b", None),
        ],
    )
    def test_from_url(self, url: str, expected: str | None) -> None:
        assert find_fbclid({"event_source_url": url}, None) == expected

    def test_case_is_kept_and_invalid_values_ignored(self) -> None:
        assert find_fbclid({"fbclid": " AbCdEf "}, None) == "AbCdEf"
        assert find_fbclid({"fbclid": 12345}, None) is None
        assert find_fbclid({"fbclid": "a/b"}, None) is None
        assert find_fbclid({"fbclid": ""}, None) is None

    def test_fbc_format(self) -> None:
        assert fbc_from_fbclid("AbC", 1_795_000_000) == "fb.1.1795000000000.AbC"

    @pytest.mark.parametrize("seconds", [0, 999_999_999, 10_000_000_000])
    def test_fbc_needs_a_13_digit_creation_time(self, seconds: int) -> None:
        assert fbc_from_fbclid("AbC", seconds) is None


class TestUserDataInput:
    def test_untouched_when_nothing_to_do(self) -> None:
        user = {"em": "a@b.co", "country": "de"}
        prepared, defaulted = user_data_input(user, "us")
        assert prepared is user
        assert not defaulted

    def test_default_country_added_without_mutating_input(self) -> None:
        user: dict[str, Any] = {"em": "a@b.co", "fbclid": "x", "country": ""}
        prepared, defaulted = user_data_input(user, "us")
        assert defaulted
        assert prepared == {"em": "a@b.co", "country": "us"}
        assert user == {"em": "a@b.co", "fbclid": "x", "country": ""}

    def test_no_default(self) -> None:
        prepared, defaulted = user_data_input({"fbclid": "x"}, None)
        assert prepared == {}
        assert not defaulted


class TestLduInputs:
    def test_no_policy(self) -> None:
        assert ldu_inputs({}, DatasetPolicy("1")) == (None, None, None)

    def test_dataset_defaults(self) -> None:
        policy = DatasetPolicy("1", ldu=("LDU",), ldu_country=1, ldu_state=1000)
        assert ldu_inputs({}, policy) == (["LDU"], 1, 1000)
        event = {"data_processing_options_state": 1005}
        assert ldu_inputs(event, policy) == (["LDU"], 1, 1005)

    def test_event_options_win(self) -> None:
        policy = DatasetPolicy("1", ldu=("LDU",), ldu_country=1, ldu_state=1000)
        assert ldu_inputs({"data_processing_options": []}, policy) == ([], None, None)
        event = {"data_processing_options": ["LDU"], "data_processing_options_country": 0}
        assert ldu_inputs(event, policy) == (["LDU"], 0, 1000)
