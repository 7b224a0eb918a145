"""`capi-streams validate` and `capi-streams import`, run as the user runs them."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.pipeline.registry_inputs import AVRO_NATIVE, AVRO_ORDER, MAPPING_TOML, native_event
from tests.registry.support import avro_message, register

DATA = Path(__file__).parent / "data"
EXE = [sys.executable, "-m", "streams.cli"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXE, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _native(**over: object) -> dict[str, object]:
    ev: dict[str, object] = {
        "event_name": "Lead",
        "event_time": int(time.time()) - 30,
        "action_source": "email",
        "user_data": {"email": "Secret.Person@Example.com", "phone": "+44 20 7946 0958"},
    }
    ev.update(over)
    return ev


def test_validate_prints_the_hashed_event_and_exits_0(tmp_path: Path) -> None:
    f = tmp_path / "ok.json"
    f.write_bytes(orjson.dumps(_native()))
    done = _run("validate", str(f))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Lead" in done.stdout and '"em"' in done.stdout
    assert "Secret.Person" not in done.stdout and "secret.person" not in done.stdout


def test_validate_names_each_problem_and_exits_1(tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    lines = [
        orjson.dumps(_native()),
        orjson.dumps(_native(event_name="Purchase", custom_data={"value": 3})),
        orjson.dumps(_native(user_data={"email": "not-an-email", "city": "Paris"})),
        b"{broken",
    ]
    f.write_bytes(b"\n".join(lines))
    done = _run("validate", str(f))
    assert done.returncode == 1
    assert "missing_currency" in done.stdout
    assert "custom_data.currency" in done.stdout
    assert "insufficient_customer_information" in done.stdout or "no_customer" in done.stdout
    assert "not-an-email" not in done.stdout  # dropped values are named by field, not shown


def test_validate_fails_an_event_too_large_exactly_as_the_worker(tmp_path: Path) -> None:
    """The worker fails an event over datasets[].max_event_bytes as event_too_large; validate
    runs the same admission step, so it says so instead of "would send"."""
    config = tmp_path / "c.toml"
    config.write_text(
        '[[datasets]]\nid = "1000000000000001"\ntoken_env = "T"\nmax_event_bytes = 1000\n'
    )
    f = tmp_path / "big.json"
    f.write_bytes(orjson.dumps(_native(custom_data={"note": "x" * 2_000})))
    done = _run("validate", str(f), "--config", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REJECTED event_too_large" in done.stdout
    small = tmp_path / "small.json"
    small.write_bytes(orjson.dumps(_native()))
    assert _run("validate", str(small), "--config", str(config)).returncode == 0


def test_validate_reads_other_formats(tmp_path: Path) -> None:
    done = _run("validate", str(DATA / "segment" / "identify.json"), "--format", "segment")
    assert done.returncode == 1 and "no_action" in done.stdout


def test_import_dry_run_reports_rows_skipped_and_why() -> None:
    done = _run(
        "import",
        str(DATA / "csv" / "offline.csv"),
        *("--mapping", "meta_offline", "--topic", "x"),
        *("--config", str(DATA / "mappings" / "offline.toml"), "--dry-run"),
    )
    assert done.returncode == 0, done.stderr
    assert "rows read" in done.stdout and "skipped" in done.stdout
    assert "empty_row" in done.stdout


def test_import_unknown_mapping_is_a_clear_error() -> None:
    done = _run(
        "import",
        str(DATA / "csv" / "offline.csv"),
        *("--mapping", "nope", "--topic", "x", "--config", str(DATA / "mappings" / "offline.toml")),
    )
    assert done.returncode == 2 and "'nope' is not a [mappings] entry" in done.stderr


@pytest.mark.integration
async def test_import_produces_native_events_with_the_format_header(
    kafka_bootstrap: str, unique_topic: str, tmp_path: Path
) -> None:
    rows = [
        "event_name,event_time,email,phone,value,currency",
        f"purchase,{int(time.time()) - 3600},a@example.com,+1 212 555 0147,10.5,usd",
        f"purchase,{int(time.time()) - 7200},b@example.com,,20,eur",
        ",,,,,",
    ]
    csv_file = tmp_path / "crm.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    config = tmp_path / "c.toml"
    config.write_text(
        "[kafka]\n"
        f'bootstrap_servers = "{kafka_bootstrap}"\n'
        "[mappings.crm]\n"
        'event_name = { path = "event_name", map = { purchase = "Purchase" } }\n'
        'event_time = { path = "event_time", transform = "unix_seconds" }\n'
        '"user_data.em" = "email"\n'
        '"user_data.ph" = "phone"\n'
        '"custom_data.value" = { path = "value", transform = "number" }\n'
        '"custom_data.currency" = "currency"\n'
    )
    done = await asyncio.to_thread(
        _run,
        "import",
        str(csv_file),
        *("--mapping", "crm", "--topic", unique_topic, "--config", str(config)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "produced 2 events" in done.stdout
    consumer = AIOKafkaConsumer(
        unique_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(records)
    finally:
        await consumer.stop()
    assert len(got) == 2
    for record in got:
        assert dict(record.headers)["capi-format"] == b"native"
        event = orjson.loads(record.value)
        assert event["action_source"] == "physical_store"
        assert event["event_name"] == "Purchase"


@pytest.mark.integration
async def test_validate_and_import_read_registry_encoded_files(
    registry_url: str, tmp_path: Path
) -> None:
    """A file of base64 wire-format messages (Avro), decoded with the real registry."""
    tag = uuid.uuid4().hex[:8]
    native_id = await register(registry_url, f"{tag}-n", orjson.dumps(AVRO_NATIVE).decode())
    order_id = await register(registry_url, f"{tag}-o", orjson.dumps(AVRO_ORDER).decode())
    now = int(time.time())
    ev = native_event(1, now, tag)
    ev["event_time"] = datetime.fromtimestamp(now - 30, UTC)
    ev["custom_data"]["value"] = Decimal("12.50")
    order = {
        "order_id": f"{tag}-o1",
        "kind": "ORDER",
        "created_at": datetime.fromtimestamp(now - 60, UTC),
        "customer": {"email": "Buyer@Example.com", "phone": "+1 650 555 1213"},
        "total": Decimal("30.00"),
        "currency": "EUR",
    }
    lines = [
        base64.b64encode(avro_message(native_id, AVRO_NATIVE, ev)),
        base64.b64encode(b'{"not": "wire format"}'),
        b"%%% not base64",
        base64.b64encode(avro_message(1_999_999_998, AVRO_NATIVE, ev)),
    ]
    f = tmp_path / "messages.b64"
    f.write_bytes(b"\n".join(lines))
    done = _run("validate", str(f), "--registry", registry_url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert '"value": 12.5' in done.stdout and "person.1@example.com" not in done.stdout
    assert done.stdout.count("not_wire_format") == 2
    assert "unknown_schema_id" in done.stdout

    config = tmp_path / "capi.toml"
    config.write_text(MAPPING_TOML)
    orders = tmp_path / "order.bin"  # one raw wire-format message
    orders.write_bytes(avro_message(order_id, AVRO_ORDER, order))
    args = ["import", str(orders), "--registry", registry_url, "--mapping", "orders"]
    done = _run(*args, "--topic", "t", "--dry-run", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 messages read, 1 to produce, 0 skipped" in done.stdout

    down = _run("validate", str(f), "--registry", "http://127.0.0.1:9/apis/ccompat/v7")
    assert down.returncode == 2
    assert "no answer from the schema registry" in down.stderr


def test_registry_url_with_credentials_is_refused_without_echoing_them(tmp_path: Path) -> None:
    f = tmp_path / "messages.b64"
    f.write_text(base64.b64encode(b"\x00\x00\x00\x00\x01payload").decode() + "\n")
    done = _run("validate", str(f), "--registry", "https://capi:hunter2-pw@sr.internal:8081")
    assert done.returncode == 2, done.stderr
    assert "--registry: credentials in the URL are not allowed" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
