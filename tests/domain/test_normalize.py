from __future__ import annotations

import hashlib
import json
import math
import os
import time
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams.domain import normalize as normalize_module
from streams.domain.hashing import is_hashed_output
from streams.domain.identifiers import INTEGER_IDS
from streams.domain.model import USER_DATA_HASHED_KEYS, USER_DATA_PLAIN_KEYS
from streams.domain.normalize import (
    ALIASES,
    HASHED_KEYS,
    MEMO_LIMIT,
    NOT_A_MAPPING_FIELD,
    UNHASHED_KEYS,
    UNKNOWN_KEY_FIELD,
    Dropped,
    DropReason,
    ExternalIdPolicy,
    clear_memos,
)

YEAR = 2026
THIS_YEAR = time.gmtime().tm_year  # the year a caller with a clock gives (tests may read it)

# The domain takes the current year from its caller; most tests give this year.
hash_user_data = partial(normalize_module.hash_user_data, current_year=THIS_YEAR)
hash_user_data_report = partial(normalize_module.hash_user_data_report, current_year=THIS_YEAR)
normalize_field = partial(normalize_module.normalize_field, current_year=THIS_YEAR)
HEX = "8df99a46f811595e1a1de5016e2445bc202f72b946482032a75aec528a0a350d"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _vectors_file() -> Path:
    """The public vectors of docs/normalization.md (or their file in $CAPI_CONFORMANCE_DIR)."""
    override = os.environ.get("CAPI_CONFORMANCE_DIR")
    if override:
        return Path(override) / "normalization-public.jsonl"
    return (
        Path(__file__).resolve().parents[1] / "data" / "conformance" / "normalization-public.jsonl"
    )


VECTORS: list[dict[str, Any]] = [
    json.loads(line) for line in _vectors_file().read_text("utf-8").splitlines() if line.strip()
]
VECTOR_IDS = [f"{i}-{case['field']}" for i, case in enumerate(VECTORS)]


class TestPublicVectors:
    def test_file_is_loaded(self) -> None:
        assert len(VECTORS) >= 90
        assert {case["field"] for case in VECTORS} >= {"em", "ph", "st", "zp", "country", "db"}

    @pytest.mark.parametrize("case", VECTORS, ids=VECTOR_IDS)
    def test_normalized(self, case: dict[str, Any]) -> None:
        assert normalize_field(case["field"], case["input"], case["country"]) == case["normalized"]

    @pytest.mark.parametrize("via", ["event_country", "default_country"])
    @pytest.mark.parametrize("case", VECTORS, ids=VECTOR_IDS)
    def test_hashed(self, case: dict[str, Any], via: str) -> None:
        field, country = case["field"], case["country"]
        user_data: dict[str, Any] = {field: case["input"]}
        default = None
        if country is not None:
            if via == "event_country":
                user_data["country"] = country
            else:
                default = country
        sent = hash_user_data(user_data, default)
        if case["sha256"] is None:
            assert field not in sent
        else:
            assert sent[field] == [case["sha256"]]
            if case["normalized"] != case["sha256"]:  # not a passthrough
                assert case["sha256"] == sha(case["normalized"])


def norm(field: str, value: str, country: str | None = None) -> str | None:
    return normalize_field(field, value, country, current_year=YEAR)


