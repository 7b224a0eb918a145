"""End-to-end throughput of worker processes (one by default): pre-filled topic -> workers ->
sandbox. With `--workers N`, N processes share the consumer group (CPU is summed over them).

Starts its own Kafka broker (port 0, a temporary data dir) and a sandbox process with
realistic latency, fills an input topic (4 partitions) with N demo events, measures the rate
at which a bare aiokafka consumer reads the same topic (the ceiling), then runs the workers
and measures the sustained events/s from the first consumed event to the last outcome.

    .venv/bin/python benchmarks/pipeline_bench.py --events 500000 [--workers 2]

Prints one JSON object and writes it to benchmarks/results/pipeline.json
(pipeline-N-workers.json for N > 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time

from aiokafka import AIOKafkaConsumer
from rig import (
    Rig,
    Total,
    bench_env,
    conditions,
    fill,
    rss_mb,
    run_to_end,
    tree_cpu_s,
    write_result,
)

from tests.kafka.harness import Topics, WorkerProcess


async def bare_consumer_rate(bootstrap: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{time.time()}",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    seen = 0
    first = None
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20000)
            if batch and first is None:
                first = time.monotonic()
            seen += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
    assert first is not None
    return n / (time.monotonic() - first)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--latency-jitter-ms", type=float, default=100)
    parser.add_argument("--max-in-flight", type=int, default=8)
    parser.add_argument("--take-max", type=int, default=4000)
    parser.add_argument("--profile", default=None, help="py-spy the (first) worker into this file")
    parser.add_argument("--workers", type=int, default=1, help="worker processes in the group")
    args = parser.parse_args()
    n = args.events

    workers: list[WorkerProcess] = []
    started = conditions()
    with Rig("bench", latency_ms=args.latency_ms, jitter_ms=args.latency_jitter_ms) as rig:
        try:
            topics = Topics.unique("bench", f"bench-{int(time.time())}", partitions=4)
            fill_s = asyncio.run(fill(rig.bootstrap, topics, n, seed=11))
            ceiling = asyncio.run(bare_consumer_rate(rig.bootstrap, topics.input, n))
            env = bench_env(
                rig,
                topics,
                {
                    "CAPI_GRAPH__MAX_IN_FLIGHT": str(args.max_in_flight),
                    "CAPI_WORKER__TAKE_MAX": str(args.take_max),
                },
            )
            for i in range(args.workers):
                workers.append(WorkerProcess(env, rig.tmp / f"worker-{i}.log"))
                workers[-1].start()
            pids = [w.proc.pid for w in workers if w.proc is not None]
            spy = None
            if args.profile:
                spy = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "-f",
                        "raw",
                        "-o",
                        args.profile,
                        "-p",
                        str(pids[0]),
                        "-r",
                        "50",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            peak_rss = 0.0
            pending: list[float] = []
            in_flight: list[float] = []

            def sample(total: Total) -> None:
                nonlocal peak_rss
                peak_rss = max(peak_rss, *(rss_mb(pid) for pid in pids))
                pending.append(total("capi_windows_pending"))
                in_flight.append(total("capi_requests_in_flight"))

            elapsed = run_to_end(workers, n, sample)
            if spy is not None:
                spy.send_signal(2)
                spy.wait(30)
            worker_cpu_s = sum(tree_cpu_s(pid) for pid in pids)
            delivered = sum(w.metric_sum("capi_events_delivered_total") for w in workers)
            failed = sum(w.metric_sum("capi_events_failed_total") for w in workers)
            rate = n / elapsed
            result = {
                "benchmark": "pipeline_end_to_end",
                "events": n,
                "workers": args.workers,
                "partitions": topics.partitions,
                "sandbox_latency_ms": f"{args.latency_ms}±{args.latency_jitter_ms}",
                "max_in_flight_per_dataset": args.max_in_flight,
                "take_max": args.take_max,
                "delivered": delivered,
                "failed": failed,
                "elapsed_s": round(elapsed, 2),
                "end_to_end_events_per_s": round(rate),
                "bare_aiokafka_consumer_events_per_s": round(ceiling),
                "fraction_of_ceiling": round(rate / ceiling, 3),
                "worker_cpu_s": round(worker_cpu_s, 1),
                "worker_cpu_us_per_event": round(worker_cpu_s / n * 1e6, 1),
                "worker_peak_rss_mb": round(peak_rss),
                "mean_windows_pending": round(sum(pending) / max(1, len(pending)), 1),
                "mean_requests_in_flight": round(sum(in_flight) / max(1, len(in_flight)), 1),
                "fill_s": round(fill_s, 1),
                "conditions_at_start": started,
                "conditions_at_end": conditions(),
            }
            print(json.dumps(result, indent=2))
            name = "pipeline" if args.workers == 1 else f"pipeline-{args.workers}-workers"
            write_result(name, result)
        finally:
            for w in workers:
                if w.proc is not None:
                    w.stop()


if __name__ == "__main__":
    main()
