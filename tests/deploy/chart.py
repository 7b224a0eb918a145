"""Render the Helm chart with the real helm binary (.ci/helm builds the pinned version)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "capi-streams"
#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas
#: kubernetes-validate ships.
KUBE_VERSIONS = ("1.25.0", "1.37.0")

#: The value sets CI renders: defaults, every optional resource on, both managed-Kafka examples.
VALUE_SETS: dict[str, tuple[list[str], list[str]]] = {
    "defaults": ([], []),
    "keda-servicemonitor": (
        [],
        [
            "keda.enabled=true",
            "monitoring.enabled=true",
            "monitoring.kind=ServiceMonitor",
            "prometheusRule.enabled=true",
            "grafanaDashboard.enabled=true",
        ],
    ),
    "podmonitor-deployment": (
        [],
        ["monitoring.enabled=true", "monitoring.kind=PodMonitor", "workloadKind=Deployment"],
    ),
    "confluent-cloud": (["values-confluent-cloud.yaml"], []),
    "msk": (["values-msk.yaml"], []),
}


def helm() -> str:
    found = (
        os.environ.get("CAPI_HELM")
        or shutil.which("helm")
        or str(Path(os.path.expanduser("~/go/bin/helm")))
    )
    assert Path(found).is_file(), "helm is required: `bash .ci/helm` builds the pinned version"
    return found


def _args(files: list[str], sets: list[str]) -> list[str]:
    out: list[str] = []
    for f in files:
        out += ["-f", str(CHART / f)]
    for s in sets:
        out += ["--set", s]
    return out


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm(), *args], capture_output=True, text=True, check=False, timeout=120, cwd=ROOT
    )


def render(
    files: list[str], sets: list[str], kube_version: str = KUBE_VERSIONS[-1]
) -> list[dict[str, Any]]:
    result = run_helm(
        "template",
        "capi",
        str(CHART),
        "--namespace",
        "capi",
        "--kube-version",
        kube_version,
        *_args(files, sets),
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def lint(files: list[str], sets: list[str]) -> subprocess.CompletedProcess[str]:
    return run_helm("lint", "--strict", str(CHART), *_args(files, sets))


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} rendered"
    return found[0]
