"""`capi-streams run`: the main job on embedded defaults, with a live progress line.

1. Settings from `--config` (optional) and `CAPI_*` variables.
2. No broker configured: start the local Kafka broker (or reuse the one already running).
3. No token configured and the default Graph URL: start the sandbox and point the worker at it
   (with a real token, the real Graph API is used). No dataset configured: the sandbox's two.
4. Create the input and outcome topics.
5. Run `capi-streams worker` as a child process; print consumed / delivered / failed / in
   flight / events/s from its /metrics once a second; SIGINT or SIGTERM stops it gracefully and
   a summary is printed.
`--demo` also produces a sample stream (streams.dev.demo), waits until every event has an outcome
record, prints where each one went, and stops.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from streams.dev import broker
from streams.dev.demo import demo_events
from streams.dev.processes import free_port
from streams.dev.run_output import (
    LineWriter,
    failed_by_reason,
    sandbox_datasets_toml,
    summary_lines,
)
from streams.kafka.topics import ensure_topics
from streams.kafka_connection.clients import client_kwargs
from streams.kafka_connection.preflight import check_connection
from streams.settings import (
    DEFAULT_GRAPH_URL,
    ConfigError,
    KafkaSettings,
    Settings,
    load_settings,
)

__all__ = ["run_main"]

SANDBOX_TOKEN_ENV = "CAPI_SANDBOX_TOKEN"  # noqa: S105  # a variable name, not a token
SANDBOX_TOKEN = "sandbox-token"  # noqa: S105  # the sandbox's public test token
SANDBOX_DATASETS = ("1000000000000001", "1000000000000002")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "streams.cli", *args]


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


@dataclass(frozen=True)
class ReadyTimeouts:
    """How long `run` waits for what it starts to listen (seconds)."""

    sandbox_s: float = 30.0
    worker_s: float = 60.0


@dataclass
class _Stack:
    """What `run` started, recorded as soon as it is started: `_release` stops all of it
    whichever way the run ends (a start-up failure included)."""

    env: dict[str, str]
    started_broker: Path | None = None
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sandbox_url: str | None = None
    scratch: Path | None = None  # files of this run (the sandbox's datasets), removed at the end


def _prepare(stack: _Stack, config: str | None, log: Any, timeouts: ReadyTimeouts) -> Settings:
    child_env = stack.env
    settings = load_settings(config, child_env)
    if not settings.kafka.bootstrap_servers:
        data_dir = broker.default_data_dir()
        running = broker.status(data_dir)
        if running is None:
            log(f"starting the local Kafka broker (data in {data_dir}) ...")
            port = 9092 if not _port_busy(9092) else 0
            running = broker.start_broker(port=port, data_dir=data_dir)
            stack.started_broker = data_dir
        child_env["CAPI_KAFKA__BOOTSTRAP_SERVERS"] = running.bootstrap
        log(f"Kafka: {running.bootstrap}")
    configured = bool(settings.datasets)
    if not configured:
        for i, ds in enumerate(SANDBOX_DATASETS):
            child_env[f"CAPI_DATASETS__{i}__ID"] = ds
            child_env[f"CAPI_DATASETS__{i}__TOKEN_ENV"] = SANDBOX_TOKEN_ENV
        child_env.setdefault("CAPI_ROUTING__DEFAULT_DATASET", SANDBOX_DATASETS[0])
    settings = load_settings(config, child_env)
    missing = [d for d in settings.datasets if d.token is None]
    if missing and settings.graph.url == DEFAULT_GRAPH_URL:
        port = free_port()
        log("no access token configured: starting the Graph API sandbox ...")
        # The sandbox serves exactly the configured datasets (all with its test token).
        ids = [d.id for d in settings.datasets]
        stack.scratch = Path(tempfile.mkdtemp(prefix="capi-run-"))
        datasets_file = stack.scratch / "sandbox-datasets.toml"
        datasets_file.write_text(sandbox_datasets_toml(ids, SANDBOX_TOKEN))
        proc = subprocess.Popen(  # noqa: S603
            [*_cli("sandbox", "--port", str(port)), "--datasets", str(datasets_file)],
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `run` alone; it stops its children
        )
        stack.children.append(proc)
        _wait_port(port, proc, "the sandbox", timeouts.sandbox_s)
        stack.sandbox_url = f"http://127.0.0.1:{port}"
        child_env["CAPI_GRAPH__URL"] = stack.sandbox_url
        for d in settings.datasets:
            child_env[d.token_env] = SANDBOX_TOKEN
        origin = f"those of {config}" if config and configured else "its built-in test datasets"
        log(
            f"Graph API: sandbox at {stack.sandbox_url} serving datasets {', '.join(ids)} "
            f"({origin}); no request leaves this machine"
        )
    else:
        log(f"Graph API: {settings.graph.url}")
    child_env.setdefault("CAPI_WORKER__LOG_LEVEL", "WARNING")
    if "CAPI_METRICS__PORT" not in child_env and _port_busy(settings.metrics.port):
        child_env["CAPI_METRICS__PORT"] = str(free_port())
    return load_settings(config, child_env)


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _samples(port: int) -> list[tuple[str, dict[str, str], float]]:
    """The worker's metric samples (name, labels, value)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
        text = resp.read().decode()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith(("_created", "_bucket"))
    ]


