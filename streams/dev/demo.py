"""A realistic sample stream for `capi-streams run --demo` and the benchmarks.

Deterministic for a given seed and `now`: several event types and action sources, two
datasets, plain customer information under CAPI keys and readable aliases, messages in other
buses' formats (Segment track calls and GA4 Measurement Protocol payloads, selected by the
`capi-format` header), and a share of invalid events (too old, Purchase without currency,
website event without user agent, unparseable bytes) so the demo shows where each kind of
event ends up. `demo_events(..., formats=False)` keeps to the native format (benchmarks).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

__all__ = ["DemoEvent", "demo_events"]

_FIRST = ("Jane", "John", "María", "Zoë", "Olu", "Sanjay", "Mei", "Łukasz", "Aoife", "Kwame")
_LAST = ("Doe", "Smith", "García", "O'Brien", "Okafor", "Patel", "Chen", "Nowak", "Murphy")
_CITIES = (
    ("Menlo Park", "CA", "94025", "US", "+1 650 555 {:04d}"),
    ("London", "", "SW1A 1AA", "GB", "020 7946 {:04d}"),
    ("Berlin", "", "10115", "DE", "030 1234{:04d}"),
    ("Austin", "Texas", "73301", "US", "(512) 555-{:04d}"),
    ("Toronto", "Ontario", "M5H 2N2", "CA", "416-555-{:04d}"),
)
_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)
_EXTINFO = (
    *("i2", "com.example.shop", "1.0", "1.0.7", "17.5", "iPhone15,2", "en_US", "PST"),
    *("Carrier", "390", "844", "3", "6", "128", "64", "America/Los_Angeles"),
)
_PRODUCTS = (("SKU-100", 19.99), ("SKU-200", 5.5), ("SKU-300", 120.0), ("SKU-400", 42.0))


@dataclass(frozen=True, slots=True)
class DemoEvent:
    value: bytes
    key: bytes
    kind: str  # what the demo expects: "valid" or the reason it should fail
    headers: tuple[tuple[str, bytes], ...] = ()


def _segment(rng: random.Random, i: int, now: int, user: dict[str, object]) -> DemoEvent:
    items = rng.sample(_PRODUCTS, rng.randint(1, 3))
    iso = time_iso(now - rng.randint(0, 3600))
    msg = {
        "type": "track",
        "event": "Order Completed",
        "messageId": f"demo-seg-{i}",
        "userId": user["external_id"],
        "timestamp": iso,
        "context": {
            "ip": user["ip"],
            "userAgent": user["user_agent"],
            "page": {"url": f"https://shop.example.com/done?fbclid=IwAR{i:06d}s"},
            "traits": {
                "email": user["email"],
                "phone": user["phone"],
                "firstName": user["first_name"],
                "lastName": user["last_name"],
            },
        },
        "properties": {
            "order_id": f"seg-order-{i}",
            "revenue": round(sum(p for _, p in items), 2),
            "currency": "USD",
            "products": [{"product_id": sku, "price": p, "quantity": 1} for sku, p in items],
        },
    }
    return DemoEvent(orjson.dumps(msg), f"k{i}".encode(), "valid", (("capi-format", b"segment"),))


def _ga4(rng: random.Random, i: int, now: int, user: dict[str, object]) -> DemoEvent:
    sku, price = rng.choice(_PRODUCTS)
    msg = {
        "client_id": f"{1000 + i}.{now}",
        "user_id": user["external_id"],
        "timestamp_micros": (now - rng.randint(0, 3600)) * 1_000_000,
        "ip_override": user["ip"],
        "user_agent": user["user_agent"],
        "user_data": {"sha256_email_address": [_sha256(str(user["email"]).strip().lower())]},
        "events": [
            {
                "name": "add_to_cart",
                "params": {
                    "currency": "EUR",
                    "value": price,
                    "page_location": f"https://shop.example.com/p/{sku}",
                    "items": [{"item_id": sku, "price": price, "quantity": 1}],
                },
            },
            {
                "name": "purchase",
                "params": {
                    "transaction_id": f"ga4-order-{i}",
                    "currency": "EUR",
                    "value": price,
                    "page_location": "https://shop.example.com/thanks",
                    "items": [{"item_id": sku, "price": price, "quantity": 1}],
                },
            },
        ],
    }
    return DemoEvent(orjson.dumps(msg), f"k{i}".encode(), "valid", (("capi-format", b"ga4"),))


def time_iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _person(rng: random.Random, i: int) -> dict[str, object]:
    city, state, zp, country, phone = rng.choice(_CITIES)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    person: dict[str, object] = {
        "email": f"  {first}.{last}{i}@Example.com ".replace("'", ""),
        "phone": phone.format(i % 10000),
        "first_name": first,
        "last_name": last,
        "city": city,
        "zip": zp,
        "country": country,
        "external_id": f"user-{i % 5000}",
        "ip": f"203.0.113.{i % 250 + 1}",
        "user_agent": rng.choice(_UAS),
        "fbp": f"fb.1.{1_700_000_000_000 + i}.{rng.randrange(10**9)}",
    }
    if state:
        person["state"] = state
    return person


def _custom(rng: random.Random, with_currency: bool = True) -> dict[str, object]:
    items = rng.sample(_PRODUCTS, rng.randint(1, 3))
    custom: dict[str, object] = {
        "value": round(sum(p for _, p in items), 2),
        "contents": [{"id": sku, "quantity": 1, "item_price": p} for sku, p in items],
        "content_type": "product",
        "order_id": f"order-{rng.randrange(10**8)}",
    }
    if with_currency:
        custom["currency"] = rng.choice(("USD", "EUR", "GBP"))
    return custom


def _event(
    rng: random.Random, i: int, now: int, datasets: Sequence[str], formats: bool
) -> DemoEvent:
    roll = rng.random()
    t = now - rng.randint(0, 3600)
    ds = datasets[i % len(datasets)]
    user = _person(rng, i)
    if formats and roll < 0.10:
        return _segment(rng, i, now, user)
    if formats and roll < 0.15:
        return _ga4(rng, i, now, user)
    if roll >= 0.97:
        return DemoEvent(b'{"event_name": "Purchase", "event_ti', f"k{i}".encode(), "invalid_json")
    kind, ev = (
        ("valid", _valid(rng, roll, i, t, user))
        if roll < 0.85
        else _invalid(rng, roll, now, t, user)
    )
    ev["dataset_id"] = ds
    if rng.random() < 0.7:
        ev["event_id"] = f"demo-{i}"
    return DemoEvent(orjson.dumps(ev), f"k{i}".encode(), kind)


def _valid(
    rng: random.Random, roll: float, i: int, t: int, user: dict[str, object]
) -> dict[str, object]:
    """A valid native event of one of several shapes (web, store, app, CRM, messaging)."""
    ev: dict[str, object]
    if roll < 0.45:
        name = rng.choice(("PageView", "ViewContent", "AddToCart", "Purchase", "Lead"))
        ev = {
            "event_name": name,
            "event_time": t,
            "action_source": "website",
            "event_source_url": f"https://shop.example.com/p/{i}?fbclid=IwAR{i:06d}x",
            "user_data": user,
        }
        if name in ("Purchase", "AddToCart"):
            ev["custom_data"] = _custom(rng)
    elif roll < 0.60:
        ev = {
            "event_name": "Purchase",
            "event_time": t - 86400 * rng.randint(1, 30),
            "action_source": "physical_store",
            "user_data": {k: user[k] for k in ("email", "phone", "first_name", "last_name")},
            "custom_data": _custom(rng),
        }
    elif roll < 0.72:
        ev = {
            "event_name": rng.choice(("MobileAppInstall", "Purchase")),
            "event_time": t * 1000,  # milliseconds: detected
            "action_source": "app",
            "user_data": {"email": user["email"], "madid": f"38400000-8cf0-11bd-b23e-{i:012d}"},
            "app_data": {
                "advertiser_tracking_enabled": 1,
                "extinfo": list(_EXTINFO),
            },
            "custom_data": _custom(rng),
        }
    elif roll < 0.80:
        ev = {
            "event_name": "Lead",
            "event_time": t,
            "action_source": rng.choice(("system_generated", "email", "phone_call", "chat")),
            "user_data": {k: user[k] for k in ("email", "phone", "external_id")},
        }
    elif roll < 0.85:
        ev = {
            "event_name": "Purchase",
            "event_time": t,
            "action_source": "business_messaging",
            "messaging_channel": "whatsapp",
            "user_data": {"phone": user["phone"], "ctwa_clid": f"ARA{i:08d}"},
            "custom_data": _custom(rng),
        }
    return ev


def _invalid(
    rng: random.Random, roll: float, now: int, t: int, user: dict[str, object]
) -> tuple[str, dict[str, object]]:
    """(the reason it fails, an event the worker must fail for that reason)."""
    ev: dict[str, object]
    if roll < 0.89:
        kind = "event_time_too_old"
        ev = {
            "event_name": "Purchase",
            "event_time": now - 10 * 86400,
            "action_source": "website",
            "event_source_url": "https://shop.example.com/checkout",
            "user_data": user,
            "custom_data": _custom(rng),
        }
    elif roll < 0.93:
        kind = "missing_currency"
        ev = {
            "event_name": "Purchase",
            "event_time": t,
            "action_source": "website",
            "event_source_url": "https://shop.example.com/checkout",
            "user_data": user,
            "custom_data": _custom(rng, with_currency=False),
        }
    else:
        kind = "missing_client_user_agent"
        no_ua = {k: v for k, v in user.items() if k != "user_agent"}
        ev = {
            "event_name": "ViewContent",
            "event_time": t,
            "action_source": "website",
            "event_source_url": "https://shop.example.com/",
            "user_data": no_ua,
        }
    return kind, ev


def demo_events(
    n: int, *, now: int, datasets: Sequence[str], seed: int = 7, formats: bool = True
) -> Iterator[DemoEvent]:
    """`n` sample messages, about 85% valid, spread over `datasets` (Segment and GA4 messages
    go to the routing default dataset)."""
    rng = random.Random(seed)
    for i in range(n):
        yield _event(rng, i, now, datasets, formats)
