"""Segment spec and RudderStack event spec messages -> native events.

A message is one `track`, `page` or `screen` call (or an HTTP API `{"batch": [...]}` of them).
`identify`, `group` and `alias` carry traits but no action: they are unmapped (`no_action`).

* event_name: page and screen -> PageView; track `event` through the topic's `event_names`,
  the e-commerce / B2B map below, then Meta's standard names; other names per the topic's
  `unknown_event` policy (custom: sent under their own name).
* event_id: `properties.event_id`, `traits.event_id`, `context.traits.event_id`, `messageId`.
* event_time: `timestamp`, `originalTimestamp`, `receivedAt`, else the Kafka record time.
* action_source: `properties/traits.action_source`, the topic option, then app (screen calls,
  `context.app`/mobile device, RudderStack `channel: mobile`) or website (page calls,
  `context.page.url`, RudderStack `channel: web`), else left to the dataset default.
* user_data: traits (top level, then `context.traits`, then PII-named properties): email,
  phone, first/last name (or a split `name`), gender, birthday (date part), address;
  `userId` (or traits `userId`/`id`) -> external_id; `context.ip`, `context.userAgent`;
  fbp/fbc from properties or context (also `_fbp`/`_fbc` and `context.cookies`); madid for
  app events unless ad tracking is off. fbclid from `context.campaign`, properties or the
  page URL/query.
* custom_data: value from revenue, total, value (or price x quantity for one product),
  currency (or the topic default when a value exists), products -> contents/content_ids/
  num_items, a single product -> contents/content_ids/content_name/content_category,
  order_id, query -> search_string; every other property is kept as a custom property,
  except personal data and the keys used above.
* app events: app_data with advertiser_tracking_enabled and the 16-entry extinfo built from
  `context.app/os/device/screen/network`.

RudderStack differences handled: `request_ip` when `context.ip` is absent, `anonymousId` as
external_id fallback (its destination's default), event names matched case-insensitively,
`channel` for app/website, `context.dataProcessingOptions` = `["LDU", country, state]`,
`context.geo` (IP-based) for the place only when no trait gives one.
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
    nested,
    number,
    put,
    query_param,
    split_full_name,
    text,
)

__all__ = ["SEGMENT_EVENTS", "looks_like_rudderstack", "looks_like_segment", "map_segment"]

SEGMENT_EVENTS: Final[Mapping[str, str]] = {
    event_key(source): target
    for source, target in {
        # E-commerce spec v2
        "Order Completed": "Purchase",
        "Product Added": "AddToCart",
        "Checkout Started": "InitiateCheckout",
        "Product Viewed": "ViewContent",
        "Product List Viewed": "ViewContent",
        "Products Searched": "Search",
        "Payment Info Entered": "AddPaymentInfo",
        "Product Added to Wishlist": "AddToWishlist",
        # E-commerce spec v1 names still sent by older integrations
        "Completed Order": "Purchase",
        "Added Product": "AddToCart",
        "Viewed Product": "ViewContent",
        # B2B SaaS spec
        "Signed Up": "CompleteRegistration",
        "Trial Started": "StartTrial",
        # Lead capture
        "Lead Generated": "Lead",
        "Form Submitted": "Lead",
    }.items()
}
"""Segment/RudderStack event name (lookup key) -> Meta standard event."""

_TYPES: Final = frozenset({"track", "page", "screen", "identify", "group", "alias"})
_NO_ACTION: Final = frozenset({"identify", "group", "alias"})
_APP_OS: Final[Mapping[str, str]] = {
    "ios": "i2",
    "ipados": "i2",
    "tvos": "i2",
    "watchos": "i2",
    "android": "a2",
}
_ZERO_AD_ID: Final = "00000000-0000-0000-0000-000000000000"

# Property keys never copied into custom_data: personal data, and keys consumed elsewhere.
_PII_PROPS: Final = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "firstName",
        "firstname",
        "last_name",
        "lastName",
        "lastname",
        "birthday",
        "gender",
        "address",
        "ip",
        "userAgent",
        "user_agent",
    }
)
_META_PROPS: Final = frozenset(
    {"event_id", "action_source", "opt_out", "fbp", "fbc", "_fbp", "_fbc", "fbclid"}
)
_PAGE_PROPS: Final = frozenset({"url", "referrer", "search", "path"})
_PRODUCT_PROPS: Final = frozenset(
    {"product_id", "sku", "price", "quantity", "name", "category", "brand"}
)
_VALUE_KEYS: Final = ("revenue", "total", "value")
_FIRST_NAME: Final = ("firstName", "first_name", "firstname")
_LAST_NAME: Final = ("lastName", "last_name", "lastname")
_ZIP: Final = ("postalCode", "postal_code", "zip", "zipcode", "zip_code")


def map_segment(
    obj: Mapping[str, Any],
    options: FormatOptions,
    received_at: float | None,
    *,
    rudderstack: bool = False,
) -> MapResult:
    """Native events for one Segment (or, with `rudderstack`, RudderStack) message or batch."""
    fmt = "rudderstack" if rudderstack else "segment"
    batch = obj.get("batch")
    if "type" not in obj and isinstance(batch, list):
        if not batch:
            return MapResult(
                (), (options.unmapped(UnmappableReason.MISSING_SOURCE_EVENT, "batch"),), fmt
            )
        shared = obj.get("context")
        events: list[dict[str, Any]] = []
        unmapped: list[Unmapped] = []
        for index, item in enumerate(batch):
            if not isinstance(item, Mapping):
                unmapped.append(
                    options.unmapped(UnmappableReason.FORMAT_MISMATCH, f"batch.{index}", index)
                )
                continue
            if isinstance(shared, Mapping):
                own = item.get("context")
                merged = {**shared, **own} if isinstance(own, Mapping) else shared
                item = {**item, "context": merged}
            event, note = _one(item, options, received_at, rudderstack, index, f"batch.{index}.")
            if event is not None:
                if "event_id" not in event:
                    event[SOURCE_INDEX_KEY] = index
                events.append(event)
            if note is not None:
                unmapped.append(note)
        return MapResult(tuple(events), tuple(unmapped), fmt)
    event, note = _one(obj, options, received_at, rudderstack, None, "")
    return MapResult(
        (event,) if event is not None else (), (note,) if note is not None else (), fmt
    )


def looks_like_segment(obj: Mapping[str, Any]) -> bool:
    """A Segment-spec call (type + an id field) or an HTTP API batch of them."""
    kind = obj.get("type")
    if isinstance(kind, str):
        return kind.strip().lower() in _TYPES and any(
            key in obj for key in ("messageId", "anonymousId", "userId")
        )
    batch = obj.get("batch")
    return (
        isinstance(batch, list)
        and bool(batch)
        and all(isinstance(item, Mapping) and looks_like_segment(item) for item in batch)
    )


def looks_like_rudderstack(obj: Mapping[str, Any]) -> bool:
    """A Segment-shaped message carrying RudderStack's own markers."""
    target: object = obj
    batch = obj.get("batch")
    if "type" not in obj and isinstance(batch, list) and batch:
        target = batch[0]
    if not isinstance(target, Mapping):
        return False
    if "rudderId" in target or "request_ip" in target or "channel" in target:
        return True
    library = nested(target, "context", "library", "name")
    return isinstance(library, str) and "rudder" in library.lower()


