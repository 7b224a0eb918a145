"""Secrets: tokens never show in reprs, config errors, URLs, request bodies, log records,
metrics, outcome records or files of the worker; TLS verification is on for https Graph URLs.

The worker's log handler redacts known tokens (streams/observability/logging.py) as a backstop;
these tests look behind it: the code itself must never put a token in a log record.
tests/observability/test_end_to_end.py sweeps PII and the sandbox token through the worker's
outputs; the integration test here adds a unique token, JSON logs, a configuration hold with
recovery and the worker's data directory, and checks that the redaction never had to act.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pprint
import shutil
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from streams.capi.client import GraphClient
from streams.capi.delivery import Deliverer, DeliveryConfig
from streams.dev.sandbox.datasets import Dataset
from streams.dev.sandbox.faults import FaultConfig
from streams.dev.sandbox.server import SandboxServer
from streams.domain.retry import RetryPolicy
from streams.kafka.app import create_app
from streams.observability.metrics import Metrics
from streams.settings import ConfigError, Secret, load_settings
from tests.kafka.harness import (
    DATASET_A,
    DATASET_B,
    TOKEN_ENV,
    OutcomeReader,
    Topics,
    WorkerProcess,
    create_topics,
    make_inputs,
    produce_keyed,
    worker_env,
)

TOKEN = "EAAGsecret" + uuid.uuid4().hex  # unique: any occurrence anywhere is a leak
OTHER = "EAAGother" + uuid.uuid4().hex
TOKENS = {DATASET_A: Secret(TOKEN)}


def _env(**extra: str) -> dict[str, str]:
    return {
        "CAPI_DATASETS__0__ID": DATASET_A,
        "CAPI_DATASETS__0__TOKEN_ENV": "TOK_A",
        "CAPI_DATASETS__1__ID": DATASET_B,
        "CAPI_DATASETS__1__TOKEN_ENV": "TOK_B",
        "CAPI_ROUTING__DEFAULT_DATASET": DATASET_A,
        "CAPI_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "TOK_A": TOKEN,
        "TOK_B": OTHER,
        **extra,
    }


def _assert_clean(text: str, where: str) -> None:
    for secret in (TOKEN, OTHER):
        assert secret not in text, f"a token leaked into {where}"


# ---- settings ------------------------------------------------------------------------------


def test_settings_repr_str_and_copies_hide_tokens() -> None:
    s = load_settings(None, _env())
    ds = s.datasets[0]
    assert ds.token is not None and ds.token.reveal() == TOKEN  # the token is really there
    views = {
        "repr(settings)": repr(s),
        "str(settings)": str(s),
        "pformat(settings)": pprint.pformat(s),
        "repr(replace(dataset))": repr(dataclasses.replace(ds, max_events=5)),
        "repr(datasets)": repr(s.datasets),
        "str(dataset)": str(ds),
        "repr(secret)": repr(ds.token),
        "str(secret)": str(ds.token),
        "f-string": f"{ds.token} {ds.token!r} {ds.token!s}",
        "%-format": "%s %r" % (ds.token, ds.token),  # noqa: UP031
        "format()": format(ds.token, ""),
    }
    for where, text in views.items():
        _assert_clean(text, where)
        assert "***" in text, where


def test_config_errors_never_echo_a_token() -> None:
    """A token pasted into the wrong place is named by key, never echoed."""
    toml = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)  # noqa: SIM115
    with toml:
        toml.write(f'[[datasets]]\nid = "{DATASET_A}"\ntoken_env = "TOK_A"\ntoken = "{TOKEN}"\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(toml.name, {"TOK_A": TOKEN})
    os.unlink(toml.name)
    assert "token" in str(exc.value)
    _assert_clean(str(exc.value) + repr(exc.value), "the error for a token in the file")
    for key in (
        "CAPI_GRAPH__TIMEOUT_SECONDS",
        "CAPI_GRAPH__MAX_ATTEMPTS",
        "CAPI_KAFKA__MAX_MESSAGE_BYTES",
        "CAPI_METRICS__PORT",
        "CAPI_FAILURES__INCLUDE_RAW",
        "CAPI_GRAPH__URL",
        "CAPI_GRAPH__API_VERSION",
        "CAPI_WORKER__LOG_FORMAT",
        "CAPI_DATASETS__0__ID",
        "CAPI_DATASETS__0__MAX_EVENTS",
        "CAPI_DATASETS__0__LDU",
        "CAPI_DATASETS__0__EXTERNAL_ID",
        "CAPI_DATASETS__0__DEFAULT_COUNTRY",
        "CAPI_DATASETS__0__TOKEN",
        "CAPI_GRAPH__ACCESS_TOKEN",
        "CAPI_TOKEN__VALUE",
    ):
        with pytest.raises(ConfigError) as exc:
            load_settings(None, _env(**{key: TOKEN}))
        _assert_clean(str(exc.value), f"the ConfigError for {key}")


# ---- the Graph client: URL, body, headers, redirects, reprs, logs --------------------------


@dataclasses.dataclass
class _Seen:
    url: str
    query: str
    headers: dict[str, str]
    body: bytes


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[_Seen]]]:
    """A plain HTTP server that records every request and answers like Graph (or redirects
    when the path says so)."""
    seen: list[_Seen] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(
            _Seen(
                str(request.url), request.query_string, dict(request.headers), await request.read()
            )
        )
        if "redirect" in request.path:
            raise web.HTTPTemporaryRedirect("http://127.0.0.1:9/stolen")
        return web.json_response({"events_received": 1, "messages": [], "fbtrace_id": "t"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


EVENT = {"event_name": "Purchase", "event_time": 1, "action_source": "other", "event_id": "e1"}


async def test_token_travels_only_in_the_authorization_header(
    recorder: tuple[str, list[_Seen]],
) -> None:
    url, seen = recorder
    async with GraphClient(url, "v25.0", tokens=TOKENS, timeout_s=5) as client:
        reply = await client.post_events(DATASET_A, [EVENT], "TEST123")
        assert reply.status == 200
        _assert_clean(str(client.url_for(DATASET_A)), "the request URL")
        _assert_clean(repr(client) + str(client) + repr(reply), "the client/reply repr")
    [req] = seen
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    _assert_clean(req.url + req.query, "the URL the server saw")
    _assert_clean(req.body.decode(), "the request body")
    assert b"access_token" not in req.body and "access_token" not in req.query


async def test_a_redirect_is_never_followed_with_the_token(
    recorder: tuple[str, list[_Seen]],
) -> None:
    url, seen = recorder
    async with GraphClient(url + "/redirect", "v25.0", tokens=TOKENS, timeout_s=5) as client:
        reply = await client.post_events(DATASET_A, [EVENT])
    assert reply.status == 307
    assert len(seen) == 1  # not re-sent anywhere


async def test_delivery_logs_reprs_and_metrics_never_hold_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every delivery path against the sandbox, DEBUG logs captured without the redaction
    filter: success, transient errors and resets, throttling, a payload rejection (bisection),
    a configuration hold (invalid token) that recovers, and an unknown token (190)."""
    datasets = {DATASET_A: Dataset(DATASET_A, TOKEN), DATASET_B: Dataset(DATASET_B, OTHER)}
    tokens = {DATASET_A: Secret(TOKEN), DATASET_B: Secret(OTHER)}
    unknown = {DATASET_A: Secret(TOKEN + "x")}
    registry = CollectorRegistry()
    metrics = Metrics(
        registry, datasets=[DATASET_A, DATASET_B], topics=["in"], graph_api_version="v25.0"
    )
    now = int(time.time())
    good = [
        {
            "event_name": "Purchase",
            "event_time": now - 10,
            "action_source": "other",
            "event_id": f"e{i}",
            "user_data": {"em": ["a" * 64]},
            "custom_data": {"value": 1, "currency": "USD"},
        }
        for i in range(8)
    ]
    bad = [*good[:3], {**good[3], "event_time": now + 86400}, *good[4:]]
    caplog.set_level(logging.DEBUG)
    async with (
        SandboxServer(datasets=datasets, seed=2) as sandbox,
        GraphClient(sandbox.url, "v25.0", tokens=tokens, timeout_s=1) as client,
        GraphClient(sandbox.url, "v25.0", tokens=unknown, timeout_s=1) as unknown_client,
    ):
        deliverer_config = DeliveryConfig(
            retry=RetryPolicy(max_attempts=30, base_s=0.01, cap_s=0.05, max_elapsed_s=30),
            config_retry_s=0.1,
            throttle_base_s=0.01,
            throttle_cap_s=0.05,
        )
        deliverer = Deliverer(client, deliverer_config, metrics)
        results = [await deliverer.deliver(DATASET_A, good)]
        sandbox.state.faults.config = FaultConfig(
            http_5xx=0.2, transient=0.1, throttle=0.2, reset=0.1, hang=0.05, hang_seconds=2
        )
        results += [await deliverer.deliver(DATASET_A, good) for _ in range(20)]
        sandbox.state.faults.config = FaultConfig()
        results.append(await deliverer.deliver(DATASET_A, bad))
        sandbox.state.faults.set_token_invalid(DATASET_B, True)
        task = asyncio.create_task(deliverer.deliver(DATASET_B, good))
        await asyncio.sleep(0.5)
        assert deliverer.holds.held() == {DATASET_B}
        sandbox.state.faults.set_token_invalid(DATASET_B, False)
        results.append(await task)
        # An unknown token is a configuration error too: held until stop.
        held = Deliverer(unknown_client, deliverer_config, metrics)
        task = asyncio.create_task(held.deliver(DATASET_A, good))
        await asyncio.sleep(0.3)
        held.holds.stop()
        results.append(await task)
    assert results[-1].held and results[-2].delivered_count == len(good)
    assert any(f.reason == "graph_rejected" for f in results[-3].failures)
    stats = sandbox.state.receipts.stats()["totals"]
    assert set(stats["faults"]) >= {"http_5xx", "throttle", "reset"}  # type: ignore[index]
    records = caplog.records
    assert len(records) > 20  # the DEBUG paths really ran
    for r in records:
        text = r.getMessage() + (
            logging.Formatter().formatException(r.exc_info) if r.exc_info else ""
        )
        _assert_clean(text, f"a log record of {r.name}")
    _assert_clean(repr(results) + repr(deliverer), "delivery results")
    _assert_clean(generate_latest(registry).decode(), "metrics")


