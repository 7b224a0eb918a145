"""One worker's maximum rate, requests fill and end-to-end latency at half that rate.

Starts its own Kafka broker (port 0, a temporary data dir) and a sandbox process (latency
200 ms plus up to 100 ms, uniform), then per run (a variant of the worker's settings, a round):

1. backlog: fills a fresh input topic (4 partitions, `message.timestamp.type=LogAppendTime`)
   with `--backlog` demo events (native, two datasets, about 15% invalid) and starts a worker
   on it: the drain rate (events/s, first consumed event to the last outcome), the worker's
   CPU-seconds per 1,000 events, and the requests' fill (events per request against
   `max_events`, 1,000) from the sandbox's receive times;
2. steady: produces demo events at half that rate (`--rate` fixes it) for `--steady-s`
   seconds, each valid one with its own `event_id`, and measures per delivered event the time
   from its record's append (the broker's timestamp) to the sandbox's answer accepting it
   (`/_sandbox/receive-times`; the request's arrival at the sandbox is reported too): p50,
   p90, p99 and max, whether p99 is within the issue's bound (the batching wait plus
   `take_within_ms` plus the sandbox's largest latency plus 250 ms), the requests per 100,000
   delivered events, the worker's CPU.

Variants are worker settings as environment variables, run interleaved (the order rotates
every round) on the same broker and sandbox:

    .venv/bin/python benchmarks/latency_bench.py                       # defaults, one round
    .venv/bin/python benchmarks/latency_bench.py --rounds 3 \\
        --variant default --variant wait200:CAPI_WORKER__BATCH_WAIT_MS=200

Prints one JSON object and writes benchmarks/results/latency.json and latency.md (`--name`
changes the file names), with the load average and the cores at each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from rig import LOG_APPEND_TIME, Rig, conditions, fill, tree_cpu_s, write_result

from streams.dev.demo import demo_events
from tests.kafka.harness import DATASET_A, DATASET_B, Topics, WorkerProcess, worker_env

MAX_EVENTS = 1000  # datasets' max_events (the default): a full request
BASE_ENV = {
    "CAPI_GRAPH__TIMEOUT_SECONDS": "10",
    "CAPI_WORKER__TAKE_WITHIN_MS": "200",  # the defaults (the test harness shortens them)
    "CAPI_WORKER__BATCH_WAIT_MS": "1000",
}


@dataclass
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Variant:
        """NAME or NAME:KEY=VALUE,KEY=VALUE."""
        name, _, rest = text.partition(":")
        env = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
        return cls(name, env)


# ------------------------------------------------------------------ the sandbox's view


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:  # loopback sandbox
        return json.loads(resp.read())


def sandbox_reset(url: str) -> None:
    req = urllib.request.Request(f"{url}/_sandbox/reset", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:  # loopback sandbox
        resp.read()


def receive_times(url: str, after: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Every request the sandbox accepted after sequence number `after`, and the last one's."""
    out: list[dict[str, Any]] = []
    while True:
        page = _get(f"{url}/_sandbox/receive-times?after={after}&limit=1000")
        if page["first_kept"] > after + 1:
            raise RuntimeError("the sandbox dropped receive times (--max-receive-times)")
        out.extend(page["requests"])
        if not page["requests"]:
            return out, after
        after = page["next_after"]


