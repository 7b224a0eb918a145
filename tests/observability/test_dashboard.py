"""The Grafana dashboard and the alert rules only use metrics and labels the worker exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.domain.quality import DatasetQuality
from streams.observability.emq import EmqPoller
from streams.observability.metrics import Metrics
from streams.observability.registry_metrics import RegistryMetrics
from tests.observability.promql import (
    exposed_series,
    grouping_labels,
    matcher_labels,
    metric_names,
    read_rules,
)


class _NoFetch:
    """The EMQ poller's gauges exist without polling; nothing is fetched here."""

    async def fetch(self, dataset_id: str) -> DatasetQuality | None:
        return None


ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config/grafana/dashboards/capi-streams.json"
ALERTS = ROOT / "config/prometheus/alerts.yml"

# Metrics the lead has announced for the worker but streams/observability/metrics.py does not
# define yet, with the labels the dashboard and rules rely on. Remove an entry when the metric
# lands: test_announced_metrics_are_still_missing fails as a reminder.
ANNOUNCED: dict[str, tuple[str, ...]] = {}
# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES: dict[str, tuple[str, ...]] = {"up": ()}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = ("job", "instance")
# Grafana variables and what stands in for them when promtool checks the syntax.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$dataset": ".*",
    "$topic": ".*",
}


@pytest.fixture(scope="module")
def series() -> dict[str, tuple[str, ...]]:
    registry = CollectorRegistry()
    Metrics(registry, datasets=["1"], topics=["t"], graph_api_version="v25.0")
    EmqPoller(_NoFetch(), ["1"], registry=registry, interval_s=60)
    RegistryMetrics(registry)
    known = exposed_series(registry)
    return {
        name: (*labels, *TARGET_LABELS)
        for name, labels in {**known, **ANNOUNCED, **PROMETHEUS_SERIES}.items()
    }


def _dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _targets() -> list[tuple[str, str]]:
    out = []
    for panel in _panels(_dashboard()["panels"]):
        for target in panel.get("targets", []):
            out.append((f"{panel['title']}/{target['refId']}", target["expr"]))
    return out


def _check_expr(where: str, expr: str, series: dict[str, tuple[str, ...]]) -> list[str]:
    problems = []
    names = metric_names(expr)
    if not names:
        problems.append(f"{where}: no metric found in {expr!r}")
    for name in sorted(names - series.keys()):
        problems.append(f"{where}: {name} is not exposed by the worker")
    for name, label in matcher_labels(expr):
        if name in series and label not in series[name]:
            problems.append(f"{where}: {name} has no label {label!r}")
    used = {label for name in names & series.keys() for label in series[name]}
    for label in sorted(grouping_labels(expr) - used):
        problems.append(f"{where}: no metric of the expression has label {label!r}")
    return problems