class TestEveryField:
    @pytest.mark.parametrize("field", sorted(HASHED_KEYS))
    def test_sha256_hex_is_lowercased_and_passed_through(self, field: str) -> None:
        assert norm(field, f"  {HEX.upper()}\n") == HEX
        assert hash_user_data({field: HEX.upper()}) == {field: [HEX]}

    @pytest.mark.parametrize("appendix", ["AQQCAQIB", "AQ", "Bg", "a_-Z09xy"])
    @pytest.mark.parametrize("field", sorted(HASHED_KEYS))
    def test_parameter_builder_value_passes_unchanged(self, field: str, appendix: str) -> None:
        value = f"{HEX}.{appendix}"
        assert norm(field, f" {value} ") == value
        assert hash_user_data({field: value}) == {field: [value]}

    def test_parameter_builder_shape_is_exact(self) -> None:
        # uppercase hex, 3- or 7-char appendix, or a bad character: normalized like any text
        for value in (f"{HEX.upper()}.AQQCAQIB", f"{HEX}.AQQ", f"{HEX}.AQQCAQI", f"{HEX}.AQ=C"):
            assert norm("em", value) is None
            assert norm("fn", value) not in (None, value)

    def test_md5_is_not_taken_as_hashed(self) -> None:
        md5 = "2A6A84E9E44441AFBD75CC19CE28BE37"
        assert norm("ln", md5) == md5.lower()
        assert hash_user_data({"ln": md5}) == {"ln": [sha(md5.lower())]}
        assert norm("em", md5) is None
        assert norm("external_id", md5) == md5.lower()

    def test_hash_check_is_anchored(self) -> None:
        assert norm("fn", "x" + HEX) == "x" + HEX
        assert hash_user_data({"fn": "x" + HEX}) == {"fn": [sha("x" + HEX)]}
        assert norm("ln", HEX + "0") == HEX + "0"

    def test_nfc_trim_lowercase(self) -> None:
        decomposed = "Jose\u0301"
        assert norm("fn", f"\t {decomposed} \n") == "jos\u00e9"
        assert norm("ct", "SÃO PAULO") == "sãopaulo"

    def test_numbers_become_strings(self) -> None:
        assert hash_user_data({"zp": 94025}) == {"zp": [sha("94025")]}
        assert hash_user_data({"zp": 94025.0}) == {"zp": [sha("94025")]}
        assert hash_user_data({"ph": 16505551212}) == {"ph": [sha("16505551212")]}
        assert hash_user_data({"external_id": 12.5}) == {"external_id": [sha("12.5")]}
        assert norm("zp", 94025) == "94025"  # type: ignore[arg-type]

    def test_list_dedupe_keeps_first_seen_order(self) -> None:
        sent = hash_user_data({"em": ["B@x.com", "a@x.com", " b@X.com ", "bad", "a@x.com"]})
        assert sent == {"em": [sha("b@x.com"), sha("a@x.com")]}

    def test_dedupe_across_raw_and_hashed_forms(self) -> None:
        sent = hash_user_data({"em": ["a@x.com", sha("a@x.com").upper()]})
        assert sent == {"em": [sha("a@x.com")]}

    def test_empty_field_is_omitted(self) -> None:
        sent, drops = hash_user_data_report({"em": [], "fn": ["", " "], "ln": ["!!!"], "ct": None})
        assert sent == {}
        assert sorted((d.field, d.reason) for d in drops) == [
            ("ct", DropReason.EMPTY),
            ("fn", DropReason.EMPTY),
            ("fn", DropReason.EMPTY),
            ("ln", DropReason.INVALID),
        ]


class TestEmail:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("A@B.CO", "a@b.co"),
            ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
            ("ÜSER@exämple.com", "üser@exämple.com"),
            ("a b@c.com", None),
            ("a@b .com", None),
            ("a@b@c.com", None),
            ("a@b", None),
            ("a@.com", None),
            ("a@b..com", None),
            ("a..b@c.com", None),
            ("a@b.com.", None),
            ("@b.com", None),
            ("a@", None),
            ("plainaddress", None),
        ],
    )
    def test_rule(self, value: str, expected: str | None) -> None:
        assert norm("em", value) == expected


