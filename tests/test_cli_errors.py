"""Configuration and connection errors on the command line: one line naming the key, a
non-zero exit, no traceback (unless --debug). Run as a user would, in a subprocess."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from streams.cli_errors import describe
from streams.settings import ConfigError
from tests.cli_support import ROOT, run_cli, user_env

EXAMPLE = str(ROOT / "config" / "capi-streams.example.toml")


def _cli(*args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = run_cli(*args, env=user_env(**env))
    text = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )
    return text, time.monotonic() - started


def _one_line_naming_the_key(
    proc: subprocess.CompletedProcess[str], command: str, address: str
) -> None:
    """A non-zero exit and one line that names the key and the address tried; no traceback."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"capi-streams {command}: ")
    assert "kafka.bootstrap_servers" in lines[0] and address in lines[0]


@pytest.mark.parametrize("address", ["127.0.0.1:1", "locahost:9092"])
def test_an_unreachable_broker_is_one_line_naming_the_key(address: str) -> None:
    proc, took = _cli(
        "worker",
        "--config",
        EXAMPLE,
        CAPI_TOKEN_WEB="t",
        CAPI_KAFKA__BOOTSTRAP_SERVERS=address,
    )
    _one_line_naming_the_key(proc, "worker", address)
    assert proc.stdout == ""
    assert took < 60


def test_an_address_without_port_is_refused_naming_the_key() -> None:
    proc, _ = _cli("worker", CAPI_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "capi-streams worker: configuration error: kafka.bootstrap_servers: expected "
        "host:port[,host:port], got '127.0.0.1' (no port; Kafka's default would be 9092: "
        "write it out)"
    ]


def test_debug_adds_the_traceback_before_the_line() -> None:
    produce = ("produce", "examples/ga4.json", "--format", "ga4")
    proc, _ = _cli("--debug", *produce, CAPI_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("capi-streams produce: ") and "kafka.bootstrap_servers" in last
    after, _ = _cli("replay", "--debug", CAPI_KAFKA__BOOTSTRAP_SERVERS="x")
    assert after.returncode == 2 and "configuration error" in after.stderr


def test_run_with_an_unreachable_configured_broker_is_one_line(tmp_path: Path) -> None:
    proc, _ = _cli(
        "run",
        "--config",
        EXAMPLE,
        CAPI_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1",
        XDG_DATA_HOME=str(tmp_path),
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    last = out.splitlines()[-1]
    assert last.startswith("capi-streams run: ") and "kafka.bootstrap_servers" in last
    assert "127.0.0.1:1" in last


def test_describe_names_the_key_for_a_kafka_connection_error() -> None:
    from aiokafka.errors import KafkaConnectionError

    exc = KafkaConnectionError(
        "Unable to bootstrap from [('10.0.0.5', 9092, <AddressFamily.AF_INET: 2>)]"
    )
    assert describe(exc) == (
        "cannot reach a Kafka broker at 10.0.0.5:9092 (kafka.bootstrap_servers): "
        "check the address and that the broker runs",
        1,
    )


def test_describe_redacts_unexpected_exception_texts() -> None:
    line, status = describe(RuntimeError("failed for jane@example.com from 203.0.113.9"))
    assert status == 1
    assert "jane" not in line and "203.0.113.9" not in line
    assert line.startswith("RuntimeError: failed for <email> from <ip>")
    assert describe(ConfigError("a.b: expected x")) == ("configuration error: a.b: expected x", 2)


@pytest.mark.parametrize(
    "command", [("replay", "--dry-run"), ("produce", "examples/ga4.json", "--format", "ga4")]
)
def test_other_kafka_commands_report_an_unreachable_broker_in_one_line(
    command: tuple[str, ...],
) -> None:
    proc, _ = _cli(*command, CAPI_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1")
    _one_line_naming_the_key(proc, command[0], "127.0.0.1:1")