def _one(
    msg: Mapping[str, Any],
    options: FormatOptions,
    received_at: float | None,
    rudder: bool,
    index: int | None,
    prefix: str,
) -> tuple[dict[str, Any] | None, Unmapped | None]:
    raw_kind = msg.get("type")
    kind = raw_kind.strip().lower() if isinstance(raw_kind, str) else None
    if kind not in _TYPES:
        return None, options.unmapped(UnmappableReason.FORMAT_MISMATCH, prefix + "type", index)
    if kind in _NO_ACTION:
        return None, options.unmapped(UnmappableReason.NO_ACTION, prefix + "type", index)
    note: Unmapped | None = None
    if kind == "track":
        source = text(msg.get("event"))
        if source is None:
            return None, options.unmapped(
                UnmappableReason.MISSING_SOURCE_EVENT, prefix + "event", index
            )
        name = lookup_event(source, options.event_names, SEGMENT_EVENTS)
        if name is None:
            note = options.unknown(prefix + "event", index)
            if note.action is not UnmappedAction.CUSTOM:
                return None, note
            name = source
    else:
        name = "PageView"
    return _event(msg, name, kind, options, received_at, rudder), note


_EMPTY: Final[Mapping[str, Any]] = {}


def _mapping(value: object) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    return value if isinstance(value, Mapping) else _EMPTY


