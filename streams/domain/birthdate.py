"""Dates of birth to `YYYYMMDD` (docs/normalization.md, field `db`).

Only the runs of digits count; any other text (separators, `(mm/dd/yyyy)` hints) is ignored.
Accepted: one run of 8 digits read as `YYYYMMDD`; or three runs with a 4-digit year first
(`YYYY-MM-DD`, any separators) or last (month first, unless the first number is over 12 and the
second is not: then day first). Day and month have 1 or 2 digits. The date must exist and its
year lie in 1900..`current_year`.
"""

from __future__ import annotations

import re
from typing import Final

from streams.domain.civil_time import is_real_date

__all__ = ["MIN_YEAR", "normalize_birthdate"]

MIN_YEAR: Final = 1900
_DIGIT_RUNS: Final = re.compile(r"\d+")
_MONTHS_IN_YEAR: Final = 12
_COMPACT_LENGTH: Final = 8  # YYYYMMDD
_YEAR_DIGITS: Final = 4
_PART_DIGITS: Final = 2  # most digits in a day or a month


def normalize_birthdate(text: str, current_year: int) -> str | None:
    """`YYYYMMDD` for a date of birth, or None when it is not an accepted, real, in-range date."""
    runs = _DIGIT_RUNS.findall(text)
    if len(runs) == 1:
        run = runs[0]
        if len(run) != _COMPACT_LENGTH:
            return None
        return _checked(run[:4], run[4:6], run[6:], current_year)
    if len(runs) != 3:
        return None
    first, second, third = runs
    if len(first) == _YEAR_DIGITS and max(len(second), len(third)) <= _PART_DIGITS:
        return _checked(first, second, third, current_year)
    if len(third) == _YEAR_DIGITS and max(len(first), len(second)) <= _PART_DIGITS:
        if int(first) > _MONTHS_IN_YEAR and int(second) <= _MONTHS_IN_YEAR:
            return _checked(third, second, first, current_year)
        return _checked(third, first, second, current_year)
    return None


def _checked(year: str, month: str, day: str, current_year: int) -> str | None:
    y, m, d = int(year), int(month), int(day)
    if not MIN_YEAR <= y <= current_year or not is_real_date(y, m, d):
        return None
    return f"{y:04d}{m:02d}{d:02d}"
