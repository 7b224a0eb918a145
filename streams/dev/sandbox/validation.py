"""Meta's rules for the events of one request (server event, customer
information and custom data parameters, and the limits): the first violation, or None.

Whole-batch semantics: one invalid event fails the request; the caller records nothing then.
Rules, in the order they are checked for each event:

* the event is an object with only known keys (else 100 "Unexpected key");
* `event_name` (non-empty string), `event_time` (int; floats, strings, bools are 100),
  `action_source` (one of the 9 values) and `user_data` (object) are present (else 2804019);
* `event_time` is at most 7 days old, 62 for `physical_store` (else 2804003) and at most 60 s in
  the future (else 2804004, the sandbox's choice);
* `user_data`: only known keys (else 100); hashed keys (em ph fn ln db ge ct st zp country, the
  legacy f5first f5last fi dobd dobm doby, app_user_id) are lowercase 64-hex, or the Parameter
  Builder shape `<64 hex>.<2 or 8 base64url chars>`, as a string or a list of strings (else
  2804016); external_id is raw or hashed; fbc is `fb.<digit>.<13 digits>.<fbclid>` (else
  2804001); fbp has the same shape (else 100); client_ip_address is an IP address, optionally
  with a Parameter Builder suffix (else 100);
* website events carry `event_source_url` (http/https) and `user_data.client_user_agent`; app
  events `app_data.advertiser_tracking_enabled` and a 16-entry `app_data.extinfo` whose entry 0
  is `a2` or `i2`; business_messaging events a `messaging_channel` (messenger, whatsapp,
  instagram), WhatsApp ones also `user_data.ctwa_clid`; with `data_processing_options: ["LDU"]`
  the country is required, the state too when there is no IP (missing: 2804019, malformed: 100);
* customer information that is only a subset of one of the combinations Meta refuses
  (ct+country+st+zp+ge+client_user_agent, db+client_user_agent, fn+ge, ln+ge), or none: 2804050;
* Purchase events have `custom_data.value` (a number) and `custom_data.currency` (three
  letters, any case) (else 2804009); on other events a present value/currency must be valid
  too (else 100).
"""

from __future__ import annotations

import re
from socket import AF_INET, AF_INET6, inet_pton
from typing import cast

from streams.dev.sandbox.errors import (
    SUBCODE_BAD_FBC,
    SUBCODE_FUTURE_TIME,
    SUBCODE_INSUFFICIENT_MATCHING,
    SUBCODE_NOT_HASHED,
    SUBCODE_PURCHASE_VALUE,
    SUBCODE_REQUIRED,
    SUBCODE_TOO_OLD,
    GraphError,
    capi_error,
    invalid_param,
)

__all__ = [
    "ACTION_SOURCES",
    "FUTURE_SKEW_S",
    "MAX_AGE_S",
    "MAX_AGE_STORE_S",
    "is_hashed",
    "validate_events",
]

_DAY = 86_400
MAX_AGE_S = 7 * _DAY
MAX_AGE_STORE_S = 62 * _DAY
FUTURE_SKEW_S = 60

ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
_EVENT_KEYS = frozenset(
    {
        "event_name",
        "event_time",
        "user_data",
        "action_source",
        "event_source_url",
        "custom_data",
        "opt_out",
        "event_id",
        "data_processing_options",
        "data_processing_options_country",
        "data_processing_options_state",
        "referrer_url",
        "customer_segmentation",
        "app_data",
        "original_event_data",
        "attribution_data",
        "messaging_channel",
        "advanced_measurement_table",
    }
)
# Optional keys checked only when present; the required ones are checked inline.
_OPTIONAL_KEYS = _EVENT_KEYS - {
    "event_name",
    "event_time",
    "user_data",
    "action_source",
    "custom_data",
    "event_id",
    "event_source_url",
}
_SEGMENTS = frozenset(
    {
        "new_customer_to_business",
        "new_customer_to_business_line",
        "new_customer_to_product_area",
        "new_customer_to_medium",
        "existing_customer_to_business",
        "existing_customer_to_business_line",
        "existing_customer_to_product_area",
        "existing_customer_to_medium",
        "customer_in_loyalty_program",
    }
)
_CHANNELS = ("messenger", "whatsapp", "instagram")
_LDU_STATES = frozenset({0, *range(1000, 1014)})

