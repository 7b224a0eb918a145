"""The worker end to end over each secured listener of the session broker, with the ledger
check: SSL with server verification, mutual TLS, SASL_SSL with PLAIN, SCRAM-SHA-256,
SCRAM-SHA-512 and OAUTHBEARER (tokens that expire during the run and are fetched again).
Replay and import run over SASL_SSL too. Every run is swept for secrets: no password, client
secret or OAuth token in the worker's log (DEBUG), its metrics or the outcome records.

The test's own setup (topics, input, reading outcomes) uses the PLAINTEXT listener of the same
broker; only the code under test connects through the secured listeners."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import orjson
import pytest

from streams.dev.broker import BrokerInfo
from streams.dev.sandbox.server import SandboxServer
from streams.domain.records import FailureRecord, SourceRef, failure_record
from tests.kafka.harness import (
    OutcomeReader,
    Topics,
    WorkerProcess,
    check_ledger,
    create_topics,
    make_inputs,
    produce_keyed,
    sandbox_events,
    worker_env,
)
from tests.kafka.secure import CLIENT_SECRET, kafka_env, token_server

pytestmark = pytest.mark.integration

N_EVENTS = 240  # small: one worker run per mode on a shared broker


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=11) as server:
        yield server


@pytest.fixture
def topics(unique_topic: str, unique_group: str) -> Topics:
    return Topics.unique(unique_topic, unique_group)


def assert_no_secrets(where: str, texts: Iterable[str], secrets: Iterable[str]) -> None:
    wanted = [s for s in secrets if s]
    assert wanted
    for text in texts:
        for secret in wanted:
            assert secret not in text, f"a secret ({len(secret)} chars) appears in {where}"


def _metrics_text(worker: WorkerProcess) -> str:
    url = f"http://127.0.0.1:{worker.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:  # loopback
        return str(resp.read().decode())


async def _run_worker(
    kafka_bootstrap: str,
    sandbox: SandboxServer,
    topics: Topics,
    env: dict[str, str],
    log: Path,
    phases: int = 1,
    between: object = None,
) -> tuple[list[dict[str, object]], str]:
    """Produce N_EVENTS inputs (in `phases` parts, awaiting `between()` after each part but
    the last), run one worker until each has an outcome, check the ledger; return the
    outcome records and the metrics text."""
    await create_topics(kafka_bootstrap, topics)
    inputs = make_inputs(N_EVENTS, int(time.time()), invalid_every=17)
    worker = WorkerProcess(env, log)
    await asyncio.to_thread(worker.start)
    coords: list[tuple[int, int]] = []
    step = N_EVENTS // phases
    try:
        async with OutcomeReader(kafka_bootstrap, topics) as reader:
            for phase in range(phases):
                part = slice(phase * step, N_EVENTS if phase == phases - 1 else (phase + 1) * step)
                coords += await produce_keyed(
                    kafka_bootstrap, topics.input, inputs.values[part], inputs.keys[part]
                )
                await reader.wait_covered(coords, 120, alive=[worker])
                if phase < phases - 1 and callable(between):
                    await between(worker)
            metrics = _metrics_text(worker)
            records = list(reader.records)
    finally:
        code = await asyncio.to_thread(worker.stop)
    assert code == 0, worker.log_tail()
    label = env["CAPI_KAFKA__SECURITY_PROTOCOL"] + " " + env.get("CAPI_KAFKA__SASL_MECHANISM", "")
    check_ledger(label, coords, inputs, records, await sandbox_events(sandbox.url), topics.input)
    return records, metrics


CASES = [
    pytest.param("ssl", "verify", "", id="ssl-server-verification"),
    pytest.param("ssl", "mutual", "", id="mutual-tls"),
    pytest.param("sasl_ssl", "verify", "PLAIN", id="sasl-ssl-plain"),
    pytest.param("sasl_ssl", "verify", "SCRAM-SHA-256", id="sasl-ssl-scram-sha-256"),
    pytest.param("sasl_ssl", "verify", "SCRAM-SHA-512", id="sasl-ssl-scram-sha-512"),
]


@pytest.mark.parametrize(("mode", "tls", "mechanism"), CASES)
async def test_worker_delivers_everything_over_a_secured_listener(
    kafka_bootstrap: str,
    secure_broker: BrokerInfo,
    sandbox: SandboxServer,
    topics: Topics,
    tmp_path: Path,
    mode: str,
    tls: str,
    mechanism: str,
) -> None:
    security = kafka_env(secure_broker, mode, tls=tls, mechanism=mechanism)
    env = worker_env(
        secure_broker.secured_bootstrap(mode),
        sandbox.url,
        topics,
        extra={**security, "CAPI_WORKER__LOG_LEVEL": "DEBUG"},
    )
    records, metrics = await _run_worker(
        kafka_bootstrap, sandbox, topics, env, tmp_path / "worker.log"
    )
    log = (tmp_path / "worker.log").read_text(errors="replace")
    if mechanism:
        assert f"Authenticated as {secure_broker.security().username} via {mechanism}" in log
    password = secure_broker.security().password
    assert_no_secrets("the worker's output", [log, metrics, repr(records)], [password])


async def test_worker_over_oauthbearer_fetches_a_new_token_when_the_first_expires(
    kafka_bootstrap: str,
    secure_broker: BrokerInfo,
    sandbox: SandboxServer,
    topics: Topics,
    tmp_path: Path,
) -> None:
    lifetime_s = 10.0
    async with token_server(lifetime_s) as tokens:
        security = {
            **kafka_env(secure_broker, "sasl_ssl", mechanism="OAUTHBEARER"),
            **tokens.env(),
        }
        env = worker_env(
            secure_broker.secured_bootstrap("sasl_ssl"),
            sandbox.url,
            topics,
            extra={**security, "CAPI_WORKER__LOG_LEVEL": "DEBUG"},
        )

        async def outlive_the_first_token(worker: WorkerProcess) -> None:
            # The preflight and the worker's clients each fetch a token; wait until the
            # worker has had to fetch again because its first token expired.
            first = len(tokens.issued)
            deadline = time.monotonic() + 6 * lifetime_s
            while len(tokens.issued) < first + 2 and time.monotonic() < deadline:
                assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
                await asyncio.sleep(0.5)
            assert len(tokens.issued) >= first + 2, "no token refresh during the run"

        records, metrics = await _run_worker(
            kafka_bootstrap,
            sandbox,
            topics,
            env,
            tmp_path / "worker.log",
            phases=2,
            between=outlive_the_first_token,
        )
    assert tokens.refused == 0
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "Authenticated via OAUTHBEARER" in log
    assert_no_secrets(
        "the worker's output", [log, metrics, repr(records)], [CLIENT_SECRET, *tokens.issued]
    )


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


async def test_replay_and_import_over_sasl_ssl(
    kafka_bootstrap: str, secure_broker: BrokerInfo, topics: Topics, tmp_path: Path
) -> None:
    await create_topics(kafka_bootstrap, topics)
    security = kafka_env(secure_broker, "sasl_ssl", mechanism="SCRAM-SHA-512")
    env = worker_env(secure_broker.secured_bootstrap("sasl_ssl"), "http://127.0.0.1:1", topics)
    env.update(security)

    now = int(time.time())
    rows = ["event_name,event_time,email,value,currency"]
    rows += [f"purchase,{now - 600 - i},p{i}@example.com,{10 + i},usd" for i in range(5)]
    (tmp_path / "crm.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.toml").write_text(
        "[mappings.crm]\n"
        'event_name = { path = "event_name", map = { purchase = "Purchase" } }\n'
        'event_time = { path = "event_time", transform = "unix_seconds" }\n'
        'action_source = { const = "physical_store" }\n'
        '"user_data.em" = "email"\n'
        '"custom_data.value" = { path = "value", transform = "number" }\n'
        '"custom_data.currency" = "currency"\n'
    )
    imported = await asyncio.to_thread(
        _cli,
        [
            "import",
            str(tmp_path / "crm.csv"),
            "--mapping",
            "crm",
            "--topic",
            topics.input,
            "--config",
            str(tmp_path / "c.toml"),
        ],
        env,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "produced 5 events" in imported.stdout

    event = {
        "event_name": "Purchase",
        "event_time": now - 60,
        "action_source": "email",
        "user_data": {"em": ["a" * 64]},
        "custom_data": {"value": 1, "currency": "USD"},
    }
    records = [
        failure_record(
            FailureRecord(
                "retries_exhausted",
                SourceRef(topics.input, 0, i),
                dataset_id="1000000000000001",
                event={**event, "event_id": f"replay-{i}"},
                event_id=f"replay-{i}",
            ),
            now - 30,
        )
        for i in range(3)
    ]
    values = [orjson.dumps(r) for r in records]
    await produce_keyed(kafka_bootstrap, topics.failures, values, [None] * len(values))
    replayed = await asyncio.to_thread(_cli, ["replay"], env)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed 3" in replayed.stdout, replayed.stdout
    password = secure_broker.security().password
    outputs = [imported.stdout, imported.stderr, replayed.stdout, replayed.stderr]
    assert_no_secrets("the import and replay output", outputs, [password])