def _event(
    msg: Mapping[str, Any],
    name: str,
    kind: str,
    options: FormatOptions,
    received_at: float | None,
    rudder: bool,
) -> dict[str, Any]:
    context = _mapping(msg.get("context"))
    props = _mapping(msg.get("properties"))
    traits = (_mapping(msg.get("traits")), _mapping(context.get("traits")))
    page = _mapping(context.get("page"))
    is_page = kind == "page"
    event: dict[str, Any] = {"event_name": name}
    put(event, "event_time", _event_time(msg, received_at))
    put(
        event,
        "event_id",
        first_text(
            props.get("event_id"),
            traits[0].get("event_id"),
            traits[1].get("event_id"),
            msg.get("messageId"),
        ),
    )
    source = _action_source(msg, kind, context, props, traits, options, rudder)
    put(event, "action_source", source)
    url = first_text(props.get("url") if is_page else None, page.get("url"))
    put(event, "event_source_url", url)
    put(
        event,
        "referrer_url",
        first_text(props.get("referrer") if is_page else None, page.get("referrer")),
    )
    event["user_data"] = _user_data(msg, context, props, traits, options, rudder, source == "app")
    put(event, "custom_data", _custom_data(props, is_page, options) or None)
    if source == "app":
        put(event, "app_data", _app_data(context) or None)
    opt_out = next(
        (v for v in (props.get("opt_out"), *(t.get("opt_out") for t in traits)) if v is not None),
        None,
    )
    put(event, "opt_out", opt_out)
    search = page.get("search")
    put(
        event,
        "fbclid",
        first_text(
            nested(context, "campaign", "fbclid"),
            props.get("fbclid"),
            query_param(search, "fbclid") if isinstance(search, str) else None,
        ),
    )
    if rudder:
        _rudder_ldu(event, context.get("dataProcessingOptions"))
    return event


def _event_time(msg: Mapping[str, Any], received_at: float | None) -> object:
    for key in ("timestamp", "originalTimestamp", "receivedAt"):
        value = msg.get(key)
        if value is not None and value != "":
            return value
    return received_at


def _action_source(
    msg: Mapping[str, Any],
    kind: str,
    context: Mapping[str, Any],
    props: Mapping[str, Any],
    traits: tuple[Mapping[str, Any], ...],
    options: FormatOptions,
    rudder: bool,
) -> str | None:
    explicit = first_text(props.get("action_source"), *(t.get("action_source") for t in traits))
    if explicit is not None:
        return explicit
    if options.action_source is not None:
        return options.action_source
    channel = text(msg.get("channel")) if rudder else None
    device_type = text(nested(context, "device", "type"))
    if (
        kind == "screen"
        or (isinstance(context.get("app"), Mapping) and bool(context["app"]))
        or (device_type is not None and device_type.lower() in _APP_OS)
        or channel == "mobile"
    ):
        return "app"
    if kind == "page" or nested(context, "page", "url") or channel == "web":
        return "website"
    return None


def _first(sources: tuple[Mapping[str, Any], ...], keys: tuple[str, ...]) -> str | None:
    for source in sources:
        if source:
            for key in keys:
                value = source.get(key)
                if value is not None and (found := text(value)) is not None:
                    return found
    return None


def _user_data(
    msg: Mapping[str, Any],
    context: Mapping[str, Any],
    props: Mapping[str, Any],
    traits: tuple[Mapping[str, Any], ...],
    options: FormatOptions,
    rudder: bool,
    app: bool,
) -> dict[str, Any]:
    people = (*traits, props)
    places: tuple[Mapping[str, Any], ...] = (
        _mapping(traits[0].get("address")),
        traits[0],
        _mapping(traits[1].get("address")),
        traits[1],
        _mapping(props.get("address")),
    )
    user: dict[str, Any] = {}
    put(user, "em", _first(people, ("email",)))
    put(user, "ph", _first(people, ("phone",)))
    first, last = _first(people, _FIRST_NAME), _first(people, _LAST_NAME)
    if first is None or last is None:
        split_first, split_last = split_full_name(_first(traits, ("name",)))
        first, last = first or split_first, last or split_last
    put(user, "fn", first)
    put(user, "ln", last)
    put(user, "ge", _first(people, ("gender",)))
    put(user, "db", _birthday(_first(people, ("birthday",))))
    for key, found in _location(places, context, rudder).items():
        put(user, key, found)
    external = first_text(
        msg.get("userId"),
        *(t.get(key) for t in traits for key in ("userId", "id")),
    )
    use_anonymous = options.anonymous_id if options.anonymous_id is not None else rudder
    if external is None and use_anonymous:
        external = text(msg.get("anonymousId"))
    put(user, "external_id", external)
    ip = text(context.get("ip"))
    if ip is None and rudder:
        ip = text(msg.get("request_ip"))
    put(user, "client_ip_address", ip)
    put(user, "client_user_agent", text(context.get("userAgent")))
    _browser_and_device(user, context, props, app)
    return user


def _location(
    places: tuple[Mapping[str, Any], ...], context: Mapping[str, Any], rudder: bool
) -> dict[str, str | None]:
    location = {
        "ct": _first(places, ("city",)),
        "st": _first(places, ("state",)),
        "zp": _first(places, _ZIP),
        "country": _first(places, ("country",)),
    }
    if rudder and not any(location.values()):
        geo = _mapping(context.get("geo"))  # IP-based: used only when no trait has a place
        location = {
            "ct": text(geo.get("city")),
            "st": text(geo.get("region")),
            "zp": text(geo.get("postal")),
            "country": text(geo.get("country")),
        }
    return location


