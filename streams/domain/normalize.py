"""Customer information (user_data) as Meta receives it: normalized, hashed, validated.

The contract is docs/normalization.md. Per value: numbers become strings; text is put in
NFC and trimmed; an already hashed value (64 hex, or a Parameter Builder `<hash>.<appendix>`)
is passed through; otherwise it is lowercased, normalized by its field's rule
(`streams.domain.pii_fields`) and SHA-256 hashed (`streams.domain.hashing`). Never-hashed
fields are checked (`streams.domain.identifiers`) and sent as one value. Invalid values are
dropped and reported as `Dropped(field, reason)`, never raised, and never carry the value.

The current year (upper bound of `db`) is a parameter the caller gives: the domain reads no
clock.

Speed: `hash_user_data_report` remembers the outcome of each string value (the hash to send, or
the drop reason) in bounded per-field memos (`streams.domain.memo`, `MEMO_LIMIT`), keyed by the
raw value and whatever else the field's rule reads (the context country for ph, its class for
st and zp, the year for db), so a remembered outcome is always the computed one. Real traffic
repeats values (countries, states, cities, names, a customer's email across events). Dicts whose
keys map to distinct CAPI keys take this path; anything else (aliases merged with their key,
Mappings that are not dicts) takes the general one, with the same results.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, cast

from streams.domain.geo import country_code
from streams.domain.hashing import PREHASHED_LENGTHS, prehashed, sha256_hex
from streams.domain.identifiers import IDENTIFIER_CHECKS, INTEGER_IDS
from streams.domain.memo import Memo
from streams.domain.pii_fields import FIELD_RULES, FieldRule

__all__ = [
    "ALIASES",
    "HASHED_KEYS",
    "MEMO_LIMIT",
    "NOT_A_MAPPING_FIELD",
    "UNHASHED_KEYS",
    "UNKNOWN_KEY_FIELD",
    "DropReason",
    "Dropped",
    "ExternalIdPolicy",
    "clear_memos",
    "hash_user_data",
    "hash_user_data_report",
    "national_phone_without_country",
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
_sha256: Final = hashlib.sha256  # `sha256_hex`, inlined on the memo-miss path
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
    current_year: int,
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
    return rule(_lower(text), context, current_year)


def hash_user_data(
    user_data: Mapping[str, Any],
    default_country: str | None = None,
    external_id_policy: ExternalIdPolicy = "hash",
    *,
    current_year: int,
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
    current_year: int,
) -> tuple[dict[str, Any], tuple[Dropped, ...]]:
    """user_data as sent to Meta, and the values dropped on the way (field, reason).

    Aliases are resolved to CAPI keys (values of an alias and its key are merged). Hashed
    fields come out as lists of lowercase hex (or passed-through Parameter Builder) strings,
    deduplicated in first-seen order; never-hashed fields as their first valid value. A field
    with no valid value is omitted. The context country for ph, st and zp is the first valid
    value of the event's own `country`, else `default_country`. With `external_id_policy="raw"`
    external_id is sent trimmed and unhashed (list of strings). Idempotent: the output fed back
    in comes out unchanged. Raises only for an `external_id_policy` other than hash/raw.

    Speed: per-value results are remembered in bounded memos (`MEMO_LIMIT`), keyed by the raw
    value and whatever else the field's rule reads (context country, current year).
    """
    if external_id_policy not in ("hash", "raw"):
        raise ValueError("external_id_policy must be 'hash' or 'raw'")
    if type(user_data) is not dict and not isinstance(user_data, Mapping):
        return {}, (Dropped(NOT_A_MAPPING_FIELD, DropReason.BAD_TYPE),)
    raw_country = user_data.get("country")
    if type(raw_country) is str:  # the common case; "" is remembered for "no country"
        context = _CONTEXTS.current.get(raw_country)
        if context is None:
            context = _context_country(raw_country)
    else:
        context = _event_country(raw_country)
    if not context:
        context = _context_country(default_country)
    fast = _memoized_report(user_data, context, external_id_policy, current_year)
    if fast is not None:
        return fast
    return _report(user_data, context, external_id_policy, current_year)


_FIRST_PHONE_CHAR: Final = re.compile(r"[+\d]")


def national_phone_without_country(
    user_data: Mapping[str, Any], default_country: str | None = None
) -> bool:
    """Whether a phone number written without a country code (no `+`, no `00`) is hashed with
    no country to place it: neither a valid `country` in the event nor `default_country`. It
    is then hashed as bare national digits, which match only a number Meta holds without its
    country code (Meta asks for the country code always)."""
    if not isinstance(user_data, Mapping):
        return False
    if _event_country(user_data.get("country")) or _context_country(default_country):
        return False
    return any(
        _national_phone(value) for key in ("ph", "phone") for value in _phones(user_data, key)
    )


def _phones(user_data: Mapping[str, Any], key: str) -> list[object]:
    value = user_data.get(key)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _national_phone(value: object) -> bool:
    """A plain phone value that is neither hashed nor written in international form."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return False
    text = _prepare(str(value))
    if not text or prehashed(text) is not None:
        return False
    first = _FIRST_PHONE_CHAR.search(text)
    if first is None or first.group() == "+":
        return False
    return not "".join(c for c in text if c.isdigit()).startswith("00")


