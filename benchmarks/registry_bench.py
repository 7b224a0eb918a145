"""Registry-encoded (Avro) input next to JSON input, end to end, on the same events.

Starts its own Kafka broker, a sandbox process and a real Apicurio Registry (in memory),
registers the native-event Avro schema, then for each encoding in turn: starts one worker on
an empty topic, lets it settle, produces the same N events (JSON text, or Avro in the Confluent
wire format) and waits until every event is delivered or failed. Reported per encoding: the
worker's CPU-seconds per 1,000 events (user + system, from the first produced event to the last
outcome: the machine is shared, so wall time says little) and the wall-clock rate. Also the
decode step alone in this process (orjson.loads vs the wire-format Avro decoder), per event.

    .venv/bin/python benchmarks/registry_bench.py --events 50000 [--rounds 2]

Prints one JSON object and writes it to benchmarks/results/registry.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from rig import ROOT, Rig, tree_cpu_s

from streams.dev import apicurio
from streams.domain.registry import decode_payload, parse_avro, unframe
from tests.kafka.harness import Topics, WorkerProcess, create_topics, worker_env
from tests.pipeline.registry_inputs import AVRO_NATIVE, native_event
from tests.registry.support import avro_message, register


def events(n: int, now: int) -> list[dict[str, Any]]:
    return [native_event(i, now, "bench") for i in range(n)]


def as_avro(schema_id: int, ev: dict[str, Any]) -> bytes:
    rec = dict(ev, event_time=datetime.fromtimestamp(ev["event_time"], UTC))
    rec["custom_data"] = dict(ev["custom_data"], value=Decimal(ev["custom_data"]["value"]))
    return avro_message(schema_id, AVRO_NATIVE, rec)


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        futs = [await producer.send(topic, v, key=str(i).encode()) for i, v in enumerate(values)]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


def run_one(rig: Rig, label: str, values: list[bytes], config: Path | None) -> dict[str, Any]:
    topics = Topics.unique(f"bench-{label}", f"bench-{label}-{time.time_ns()}", partitions=4)
    asyncio.run(create_topics(rig.bootstrap, topics))
    extra = {"CAPI_GRAPH__TIMEOUT_SECONDS": "10", "CAPI_GRAPH__MAX_IN_FLIGHT": "8"}
    if config is not None:
        extra["CAPI_CONFIG"] = str(config)
    worker = WorkerProcess(
        worker_env(rig.bootstrap, rig.sandbox_url, topics, extra=extra), rig.tmp / f"{label}.log"
    )
    worker.start()
    assert worker.proc is not None
    try:
        time.sleep(5)  # start-up and the first rebalance are not what is measured
        cpu0 = tree_cpu_s(worker.proc.pid)
        started = time.monotonic()
        asyncio.run(produce(rig.bootstrap, topics.input, values))
        while True:
            m = worker.metrics()
            done = sum(
                v
                for k, v in m.items()
                if k.startswith(("capi_events_delivered_total", "capi_events_failed_total"))
            )
            if done >= len(values):
                break
            if worker.proc.poll() is not None:
                raise RuntimeError(worker.log_tail())
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        cpu = tree_cpu_s(worker.proc.pid) - cpu0
        failed = worker.metric_sum("capi_events_failed_total")
    finally:
        worker.stop()
    return {
        "encoding": label,
        "events": len(values),
        "failed": failed,
        "worker_cpu_s": round(cpu, 2),
        "worker_cpu_s_per_1000_events": round(cpu / len(values) * 1000, 3),
        "wall_events_per_s": round(len(values) / elapsed),
    }


def decode_only(json_values: list[bytes], avro_values: list[bytes]) -> dict[str, float]:
    """CPU microseconds per event of the decode step alone (this process)."""
    schema = parse_avro(orjson.dumps(AVRO_NATIVE).decode())
    t0 = time.process_time()
    for v in json_values:
        orjson.loads(v)
    t1 = time.process_time()
    for v in avro_values:
        framed = unframe(v)
        assert framed is not None
        decode_payload(framed.payload, schema)
    t2 = time.process_time()
    n = len(json_values)
    return {
        "json_decode_us_per_event": round((t1 - t0) / n * 1e6, 2),
        "avro_decode_us_per_event": round((t2 - t1) / n * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2, help="JSON then Avro, this many times")
    args = parser.parse_args()
    with Rig("registry-bench", latency_ms=20, jitter_ms=10) as rig:
        info = apicurio.start_registry(port=0, data_dir=rig.tmp / "registry")
        try:
            schema_id = asyncio.run(
                register(info.ccompat_url, "bench-value", orjson.dumps(AVRO_NATIVE).decode())
            )
            config = rig.tmp / "registry.toml"
            config.write_text(
                f'[registry]\nurl = "{info.ccompat_url}"\n\n[formats]\nencoding = "registry"\n'
            )
            evs = events(args.events, int(time.time()))
            json_values = [orjson.dumps(e) for e in evs]
            avro_values = [as_avro(schema_id, e) for e in evs]
            runs = []
            for _ in range(args.rounds):
                runs.append(run_one(rig, "json", json_values, None))
                runs.append(run_one(rig, "avro", avro_values, config))
        finally:
            apicurio.stop_registry(rig.tmp / "registry")
    result = {
        "benchmark": "registry_avro_vs_json_end_to_end",
        "events": args.events,
        "mean_json_bytes": round(sum(map(len, json_values)) / len(json_values)),
        "mean_avro_bytes": round(sum(map(len, avro_values)) / len(avro_values)),
        "runs": runs,
        **decode_only(json_values, avro_values),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, shared",
        "load_average_1m": round(os.getloadavg()[0], 1),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "registry.json").write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
