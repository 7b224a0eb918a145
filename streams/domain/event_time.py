"""Read an event time given as Unix seconds, Unix milliseconds or ISO-8601."""

from __future__ import annotations

import math
import re
from typing import Final

from streams.domain.civil_time import parse_iso8601

__all__ = ["MS_THRESHOLD", "parse_event_time"]

# Numbers above this are milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
MS_THRESHOLD: Final = 100_000_000_000

_DECIMAL = re.compile(r"\d+(?:\.\d*)?|\.\d+", re.ASCII)
_MAX_DECIMAL_LEN: Final = 40


def parse_event_time(value: object) -> int | None:
    """Whole Unix seconds (UTC), or None when `value` is not a usable time.

    Accepts a non-negative int or finite float (seconds, or milliseconds above `MS_THRESHOLD`),
    the same as a decimal string, or an ISO-8601 string (no offset means UTC). Fractions are
    truncated. bool, NaN, infinities, negative numbers, values too large even as milliseconds
    (e.g. microseconds) and anything else give None, so a result is always below
    `MS_THRESHOLD`.
    """
    if isinstance(value, int):
        if isinstance(value, bool) or value < 0:
            return None
        if value > MS_THRESHOLD:
            value //= 1000
            if value > MS_THRESHOLD:
                return None
        return value
    if isinstance(value, float):
        return _from_float(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= _MAX_DECIMAL_LEN and _DECIMAL.fullmatch(text):
            if "." not in text:
                return parse_event_time(int(text))
            return _from_float(float(text))
        return _from_iso(text)
    return None


def _from_float(value: float) -> int | None:
    if not math.isfinite(value) or value < 0:
        return None
    if value > MS_THRESHOLD:
        value /= 1000
        if value > MS_THRESHOLD:
            return None
    return int(value)


def _from_iso(text: str) -> int | None:
    if not text or not text[0].isdigit():
        return None
    seconds = parse_iso8601(text)
    if seconds is None:
        return None
    return _from_float(seconds) if seconds < MS_THRESHOLD else None
