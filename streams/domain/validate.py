"""Per-event CAPI rules: each field is checked and put in Meta's shape, or the event is rejected.

Checkers return the value to send (None = leave the field out) or raise `Invalid`, which
`transform` turns into a `Rejected` value; `Invalid` never leaves the domain. Errors carry a
reason code and a field path only, never a value.

Per-field decisions (null always means "absent"):

* Wrong type or unusable value of a known field -> INVALID_FIELD (or the field's own reason:
  INVALID_EVENT_TIME, INVALID_VALUE, INVALID_CURRENCY, INVALID_EXTINFO,
  INVALID_MESSAGING_CHANNEL, INVALID_LDU). Meta rejects the whole request on such values, so
  dropping them silently would only move the failure to the batch.
* Numbers are accepted where Meta wants strings (IDs) and numeric strings where Meta wants
  numbers; booleans accept true/false, 0/1 and "true"/"false"/"0"/"1".
* Empty strings are treated as absent.
* Unknown keys: dropped at the top level and inside app_data, original_event_data and
  attribution_data (Meta answers "Unexpected key" for the whole batch); kept in custom_data and
  contents items (custom properties are allowed).
* currency is sent upper-case (Meta is case-insensitive).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from streams.domain.event_time import parse_event_time
from streams.domain.model import (
    ACTION_SOURCES,
    APP_DATA_BOOL_KEYS,
    APP_DATA_STR_KEYS,
    ATTRIBUTION_METHODS,
    ATTRIBUTION_MODELS,
    ATTRIBUTION_SETTING_KEYS,
    CURRENCIES,
    CUSTOMER_SEGMENTATIONS,
    DECLINE_REASONS,
    DELIVERY_CATEGORIES,
    EXTINFO_LENGTH,
    EXTINFO_VERSIONS,
    LDU,
    LDU_COUNTRY_CODES,
    LDU_STATE_CODES,
    MAX_AGE_PHYSICAL_STORE_S,
    MAX_AGE_S,
    MESSAGING_CHANNELS,
    REFUSED_MATCH_KEY_SETS,
)
from streams.domain.normalize import Dropped

__all__ = [
    "MAX_EVENT_NAME_CHARS",
    "OPTIONAL_FIELDS",
    "Accepted",
    "Invalid",
    "RejectReason",
    "Rejected",
    "action_source",
    "app_data",
    "attribution_data",
    "check_app",
    "check_customer_information",
    "check_event_time",
    "check_messaging",
    "check_purchase",
    "check_website",
    "clean_json",
    "custom_data",
    "data_processing",
    "event_id",
    "event_name",
    "original_event_data",
]


class RejectReason(StrEnum):
    """Why an event is not sent. Closed set; values are stable metric labels."""

    INVALID_JSON = "invalid_json"  # the raw record is not UTF-8 JSON
    NOT_AN_OBJECT = "not_an_object"  # the JSON value is not an object
    MISSING_EVENT_NAME = "missing_event_name"  # event_name absent or empty
    INVALID_EVENT_NAME = "invalid_event_name"  # not a string, or over 256 characters
    MISSING_EVENT_TIME = "missing_event_time"  # event_time absent
    INVALID_EVENT_TIME = "invalid_event_time"  # not seconds/ms/ISO-8601 (bool, NaN, negative...)
    EVENT_TIME_TOO_OLD = "event_time_too_old"  # older than 7 days (62 for physical_store)
    EVENT_TIME_IN_FUTURE = "event_time_in_future"  # beyond the dataset's allowed clock skew
    MISSING_ACTION_SOURCE = "missing_action_source"  # absent, and the dataset has no default
    UNKNOWN_ACTION_SOURCE = "unknown_action_source"  # not one of Meta's 9 values
    MISSING_EVENT_SOURCE_URL = "missing_event_source_url"  # website event without the page URL
    MISSING_CLIENT_USER_AGENT = "missing_client_user_agent"  # website event without user agent
    MISSING_APP_DATA = "missing_app_data"  # app event without app_data
    MISSING_ADVERTISER_TRACKING_ENABLED = "missing_advertiser_tracking_enabled"  # app event
    INVALID_EXTINFO = "invalid_extinfo"  # app extinfo absent, not 16 entries, or bad entry 0/4
    MISSING_MESSAGING_CHANNEL = "missing_messaging_channel"  # business_messaging without it
    INVALID_MESSAGING_CHANNEL = "invalid_messaging_channel"  # not messenger/whatsapp/instagram
    MISSING_CTWA_CLID = "missing_ctwa_clid"  # whatsapp event without user_data.ctwa_clid
    MISSING_VALUE = "missing_value"  # Purchase without custom_data.value
    INVALID_VALUE = "invalid_value"  # custom_data.value is not a finite number
    MISSING_CURRENCY = "missing_currency"  # Purchase without custom_data.currency
    INVALID_CURRENCY = "invalid_currency"  # custom_data.currency is not an ISO 4217 code
    NO_CUSTOMER_INFORMATION = "no_customer_information"  # no usable user_data value at all
    INSUFFICIENT_CUSTOMER_INFORMATION = "insufficient_customer_information"  # only refused combos
    INVALID_LDU = "invalid_ldu"  # data_processing_options(_country/_state) value not allowed
    INCONSISTENT_LDU = "inconsistent_ldu"  # country/state without LDU, or LDU missing them
    INVALID_FIELD = "invalid_field"  # another known field has a wrong type or value


class Invalid(Exception):
    """A check failed: reason code and CAPI field path, never the value."""

    __slots__ = ("field", "reason")

    def __init__(self, reason: RejectReason, field: str | None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event ready for `data[]`."""

    event: dict[str, Any]  # exactly what goes into data[]
    event_id: str
    event_name: str
    event_time: int
    dropped: tuple[Dropped, ...]  # user_data values dropped (for metrics)
    derived_id: bool = False  # event_id derived from the input (`enrich.derive_event_id`)


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event that must not be sent, with the first rule it broke."""

    reason: RejectReason
    field: str | None  # CAPI field path like "custom_data.currency"; never a value
    # The event as far as it was built, user_data already hashed; invalid fields left out.
    event: dict[str, Any] | None
    event_id: str | None
    event_name: str | None
    dropped: tuple[Dropped, ...]


# ---------------------------------------------------------------- scalar coercion helpers

_R = RejectReason
#: Longest event_name accepted (Meta documents none; standard names are a few words).
MAX_EVENT_NAME_CHARS: Final = 256
_MIN_INT: Final = -(2**63)
_MAX_INT: Final = 2**64 - 1  # orjson serializes integers up to u64
_MAX_DEPTH: Final = 16
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,19}", re.ASCII)
_LARGEST_REFUSED_SET: Final = max(len(keys) for keys in REFUSED_MATCH_KEY_SETS)
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


def _string(value: object, field: str, reason: RejectReason = _R.INVALID_FIELD) -> str | None:
    """Trimmed string (numbers are written out); None when empty."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool) and _MIN_INT <= value <= _MAX_INT:
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise Invalid(reason, field)


