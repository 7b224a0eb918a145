"""Values the transform adds to an event: a stable event_id, fbc from an fbclid, dataset defaults.

Nothing here reads a clock or a random source: the same input always gets the same additions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote_plus

import orjson

from streams.domain.model import LDU, DatasetPolicy

__all__ = [
    "EVENT_ID_PREFIX",
    "derive_event_id",
    "fbc_from_fbclid",
    "find_fbclid",
    "ldu_inputs",
    "user_data_input",
]

EVENT_ID_PREFIX: Final = "cs-"
_EVENT_ID_HEX_CHARS: Final = 32

# fbclid values are URL-safe base64-like tokens; anything else would corrupt the fbc format.
_FBCLID = re.compile(r"[A-Za-z0-9_-]{1,500}")
# fbc creation time must be a 13-digit millisecond timestamp (docs/normalization.md), i.e.
# event_time between 2001-09-09 and 2286-11-20.
_FBC_MIN_S: Final = 1_000_000_000
_FBC_MAX_S: Final = 9_999_999_999


def _as_dict(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError


def derive_event_id(obj: Mapping[str, Any], source_key: bytes | None) -> str | None:
    """`cs-` + 32 hex of SHA-256 over the source key and the input in canonical JSON form.

    Canonical = orjson with sorted keys, so key order and whitespace of the original bytes do
    not matter. None when the input has no JSON form (integers beyond 64 bits, nesting deeper
    than orjson allows); the caller rejects such an event.
    """
    try:
        canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        try:
            canonical = orjson.dumps(
                obj,
                default=_as_dict,
                option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            )
        except TypeError:
            return None
    key = source_key or b""
    digest = hashlib.sha256(len(key).to_bytes(4, "big") + key + canonical).hexdigest()
    return EVENT_ID_PREFIX + digest[:_EVENT_ID_HEX_CHARS]


def find_fbclid(obj: Mapping[str, Any], user_data: Mapping[str, Any] | None) -> str | None:
    """The click ID from `fbclid` (top level, then user_data) or from event_source_url's query.

    The value is kept case-sensitive; an fbclid that is not a URL-safe token gives None.
    """
    value = obj.get("fbclid")
    if value is None and user_data is not None:
        value = user_data.get("fbclid")
    if value is None:
        url = obj.get("event_source_url")
        if isinstance(url, str) and "fbclid=" in url:
            value = _fbclid_in_url(url)
    if isinstance(value, str):
        value = value.strip()
        if _FBCLID.fullmatch(value):
            return value
    return None


def _fbclid_in_url(url: str) -> str | None:
    """The first non-empty `fbclid` query parameter of `url` (percent-decoded)."""
    end = url.find("#")
    query_start = url.find("?", 0, end if end >= 0 else len(url))
    if query_start < 0:
        return None
    query = url[query_start + 1 : end] if end >= 0 else url[query_start + 1 :]
    for pair in query.split("&"):
        if pair.startswith("fbclid="):
            value = pair[7:]
            if "%" in value or "+" in value:
                value = unquote_plus(value)
            if value:
                return value
    return None


def fbc_from_fbclid(fbclid: str, event_time: int) -> str | None:
    """`fb.1.<event_time in ms>.<fbclid>`, or None when event_time has no 13-digit ms form.

    The creation time is the event's own time, never the clock, so a replay builds the
    same value.
    """
    if not _FBC_MIN_S <= event_time <= _FBC_MAX_S:
        return None
    return f"fb.1.{event_time * 1000}.{fbclid}"


def user_data_input(
    user_data: Mapping[str, Any], default_country: str | None
) -> tuple[Mapping[str, Any], bool]:
    """user_data ready for hashing, and whether the dataset's default country was added.

    `fbclid` is removed (it becomes `fbc`, not a match key); `country` is set to
    `default_country` when the event carries none. The input mapping is never modified.
    """
    add_country = default_country is not None and not user_data.get("country")
    if not add_country and "fbclid" not in user_data:
        return user_data, False
    prepared = dict(user_data)
    prepared.pop("fbclid", None)
    if add_country:
        prepared["country"] = default_country
    return prepared, add_country


def ldu_inputs(obj: Mapping[str, Any], policy: DatasetPolicy) -> tuple[object, object, object]:
    """(data_processing_options, _country, _state) after the dataset defaults, not yet checked.

    The dataset's options apply when the event has none. Its country and state fill only what
    the event leaves out, and only when the resulting options contain LDU.
    """
    options: object = obj.get("data_processing_options")
    country: object = obj.get("data_processing_options_country")
    state: object = obj.get("data_processing_options_state")
    if options is None and policy.ldu is not None:
        options = list(policy.ldu)
    if isinstance(options, list) and LDU in options:
        if country is None:
            country = policy.ldu_country
        if state is None:
            state = policy.ldu_state
    return options, country, state
