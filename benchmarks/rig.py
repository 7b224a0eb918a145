"""What the end-to-end benchmarks share: their own broker and sandbox, and a filled topic.

with Rig("bench", latency_ms=200, jitter_ms=100) as rig:
    topics = Topics.unique("bench", "bench-1", partitions=4)
    fill_s = asyncio.run(fill(rig.bootstrap, topics, 500_000, seed=11))
    ...  # WorkerProcess(worker_env(rig.bootstrap, rig.sandbox_url, topics), rig.tmp / "w.log")
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.dev import broker  # noqa: E402
from streams.dev.demo import demo_events  # noqa: E402
from tests.kafka.harness import DATASET_A, DATASET_B, Topics, create_topics, free_port  # noqa: E402

__all__ = ["ROOT", "Rig", "fill", "rss_mb"]


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
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.sandbox_url = f"http://127.0.0.1:{port}"
        return self

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


async def fill(bootstrap: str, topics: Topics, n: int, *, seed: int) -> float:
    """Create the topics and produce `n` demo events (native format, two datasets, about 15%
    invalid) to the input topic; the seconds it took."""
    await create_topics(bootstrap, topics)
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


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