def _number(value: object, field: str, reason: RejectReason = _R.INVALID_FIELD) -> int | float:
    """A finite number; numeric strings are converted."""
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise Invalid(reason, field)
    if isinstance(value, bool):
        raise Invalid(reason, field)
    if isinstance(value, int):
        if _MIN_INT <= value <= _MAX_INT:
            return value
        raise Invalid(reason, field)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise Invalid(reason, field)
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= 40 and _NUMBER.fullmatch(text):
            if _INTEGER.fullmatch(text):
                return _number(int(text), field, reason)
            number = float(text)
            if math.isfinite(number):
                return number
    raise Invalid(reason, field)


def _integer(value: object, field: str, reason: RejectReason = _R.INVALID_FIELD) -> int:
    """An integer; integral floats and integer strings are converted."""
    if isinstance(value, int) and not isinstance(value, bool):
        if _MIN_INT <= value <= _MAX_INT:
            return value
    elif isinstance(value, float):
        if value.is_integer() and _MIN_INT <= value <= _MAX_INT:
            return int(value)
    elif isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
    raise Invalid(reason, field)


def _flag(value: object, field: str) -> bool:
    """A boolean from true/false, 0/1 or their string forms."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Invalid(_R.INVALID_FIELD, field)


def _choice(value: object, field: str, allowed: frozenset[str], reason: RejectReason) -> str:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in allowed:
            return text
    raise Invalid(reason, field)


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if isinstance(value, (dict, Mapping)):
        return value
    raise Invalid(_R.INVALID_FIELD, field)


def clean_json(value: Any, field: str, depth: int = 0) -> Any:
    """`value` with nulls removed from every object and array; Invalid for non-JSON values.

    Rejects non-string object keys, non-finite floats, integers beyond 64 bits and nesting
    deeper than 16 levels, so the result always serializes and never contains a null.
    """
    kind = type(value)
    if kind is str or kind is bool:
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        if _MIN_INT <= value <= _MAX_INT:
            return value
    elif isinstance(value, float):
        if math.isfinite(value):
            return value
    elif depth < _MAX_DEPTH:
        if isinstance(value, (dict, Mapping)):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if item is None:
                    continue
                if not isinstance(key, str):
                    raise Invalid(_R.INVALID_FIELD, field)
                out[key] = clean_json(item, field, depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            return [clean_json(item, field, depth + 1) for item in value if item is not None]
    raise Invalid(_R.INVALID_FIELD, field)


# ---------------------------------------------------------------- core fields


def event_name(value: object) -> str:
    """The trimmed event name."""
    if value is None:
        raise Invalid(_R.MISSING_EVENT_NAME, "event_name")
    if not isinstance(value, str):
        raise Invalid(_R.INVALID_EVENT_NAME, "event_name")
    name = value.strip()
    if not name:
        raise Invalid(_R.MISSING_EVENT_NAME, "event_name")
    if len(name) > MAX_EVENT_NAME_CHARS:
        raise Invalid(_R.INVALID_EVENT_NAME, "event_name")
    return name


def event_id(value: object) -> str | None:
    """A given event_id as a string (numbers converted); None when absent or empty."""
    return None if value is None else _string(value, "event_id")


def action_source(value: object, default: str | None) -> str:
    """The event's action_source (case-insensitive), else the dataset default."""
    if value is None or value == "":
        if default is None:
            raise Invalid(_R.MISSING_ACTION_SOURCE, "action_source")
        return default
    return _choice(value, "action_source", ACTION_SOURCES, _R.UNKNOWN_ACTION_SOURCE)