async def test_client_errors_carry_no_token() -> None:
    client = GraphClient(
        "http://127.0.0.1:9", "v25.0", tokens={DATASET_A: Secret(TOKEN)}, timeout_s=1
    )
    with pytest.raises(RuntimeError) as exc:
        await client.post_events(DATASET_A, [EVENT])  # not started
    _assert_clean(str(exc.value) + repr(exc.value), "the not-started error")
    async with client:
        reply = await client.post_events(DATASET_A, [EVENT])  # nothing listens
    assert reply.status is None and reply.error_kind == "connect"
    _assert_clean(repr(reply), "a failed reply")


# ---- TLS -----------------------------------------------------------------------------------


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl command is required to make test certificates (Debian: openssl)")
    return path


def _cert(tmp: Path, name: str, san: str) -> tuple[Path, Path]:
    cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    subprocess.run(
        [
            *(_openssl(), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName={san}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Path]]]:
    tmp = tmp_path_factory.mktemp("certs")
    yield {
        "loopback": _cert(tmp, "loopback", "IP:127.0.0.1"),
        "elsewhere": _cert(tmp, "elsewhere", "DNS:graph.example.invalid"),
    }


_HTTPS_CHECK = textwrap.dedent(
    """
    import asyncio, ssl, sys
    from aiohttp import web
    from streams.capi.client import GraphClient
    from streams.settings import Secret

    async def main(cert, key, token):
        seen = []
        async def handle(request):
            seen.append(request.path)
            return web.json_response({"events_received": 1, "messages": [], "fbtrace_id": "t"})
        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        event = {"event_name": "Purchase", "event_time": 1, "action_source": "other"}
        tokens = {"1000000000000001": Secret(token)}
        async with GraphClient(
            f"https://127.0.0.1:{port}", "v25.0", tokens=tokens, timeout_s=5
        ) as client:
            reply = await client.post_events("1000000000000001", [event])
        await runner.cleanup()
        print(reply.status, reply.error_kind, len(seen))

    asyncio.run(main(*sys.argv[1:4]))
    """
)


