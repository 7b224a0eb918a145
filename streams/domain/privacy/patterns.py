"""E-mail addresses and phone numbers inside free text.

E-mail: `local@domain.tld` with a dotted domain and an alphabetic top-level label of 2-24
letters (Unicode letters allowed); `%40` is read as `@`. `name@2x.png`-style file names
(image and document extensions as the "top-level domain") are not addresses.

Phone numbers are where false positives hurt (an order id, SKU, price or timestamp mistaken for
a phone would be dropped), so a run of digits counts only when all of these hold:

* it is not glued to a word or another number (`ORD-2026-000123`, `SKU1234567`, `1.2.3.4`
  and `2026-11-27T09:15:00` hold no candidate);
* it has 7 to 15 digits, and either starts with `+` / `00` (international) or is written in
  at least two groups separated by spaces, `-`, `.` or parentheses: a single block of digits
  (`4155551212`, a JSON number, a Unix time) is never taken for a phone number;
* `phonenumbers` says it is a valid number: international numbers on their own, national ones
  for the dataset's region (its `default_country`, else `US`);
* a national number is grouped as its region writes it, or in coarser groups
  (`650 555 1212`, `(650) 555-1212`, `650 5551212`), which leaves out dates (`2026-11-27`),
  version strings and ids that happen to be valid digit sequences (`2026-000123`).

Each match comes with its normalized form (lowercased e-mail; E.164 digits without `+`), the
value `user_data` would hash for `em` / `ph`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

import phonenumbers

from streams.domain.memo import Memo
from streams.domain.phone import normalize_phone, phone_region
from streams.domain.privacy.keys import KeyKind

__all__ = ["Found", "PiiFinder", "decoded", "find_pii", "finder", "has_pii"]

_EMAIL: Final = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+([^\W\d_]{2,24})(?![\w-])"
)
_FILE_EXTENSIONS: Final = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "avif", "heic"}
    | {"pdf", "js", "css", "html", "htm", "json", "xml", "txt", "csv", "mp4", "webm", "mov"}
)
_PHONE: Final = re.compile(
    r"(?<![\w+.,/-])(?:\+ ?|\b00)?(?:\(\d{1,5}\) ?|\d)[\d ().-]{4,24}\d(?!\w)(?![.,/-]\w)"
)
_DATE: Final = re.compile(r"\d{4}[-. ]\d{1,2}[-. ]\d{1,2}|\d{1,2}[-. ]\d{1,2}[-. ]\d{2,4}")
# Where a `_PHONE` match can start (its lookbehind, then `+`, `(` or a digit): a cheaper scan
# that rules most texts out (ids like `order-123`, URLs) before `_PHONE` is tried at all.
_PHONE_START: Final = re.compile(r"(?<![\w+.,/-])[+(\d]")
_DIGIT_GROUPS: Final = re.compile(r"\d+")
_MIN_DIGITS: Final = 7
_MAX_DIGITS: Final = 15
_MIN_TEXT: Final = 6  # a@b.cd
_NATIONAL: Final = phonenumbers.PhoneNumberFormat.NATIONAL
_REGIONS: Final = frozenset(phonenumbers.SUPPORTED_REGIONS)
_DEFAULT_REGION: Final = "US"
_NOTHING: Final[tuple[Found, ...]] = ()


@dataclass(frozen=True, slots=True)
class Found:
    """One e-mail address or phone number in a text: where, and its pre-hash form."""

    kind: KeyKind  # EMAIL or PHONE
    start: int
    end: int
    normalized: str


def region_of(country: str | None) -> str:
    """The `phonenumbers` region national numbers are read in (the dataset's, else US)."""
    region = country.upper() if country else _DEFAULT_REGION
    return region if region in _REGIONS else _DEFAULT_REGION


class PiiFinder:
    """`find_pii` for one default country, remembering its answers: the same text always gives
    the same matches, values repeat across events (product names, categories, page URLs) and
    `phonenumbers` is slow (~100 us a parse)."""

    __slots__ = ("_country", "_memo", "_region", "seen")

    def __init__(self, country: str | None, memo_size: int = 8192) -> None:
        self._country = country
        self._region = region_of(country)
        self._memo: Memo[str, tuple[Found, ...]] = Memo(memo_size)
        self.seen = self._memo.current  # read-only view for hot paths: text -> matches

    def find(self, text: str) -> tuple[Found, ...]:
        """Every e-mail address and phone number in `text`, in order, not overlapping.

        Text with `%40` is decoded first: positions refer to `decoded(text)`.
        """
        if len(text) < _MIN_TEXT:
            return _NOTHING
        known = self._memo.current.get(text)
        if known is None:
            known = self._memo.recall(text)
            if known is None:
                known = self._memo.store(text, self._find(decoded(text)))
        return known

    def find_within(self, text: str, budget: int) -> tuple[int, tuple[Found, ...] | None]:
        """`find(text)` unless that would check more than `budget` phone-shaped runs: (runs
        checked, matches), or (runs, None) when over the budget (nothing checked or
        remembered); the runs are found once, for the count and for the checks."""
        if len(text) < _MIN_TEXT:
            return 0, _NOTHING
        known = self._memo.current.get(text)
        if known is not None:
            return 0, known
        plain = decoded(text)
        runs = _phone_runs(plain)
        if len(runs) > budget:
            return len(runs), None
        known = self._memo.recall(text)
        if known is None:
            known = self._memo.store(text, self._find(plain, runs))
        return len(runs), known

    def _find(self, text: str, runs: list[re.Match[str]] | None = None) -> tuple[Found, ...]:
        found = (
            [
                Found(KeyKind.EMAIL, m.start(), m.end(), m.group().lower())
                for m in _EMAIL.finditer(text)
                if m.group(1).lower() not in _FILE_EXTENSIONS
            ]
            if "@" in text
            else []
        )
        for m in _phone_runs(text) if runs is None else runs:
            if any(f.start < m.end() and m.start() < f.end for f in found):
                continue
            candidate = m.group()
            if _is_phone(candidate, self._region):
                normalized = normalize_phone(candidate.lower(), phone_region(self._country))
                digits = normalized or "".join(_DIGIT_GROUPS.findall(candidate))
                found.append(Found(KeyKind.PHONE, m.start(), m.end(), digits))
        if not found:
            return _NOTHING
        found.sort(key=lambda f: f.start)
        return tuple(found)


_FINDERS: dict[str | None, PiiFinder] = {}
_MAX_FINDERS: Final = 64


def finder(country: str | None) -> PiiFinder:
    """The shared finder of a default country (lowercase alpha-2, or None)."""
    found = _FINDERS.get(country)
    if found is None:
        if len(_FINDERS) >= _MAX_FINDERS:
            _FINDERS.clear()
        found = _FINDERS[country] = PiiFinder(country)
    return found


def has_pii(text: str, country: str | None) -> bool:
    """True when `text` holds an e-mail address or a phone number."""
    return bool(finder(country).find(text))


def find_pii(text: str, country: str | None) -> tuple[Found, ...]:
    """Every e-mail address and phone number in `text` (see `PiiFinder.find`); `country` is
    the dataset's default country (lowercase alpha-2) or None."""
    return finder(country).find(text)


def _phone_runs(text: str) -> list[re.Match[str]]:
    """The phone-shaped runs of `text` (each is parsed by `_is_phone`)."""
    return list(_PHONE.finditer(text)) if _PHONE_START.search(text) else []


def decoded(text: str) -> str:
    """`text` with percent-encoding undone when it hides an `@` (`%40`)."""
    return unquote(text) if "%40" in text else text


def _is_phone(candidate: str, region: str) -> bool:
    groups = _DIGIT_GROUPS.findall(candidate)
    digits = "".join(groups)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        return False
    text = candidate.strip()
    if text.startswith(("+", "00")):
        return _parse("+" + (digits[2:] if text.startswith("00") else digits), None) is not None
    if len(groups) < 2 or _DATE.fullmatch(text):
        return False
    number = _parse(text, region)
    if number is None:
        return False
    return _coarser(groups, _DIGIT_GROUPS.findall(phonenumbers.format_number(number, _NATIONAL)))


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _coarser(groups: list[str], written: list[str]) -> bool:
    """True when `groups` are the written groups, some of them joined (same digits)."""
    k = 0
    for group in groups:
        joined = ""
        while k < len(written) and len(joined) < len(group):
            joined += written[k]
            k += 1
        if joined != group:
            return False
    return k == len(written)