def check_event_time(event_time: int, source: str | None, now: float, max_skew_s: int) -> None:
    """Meta's window: at most 7 days old (62 for physical_store), at most `max_skew_s` ahead."""
    max_age = MAX_AGE_PHYSICAL_STORE_S if source == "physical_store" else MAX_AGE_S
    if event_time < now - max_age:
        raise Invalid(_R.EVENT_TIME_TOO_OLD, "event_time")
    if event_time > now + max_skew_s:
        raise Invalid(_R.EVENT_TIME_IN_FUTURE, "event_time")


# ---------------------------------------------------------------- custom_data


def _currency(value: object, field: str) -> str:
    if isinstance(value, str):
        code = value.strip().upper()
        if code in CURRENCIES:
            return code
    raise Invalid(_R.INVALID_CURRENCY, field)


def _string_list(value: object, field: str) -> list[str] | None:
    """A list of non-empty strings (numbers converted; a single value becomes a list)."""
    if not isinstance(value, (list, tuple)):
        single = _string(value, field)
        return None if single is None else [single]
    out = []
    for item in value:
        if item is not None and (text := _string(item, field)) is not None:
            out.append(text)
    return out or None


def _delivery_category(value: object, field: str) -> str:
    return _choice(value, field, DELIVERY_CATEGORIES, _R.INVALID_FIELD)