# --- the extraction itself -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (dataset, key) (rate(capi_match_key_events_total{dataset=~"$dataset"}[5m]))'
            " / on (dataset) group_left sum by (dataset) (rate(capi_events_delivered_total[5m]))",
            {"capi_match_key_events_total", "capi_events_delivered_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) "
            "(rate(capi_request_duration_seconds_bucket[$__rate_interval])))",
            {"capi_request_duration_seconds_bucket"},
        ),
        (
            "time() - max by (dataset) (capi_last_success_timestamp_seconds > 0)",
            {"capi_last_success_timestamp_seconds"},
        ),
        ("deriv(x:y[10m:1m]) > 1e3 and z offset 5m unless bool", {"x:y", "z"}),
        ('count(up{job="a and b"} == 0)', {"up"}),
    ],
)
def test_metric_names_finds_series_only(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exposed_series_follows_client_suffixes(series: dict[str, tuple[str, ...]]) -> None:
    assert "capi_events_consumed_total" in series
    assert "capi_events_consumed" not in series  # a counter is only queryable as `_total`
    assert "capi_request_duration_seconds_bucket" in series
    assert "le" in series["capi_request_duration_seconds_bucket"]
    assert "le" not in series["capi_request_duration_seconds_count"]
    assert "capi_request_duration_seconds" not in series
    assert "capi_dataset_paused" in series
    # Families without children yet are listed too, with their labels.
    assert series["capi_user_data_dropped_total"][:2] == ("field", "reason")


def test_check_expr_reports_unknown_names_and_labels(series: dict[str, tuple[str, ...]]) -> None:
    problems = _check_expr(
        "t",
        'sum by (datset) (rate(capi_events_consumed_total{dataset="1"}[5m])) + capi_nope',
        series,
    )
    assert problems == [
        "t: capi_nope is not exposed by the worker",
        "t: capi_events_consumed_total has no label 'dataset'",
        "t: no metric of the expression has label 'datset'",
    ]


# --- dashboard -----------------------------------------------------------------------------


def test_every_panel_query_uses_exposed_metrics(series: dict[str, tuple[str, ...]]) -> None:
    targets = _targets()
    assert len(targets) >= 20
    problems = [p for where, expr in targets for p in _check_expr(where, expr, series)]
    assert problems == []


def test_template_variables(series: dict[str, tuple[str, ...]]) -> None:
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == "prometheus"
    dataset = variables["dataset"]
    assert dataset["query"] == "label_values(capi_events_delivered_total, dataset)"
    for var in variables.values():
        if var["type"] != "query":
            continue
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["query"])
        assert m is not None, var["query"]
        assert m.group(2) in series[m.group(1)], var["query"]


def test_panels_use_the_datasource_variable_and_fit_the_grid() -> None:
    doc = _dashboard()
    assert doc["schemaVersion"] == 39
    assert doc["uid"] == "capi-streams"
    panels = list(_panels(doc["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


def test_dashboard_covers_the_operator_views() -> None:
    exprs = "\n".join(expr for _, expr in _targets())
    for needle in (
        "capi_events_consumed_total",
        "capi_events_delivered_total",
        "capi_events_failed_total",
        "capi_requests_total",
        "capi_retries_total",
        "capi_throttle_pauses_total",
        "histogram_quantile(0.99, sum by (le) (rate(capi_request_duration_seconds_bucket",
        "capi_batch_events_bucket",
        "capi_event_delay_seconds_bucket",
        "/ on (dataset) group_left",
        "capi_emq_score",
        "capi_consumer_lag",
        "capi_dataset_paused",
        "capi_requests_in_flight",
        "capi_windows_pending",
        "time() - max by (dataset) (capi_last_success_timestamp_seconds",
        "capi_build_info",
    ):
        assert needle in exprs, needle


def test_panel_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (Debian package `prometheus`; .ci/run installs it)"
    lines = ["groups:", "  - name: dashboard-syntax", "    rules:"]
    for n, (_, expr) in enumerate(_targets()):
        for var, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
        lines.append(f"      - record: dashboard:check_{n}")
        lines.append("        expr: |")
        lines.extend(f"          {line}" for line in expr.splitlines())
    rules = tmp_path / "dashboard_rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_targets())} rules found" in result.stdout


# --- alert rules ---------------------------------------------------------------------------


def test_every_alert_expression_uses_exposed_metrics(series: dict[str, tuple[str, ...]]) -> None:
    rules = read_rules(ALERTS.read_text())
    assert len(rules) >= 7
    problems = [p for rule in rules for p in _check_expr(rule.name, rule.expr, series)]
    assert problems == []


def test_announced_metrics_are_still_missing() -> None:
    registry = CollectorRegistry()
    Metrics(registry, datasets=["1"], topics=["t"], graph_api_version="v25.0")
    EmqPoller(_NoFetch(), ["1"], registry=registry, interval_s=60)
    RegistryMetrics(registry)
    landed = set(ANNOUNCED) & exposed_series(registry).keys()
    assert not landed, f"now defined in metrics.py, drop from ANNOUNCED: {sorted(landed)}"
