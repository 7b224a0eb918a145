"""`capi-streams validate` as a user runs it: machine-readable output, unknown datasets and
formats refused up front with the known ones listed, control characters escaped."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson

from tests.cli_support import ROOT, run_cli

EXAMPLE = str(ROOT / "config" / "capi-streams.example.toml")


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    done = run_cli("validate", *args)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def test_json_gives_one_object_per_event_with_the_event_as_sent() -> None:
    done = _validate("examples/ga4.json", "--format", "ga4", "--json")
    assert done.returncode == 0, done.stderr
    rows = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [(r["message"], r["index"], r["status"]) for r in rows] == [
        (1, 0, "sent"),
        (1, 1, "sent"),
    ]
    purchase = rows[1]
    assert purchase["event_name"] == "Purchase" and purchase["reason"] is None
    assert purchase["event"]["event_id"] == "example-ga4-purchase-T_12345"
    assert purchase["event"]["user_data"]["client_ip_address"] == "203.0.113.50"


def test_json_names_the_reason_and_field_of_a_failure(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(
        '{"event_name": "Purchase", "event_time": 1, "action_source": "email", '
        '"user_data": {"email": "a@example.com"}, "custom_data": {"value": 1}}\n{broken\n'
    )
    done = _validate(str(f), "--json")
    assert done.returncode == 1
    rows = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [(r["status"], r["reason"], r["field"], r["fails"]) for r in rows] == [
        ("rejected", "event_time_too_old", "event_time", True),
        ("rejected", "invalid_json", None, True),
    ]
    assert rows[0]["event"]["user_data"]["em"][0] != "a@example.com"  # hashed


def test_an_unknown_dataset_is_refused_listing_the_configured_ones() -> None:
    done = _validate("examples/ga4.json", "--config", EXAMPLE, "--dataset", "999")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "capi-streams validate: --dataset 999: not a configured dataset "
        "(configured: 1234567890123456)\n"
    )
    bare = _validate("examples/ga4.json", "--dataset", "999")
    assert bare.returncode == 2 and "configured: none" in bare.stderr


def test_an_unknown_format_is_refused_listing_the_formats() -> None:
    done = _validate("examples/ga4.json", "--format", "bogus")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "capi-streams validate: --format bogus: unknown format "
        "(known: native, segment, rudderstack, ga4, cloudevents, auto)\n"
    )


def test_control_characters_of_the_input_are_escaped_in_the_text_report(tmp_path: Path) -> None:
    f = tmp_path / "ctl.json"
    f.write_text(
        '{"event_name": "Lead\\u001b[2J\\u0007\\u202e", "event_time": 1, '
        '"action_source": "email", "user_data": {"email": "a@example.com"}}'
    )
    done = _validate(str(f))
    assert done.returncode == 1
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\u202e" not in done.stdout
    assert "Lead\\x1b[2J\\x07\\u202e: REJECTED event_time_too_old" in done.stdout


def test_validate_applies_the_worker_size_limit_of_the_dataset(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[[datasets]]\nid = "1234567890123456"\ntoken_env = "T"\nmax_event_bytes = 1000\n'
    )
    event = {
        "event_name": "Lead",
        "event_time": int(time.time()) - 60,
        "action_source": "email",
        "user_data": {"email": "a@example.com"},
        "custom_data": {"note": "x" * 2000},
    }
    f = tmp_path / "big.json"
    f.write_bytes(orjson.dumps(event))
    done = _validate(str(f), "--config", str(config), "--json")
    assert done.returncode == 1, done.stderr
    (row,) = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert (row["status"], row["reason"], row["fails"]) == ("rejected", "event_too_large", True)
