"""What the end-to-end benchmarks share: their own broker and sandbox, and a filled topic.

with Rig("bench", latency_ms=200, jitter_ms=100) as rig:
    topics = Topics.unique("bench", "bench-1", partitions=4)
    fill_s = asyncio.run(fill(rig.bootstrap, topics, 500_000, seed=11))
    ...  # WorkerProcess(worker_env(rig.bootstrap, rig.sandbox_url, topics), rig.tmp / "w.log")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.dev import broker  # noqa: E402
from streams.dev.demo import demo_events  # noqa: E402
from tests.kafka.harness import (  # noqa: E402
    DATASET_A,
    DATASET_B,
    Topics,
    WorkerProcess,
    create_topics_with,
    free_port,
    worker_env,
)

__all__ = [
    "LOG_APPEND_TIME",
    "ROOT",
    "Rig",
    "Total",
    "bench_env",
    "conditions",
    "cpu_s",
    "fill",
    "rss_mb",
    "run_to_end",
    "tree_cpu_s",
    "write_result",
]

# The input topic's records carry the broker's append time (what latency is measured from).
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


class Rig:
    """A Kafka broker (port 0, temporary data dir) and a sandbox process with the given
    latency, both stopped on exit."""

    def __init__(self, prefix: str, *, latency_ms: float, jitter_ms: float) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"capi-{prefix}-"))
        self._latency = (latency_ms, jitter_ms)
        self.bootstrap = ""
        self.sandbox_url = ""
        self._sandbox: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Rig:
        info = broker.start_broker(port=0, data_dir=self.tmp / "kafka")
        self.bootstrap = info.bootstrap
        port = free_port()
        self._sandbox = subprocess.Popen(
            [
                *(sys.executable, "-m", "streams.cli", "sandbox", "--port", str(port), "--admin"),
                *("--latency-ms", str(self._latency[0])),
                *("--latency-jitter-ms", str(self._latency[1])),
                *("--max-receipts", "0"),
                *("--max-receive-times", "5000000"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.sandbox_url = f"http://127.0.0.1:{port}"
        self._wait_sandbox(60)
        return self

    def _wait_sandbox(self, timeout_s: float) -> None:
        assert self._sandbox is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._sandbox.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self._sandbox.returncode}")
            try:
                with urllib.request.urlopen(f"{self.sandbox_url}/_sandbox/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the sandbox did not answer in time")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sandbox is not None:
            self._sandbox.terminate()
            self._sandbox.wait(10)
        broker.stop_broker(self.tmp / "kafka")


async def fill(
    bootstrap: str,
    topics: Topics,
    n: int,
    *,
    seed: int,
    input_configs: dict[str, str] | None = None,
) -> float:
    """Create the topics and produce `n` demo events (native format, two datasets, about 15%
    invalid) to the input topic; the seconds it took."""
    await create_topics_with(bootstrap, topics, input_configs)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    started = time.monotonic()
    futs = []
    try:
        for ev in demo_events(
            n, now=int(time.time()), datasets=[DATASET_A, DATASET_B], seed=seed, formats=False
        ):
            futs.append(await producer.send(topics.input, ev.value, key=ev.key))
            if len(futs) >= 20_000:
                await asyncio.gather(*futs)
                futs = []
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.monotonic() - started


def bench_env(rig: Rig, topics: Topics, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A worker's environment against the rig for `topics`: the tests' worker_env with a 10 s
    Graph timeout and a 200 ms window, then `extra`."""
    base = {"CAPI_GRAPH__TIMEOUT_SECONDS": "10", "CAPI_WORKER__TAKE_WITHIN_MS": "200"}
    return worker_env(rig.bootstrap, rig.sandbox_url, topics, extra={**base, **(extra or {})})


Total = Callable[[str], float]


def run_to_end(
    workers: Sequence[WorkerProcess], n: int, sample: Callable[[Total], None] | None = None
) -> float:
    """Scrape the started workers' /metrics once a second (scraping costs them CPU too) until
    `n` events have an outcome (delivered or failed); the seconds from the first scrape that
    saw an event consumed to then. After each scrape, `sample(total)` (total(name): a metric's
    samples summed over all labels and workers). A worker that exits is an error with the
    tail of its log."""
    first = None
    while True:
        time.sleep(1.0)
        for w in workers:
            if w.proc is None or w.proc.poll() is not None:
                raise RuntimeError(w.log_tail())
        scrapes = [w.metrics() for w in workers]

        def total(name: str, scrapes: list[dict[str, float]] = scrapes) -> float:
            return sum(
                v for m in scrapes for k, v in m.items() if k == name or k.startswith(name + "{")
            )

        if sample is not None:
            sample(total)
        if first is None and total("capi_events_consumed_total") > 0:
            first = time.monotonic()
        if total("capi_events_delivered_total") + total("capi_events_failed_total") >= n:
            return time.monotonic() - (first or time.monotonic())


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of a process and its live descendants (a worker with
    `--processes N` is a supervisor and its children)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo.extend(c for c, parent in parents.items() if parent == p and c not in tree)
    total = 0.0
    for p in tree:
        with contextlib.suppress(OSError):
            total += cpu_s(p)
    return total


def cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of the process alone (not its children)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat fields after the command name (state is [0], ppid [1], utime [11])."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(") ", 1)[1].split()


def conditions() -> dict[str, Any]:
    """The machine conditions a result was measured under."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "machine": platform.machine(),
        "python": platform.python_version(),
        "commit": commit,
    }


def write_result(name: str, doc: dict[str, Any], markdown: str | None = None) -> Path:
    """benchmarks/results/<name>.json (and <name>.md when given); the JSON's path."""
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    if markdown is not None:
        (out / f"{name}.md").write_text(markdown)
    return path
