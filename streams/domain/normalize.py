"""Customer information (user_data) as Meta receives it: normalized, hashed, validated.

The contract is shared/conformance/POLICY.md. Per value: numbers become strings; text is put in
NFC and trimmed; an already hashed value (64 hex, or a Parameter Builder `<hash>.<appendix>`)
is passed through; otherwise it is lowercased, normalized by its field's rule
(`streams.domain.pii_fields`) and SHA-256 hashed (`streams.domain.hashing`). Never-hashed
fields are checked (`streams.domain.identifiers`) and sent as one value. Invalid values are
dropped and reported as `Dropped(field, reason)`, never raised, and never carry the value.

The current year (upper bound of `db`) is a parameter. When it is not given, the public
functions read today's date, once per call and only if a `db` value is present: a documented
exception to "no clock in the domain" so that callers without a clock keep a correct bound.
"""

from __future__ import annotations

import datetime
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from streams.domain.geo import country_code
from streams.domain.hashing import PREHASHED_LENGTHS, prehashed, sha256_hex
from streams.domain.identifiers import IDENTIFIER_CHECKS, INTEGER_IDS
from streams.domain.pii_fields import FIELD_RULES, FieldRule

__all__ = [
    "ALIASES",
    "HASHED_KEYS",
    "NOT_A_MAPPING_FIELD",
    "UNHASHED_KEYS",
    "UNKNOWN_KEY_FIELD",
    "DropReason",
    "Dropped",
    "ExternalIdPolicy",
    "hash_user_data",
    "hash_user_data_report",
    "normalize_field",
]

ExternalIdPolicy = Literal["hash", "raw"]

HASHED_KEYS: Final[frozenset[str]] = frozenset(FIELD_RULES)
"""CAPI keys whose values are sent as lists of SHA-256 hex strings."""

UNHASHED_KEYS: Final[frozenset[str]] = frozenset(IDENTIFIER_CHECKS)
"""CAPI keys whose value is sent as one unhashed string (or int, see `INTEGER_IDS`)."""

ALIASES: Final[Mapping[str, str]] = {
    "email": "em",
    "phone": "ph",
    "first_name": "fn",
    "last_name": "ln",
    "city": "ct",
    "state": "st",
    "zip": "zp",
    "zip_code": "zp",
    "postal_code": "zp",
    "gender": "ge",
    "date_of_birth": "db",
    "dob": "db",
    "ip": "client_ip_address",
    "ip_address": "client_ip_address",
    "user_agent": "client_user_agent",
}
"""Input key -> CAPI key, for the input keys that are not CAPI keys themselves."""

_KEY_OF: Final[Mapping[str, str]] = {
    **{key: key for key in (*FIELD_RULES, *IDENTIFIER_CHECKS)},
    **ALIASES,
}
_MAX_INT_ID: Final = 2**63  # Meta's integer IDs are 64-bit; larger ints are sent as text

UNKNOWN_KEY_FIELD: Final = "unknown_key"
"""`Dropped.field` for a key that is not a CAPI key or alias (the key itself is never echoed)."""
NOT_A_MAPPING_FIELD: Final = "user_data"
"""`Dropped.field` when user_data itself is not a mapping."""


class DropReason(StrEnum):
    """Why a user_data value was dropped. A closed set: safe as a metric label."""

    UNKNOWN_KEY = "unknown_key"
    """The key is neither a CAPI user_data key nor a known alias."""
    BAD_TYPE = "bad_type"
    """Not a string, a number or a list of those (bool, dict, nested list, ...)."""
    EMPTY = "empty"
    """Null, or blank after trimming."""
    INVALID = "invalid"
    """Fails the field's rule: malformed, impossible, out of range, or nothing left."""
    EXTRA_VALUE = "extra_value"
    """A further, different valid value for a field Meta takes as a single value."""


@dataclass(frozen=True, slots=True)
class Dropped:
    """One dropped value: the CAPI key (`"unknown_key"` for unknown keys) and the reason.

    Never holds the value itself, nor an unknown input key.
    """

    field: str
    reason: DropReason


