"""One rule per hashed user_data field (docs/normalization.md): lowercased text in, pre-hash out.

Every rule takes the value already in NFC, trimmed and lowercased, the context country (a
lowercase alpha-2, or None when unknown) and the current year, and returns the string to hash,
or None when the value is dropped. Rules that delete characters return NFC text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Final

from streams.domain.birthdate import normalize_birthdate
from streams.domain.geo import CA_PROVINCES, US_STATES, country_code
from streams.domain.phone import normalize_phone, phone_region

__all__ = ["FIELD_RULES", "FieldRule"]

FieldRule = Callable[[str, str | None, int], str | None]
"""(lowercased text, context country or None, current year) -> pre-hash text or None."""

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_NOT_ALNUM_ASCII: Final = re.compile(r"[^a-z0-9]+")
_NOT_ALPHA_ASCII: Final = re.compile(r"[^a-z]+")
_US_ZIP: Final = re.compile(r"[0-9]{5}(?:-[0-9]{4})?")
_US_ZIP_DIGITS: Final = 5
_MIN_ZIP_LENGTH: Final = 2

_GENDERS: Final[Mapping[str, str]] = {
    **dict.fromkeys(("m", "male", "man", "boy", "mr", "masculine", "he"), "m"),
    **dict.fromkeys(("f", "female", "woman", "girl", "mrs", "ms", "miss", "feminine", "she"), "f"),
}


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _letters_marks_digits(text: str) -> str:
    if text.isascii():
        return _NOT_ALNUM_ASCII.sub("", text)
    kept = "".join(c for c in text if c.isalpha() or c.isdecimal() or _is_mark(c))
    return unicodedata.normalize("NFC", kept)


def _letters_marks(text: str) -> str:
    if text.isascii():
        return _NOT_ALPHA_ASCII.sub("", text)
    kept = "".join(c for c in text if c.isalpha() or _is_mark(c))
    return unicodedata.normalize("NFC", kept)


def _letters_digits(text: str) -> str:
    if text.isascii():
        return _NOT_ALNUM_ASCII.sub("", text)
    kept = "".join(c for c in text if c.isalpha() or c.isdecimal())
    return unicodedata.normalize("NFC", kept)


def email(text: str, _country: str | None, _year: int) -> str | None:
    """`local@domain.tld`: one `@`, no whitespace, dotted domain with no empty label, no `..`."""
    if ".." in text or _EMAIL.fullmatch(text) is None:
        return None
    return text


def phone(text: str, country: str | None, _year: int) -> str | None:
    """E.164 digits without `+` (see `streams.domain.phone`)."""
    return normalize_phone(text, phone_region(country))


def name(text: str, _country: str | None, _year: int) -> str | None:
    """First or last name: Unicode letters, combining marks and decimal digits only."""
    return _letters_marks_digits(text) or None


def city(text: str, _country: str | None, _year: int) -> str | None:
    """Unicode letters and combining marks only."""
    return _letters_marks(text) or None


def state(text: str, country: str | None, _year: int) -> str | None:
    """Letters and marks; a US (country us/unknown) or Canadian (ca/unknown) name -> its code."""
    letters = _letters_marks(text)
    if not letters:
        return None
    if country is None or country == "us":
        code = US_STATES.get(letters)
        if code is not None:
            return code
    if country is None or country == "ca":
        code = CA_PROVINCES.get(letters)
        if code is not None:
            return code
    return letters


def zip_code(text: str, country: str | None, _year: int) -> str | None:
    """No whitespace; US (us/unknown) `NNNNN[-NNNN]` -> 5 digits; else letters and digits only."""
    compact = "".join(text.split())
    if (country is None or country == "us") and _US_ZIP.fullmatch(compact):
        return compact[:_US_ZIP_DIGITS]
    kept = _letters_digits(compact)
    return kept if len(kept) >= _MIN_ZIP_LENGTH else None


def iso_country(text: str, _country: str | None, _year: int) -> str | None:
    """Lowercase ISO alpha-2 from alpha-2, alpha-3, English names or aliases (see geo)."""
    return country_code(text)


def gender(text: str, _country: str | None, _year: int) -> str | None:
    """`m` or `f` for a word of the policy's lists, matched whole (`mr.` is not `mr`)."""
    return _GENDERS.get(text)


def birthdate(text: str, _country: str | None, year: int) -> str | None:
    """`YYYYMMDD` (see `streams.domain.birthdate`)."""
    return normalize_birthdate(text, year)


def external_id(text: str, _country: str | None, _year: int) -> str | None:
    """All whitespace removed."""
    return "".join(text.split())


FIELD_RULES: Final[Mapping[str, FieldRule]] = {
    "em": email,
    "ph": phone,
    "fn": name,
    "ln": name,
    "ct": city,
    "st": state,
    "zp": zip_code,
    "country": iso_country,
    "ge": gender,
    "db": birthdate,
    "external_id": external_id,
}
"""CAPI key of every hashed field -> its rule."""