def _https_post(cert: Path, key: Path, trust: Path | None) -> str:
    """Post through GraphClient to an HTTPS server with `cert`, in a fresh interpreter whose
    trust store is `trust` (SSL_CERT_FILE) or the system's; 'status error_kind requests'."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    if trust is not None:
        env["SSL_CERT_FILE"] = str(trust)
        env["SSL_CERT_DIR"] = str(trust.parent / "none")
    proc = subprocess.run(
        [sys.executable, "-c", _HTTPS_CHECK, str(cert), str(key), TOKEN],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_tls_verification_refuses_an_untrusted_certificate(
    certs: dict[str, tuple[Path, Path]],
) -> None:
    """A self-signed certificate for the right address: the handshake fails and the request
    (with its token) is never sent."""
    cert, key = certs["loopback"]
    assert _https_post(cert, key, None) == "None connect 0"


def test_tls_verification_checks_the_host_name(certs: dict[str, tuple[Path, Path]]) -> None:
    """Both certificates trusted: the one for 127.0.0.1 works (so https itself works), the one
    for another host name is refused before any request is sent."""
    loopback, elsewhere = certs["loopback"], certs["elsewhere"]
    bundle = loopback[0].parent / "bundle.pem"
    bundle.write_text(loopback[0].read_text() + elsewhere[0].read_text())
    assert _https_post(*loopback, bundle) == "200 None 1"
    assert _https_post(*elsewhere, bundle) == "None connect 0"


def test_the_real_graph_url_is_https_and_verification_cannot_be_switched_off() -> None:
    s = load_settings(None, _env())
    assert s.graph.url == "https://graph.facebook.com"
    app = create_app(s, registry=CollectorRegistry(), datadir=Path(tempfile.mkdtemp()))
    assert "base_url='https://graph.facebook.com'" in repr(app.capi.client)
    for key in (
        "CAPI_GRAPH__VERIFY_SSL",
        "CAPI_GRAPH__VERIFY_TLS",
        "CAPI_GRAPH__SSL",
        "CAPI_GRAPH__INSECURE",
    ):
        with pytest.raises(ConfigError, match="unknown key"):
            load_settings(None, _env(**{key: "false"}))
    ctx = ssl.create_default_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


# ---- the worker process --------------------------------------------------------------------


@pytest.mark.integration
async def test_worker_never_writes_the_token_anywhere(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    """A unique token through a real worker with DEBUG JSON logs: deliveries, validation
    failures, transient faults, and a configuration hold that recovers. The token is in no log
    line, /metrics, outcome record or file of the worker's data dir, and the log redaction
    never had to mask it."""
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    datasets = {DATASET_A: Dataset(DATASET_A, TOKEN), DATASET_B: Dataset(DATASET_B, TOKEN)}
    async with SandboxServer(datasets=datasets, seed=5) as sandbox:
        sandbox.state.faults.config = FaultConfig(http_5xx=0.2, reset=0.05, throttle=0.1)
        sandbox.state.faults.set_token_invalid(DATASET_B, True)
        inputs = make_inputs(600, int(time.time()), invalid_every=50)
        env = worker_env(
            kafka_bootstrap,
            sandbox.url,
            topics,
            token=TOKEN,
            extra={
                "CAPI_WORKER__LOG_LEVEL": "DEBUG",
                "CAPI_WORKER__LOG_FORMAT": "json",
                "CAPI_DATASETS__0__MAX_EVENTS": "20",
                "CAPI_GRAPH__MAX_ATTEMPTS": "20",
            },
        )
        assert env[TOKEN_ENV] == TOKEN
        worker = WorkerProcess(env, tmp_path / "w.log")
        async with OutcomeReader(kafka_bootstrap, topics) as reader:
            await asyncio.to_thread(worker.start)
            try:
                coords = await produce_keyed(
                    kafka_bootstrap, topics.input, inputs.values, inputs.keys
                )
                # Held once the worker has tried dataset B (polled: a loaded machine is slow).
                metrics_held = await _await_metric(
                    worker, f"capi_dataset_paused{{dataset={DATASET_B}}}", 1, 120
                )
                sandbox.state.faults.set_token_invalid(DATASET_B, False)
                await reader.wait_covered(coords, 120, alive=[worker])
                metrics_text = orjson.dumps(await asyncio.to_thread(worker.metrics)).decode()
                assert worker.proc is not None
                cmdline_path = Path(f"/proc/{worker.proc.pid}/cmdline")
                cmdline = (await asyncio.to_thread(cmdline_path.read_bytes)).decode()
            finally:
                assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()
            records = orjson.dumps(reader.records).decode()
    assert metrics_held[f"capi_dataset_paused{{dataset={DATASET_B}}}"] == 1
    logs = worker.log_path.read_text(errors="replace")
    assert '"level": "DEBUG"' in logs and "dataset paused" in logs and "dataset resumed" in logs
    for where, text in (
        ("logs", logs),
        ("metrics", metrics_text),
        ("outcome records", records),
        ("the command line", cmdline),
    ):
        _assert_clean(text, where)
    assert "***" not in logs, "the redaction filter had to mask a token: some code logged it"
    datadir = Path(tempfile.gettempdir()) / "capi-streams" / topics.group
    for path in datadir.rglob("*") if datadir.exists() else ():
        if path.is_file():
            _assert_clean(path.read_bytes().decode(errors="replace"), str(path))


async def _await_metric(
    worker: WorkerProcess, name: str, value: float, timeout_s: float
) -> dict[str, float]:
    """The worker's metrics once `name` reads `value` (or the last read at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        metrics = await asyncio.to_thread(worker.metrics)
        if metrics.get(name) == value or time.monotonic() > deadline:
            return metrics
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
        await asyncio.sleep(0.5)