class TestPhone:
    @pytest.mark.parametrize(
        ("value", "country", "expected"),
        [
            ("+44 (0)20 7946 0958", None, "442079460958"),  # UK (0) vanishes
            ("+44 (0)20 7946 0958", "us", "442079460958"),
            ("020 7946 0958", "gb", "442079460958"),  # trunk 0
            ("030 12345678", "de", "493012345678"),
            ("06 1234 5678", "it", "390612345678"),  # Italian leading zero kept
            ("+39 06 1234 5678", None, "390612345678"),
            ("0044 20 7946 0958", None, "442079460958"),  # 00 prefix
            ("0044 20 7946 0958", "us", "442079460958"),
            ("011 44 20 7946 0958", "us", "442079460958"),  # the region's own IDD
            ("+1 650 555 1212 ext. 123", None, "16505551212"),
            ("650-555-1212 x99", "us", "16505551212"),
            ("+16505551212;ext=5", None, "16505551212"),
            ("+44 20 7946 0958 #12", None, "442079460958"),
            ("(650) 555-1212", "United States", "16505551212"),
            ("16505551212", "us", "16505551212"),
            ("+49 30 12345678", "us", "493012345678"),
            ("٦٥٠٥٥٥١٢١٢", "us", "16505551212"),  # Arabic-Indic digits
            ("(555) 123-4567", None, "5551234567"),  # no region: digits only
            ("0123456789", None, "123456789"),  # leading zeros stripped
            ("000123456789", None, None),  # 00: international, and no country code starts with 0
            ("123456", None, None),  # fewer than 7 digits
            ("1234567890123456", None, None),  # more than 15
            ("1-800-FLOWERS", "us", None),  # letters dropped, never vanity digits
            ("+1 555", None, None),  # not possible for its country
            ("12", "us", None),
            ("+999 1234567", None, None),  # no such country code
            ("+", None, None),
            ("phone", "us", None),
        ],
    )
    def test_rule(self, value: str, country: str | None, expected: str | None) -> None:
        assert norm("ph", value, country) == expected

    def test_region_without_metadata_uses_the_no_region_rule(self) -> None:
        assert norm("ph", "0123 4567", "aq") == "1234567"  # Antarctica: no phone metadata

    def test_event_country_then_default_country(self) -> None:
        expected = [sha("442079460958")]
        assert hash_user_data({"ph": "020 7946 0958", "country": "GB"})["ph"] == expected
        assert hash_user_data({"ph": "020 7946 0958"}, "gb")["ph"] == expected
        assert hash_user_data({"ph": "020 7946 0958", "country": "UK"}, "us")["ph"] == expected
        both = hash_user_data({"ph": "(650) 555-1212", "country": "us"}, "gb")
        assert both["ph"] == [sha("16505551212")]
        # an invalid or hashed event country falls back to the default
        fallback = hash_user_data({"ph": "020 7946 0958", "country": ["narnia", HEX]}, "gb")
        assert fallback["ph"] == expected
        assert fallback["country"] == [HEX]


class TestNames:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("Jean-Luc", "jeanluc"),
            ("O\u2019Brien", "obrien"),
            ("Anne\u2013Marie", "annemarie"),
            ("José", "josé"),
            ("Ætheling", "ætheling"),
            ("李", "李"),
            ("नमस्ते", "नमस्ते"),  # combining marks kept
            ("Smith 3rd", "smith3rd"),
            ("Bob\U0001f600", "bob"),
            ("  !!! ", None),
        ],
    )
    @pytest.mark.parametrize("field", ["fn", "ln", "first_name", "last_name"])
    def test_rule(self, field: str, value: str, expected: str | None) -> None:
        assert norm(field, value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("São Paulo", "sãopaulo"),
            ("Los Angeles 90210", "losangeles"),
            ("Москва", "москва"),
            ("Winston-Salem", "winstonsalem"),
            ("123", None),
        ],
    )
    def test_city(self, value: str, expected: str | None) -> None:
        assert norm("ct", value) == expected


class TestState:
    @pytest.mark.parametrize(
        ("value", "country", "expected"),
        [
            ("California", None, "ca"),
            ("California", "us", "ca"),
            ("California", "United States", "ca"),
            ("California", "ca", "california"),
            ("Ontario", None, "on"),
            ("Ontario", "ca", "on"),
            ("Ontario", "us", "ontario"),
            ("Québec", "ca", "qc"),
            ("Quebec", None, "qc"),
            ("District of Columbia", "us", "dc"),
            ("Puerto Rico", None, "pr"),
            ("N.Y.", "us", "ny"),
            ("New York", "de", "newyork"),
            ("Bavaria", "de", "bavaria"),
            ("Île-de-France", "fr", "îledefrance"),
            ("Tex.", "us", "tex"),
            ("123!!!", "us", None),
        ],
    )
    def test_rule(self, value: str, country: str | None, expected: str | None) -> None:
        assert norm("st", value, country) == expected


class TestZip:
    @pytest.mark.parametrize(
        ("value", "country", "expected"),
        [
            ("94025-1234", "us", "94025"),
            ("94025-1234", None, "94025"),
            ("94025-1234", "narnia", "94025"),  # unknown country
            ("94025-1234", "de", "940251234"),
            (" 9 4 0 2 5 ", "us", "94025"),
            ("123456789", "us", "123456789"),
            ("SW1A 1AA", "gb", "sw1a1aa"),
            ("K1A 0B1", "ca", "k1a0b1"),
            ("75018", "fr", "75018"),
            ("1", None, None),
            ("-", None, None),
            ("a-", "gb", None),
        ],
    )
    def test_rule(self, value: str, country: str | None, expected: str | None) -> None:
        assert norm("zp", value, country) == expected

    @pytest.mark.parametrize("alias", ["zip", "zip_code", "postal_code"])
    def test_aliases(self, alias: str) -> None:
        assert hash_user_data({alias: "94025"}) == {"zp": [sha("94025")]}