# user_data value kinds
_HASHED, _EXTERNAL, _TEXT, _IP, _FBC, _FBP, _INT_ID, _ID = range(8)
_UD_KIND: dict[str, int] = {
    **dict.fromkeys(
        (
            "em",
            "ph",
            "fn",
            "ln",
            "db",
            "ge",
            "ct",
            "st",
            "zp",
            "country",
            "f5first",
            "f5last",
            "fi",
            "dobd",
            "dobm",
            "doby",
            "app_user_id",
        ),
        _HASHED,
    ),
    "external_id": _EXTERNAL,
    "client_user_agent": _TEXT,
    "client_ip_address": _IP,
    "fbc": _FBC,
    "fbp": _FBP,
    "fb_login_id": _INT_ID,
    "lead_id": _INT_ID,
    **dict.fromkeys(
        (
            "subscription_id",
            "anon_id",
            "madid",
            "page_id",
            "page_scoped_user_id",
            "ctwa_clid",
            "ig_account_id",
            "ig_sid",
            "whatsapp_business_account_id",
            "instagram_business_account_id",
            "partner_id",
            "partner_name",
        ),
        _ID,
    ),
}
_REFUSED_COMBOS = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
_MAX_COMBO = max(len(c) for c in _REFUSED_COMBOS)

_HASHED_RE = re.compile(r"[0-9a-f]{64}(?:\.[A-Za-z0-9_-]{2}|\.[A-Za-z0-9_-]{8})?")
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_match_hashed = _HASHED_RE.fullmatch
_COOKIE_RE = re.compile(r"fb\.[0-9]\.[0-9]{13}\.[^\s]+")


def is_hashed(value: str) -> bool:
    """Lowercase SHA-256 hex, optionally with a Parameter Builder appendix (.xx or .xxxxxxxx)."""
    return _HASHED_RE.fullmatch(value) is not None


def _parse_ip(value: str) -> bool:
    try:
        inet_pton(AF_INET6 if ":" in value else AF_INET, value)
    except (OSError, ValueError):
        return False
    return True


def _is_ip(value: str) -> bool:
    """An IPv4/IPv6 address, optionally with a Parameter Builder appendix."""
    if _parse_ip(value):
        return True
    head, dot, tail = value.rpartition(".")
    return bool(dot) and len(tail) in (2, 8) and not tail.strip(_B64URL) and _parse_ip(head)


def _short(key: object) -> str:
    text = str(key)
    return text if len(text) <= 64 else text[:61] + "..."


def _required(i: int, path: str) -> GraphError:
    return capi_error(SUBCODE_REQUIRED, f"data[{i}].{path}", f"{path} is required")


def _bad(i: int, path: str, what: str) -> GraphError:
    bracketed = "][".join(path.split("."))
    return invalid_param(f"param data[{i}][{bracketed}] {what}", blame=f"data[{i}].{path}")


def validate_events(data: list[object], now: float) -> GraphError | None:
    """Check every event of a request; `now` is Unix seconds. Returns the first error."""
    now_i = int(now)
    oldest = now_i - MAX_AGE_S
    oldest_store = now_i - MAX_AGE_STORE_S
    newest = now_i + FUTURE_SKEW_S
    for i, ev in enumerate(data):
        if type(ev) is not dict:
            return invalid_param(f"param data[{i}] must be an object", blame=f"data[{i}]")
        err = _check_event(ev, i, oldest, oldest_store, newest)
        if err is not None:
            return err
    return None


def _check_event(
    ev: dict[str, object], i: int, oldest: int, oldest_store: int, newest: int
) -> GraphError | None:
    err = _check_required(ev, i, oldest, oldest_store, newest)
    if err is not None:
        return err
    ud = cast(dict[str, object], ev["user_data"])
    err = _check_user_data(ud, i) or _check_by_source(ev, ud, i)
    if err is not None:
        return err
    event_id = ev.get("event_id")
    if event_id is not None and not ((type(event_id) is str and event_id) or type(event_id) is int):
        return _bad(i, "event_id", "must be a non-empty string")
    if not ev.keys().isdisjoint(_OPTIONAL_KEYS):
        err = _check_optional(ev, ud, i)
        if err is not None:
            return err

    # Minimum matching (Meta refuses events matched only by weak key combinations), checked
    # after every key is known to be well-formed.
    if len(ud) <= _MAX_COMBO or [] in ud.values():
        present = {k for k, v in ud.items() if v != []}
        if len(present) <= _MAX_COMBO and (
            not present or any(present <= combo for combo in _REFUSED_COMBOS)
        ):
            return capi_error(SUBCODE_INSUFFICIENT_MATCHING, f"data[{i}].user_data")

    name = ev["event_name"]
    cd = ev.get("custom_data")
    if cd is None:
        if name == "Purchase":
            return capi_error(SUBCODE_PURCHASE_VALUE, f"data[{i}].custom_data", "no custom_data")
        return None
    if type(cd) is not dict:
        return _bad(i, "custom_data", "must be an object")
    return _check_custom_data(cd, i, name == "Purchase")