_CONTENTS = "custom_data.contents"
_CONTENT_FIELDS: Final[dict[str, Callable[[object, str], object]]] = {
    "id": _string,
    "quantity": _integer,
    "item_price": _number,
    "delivery_category": _delivery_category,
    "title": _string,
    "description": _string,
    "brand": _string,
    "category": _string,
}

# Shapes a value is taken in as it is (after trimming, for text) without calling its checker;
# a value of any other shape goes to the checker, which converts it or raises.
_AS_TEXT: Final = 1  # a str: trimmed, left out when empty (`_string`)
_AS_NUMBER: Final = 2  # a finite float or an int in range (`_number`)
_AS_INTEGER: Final = 3  # an int in range (`_integer`)
_AS_CURRENCY: Final = 4  # a str naming a currency in any case (`_currency`)
_INF: Final = math.inf
_CONTENT_SHAPES: Final[Mapping[str, int]] = {
    "id": _AS_TEXT,
    "quantity": _AS_INTEGER,
    "item_price": _AS_NUMBER,
    "title": _AS_TEXT,
    "description": _AS_TEXT,
    "brand": _AS_TEXT,
    "category": _AS_TEXT,
}


def _contents(value: object, field: str) -> list[dict[str, Any]] | None:
    """contents[]: objects with an `id`; known keys typed, other keys kept."""
    if not isinstance(value, (list, tuple)):
        raise Invalid(_R.INVALID_FIELD, field)
    out = []
    for item in value:
        if item is None:
            continue
        content: dict[str, Any] = {}
        for key, raw in (item if type(item) is dict else _mapping(item, field)).items():
            if raw is None:
                continue
            shape = _CONTENT_SHAPES.get(key)
            kind = type(raw)
            if shape == _AS_TEXT:
                if kind is str:
                    if text := raw.strip():
                        content[key] = text
                    continue
            elif shape == _AS_INTEGER:
                if kind is int and _MIN_INT <= raw <= _MAX_INT:
                    content[key] = raw
                    continue
            elif shape == _AS_NUMBER and (
                (kind is float and -_INF < raw < _INF)
                or (kind is int and _MIN_INT <= raw <= _MAX_INT)
            ):
                content[key] = raw
                continue
            check = _CONTENT_FIELDS.get(key)
            if check is None:
                if not isinstance(key, str):
                    raise Invalid(_R.INVALID_FIELD, field)
                content[key] = clean_json(raw, field, 2)
            elif (checked := check(raw, field)) is not None:
                content[key] = checked
        if "id" not in content:
            raise Invalid(_R.INVALID_FIELD, field)
        out.append(content)
    return out or None


def _value(value: object, field: str) -> int | float:
    return _number(value, field, _R.INVALID_VALUE)


def _object(value: object, field: str) -> dict[str, Any] | None:
    cleaned: dict[str, Any] = clean_json(_mapping(value, field), field, 1)
    return cleaned or None


_CUSTOM_FIELDS: Final[dict[str, tuple[Callable[[object, str], object], str, int]]] = {
    "value": (_value, "custom_data.value", _AS_NUMBER),
    "currency": (_currency, "custom_data.currency", _AS_CURRENCY),
    "content_name": (_string, "custom_data.content_name", _AS_TEXT),
    "content_category": (_string, "custom_data.content_category", _AS_TEXT),
    "content_ids": (_string_list, "custom_data.content_ids", 0),
    "contents": (_contents, _CONTENTS, 0),
    "content_type": (_string, "custom_data.content_type", _AS_TEXT),
    "order_id": (_string, "custom_data.order_id", _AS_TEXT),
    "predicted_ltv": (_number, "custom_data.predicted_ltv", _AS_NUMBER),
    "num_items": (_integer, "custom_data.num_items", _AS_INTEGER),
    "search_string": (_string, "custom_data.search_string", _AS_TEXT),
    "status": (_string, "custom_data.status", _AS_TEXT),
    "delivery_category": (_delivery_category, "custom_data.delivery_category", 0),
    "net_revenue": (_number, "custom_data.net_revenue", _AS_NUMBER),
    "item_number": (_string, "custom_data.item_number", _AS_TEXT),
    "store_data": (_object, "custom_data.store_data", 0),
}


