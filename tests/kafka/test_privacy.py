"""Privacy sweep: personal data in every place of every input format, through the real worker.

One worker run over seven input topics (native, segment, rudderstack, ga4, cloudevents, a
declarative mapping, and a CSV import through `capi-streams import`), against the real broker
and the sandbox. Every event carries the same person's e-mail, phone, names and street in
user_data, custom properties (nested, contents), URLs (query and fragment) and app data; some
events fail validation. The test then reads everything that left the worker: what the sandbox
received (Meta's side), the responses and failures topics, the worker's DEBUG log, its metrics
and the import command's output, and proves none of it holds a raw value, while user_data
carries the same hashes as without the guard.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    DATASET_A,
    Topics,
    WorkerProcess,
    produce,
    read_all,
    sandbox_events,
    worker_env,
)

pytestmark = pytest.mark.integration

EMAIL = "Unique.Person.7731@Example-Mail.com"
PHONE = "+1 (415) 555-0199"
FIRST = "Wilhelmina"
LAST = "Zwierzchowski"
STREET = "742 Evergreen Terrace"
IP = "198.51.100.77"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
EM_HASH = hashlib.sha256(EMAIL.lower().encode()).hexdigest()
PH_HASH = hashlib.sha256(b"14155550199").hexdigest()
RAW = (
    EMAIL,
    EMAIL.lower(),
    "Unique.Person.7731%40Example-Mail.com",
    "unique.person.7731%40example-mail.com",
    PHONE,
    "4155550199",
    "415-555-0199",
    "%2B1%20415",
    FIRST,
    LAST,
    STREET,
)
FORMATS = ("native", "segment", "rudderstack", "ga4", "cloudevents", "mapping", "csv")

CONFIG = """
[formats.topics.{p}-segment]
format = "segment"
[formats.topics.{p}-rudderstack]
format = "rudderstack"
[formats.topics.{p}-ga4]
format = "ga4"
[formats.topics.{p}-cloudevents]
format = "cloudevents"
[formats.topics.{p}-mapping]
format = "mapping:orders"

[mappings.orders]
event_name = {{ path = "kind", map = {{ order = "Purchase" }} }}
event_time = {{ path = "ts", transform = "unix_seconds" }}
event_id = "id"
action_source = {{ const = "website" }}
event_source_url = "page"
"user_data.em" = "buyer.email"
"user_data.ph" = "buyer.phone"
"user_data.fn" = "buyer.first"
"user_data.client_user_agent" = "ua"
"custom_data.value" = {{ path = "total", transform = "number" }}
"custom_data.currency" = "currency"
"custom_data.delivery_note" = "note"
"custom_data.buyer_email" = "buyer.email"
"custom_data.ship_to" = "ship_to"