class TestCountry:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("DE", "de"),
            ("DEU", "de"),
            ("Germany", "de"),
            ("Federal Republic of Germany", "de"),
            ("South Korea", "kr"),
            ("Korea, Republic of", "kr"),
            ("UK", "gb"),
            ("u.k.", "gb"),
            ("Great Britain", "gb"),
            ("England", "gb"),
            ("GBR", "gb"),
            ("United States of America", "us"),
            ("Côte d'Ivoire", "ci"),
            ("Cote d'Ivoire", "ci"),
            ("Türkiye", "tr"),
            ("xx", None),
            ("Narnia", None),
            ("us1", None),
        ],
    )
    def test_rule(self, value: str, expected: str | None) -> None:
        assert norm("country", value) == expected


class TestGender:
    @pytest.mark.parametrize("value", ["m", "Male", "MAN", "boy", "Mr", "masculine", "he", " M "])
    def test_male(self, value: str) -> None:
        assert norm("ge", value) == "m"

    @pytest.mark.parametrize(
        "value", ["f", "Female", "woman", "girl", "Mrs", "Ms", "miss", "feminine", "SHE"]
    )
    def test_female(self, value: str) -> None:
        assert norm("gender", value) == "f"

    @pytest.mark.parametrize(
        "value", ["x", "other", "unknown", "mf", "males", "-", "Mr.", "f.", "fe male", "lady"]
    )
    def test_other_words_are_dropped(self, value: str) -> None:
        assert norm("ge", value) is None


class TestDateOfBirth:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("19900213", "19900213"),
            ("1990-2-3", "19900203"),
            ("1990/12/31", "19901231"),
            ("12/31/1990", "19901231"),
            ("05-03-1995", "19950503"),  # ambiguous: month first
            ("13-02-1990", "19900213"),  # day first when it cannot be a month
            ("31/12/1990", "19901231"),
            ("Born 2/16/1997", "19970216"),
            ("13/13/1990", None),
            ("02/30/1990", None),
            ("19900231", None),
            ("1899-12-31", None),
            ("1900-01-01", "19000101"),
            ("2/16/97", None),
            ("1990-12", None),
            ("1990-12-31 10:00", None),
            ("16021997", None),  # 8 digits are read as YYYYMMDD only
        ],
    )
    def test_formats(self, value: str, expected: str | None) -> None:
        assert norm("db", value) == expected

    def test_year_range_ends_this_year(self) -> None:
        assert normalize_field("db", "2030-01-01", current_year=2030) == "20300101"
        assert normalize_field("db", "2030-01-01", current_year=2029) is None
        sent = hash_user_data({"dob": "2030-01-01"}, current_year=2030)
        assert sent == {"db": [sha("20300101")]}
        assert hash_user_data({"date_of_birth": "2030-01-01"}, current_year=2029) == {}

    def test_default_year_is_today(self) -> None:
        assert normalize_field("db", "1990-12-31") == "19901231"
        assert normalize_field("db", "9999-12-31") is None


class TestExternalId:
    def test_whitespace_removed_then_hashed(self) -> None:
        assert norm("external_id", " AB C-12 ") == "abc-12"
        assert hash_user_data({"external_id": " AB C-12 "}) == {"external_id": [sha("abc-12")]}

    def test_raw_policy_sends_trimmed_unhashed(self) -> None:
        sent = hash_user_data(
            {"external_id": [" AB C-12 ", "AB C-12", 7]}, external_id_policy="raw"
        )
        assert sent == {"external_id": ["AB C-12", "7"]}

    def test_raw_policy_is_idempotent(self) -> None:
        once = hash_user_data({"external_id": "  U-1 "}, None, "raw")
        assert hash_user_data(once, None, "raw") == once

    def test_unknown_policy_raises_without_value(self) -> None:
        with pytest.raises(ValueError, match="external_id_policy") as info:
            hash_user_data({"external_id": "secret-id-42"}, None, "plain")  # type: ignore[arg-type]
        assert "secret-id-42" not in str(info.value)


