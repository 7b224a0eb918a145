"""The Helm chart (deploy/helm/capi-streams): helm lint and template with every value set CI
uses, the rendered manifests validated against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict) and the custom resources against structural schemas
(crd_schemas.py), the PrometheusRule checked by promtool and equal to alerts.yml, the rendered
config loaded by the worker's own settings loader.

helm comes from `.ci/helm` (pinned, built from the Go module proxy), promtool from Debian's
`prometheus` package; without them these tests fail rather than skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streams.settings import load_settings
from tests.deploy.chart import (
    CHART,
    KUBE_VERSIONS,
    ROOT,
    VALUE_SETS,
    lint,
    only,
    render,
    run_helm,
)
from tests.deploy.crd_schemas import SCHEMAS

ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "config" / "grafana" / "dashboards" / "capi-streams.json"
NAMES = sorted(VALUE_SETS)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(*VALUE_SETS[name]) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_helm_lint_passes_strict(name: str) -> None:
    result = lint(*VALUE_SETS[name])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", NAMES)
def test_manifests_match_the_kubernetes_and_crd_schemas(name: str, kube_version: str) -> None:
    docs = render(*VALUE_SETS[name], kube_version=kube_version)
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in SCHEMAS:
            jsonschema.validate(doc, SCHEMAS[key])
        else:
            kubernetes_validate.validate(doc, kube_version, strict=True)


def test_a_typo_in_a_manifest_fails_validation(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The validators refuse what the API server would (so the checks above can fail)."""
    workload = json.loads(json.dumps(only(rendered["defaults"], "StatefulSet")))
    workload["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(workload, KUBE_VERSIONS[-1], strict=True)
    scaled = json.loads(json.dumps(only(rendered["keda-servicemonitor"], "ScaledObject")))
    scaled["spec"]["triggers"][0]["metadata"]["lagTreshold"] = "1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")])


def test_the_prometheus_rule_is_alerts_yml(rendered: dict[str, list[dict[str, Any]]]) -> None:
    rule = only(rendered["keda-servicemonitor"], "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())
    assert (CHART / "files" / "alerts.yml").resolve() == ALERTS.resolve()


def test_promtool_accepts_the_prometheus_rule_groups(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (Debian package `prometheus`; .ci/run installs it)"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(only(rendered["msk"], "PrometheusRule")["spec"]))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_dashboard_config_map_is_the_dashboard_for_the_sidecar(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    maps = [d for d in rendered["keda-servicemonitor"] if d["kind"] == "ConfigMap"]
    (dashboard,) = [m for m in maps if m["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["capi-streams.json"]) == json.loads(DASHBOARD.read_text())


def _config(docs: list[dict[str, Any]]) -> str:
    (config,) = [
        d["data"]["config.toml"]
        for d in docs
        if d["kind"] == "ConfigMap" and "config.toml" in d.get("data", {})
    ]
    return str(config)


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    workload = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment"))
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers[0]


@pytest.mark.parametrize("name", NAMES)
def test_the_rendered_config_is_one_the_worker_loads(
    name: str, rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    docs = rendered[name]
    path = tmp_path / "config.toml"
    path.write_text(_config(docs))
    # The environment the pod gets: each secretEnv variable holds some value.
    env = {e["name"]: "from-a-secret" for e in _container(docs)["env"] if "valueFrom" in e}
    env.pop("CAPI_KAFKA__GROUP_INSTANCE_ID", None)
    settings = load_settings(path, env)
    assert settings.metrics.host == "0.0.0.0"
    assert all(d.token is not None for d in settings.datasets)
    workload = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment"))
    grace = workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.worker.shutdown_timeout_seconds
    # Probes on the worker's own endpoints, on its metrics port.
    container = _container(docs)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["ports"] == [
        {"name": "metrics", "containerPort": settings.metrics.port, "protocol": "TCP"}
    ]


@pytest.mark.parametrize("name", NAMES)
def test_credentials_only_from_existing_secrets(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered[name]
    assert not [d for d in docs if d["kind"] == "Secret"]
    config = tomllib.loads(_config(docs))
    kafka = config["kafka"]
    assert not {"sasl_password", "ssl_key_password", "oauth_client_secret"} & set(kafka)
    secret_vars = {
        e["name"] for e in _container(docs)["env"] if "secretKeyRef" in e.get("valueFrom", {})
    }
    wanted = {d["token_env"] for d in config["datasets"]}
    if kafka.get("sasl_password_env"):
        wanted.add(kafka["sasl_password_env"])
    assert wanted <= secret_vars


def test_static_membership_from_the_pod_name(rendered: dict[str, list[dict[str, Any]]]) -> None:
    env = _container(rendered["defaults"])["env"]
    assert {
        "name": "CAPI_KAFKA__GROUP_INSTANCE_ID",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    } in env
    # A Deployment's pod names change on every rollout: no static membership there.
    deployment = _container(rendered["podmonitor-deployment"])["env"]
    assert "CAPI_KAFKA__GROUP_INSTANCE_ID" not in {e["name"] for e in deployment}


def test_keda_scales_on_lag_with_the_threshold_from_the_benchmark(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["keda-servicemonitor"]
    scaled = only(docs, "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["lagThreshold"] == "150000"  # 5,000 events/s x 30 s
    assert trigger["metadata"]["consumerGroup"] == "capi-streams"
    assert trigger["metadata"]["topic"] == "capi-events"
    assert trigger["metadata"]["allowIdleConsumers"] == "false"
    workload = only(docs, "StatefulSet")
    assert "replicas" not in workload["spec"]  # KEDA owns it
    assert scaled["spec"]["scaleTargetRef"]["name"] == workload["metadata"]["name"]


def test_keda_sums_the_lag_of_every_input_topic_when_there_are_several() -> None:
    docs = render([], ["keda.enabled=true", "config.kafka.input_topics={a,b}"])
    (trigger,) = only(docs, "ScaledObject")["spec"]["triggers"]
    assert "topic" not in trigger["metadata"]


def test_the_msk_example_mounts_the_ca_and_authenticates_the_scaler(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["msk"]
    config = tomllib.loads(_config(docs))
    assert config["kafka"]["ssl_ca_file"] == "/etc/capi-streams/kafka/ca/ca.crt"
    mounts = {m["name"]: m["mountPath"] for m in _container(docs)["volumeMounts"]}
    assert mounts["kafka-ca"] == "/etc/capi-streams/kafka/ca"
    auth = only(docs, "TriggerAuthentication")
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {
        "username",
        "password",
        "ca",
    }
    assert only(docs, "ServiceMonitor")["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_the_packaged_chart_carries_the_rules_and_dashboard_as_files(tmp_path: Path) -> None:
    """files/ links to config/; `helm package` stores the linked files' contents."""
    result = run_helm("package", str(CHART), "-d", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (archive,) = tmp_path.glob("capi-streams-*.tgz")
    with tarfile.open(archive) as tar:
        for member, source in (("alerts.yml", ALERTS), ("capi-streams.json", DASHBOARD)):
            info = tar.getmember(f"capi-streams/files/{member}")
            assert info.isfile()
            extracted = tar.extractfile(info)
            assert extracted is not None
            assert extracted.read() == source.read_bytes()


def test_processes_adds_the_option_only_above_one(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    config = ["worker", "--config", "/etc/capi-streams/config/config.toml"]
    assert _container(rendered["defaults"])["args"] == config
    docs = render([], ["processes=2"])
    assert _container(docs)["args"] == [*config, "--processes", "2"]