def custom_data(value: object, field: str = "custom_data") -> dict[str, Any] | None:
    """custom_data: standard keys typed, custom properties kept (nulls removed)."""
    out: dict[str, Any] = {}
    for key, raw in (value if type(value) is dict else _mapping(value, field)).items():
        if raw is None:
            continue
        known = _CUSTOM_FIELDS.get(key)
        if known is None:
            if not isinstance(key, str):
                raise Invalid(_R.INVALID_FIELD, field)
            out[key] = raw if type(raw) is str else clean_json(raw, field, 1)
            continue
        check, path, shape = known
        kind = type(raw)
        if shape == _AS_TEXT:
            if kind is str:
                if text := raw.strip():
                    out[key] = text
                continue
        elif shape == _AS_NUMBER:
            if (kind is float and -_INF < raw < _INF) or (
                kind is int and _MIN_INT <= raw <= _MAX_INT
            ):
                out[key] = raw
                continue
        elif shape == _AS_CURRENCY:
            if kind is str and (code := raw.strip().upper()) in CURRENCIES:
                out[key] = code
                continue
        elif shape == _AS_INTEGER and kind is int and _MIN_INT <= raw <= _MAX_INT:
            out[key] = raw
            continue
        if (checked := check(raw, path)) is not None:
            out[key] = checked
    return out or None


# ---------------------------------------------------------------- app_data


def _extinfo_entry(value: object) -> str:
    if value is None:
        return ""
    return _string(value, "app_data.extinfo", _R.INVALID_EXTINFO) or ""


def _extinfo(value: object) -> list[str]:
    """16 strings; entry 0 is the version (a2/i2), entry 4 the OS version (required)."""
    if not isinstance(value, (list, tuple)) or len(value) != EXTINFO_LENGTH:
        raise Invalid(_R.INVALID_EXTINFO, "app_data.extinfo")
    entries = [item.strip() if type(item) is str else _extinfo_entry(item) for item in value]
    entries[0] = entries[0].lower()
    if entries[0] not in EXTINFO_VERSIONS or not entries[4]:
        raise Invalid(_R.INVALID_EXTINFO, "app_data.extinfo")
    return entries


def app_data(value: object, field: str = "app_data") -> dict[str, Any] | None:
    """app_data; unknown keys dropped. Requirements are checked by `check_app`."""
    out: dict[str, Any] = {}
    for key, raw in (value if type(value) is dict else _mapping(value, field)).items():
        if raw is None:
            continue
        if key in APP_DATA_BOOL_KEYS:
            out[key] = raw if type(raw) is bool else _flag(raw, "app_data." + key)
        elif key in APP_DATA_STR_KEYS:
            if (text := _string(raw, "app_data." + key)) is not None:
                out[key] = text
        elif key == "extinfo":
            out[key] = _extinfo(raw)
        elif key == "url_schemes" and (schemes := _string_list(raw, "app_data.url_schemes")):
            out[key] = schemes
    return out or None


# ---------------------------------------------------------------- original / attribution data


def _time(value: object, field: str) -> int:
    seconds = parse_event_time(value)
    if seconds is None:
        raise Invalid(_R.INVALID_FIELD, field)
    return seconds


def _share(value: object, field: str) -> int | float:
    share = _number(value, field)
    if not 0 <= share <= 1:
        raise Invalid(_R.INVALID_FIELD, field)
    return share


def _enum(allowed: frozenset[str]) -> Callable[[object, str], str]:
    def check(value: object, field: str) -> str:
        return _choice(value, field, allowed, _R.INVALID_FIELD)

    return check


