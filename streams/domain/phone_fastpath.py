"""A fast path for `phonenumbers.parse` + `is_possible_number` on plain digit strings.

`phonenumbers.parse` costs ~15 us a call, most of it re-normalizing characters we have already
reduced to ASCII digits. For the common shapes this module reaches the same answer from the
same `phonenumbers` metadata, step for step as `parse` does: strip a national prefix that has
no transform rule, keep it when the rest would be too short, local-only or of an invalid
length, then check the possible lengths of the calling code's main region. Whenever a step it
does not model would apply (an international prefix, the country code repeated, a prefix
transform rule, a leading zero left, too few or too many digits), it answers `UNDECIDED` and
the caller asks `phonenumbers` itself. tests/domain/test_phone_fastpath.py checks the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import PhoneMetadata

__all__ = ["UNDECIDED", "fast_international", "fast_national"]

UNDECIDED: Final = ""
"""Returned when the fast path cannot decide: ask `phonenumbers.parse` (a result is never empty)."""

_MIN_DIGITS: Final = 3
_MIN_NATIONAL: Final = 2  # phonenumbers' _MIN_LENGTH_FOR_NSN
_MAX_NATIONAL: Final = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN
_MAX_CALLING_CODE_DIGITS: Final = 3

# Results of phonenumbers' `_test_number_length`.
_POSSIBLE: Final = 0
_LOCAL_ONLY: Final = 1
_TOO_SHORT: Final = 2
_TOO_LONG: Final = 3
_INVALID_LENGTH: Final = 4


@dataclass(frozen=True, slots=True)
class _Lengths:
    """Possible lengths of a region's general description (sorted), and the local-only ones."""

    possible: tuple[int, ...]
    local_only: frozenset[int]

    def test(self, length: int) -> int:
        """Mirror of phonenumbers' `_test_number_length` for the general description."""
        if length in self.local_only:
            return _LOCAL_ONLY
        minimum = self.possible[0]
        if minimum == length:
            return _POSSIBLE
        if minimum > length:
            return _TOO_SHORT
        if self.possible[-1] < length:
            return _TOO_LONG
        return _POSSIBLE if length in self.possible[1:] else _INVALID_LENGTH


@dataclass(frozen=True, slots=True)
class _Plan:
    """What parsing needs from one region's metadata."""

    calling_code: str
    international_prefix: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    has_transform_rule: bool
    national_pattern: re.Pattern[str] | None
    lengths: _Lengths  # this region's, for deciding whether to strip a national prefix
    main_lengths: _Lengths  # the calling code's main region's, for `is_possible_number`
    main_possible: frozenset[int]  # lengths `main_lengths.test` finds possible or local-only


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def _lengths(metadata: PhoneMetadata) -> _Lengths | None:
    general = metadata.general_desc
    if general is None or not general.possible_length:
        return None
    return _Lengths(
        possible=tuple(general.possible_length),
        local_only=frozenset(general.possible_length_local_only or ()),
    )


def _plan(metadata: PhoneMetadata, main_lengths: _Lengths) -> _Plan | None:
    lengths = _lengths(metadata)
    if lengths is None:
        return None
    general = metadata.general_desc
    return _Plan(
        calling_code=str(metadata.country_code),
        international_prefix=_compiled(metadata.international_prefix),
        national_prefix=_compiled(metadata.national_prefix_for_parsing),
        has_transform_rule=bool(metadata.national_prefix_transform_rule),
        national_pattern=_compiled(general.national_number_pattern if general else None),
        lengths=lengths,
        main_lengths=main_lengths,
        main_possible=frozenset(
            length
            for length in range(_MAX_NATIONAL + 1)  # `_significant` never exceeds it
            if main_lengths.test(length) in (_POSSIBLE, _LOCAL_ONLY)
        ),
    )


@lru_cache(maxsize=512)
def _calling_code_plan(code: str) -> _Plan | None:
    """Plan of a country calling code's main region, or None (unassigned code, no metadata)."""
    number = int(code)
    if number not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        return None
    main = PhoneMetadata.metadata_for_region_or_calling_code(
        number, phonenumbers.region_code_for_country_code(number)
    )
    main_lengths = None if main is None else _lengths(main)
    return None if main is None or main_lengths is None else _plan(main, main_lengths)


@lru_cache(maxsize=512)
def _region_plan(region: str) -> _Plan | None:
    """Plan of a region: its own prefixes and lengths, its calling code's main lengths."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    main = _calling_code_plan(str(metadata.country_code))
    return None if main is None else _plan(metadata, main.main_lengths)


def fast_international(digits: str) -> str | None:
    """E.164 digits for `+<digits>`, None if not possible, or `UNDECIDED`."""
    if len(digits) <= _MIN_DIGITS or digits[0] == "0":
        return UNDECIDED
    for size in range(1, _MAX_CALLING_CODE_DIGITS + 1):
        plan = _calling_code_plan(digits[:size])
        if plan is not None:
            return _possible(digits[:size], digits[size:], plan)
    return UNDECIDED


def fast_national(digits: str, region: str) -> str | None:
    """E.164 digits for national `digits` of `region`, None if not possible, or `UNDECIDED`."""
    plan = _region_plan(region)
    if (
        plan is None
        or len(digits) < _MIN_DIGITS
        or digits.startswith(plan.calling_code)
        or (plan.international_prefix is not None and plan.international_prefix.match(digits))
    ):
        return UNDECIDED
    return _possible(plan.calling_code, digits, plan)


def _possible(calling_code: str, national: str, plan: _Plan) -> str | None:
    significant = _significant(national, plan)
    if significant is None:
        return UNDECIDED
    if len(significant) in plan.main_possible:  # `main_lengths.test` is possible/local-only
        return calling_code + significant
    return None


def _significant(national: str, plan: _Plan) -> str | None:
    """The national significant number `parse` keeps, or None when this module cannot tell."""
    prefix = plan.national_prefix
    match = prefix.match(national) if prefix is not None else None
    if match is not None:
        if plan.has_transform_rule:
            return None
        rest = national[match.end() :]
        pattern = plan.national_pattern
        keeps_viable = pattern is not None and (
            pattern.fullmatch(national) is not None and pattern.fullmatch(rest) is None
        )
        if not keeps_viable and plan.lengths.test(len(rest)) in (_POSSIBLE, _TOO_LONG):
            national = rest
    if not _MIN_NATIONAL <= len(national) <= _MAX_NATIONAL or national[0] == "0":
        return None
    return national
