"""Bounded memory: one worker process draining a large backlog; its resident memory over time.

Starts its own Kafka broker (port 0, a temporary data dir) and a sandbox process, fills an
input topic (4 partitions) with N demo events (about 15% invalid) before the worker starts, then
runs one worker until every event has an outcome, sampling the worker's RSS from /proc every
`--interval` seconds. The peak is the kernel's high-water mark (VmHWM), read before the worker
stops. With `--hold-seconds S` the second dataset's token is invalid for the first S seconds:
its events are held while the first dataset's flow, so the worker keeps up to
`worker.max_unacked` events unacked in memory (the worst case), then the token works again and
the backlog drains.

    .venv/bin/python benchmarks/memory_soak.py --events 1000000

Prints one JSON object and writes it to benchmarks/results/memory_soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
import urllib.request
from pathlib import Path

from rig import ROOT, Rig, fill

from tests.kafka.harness import DATASET_B, Topics, WorkerProcess, rss_kib, worker_env

BOUND_MB = 300  # the bound this benchmark checks (tests/kafka/test_reliability.py uses it too)


def _token_invalid(url: str, dataset: str, invalid: bool) -> None:
    req = urllib.request.Request(
        f"{url}/_sandbox/datasets/{dataset}/token-invalid",
        data=json.dumps({"invalid": invalid}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # loopback sandbox
        resp.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--latency-jitter-ms", type=float, default=50)
    parser.add_argument("--interval", type=float, default=0.5, help="RSS sampling period (s)")
    parser.add_argument("--hold-seconds", type=float, default=0, help="hold dataset B this long")
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/memory_soak.json"))
    args = parser.parse_args()
    n = args.events

    worker = None
    with Rig("soak", latency_ms=args.latency_ms, jitter_ms=args.latency_jitter_ms) as rig:
        try:
            topics = Topics.unique("soak", f"soak-{int(time.time())}", partitions=4)
            fill_s = asyncio.run(fill(rig.bootstrap, topics, n, seed=5))
            env = worker_env(
                rig.bootstrap,
                rig.sandbox_url,
                topics,
                extra={"CAPI_GRAPH__TIMEOUT_SECONDS": "10", "CAPI_WORKER__TAKE_WITHIN_MS": "200"},
            )
            sandbox_url = rig.sandbox_url
            if args.hold_seconds:
                _token_invalid(sandbox_url, DATASET_B, True)
            worker = WorkerProcess(env, rig.tmp / "worker.log")
            worker.start()
            assert worker.proc is not None
            pid = worker.proc.pid
            started = time.monotonic()
            samples: list[tuple[float, float, float]] = []  # (s, done events, RSS MB)
            last_scrape = 0.0
            done = 0.0
            max_pending = 0.0
            held_rss = 0.0
            held = bool(args.hold_seconds)
            while done < n:
                time.sleep(args.interval)
                if held and time.monotonic() - started >= args.hold_seconds:
                    held_rss = rss_kib(pid)[1] / 1024
                    _token_invalid(sandbox_url, DATASET_B, False)
                    held = False
                if worker.proc.poll() is not None:
                    raise RuntimeError(worker.log_tail())
                now = time.monotonic()
                if now - last_scrape >= 2.0:  # scraping costs the worker CPU: every 2 s
                    m = worker.metrics()
                    done = sum(
                        v
                        for k, v in m.items()
                        if k.startswith(("capi_events_delivered_total", "capi_events_failed_total"))
                    )
                    max_pending = max(max_pending, m.get("capi_windows_pending", 0.0))
                    last_scrape = now
                samples.append((round(now - started, 1), done, rss_kib(pid)[0] / 1024))
            elapsed = time.monotonic() - started
            peak_mb = rss_kib(pid)[1] / 1024
            delivered = worker.metric_sum("capi_events_delivered_total")
            failed = worker.metric_sum("capi_events_failed_total")
            worker.stop()
            rss = [s[2] for s in samples]
            quarter = max(1, len(rss) // 4)
            result = {
                "benchmark": "memory_soak",
                "events": n,
                "delivered": int(delivered),
                "failed": int(failed),
                "fill_s": round(fill_s, 1),
                "drain_s": round(elapsed, 1),
                "events_per_s": round(n / elapsed),
                "sandbox_latency_ms": [args.latency_ms, args.latency_jitter_ms],
                "max_windows_pending_seen": int(max_pending),
                "hold_seconds": args.hold_seconds,
                "peak_rss_mb_during_hold": round(held_rss, 1) if args.hold_seconds else None,
                "peak_rss_mb": round(peak_mb, 1),
                "rss_mb_first_quarter_max": round(max(rss[:quarter]), 1),
                "rss_mb_last_quarter_max": round(max(rss[-quarter:]), 1),
                "rss_mb_final": round(rss[-1], 1),
                "bound_mb": BOUND_MB,
                "within_bound": peak_mb <= BOUND_MB,
                "rss_timeline_mb": [
                    [s[0], int(s[1]), round(s[2], 1)]
                    for s in samples[:: max(1, len(samples) // 40)]
                ],
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
            text = json.dumps(result, indent=2)
            print(text)
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(text + "\n")
        finally:
            if worker is not None and worker.proc is not None and worker.proc.poll() is None:
                worker.kill()


if __name__ == "__main__":
    main()
