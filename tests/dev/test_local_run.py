"""The README's run command on its embedded defaults: `capi-streams run --demo` starts its own
broker and the sandbox, runs the worker, and accounts for every demo event."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.dev.broker import BrokerInfo
from tests.cli_support import run_cli, user_env
from tests.kafka.secure import kafka_env

pytestmark = pytest.mark.integration


def _clean_env() -> dict[str, str]:
    return user_env()


def _run_demo(env: dict[str, str], events: int, *args: str) -> str:
    """`capi-streams run --demo --events N [ARGS]`; its output, after checking it exited 0."""
    proc = run_cli("run", "--demo", "--events", str(events), *args, env=env, timeout=240)
    out = (proc.stdout + proc.stderr).decode()
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


def test_run_with_a_config_and_no_token_serves_the_configs_datasets(tmp_path: Path) -> None:
    config = tmp_path / "my-config.toml"
    config.write_text('[[datasets]]\nid = "1234567890123456"\ntoken_env = "CAPI_TOKEN_WEB"\n')
    env = user_env(XDG_DATA_HOME=str(tmp_path))  # its own broker data dir
    out = _run_demo(env, 100, "--config", str(config))
    assert f"serving datasets 1234567890123456 (those of {config})" in out
    assert re.search(r"^\s+\d+\s{2}delivered to dataset 1234567890123456$", out, re.MULTILINE)
    assert "dataset_unavailable" not in out and "Traceback" not in out