class TestNeverHashed:
    def test_sent_as_single_strings(self) -> None:
        sent, drops = hash_user_data_report(
            {"client_user_agent": ["UA/1", "UA/1", "UA/2"], "fbp": "fb.1.1596403881668.123"}
        )
        assert sent == {"client_user_agent": "UA/1", "fbp": "fb.1.1596403881668.123"}
        assert drops == (Dropped("client_user_agent", DropReason.EXTRA_VALUE),)

    def test_fbc_case_is_kept(self) -> None:
        fbc = "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890"
        assert hash_user_data({"fbc": f"  {fbc} "}) == {"fbc": fbc}
        assert norm("fbc", fbc + ".AQQCAQIB") == fbc + ".AQQCAQIB"

    @pytest.mark.parametrize(
        "value", ["fb.1.123.abc", "FB.1.1554763741205.x", "fb.1.1554763741205.", "IwAR2xyz"]
    )
    def test_malformed_cookies_are_dropped(self, value: str) -> None:
        sent, drops = hash_user_data_report({"fbc": value, "fbp": value})
        assert sent == {}
        assert set(drops) == {
            Dropped("fbc", DropReason.INVALID),
            Dropped("fbp", DropReason.INVALID),
        }

    def test_ip_is_validated_and_canonical(self) -> None:
        assert hash_user_data({"ip": " 2001:DB8:0:0:0:0:0:1 "}) == {
            "client_ip_address": "2001:db8::1"
        }
        assert hash_user_data({"ip_address": ["999.1.1.1", "203.0.113.9"]}) == {
            "client_ip_address": "203.0.113.9"
        }
        assert hash_user_data({"client_ip_address": "01.2.3.4"}) == {}

    def test_user_agent_alias_and_case(self) -> None:
        assert hash_user_data({"user_agent": " Mozilla/5.0 (X11) "}) == {
            "client_user_agent": "Mozilla/5.0 (X11)"
        }

    def test_integer_ids_keep_their_type(self) -> None:
        assert {"fb_login_id", "lead_id"} == INTEGER_IDS
        assert hash_user_data({"fb_login_id": 123, "lead_id": "456"}) == {
            "fb_login_id": 123,
            "lead_id": "456",
        }
        assert hash_user_data({"lead_id": 2**70}) == {"lead_id": str(2**70)}
        assert hash_user_data({"page_id": 789}) == {"page_id": "789"}

    def test_integer_and_string_forms_are_one_value(self) -> None:
        sent, drops = hash_user_data_report({"lead_id": [123, "123"]})
        assert sent == {"lead_id": 123}
        assert drops == ()

    @pytest.mark.parametrize("key", sorted(UNHASHED_KEYS - {"client_ip_address", "fbc", "fbp"}))
    def test_opaque_ids_are_trimmed_and_kept(self, key: str) -> None:
        assert hash_user_data({key: " Id-1 "}) == {key: "Id-1"}


class TestKeysAndTypes:
    def test_aliases_resolve_and_merge_with_keys(self) -> None:
        sent = hash_user_data(
            {"email": "a@b.co", "em": ["A@B.CO", "c@d.co"], "phone": "+1 650 555 1212"}
        )
        assert sent == {"em": [sha("a@b.co"), sha("c@d.co")], "ph": [sha("16505551212")]}

    def test_keys_match_the_event_model(self) -> None:
        assert HASHED_KEYS == USER_DATA_HASHED_KEYS
        assert UNHASHED_KEYS == USER_DATA_PLAIN_KEYS

    def test_every_alias_targets_a_capi_key(self) -> None:
        assert set(ALIASES.values()) <= HASHED_KEYS | UNHASHED_KEYS
        assert not set(ALIASES) & (HASHED_KEYS | UNHASHED_KEYS)

    def test_unknown_keys_are_reported_without_the_key(self) -> None:
        user_data: dict[Any, Any] = {"Email": "a@b.co", "secret_key_name": 1, 7: "x"}
        sent, drops = hash_user_data_report(user_data)
        assert sent == {}
        assert drops == (Dropped(UNKNOWN_KEY_FIELD, DropReason.UNKNOWN_KEY),) * 3

    @pytest.mark.parametrize("value", [True, {"a": 1}, [["a@b.co"]], object(), b"a@b.co"])
    def test_bad_types_are_dropped(self, value: object) -> None:
        sent, drops = hash_user_data_report({"em": value, "fbp": value})
        assert sent == {}
        assert {d.reason for d in drops} == {DropReason.BAD_TYPE}

    @pytest.mark.parametrize(
        "value", [math.nan, math.inf, 10**5000, "\ud800@b.co"], ids=["nan", "inf", "huge", "lone"]
    )
    def test_unusable_numbers_and_text_are_invalid(self, value: object) -> None:
        sent, drops = hash_user_data_report({"em": value, "client_user_agent": value})
        assert sent == {}
        assert {d.reason for d in drops} == {DropReason.INVALID}

    def test_not_a_mapping(self) -> None:
        assert hash_user_data_report(None) == (  # type: ignore[arg-type]
            {},
            (Dropped(NOT_A_MAPPING_FIELD, DropReason.BAD_TYPE),),
        )

    def test_normalize_field_unknown_field_or_type(self) -> None:
        assert normalize_field("Email", "a@b.co") is None
        assert normalize_field("em", None) is None  # type: ignore[arg-type]
        assert normalize_field("em", ["a@b.co"]) is None  # type: ignore[arg-type]
        assert normalize_field("email", "A@B.CO") == "a@b.co"

    def test_hash_user_data_is_the_report_without_drops(self) -> None:
        user_data = {"em": ["a@b.co", "bad"], "x": 1, "fbc": "nope", "db": "1990-01-02"}
        assert hash_user_data(user_data) == hash_user_data_report(user_data)[0]

    def test_drop_reasons_are_a_closed_set(self) -> None:
        assert {r.value for r in DropReason} == {
            "unknown_key",
            "bad_type",
            "empty",
            "invalid",
            "extra_value",
        }