def request_fill(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Events per request, against max_events and against the fewest requests possible."""
    per_ds: dict[str, int] = {}
    for r in requests:
        per_ds[r["dataset"]] = per_ds.get(r["dataset"], 0) + len(r["event_ids"])
    events = sum(per_ds.values())
    fewest = sum(math.ceil(n / MAX_EVENTS) for n in per_ds.values())
    return {
        "requests": len(requests),
        "delivered_events": events,
        "mean_events_per_request": round(events / len(requests), 1) if requests else None,
        "fill_of_max_events": round(events / len(requests) / MAX_EVENTS, 3) if requests else None,
        "fewest_requests_possible": fewest,
        "requests_per_100k_events": round(len(requests) / events * 100_000) if events else None,
    }


# ------------------------------------------------------------------ the worker


def _total(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def wait_done(worker: WorkerProcess, n: int, timeout_s: float, poll_s: float) -> float:
    """Poll until `n` events have an outcome; when the first event was seen consumed."""
    first = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        m = worker.metrics()
        if first is None and _total(m, "capi_events_consumed_total") > 0:
            first = time.monotonic()
        done = _total(m, "capi_events_delivered_total") + _total(m, "capi_events_failed_total")
        if done >= n and first is not None:
            return first
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise RuntimeError(worker.log_tail())
    raise RuntimeError(f"not done in {timeout_s:.0f} s: {worker.log_tail()}")


class Sampler(threading.Thread):
    """Samples a few of the worker's gauges once a second while the steady phase runs."""

    GAUGES = ("capi_windows_pending", "capi_requests_in_flight", "capi_consumer_lag")

    def __init__(self, worker: WorkerProcess) -> None:
        super().__init__(daemon=True)
        self._worker = worker
        self._done = threading.Event()
        self.samples: dict[str, list[float]] = {g: [] for g in self.GAUGES}

    def run(self) -> None:
        while not self._done.wait(1.0):
            try:
                m = self._worker.metrics()
            except OSError:
                continue
            for g in self.GAUGES:
                self.samples[g].append(_total(m, g))

    def summary(self) -> dict[str, Any]:
        self._done.set()
        self.join(5)
        return {
            g: {"mean": round(statistics.fmean(v), 1), "max": max(v)} if v else None
            for g, v in self.samples.items()
        }


# ------------------------------------------------------------------ the steady producer


async def produce_steady(
    bootstrap: str, topic: str, rate: float, seconds: float, prefix: str
) -> tuple[dict[str, int], int]:
    """Demo events at `rate` per second for `seconds`: event_id -> the record's append time
    (ms, the broker's) for every valid event, and the number of events produced."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await producer.start()
    events = demo_events(
        10**9, now=int(time.time()), datasets=[DATASET_A, DATASET_B], seed=23, formats=False
    )
    sent: list[tuple[str, asyncio.Future[Any]]] = []
    try:
        started = time.monotonic()
        i = 0
        while (elapsed := time.monotonic() - started) < seconds:
            for _ in range(int(elapsed * rate) - i):
                ev = next(events)
                eid, value = "", ev.value
                if ev.kind == "valid":
                    obj = orjson.loads(ev.value)
                    eid = obj["event_id"] = f"{prefix}{i}"
                    value = orjson.dumps(obj)
                sent.append((eid, await producer.send(topic, value, key=ev.key)))
                i += 1
            await asyncio.sleep(0.005)
        mds = await asyncio.gather(*(fut for _, fut in sent))
    finally:
        await producer.stop()
    if any(md.timestamp_type != 1 for md in mds):
        raise RuntimeError("the input topic does not keep the append time")
    appended = {eid: md.timestamp for (eid, _), md in zip(sent, mds, strict=True) if eid}
    return appended, len(sent)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    q = statistics.quantiles(values * 2 if len(values) < 2 else values, n=100, method="inclusive")
    return {
        "p50": round(q[49]),
        "p90": round(q[89]),
        "p99": round(q[98]),
        "max": round(max(values)),
    }


def latencies(appended: dict[str, int], requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Append -> answer (and -> arrival) in ms for the steady events the sandbox accepted;
    `answer_ms_by_10s`: p50 and p99 of the events appended in each 10 s of the phase (a worker
    falling behind shows as a rising p50)."""
    answered: list[float] = []
    arrived: list[float] = []
    slices: dict[int, list[float]] = {}
    start = min(appended.values(), default=0)
    seen: set[str] = set()
    for r in requests:
        for eid in r["event_ids"]:
            t0 = appended.get(eid)
            if t0 is None or eid in seen:
                continue
            seen.add(eid)
            answered.append(r["answered_at"] * 1000 - t0)
            arrived.append(r["arrived_at"] * 1000 - t0)
            slices.setdefault((t0 - start) // 10_000, []).append(answered[-1])
    by_10s = [percentiles(slices[k]) for k in sorted(slices)]
    return {
        "valid_events_produced": len(appended),
        "delivered_and_matched": len(seen),
        "append_to_answer_ms": percentiles(answered),
        "append_to_arrival_ms": percentiles(arrived),
        "answer_ms_by_10s": [[q["p50"], q["p99"]] for q in by_10s],
    }


# ------------------------------------------------------------------ one run


def run(rig: Rig, args: argparse.Namespace, variant: Variant, tag: str) -> dict[str, Any]:
    topics = Topics.unique(f"lat-{tag}", f"lat-{tag}")
    asyncio.run(fill(rig.bootstrap, topics, args.backlog, seed=11, input_configs=LOG_APPEND_TIME))
    sandbox_reset(rig.sandbox_url)
    env = worker_env(rig.bootstrap, rig.sandbox_url, topics, extra={**BASE_ENV, **variant.env})
    worker_args = ["--processes", str(args.processes)] if args.processes != 1 else []
    worker = WorkerProcess(env, rig.tmp / f"worker-{tag}.log", args=worker_args)
    load0 = conditions()["load_average_1_5_15"]
    worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    try:
        cpu0 = tree_cpu_s(pid)
        first = wait_done(worker, args.backlog, timeout_s=1800, poll_s=0.5)
        drain_s = time.monotonic() - first
        cpu1 = tree_cpu_s(pid)
        backlog_requests, last_seq = receive_times(rig.sandbox_url)
        result: dict[str, Any] = {
            "variant": variant.name,
            "env": variant.env,
            "load_average_at_start": load0,
            "backlog": {
                "events": args.backlog,
                "drain_s": round(drain_s, 2),
                "events_per_s": round(args.backlog / drain_s),
                "cpu_s_per_1000": round((cpu1 - cpu0) / args.backlog * 1000, 3),
                **request_fill(backlog_requests),
            },
        }
        if args.steady_s > 0:
            rate = args.rate or args.backlog / drain_s / 2
            result["steady"] = steady(rig, args, worker, topics, rate, last_seq, tag)
            result["steady"]["p99_bound_ms"] = bound = p99_bound(args, {**BASE_ENV, **variant.env})
            p99 = result["steady"]["append_to_answer_ms"]["p99"]
            result["steady"]["p99_within_bound"] = p99 is not None and p99 <= bound
        result["load_average_at_end"] = conditions()["load_average_1_5_15"]
        return result
    finally:
        worker.stop()


def p99_bound(args: argparse.Namespace, env: dict[str, str]) -> float:
    """The issue's bound on p99: the window wait (the batching wait plus the take-window's) plus
    the sandbox's latency (its largest) plus 250 ms."""
    waits = int(env["CAPI_WORKER__BATCH_WAIT_MS"]) + int(env["CAPI_WORKER__TAKE_WITHIN_MS"])
    return waits + args.latency_ms + args.latency_jitter_ms + 250


def steady(
    rig: Rig,
    args: argparse.Namespace,
    worker: WorkerProcess,
    topics: Topics,
    rate: float,
    after_seq: int,
    tag: str,
) -> dict[str, Any]:
    assert worker.proc is not None
    done0 = worker.metric_sum("capi_events_delivered_total") + worker.metric_sum(
        "capi_events_failed_total"
    )
    cpu0 = tree_cpu_s(worker.proc.pid)
    started = time.monotonic()
    sampler = Sampler(worker)
    sampler.start()
    appended, produced = asyncio.run(
        produce_steady(rig.bootstrap, topics.input, rate, args.steady_s, f"{tag}-s")
    )
    gauges = sampler.summary()
    wait_done(worker, int(done0) + produced, timeout_s=600, poll_s=1.0)
    cpu = tree_cpu_s(worker.proc.pid) - cpu0
    requests, _ = receive_times(rig.sandbox_url, after_seq)
    return {
        "rate_events_per_s": round(rate),
        "seconds": args.steady_s,
        "events_produced": produced,
        "wall_s_to_last_outcome": round(time.monotonic() - started, 1),
        "cpu_s_per_1000": round(cpu / produced * 1000, 3) if produced else None,
        **latencies(appended, requests),
        **request_fill(requests),
        "worker_gauges_while_producing": gauges,
    }


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=30_000, help="events drained first")
    parser.add_argument("--steady-s", type=float, default=60, help="0: backlog only")
    parser.add_argument("--rate", type=float, default=0, help="steady rate (0: half the drain)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1, help="worker --processes N")
    parser.add_argument("--variant", action="append", type=Variant.parse, default=[])
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--latency-jitter-ms", type=float, default=100)
    parser.add_argument("--name", default="latency", help="results file name")
    args = parser.parse_args()
    variants: list[Variant] = args.variant or [Variant("default")]
    started = conditions()
    runs: list[dict[str, Any]] = []
    with Rig("latency", latency_ms=args.latency_ms, jitter_ms=args.latency_jitter_ms) as rig:
        for i in range(args.rounds):
            k = i % len(variants)
            for variant in variants[k:] + variants[:k]:
                runs.append(run(rig, args, variant, f"{variant.name}-{i}-{int(time.time())}"))
                print(json.dumps(runs[-1]), file=sys.stderr)
    doc = {
        "benchmark": "latency_and_fill",
        "sandbox_latency_ms": [args.latency_ms, args.latency_ms + args.latency_jitter_ms],
        "worker_env": BASE_ENV,
        "worker_processes": args.processes,
        "conditions_at_start": started,
        "conditions_at_end": conditions(),
        "runs": runs,
    }
    print(json.dumps(doc, indent=2))
    write_result(args.name, doc, markdown(doc))


def markdown(doc: dict[str, Any]) -> str:
    c = doc["conditions_at_start"]
    lo, hi = doc["sandbox_latency_ms"]
    lines = [
        f"# {doc['benchmark']} ({c['utc']}, commit {c['commit']})",
        "",
        f"{c['cores']} cores, Python {c['python']}; sandbox latency {lo:.0f}-{hi:.0f} ms; "
        f"load average (1/5/15 min) at start {c['load_average_1_5_15']}, "
        f"at end {doc['conditions_at_end']['load_average_1_5_15']}.",
        "",
        "| variant | load at start | backlog events/s | CPU-s/1k | events/request (fill) "
        "| steady events/s | p50 / p99 / max ms (append -> answer) | p99 bound ms "
        "| requests/100k |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        b, s = r["backlog"], r.get("steady")
        row = [
            r["variant"],
            f"{r['load_average_at_start'][0]}",
            f"{b['events_per_s']}",
            f"{b['cpu_s_per_1000']}",
            f"{b['mean_events_per_request']} ({b['fill_of_max_events']})",
        ]
        if s:
            lat = s["append_to_answer_ms"]
            row += [
                f"{s['rate_events_per_s']}",
                f"{lat['p50']} / {lat['p99']} / {lat['max']}",
                f"{s['p99_bound_ms']:.0f} ({'met' if s['p99_within_bound'] else 'missed'})",
                f"{s['requests_per_100k_events']}",
            ]
        else:
            row += ["-", "-", "-", "-"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
