from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.event_time import MS_THRESHOLD, parse_event_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_795_000_000, 1_795_000_000),
        (0, 0),
        (MS_THRESHOLD, MS_THRESHOLD),  # the threshold itself is still seconds
        (MS_THRESHOLD + 1, (MS_THRESHOLD + 1) // 1000),
        (1_795_000_000_123, 1_795_000_000),  # milliseconds
        (1_795_000_000.9, 1_795_000_000),  # fractions truncated
        (1_795_000_000_999.5, 1_795_000_000),
        ("1795000000", 1_795_000_000),
        (" 1795000000123 ", 1_795_000_000),
        ("1795000000.75", 1_795_000_000),
        ("2026-11-18T11:06:40Z", 1_795_000_000),
        ("2026-11-18T12:06:40+01:00", 1_795_000_000),
        ("2026-11-18T11:06:40.999+00:00", 1_795_000_000),
        ("2026-11-18T11:06:40", 1_795_000_000),  # no offset: UTC
        ("2026-11-18", 1_794_960_000),
    ],
)
def test_accepted_forms(value: object, expected: int) -> None:
    assert parse_event_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        -1,
        -0.5,
        math.nan,
        math.inf,
        -math.inf,
        "",
        "   ",
        "soon",
        "-1795000000",
        "1.7e9",
        "0x1f",
        "١٧٩٥٠٠٠٠٠٠",  # non-ASCII digits are not a timestamp
        "9" * 5000,  # longer than int() may parse
        "2026-13-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9999-12-31T23:59:59Z",  # ISO times are never read as milliseconds
        1_795_000_000_000_000,  # microseconds
        1.8e22,
        10**400,
        [1_795_000_000],
        {"seconds": 1_795_000_000},
        b"1795000000",
    ],
)
def test_rejected_forms(value: object) -> None:
    assert parse_event_time(value) is None


@given(st.integers(min_value=0, max_value=MS_THRESHOLD))
def test_seconds_are_kept(seconds: int) -> None:
    assert parse_event_time(seconds) == seconds
    assert parse_event_time(str(seconds)) == seconds


@given(st.integers(min_value=MS_THRESHOLD + 1, max_value=MS_THRESHOLD * 1000))
def test_milliseconds_become_seconds(ms: int) -> None:
    assert parse_event_time(ms) == ms // 1000
    assert parse_event_time(float(ms)) == int(float(ms) / 1000)


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()))
def test_never_raises_and_is_non_negative(value: object) -> None:
    result = parse_event_time(value)
    assert result is None or (isinstance(result, int) and 0 <= result <= MS_THRESHOLD)
