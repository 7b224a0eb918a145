"""`capi-streams produce`: the sample files and stdin onto a real topic, with the format and
dataset headers, skipped lines named; and the parsing behind it."""

from __future__ import annotations

import asyncio
import subprocess
import time
import tomllib
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from streams.domain.formats import parse_format_config
from streams.produce_cli import Message, Skipped, csv_messages, json_messages
from tests.cli_support import ROOT, run_cli

EXAMPLES = ROOT / "examples"


def _produce(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_cli("produce", *args, stdin=stdin)


async def _read(bootstrap: str, topic: str, n: int) -> list[object]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: list[object] = []
    try:
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


def test_json_lines_skip_what_is_not_an_object_by_line() -> None:
    wrapped = b'{"headers": {"capi-format": "ga4"}, "value": {"events": []}}'
    data = b'{"event_name": "Lead"}\n\n{broken\n[1]\n' + wrapped + b"\n"
    items = json_messages(data, now=1_795_000_000.0)
    assert [type(i) for i in items] == [Message, Skipped, Skipped, Message]
    assert items[1] == Skipped(3, "invalid_json") and items[2] == Skipped(4, "not_an_object")
    first, last = items[0], items[3]
    assert isinstance(first, Message) and isinstance(last, Message)
    assert orjson.loads(first.value) == {"event_name": "Lead", "event_time": 1_795_000_000}
    assert last.headers == (("capi-format", b"ga4"),)
    assert orjson.loads(last.value) == {"events": []}  # only native events get a time


def test_csv_rows_map_to_native_events_and_name_skipped_rows() -> None:
    mapping_doc = (EXAMPLES / "offline-conversions.toml").read_text()
    spec = parse_format_config(None, tomllib.loads(mapping_doc)["mappings"]).mappings["offline"]
    lines = (EXAMPLES / "offline-conversions.csv").read_text().splitlines()
    items = csv_messages(lines, spec, now=1_795_000_000.0)
    assert [i.position for i in items] == [2, 3, 4, 5]
    assert items[3] == Skipped(5, "empty_row")
    events = [orjson.loads(i.value) for i in items if isinstance(i, Message)]
    assert [e["event_name"] for e in events] == ["Purchase", "Purchase", "Lead"]
    assert {e["action_source"] for e in events} == {"physical_store"}
    assert {e["event_time"] for e in events} == {1_795_000_000}


@pytest.mark.integration
async def test_produce_a_sample_file_with_format_and_dataset_headers(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    done = await asyncio.to_thread(
        _produce,
        "examples/segment.json",
        *("--format", "segment", "--dataset", "1000000000000002"),
        *("--topic", unique_topic, "--bootstrap", kafka_bootstrap),
    )
    assert done.returncode == 0, done.stderr
    assert f"produced 2 messages to {unique_topic}".encode() in done.stdout
    records = await _read(kafka_bootstrap, unique_topic, 2)
    assert len(records) == 2
    for record in records:
        headers = dict(record.headers)  # type: ignore[attr-defined]
        assert headers == {"capi-format": b"segment", "capi-dataset": b"1000000000000002"}
        assert orjson.loads(record.value)["type"] == "track"  # type: ignore[attr-defined]


@pytest.mark.integration
async def test_produce_csv_from_stdin_writes_the_skipped_rows(
    kafka_bootstrap: str, unique_topic: str, tmp_path: Path
) -> None:
    skipped = tmp_path / "skipped.tsv"
    done = await asyncio.to_thread(
        _produce,
        "-",
        *("--mapping", "examples/offline-conversions.toml", "--event-time-now"),
        *("--topic", unique_topic, "--bootstrap", kafka_bootstrap),
        *("--skipped-out", str(skipped)),
        stdin=(EXAMPLES / "offline-conversions.csv").read_bytes(),
    )
    assert done.returncode == 0, done.stderr
    assert b"3 messages to produce" in done.stdout and b"skipped row 5: empty_row" in done.stdout
    assert skipped.read_text() == "5\tempty_row\n"
    records = await _read(kafka_bootstrap, unique_topic, 3)
    assert len(records) == 3
    assert all(dict(r.headers) == {"capi-format": b"native"} for r in records)  # type: ignore[attr-defined]
    now = time.time()
    for record in records:
        assert now - 120 < orjson.loads(record.value)["event_time"] <= now  # type: ignore[attr-defined]


def test_bad_options_are_refused_before_anything_is_sent() -> None:
    done = _produce("examples/ga4.json", "--format", "bogus", "--bootstrap", "127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "capi-streams produce: configuration error: --format bogus: expected one of native, "
        "segment, rudderstack, ga4, cloudevents, auto"
    ]
    csv_without_mapping = _produce("examples/offline-conversions.csv")
    assert csv_without_mapping.returncode == 2
    assert b"CSV input needs --mapping" in csv_without_mapping.stderr
    no_port = _produce("examples/ga4.json", "--bootstrap", "127.0.0.1")
    assert no_port.returncode == 2 and b"--bootstrap: expected host:port" in no_port.stderr