def _check_required(
    ev: dict[str, object], i: int, oldest: int, oldest_store: int, newest: int
) -> GraphError | None:
    """Known keys only; event_name, event_time (within Meta's window), action_source and
    user_data present and well-typed."""
    if not ev.keys() <= _EVENT_KEYS:
        key = next(k for k in ev if k not in _EVENT_KEYS)
        return invalid_param(
            f'Unexpected key "{_short(key)}" on param "data[{i}]"', blame=f"data[{i}]"
        )
    name = ev.get("event_name")
    if name is None:
        return _required(i, "event_name")
    if type(name) is not str or not name.strip():
        return _bad(i, "event_name", "must be a non-empty string")
    t = ev.get("event_time")
    if t is None:
        return _required(i, "event_time")
    if type(t) is not int:
        return _bad(i, "event_time", "must be an integer (Unix time in seconds)")
    src = ev.get("action_source")
    if src is None:
        return _required(i, "action_source")
    if type(src) is not str or src not in ACTION_SOURCES:
        return _bad(
            i, "action_source", "must be one of {" + ", ".join(sorted(ACTION_SOURCES)) + "}"
        )
    if t < oldest and (t < oldest_store or src != "physical_store"):
        return capi_error(SUBCODE_TOO_OLD, f"data[{i}].event_time")
    if t > newest:
        return capi_error(SUBCODE_FUTURE_TIME, f"data[{i}].event_time")
    ud = ev.get("user_data")
    if ud is None:
        return _required(i, "user_data")
    if type(ud) is not dict:
        return _bad(i, "user_data", "must be an object")
    return None


def _check_by_source(ev: dict[str, object], ud: dict[str, object], i: int) -> GraphError | None:
    """The URL, and what each action_source requires."""
    src = ev["action_source"]
    url = ev.get("event_source_url")
    if url is not None and (type(url) is not str or not url.startswith(("http://", "https://"))):
        return _bad(i, "event_source_url", "must be an http(s) URL")
    if src == "website":
        if url is None:
            return _required(i, "event_source_url")
        if "client_user_agent" not in ud:
            return _required(i, "user_data.client_user_agent")
    elif src == "app":
        err = _check_app_data(ev.get("app_data"), i)
        if err is not None:
            return err
    elif src == "business_messaging":
        channel = ev.get("messaging_channel")
        if channel is None:
            return _required(i, "messaging_channel")
        if channel == "whatsapp" and not ud.get("ctwa_clid"):
            return _required(i, "user_data.ctwa_clid")
    return None


def _check_user_data(ud: dict[str, object], i: int) -> GraphError | None:
    for key, value in ud.items():
        kind = _UD_KIND.get(key)
        if kind is None:
            return invalid_param(
                f'Unexpected key "{_short(key)}" on param "data[{i}][user_data]"',
                blame=f"data[{i}].user_data",
            )
        if kind == _HASHED:
            if type(value) is str:
                if _match_hashed(value) is None:
                    if not value:
                        return _bad(i, f"user_data.{key}", "must not be empty")
                    return capi_error(SUBCODE_NOT_HASHED, f"data[{i}].user_data.{key}", key)
            elif type(value) is list:
                for item in value:
                    if type(item) is not str or not item:
                        return _bad(i, f"user_data.{key}", "must be a list of non-empty strings")
                    if _match_hashed(item) is None:
                        return capi_error(SUBCODE_NOT_HASHED, f"data[{i}].user_data.{key}", key)
            else:
                return _bad(i, f"user_data.{key}", "must be a string or a list of strings")
        elif kind in (_TEXT, _EXTERNAL):
            if type(value) is str:
                if not value.strip():
                    return _bad(i, f"user_data.{key}", "must not be empty")
            elif kind == _EXTERNAL and type(value) is list:
                for item in value:
                    if type(item) is not str or not item.strip():
                        return _bad(i, f"user_data.{key}", "must be a list of non-empty strings")
            else:
                return _bad(i, f"user_data.{key}", "must be a string")
        elif kind == _FBC:
            if type(value) is not str or _COOKIE_RE.fullmatch(value) is None:
                return capi_error(SUBCODE_BAD_FBC, f"data[{i}].user_data.fbc")
        elif kind == _FBP:
            if type(value) is not str or _COOKIE_RE.fullmatch(value) is None:
                return _bad(i, "user_data.fbp", "must look like fb.<digit>.<ms timestamp>.<id>")
        elif kind == _IP:
            if type(value) is not str or not _is_ip(value):
                return _bad(i, "user_data.client_ip_address", "must be an IPv4 or IPv6 address")
        elif kind == _INT_ID:
            if not (
                (type(value) is int and value > 0)
                or (type(value) is str and value.isascii() and value.isdigit())
            ):
                return _bad(i, f"user_data.{key}", "must be an integer id")
        elif not ((type(value) is str and value.strip()) or type(value) is int):
            return _bad(i, f"user_data.{key}", "must be a non-empty string")
    return None