def _report(
    user_data: Mapping[str, Any],
    context: str | None,
    external_id_policy: ExternalIdPolicy,
    current_year: int,
) -> tuple[dict[str, Any], tuple[Dropped, ...]]:
    """The general path of `hash_user_data_report` (any input, no memo)."""
    drops: list[Dropped] = []
    grouped = _group_by_key(user_data, drops)
    result: dict[str, Any] = {}
    for key, raw in grouped.items():
        sent = _sent(key, raw, context, current_year, external_id_policy, drops)
        if sent is not None:
            result[key] = sent
    return result, tuple(drops)


def _sent(
    key: str,
    raw: object,
    context: str | None,
    year: int,
    external_id_policy: ExternalIdPolicy,
    drops: list[Dropped],
) -> object:
    """What to send for one CAPI key's raw value(s), or None when nothing is left."""
    values = raw if isinstance(raw, (list, tuple)) else (raw,)
    rule = FIELD_RULES.get(key)
    if rule is None:
        return _single_value(key, values, drops)
    if key == "external_id" and external_id_policy == "raw":
        sent = _raw_values(key, values, drops)
    elif len(values) == 1:  # the common case: no list to dedupe
        one = _hashed_value(key, rule, values[0], context, year, drops)
        sent = [] if one is None else [one]
    else:
        sent = []
        seen: set[str] = set()  # a set: a list test would make long lists quadratic
        for value in values:
            one = _hashed_value(key, rule, value, context, year, drops)
            if one is not None and one not in seen:
                seen.add(one)
                sent.append(one)
    return sent or None


# ---------------------------------------------------------------- memoized path

MEMO_LIMIT: Final = 8_192
"""Entries per generation of each per-value memo (so at most 2 x this per memo)."""
_MEMO_MAX_LENGTH: Final = 128  # longer values are never remembered (they bound memory)
_MAX_PLANNED_KEYS: Final = 32  # larger user_data objects take the general path
_MAX_PLANNED_KEY_LENGTH: Final = 64

Outcome = str | DropReason
"""A value's outcome: the string to send, or why it is dropped (a `DropReason` is a str)."""

# How one input key is handled on the memoized path. The memo key holds the raw string and
# exactly what else the field's rule reads, so a remembered outcome is always the computed one.
_PLAIN: Final = 0  # hashed; the rule reads only the value (memo key: the value)
_CHECKED: Final = 1  # never hashed, with a check worth remembering: IP, cookies (the value)
_OPAQUE: Final = 2  # never hashed, kept as given (not remembered)
_STATE: Final = 3  # st: the rule reads the context country's class (one memo per class)
_ZIP: Final = 4  # zp: reads whether the context country is us/unknown (one memo per class)
_PHONE: Final = 5  # ph: reads the context country (memo key: (value, country))
_EXTERNAL_ID: Final = 6  # external_id: plain, unless the policy sends it raw
_BIRTHDATE: Final = 7  # db: reads the current year (memo key: (value, year))
_GENERAL: Final = 8  # never hashed, an int stays an int (fb_login_id, lead_id): `_sent`
_UNKNOWN: Final = 9  # not a CAPI key or alias

_Step = tuple[str, int, dict[Any, Outcome], Memo[Any, Outcome], FieldRule | None]
"""(CAPI key, kind, memo's current generation, memo, hashed-field rule) for one input key."""


def _memo() -> Memo[Any, Outcome]:
    return Memo(MEMO_LIMIT)


