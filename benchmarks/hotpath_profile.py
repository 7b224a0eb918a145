"""CPU per event of the worker's own path, without Kafka: admission, batching, delivery to a
real sandbox process, outcome records and metrics.

Builds the worker's objects exactly as `capi-streams worker` does (`streams.wiring.build_worker`)
with an in-memory record sink (records are encoded as for Kafka, then dropped; the sink's
futures are already resolved), starts a sandbox process (its CPU is not counted), and runs
`Pipeline.process` over windows of the demo events the end-to-end benchmarks use (native
format, two datasets, about 15% invalid), up to `--pending` windows at once as the window
runner does. Reports, per round, this process's CPU microseconds per event of:

* `admit`: `admit_all` alone over the same windows (decode, size checks, routing, transform,
  PII guard);
* `pipeline`: the whole `Pipeline.process` (admission included), HTTP client and event loop.

`--profile FILE` writes a cProfile of one extra pipeline round (inspect with pstats).

    .venv/bin/python benchmarks/hotpath_profile.py --events 30000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from rig import ROOT

from streams.dev.demo import demo_events
from streams.domain.admission import InputMessage, admit_all
from streams.domain.records import SourceRef
from streams.settings import load_settings
from streams.wiring import build_worker
from tests.kafka.harness import DATASET_A, DATASET_B, TOKEN_ENV, free_port

del ROOT  # imported for its sys.path entry


class DropSink:
    """Counts records and drops them; every send is acknowledged at once."""

    def __init__(self) -> None:
        self.records = 0

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        self.records += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def windows(n: int, size: int, now: int, seed: int) -> list[list[InputMessage]]:
    msgs = [
        InputMessage(SourceRef("capi-events", i % 4, i // 4, None), ev.key, ev.value, {})
        for i, ev in enumerate(
            demo_events(n, now=now, datasets=[DATASET_A, DATASET_B], seed=seed, formats=False)
        )
    ]
    return [msgs[i : i + size] for i in range(0, len(msgs), size)]


def settings(url: str, batch_wait_ms: int) -> Any:
    env = {
        "CAPI_GRAPH__URL": url,
        "CAPI_GRAPH__TIMEOUT_SECONDS": "10",
        "CAPI_GRAPH__MAX_IN_FLIGHT": "8",
        "CAPI_DATASETS__0__ID": DATASET_A,
        "CAPI_DATASETS__0__TOKEN_ENV": TOKEN_ENV,
        "CAPI_DATASETS__1__ID": DATASET_B,
        "CAPI_DATASETS__1__TOKEN_ENV": TOKEN_ENV,
        "CAPI_ROUTING__DEFAULT_DATASET": DATASET_A,
        "CAPI_WORKER__BATCH_WAIT_MS": str(batch_wait_ms),
        TOKEN_ENV: "sandbox-token",
    }
    return load_settings(None, env)


async def run_pipeline(
    url: str, wins: Sequence[Sequence[InputMessage]], pending: int, batch_wait_ms: int
) -> tuple[float, int, int]:
    """CPU seconds of this process for the whole run; delivered and failed events."""
    sink = DropSink()
    worker = build_worker(settings(url, batch_wait_ms), sink, CollectorRegistry())
    await worker.client.start()
    slots = asyncio.Semaphore(pending)
    delivered = failed = 0

    async def one(win: Sequence[InputMessage]) -> None:
        nonlocal delivered, failed
        try:
            res = await worker.pipeline.process(win)
        finally:
            slots.release()
        if res.held:
            raise RuntimeError(f"held {len(res.held)} events")
        delivered += res.delivered
        failed += res.failed

    try:
        gc.collect()
        start = time.process_time()
        tasks = []
        for win in wins:
            await slots.acquire()
            tasks.append(asyncio.create_task(one(win)))
        await asyncio.gather(*tasks)
        cpu = time.process_time() - start
    finally:
        await worker.client.close()
    return cpu, delivered, failed


def run_admit(url: str, wins: Sequence[Sequence[InputMessage]], now: float) -> float:
    ctx = settings(url, 0).admission()
    gc.collect()
    start = time.process_time()
    for win in wins:
        admit_all(win, ctx, now)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--window", type=int, default=4000)
    parser.add_argument("--pending", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-wait-ms", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--latency-jitter-ms", type=float, default=100)
    parser.add_argument("--profile", default=None, help="cProfile one more round into this file")
    args = parser.parse_args()
    port = free_port()
    sandbox = subprocess.Popen(
        [
            *(sys.executable, "-m", "streams.cli", "sandbox", "--port", str(port)),
            *("--latency-ms", str(args.latency_ms)),
            *("--latency-jitter-ms", str(args.latency_jitter_ms)),
            *("--max-receipts", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert sandbox.stdout is not None
        sandbox.stdout.readline()  # the ready line
        url = f"http://127.0.0.1:{port}"
        now = int(time.time())
        wins = windows(args.events, args.window, now, seed=11)
        n = sum(map(len, wins))
        admit_us: list[float] = []
        pipe_us: list[float] = []
        outcome = (0, 0)
        for _ in range(args.rounds):
            admit_us.append(run_admit(url, wins, now) / n * 1e6)
            cpu, delivered, failed = asyncio.run(
                run_pipeline(url, wins, args.pending, args.batch_wait_ms)
            )
            pipe_us.append(cpu / n * 1e6)
            outcome = (delivered, failed)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            asyncio.run(run_pipeline(url, wins, args.pending, args.batch_wait_ms))
            prof.disable()
            prof.dump_stats(args.profile)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    result = {
        "events": n,
        "delivered": outcome[0],
        "failed": outcome[1],
        "admit_us_per_event": [round(x, 1) for x in admit_us],
        "pipeline_us_per_event": [round(x, 1) for x in pipe_us],
        "median_admit_us": round(statistics.median(admit_us), 1),
        "median_pipeline_us": round(statistics.median(pipe_us), 1),
        "median_rest_us": round(statistics.median(pipe_us) - statistics.median(admit_us), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
