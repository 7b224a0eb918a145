"""The event a failure record keeps: `failures.keep_event` = redacted | none | raw.

* `redacted` (default): user_data as it would have been sent (hashed; plain identifiers Meta
  takes unhashed, such as the user agent, fbc and fbp, stay so a replay can send the event)
  minus the client IP address, and the PII guard applied to everything else (the dataset's
  mode, `drop` when the dataset turned the guard off). An event whose user_data was never
  normalized (no dataset could be chosen, so no policy to hash it with) keeps only the names
  of its user_data keys (`user_data_keys`), and only CAPI's top-level keys, every one of them
  guarded (the transform never checked them); such a record cannot be replayed.
* `none`: no event at all.
* `raw`: the event as the worker built it, unguarded (and unhashed when it was never
  normalized). Unsafe: the failures topic then holds whatever personal data the input had.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from streams.domain.model import SERVER_EVENT_KEYS
from streams.domain.privacy.guard import GuardMode, PiiPolicy, guard_event, safe_key

__all__ = [
    "MAX_REDACTED_PATHS",
    "REMOVED_USER_DATA_KEYS",
    "KeepEvent",
    "KeptEvent",
    "kept_event",
    "kept_ids",
]

REMOVED_USER_DATA_KEYS: Final = ("client_ip_address",)
MAX_REDACTED_PATHS: Final = 100
"""A record lists at most this many distinct changed paths; `redacted_more` counts the rest."""


class KeepEvent(StrEnum):
    REDACTED = "redacted"
    NONE = "none"
    RAW = "raw"


@dataclass(frozen=True, slots=True)
class KeptEvent:
    """What goes into a failure record: the event (or None), the paths changed or removed
    (patterns, no values), and the user_data key names when only those are kept."""

    event: dict[str, Any] | None
    redacted: tuple[str, ...] = ()
    user_data_keys: tuple[str, ...] | None = None
    redacted_more: int = 0  # distinct paths changed beyond MAX_REDACTED_PATHS


_DEFAULT_POLICY: Final = PiiPolicy()
_USER_DATA_ONLY: Final = frozenset({"user_data"})


def kept_event(
    event: Mapping[str, Any] | None,
    keep: KeepEvent,
    policy: PiiPolicy | None,
    *,
    hashed: bool,
    current_year: int = 0,
) -> KeptEvent:
    """The failure record's event under `keep`. `hashed` says user_data was normalized and
    hashed with the dataset's policy (`policy` is that dataset's guard policy, or None)."""
    if event is None or keep is KeepEvent.NONE:
        return KeptEvent(None)
    if keep is KeepEvent.RAW:
        return KeptEvent(dict(event))
    guard = _guard_of(policy)
    if hashed:
        return _hashed(event, guard, current_year)
    user_data = event.get("user_data")
    keys = (
        tuple(sorted({safe_key(str(k), guard.country) for k in user_data}))
        if isinstance(user_data, Mapping)
        else ()
    )
    rest = {k: v for k, v in event.items() if k in SERVER_EVENT_KEYS and k != "user_data"}
    # never transformed: no field was checked, so every one is guarded (user_data: keys only)
    result = guard_event(rest, guard, current_year=current_year, skip=_USER_DATA_ONLY)
    paths, more = _distinct(g.field for g in result.guarded)
    return KeptEvent(result.event, paths, keys, more)


def kept_ids(
    event_id: str | None, event_name: str | None, keep: KeepEvent, policy: PiiPolicy | None
) -> tuple[str | None, str | None]:
    """A failure record's own event_id and event_name (also the record's Kafka key): personal
    data in them hashed, as the guard hashes it in the event, unless `keep` is raw."""
    if keep is KeepEvent.RAW:
        return event_id, event_name
    guard = _guard_of(policy)
    ids = {k: v for k, v in (("event_id", event_id), ("event_name", event_name)) if v}
    kept = guard_event(ids, guard).event if ids else ids
    return kept.get("event_id", event_id), kept.get("event_name", event_name)


def _guard_of(policy: PiiPolicy | None) -> PiiPolicy:
    guard = policy or _DEFAULT_POLICY
    if guard.mode is GuardMode.OFF:
        return PiiPolicy(GuardMode.DROP, guard.allow_keys, guard.deny_keys, guard.country)
    return guard


def _hashed(event: Mapping[str, Any], guard: PiiPolicy, current_year: int) -> KeptEvent:
    removed: list[str] = []
    out = dict(event)
    user_data = event.get("user_data")
    if isinstance(user_data, Mapping) and any(k in user_data for k in REMOVED_USER_DATA_KEYS):
        out["user_data"] = {k: v for k, v in user_data.items() if k not in REMOVED_USER_DATA_KEYS}
        removed = [f"user_data.{k}" for k in REMOVED_USER_DATA_KEYS if k in user_data]
    result = guard_event(out, guard, current_year=current_year)
    paths, more = _distinct((*removed, *(g.field for g in result.guarded)))
    return KeptEvent(result.event, paths, redacted_more=more)


def _distinct(paths: Iterable[str]) -> tuple[tuple[str, ...], int]:
    """The distinct paths in order of first change, at most MAX_REDACTED_PATHS of them, and
    how many more distinct paths there were (paths are patterns: `[]` for any index)."""
    unique = tuple(dict.fromkeys(paths))
    return unique[:MAX_REDACTED_PATHS], max(0, len(unique) - MAX_REDACTED_PATHS)