def _sums(samples: list[tuple[str, dict[str, str], float]]) -> dict[str, float]:
    """Each metric summed over its labels."""
    out: dict[str, float] = {}
    for name, _labels, value in samples:
        out[name] = out.get(name, 0.0) + value
    return out


@dataclass
class _Progress:
    port: int
    started: float = field(default_factory=time.monotonic)
    last: tuple[float, float] | None = None
    values: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, float] = field(default_factory=dict)

    def counts(self) -> tuple[float, ...]:
        v = self.values
        return tuple(
            v.get(f"capi_events_{k}_total", 0.0) for k in ("consumed", "delivered", "failed")
        )

    def line(self) -> str | None:
        try:
            samples = _samples(self.port)
        except OSError:
            return None
        self.reasons = failed_by_reason(samples)
        self.values = v = _sums(samples)
        delivered = v.get("capi_events_delivered_total", 0.0)
        now = time.monotonic()
        rate = 0.0
        if self.last is not None and now > self.last[0]:
            rate = (delivered - self.last[1]) / (now - self.last[0])
        self.last = (now, delivered)
        return (
            f"consumed {v.get('capi_events_consumed_total', 0):,.0f}  "
            f"delivered {delivered:,.0f}  failed {v.get('capi_events_failed_total', 0):,.0f}  "
            f"in flight {v.get('capi_requests_in_flight', 0):,.0f}  {rate:,.0f} events/s"
        )


async def _partitions(kafka: KafkaSettings, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]


async def _end_offsets(kafka: KafkaSettings, topics: list[str]) -> dict[TopicPartition, int]:
    tps = await _partitions(kafka, topics)
    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def _produce_demo(settings: Settings, n: int) -> dict[tuple[int, int], str]:
    """Produce the demo stream; return (partition, offset) -> expected outcome kind."""
    producer = AIOKafkaProducer(**client_kwargs(settings.kafka), linger_ms=10)
    await producer.start()
    topic = settings.kafka.input_topics[0]
    datasets = [d.id for d in settings.datasets]
    expected: dict[tuple[int, int], str] = {}
    try:
        pending = []
        for ev in demo_events(n, now=int(time.time()), datasets=datasets):
            fut = await producer.send(topic, ev.value, key=ev.key, headers=list(ev.headers))
            pending.append((fut, ev.kind))
        for fut, kind in pending:
            md = await fut
            expected[(md.partition, md.offset)] = kind
    finally:
        await producer.stop()
    return expected