def normalize_field(
    field: str,
    value: str,
    country: str | None = None,
    *,
    current_year: int | None = None,
) -> str | None:
    """Normalized pre-hash string for one value of one user_data field.

    `field` is a CAPI key (em, ph, fn, ln, ct, st, zp, country, ge, db, external_id, or a
    never-hashed key) or one of `ALIASES`. Returns the passed-through value for input that is
    already hashed (hashed fields only), the checked value for never-hashed fields, or None when
    the value is dropped. `country` is the context country (the event's own country or the
    dataset default, in any form `country` accepts) used by ph, st and zp. A number `value` is
    turned into a string first; any other non-string value gives None. Never raises.
    """
    key = _KEY_OF.get(field) if isinstance(field, str) else None
    if key is None:
        return None
    text = _text(value)
    if isinstance(text, DropReason):
        return None
    rule = FIELD_RULES.get(key)
    if rule is None:
        return IDENTIFIER_CHECKS[key](text)
    already = prehashed(text)
    if already is not None:
        return already
    context = _context_country(country)
    year = current_year
    if year is None:
        year = datetime.date.today().year if key == "db" else 0
    return rule(_lower(text), context, year)


def hash_user_data(
    user_data: Mapping[str, Any],
    default_country: str | None = None,
    external_id_policy: ExternalIdPolicy = "hash",
    *,
    current_year: int | None = None,
) -> dict[str, Any]:
    """user_data as sent to Meta: see `hash_user_data_report` (this drops the report)."""
    return hash_user_data_report(
        user_data, default_country, external_id_policy, current_year=current_year
    )[0]


def hash_user_data_report(
    user_data: Mapping[str, Any],
    default_country: str | None = None,
    external_id_policy: ExternalIdPolicy = "hash",
    *,
    current_year: int | None = None,
) -> tuple[dict[str, Any], tuple[Dropped, ...]]:
    """user_data as sent to Meta, and the values dropped on the way (field, reason).

    Aliases are resolved to CAPI keys (values of an alias and its key are merged). Hashed
    fields come out as lists of lowercase hex (or passed-through Parameter Builder) strings,
    deduplicated in first-seen order; never-hashed fields as their first valid value. A field
    with no valid value is omitted. The context country for ph, st and zp is the first valid
    value of the event's own `country`, else `default_country`. With `external_id_policy="raw"`
    external_id is sent trimmed and unhashed (list of strings). Idempotent: the output fed back
    in comes out unchanged. Raises only for an `external_id_policy` other than hash/raw.
    """
    if external_id_policy not in ("hash", "raw"):
        raise ValueError("external_id_policy must be 'hash' or 'raw'")
    if type(user_data) is not dict and not isinstance(user_data, Mapping):
        return {}, (Dropped(NOT_A_MAPPING_FIELD, DropReason.BAD_TYPE),)
    drops: list[Dropped] = []
    grouped = _group_by_key(user_data, drops)
    context = _event_country(grouped.get("country"))
    if context is None:
        context = _context_country(default_country)
    year = current_year
    if year is None and "db" in grouped:
        year = datetime.date.today().year
    result: dict[str, Any] = {}
    for key, raw in grouped.items():
        values = raw if isinstance(raw, (list, tuple)) else (raw,)
        rule = FIELD_RULES.get(key)
        if rule is None:
            single = _single_value(key, values, drops)
            if single is not None:
                result[key] = single
            continue
        if key == "external_id" and external_id_policy == "raw":
            sent = _raw_values(key, values, drops)
        elif len(values) == 1:  # the common case: no list to dedupe
            one = _hashed_value(key, rule, values[0], context, year or 0, drops)
            sent = [] if one is None else [one]
        else:
            sent = []
            for value in values:
                one = _hashed_value(key, rule, value, context, year or 0, drops)
                if one is not None and one not in sent:
                    sent.append(one)
        if sent:
            result[key] = sent
    return result, tuple(drops)


def _group_by_key(user_data: Mapping[Any, Any], drops: list[Dropped]) -> dict[str, object]:
    """Raw value per CAPI key, input order kept; an alias and its key make one merged list."""
    grouped: dict[str, object] = {}
    for raw_key, raw in user_data.items():
        key = _KEY_OF.get(raw_key)  # any hashable key; only CAPI keys and aliases are found
        if key is None:
            drops.append(Dropped(UNKNOWN_KEY_FIELD, DropReason.UNKNOWN_KEY))
        elif key in grouped:
            grouped[key] = [*_as_list(grouped[key]), *_as_list(raw)]
        else:
            grouped[key] = raw
    return grouped