_UNUSED_MEMO: Final[Memo[Any, Outcome]] = Memo(1)
_FIELD_MEMOS: Final[dict[str, Memo[Any, Outcome]]] = {key: _memo() for key in FIELD_RULES}
_CHECK_MEMOS: Final[dict[str, Memo[Any, Outcome]]] = {"client_ip_address": _memo()}
_CHECK_MEMOS["fbc"] = _CHECK_MEMOS["fbp"] = _memo()  # one check, one memo
# st and zp: one memo per class of context country, so the memo key is the value alone.
_STATE_MEMOS: Final[dict[str | None, Memo[Any, Outcome]]] = {
    None: _FIELD_MEMOS["st"],
    "us": _memo(),
    "ca": _memo(),
}
_OTHER_STATE_MEMO: Final = _memo()
_ZIP_MEMOS: Final[dict[str | None, Memo[Any, Outcome]]] = {None: _FIELD_MEMOS["zp"]}
_ZIP_MEMOS["us"] = _ZIP_MEMOS[None]  # the US rule applies to unknown countries too
_OTHER_ZIP_MEMO: Final = _memo()
_KINDS: Final[Mapping[str, int]] = {
    "st": _STATE,
    "zp": _ZIP,
    "ph": _PHONE,
    "db": _BIRTHDATE,
    "external_id": _EXTERNAL_ID,
}


def _step(raw_key: object) -> _Step:
    key = _KEY_OF.get(raw_key)  # type: ignore[call-overload]
    if key is None:
        return (UNKNOWN_KEY_FIELD, _UNKNOWN, {}, _UNUSED_MEMO, None)
    rule = FIELD_RULES.get(key)
    if rule is not None:
        memo = _FIELD_MEMOS[key]
        return (key, _KINDS.get(key, _PLAIN), memo.current, memo, rule)
    memo = _CHECK_MEMOS.get(key, _UNUSED_MEMO)
    if memo is not _UNUSED_MEMO:
        return (key, _CHECKED, memo.current, memo, None)
    return (key, _GENERAL if key in INTEGER_IDS else _OPAQUE, {}, memo, None)


_PLANS: Final[Memo[tuple[object, ...], tuple[_Step, ...]]] = Memo(512)
"""Layout of a user_data object (its keys, in order) -> the step of each key."""


def _plan(layout: tuple[object, ...]) -> tuple[_Step, ...] | None:
    """The steps for a layout; None when two keys share a CAPI key (values are merged)."""
    steps = tuple(_step(raw_key) for raw_key in layout)
    known = [step[0] for step in steps if step[1] != _UNKNOWN]
    if len(set(known)) != len(known):
        return None
    if all(type(k) is str and len(k) <= _MAX_PLANNED_KEY_LENGTH for k in layout):
        _PLANS.store(layout, steps)
    return steps


def clear_memos() -> None:
    """Forget every remembered per-value result and layout (tests, or to release memory)."""
    memos: list[Memo[Any, Any]] = [
        *_FIELD_MEMOS.values(),
        *_CHECK_MEMOS.values(),
        *_STATE_MEMOS.values(),
        *_ZIP_MEMOS.values(),
        _OTHER_STATE_MEMO,
        _OTHER_ZIP_MEMO,
        _PLANS,
        _CONTEXTS,
    ]
    for memo in memos:
        memo.clear()