async def _collect_outcomes(
    settings: Settings,
    starts: Mapping[TopicPartition, int],
    expected: Mapping[tuple[int, int], str],
    timeout_s: float,
    progress: _Progress,
    log: Any,
    alive: Any,
) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """Outcome records per input (partition, offset): one per event (a GA4 message carries
    several), until every expected message has one."""
    k = settings.kafka
    topic = k.input_topics[0]
    consumer = AIOKafkaConsumer(**client_kwargs(k), enable_auto_commit=False)
    await consumer.start()
    outcome: dict[tuple[int, int], list[dict[str, Any]]] = {}
    try:
        consumer.assign(list(starts))
        for tp, off in starts.items():
            consumer.seek(tp, off)
        deadline = time.monotonic() + timeout_s
        next_line = 0.0
        while len(outcome) < len(expected) and time.monotonic() < deadline:
            if not alive():
                log("the worker exited; see its output above")
                break
            _note_batch(await consumer.getmany(timeout_ms=500), topic, outcome)
            if time.monotonic() >= next_line:
                line = progress.line()
                if line:
                    log(line)
                next_line = time.monotonic() + 2
        # Every message has an outcome; the other events of a multi-event message may have
        # theirs in later records: read on until a second passes without any.
        while len(outcome) == len(expected) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                break
            _note_batch(batch, topic, outcome)
    finally:
        await consumer.stop()
    return outcome


def _note_batch(
    batch: Mapping[Any, Any], topic: str, outcome: MutableMapping[tuple[int, int], Any]
) -> None:
    for records in batch.values():
        for rec in records:
            _note_outcome(orjson.loads(rec.value or b"{}"), topic, outcome)


def _note_outcome(
    record: Any, topic: str, outcome: MutableMapping[tuple[int, int], list[dict[str, Any]]]
) -> None:
    """File a record under each input it covers, once per event (an offset appears once for
    each of its message's events in a response's sources)."""
    if not isinstance(record, dict):
        return
    if record.get("kind") == "response":
        for src in record.get("sources", []):
            if src.get("topic") == topic:
                for off in src.get("offsets", []):
                    outcome.setdefault((src["partition"], off), []).append(record)
    elif record.get("kind") == "failure":
        src = record.get("source", {})
        if src.get("topic") == topic:
            outcome.setdefault((src["partition"], src["offset"]), []).append(record)


def _summarize_demo(
    expected: Mapping[tuple[int, int], str],
    outcome: Mapping[tuple[int, int], list[dict[str, Any]]],
    log: Any,
) -> int:
    where: Counter[str] = Counter()
    mismatches = 0
    events = 0
    for coord, kind in sorted(expected.items()):
        records = outcome.get(coord)
        if not records:
            where["no outcome yet"] += 1
            mismatches += 1
            continue
        got = set()
        for rec in records:
            events += 1
            if rec["kind"] == "response":
                where[f"delivered to dataset {rec['dataset_id']}"] += 1
                got.add("valid")
            else:
                where[f"failures topic: {rec['reason']}"] += 1
                got.add(rec["reason"])
        if got != {kind}:
            mismatches += 1
    log("")
    log(
        f"where the {events} events of the {len(expected)} demo messages went "
        "(a GA4 message carries several events):"
    )
    for label, count in sorted(where.items(), key=lambda kv: -kv[1]):
        log(f"  {count:6d}  {label}")
    sample = [c for c in sorted(outcome) if c in expected][:5]
    for part, off in sample:
        rec = outcome[(part, off)][0]
        if rec["kind"] == "response":
            detail = f"delivered, dataset {rec['dataset_id']}, fbtrace_id {rec['fbtrace_id']}"
        else:
            detail = f"failed: {rec['reason']}" + (f" ({rec['field']})" if "field" in rec else "")
        log(f"  e.g. partition {part} offset {off}: {detail}")
    if mismatches:
        log(f"{mismatches} messages did not end where the demo expected")
    return 0 if mismatches == 0 else 1