def _attribution_setting(value: object, field: str) -> dict[str, int] | None:
    out = {}
    for key, raw in _mapping(value, field).items():
        if key in ATTRIBUTION_SETTING_KEYS and raw is not None:
            out[key] = _integer(raw, field + "." + key)
    return out or None


_ORIGINAL_FIELDS: Final[dict[str, Callable[[object, str], object]]] = {
    "event_name": _string,
    "event_time": _time,
    "order_id": _string,
    "event_id": _string,
}
_ATTRIBUTION_FIELDS: Final[dict[str, Callable[[object, str], object]]] = {
    "scope": _string,
    "visit_time": _time,
    "ad_id": _string,
    "adset_id": _string,
    "campaign_id": _string,
    "attribution_share": _share,
    "attribution_model": _enum(ATTRIBUTION_MODELS),
    "attr_window": _integer,
    "attribution_value": _number,
    "attribution_source": _string,
    "touchpoint_type": _string,
    "touchpoint_ts": _time,
    "attribution_method": _enum(ATTRIBUTION_METHODS),
    "decline_reason": _enum(DECLINE_REASONS),
    "auditing_token": _string,
    "linkage_key": _string,
    "touchpoint_id": _string,
    "attribution_setting": _attribution_setting,
    "total_credit": _number,
    "partner_client_id": _string,
}


def _typed_object(
    value: object, field: str, fields: Mapping[str, Callable[[object, str], object]]
) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, raw in _mapping(value, field).items():
        check = fields.get(key)
        if (
            check is not None
            and raw is not None
            and (checked := check(raw, field + "." + key)) is not None
        ):
            out[key] = checked
    return out or None


def original_event_data(value: object, field: str = "original_event_data") -> dict[str, Any] | None:
    """original_event_data (event_name, event_time, order_id, event_id)."""
    return _typed_object(value, field, _ORIGINAL_FIELDS)


def attribution_data(value: object, field: str = "attribution_data") -> dict[str, Any] | None:
    """attribution_data with the Python SDK's field types and enums."""
    return _typed_object(value, field, _ATTRIBUTION_FIELDS)


# ---------------------------------------------------------------- other top-level fields


def _url(value: object, field: str) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    raise Invalid(_R.INVALID_FIELD, field)


def _segmentation(value: object, field: str) -> str:
    return _choice(value, field, CUSTOMER_SEGMENTATIONS, _R.INVALID_FIELD)


def _messaging_channel(value: object, field: str) -> str:
    return _choice(value, field, MESSAGING_CHANNELS, _R.INVALID_MESSAGING_CHANNEL)


# Optional top-level fields checked on their own: key -> checker(value, field); the checker
# returns the value to send, or None to leave the field out.
OPTIONAL_FIELDS: Final[Mapping[str, Callable[[object, str], object]]] = {
    "event_source_url": _url,
    "referrer_url": _url,
    "opt_out": _flag,
    "customer_segmentation": _segmentation,
    "messaging_channel": _messaging_channel,
    "custom_data": custom_data,
    "app_data": app_data,
    "original_event_data": original_event_data,
    "attribution_data": attribution_data,
}


# ---------------------------------------------------------------- LDU (Data Processing Options)


