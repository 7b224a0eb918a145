"""A real Prometheus scraping a running worker, and a PII/token sweep of everything it emits."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    DATASET_B,
    Topics,
    WorkerProcess,
    create_topics,
    free_port,
    produce,
    read_all,
    set_token_invalid,
    source_coords,
    worker_env,
)

pytestmark = pytest.mark.integration

EMAIL = "Unique.Person.7731@Example-Mail.com"
PHONE = "+1 (415) 555-0199"
LAST_NAME = "Zwierzchowski"
IP = "198.51.100.77"
TOKEN = "sandbox-token"  # the sandbox's token, used as the worker's secret


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=3) as server:
        yield server


def _start_prometheus(tmp_path: Path, target_port: int) -> tuple[subprocess.Popen[bytes], int]:
    if shutil.which("prometheus") is None:
        pytest.fail(
            "the prometheus server is required (Debian package prometheus; .ci/system-deps)"
        )
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: capi-streams\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    with (tmp_path / "prometheus.log").open("wb") as log:  # prometheus writes to its own copy
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    return proc, port


def _query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # loopback
            doc = json.loads(resp.read())
    except OSError:
        return []
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def _event(i: int, now: int, **over: Any) -> bytes:
    ev: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": now - 5,
        "action_source": "website",
        "event_source_url": f"https://shop.example.com/x?fbclid=IwAR{i}",
        "event_id": f"pii-{i}",
        "user_data": {
            "email": EMAIL,
            "phone": PHONE,
            "last_name": LAST_NAME,
            "ip": IP,
            "user_agent": "Mozilla/5.0",
        },
        "custom_data": {"value": 9.99, "currency": "USD"},
    }
    ev.update(over)
    return orjson.dumps(ev)


async def test_prometheus_scrapes_the_worker_and_sees_counters_move(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    worker = WorkerProcess(worker_env(kafka_bootstrap, sandbox.url, topics), tmp_path / "w.log")
    await asyncio.to_thread(worker.start)
    prom, port = _start_prometheus(tmp_path, worker.metrics_port)
    try:
        for _ in range(60):
            if await asyncio.to_thread(_query, port, 'up{job="capi-streams"} == 1'):
                break
            await asyncio.sleep(0.5)
        before = await asyncio.to_thread(_query, port, "sum(capi_events_delivered_total)")
        assert before and float(before[0]["value"][1]) == 0  # pre-initialized series
        now = int(time.time())
        await produce(kafka_bootstrap, topics.input, [_event(i, now) for i in range(50)])
        await produce(kafka_bootstrap, topics.input, [b"not json"])
        delivered = failed = 0.0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (delivered < 50 or failed < 1):
            await asyncio.sleep(1)
            d = await asyncio.to_thread(_query, port, "sum(capi_events_delivered_total)")
            f = await asyncio.to_thread(
                _query, port, 'sum(capi_events_failed_total{reason="invalid_json"})'
            )
            delivered = float(d[0]["value"][1]) if d else 0
            failed = float(f[0]["value"][1]) if f else 0
        assert delivered == 50 and failed == 1
        coverage = await asyncio.to_thread(_query, port, 'capi_match_key_events_total{key="em"}')
        assert sum(float(s["value"][1]) for s in coverage) == 50
        assert await asyncio.to_thread(_query, port, "capi_build_info")
    finally:
        prom.terminate()
        prom.wait(10)
        await asyncio.to_thread(worker.stop)


async def test_no_pii_or_token_in_logs_metrics_failures_or_exceptions(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    """Known PII and the token go through every path: delivery, validation failures, Graph
    rejection after bisection, transient errors, an invalid token hold, debug logging."""
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    sandbox.state.faults.config = FaultConfig(http_5xx=0.2, reset=0.05)
    now = int(time.time())
    values = [_event(i, now) for i in range(200)]
    values.append(_event(900, now, custom_data={"value": 1}))  # missing_currency
    values.append(_event(901, now, event_time=now - 9 * 86400))  # too old
    values.append(_event(902, now, event_time=now + 1800))  # Graph rejects it (skew)
    values.append(b'{"user_data": {"email": "' + EMAIL.encode() + b'"}, "event_name": ')
    values.append(_event(903, now, dataset_id=DATASET_B))  # its dataset's token is invalid
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        topics,
        token=TOKEN,
        extra={
            "CAPI_WORKER__LOG_LEVEL": "DEBUG",
            "CAPI_DATASETS__0__MAX_FUTURE_SKEW_SECONDS": "7200",
            "CAPI_GRAPH__MAX_ATTEMPTS": "8",
        },
    )
    worker = WorkerProcess(env, tmp_path / "w.log")
    coords = await produce(kafka_bootstrap, topics.input, values)
    await set_token_invalid(sandbox.url, DATASET_B, True)
    await asyncio.to_thread(worker.start)
    try:
        want = set(coords[:-1])  # the held dataset's event has no outcome yet
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            records = await read_all(
                kafka_bootstrap, topics.responses, until=lambda r: False, timeout_s=1
            ) + await read_all(kafka_bootstrap, topics.failures, until=lambda r: False, timeout_s=1)
            if want <= set(source_coords(records, topics.input)):
                break
        assert want <= set(source_coords(records, topics.input)), worker.log_tail()
        metrics_text = orjson.dumps(await asyncio.to_thread(worker.metrics)).decode()
    finally:
        await asyncio.to_thread(worker.stop)
    logs = worker.log_path.read_text(errors="replace")
    failures = orjson.dumps([r for r in records if r["kind"] == "failure"]).decode()
    reasons = {r["reason"] for r in records if r["kind"] == "failure"}
    assert {"missing_currency", "event_time_too_old", "invalid_json"} <= reasons
    assert reasons & {"graph_rejected", "retries_exhausted"}  # the skewed event reached Meta
    assert "DEBUG" in logs and len(logs) > 1000  # the sweep looked at real, verbose logs
    for where, text in (("logs", logs), ("metrics", metrics_text), ("failures", failures)):
        for secret in (EMAIL, EMAIL.lower(), PHONE, "4155550199", LAST_NAME, IP, TOKEN):
            assert secret not in text, f"{secret!r} leaked into {where}"


async def test_the_worker_polls_event_match_quality_from_the_sandbox(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    unique_topic: str,
    unique_group: str,
    tmp_path: Path,
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    env = worker_env(
        kafka_bootstrap,
        sandbox.url,
        topics,
        extra={"CAPI_QUALITY__ENABLED": "true", "CAPI_QUALITY__INTERVAL_SECONDS": "1"},
    )
    worker = WorkerProcess(env, tmp_path / "w.log")
    now = int(time.time())
    await produce(kafka_bootstrap, topics.input, [_event(i, now) for i in range(20)])
    await asyncio.to_thread(worker.start)
    try:
        score = coverage = None
        for _ in range(60):
            m = await asyncio.to_thread(worker.metrics)
            score = m.get("capi_emq_score{dataset=1000000000000001,event_name=Purchase}")
            coverage = m.get(
                "capi_emq_key_coverage_ratio{dataset=1000000000000001,event_name=Purchase,key=em}"
            )
            if score and coverage:
                break
            await asyncio.sleep(0.5)
    finally:
        await asyncio.to_thread(worker.stop)
    assert score is not None and 0 < score <= 10
    assert coverage == 1.0  # every delivered Purchase carried an email