def run_main(
    config: str | None,
    *,
    demo: bool = False,
    demo_count: int = 2000,
    env: Mapping[str, str] | None = None,
    out: Any = None,
    timeouts: ReadyTimeouts | None = None,
) -> int:
    stream = out or sys.stdout

    def log(line: str) -> None:
        print(line, file=stream, flush=True)

    stack = _Stack(env=dict(os.environ if env is None else env))
    try:
        return _run(stack, config, demo, demo_count, log, timeouts or ReadyTimeouts())
    finally:
        _release(stack, stop_broker=demo, log=log)


def _run(
    stack: _Stack,
    config: str | None,
    demo: bool,
    demo_count: int,
    log: Any,
    timeouts: ReadyTimeouts,
) -> int:
    try:
        settings = _prepare(stack, config, log, timeouts)
    except (ConfigError, broker.BrokerError, RuntimeError, OSError) as exc:
        log(f"capi-streams run: {exc}")
        return 2
    code = 0
    worker: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(check_connection(settings.kafka))
        asyncio.run(ensure_topics(settings.kafka))
        cmd = [sys.executable, "-m", "streams.cli", "worker"]
        if config:
            cmd += ["--config", config]
        # Own session: Ctrl-C reaches `run` alone, which prints the summary, then stops it.
        worker = subprocess.Popen(  # noqa: S603
            cmd, env=stack.env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        stack.children.insert(0, worker)
        _wait_port(settings.metrics.port, worker, "the worker", timeouts.worker_s)
        progress = _Progress(settings.metrics.port)
        log(f"worker running; metrics at http://127.0.0.1:{settings.metrics.port}/metrics")
        if demo:
            running = worker
            code = asyncio.run(
                _demo(settings, demo_count, progress, log, lambda: running.poll() is None)
            )
        else:
            code = _follow(worker, progress, log)
    except KeyboardInterrupt:
        pass
    except (ConfigError, RuntimeError) as exc:  # the Kafka connection (naming the key to fix),
        log(f"capi-streams run: {exc}")  # or the worker not ready in time
        code = 2
    finally:
        if worker is not None and worker.poll() is None:
            final = _Progress(settings.metrics.port)
            if final.line():
                for line in summary_lines(
                    final.values, final.reasons, settings.kafka.failures_topic
                ):
                    log(line)
    return code


def _release(stack: _Stack, *, stop_broker: bool, log: Any) -> None:
    """Stop the children `run` started and remove its files; the local broker it started too
    with `--demo` (without, the broker keeps running for the next run, as after a normal end)."""
    for child in stack.children:
        _stop_child(child)
    if stack.scratch is not None:
        shutil.rmtree(stack.scratch, ignore_errors=True)
    if stack.started_broker is not None and stop_broker:
        broker.stop_broker(stack.started_broker)
        log("stopped the local Kafka broker")


async def _demo(settings: Settings, n: int, progress: _Progress, log: Any, alive: Any) -> int:
    k = settings.kafka
    input_topic = k.input_topics[0]
    starts = await _end_offsets(k, [k.responses_topic, k.failures_topic])
    expected = await _produce_demo(settings, n)
    log(f"produced {len(expected)} demo events to {input_topic}")
    outcome = await _collect_outcomes(settings, starts, expected, 180.0, progress, log, alive)
    line = progress.line()
    if line:
        log(line)
    return _summarize_demo(expected, outcome, log)


def _follow(worker: subprocess.Popen[bytes], progress: _Progress, log: Any) -> int:
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    writer = LineWriter(sys.stdout)
    while not stop["now"] and worker.poll() is None:
        time.sleep(1)
        line = progress.line()
        if line is not None:
            writer.show(line, progress.counts())
    writer.close()
    return worker.returncode or 0 if worker.poll() is not None else 0


def _stop_child(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
