"""GA4 Measurement Protocol payloads -> native events (one per entry of `events`).

* event_name: `events[].name` through the topic's `event_names`, the map below (the GA4
  recommended events Meta's own server-side GTM tag maps), then Meta's standard names;
  other names per the topic's `unknown_event` policy.
* event_time: `events[].timestamp_micros`, else the payload's `timestamp_micros`, else the
  Kafka record time (the Measurement Protocol's "time of the request").
* event_id: the `event_id` parameter when given (the usual Pixel dedup key); otherwise the
  transform derives one from the content, and events of a multi-event payload carry their
  index (`source_index`) so that their ids differ.
* action_source: the topic option, else website for web streams (`client_id`); Firebase
  streams (`app_instance_id`) carry no app_data, so they are left to the dataset default.
* user_data: `user_id` -> external_id; `user_data` (user-provided data): the SHA-256 values
  are passed through as already hashed, the address's city/region/postal_code/country are
  normalized and hashed; gtag-style plain keys (`email`, `phone_number`, `address.first_name`
  ...) are accepted too; `user_location` fills city/region/country when the address has none;
  `ip_override` -> client_ip_address; top-level `user_agent` (a server-side extension) ->
  client_user_agent. Note: Google normalizes before hashing differently from Meta (phone
  with `+`, dots removed from Gmail addresses), so such hashes may not match at Meta.
* custom_data: value, currency (or the topic default), transaction_id -> order_id,
  search_term -> search_string, items -> contents/content_ids/num_items; page_location and
  page_referrer become event_source_url/referrer_url; GA session bookkeeping
  (session_id, engagement_time_msec, debug_mode) is dropped; other parameters are kept.
* A payload whose `consent.ad_user_data` is DENIED is unmapped (`consent_denied`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from streams.domain.formats.result import (
    SOURCE_INDEX_KEY,
    FormatOptions,
    MapResult,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
    event_key,
)
from streams.domain.formats.values import (
    content_items,
    first_text,
    integer,
    lookup_event,
    number,
    put,
    text,
)

__all__ = ["GA4_EVENTS", "looks_like_ga4", "map_ga4"]

GA4_EVENTS: Final[Mapping[str, str]] = {
    event_key(source): target
    for source, target in {
        "purchase": "Purchase",
        "add_to_cart": "AddToCart",
        "begin_checkout": "InitiateCheckout",
        "view_item": "ViewContent",
        "search": "Search",
        "view_search_results": "Search",
        "sign_up": "CompleteRegistration",
        "generate_lead": "Lead",
        "add_payment_info": "AddPaymentInfo",
        "add_to_wishlist": "AddToWishlist",
        "page_view": "PageView",
    }.items()
}
"""GA4 event name (lookup key) -> Meta standard event."""

_SESSION_PARAMS: Final = frozenset({"session_id", "engagement_time_msec", "debug_mode"})
_USED_PARAMS: Final = frozenset(
    {
        "value",
        "currency",
        "transaction_id",
        "search_term",
        "items",
        "page_location",
        "page_referrer",
        "event_id",
    }
)
_MICROS: Final = 1_000_000


def looks_like_ga4(obj: Mapping[str, Any]) -> bool:
    """An `events` list with a GA4 client identity (`client_id` or `app_instance_id`)."""
    return isinstance(obj.get("events"), list) and ("client_id" in obj or "app_instance_id" in obj)


def map_ga4(obj: Mapping[str, Any], options: FormatOptions, received_at: float | None) -> MapResult:
    """Native events for one Measurement Protocol payload."""
    events = obj.get("events")
    if not isinstance(events, list):
        return _whole(options, UnmappableReason.FORMAT_MISMATCH, "events")
    if not events:
        return _whole(options, UnmappableReason.MISSING_SOURCE_EVENT, "events")
    consent = obj.get("consent")
    if isinstance(consent, Mapping):
        granted = consent.get("ad_user_data")
        if isinstance(granted, str) and granted.strip().upper() == "DENIED":
            return _whole(options, UnmappableReason.CONSENT_DENIED, "consent.ad_user_data")
    user = _user_data(obj, options)
    source = options.action_source
    if source is None:
        source = "website" if "client_id" in obj else None
    payload_time = obj.get("timestamp_micros")
    several = len(events) > 1
    out: list[dict[str, Any]] = []
    unmapped: list[Unmapped] = []
    for index, item in enumerate(events):
        where = f"events.{index}"
        if not isinstance(item, Mapping):
            unmapped.append(options.unmapped(UnmappableReason.FORMAT_MISMATCH, where, index))
            continue
        raw_name = text(item.get("name"))
        if raw_name is None:
            unmapped.append(
                options.unmapped(UnmappableReason.MISSING_SOURCE_EVENT, where + ".name", index)
            )
            continue
        name = lookup_event(raw_name, options.event_names, GA4_EVENTS)
        if name is None:
            note = options.unknown(where + ".name", index)
            unmapped.append(note)
            if note.action is not UnmappedAction.CUSTOM:
                continue
            name = raw_name
        params = item.get("params")
        params = params if isinstance(params, Mapping) else {}
        event: dict[str, Any] = {"event_name": name}
        stamp = item.get("timestamp_micros")
        put(event, "event_time", _seconds(stamp if stamp is not None else payload_time))
        if "event_time" not in event:
            put(event, "event_time", received_at)
        put(event, "event_id", text(params.get("event_id")))
        put(event, "action_source", source)
        put(event, "event_source_url", text(params.get("page_location")))
        put(event, "referrer_url", text(params.get("page_referrer")))
        event["user_data"] = dict(user)
        put(event, "custom_data", _custom_data(params, options) or None)
        if several and "event_id" not in event:
            event[SOURCE_INDEX_KEY] = index
        out.append(event)
    return MapResult(tuple(out), tuple(unmapped), "ga4")


def _whole(options: FormatOptions, reason: UnmappableReason, field: str) -> MapResult:
    return MapResult((), (options.unmapped(reason, field),), "ga4")


def _seconds(micros: object) -> object:
    """Whole Unix seconds from microseconds; an unreadable value is returned as it is."""
    if micros is None or micros == "":
        return None
    found = number(micros)
    if found is None or found < 0:
        return micros  # the transform rejects it as an invalid event_time
    return int(found // _MICROS)


def _values(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _user_data(obj: Mapping[str, Any], options: FormatOptions) -> dict[str, Any]:
    provided = obj.get("user_data")
    provided = provided if isinstance(provided, Mapping) else {}
    user: dict[str, Any] = {}
    put(
        user,
        "em",
        [
            *_values(provided.get("sha256_email_address")),
            *_values(provided.get("email_address")),
            *_values(provided.get("email")),
        ],
    )
    put(
        user,
        "ph",
        [*_values(provided.get("sha256_phone_number")), *_values(provided.get("phone_number"))],
    )
    keys = {
        "fn": ("sha256_first_name", "first_name"),
        "ln": ("sha256_last_name", "last_name"),
        "ct": ("city",),
        "st": ("region",),
        "zp": ("postal_code",),
        "country": ("country",),
    }
    for address in _values(provided.get("address")):
        if isinstance(address, Mapping):
            for target, sources in keys.items():
                for source in sources:
                    found = text(address.get(source))
                    if found is not None:
                        user.setdefault(target, []).append(found)
    location = obj.get("user_location")
    if isinstance(location, Mapping):
        region = text(location.get("region_id"))  # ISO 3166-2, e.g. US-CA
        fallback = {
            "ct": text(location.get("city")),
            "st": region.split("-", 1)[1] if region and "-" in region else None,
            "country": text(location.get("country_id")),
        }
        for target, found in fallback.items():
            if target not in user:
                put(user, target, found)
    external = text(obj.get("user_id"))
    use_anonymous = options.anonymous_id is True
    if external is None and use_anonymous:
        external = first_text(obj.get("client_id"), obj.get("app_instance_id"))
    put(user, "external_id", external)
    put(user, "client_ip_address", text(obj.get("ip_override")))
    put(user, "client_user_agent", text(obj.get("user_agent")))
    return user


def _custom_data(params: Mapping[str, Any], options: FormatOptions) -> dict[str, Any]:
    out = {
        key: value
        for key, value in params.items()
        if isinstance(key, str)
        and key not in _USED_PARAMS
        and key not in _SESSION_PARAMS
        and value is not None
    }
    raw_value = params.get("value")
    value = number(raw_value)
    put(out, "value", value if value is not None else raw_value)  # unreadable: rejected later
    currency = text(params.get("currency"))
    if currency is None and value is not None:
        currency = options.default_currency
    put(out, "currency", currency)
    put(out, "order_id", text(params.get("transaction_id")))
    put(out, "search_string", text(params.get("search_term")))
    items = params.get("items")
    if isinstance(items, list):
        contents, ids, count = content_items(
            items,
            ("item_id",),
            title_key="item_name",
            brand_key="item_brand",
            category_key="item_category",
        )
        if contents:
            out.update(contents=contents, content_ids=ids, num_items=count)
            out.setdefault("content_type", "product")
    if integer(out.get("num_items")) == 0:
        out.pop("num_items")
    return out
