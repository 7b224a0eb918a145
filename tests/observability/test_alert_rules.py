"""The alert rules and the Prometheus config pass promtool, and every alert is unit-tested.

promtool comes from Debian's `prometheus` package, which .ci/run installs; without it these
tests fail rather than skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streams.observability.metrics import Metrics
from tests.observability.promql import grouping_labels, read_rules

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "config/prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
# Labels an alert may carry besides severity: configuration values, never per-event data.
ALERT_LABELS = {"dataset", "topic", "job"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (Debian package `prometheus`; .ci/run installs it)"
    return subprocess.run(
        [promtool, *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    # The hand-written reader in promql.py sees exactly the rules promtool sees.
    found = re.search(r"SUCCESS: (\d+) rules found", result.stdout)
    assert found is not None, result.stdout
    assert int(found.group(1)) == len(read_rules(ALERTS.read_text()))


def test_promtool_test_rules() -> None:
    result = _promtool("test", "rules", ALERTS_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def _exposition() -> str:
    registry = CollectorRegistry()
    Metrics(registry, datasets=["1"], topics=["t"], graph_api_version="v25.0")
    return generate_latest(registry).decode()


def test_promtool_check_metrics_accepts_the_exposition() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (Debian package `prometheus`; .ci/run installs it)"
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=_exposition(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_six_day_delay_bucket_exists_for_the_time_limit_alert() -> None:
    # CapiEventsNearTimeLimit reads the le=6 days bucket; it must stay a bucket boundary.
    assert 'capi_event_delay_seconds_bucket{dataset="1",le="518400.0"}' in _exposition()
    assert 'le=~"518400(\\\\.0)?"' in ALERTS.read_text()


def test_promtool_test_rules_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests can fail: a paused dataset that is expected not to fire does fire."""
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text())
    (tmp_path / "wrong_test.yml").write_text(
        "rule_files: [alerts.yml]\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n"
        "      - series: 'capi_dataset_paused{dataset=\"1\"}'\n"
        "        values: '1x10'\n"
        "    alert_rule_test:\n"
        "      - eval_time: 5m\n"
        "        alertname: CapiDatasetPaused\n"
        "        exp_alerts: []\n"
    )
    promtool = shutil.which("promtool")
    assert promtool
    result = subprocess.run(
        [promtool, "test", "rules", "wrong_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert "CapiDatasetPaused" in result.stdout + result.stderr


ALERT_NAMES = [rule.name for rule in read_rules(ALERTS.read_text())]


def test_the_expected_alerts_exist() -> None:
    assert set(ALERT_NAMES) >= {
        "CapiDatasetPaused",
        "CapiFailureRatioHigh",
        "CapiInputInvalidHigh",
        "CapiNoDelivery",
        "CapiConsumerLagGrowing",
        "CapiEventsNearTimeLimit",
        "CapiWindowFailed",
    }
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES))


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_for_severity_and_annotations(name: str) -> None:
    (rule,) = [r for r in read_rules(ALERTS.read_text()) if r.name == name]
    assert re.search(r"^\s+for: \d+[smh]\s*$", rule.text, re.M), "missing `for:`"
    assert re.search(r"^\s+severity: (critical|warning)\s*$", rule.text, re.M)
    assert re.search(r"^\s+summary: ", rule.text, re.M)
    assert re.search(r"^\s+description: ", rule.text, re.M)
    labels = re.search(r"^\s+labels:\n((?:\s{10,}.*\n)+)", rule.text + "\n", re.M)
    assert labels is not None
    assert [ln.split(":")[0].strip() for ln in labels.group(1).splitlines()] == ["severity"]
    assert grouping_labels(rule.expr) <= ALERT_LABELS


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_is_tested_firing_and_not_firing(name: str) -> None:
    text = ALERTS_TEST.read_text()
    expectations = re.findall(
        rf"alertname: {re.escape(name)}\s*\n\s*exp_alerts:[ \t]*(\[\])?", text
    )
    assert "" in expectations, f"{name}: no test where it fires"
    assert "[]" in expectations, f"{name}: no test where it stays silent"
