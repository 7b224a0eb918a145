"""The PII guard: an event as sent carries personal data only as hashed `user_data`.

`guard_event(event, policy)` walks everything outside `user_data` (custom_data at any depth,
contents, store_data, app_data, original/attribution data, URLs, event_name and event_id) and:

* removes every entry whose key names personal data (`keys`: email, phone, first_name,
  shipping_address, birthday, ...), whatever its value; in hash mode a text or number under such
  a key is replaced by its SHA-256 (normalized as user_data normalizes em, ph, fn, ln, db; other
  kinds trimmed and lowercased) and anything else is removed;
* finds e-mail addresses and phone numbers in every other text (`patterns`): drop mode removes
  the value (an array element, an object entry, a URL parameter); hash mode replaces each
  address or number by its SHA-256, in place;
* guards URLs (any text starting with http(s)://, plus event_source_url and referrer_url) part
  by part (`urls`): scheme, host, path and non-personal parameters stay.

Values an event cannot lose without becoming invalid or losing deduplication (`HASHED_ALWAYS`:
event_name, event_id, event_source_url, order ids, contents[].id, app_data.extinfo entries) are
hashed even in drop mode. Numbers and booleans are never read as phone numbers (order ids,
prices and times are numbers); a key's value is removed only for its key.

The result lists what was done as (field path pattern, action), never a value: array indices
become `[]`, keys that are not plain identifiers become `*`, paths stop at `MAX_DEPTH` parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, cast

from streams.domain.hashing import sha256_hex
from streams.domain.memo import Memo
from streams.domain.privacy.keys import KeyKind, KeyRules
from streams.domain.privacy.patterns import Found, PiiFinder, finder
from streams.domain.privacy.urls import guard_url, looks_like_url, plainly_clean
from streams.domain.privacy.values import GuardAction, hash_matches, personal_value

__all__ = [
    "HASHED_ALWAYS",
    "MAX_DEPTH",
    "PHONE_PARSE_BUDGET",
    "GuardAction",
    "GuardMode",
    "GuardResult",
    "Guarded",
    "PiiPolicy",
    "guard_built_event",
    "guard_event",
]


class GuardMode(StrEnum):
    """Per dataset: what happens to personal data found outside user_data."""

    DROP = "drop"
    HASH = "hash"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Guarded:
    """One guarded field: its path pattern (no value, no index) and the action."""

    field: str
    action: GuardAction


@dataclass(frozen=True, slots=True)
class GuardResult:
    event: dict[str, Any]  # the event to send (the input itself when nothing changed)
    guarded: tuple[Guarded, ...]


@dataclass(frozen=True)
class PiiPolicy:
    """One dataset's guard settings. `country` is its default country (phone region)."""

    mode: GuardMode = GuardMode.DROP
    allow_keys: tuple[str, ...] = ()
    deny_keys: tuple[str, ...] = ()
    country: str | None = None
    rules: KeyRules = field(init=False, repr=False, compare=False)
    memo: _Memos = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in tuple(GuardMode):
            raise ValueError("pii_guard must be 'drop', 'hash' or 'off'")
        object.__setattr__(self, "rules", KeyRules(self.allow_keys, self.deny_keys))
        object.__setattr__(self, "memo", _Memos(finder(self.country)))


MAX_DEPTH: Final = 5
PHONE_PARSE_BUDGET: Final = 200
"""Phone-shaped runs one event may have checked by `phonenumbers` (~0.1-0.5 ms each); past it,
texts with phone-shaped runs count as personal without a check (see `_Walker._matches`)."""
HASHED_ALWAYS: Final = frozenset(
    {
        "event_name",
        "event_id",
        "event_source_url",
        "custom_data.order_id",
        "custom_data.contents[].id",
        "original_event_data.event_name",
        "original_event_data.event_id",
        "original_event_data.order_id",
        "app_data.extinfo[]",
    }
)
_URL_FIELDS: Final = frozenset({"event_source_url", "referrer_url"})
# Ids among HASHED_ALWAYS: a URL-shaped id that would lose a part is hashed whole (two events
# must not end up with one event_id, Meta would drop one as a duplicate).
_IDS: Final = HASHED_ALWAYS - _URL_FIELDS - {"event_name", "original_event_data.event_name"}
# Not walked: user_data (hashed by the transform), and top-level fields the transform already
# checked against a closed set of values or as numbers and booleans.
_SKIPPED: Final = frozenset(
    {
        "user_data",
        "event_time",
        "action_source",
        "opt_out",
        "messaging_channel",
        "customer_segmentation",
        "data_processing_options",
        "data_processing_options_country",
        "data_processing_options_state",
    }
)
_SKIPPED_AND_ID: Final = _SKIPPED | {"event_id"}  # and a derived event_id (`guard_built_event`)
_SAFE_KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")
_REMOVED: Final = object()
_NO_SKIP: Final[frozenset[str]] = frozenset()
_MIN_TEXT: Final = 6  # shorter text holds neither an e-mail address nor a phone number
# What a key is (`_KeyInfo[0]`):
_PLAIN: Final = 0
_PERSONAL: Final = 1
_ALLOWED: Final = 2
_PII_IN_KEY: Final = 3

