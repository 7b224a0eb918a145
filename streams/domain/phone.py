"""Phone numbers to E.164 digits without `+` (docs/normalization.md, field `ph`).

Input starting with `+` or `00` is international. A `+` followed by a 0 (no country code
starts with 0) carries a redundant international call prefix, as some forms write it
(`+00 44 20 7946 0958`, `+011 1 212 555 0100`): the prefix is stripped when what follows is a
valid number (any region's call prefix, shortest first), else the number is dropped.
Otherwise, with a region, the digits are parsed as a national number of that region by
`phonenumbers` (which drops a trunk `0`, a UK `(0)` and the region's own international
prefix, and adds the country code). With no region
(or one `phonenumbers` has no metadata for): digits only, leading zeros stripped, 7-15 digits.
A trailing extension is dropped first. Letters are dropped, never read as vanity digits.
A number that is not a possible number for its country is dropped, and so is one that does not
read back as itself (its national part still starts with a trunk prefix once one is removed).

Speed: common shapes are answered by `streams.domain.phone_fastpath` from the same metadata;
the rest goes to `phonenumbers.parse`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

import phonenumbers

from streams.domain.phone_fastpath import UNDECIDED, fast_international, fast_national

__all__ = ["normalize_phone", "phone_region"]

# One unambiguous whitespace run on each side of the optional ":" keeps the search linear.
_EXTENSION: Final = re.compile(
    r"(?:;\s*ext=|(?:extension|extn|ext|x)\.?|#)\s*(?::\s*)?\d{1,10}\s*#?$"
)
_FIRST_SIGNIFICANT: Final = re.compile(r"[+\d]")
_NON_DIGIT_BYTES: Final = bytes(b for b in range(256) if not ord("0") <= b <= ord("9"))
_E164: Final = phonenumbers.PhoneNumberFormat.E164
_REGIONS: Final[frozenset[str]] = frozenset(phonenumbers.SUPPORTED_REGIONS)


@functools.cache
def _call_prefixes() -> tuple[re.Pattern[str], ...]:
    """Every region's international call prefix (00, 011, 0011, 010, 001, ...), as patterns
    (read on first use: it loads every region's metadata)."""
    patterns = set()
    for region in _REGIONS:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if meta is not None and meta.international_prefix:
            patterns.add(meta.international_prefix)
    return tuple(re.compile(p) for p in sorted(patterns))


_MIN_BARE_DIGITS: Final = 7
_MAX_BARE_DIGITS: Final = 15


def phone_region(country: str | None) -> str | None:
    """The `phonenumbers` region for a lowercase alpha-2 country, or None if it has no metadata."""
    if country is None:
        return None
    region = country.upper()
    return region if region in _REGIONS else None


def normalize_phone(text: str, region: str | None) -> str | None:
    """E.164 digits (no `+`) for a lowercased, trimmed phone value, or None when dropped.

    `region` is an upper-case `phonenumbers` region (see `phone_region`) or None.
    """
    if "x" in text or "#" in text:
        match = _EXTENSION.search(text)
        if match is not None:
            text = text[: match.start()]
    first = _FIRST_SIGNIFICANT.search(text)
    if first is None:
        return None
    digits = _digits(text)
    international = first.group() == "+"
    if not international and digits.startswith("00"):
        international, digits = True, digits[2:]
    if international:
        if not digits:
            return None
        if digits[0] == "0":
            return _read_back(_after_call_prefix(digits))
        return _read_back(_international(digits))
    if region is None:
        bare = digits.lstrip("0")
        return bare if _MIN_BARE_DIGITS <= len(bare) <= _MAX_BARE_DIGITS else None
    if not digits:
        return None
    fast = fast_national(digits, region)
    return _read_back(fast if fast != UNDECIDED else _possible_e164(digits, region))


def _international(digits: str) -> str | None:
    """E.164 digits for `+<digits>` (`digits` not starting with 0), or None."""
    fast = fast_international(digits)
    return fast if fast != UNDECIDED else _possible_e164("+" + digits, None)


def _read_back(e164: str | None) -> str | None:
    """`e164` when `+<e164>` reads as itself, else None.

    Parsing strips one national (trunk) prefix after the country code (`+44 (0) 20 ...`). When
    the national number left still starts with that country's trunk prefix (`+20 00 ...`, a
    Belarusian `+375 0 8 ...`), a second read would strip it again: no number of that country
    is written so, and sending it would break idempotence (docs/normalization.md).
    """
    if e164 is None or _international(e164) == e164:
        return e164
    return None


def _after_call_prefix(digits: str) -> str | None:
    """The valid E.164 number behind a redundant call prefix (shortest prefix first)."""
    rests = sorted(
        {digits[m.end() :] for p in _call_prefixes() if (m := p.match(digits)) and m.end()},
        key=len,
        reverse=True,
    )
    for rest in rests:
        if rest[:1] not in ("", "0"):
            try:
                parsed = phonenumbers.parse("+" + rest, None)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return str(phonenumbers.format_number(parsed, _E164))[1:]
    return None


def _digits(text: str) -> str:
    """The decimal digits of `text` as ASCII digits (other scripts' digits are converted)."""
    if text.isascii():
        return text.encode().translate(None, _NON_DIGIT_BYTES).decode()
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


def _possible_e164(number: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    e164: str = phonenumbers.format_number(parsed, _E164)
    return e164[1:]