def _as_list(raw: object) -> list[object]:
    return list(raw) if isinstance(raw, (list, tuple)) else [raw]


def _text(value: object) -> str | DropReason:
    """The non-empty NFC, trimmed text of one value, or why it has none."""
    if type(value) is str and value.isascii():  # the common case first
        text = value.strip()
    else:
        coerced = _coerce(value)
        if isinstance(coerced, DropReason):
            return coerced
        prepared = _prepare(coerced)
        if prepared is None:
            return DropReason.INVALID
        text = prepared
    return text if text else DropReason.EMPTY


def _hashed_value(
    key: str,
    rule: FieldRule,
    value: object,
    context: str | None,
    year: int,
    drops: list[Dropped],
) -> str | None:
    """The hash (or passed-through hashed value) to send for one value, or None if dropped."""
    text = _text(value)
    if isinstance(text, DropReason):
        drops.append(Dropped(key, text))
        return None
    if len(text) in PREHASHED_LENGTHS:
        already = prehashed(text)
        if already is not None:
            return already
    normalized = rule(_lower(text), context, year)
    if normalized is None:
        drops.append(Dropped(key, DropReason.INVALID))
        return None
    return sha256_hex(normalized)


def _raw_values(key: str, values: Iterable[object], drops: list[Dropped]) -> list[str]:
    """external_id under the "raw" policy: trimmed text, deduplicated, unhashed."""
    sent: list[str] = []
    for value in values:
        text = _text(value)
        if isinstance(text, DropReason):
            drops.append(Dropped(key, text))
        elif text not in sent:
            sent.append(text)
    return sent


def _single_value(key: str, values: Iterable[object], drops: list[Dropped]) -> str | int | None:
    """The first valid value of a never-hashed field; further different ones are reported."""
    check = IDENTIFIER_CHECKS[key]
    keep_int = key in INTEGER_IDS
    first: str | int | None = None
    for value in values:
        candidate: str | int | None
        if keep_int and type(value) is int and 0 <= value < _MAX_INT_ID:
            candidate = value
        else:
            text = _text(value)
            if isinstance(text, DropReason):
                drops.append(Dropped(key, text))
                continue
            candidate = check(text)
            if candidate is None:
                drops.append(Dropped(key, DropReason.INVALID))
                continue
        if first is None:
            first = candidate
        elif str(candidate) != str(first):
            drops.append(Dropped(key, DropReason.EXTRA_VALUE))
    return first


def _coerce(value: object) -> str | DropReason:
    """The text of a value (numbers turned to strings), or why it cannot be one."""
    if isinstance(value, str):
        return value
    if value is None:
        return DropReason.EMPTY
    if isinstance(value, bool):
        return DropReason.BAD_TYPE
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than int->str conversion allows
            return DropReason.INVALID
    if isinstance(value, float):
        if not math.isfinite(value):
            return DropReason.INVALID
        return str(int(value)) if value.is_integer() else repr(value)
    return DropReason.BAD_TYPE


def _prepare(text: str) -> str | None:
    """NFC and trimmed; None when the text cannot be UTF-8 encoded (lone surrogates)."""
    if text.isascii():
        return text.strip()
    try:
        text.encode()
    except UnicodeEncodeError:
        return None
    return unicodedata.normalize("NFC", text).strip()


def _lower(text: str) -> str:
    """Lowercase, back in NFC (lowercasing can decompose)."""
    lowered = text.lower()
    return lowered if lowered.isascii() else unicodedata.normalize("NFC", lowered)


def _context_country(value: object) -> str | None:
    """Alpha-2 of a context country value, or None when unknown, invalid or hashed."""
    if not isinstance(value, str):
        return None
    text = _prepare(value)
    if not text or prehashed(text) is not None:
        return None
    return country_code(text)


def _event_country(raw: object) -> str | None:
    """The first valid unhashed country of the event, if any."""
    for value in raw if isinstance(raw, (list, tuple)) else (raw,):
        found = _context_country(value)
        if found is not None:
            return found
    return None
