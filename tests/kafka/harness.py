"""Test harness: a real worker process against the session broker and an in-process sandbox."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

DATASET_A = "1000000000000001"
DATASET_B = "1000000000000002"
TOKEN_ENV = "CAPI_TEST_TOKEN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Topics:
    input: str
    responses: str
    failures: str
    group: str
    partitions: int = 4

    @classmethod
    def unique(cls, base: str, group: str, partitions: int = 4) -> Topics:
        return cls(f"{base}-in", f"{base}-responses", f"{base}-failures", group, partitions)


async def create_topics(bootstrap: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(t, topics.partitions, 1)
                for t in (topics.input, topics.responses, topics.failures)
            ]
        )
    finally:
        await admin.close()


def worker_env(
    bootstrap: str,
    graph_url: str,
    topics: Topics,
    *,
    token: str = "sandbox-token",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPI_")}
    env.update(
        {
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "CAPI_KAFKA__INPUT_TOPICS": topics.input,
            "CAPI_KAFKA__RESPONSES_TOPIC": topics.responses,
            "CAPI_KAFKA__FAILURES_TOPIC": topics.failures,
            "CAPI_KAFKA__CONSUMER_GROUP": topics.group,
            "CAPI_KAFKA__TOPIC_PARTITIONS": str(topics.partitions),
            "CAPI_GRAPH__URL": graph_url,
            "CAPI_GRAPH__TIMEOUT_SECONDS": "2",
            "CAPI_GRAPH__RETRY_BASE_SECONDS": "0.05",
            "CAPI_GRAPH__RETRY_CAP_SECONDS": "0.5",
            "CAPI_GRAPH__CONFIG_RETRY_SECONDS": "0.5",
            "CAPI_DATASETS__0__ID": DATASET_A,
            "CAPI_DATASETS__0__TOKEN_ENV": TOKEN_ENV,
            "CAPI_DATASETS__1__ID": DATASET_B,
            "CAPI_DATASETS__1__TOKEN_ENV": TOKEN_ENV,
            "CAPI_ROUTING__DEFAULT_DATASET": DATASET_A,
            "CAPI_WORKER__TAKE_WITHIN_MS": "100",
            "CAPI_WORKER__LOG_LEVEL": "WARNING",
            TOKEN_ENV: token,
        }
    )
    env.update(extra or {})
    return env


@dataclass
class WorkerProcess:
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = field(default_factory=free_port)

    def start(self, timeout_s: float = 60) -> None:
        env = dict(self.env, CAPI_METRICS__PORT=str(self.metrics_port))
        log = open(self.log_path, "ab")  # noqa: SIM115  # closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("worker did not start: " + self.log_tail())

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                key = s.name + (
                    "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
                    if s.labels
                    else ""
                )
                out[key] = s.value
        return out

    def metric_sum(self, name: str) -> float:
        return sum(v for k, v in self.metrics().items() if k == name or k.startswith(name + "{"))

    def stop(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)


async def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes | tuple[bytes, dict[str, bytes]]],
    *,
    key: Callable[[int], bytes] = lambda i: f"k{i}".encode(),
) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    futs = []
    try:
        for i, item in enumerate(values):
            value, headers = item if isinstance(item, tuple) else (item, {})
            futs.append(
                await producer.send(
                    topic, value, key=key(i), headers=[(k, v) for k, v in headers.items()]
                )
            )
        mds = await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return [(md.partition, md.offset) for md in mds]


async def read_all(
    bootstrap: str, topic: str, *, until: Callable[[list[dict[str, Any]]], bool], timeout_s: float
) -> list[dict[str, Any]]:
    """Read `topic` from the start until `until(records)` holds or the time is up."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not until(out):
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                out.extend(orjson.loads(r.value) for r in records if r.value)
    finally:
        await consumer.stop()
    return out


async def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        out = {}
        for p in range(partitions):
            out[p] = await consumer.committed(TopicPartition(topic, p)) or 0
        return out
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def sandbox_events(url: str, dataset: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        offset = 0
        while True:
            params = {"offset": str(offset), "limit": "1000"}
            if dataset:
                params["dataset"] = dataset
            async with session.get(f"{url}/_sandbox/events", params=params) as resp:
                page = await resp.json()
            out.extend(page["events"])
            offset += len(page["events"])
            if not page["events"] or offset >= page["total"]:
                return out


def source_coords(records: Sequence[dict[str, Any]], topic: str) -> dict[tuple[int, int], str]:
    """(partition, offset) -> 'delivered' or the failure reason, from outcome records."""
    out: dict[tuple[int, int], str] = {}
    for r in records:
        if r.get("kind") == "response":
            for s in r["sources"]:
                if s["topic"] == topic:
                    for off in s["offsets"]:
                        out[(s["partition"], off)] = "delivered"
        elif r.get("kind") == "failure" and r["source"]["topic"] == topic:
            out[(r["source"]["partition"], r["source"]["offset"])] = r["reason"]
    return out
