from __future__ import annotations

import pytest

from streams.domain.birthdate import MIN_YEAR, normalize_birthdate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19970216", "19970216"),
        ("1997-02-16", "19970216"),
        ("1997 2 6", "19970206"),
        ("1997.02.16", "19970216"),
        ("2/16/1997", "19970216"),
        ("02-16-1997", "19970216"),
        ("16/2/1997", "19970216"),  # first number over 12, second not: day first
        ("5/3/1995", "19950503"),  # ambiguous: month first
        ("12/12/1990", "19901212"),
        ("2/16/1997 (mm/dd/yyyy)", "19970216"),
        ("dob: 1997-02-16", "19970216"),
        ("٢/١٦/١٩٩٧", "19970216"),  # Arabic-Indic digits
    ],
)
def test_accepted(text: str, expected: str) -> None:
    assert normalize_birthdate(text, 2026) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "1997",
        "1997-02",
        "97-02-16",
        "2/16/97",
        "16021997",  # DDMMYYYY is not accepted
        "1997-13-01",
        "1997-02-30",
        "13/13/1997",
        "31/31/1997",
        "2/29/1997",
        "1997-002-16",
        "1997-02-16-01",
        "1997-02-16 10:30",
        "99999999999",
    ],
)
def test_rejected(text: str) -> None:
    assert normalize_birthdate(text, 2026) is None


def test_year_range() -> None:
    assert MIN_YEAR == 1900
    assert normalize_birthdate("1900-01-01", 2026) == "19000101"
    assert normalize_birthdate("1899-12-31", 2026) is None
    assert normalize_birthdate("2026-12-31", 2026) == "20261231"
    assert normalize_birthdate("2027-01-01", 2026) is None
    assert normalize_birthdate("2/29/2024", 2026) == "20240229"