_KeyInfo = tuple[int, KeyKind | None, str]
"""(what the key is, kind of personal data, the key as a path part)."""
_ODD_KEY: Final[_KeyInfo] = (_PLAIN, None, "*")  # a non-string key (not JSON; be safe)
_UrlResult = tuple[str, tuple[tuple[str, str], ...]]

Decision = tuple[Any, str] | None
"""None: not personal; else (replacement, or None to remove; action)."""


class _Memos:
    """A policy's remembered decisions: per key, per URL (pure: same input, same answer)."""

    __slots__ = ("find_within", "finder", "keys", "keys_seen", "texts_seen", "urls")

    def __init__(self, pii_finder: PiiFinder) -> None:
        self.finder = pii_finder
        self.keys: Memo[str, _KeyInfo] = Memo(4096)
        self.urls: Memo[str, _UrlResult] = Memo(4096)
        # For the walk's hot path: the current generations (their identity never changes).
        self.keys_seen = self.keys.current
        self.texts_seen = pii_finder.seen
        self.find_within = pii_finder.find_within


def guard_event(
    event: Mapping[str, Any],
    policy: PiiPolicy,
    *,
    current_year: int = 0,
    skip: Iterable[str] = _SKIPPED,
) -> GuardResult:
    """`event` without personal data outside `skip` (user_data), and what was changed.

    `current_year` completes two-digit years of birth dates hashed in hash mode.
    """
    if policy.mode is GuardMode.OFF:
        return GuardResult(dict(event), ())
    sent, guarded = _guard(event, policy, current_year, frozenset(skip))
    return GuardResult(dict(event) if sent is event else cast(dict[str, Any], sent), guarded)


def guard_built_event(
    event: dict[str, Any], policy: PiiPolicy, current_year: int = 0, *, derived_id: bool = False
) -> tuple[dict[str, Any], tuple[Guarded, ...]]:
    """`guard_event` for an event the transform just built (admission): the event itself when
    nothing changed (not a copy: the caller owns it), and what was changed.

    `derived_id`: the transform derived event_id from the input (`enrich.derive_event_id`:
    `cs-` and hex digits of a hash, which holds no personal data), so it is not walked; an
    event_id that came with the input is, as everything else.
    """
    if policy.mode is GuardMode.OFF:
        return event, ()
    sent, guarded = _guard(event, policy, current_year, _SKIPPED_AND_ID if derived_id else _SKIPPED)
    return cast(dict[str, Any], sent), guarded


def _guard(
    event: Mapping[str, Any], policy: PiiPolicy, current_year: int, skip: frozenset[str]
) -> tuple[Mapping[str, Any], tuple[Guarded, ...]]:
    """The walk: the event (itself when nothing changed) and what was changed."""
    walker = _Walker(policy, current_year)
    sent: Mapping[str, Any] = walker.object(event, (), skip)  # top level: never _REMOVED
    guarded = walker.guarded
    return sent, tuple(guarded) if guarded else ()


def safe_key(key: str, country: str | None = None) -> str:
    """`key` as a path part: plain identifiers as they are, anything else `*`."""
    if _SAFE_KEY.fullmatch(key) and not finder(country).find(key):
        return key
    return "*"


def _label(parts: tuple[str, ...]) -> str:
    if len(parts) > MAX_DEPTH:
        parts = (*parts[:MAX_DEPTH], "...")
    return ".".join(parts)


def _unchecked_decision(text: str, hash_it: bool) -> tuple[str | None, str]:
    if hash_it:
        return sha256_hex(text), GuardAction.HASH
    return None, GuardAction.DROP


