from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.civil_time import days_from_civil, is_real_date, parse_iso8601, year_of_day

EPOCH = date(1970, 1, 1)
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31))
OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.dates())
def test_day_numbers_agree_with_datetime(day: date) -> None:
    number = (day - EPOCH).days
    assert days_from_civil(day.year, day.month, day.day) == number
    assert year_of_day(number) == day.year


@given(st.integers(1, 9999), st.integers(-1, 14), st.integers(-1, 33))
def test_real_dates_are_those_datetime_accepts(year: int, month: int, day: int) -> None:
    try:
        date(year, month, day)
    except ValueError:
        assert not is_real_date(year, month, day)
    else:
        assert is_real_date(year, month, day)


@given(
    MOMENTS,
    st.none() | OFFSETS,
    st.sampled_from(["T", " "]),
    st.sampled_from(["auto", "hours", "minutes", "seconds", "milliseconds"]),
)
def test_isoformat_round_trip(moment: datetime, zone: timezone | None, sep: str, spec: str) -> None:
    moment = moment.replace(tzinfo=zone)
    text = moment.isoformat(sep=sep, timespec=spec)
    expected = datetime.fromisoformat(text)
    expected = expected if expected.tzinfo else expected.replace(tzinfo=UTC)
    assert parse_iso8601(text) == expected.timestamp()


@given(MOMENTS)
def test_basic_format_and_zulu(moment: datetime) -> None:
    for text in (moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y-%m-%d")):
        expected = datetime.fromisoformat(text.replace("Z", "+00:00"))
        expected = expected if expected.tzinfo else expected.replace(tzinfo=UTC)
        assert parse_iso8601(text) == expected.timestamp()


@given(st.text(alphabet="0123456789-:T Z+.,", max_size=30))
def test_whatever_is_accepted_datetime_reads_the_same(text: str) -> None:
    seconds = parse_iso8601(text)
    if seconds is not None:
        moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        assert seconds == moment.timestamp()


def test_rejected_forms() -> None:
    for text in ("2026-02-30", "2026-11-27T24:00", "2026-11", "2026-11-27T9:15", "x", ""):
        assert parse_iso8601(text) is None
