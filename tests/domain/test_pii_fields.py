"""The per-field rules on their own; the full path (NFC, trim, lowercase, hashing) is in
test_normalize.py."""

from __future__ import annotations

import unicodedata

import pytest

from streams.domain.pii_fields import FIELD_RULES


def test_one_rule_per_hashed_field() -> None:
    assert set(FIELD_RULES) == {
        "em",
        "ph",
        "fn",
        "ln",
        "ct",
        "st",
        "zp",
        "country",
        "ge",
        "db",
        "external_id",
    }


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("fn", "e.\u0301mile"),  # removing "." leaves e + combining acute
        ("ln", "o-\u0308ster"),
        ("ct", "sa-\u0303o paulo"),
        ("st", "i-\u0302le de france"),
    ],
)
def test_rules_that_delete_characters_return_nfc(field: str, text: str) -> None:
    out = FIELD_RULES[field](text, None, 2026)
    assert out is not None
    assert unicodedata.is_normalized("NFC", out)
    assert FIELD_RULES[field](out, None, 2026) == out


@pytest.mark.parametrize(
    ("field", "text", "country", "expected"),
    [
        ("st", "texas", "us", "tx"),
        ("st", "texas", "mx", "texas"),
        ("st", "alberta", None, "ab"),
        ("zp", "12345-6789", "us", "12345"),
        ("zp", "12345-6789", "gb", "123456789"),
        ("ph", "(650) 555-1212", "us", "16505551212"),
        ("ph", "(650) 555-1212", None, "6505551212"),
        ("ph", "(650) 555-1212", "aq", "6505551212"),  # no phone metadata: no region
    ],
)
def test_context_country(field: str, text: str, country: str | None, expected: str) -> None:
    assert FIELD_RULES[field](text, country, 2026) == expected


def test_birthdate_uses_the_given_year() -> None:
    assert FIELD_RULES["db"]("2030-01-01", None, 2030) == "20300101"
    assert FIELD_RULES["db"]("2030-01-01", None, 2029) is None
