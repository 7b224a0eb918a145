"""The compose stack and the image are safe to run on a shared host."""

from __future__ import annotations

import re
from pathlib import Path

from streams.dev.broker import DEFAULT_KAFKA_VERSION
from streams.settings import DEFAULT_GRAPH_URL, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = (ROOT / "docker-compose.yml").read_text()


def _published_ports() -> list[str]:
    ports: list[str] = []
    lines = COMPOSE.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "ports:":
            for entry in lines[i + 1 :]:
                match = re.fullmatch(r'\s+- "(.+)"', entry)
                if match is None:
                    break
                ports.append(match.group(1))
    return ports


def test_every_published_port_is_bound_to_loopback_unless_the_user_opts_in() -> None:
    ports = _published_ports()
    assert len(ports) == 5
    for port in ports:
        assert port.startswith("${CAPI_BIND:-127.0.0.1}:"), port


def test_grafana_has_an_admin_password_from_the_environment_and_no_anonymous_access() -> None:
    assert 'GF_AUTH_ANONYMOUS_ENABLED: "false"' in COMPOSE
    assert 'GF_SECURITY_ADMIN_PASSWORD: "${GRAFANA_ADMIN_PASSWORD:?' in COMPOSE
    assert "ANONYMOUS_ORG_ROLE" not in COMPOSE


def test_prometheus_lifecycle_api_is_off() -> None:
    assert "enable-lifecycle" not in COMPOSE
    assert "enable-admin-api" not in COMPOSE


def test_sandbox_admin_endpoints_are_off_unless_asked_for() -> None:
    assert 'CAPI_SANDBOX_ADMIN: "${CAPI_SANDBOX_ADMIN:-0}"' in COMPOSE


def test_the_image_config_targets_the_real_graph_api_with_metrics_inside_the_container() -> None:
    s = load_settings(ROOT / "config" / "capi-streams.docker.toml", {"CAPI_TOKEN": "t"})
    assert s.graph.url == DEFAULT_GRAPH_URL
    assert s.metrics.host == "0.0.0.0"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["worker", "--config", "/app/config/capi-streams.docker.toml"]' in dockerfile


def test_compose_runs_the_kafka_version_the_local_broker_and_tests_default_to() -> None:
    images = re.findall(r"image: apache/kafka:(\S+)", COMPOSE)
    assert images == [DEFAULT_KAFKA_VERSION] * 2  # the broker and the topic creator