def _browser_and_device(
    user: dict[str, Any], context: Mapping[str, Any], props: Mapping[str, Any], app: bool
) -> None:
    """The browser ids (fbp, fbc) and, for apps, the advertising id."""
    cookies = _mapping(context.get("cookies"))
    for key in ("fbp", "fbc"):
        put(
            user,
            key,
            first_text(
                props.get(key),
                props.get("_" + key),
                context.get(key),
                context.get("_" + key),
                cookies.get("_" + key),
            ),
        )
    if app and nested(context, "device", "adTrackingEnabled") is not False:
        ad_id = text(nested(context, "device", "advertisingId"))
        if ad_id is not None and ad_id != _ZERO_AD_ID:
            user["madid"] = ad_id


def _birthday(value: str | None) -> str | None:
    """The date part of an ISO-8601 date-time (`1990-05-04T00:00:00Z` -> `1990-05-04`)."""
    if value is not None and "T" in value and value[:1].isdigit():
        return value.split("T", 1)[0]
    return value


def _custom_data(props: Mapping[str, Any], is_page: bool, options: FormatOptions) -> dict[str, Any]:
    skip = set(_PII_PROPS | _META_PROPS | {"currency", "order_id", "query", "products"})
    if is_page:
        skip |= _PAGE_PROPS
    computed: dict[str, Any] = {}
    value: int | float | None = None
    for key in _VALUE_KEYS:
        value = number(props.get(key))
        if value is not None:
            skip.add(key)
            break
    products = props.get("products")
    if isinstance(products, list):
        contents, ids, count = content_items(products, ("product_id", "sku", "id"))
        if contents:
            computed.update(contents=contents, content_ids=ids, num_items=count)
    elif first_text(props.get("product_id"), props.get("sku")) is not None:
        contents, ids, _ = content_items([props], ("product_id", "sku"))
        computed.update(contents=contents, content_ids=ids)
        put(computed, "content_name", text(props.get("name")))
        put(computed, "content_category", text(props.get("category")))
        skip |= _PRODUCT_PROPS
        price = number(props.get("price"))
        if value is None and price is not None:
            quantity = integer(props.get("quantity"))
            total = price * (quantity if quantity is not None and quantity > 0 else 1)
            value = round(total, 6) if isinstance(total, float) else total
    if value is not None:
        computed["value"] = value
        put(computed, "currency", text(props.get("currency")) or options.default_currency)
    else:
        put(computed, "currency", text(props.get("currency")))
    put(computed, "order_id", text(props.get("order_id")))
    put(computed, "search_string", text(props.get("query")))
    out = {
        key: item
        for key, item in props.items()
        if isinstance(key, str) and key not in skip and item is not None
    }
    out.update(computed)
    if "content_ids" in computed and "content_type" not in out:
        out["content_type"] = "product"
    return out


def _app_data(context: Mapping[str, Any]) -> dict[str, Any]:
    """advertiser_tracking_enabled and extinfo (Meta's 16 entries) from the mobile context."""
    device = _mapping(context.get("device"))
    os_ = _mapping(context.get("os"))
    app = _mapping(context.get("app"))
    screen = _mapping(context.get("screen"))
    out: dict[str, Any] = {}
    tracking = device.get("adTrackingEnabled")
    if isinstance(tracking, bool):
        out["advertiser_tracking_enabled"] = tracking
    platform = first_text(os_.get("name"), device.get("type"))
    version = _APP_OS.get(platform.lower()) if platform else None
    if version is not None:
        entries = (
            version,
            app.get("namespace"),
            app.get("version"),
            app.get("build"),
            os_.get("version"),
            device.get("model"),
            context.get("locale"),
            None,
            nested(context, "network", "carrier"),
            screen.get("width"),
            screen.get("height"),
            screen.get("density"),
            None,
            None,
            None,
            context.get("timezone"),
        )
        out["extinfo"] = [text(entry) or "" for entry in entries]
    return out


def _rudder_ldu(event: dict[str, Any], options: object) -> None:
    """RudderStack's `context.dataProcessingOptions`: `["LDU", country, state]`."""
    if not isinstance(options, list) or not options:
        return
    head = options[0]
    if isinstance(head, list):
        event["data_processing_options"] = head
    elif isinstance(head, str):
        event["data_processing_options"] = [head] if head else []
    else:
        return
    if len(options) > 1 and options[1] is not None:
        event["data_processing_options_country"] = options[1]
    if len(options) > 2 and options[2] is not None:
        event["data_processing_options_state"] = options[2]