class TestNoRawValueInReports:
    PII = {
        "em": "jane.secret@@example.com",
        "ph": "+999 5550101",
        "fn": "!!!",
        "db": "1234-56-78",
        "ge": "secretgender",
        "country": "Secretland",
        "client_ip_address": "300.1.2.3",
        "fbc": "fb.1.short.SecretClick",
        "client_user_agent": ["UA/secret-one", "UA/secret-two"],
        "secret_unknown_key": "x",
        "zp": "Q",
    }

    def test_dropped_reprs_hold_no_value_or_key(self) -> None:
        sent, drops = hash_user_data_report(self.PII)
        assert sent == {"client_user_agent": "UA/secret-one"}
        assert len(drops) == len(self.PII)  # one per key; the second user agent is extra
        rendered = repr(drops) + str(drops) + "".join(f"{d.field}{d.reason}" for d in drops)
        for value in ("jane", "5550101", "!!!", "1234", "secret", "Secret", "300.1", "'Q'"):
            assert value not in rendered
        for drop in drops:
            assert drop.field in HASHED_KEYS | UNHASHED_KEYS | {UNKNOWN_KEY_FIELD}
            assert not hasattr(drop, "value")
            assert not hasattr(drop, "__dict__")


class TestAdversarialInput:
    """Every rule runs in linear time: long crafted values cannot stall the pipeline."""

    N = 100_000
    CASES = (
        "x" + " " * N + "a",  # extension search
        "#" + " :" * N,
        "a@" + "b." * N + "@",  # email
        "1." * N,
        "fb.1.1234567890123." + "a" * N + ".",  # cookie
        "\u0301" * N,  # combining marks only
        "ext" * N,
        "a " * N,
    )

    @pytest.mark.parametrize("field", sorted(HASHED_KEYS | UNHASHED_KEYS))
    def test_long_values_are_fast(self, field: str) -> None:
        started = time.perf_counter()
        for value in self.CASES:
            normalize_field(field, value, "us")
            normalize_field(field, value)
        assert time.perf_counter() - started < 5.0  # quadratic would take minutes


# --- properties ------------------------------------------------------------------------------