def _key_info(key: str, policy: PiiPolicy) -> _KeyInfo:
    """What `key` is under `policy` (remembered)."""
    memo = policy.memo.keys
    info = memo.recall(key)
    if info is None:
        rules = policy.rules
        if policy.memo.finder.find(key):
            info = (_PII_IN_KEY, None, "*")
        elif rules.allowed(key):
            info = (_ALLOWED, None, key)
        else:
            kind = rules.kind(key)
            name = key if _SAFE_KEY.fullmatch(key) else "*"
            info = (_PLAIN, None, name) if kind is None else (_PERSONAL, kind, name)
        memo.store(key, info)
    return info


class _Walker:
    """One event's walk: copies only the containers it changes, records what it did."""

    __slots__ = (
        "_country",
        "_find_within",
        "_hash",
        "_keys_seen",
        "_memo",
        "_parses",
        "_policy",
        "_texts_seen",
        "_unchecked_any",
        "_year",
        "guarded",
    )

    def __init__(self, policy: PiiPolicy, current_year: int) -> None:
        memo = policy.memo
        self._policy = policy
        self._memo = memo
        self._keys_seen = memo.keys_seen
        self._texts_seen = memo.texts_seen
        self._find_within = memo.find_within
        self._hash = policy.mode is GuardMode.HASH
        self._country = policy.country
        self._year = current_year
        self._parses = 0  # phone-shaped runs checked so far (PHONE_PARSE_BUDGET)
        self._unchecked_any = False
        self.guarded: list[Guarded] = []

    def _matches(self, text: str) -> tuple[Found, ...] | None:
        """The e-mail addresses and phone numbers in `text`; None when `text` would need phone
        checks past this event's budget: it then counts as personal without them (dropped,
        or hashed whole), so one event full of distinct phone-shaped values cannot hold the
        worker for seconds."""
        known = self._texts_seen.get(text)
        if known is not None:
            return known
        runs, found = self._find_within(text, PHONE_PARSE_BUDGET - self._parses)
        if found is None:
            self._unchecked_any = True
            return None
        self._parses += runs
        return found

    def _report(self, label: str, action: str) -> None:
        self.guarded.append(Guarded(label, GuardAction(action)))

    def _key(self, key: str) -> _KeyInfo:
        return self._keys_seen.get(key) or _key_info(key, self._policy)

    def value(self, value: Any, parts: tuple[str, ...]) -> Any:
        kind = type(value)
        if kind is str:
            return value if len(value) < _MIN_TEXT else self.text(value, parts)
        if kind is dict or isinstance(value, Mapping):
            return self.object(value, parts, _NO_SKIP)
        if kind is list or kind is tuple:
            return self.array(value, parts)
        return value

    def object(self, obj: Mapping[str, Any], parts: tuple[str, ...], skip: frozenset[str]) -> Any:
        out: dict[str, Any] | None = None
        known = self._keys_seen
        seen_text = self._texts_seen
        for key, item in obj.items():
            if key in skip:
                continue
            info = known.get(key) if type(key) is str else None
            if info is None:
                info = self._key(key) if type(key) is str else _ODD_KEY
            kind_of = type(item)
            if info[0] == _PLAIN or (not parts and info[0] == _PERSONAL):
                # top-level keys are CAPI's own: never personal by name
                if kind_of is str:
                    # (only "h" and "H" lowercase to "h": the first test spares most texts
                    # the slice and lowercasing)
                    if len(item) < _MIN_TEXT or (
                        seen_text.get(item) == ()
                        and (item[0] not in "hH" or item[:4].lower() != "http")
                    ):
                        continue  # remembered as free of personal data (not a URL)
                    new = self.text(item, (*parts, info[2]))
                elif kind_of is int or kind_of is float or kind_of is bool:
                    continue
                elif kind_of is dict:
                    new = self.object(item, (*parts, info[2]), _NO_SKIP)
                elif kind_of is list:
                    new = self.array(item, (*parts, info[2]))
                else:
                    new = self.value(item, (*parts, info[2]))
            else:
                new = self._special(info, item, parts)
            if new is item:
                continue
            if out is None:
                out = dict(obj)
            if new is _REMOVED:
                del out[key]
            else:
                out[key] = new
        if out is None:
            return obj
        return _REMOVED if not out and parts else out

    def _special(self, info: _KeyInfo, item: Any, parts: tuple[str, ...]) -> Any:
        """The value of a key that is allowed, personal, or personal data itself."""
        what, kind, name = info
        if what == _ALLOWED:
            return item
        if what == _PII_IN_KEY:
            self._report(_label((*parts, "*")), GuardAction.DROP)
            return _REMOVED
        assert kind is not None
        replacement, action = personal_value(item, kind, self._hash, self._country, self._year)
        if replacement == item:
            return item  # already hashed
        self._report(_label((*parts, name)), action)
        return _REMOVED if replacement is None else replacement

    def array(self, items: list[Any] | tuple[Any, ...], parts: tuple[str, ...]) -> Any:
        here: tuple[str, ...] | None = None
        seen_text = self._texts_seen
        kept: list[Any] | None = None  # from the first changed item on
        for i, item in enumerate(items):
            kind = type(item)
            if kind is str:
                if len(item) < _MIN_TEXT or (
                    seen_text.get(item) == ()
                    and (item[0] not in "hH" or item[:4].lower() != "http")
                ):
                    new = item  # remembered as free of personal data (not a URL)
                else:
                    here = here or ((*parts[:-1], parts[-1] + "[]") if parts else ("[]",))
                    new = self.text(item, here)
            elif kind is int or kind is float or kind is bool or item is None:
                new = item
            else:
                here = here or ((*parts[:-1], parts[-1] + "[]") if parts else ("[]",))
                new = self.object(item, here, _NO_SKIP) if kind is dict else self.value(item, here)
            if kept is None:
                if new is item:
                    continue
                kept = list(items[:i])
            if new is not _REMOVED:
                kept.append(new)
        if kept is None:
            return items
        return kept or _REMOVED

    def text(self, text: str, parts: tuple[str, ...]) -> Any:
        if (len(parts) == 1 and parts[0] in _URL_FIELDS) or text[:4].lower() == "http":
            guarded = self._url(text) if looks_like_url(text) or parts[0] in _URL_FIELDS else None
            if guarded is not None:
                new, edits = guarded
                if edits:
                    label = _label(parts)
                    if label in _IDS and any(a == GuardAction.DROP for _, a in edits):
                        # an id that loses a part could equal another event's: hash it whole
                        self._report(label, GuardAction.HASH)
                        return sha256_hex(text)
                    for suffix, action in edits:
                        self._report(label + suffix, action)
                return new
        matches = self._matches(text)
        if matches is None:
            return self._unchecked_text(text, parts)
        if not matches:
            return text
        label = _label(parts)
        replacement, action = self._decision(text, matches, label in HASHED_ALWAYS) or (text, "")
        self._report(label, action)
        return _REMOVED if replacement is None else replacement

    def _unchecked_text(self, text: str, parts: tuple[str, ...]) -> Any:
        label = _label(parts)
        replacement, action = _unchecked_decision(text, self._hash or label in HASHED_ALWAYS)
        self._report(label, action)
        return _REMOVED if replacement is None else replacement

    def _url(self, url: str) -> _UrlResult | None:
        before = self._unchecked_any
        if plainly_clean(url, self._has_pii, self._personal_name):
            return url, ()
        memo = self._memo.urls
        known = memo.current.get(url) or memo.recall(url)
        if known is not None:
            return known
        guarded = guard_url(url, self.rewrite, self._has_pii, self._safe)
        if guarded is None:
            return None
        result = (guarded[0], tuple(guarded[1]))
        if self._unchecked_any and not before:
            return result  # decided without every check: not remembered for other events
        return memo.store(url, result)

    def found(self, text: str, hash_anyway: bool) -> Decision:
        """Drop or hash the e-mail addresses and phone numbers in `text`."""
        matches = self._matches(text)
        if matches is None:
            return _unchecked_decision(text, self._hash or hash_anyway)
        return self._decision(text, matches, hash_anyway)

    def _decision(self, text: str, matches: tuple[Found, ...], hash_anyway: bool) -> Decision:
        if not matches:
            return None
        if not (self._hash or hash_anyway):
            return None, GuardAction.DROP
        return hash_matches(text, matches), GuardAction.HASH

    def rewrite(self, text: str, key: str | None) -> Decision:
        """One URL part: a parameter (`key` its name) or a path/fragment text."""
        if key:
            what, kind, _ = self._key(key)
            if what == _ALLOWED:
                return None
            if what == _PERSONAL and kind is not None:
                return personal_value(text, kind, self._hash, self._country, self._year)
        return self.found(text, False)

    def _personal_name(self, name: str) -> bool:
        return self._key(name)[0] != _PLAIN

    def _has_pii(self, text: str) -> bool:
        matches = self._matches(text)
        return matches is None or bool(matches)

    def _safe(self, key: str) -> str:
        return self._key(key)[2]
