"""Domain speed: raw JSON bytes -> validated, hashed CAPI event, side by side with Meta's SDK.

Generates N realistic native events (mixed action sources, plain PII under CAPI keys and
aliases, custom_data with contents), then times, on the same bytes in the same process:

* capi-streams: `transform_bytes(raw, policy, now=...)` (decode, validate, hash, enrich);
* facebook-business SDK: `orjson.loads`, build `UserData`/`CustomData`/`Content`/`AppData`/
  `Event` from the decoded dict, and call `Event.normalize()`.

The events are generated so the SDK accepts them (international phones, alpha-2 countries,
`m`/`f` genders, `whatsapp` channel) and so every one is accepted by capi-streams: a rejected
event would be cheaper and flatter the ratio (checked after timing). Each round uses freshly
generated events, so no cache profits from a replay, and times both paths back to back on them;
the best round of each path counts. Prints one JSON line and writes it to
benchmarks/results/domain.json.

    .venv/bin/pip install facebook-business   # benchmark-only dependency
    .venv/bin/python benchmarks/domain_bench.py --events 20000
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import string
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from streams.domain.transform import Accepted, DatasetPolicy, transform_bytes

RESULTS = Path(__file__).resolve().parent / "results" / "domain.json"

ACTION_SOURCES = (
    ("website", 50),
    ("app", 15),
    ("physical_store", 10),
    ("system_generated", 5),
    ("business_messaging", 5),
    ("email", 5),
    ("phone_call", 4),
    ("chat", 3),
    ("other", 3),
)
EVENT_NAMES = ("PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase", "Lead")
FIRST = ("Joe", "Ana", "Zoë", "Li", "Olivia", "Noah", "Mateo", "Émilie", "Sven", "Priya")
LAST = ("Smith", "García", "Müller", "Nguyen", "Kowalski", "Rossi", "Dubois", "Tanaka")
PLACES = (
    ("Menlo Park", "CA", "94025", "US", "+1 650-555-{:04d}"),
    ("Austin", "TX", "73301", "US", "+1 (512) 555-{:04d}"),
    ("London", "London", "SW1A 1AA", "GB", "+44 20 7946 {:04d}"),
    ("Berlin", "Berlin", "10115", "DE", "+49 30 1234{:04d}"),
    ("Paris", "Ile de France", "75001", "FR", "+33 1 42 68 {:02d} {:02d}"),
    ("Toronto", "ON", "M5H 2N2", "CA", "+1 416-555-{:04d}"),
)
DOMAINS = ("example.com", "mail.example.org", "shop.example.net")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)
CURRENCIES = ("usd", "USD", "eur", "GBP", "cad")


def _token(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + "_-", k=size))


def _phone(rng: random.Random, pattern: str) -> str:
    if pattern.count("{") == 2:
        return pattern.format(rng.randrange(100), rng.randrange(100))
    return pattern.format(rng.randrange(10_000))


def make_event(rng: random.Random, now: int, index: int) -> dict[str, Any]:
    """One native event the SDK accepts and capi-streams accepts."""
    source = rng.choices([s for s, _ in ACTION_SOURCES], [w for _, w in ACTION_SOURCES])[0]
    name = "Purchase" if source == "physical_store" else rng.choice(EVENT_NAMES)
    city, state, zip_code, country, phone = rng.choice(PLACES)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    alias = rng.random() < 0.5  # readable aliases or CAPI keys
    user: dict[str, Any] = {
        ("email" if alias else "em"): f"{first}.{last}{index}@{rng.choice(DOMAINS)}",
        ("phone" if alias else "ph"): _phone(rng, phone),
        ("first_name" if alias else "fn"): first,
        ("last_name" if alias else "ln"): last,
        ("city" if alias else "ct"): city,
        ("state" if alias else "st"): state,
        ("zip" if alias else "zp"): zip_code,
        "country": country,
        "external_id": f"user-{rng.randrange(10**9)}",
    }
    if rng.random() < 0.3:
        user["gender" if alias else "ge"] = rng.choice(("m", "f"))
    event: dict[str, Any] = {
        "event_name": name,
        "event_time": now - rng.randrange(3 * 86_400),
        "action_source": source,
        "user_data": user,
    }
    if rng.random() < 0.7:
        event["event_id"] = f"ord-{index}-{_token(rng, 8)}"
    if source == "website":
        url = f"https://shop.example.com/p/{rng.randrange(1000)}"
        if rng.random() < 0.3:
            url += f"?utm_source=fb&fbclid={_token(rng, 40)}"
        event["event_source_url"] = url
        user["user_agent" if alias else "client_user_agent"] = rng.choice(AGENTS)
        user["ip" if alias else "client_ip_address"] = f"203.0.113.{rng.randrange(1, 255)}"
        user["fbp"] = f"fb.1.{(now - 86_400) * 1000}.{rng.randrange(2**31)}"
    elif source == "app":
        event["app_data"] = {
            "advertiser_tracking_enabled": rng.random() < 0.5,
            "application_tracking_enabled": True,
            "extinfo": [
                "i2",
                "com.example.shop",
                "1.0",
                "1.0 long",
                "18.1",
                "iPhone16,1",
                "en_US",
                "PST",
                "Carrier",
                "1179",
                "2556",
                "3",
                "6",
                "128",
                "64",
                "America/Los_Angeles",
            ],
        }
        user["madid"] = _token(rng, 36)
    elif source == "business_messaging":
        event["messaging_channel"] = "whatsapp"
        user["ctwa_clid"] = _token(rng, 24)
    if name in ("Purchase", "AddToCart", "InitiateCheckout", "ViewContent"):
        contents = [
            {
                "id": f"sku-{rng.randrange(10_000)}",
                "quantity": rng.randrange(1, 4),
                "item_price": round(rng.uniform(1, 200), 2),
            }
            for _ in range(rng.randrange(1, 4))
        ]
        custom: dict[str, Any] = {
            "value": round(sum(c["quantity"] * c["item_price"] for c in contents), 2),
            "currency": rng.choice(CURRENCIES),
            "contents": contents,
            "content_type": "product",
            "num_items": sum(c["quantity"] for c in contents),
        }
        if name == "Purchase":
            custom["order_id"] = f"o-{index}"
        event["custom_data"] = custom
    return event


def generate(count: int, seed: int, now: int) -> list[bytes]:
    rng = random.Random(seed)
    return [orjson.dumps(make_event(rng, now, i)) for i in range(count)]


# ------------------------------------------------------------------ the SDK path


def sdk_path() -> Callable[[bytes], dict[str, Any]]:
    """raw bytes -> Event.normalize() with the facebook-business SDK (imported lazily)."""
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.app_data import AppData
    from facebook_business.adobjects.serverside.content import Content
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.extended_device_info import (
        ExtendedDeviceInfo,
    )
    from facebook_business.adobjects.serverside.gender import Gender
    from facebook_business.adobjects.serverside.messaging_channel import MessagingChannel
    from facebook_business.adobjects.serverside.user_data import UserData

    list_args = {
        "em": "emails",
        "email": "emails",
        "ph": "phones",
        "phone": "phones",
        "fn": "first_names",
        "first_name": "first_names",
        "ln": "last_names",
        "last_name": "last_names",
        "ct": "cities",
        "city": "cities",
        "st": "states",
        "state": "states",
        "zp": "zip_codes",
        "zip": "zip_codes",
        "country": "country_codes",
        "external_id": "external_ids",
    }
    plain_args = {
        "client_ip_address": "client_ip_address",
        "ip": "client_ip_address",
        "client_user_agent": "client_user_agent",
        "user_agent": "client_user_agent",
        "fbp": "fbp",
        "fbc": "fbc",
        "madid": "madid",
        "ctwa_clid": "ctwa_clid",
    }
    genders = {"m": Gender.MALE, "f": Gender.FEMALE}
    int_positions = {9, 10, 12, 13, 14}  # the SDK types these extinfo entries as int
    extinfo_args = (
        "ext_info_version",
        "app_package_name",
        "short_version",
        "long_version",
        "os_version",
        "device_model_name",
        "locale",
        "timezone_abbreviation",
        "carrier",
        "screen_width",
        "screen_height",
        "screen_density",
        "cpu_core_count",
        "total_disk_space_gb",
        "free_disk_space_gb",
        "device_time_zone",
    )

    def run(raw: bytes) -> dict[str, Any]:
        obj = orjson.loads(raw)
        kwargs: dict[str, Any] = {}
        for key, value in obj["user_data"].items():
            if key in list_args:
                kwargs[list_args[key]] = [value]
            elif key in plain_args:
                kwargs[plain_args[key]] = value
            elif key in ("ge", "gender"):
                kwargs["genders"] = [genders[value]]
        event = Event(
            event_name=obj["event_name"],
            event_time=obj["event_time"],
            user_data=UserData(**kwargs),
            action_source=ActionSource(obj["action_source"]),
            event_id=obj.get("event_id"),
            event_source_url=obj.get("event_source_url"),
        )
        custom = obj.get("custom_data")
        if custom is not None:
            event.custom_data = CustomData(
                value=custom["value"],
                currency=custom["currency"],
                contents=[
                    Content(product_id=c["id"], quantity=c["quantity"], item_price=c["item_price"])
                    for c in custom["contents"]
                ],
                content_type=custom["content_type"],
                num_items=custom["num_items"],
                order_id=custom.get("order_id"),
            )
        app = obj.get("app_data")
        if app is not None:
            info = {
                arg: (int(v) if i in int_positions else v)
                for i, (arg, v) in enumerate(zip(extinfo_args, app["extinfo"], strict=True))
            }
            event.app_data = AppData(
                advertiser_tracking_enabled=app["advertiser_tracking_enabled"],
                application_tracking_enabled=app["application_tracking_enabled"],
                extinfo=ExtendedDeviceInfo(**info),
            )
        if obj.get("messaging_channel") == "whatsapp":
            event.messaging_channel = MessagingChannel.WHATSAPP
        result: dict[str, Any] = event.normalize()
        return result

    return run


# ------------------------------------------------------------------ timing


def _elapsed(run: Callable[[bytes], object], events: Sequence[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    for raw in events:
        run(raw)
    return time.perf_counter() - start


def side_by_side(
    ours: Callable[[bytes], object],
    sdk: Callable[[bytes], object],
    rounds: Sequence[Sequence[bytes]],
) -> tuple[float, float]:
    """Best events/s of each path. Every round uses fresh events (so no cache can profit from a
    replay) and times both paths back to back on them (so load changes hit both alike)."""
    best_ours = best_sdk = float("inf")
    for events in rounds:
        best_ours = min(best_ours, _elapsed(ours, events))
        best_sdk = min(best_sdk, _elapsed(sdk, events))
    size = len(rounds[0])
    return size / best_ours, size / best_sdk


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    now = int(time.time())
    policy = DatasetPolicy(dataset_id="1234567890", default_country="us")

    def ours(raw: bytes) -> object:
        return transform_bytes(raw, policy, now=now)

    sdk = sdk_path()
    for raw in generate(1000, args.seed + 10_000, now):  # warm-up, on other events
        ours(raw)
        sdk(raw)  # raises if the generator ever makes input the SDK refuses

    rounds = [generate(args.events, args.seed + i, now) for i in range(args.rounds)]
    ours_rate, sdk_rate = side_by_side(ours, sdk, rounds)

    for events in rounds:
        rejected = [r for r in map(ours, events) if not isinstance(r, Accepted)]
        if rejected:
            print(f"capi-streams rejected {len(rejected)} generated events: {rejected[0]}")
            return 1
    result = {
        "benchmark": "domain_transform",
        "events": args.events,
        "rounds": args.rounds,
        "capi_streams_events_per_s": round(ours_rate),
        "sdk_events_per_s": round(sdk_rate),
        "ratio": round(ours_rate / sdk_rate, 2),
        "capi_streams_us_per_event": round(1e6 / ours_rate, 2),
        "sdk_us_per_event": round(1e6 / sdk_rate, 2),
        "sdk_version": version("facebook-business"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    line = orjson.dumps(result).decode()
    print(line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
