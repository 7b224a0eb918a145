"""Calendar arithmetic and ISO-8601 reading, as plain integer computation (no clock).

The proleptic Gregorian calendar and UTC, with days counted from 1970-01-01 (day 0), the same
count as Unix time divided by 86,400. The domain reads no clock and imports no `datetime`:
callers pass the current time (Unix seconds) or the current year in.

ISO-8601 times (`parse_iso8601`): a calendar date `YYYY-MM-DD` or `YYYYMMDD`, optionally followed
by `T`, `t` or a space and a time `HH[:MM[:SS[.fraction]]]` (or `HH[MM[SS[.fraction]]]`), then an
optional offset `Z`, `+HH`, `-HH`, `+HH:MM` or `+HHMM` (seconds allowed: `+HH:MM:SS`). No offset
means UTC. A comma may stand for the decimal point; fraction digits past the sixth are ignored.
Week dates (`2026-W48-5`), ordinal dates and hour 24 are not accepted.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "SECONDS_PER_DAY",
    "days_from_civil",
    "is_leap_year",
    "is_real_date",
    "parse_iso8601",
    "year_of_day",
]

SECONDS_PER_DAY: Final = 86_400
_MICROS: Final = 1_000_000
_MIN_YEAR: Final = 1
_MAX_YEAR: Final = 9999
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_FEBRUARY: Final = 2

_DATE: Final = r"(?P<y>\d{4})(?:-(?P<m>\d{2})-(?P<d>\d{2})|(?P<bm>\d{2})(?P<bd>\d{2}))"
_FRACTION: Final = r"(?:[.,](?P<f>\d+))?"
_TIME: Final = (
    r"(?P<H>\d{2})(?:(?P<colon>:)?(?P<M>\d{2})(?:(?(colon):)(?P<S>\d{2})" + _FRACTION + ")?)?"
)
_OFFSET: Final = (
    r"(?P<z>Z)|(?P<sign>[+-])(?P<oh>\d{2})"
    r"(?:(?P<oc>:)?(?P<om>\d{2})(?:(?(oc):)(?P<os>\d{2})(?:[.,](?P<of>\d+))?)?)?"
)
_ISO: Final = re.compile(_DATE + r"(?:[Tt ]" + _TIME + r"(?:" + _OFFSET + r")?)?", re.ASCII)


def is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_real_date(year: int, month: int, day: int) -> bool:
    """True when `year-month-day` exists (year 1..9999 of the Gregorian calendar)."""
    if not _MIN_YEAR <= year <= _MAX_YEAR or not 1 <= month <= len(_DAYS_IN_MONTH):
        return False
    last = _DAYS_IN_MONTH[month - 1] + (month == _FEBRUARY and is_leap_year(year))
    return 1 <= day <= last


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to `year-month-day` (negative before it); the date must be real."""
    shifted = year - (month <= _FEBRUARY)  # years start in March: the leap day comes last
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * (month + (-3 if month > _FEBRUARY else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def year_of_day(day: int) -> int:
    """The year of the day numbered `day` (0 = 1970-01-01)."""
    shifted = day + 719_468
    era = shifted // 146_097
    day_of_era = shifted - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153  # 0 = March ... 11 = February
    return year_of_era + era * 400 + (month_index >= 10)


def parse_iso8601(text: str) -> float | None:
    """Unix seconds for an ISO-8601 date or date-time (see the module doc), else None."""
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    group = match.group
    year = int(group("y"))
    month, day = int(group("m") or group("bm")), int(group("d") or group("bd"))
    hour, minute, second = (int(group(name) or 0) for name in ("H", "M", "S"))
    if not is_real_date(year, month, day) or hour > 23 or minute > 59 or second > 59:
        return None
    offset = _offset_micros(match)
    if offset is None:
        return None
    seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60
    micros = (seconds + second) * _MICROS + _micros(group("f")) - offset
    return micros / _MICROS


def _micros(fraction: str | None) -> int:
    """Microseconds of a decimal fraction of a second (digits past the sixth are dropped)."""
    return int(fraction[:6].ljust(6, "0")) if fraction else 0


def _offset_micros(match: re.Match[str]) -> int | None:
    """The UTC offset in microseconds (0 for `Z` or none), or None when it is out of range."""
    sign = match.group("sign")
    if sign is None:
        return 0
    hours, minutes, seconds = (int(match.group(name) or 0) for name in ("oh", "om", "os"))
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    micros = (hours * 3600 + minutes * 60 + seconds) * _MICROS + _micros(match.group("of"))
    return -micros if sign == "-" else micros