ALL_KEYS = sorted(HASHED_KEYS | UNHASHED_KEYS | set(ALIASES))
COUNTRIES = [None, "us", "ca", "gb", "de", "fr", "it", "jp", "br", "in", "au", "aq", "USA", "zz"]
ANY_TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=40)
FIELDISH_TEXT = st.one_of(
    ANY_TEXT,
    st.text(st.sampled_from("0123456789 +-().x#/"), max_size=25),
    st.from_regex(
        r"[a-zA-Z0-9._%+-]{1,10}@[a-zA-Z0-9-]{1,8}(\.[a-zA-Z]{2,4}){1,2}", fullmatch=True
    ),
    st.from_regex(r"(\d{1,4}[/.\- ]){2}\d{1,4}", fullmatch=True),
    st.sampled_from(["California", "Ontario", "New York", "Québec", "SW1A 1AA", "94025-1234"]),
    st.sampled_from(["United Kingdom", "usa", "Deutschland", "Male", "mrs", HEX, f"{HEX}.AQ"]),
    st.from_regex(r"fb\.[0-9]\.[0-9]{13}\.[A-Za-z0-9_-]{1,12}(\.[A-Za-z0-9]{2})?", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-f:]{2,20}", fullmatch=True),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.integers(min_value=10**4300, max_value=10**4400),
    FIELDISH_TEXT,
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
USER_DATA = st.dictionaries(
    st.one_of(st.sampled_from(ALL_KEYS), st.text(max_size=8)), JSONISH, max_size=12
)
PROPERTY_SETTINGS = settings(  # CAPI_PROPERTY_EXAMPLES=20000 for a deep run
    max_examples=int(os.environ.get("CAPI_PROPERTY_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _assert_shape(sent: dict[str, Any], raw_external_id: bool = False) -> None:
    for key, value in sent.items():
        if key in HASHED_KEYS:
            assert isinstance(value, list) and value
            assert len(set(value)) == len(value)
            if not (raw_external_id and key == "external_id"):
                assert all(isinstance(v, str) and is_hashed_output(v) for v in value)
        else:
            assert key in UNHASHED_KEYS
            assert isinstance(value, str) or (key in INTEGER_IDS and type(value) is int)
            assert value != ""


class TestProperties:
    @PROPERTY_SETTINGS
    @given(
        field=st.one_of(st.sampled_from(ALL_KEYS), st.text(max_size=6)),
        value=st.one_of(FIELDISH_TEXT, SCALARS),
        country=st.one_of(st.sampled_from(COUNTRIES), ANY_TEXT),
    )
    def test_normalize_field_never_raises(self, field: str, value: str, country: str) -> None:
        result = normalize_field(field, value, country)
        assert result is None or (isinstance(result, str) and result != "")

    @PROPERTY_SETTINGS
    @given(user_data=USER_DATA, default=st.sampled_from(COUNTRIES))
    def test_hash_user_data_never_raises_and_is_well_shaped(
        self, user_data: dict[str, Any], default: str | None
    ) -> None:
        sent, drops = hash_user_data_report(user_data, default, current_year=YEAR)
        _assert_shape(sent)
        assert all(isinstance(d, Dropped) and isinstance(d.reason, DropReason) for d in drops)

    @PROPERTY_SETTINGS
    @given(user_data=USER_DATA, default=st.sampled_from(COUNTRIES), raw=st.booleans())
    def test_hash_user_data_is_idempotent(
        self, user_data: dict[str, Any], default: str | None, raw: bool
    ) -> None:
        policy: ExternalIdPolicy = "raw" if raw else "hash"
        once = hash_user_data(user_data, default, policy, current_year=YEAR)
        _assert_shape(once, raw_external_id=raw)
        twice, drops = hash_user_data_report(once, default, policy, current_year=YEAR)
        assert twice == once
        assert drops == ()

    @PROPERTY_SETTINGS
    @given(
        field=st.sampled_from(sorted((HASHED_KEYS | UNHASHED_KEYS) - {"ph"})),
        value=FIELDISH_TEXT,
        country=st.sampled_from(COUNTRIES),
    )
    def test_normalize_field_is_idempotent(self, field: str, value: str, country: str) -> None:
        once = norm(field, value, country)
        if once is not None:
            assert norm(field, once, country) == once

    @PROPERTY_SETTINGS
    @given(value=FIELDISH_TEXT, country=st.sampled_from(COUNTRIES))
    @example(value="00200000000000", country="us")  # +20 00...: a trunk 0 left after one
    @example(value="+375 0 8 339 794 076", country="gb")  # Belarus: trunk 8 left after trunk 0
    def test_phone_output_is_a_fixed_point(self, value: str, country: str | None) -> None:
        once = norm("ph", value, country)
        if once is None or is_hashed_output(once):
            return
        assert once.isascii() and once.isdigit() and once[0] != "0"
        if 7 <= len(once) <= 15:
            assert norm("ph", once) == once  # a fixed point of the no-region rule
        if country not in (None, "aq", "zz"):  # a region: every output is E.164
            assert norm("ph", "+" + once) == once


# --- the memoized path ------------------------------------------------------------------------


def _general(
    user_data: dict[Any, Any], default: str | None, policy: ExternalIdPolicy, year: int
) -> tuple[dict[str, Any], tuple[Dropped, ...]]:
    """The general (unmemoized) path: it serves every Mapping that is not a dict."""
    return hash_user_data_report(MappingProxyType(user_data), default, policy, current_year=year)


class TestMemoizedPath:
    """A dict takes the memoized path; its results must be those of the general path."""

    @PROPERTY_SETTINGS
    @given(
        user_data=USER_DATA,
        default=st.sampled_from(COUNTRIES),
        raw=st.booleans(),
        year=st.sampled_from([YEAR, 1990]),
    )
    def test_same_as_general_path_cold_and_warm(
        self, user_data: dict[Any, Any], default: str | None, raw: bool, year: int
    ) -> None:
        policy: ExternalIdPolicy = "raw" if raw else "hash"
        expected = _general(user_data, default, policy, year)
        clear_memos()
        assert hash_user_data_report(user_data, default, policy, current_year=year) == expected
        assert hash_user_data_report(user_data, default, policy, current_year=year) == expected

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("st", "California"),
            ("st", "Ontario"),
            ("state", " Québec "),
            ("zp", "94025-1234"),
            ("zip", "SW1A 1AA"),
            ("ph", "(650) 555-0101"),
            ("phone", "020 7946 0958"),
            ("ph", "+44 20 7946 0958"),
        ],
    )
    def test_context_country_is_part_of_the_memo_key(self, field: str, value: str) -> None:
        clear_memos()
        for country in ("us", "gb", None, "ca", "us", "de", None, "gb"):
            data = {field: value} if country is None else {field: value, "country": country}
            assert hash_user_data_report(data, None) == _general(data, None, "hash", THIS_YEAR)
            assert hash_user_data_report({field: value}, country) == _general(
                {field: value}, country, "hash", THIS_YEAR
            )

    def test_current_year_is_part_of_the_memo_key(self) -> None:
        clear_memos()
        data = {"db": "2020-02-29"}
        assert hash_user_data(data, current_year=2026) == {"db": [sha("20200229")]}
        assert hash_user_data(data, current_year=2019) == {}
        assert hash_user_data(data, current_year=2026) == {"db": [sha("20200229")]}

    def test_shared_keys_are_merged_as_on_the_general_path(self) -> None:
        data = {"email": "A@b.co", "country": "us", "em": ["x", "a@b.co", "c@d.co"], "ph": ""}
        sent, drops = hash_user_data_report(data, None)
        assert (sent, drops) == _general(data, None, "hash", THIS_YEAR)
        assert sent["em"] == [sha("a@b.co"), sha("c@d.co")]
        assert [d.field for d in drops] == ["em", "ph"]

    def test_unknown_keys_are_reported_first(self) -> None:
        data = {"em": "bad", "nickname": "x", "ph": "", 7: "y"}
        sent, drops = hash_user_data_report(data, None)
        assert sent == {}
        assert [(d.field, d.reason) for d in drops] == [
            (UNKNOWN_KEY_FIELD, DropReason.UNKNOWN_KEY),
            (UNKNOWN_KEY_FIELD, DropReason.UNKNOWN_KEY),
            ("em", DropReason.INVALID),
            ("ph", DropReason.EMPTY),
        ]

    def test_long_and_non_string_values_are_not_remembered_but_handled(self) -> None:
        long_email = "a" * 200 + "@example.com"
        data = {"em": long_email, "zp": 94025, "fn": [" Ana ", "ana"], "lead_id": 12}
        expected = _general(data, "us", "hash", THIS_YEAR)
        clear_memos()
        assert hash_user_data_report(data, "us") == expected
        assert hash_user_data_report(data, "us") == expected
        assert expected[0]["em"] == [sha(long_email)]
        assert expected[0]["lead_id"] == 12

    def test_memory_is_bounded(self) -> None:
        clear_memos()
        for i in range(2 * MEMO_LIMIT + 100):
            hash_user_data({"em": f"user{i}@example.com"})
        assert MEMO_LIMIT <= len(normalize_module._FIELD_MEMOS["em"]) <= 2 * MEMO_LIMIT
        # The most recent values are still remembered and still right.
        assert hash_user_data({"em": f"user{2 * MEMO_LIMIT}@example.com"}) == {
            "em": [sha(f"user{2 * MEMO_LIMIT}@example.com")]
        }