[mappings.offline]
event_name = {{ path = "event_name", map = {{ purchase = "Purchase" }} }}
event_time = {{ path = "event_time", transform = "unix_seconds" }}
action_source = {{ const = "physical_store" }}
"user_data.em" = "email"
"user_data.ph" = "phone"
"user_data.ln" = "last_name"
"custom_data.value" = {{ path = "value", transform = "number" }}
"custom_data.currency" = "currency"
"custom_data.order_id" = "order_id"
"custom_data.cashier_note" = "note"
"custom_data.contact_phone" = "phone"
"""


def _url(path: str = "checkout") -> str:
    return (
        f"https://shop.example.com/{path}?fbclid=IwAR7731&utm_source=fb"
        f"&email=Unique.Person.7731%40Example-Mail.com&q=call+415-555-0199"
        f"#/thanks?phone=%2B1%20415%20555%200199&step=2"
    )


def _custom(**over: Any) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "value": 42.5,
        "currency": "USD",
        "order_id": "ORD-2026-000123",
        "customer_email": EMAIL,
        "shipping_phone": PHONE,
        "recipient_name": f"{FIRST} {LAST}",
        "note": f"leave at the door, call {PHONE} or write {EMAIL}",
        "shipping": {"address": {"street": STREET}, "method": "ups"},
        "contents": [{"id": "SKU-1", "quantity": 1, "gift_note": f"for {EMAIL}"}],
        "tags": ["vip", EMAIL],
    }
    custom.update(over)
    return custom


def _native(i: int, now: int, **over: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": now - 30,
        "event_id": f"native-{i}",
        "action_source": "website",
        "event_source_url": _url(),
        "referrer_url": f"https://mail.example.com/?to={EMAIL}",
        "user_data": {
            "email": EMAIL,
            "phone": PHONE,
            "first_name": FIRST,
            "last_name": LAST,
            "ip": IP,
            "user_agent": UA,
        },
        "custom_data": _custom(),
        "contact_email": EMAIL,  # an unknown top-level key: never sent
    }
    event.update(over)
    return event


def _app(now: int) -> dict[str, Any]:
    extinfo = ["a2", "com.example", "1.0", "1.0.1", "14", "Pixel", "en_US", "UTC", "", "1080"]
    return {
        "event_name": "Purchase",
        "event_time": now - 30,
        "event_id": "native-app",
        "action_source": "app",
        "app_data": {
            "advertiser_tracking_enabled": True,
            "extinfo": [*extinfo, "1920", "2.0", "8", "64", "32", "Europe/Berlin"],
            "install_referrer": f"utm_source=mail&email={EMAIL}",
        },
        "user_data": {"email": EMAIL, "ip": IP, "user_agent": UA},
        "custom_data": _custom(),
    }


def _segment(i: int, now: int, *, failing: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {
        "order_id": f"seg-order-{i}",
        "customer_email": EMAIL,
        "shipping_phone": PHONE,
        "recipient": {"name": f"{FIRST} {LAST}", "street": STREET},
        "gift_message": f"call {PHONE}",
        "products": [{"product_id": "p-1", "price": 10, "quantity": 1, "note": EMAIL}],
    }
    if not failing:
        props.update(total=42.5, currency="USD")
    return {
        "type": "track",
        "event": "Order Completed",
        "messageId": f"seg-{i}",
        "userId": f"user-{i}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30)),
        "context": {
            "ip": IP,
            "userAgent": UA,
            "page": {"url": _url("complete"), "referrer": f"https://x.example/?e={EMAIL}"},
            "traits": {"email": EMAIL, "phone": PHONE, "firstName": FIRST, "lastName": LAST},
        },
        "properties": props,
    }


def _ga4(now: int) -> dict[str, Any]:
    return {
        "client_id": "1283716542.1795160000",
        "timestamp_micros": str((now - 30) * 1_000_000),
        "ip_override": IP,
        "user_agent": UA,
        "user_data": {"sha256_email_address": [EM_HASH], "sha256_phone_number": [PH_HASH]},
        "events": [
            {
                "name": "purchase",
                "params": {
                    "transaction_id": "T-7731",
                    "value": 42.5,
                    "currency": "USD",
                    "event_id": "ga4-1",
                    "page_location": _url("ga4"),
                    "customer_email": EMAIL,
                    "delivery_note": f"call {PHONE}",
                    "items": [{"item_id": "SKU-1", "price": 42.5, "gift_to": EMAIL}],
                },
            },
            {
                "name": "purchase",  # no value/currency: missing_value
                "params": {"transaction_id": "T-7732", "customer_email": EMAIL},
            },
        ],
    }


def _cloudevent(now: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "ce-7731",
        "source": "https://shop.example.com/tracking",
        "type": "com.example.order",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30)),
        "datacontenttype": "application/json",
        "capiformat": "native",
        "data": _native(7, now, event_id="cloudevent-1"),
    }


def _order(now: int, i: int, *, failing: bool = False) -> dict[str, Any]:
    order = {
        "kind": "order",
        "id": f"mapped-{i}",
        "ts": now - 30,
        "page": _url("mapped"),
        "buyer": {"email": EMAIL, "phone": PHONE, "first": FIRST},
        "ua": UA,
        "total": "42.50",
        "note": f"ring {PHONE}",
        "ship_to": {"name": f"{FIRST} {LAST}", "street": STREET},
    }
    if not failing:
        order["currency"] = "EUR"
    return order


def _csv(now: int) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600))
    header = "event_name,event_time,email,phone,last_name,value,currency,order_id,note"
    rows = [
        f'purchase,{when},{EMAIL},"{PHONE}",{LAST},19.99,USD,POS-1,"customer {EMAIL}"',
        f'purchase,{when},{EMAIL},"{PHONE}",{LAST},19.99,,POS-2,"call {PHONE}"',  # no currency
    ]
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=7) as server:
        yield server


async def _create(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 2, 1) for n in names])
    finally:
        await admin.close()


def _leaks(text: str, extra: tuple[str, ...] = ()) -> list[str]:
    lowered = text.lower()
    return [raw for raw in (*RAW, *extra) if raw.lower() in lowered]


async def test_no_raw_personal_data_leaves_the_worker_for_any_input_format(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    base = Topics.unique(unique_topic, unique_group, partitions=2)
    inputs = {fmt: f"{unique_topic}-{fmt}" for fmt in FORMATS}
    await _create(kafka_bootstrap, [*inputs.values(), base.responses, base.failures])
    config = tmp_path / "capi.toml"
    config.write_text(CONFIG.format(p=unique_topic))
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        base,
        extra={
            "CAPI_CONFIG": str(config),
            "CAPI_KAFKA__INPUT_TOPICS": ",".join(inputs.values()),
            "CAPI_DATASETS__0__DEFAULT_COUNTRY": "us",
            "CAPI_WORKER__LOG_LEVEL": "DEBUG",
        },
    )
    now = int(time.time())
    produced: list[tuple[str, tuple[int, int]]] = []

    async def put(fmt: str, values: list[Any]) -> None:
        coords = await produce(kafka_bootstrap, inputs[fmt], [orjson.dumps(v) for v in values])
        produced.extend((inputs[fmt], c) for c in coords)

    failing_native = _native(2, now, custom_data=_custom(currency=None))
    failing_native["event_id"] = f"n2 {PHONE}"  # personal data in an event id
    unknown = _native(  # no such dataset: fails with fields the transform never checked
        4,
        now,
        dataset_id="9999999999999999",
        event_time=EMAIL,
        action_source=f"call {PHONE}",
        data_processing_options=[EMAIL],
        opt_out={"email": EMAIL},
    )
    await put(
        "native",
        [_native(1, now), _app(now), _native(3, now, event_id=EMAIL), failing_native, unknown],
    )
    await put("segment", [_segment(1, now), _segment(2, now, failing=True)])
    await put("rudderstack", [_segment(3, now), _segment(4, now, failing=True)])
    await put("ga4", [_ga4(now)])
    await put("cloudevents", [_cloudevent(now)])
    await put("mapping", [_order(now, 1), _order(now, 2, failing=True)])
    csv_file = tmp_path / "offline.csv"
    csv_file.write_text(_csv(now))
    imported = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "streams.cli",
            "import",
            str(csv_file),
            "--mapping",
            "offline",
            "--topic",
            inputs["csv"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr

    worker = WorkerProcess(env, tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    try:
        records: list[dict[str, Any]] = []
        want = 14 + 1  # outcomes of the produced events + the good CSV row
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            records = await read_all(
                kafka_bootstrap, base.responses, until=lambda r: False, timeout_s=1
            ) + await read_all(kafka_bootstrap, base.failures, until=lambda r: False, timeout_s=1)
            done = sum(r.get("events_sent", 1) for r in records)
            if done >= want:
                break
        received = await sandbox_events(sandbox.url)
        metrics = await asyncio.to_thread(worker.metrics)
    finally:
        assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()

    failures = [r for r in records if r["kind"] == "failure"]
    responses = [r for r in records if r["kind"] == "response"]
    log = worker.log_path.read_text(errors="replace")
    # Every format delivered, and every failing input was recorded.
    delivered_ids = {r["event_id"] for r in received}
    assert {
        "native-1",
        "native-app",
        "seg-1",
        "seg-3",
        "ga4-1",
        "cloudevent-1",
        "mapped-1",
        EM_HASH,  # the event id that was an e-mail address, hashed like user_data.em
    } <= delivered_ids, (delivered_ids, worker.log_tail())
    assert len(received) == 9, sorted(delivered_ids)  # + the first CSV row
    reasons = sorted(r["reason"] for r in failures)
    assert reasons == [
        "missing_currency",  # native
        "missing_currency",  # mapping
        "missing_event_source_url",  # ga4's second event has no page
        "missing_value",  # segment
        "missing_value",  # rudderstack
        "unknown_dataset",  # native
    ], reasons
    assert "2 rows read, 1 to produce, 1 skipped" in imported.stdout  # checked before producing
    assert "DEBUG" in log and len(log) > 1000

    # Nothing raw anywhere.
    where = {
        "sandbox": orjson.dumps(received).decode(),
        "responses": orjson.dumps(responses).decode(),
        "failures": orjson.dumps(failures).decode(),
        "log": log,
        "metrics": orjson.dumps(metrics).decode(),
        "import": imported.stdout + imported.stderr,
    }
    for place, text in where.items():
        extra = () if place == "sandbox" else (IP,)  # Meta takes client_ip_address unhashed
        assert not _leaks(text, extra), (place, _leaks(text, extra))

    # user_data hashes as without the guard; custom data and URLs keep what is not personal.
    for event in received:
        user_data = event["payload"]["user_data"]
        assert user_data["em"] == [EM_HASH], event["event_id"]
        if "ph" in user_data:
            assert user_data["ph"] == [PH_HASH], event["event_id"]
        url = event["payload"].get("event_source_url", "")
        if url:
            assert "fbclid=IwAR7731" in url and "utm_source=fb" in url and "step=2" in url
        custom = event["payload"]["custom_data"]
        assert custom["value"] > 0 and custom["currency"] in ("USD", "EUR")
    by_id = {r["event_id"]: r["payload"] for r in received}
    assert by_id["native-1"]["custom_data"]["order_id"] == "ORD-2026-000123"
    assert by_id["native-1"]["custom_data"]["shipping"] == {"method": "ups"}
    assert by_id["native-1"]["custom_data"]["contents"] == [{"id": "SKU-1", "quantity": 1}]

    # Failure records: redacted, hashed user_data, and they say what they removed.
    for failure in failures:
        event = failure.get("event")
        assert event is not None, failure
        if failure["reason"] == "unknown_dataset":  # never hashed: user_data keys only
            assert "user_data" not in event and "email" in failure["user_data_keys"]
            continue
        assert event["user_data"].get("em") == [EM_HASH]
        assert "client_ip_address" not in event["user_data"]
    native_failure = next(
        f
        for f in failures
        if f["source"]["topic"] == inputs["native"] and f["reason"] == "missing_currency"
    )
    assert native_failure["event_id"] == native_failure["event"]["event_id"] == f"n2 {PH_HASH}"
    assert EM_HASH in {i for r in responses for i in r["event_ids"]}
    assert "custom_data.customer_email" in native_failure["redacted"]
    assert "event_source_url?email" in native_failure["redacted"]

    # The metric names fields and actions, never values.
    guarded = {k: v for k, v in metrics.items() if k.startswith("capi_pii_guarded_total")}
    assert guarded.get(
        f"capi_pii_guarded_total{{action=drop,dataset={DATASET_A},"
        "field=custom_data.customer_email}"
    ), sorted(guarded)
    assert guarded.get(
        f"capi_pii_guarded_total{{action=drop,dataset={DATASET_A},field=event_source_url?email}}"
    ), sorted(guarded)