def _memoized_report(
    user_data: Mapping[str, Any],
    context: str | None,
    external_id_policy: ExternalIdPolicy,
    current_year: int,
) -> tuple[dict[str, Any], tuple[Dropped, ...]] | None:
    """`_report` with per-value outcomes from the memos, for a dict whose keys map to distinct
    CAPI keys; None for any other input.

    Steps follow the input order, and values that are not short strings take the general
    per-key path (`_sent`), so the output and the order of the drops are those of `_report`.
    """
    if type(user_data) is not dict or len(user_data) > _MAX_PLANNED_KEYS:
        return None
    layout = tuple(user_data)
    plan = _PLANS.current.get(layout)
    if plan is None:
        plan = _PLANS.recall(layout) or _plan(layout)
        if plan is None:
            return None
    result: dict[str, Any] = {}
    drops: list[Dropped] = []
    unknown = 0
    year = current_year
    for (key, kind, current, memo, rule), raw in zip(plan, user_data.values(), strict=True):
        if type(raw) is not str or len(raw) > _MEMO_MAX_LENGTH:
            if kind == _UNKNOWN:
                unknown += 1
                continue
            sent = _sent(key, raw, context, year, external_id_policy, drops)
            if sent is not None:
                result[key] = sent
            continue
        # A remembered outcome is truthy: a non-empty string or a DropReason.
        if kind == _PLAIN:
            outcome = current.get(raw) or _remember(memo, raw, key, rule, raw, None, 0)
        elif kind == _CHECKED:
            outcome = current.get(raw) or _remember(memo, raw, key, None, raw, None, 0)
            if type(outcome) is str:
                result[key] = outcome
            else:
                drops.append(Dropped(key, cast(DropReason, outcome)))
            continue
        elif kind == _OPAQUE:
            outcome = raw.strip() if raw.isascii() else _text(raw)
            if not outcome:
                drops.append(Dropped(key, DropReason.EMPTY))
            elif type(outcome) is str:
                result[key] = outcome
            else:
                drops.append(Dropped(key, cast(DropReason, outcome)))
            continue
        elif kind == _STATE:
            memo = _STATE_MEMOS.get(context, _OTHER_STATE_MEMO)
            outcome = memo.current.get(raw) or _remember(memo, raw, key, rule, raw, context, 0)
        elif kind == _ZIP:
            memo = _ZIP_MEMOS.get(context, _OTHER_ZIP_MEMO)
            outcome = memo.current.get(raw) or _remember(memo, raw, key, rule, raw, context, 0)
        elif kind == _PHONE:
            pair = (raw, context)
            outcome = current.get(pair) or _remember(memo, pair, key, rule, raw, context, 0)
        elif kind == _EXTERNAL_ID:
            if external_id_policy == "raw":
                texts = _raw_values(key, (raw,), drops)
                if texts:
                    result[key] = texts
                continue
            outcome = current.get(raw) or _remember(memo, raw, key, rule, raw, None, 0)
        elif kind == _BIRTHDATE:
            dated = (raw, year)
            outcome = current.get(dated) or _remember(memo, dated, key, rule, raw, None, year)
        elif kind == _UNKNOWN:
            unknown += 1
            continue
        else:
            sent = _sent(key, raw, context, year, external_id_policy, drops)
            if sent is not None:
                result[key] = sent
            continue
        if type(outcome) is str:
            result[key] = [outcome]
        else:
            drops.append(Dropped(key, cast(DropReason, outcome)))
    if unknown:
        drops[:0] = [Dropped(UNKNOWN_KEY_FIELD, DropReason.UNKNOWN_KEY)] * unknown
    return result, tuple(drops)


def _remember(
    memo: Memo[Any, Outcome],
    memo_key: object,
    key: str,
    rule: FieldRule | None,
    value: str,
    context: str | None,
    year: int,
) -> Outcome:
    """The outcome of one string value after a miss in `memo.current`: from the previous
    generation, else computed (a hashed field when `rule` is given); then stored.

    Rules that read neither the context country nor the year are given None and 0: their memo
    key is the value alone.
    """
    outcome = memo.previous.get(memo_key)
    if outcome is not None:
        return memo.store(memo_key, outcome)
    if value.isascii():  # the common case: NFC is the identity, lowercasing stays ASCII
        text: str | DropReason = value.strip()
        lowered = text.lower()
    else:
        text = _text(value)
        lowered = "" if isinstance(text, DropReason) else _lower(text)
    if not text:
        outcome = DropReason.EMPTY
    elif isinstance(text, DropReason):
        outcome = text
    elif rule is None:
        checked = IDENTIFIER_CHECKS[key](text)
        outcome = DropReason.INVALID if checked is None else checked
    elif len(text) in PREHASHED_LENGTHS and (already := prehashed(text)) is not None:
        outcome = already
    else:
        normalized = rule(lowered, context, year)
        if normalized is None:
            outcome = DropReason.INVALID
        else:
            outcome = _sha256(normalized.encode()).hexdigest()
    return memo.store(memo_key, outcome)


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
    seen: set[str] = set()
    for value in values:
        text = _text(value)
        if isinstance(text, DropReason):
            drops.append(Dropped(key, text))
        elif text not in seen:
            seen.add(text)
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


_CONTEXTS: Final[Memo[str, str]] = Memo(1024)  # context value -> alpha-2, "" for none


def _context_country(value: object) -> str | None:
    """Alpha-2 of a context country value, or None when unknown, invalid or hashed."""
    if type(value) is not str:
        return _uncached_context_country(value)
    found = _CONTEXTS.current.get(value)
    if found is None:
        found = _CONTEXTS.recall(value)
        if found is None:
            found = _CONTEXTS.store(value, _uncached_context_country(value) or "")
    return found or None


def _uncached_context_country(value: object) -> str | None:
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