def data_processing(
    options: object, country: object, state: object, has_ip: bool
) -> tuple[list[str] | None, int | None, int | None]:
    """(options, country, state) to send; values as returned by `enrich.ldu_inputs`.

    Options must be a list of strings within {"LDU"}. With LDU, country (0 or 1) is required
    and so is state (0 or 1000..1013) when the event has no client IP; without LDU neither may
    be given.
    """
    if options is None:
        if country is not None:
            raise Invalid(_R.INCONSISTENT_LDU, "data_processing_options_country")
        if state is not None:
            raise Invalid(_R.INCONSISTENT_LDU, "data_processing_options_state")
        return None, None, None
    if not isinstance(options, (list, tuple)):
        raise Invalid(_R.INVALID_LDU, "data_processing_options")
    for option in options:
        if option != LDU:
            raise Invalid(_R.INVALID_LDU, "data_processing_options")
    if not options:
        if country is not None:
            raise Invalid(_R.INCONSISTENT_LDU, "data_processing_options_country")
        if state is not None:
            raise Invalid(_R.INCONSISTENT_LDU, "data_processing_options_state")
        return [], None, None
    if country is None:
        raise Invalid(_R.INCONSISTENT_LDU, "data_processing_options_country")
    country_code = _integer(country, "data_processing_options_country", _R.INVALID_LDU)
    if country_code not in LDU_COUNTRY_CODES:
        raise Invalid(_R.INVALID_LDU, "data_processing_options_country")
    if state is None:
        if not has_ip:
            raise Invalid(_R.INCONSISTENT_LDU, "data_processing_options_state")
        return [LDU], country_code, None
    state_code = _integer(state, "data_processing_options_state", _R.INVALID_LDU)
    if state_code not in LDU_STATE_CODES:
        raise Invalid(_R.INVALID_LDU, "data_processing_options_state")
    return [LDU], country_code, state_code


# ---------------------------------------------------------------- cross-field requirements


def check_website(event: Mapping[str, Any], user_data: Mapping[str, Any]) -> None:
    """website events need event_source_url and client_user_agent."""
    if "event_source_url" not in event:
        raise Invalid(_R.MISSING_EVENT_SOURCE_URL, "event_source_url")
    if "client_user_agent" not in user_data:
        raise Invalid(_R.MISSING_CLIENT_USER_AGENT, "user_data.client_user_agent")


def check_app(event: Mapping[str, Any]) -> None:
    """app events need app_data with advertiser_tracking_enabled and extinfo."""
    data = event.get("app_data")
    if data is None:
        raise Invalid(_R.MISSING_APP_DATA, "app_data")
    if "advertiser_tracking_enabled" not in data:
        raise Invalid(
            _R.MISSING_ADVERTISER_TRACKING_ENABLED, "app_data.advertiser_tracking_enabled"
        )
    if "extinfo" not in data:
        raise Invalid(_R.INVALID_EXTINFO, "app_data.extinfo")


def check_messaging(event: Mapping[str, Any], user_data: Mapping[str, Any]) -> None:
    """business_messaging events need messaging_channel; WhatsApp ones the click-to-WhatsApp
    click id too (Meta requires ctwa_clid for WhatsApp messaging events)."""
    channel = event.get("messaging_channel")
    if channel is None:
        raise Invalid(_R.MISSING_MESSAGING_CHANNEL, "messaging_channel")
    if channel == "whatsapp" and not user_data.get("ctwa_clid"):
        raise Invalid(_R.MISSING_CTWA_CLID, "user_data.ctwa_clid")


def check_purchase(event: Mapping[str, Any]) -> None:
    """Purchase needs custom_data.value and custom_data.currency."""
    data = event.get("custom_data") or {}
    if "value" not in data:
        raise Invalid(_R.MISSING_VALUE, "custom_data.value")
    if "currency" not in data:
        raise Invalid(_R.MISSING_CURRENCY, "custom_data.currency")


def check_customer_information(user_data: Mapping[str, Any], country_defaulted: bool) -> None:
    """At least one match key, and not only one of Meta's refused combinations.

    A country added from the dataset default does not count as customer information.
    """
    keys = user_data.keys()
    informative = len(keys) - (country_defaulted and "country" in keys)
    if informative <= 0:
        raise Invalid(_R.NO_CUSTOMER_INFORMATION, "user_data")
    if len(keys) > _LARGEST_REFUSED_SET:
        return
    for refused in REFUSED_MATCH_KEY_SETS:
        if keys <= refused:
            raise Invalid(_R.INSUFFICIENT_CUSTOMER_INFORMATION, "user_data")