def _check_app_data(app_data: object, i: int) -> GraphError | None:
    if app_data is None:
        return _required(i, "app_data")
    if type(app_data) is not dict:
        return _bad(i, "app_data", "must be an object")
    ate = app_data.get("advertiser_tracking_enabled")
    if ate is None:
        return _required(i, "app_data.advertiser_tracking_enabled")
    if type(ate) not in (bool, int) or ate not in (0, 1):
        return _bad(i, "app_data.advertiser_tracking_enabled", "must be a boolean or 0/1")
    extinfo = app_data.get("extinfo")
    if extinfo is None:
        return _required(i, "app_data.extinfo")
    if type(extinfo) is not list or len(extinfo) != 16:
        return _bad(i, "app_data.extinfo", "must be an array of 16 entries")
    if extinfo[0] not in ("a2", "i2"):
        return _bad(i, "app_data.extinfo", "entry 0 must be 'a2' or 'i2'")
    if not all(e is None or type(e) in (str, int, float) for e in extinfo):
        return _bad(i, "app_data.extinfo", "entries must be strings or numbers")
    return None


def _check_optional(ev: dict[str, object], ud: dict[str, object], i: int) -> GraphError | None:
    opt_out = ev.get("opt_out")
    if opt_out is not None and type(opt_out) is not bool:
        return _bad(i, "opt_out", "must be a boolean")
    for key in ("referrer_url", "advanced_measurement_table"):
        value = ev.get(key)
        if value is not None and type(value) is not str:
            return _bad(i, key, "must be a string")
    for key in ("app_data", "original_event_data", "attribution_data"):
        value = ev.get(key)
        if value is not None and type(value) is not dict:
            return _bad(i, key, "must be an object")
    segment = ev.get("customer_segmentation")
    if segment is not None and (type(segment) is not str or segment not in _SEGMENTS):
        return _bad(i, "customer_segmentation", "is not a known segment")
    channel = ev.get("messaging_channel")
    if channel is not None and channel not in _CHANNELS:
        return _bad(i, "messaging_channel", "must be one of {messenger, whatsapp, instagram}")
    return _check_ldu(ev, ud, i)


def _check_ldu(ev: dict[str, object], ud: dict[str, object], i: int) -> GraphError | None:
    dpo = ev.get("data_processing_options")
    country = ev.get("data_processing_options_country")
    state = ev.get("data_processing_options_state")
    if dpo is not None and (type(dpo) is not list or any(x != "LDU" for x in dpo)):
        return _bad(i, "data_processing_options", 'must be [] or ["LDU"]')
    if country is not None and (type(country) is not int or country not in (0, 1)):
        return _bad(i, "data_processing_options_country", "must be 0 or 1")
    if state is not None and (type(state) is not int or state not in _LDU_STATES):
        return _bad(i, "data_processing_options_state", "is not a known state code")
    if dpo:
        if country is None:
            return _required(i, "data_processing_options_country")
        if state is None and "client_ip_address" not in ud:
            return _required(i, "data_processing_options_state")
    return None


def _check_custom_data(cd: dict[str, object], i: int, purchase: bool) -> GraphError | None:
    value = cd.get("value")
    if value is None:
        if purchase:
            return capi_error(SUBCODE_PURCHASE_VALUE, f"data[{i}].custom_data.value", "no value")
    elif type(value) not in (int, float):
        if purchase:
            return capi_error(
                SUBCODE_PURCHASE_VALUE, f"data[{i}].custom_data.value", "value is not a number"
            )
        return _bad(i, "custom_data.value", "must be a number")
    currency = cd.get("currency")
    if currency is None:
        if purchase:
            return capi_error(
                SUBCODE_PURCHASE_VALUE, f"data[{i}].custom_data.currency", "no currency"
            )
    elif not (
        type(currency) is str and len(currency) == 3 and currency.isascii() and currency.isalpha()
    ):
        if purchase:
            return capi_error(
                SUBCODE_PURCHASE_VALUE, f"data[{i}].custom_data.currency", "invalid currency"
            )
        return _bad(i, "custom_data.currency", "must be a three-letter ISO 4217 code")
    contents = cd.get("contents")
    if contents is not None and not (
        type(contents) is list
        and all(type(c) is dict and type(c.get("id")) in (str, int) for c in contents)
    ):
        return _bad(i, "custom_data.contents", "must be a list of objects with an id")
    content_ids = cd.get("content_ids")
    if content_ids is not None and not (
        type(content_ids) is list and all(type(c) in (str, int) for c in content_ids)
    ):
        return _bad(i, "custom_data.content_ids", "must be a list of strings")
    return None
