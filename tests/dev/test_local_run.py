"""The README's run command on its embedded defaults: `capi-streams run --demo` starts its own
broker and the sandbox, runs the worker, and accounts for every demo event."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams.dev.broker import BrokerInfo
from tests.kafka.secure import kafka_env

pytestmark = pytest.mark.integration


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CAPI_")}


def _run_demo(env: dict[str, str], events: int) -> str:
    """`capi-streams run --demo --events N`; its output, after checking it exited 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", "--demo", "--events", str(events)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


def test_run_demo_on_the_embedded_defaults_accounts_for_every_event(tmp_path: Path) -> None:
    env = _clean_env()
    env["XDG_DATA_HOME"] = str(tmp_path)  # its own broker data dir; the jar cache is shared
    out = _run_demo(env, 400)
    assert "stopped the local Kafka broker" in out
    heading = re.search(r"where the (\d+) events of the 400 demo messages went", out)
    assert heading, out[-3000:]
    events = int(heading.group(1))
    assert events >= 400  # GA4 messages carry several events
    where = dict(
        (label, int(count))
        for count, label in re.findall(r"^\s+(\d+)\s{2}(\S.*)$", out, flags=re.MULTILINE)
    )
    assert sum(where.values()) == events, where
    assert "no outcome yet" not in where
    assert any(k.startswith("delivered to dataset") for k in where)
    assert any(k.startswith("failures topic: ") for k in where)  # the demo has invalid events
    summary = re.search(r"summary: consumed ([\d,]+)\s+delivered ([\d,]+)\s+failed ([\d,]+)", out)
    assert summary, out[-3000:]
    consumed, delivered, failed = (int(g.replace(",", "")) for g in summary.groups())
    assert consumed == 400 and delivered + failed == events
    delivered_where = sum(v for k, v in where.items() if k.startswith("delivered to"))
    assert delivered_where == delivered


def test_run_demo_over_sasl_ssl_uses_the_kafka_security_keys(
    secure_broker: BrokerInfo, unique_topic: str, unique_group: str
) -> None:
    """`run --demo` against a secured broker: topic creation, the demo's producer and
    outcome reader, and the worker all connect with the [kafka] security keys."""
    env = _clean_env()
    env.update(kafka_env(secure_broker, "sasl_ssl", mechanism="SCRAM-SHA-256"))
    env.update(
        {
            "CAPI_KAFKA__INPUT_TOPICS": f"{unique_topic}-in",
            "CAPI_KAFKA__RESPONSES_TOPIC": f"{unique_topic}-responses",
            "CAPI_KAFKA__FAILURES_TOPIC": f"{unique_topic}-failures",
            "CAPI_KAFKA__CONSUMER_GROUP": unique_group,
        }
    )
    out = _run_demo(env, 100)
    assert "starting the local Kafka broker" not in out
    assert re.search(r"summary: consumed 100\s", out), out[-3000:]
    assert secure_broker.security().password not in out
