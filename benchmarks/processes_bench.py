"""`capi-streams worker --processes 2` against one worker, interleaved, on the same events.

Each run gets a fresh 4-partition topic filled with the same demo events (same seed), then one
`capi-streams worker` (`--processes 1`: no supervisor) or `--processes 2` (a supervisor and
two workers) consumes it to the end against the sandbox. Reported per run: events/s from the
first consumed event to the last outcome, and CPU-seconds per 1,000 events of every process
of the command (for `--processes 2`: the supervisor and both workers, rig.tree_cpu_s). Rounds
alternate 1, 2, 1, 2, ... so machine load drifts over both alike.

    .venv/bin/python benchmarks/processes_bench.py --events 60000 --rounds 2

Writes benchmarks/results/processes.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from rig import Rig, bench_env, conditions, cpu_s, fill, run_to_end, tree_cpu_s, write_result

from tests.kafka.harness import Topics, WorkerProcess


def one_run(rig: Rig, processes: int, n: int, label: str) -> dict[str, Any]:
    topics = Topics.unique(f"bench-{label}", f"bench-{label}-{int(time.time())}", partitions=4)
    asyncio.run(fill(rig.bootstrap, topics, n, seed=11))
    env = bench_env(rig, topics, {"CAPI_KAFKA__GROUP_INSTANCE_ID": f"bench-{label}"})
    sup = WorkerProcess(env, rig.tmp / f"{label}.log", args=["--processes", str(processes)])
    sup.start()
    assert sup.proc is not None
    try:
        elapsed = run_to_end([sup], n)
        total_cpu = tree_cpu_s(sup.proc.pid)  # the command's processes, before they stop
        own_cpu = cpu_s(sup.proc.pid)
    finally:
        sup.stop()
    return {
        "processes": processes,
        "events_per_s": round(n / elapsed),
        "cpu_s_per_1000_events": round(total_cpu / n * 1000, 3),
        "cpu_s": round(total_cpu, 1),
        # the supervisor alone (its merged /metrics, the probes); with 1: the worker itself
        "supervisor_cpu_s": round(own_cpu, 1) if processes > 1 else None,
        "elapsed_s": round(elapsed, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2, help="compared with 1")
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--latency-jitter-ms", type=float, default=100)
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    with Rig("procs", latency_ms=args.latency_ms, jitter_ms=args.latency_jitter_ms) as rig:
        for r in range(args.rounds):
            for p in (1, args.processes):
                runs.append(one_run(rig, p, args.events, f"r{r}-p{p}"))
                print(json.dumps(runs[-1]), flush=True)

    def median(p: int, key: str) -> float:
        return float(statistics.median(x[key] for x in runs if x["processes"] == p))

    result = {
        "benchmark": "worker_processes",
        "events": args.events,
        "partitions": 4,
        "sandbox_latency_ms": f"{args.latency_ms}±{args.latency_jitter_ms}",
        "runs": runs,
        "median_events_per_s": {str(p): median(p, "events_per_s") for p in (1, args.processes)},
        "median_cpu_s_per_1000_events": {
            str(p): median(p, "cpu_s_per_1000_events") for p in (1, args.processes)
        },
        "speedup_events_per_s": round(
            median(args.processes, "events_per_s") / median(1, "events_per_s"), 2
        ),
        "conditions": conditions(),
    }
    print(json.dumps(result, indent=2))
    write_result("processes", result)


if __name__ == "__main__":
    main()
