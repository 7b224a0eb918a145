"""The peer: what a competent engineer writes from Meta's SDK documentation, side by side with
one capi-streams worker, on the same broker, sandbox and events.

The SDK forwarder (`--forward sync|async`, run as its own process so its CPU is its own):

* sync: a confluent-kafka consumer, the facebook-business SDK's `UserData`/`CustomData`/
  `Event`/`EventRequest`, one request per dataset for each batch of up to 1,000 events,
  `EventRequest.execute()`, then a synchronous commit;
* async: an aiokafka consumer and `EventRequestAsync`, the datasets' requests of a batch
  concurrently, then a commit.

Both drop, before sending, what the documentation says Meta rejects (undecodable JSON, an
`event_time` not within the last 7 days, a purchase without currency, a website event without
user agent), log a failed request and carry on (commit anyway: a script's at-most-once).

The driver fills one topic (demo events, about 15% invalid), then runs worker / SDK sync /
SDK async in rotating order (`--pairs` rounds, a fresh consumer group each run) and reports,
per run, events/s (first consumed event to the last outcome) and CPU-seconds per 1,000 events
of the forwarding process only, counted from the moment it is ready to consume (imports and
startup excluded for both). The machine may be loaded: CPU-seconds are the figure to compare.
It also reports, per user_data field, how often the SDK's hash agrees with ours (the
normalization rules, docs/normalization.md) on a sample of the same events, with birth dates
and genders added in the formats people type them.

    .venv/bin/pip install -e ".[bench]"   # the SDK and confluent-kafka
    .venv/bin/python benchmarks/sdk_forwarder_bench.py --events 30000 --pairs 3

Prints one JSON object and writes it to benchmarks/results/sdk_forwarder.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from rig import Rig, conditions, fill, tree_cpu_s, write_result

from streams.dev.demo import demo_events
from streams.domain.admission import AdmissionContext, InputMessage, admit
from streams.domain.records import SourceRef
from streams.domain.transform import DatasetPolicy
from tests.kafka.harness import DATASET_A, Topics, WorkerProcess, worker_env

BATCH = 1000
MAX_AGE_S = 7 * 86400
FIELDS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "db", "ge")
TOKEN = "sandbox-token"
log = logging.getLogger("sdk-forwarder")


# ------------------------------------------------------------------ the SDK forwarder


def sdk_builder() -> Callable[[dict[str, Any]], Any]:
    """decoded event -> the SDK's Event, as the SDK's README and the CAPI docs show it."""
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.app_data import AppData
    from facebook_business.adobjects.serverside.content import Content
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.gender import Gender
    from facebook_business.adobjects.serverside.messaging_channel import MessagingChannel
    from facebook_business.adobjects.serverside.user_data import UserData

    lists = {
        "email": "emails",
        "phone": "phones",
        "first_name": "first_names",
        "last_name": "last_names",
        "city": "cities",
        "state": "states",
        "zip": "zip_codes",
        "country": "country_codes",
        "external_id": "external_ids",
        "db": "dates_of_birth",
    }
    plain = {
        "ip": "client_ip_address",
        "user_agent": "client_user_agent",
        "fbp": "fbp",
        "fbc": "fbc",
        "madid": "madid",
        "ctwa_clid": "ctwa_clid",
    }
    genders = {"m": Gender.MALE, "male": Gender.MALE, "f": Gender.FEMALE, "female": Gender.FEMALE}

    def build(obj: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {}
        for key, value in obj.get("user_data", {}).items():
            if key in lists:
                kwargs[lists[key]] = [value]
            elif key in plain:
                kwargs[plain[key]] = value
            elif key == "ge" and str(value).strip().lower() in genders:
                kwargs["genders"] = [genders[str(value).strip().lower()]]
        event = Event(
            event_name=obj["event_name"],
            event_time=int(obj["event_time"]),
            user_data=UserData(**kwargs),
            action_source=ActionSource(obj["action_source"]),
            event_id=obj.get("event_id"),
            event_source_url=obj.get("event_source_url"),
        )
        custom = obj.get("custom_data")
        if custom:
            event.custom_data = CustomData(
                value=custom.get("value"),
                currency=custom.get("currency"),
                contents=[
                    Content(product_id=c["id"], quantity=c["quantity"], item_price=c["item_price"])
                    for c in custom.get("contents", ())
                ],
                content_type=custom.get("content_type"),
                order_id=custom.get("order_id"),
            )
        app = obj.get("app_data")
        if app:
            event.app_data = AppData(
                advertiser_tracking_enabled=bool(app.get("advertiser_tracking_enabled")),
                application_tracking_enabled=bool(app.get("application_tracking_enabled", True)),
            )
        if obj.get("messaging_channel"):
            event.messaging_channel = MessagingChannel(obj["messaging_channel"])
        return event

    return build


def documented_ok(obj: Any, now: float) -> bool:
    """What the CAPI documentation says the server rejects, checked before sending."""
    if not isinstance(obj, dict) or not isinstance(obj.get("user_data"), dict):
        return False
    t = obj.get("event_time")
    if not isinstance(t, int) or not now - MAX_AGE_S <= t <= now + 60:
        return False
    custom = obj.get("custom_data") or {}
    if obj.get("event_name") == "Purchase" and not custom.get("currency"):
        return False
    return not (obj.get("action_source") == "website" and not obj["user_data"].get("user_agent"))


def to_events(values: Iterable[bytes], build: Callable[[dict[str, Any]], Any]) -> dict[str, list]:
    """Raw values -> the SDK's events per dataset; what cannot be sent is logged and skipped."""
    now = time.time()
    per_dataset: dict[str, list[Any]] = {}
    for raw in values:
        try:
            obj = json.loads(raw)
            if not documented_ok(obj, now):
                continue
            per_dataset.setdefault(obj["dataset_id"], []).append(build(obj))
        except Exception:
            log.debug("skipping an event that the SDK cannot build")
    return per_dataset


def forward_sync(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Consumer
    from facebook_business.adobjects.serverside.event_request import EventRequest
    from facebook_business.api import FacebookAdsApi
    from facebook_business.session import FacebookSession

    FacebookSession.GRAPH = args.graph_url
    FacebookAdsApi.init(access_token=TOKEN)
    build = sdk_builder()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    cpu0, seen, received, failed = time.process_time(), 0, 0, 0
    first = None
    while seen < args.events:
        msgs = consumer.consume(num_messages=BATCH, timeout=1.0)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        first = first or time.monotonic()
        seen += len(msgs)
        for dataset, events in to_events((m.value() for m in msgs), build).items():
            try:
                received += EventRequest(pixel_id=dataset, events=events).execute().events_received
            except Exception:
                failed += len(events)
                log.warning("request failed dataset=%s events=%d", dataset, len(events))
        consumer.commit(asynchronous=False)
    elapsed = time.monotonic() - (first or time.monotonic())
    cpu = time.process_time() - cpu0
    consumer.close()
    return _stats(seen, received, failed, elapsed, cpu)


async def forward_async(args: argparse.Namespace) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer
    from facebook_business.adobjects.serverside.event_request_async import EventRequestAsync
    from facebook_business.api import FacebookAdsApi
    from facebook_business.session import FacebookSession

    FacebookSession.GRAPH = args.graph_url
    FacebookAdsApi.init(access_token=TOKEN)
    build = sdk_builder()
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    cpu0, seen, received, failed = time.process_time(), 0, 0, 0
    first = None
    try:
        while seen < args.events:
            got = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            values = [r.value for records in got.values() for r in records]
            if not values:
                continue
            first = first or time.monotonic()
            seen += len(values)
            batches = to_events(values, build)
            replies = await asyncio.gather(
                *(
                    EventRequestAsync(pixel_id=ds, events=evs).execute()
                    for ds, evs in batches.items()
                ),
                return_exceptions=True,
            )
            for (ds, evs), reply in zip(batches.items(), replies, strict=True):
                if isinstance(reply, BaseException):
                    failed += len(evs)
                    log.warning("request failed dataset=%s events=%d", ds, len(evs))
                else:
                    received += reply.events_received
            await consumer.commit()
        elapsed = time.monotonic() - (first or time.monotonic())
        cpu = time.process_time() - cpu0
    finally:
        await consumer.stop()
    return _stats(seen, received, failed, elapsed, cpu)


def _stats(seen: int, received: int, failed: int, elapsed: float, cpu: float) -> dict[str, Any]:
    return {
        "consumed": seen,
        "delivered": received,
        "failed_requests_events": failed,
        "elapsed_s": round(elapsed, 2),
        "events_per_s": round(seen / elapsed) if elapsed else None,
        "cpu_s": round(cpu, 2),
        "cpu_s_per_1000": round(cpu / seen * 1000, 3),
    }


# ------------------------------------------------------------------ the driver


def run_worker(rig: Rig, topics: Topics, n: int) -> dict[str, Any]:
    env = worker_env(rig.bootstrap, rig.sandbox_url, topics, extra=_WORKER_ENV)
    worker = WorkerProcess(env, rig.tmp / f"worker-{topics.group}.log")
    worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    cpu0 = tree_cpu_s(pid)
    first = None
    try:
        while True:
            time.sleep(0.5)
            m = worker.metrics()
            consumed = _total(m, "capi_events_consumed_total")
            done = _total(m, "capi_events_delivered_total") + _total(m, "capi_events_failed_total")
            if consumed and first is None:
                first = time.monotonic()
            if done >= n:
                break
            if worker.proc.poll() is not None:
                raise RuntimeError(worker.log_tail())
        elapsed = time.monotonic() - (first or time.monotonic())
        cpu = tree_cpu_s(pid) - cpu0
        delivered = _total(m, "capi_events_delivered_total")
    finally:
        worker.stop()
    return _stats(n, int(delivered), 0, elapsed, cpu)


_WORKER_ENV = {
    "CAPI_GRAPH__TIMEOUT_SECONDS": "10",
    "CAPI_GRAPH__MAX_IN_FLIGHT": "8",
    "CAPI_WORKER__TAKE_MAX": "4000",
    "CAPI_WORKER__TAKE_WITHIN_MS": "200",
}


def run_sdk(rig: Rig, topics: Topics, n: int, mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            *(sys.executable, __file__, "--forward", mode, "--events", str(n)),
            *("--bootstrap", rig.bootstrap, "--topic", topics.input, "--group", topics.group),
            *("--graph-url", rig.sandbox_url),
        ],
        capture_output=True,
        check=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return result


def _total(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


# ------------------------------------------------------------------ hash agreement

_BIRTH_DATES = ("{y}-{m:02d}-{d:02d}", "{m:02d}/{d:02d}/{y}", "{y}{m:02d}{d:02d}", "{d}.{m}.{y}")
_GENDERS = ("m", "f", "M", "F", "male", "Female", " f ")


def agreement(n: int, seed: int) -> dict[str, Any]:
    """Per field: the share of sampled values where the SDK's hash equals ours."""
    build = sdk_builder()
    rng = random.Random(seed)
    now = int(time.time())
    policy = DatasetPolicy(dataset_id=DATASET_A)
    context = AdmissionContext(
        policies={DATASET_A: policy}, max_event_bytes={DATASET_A: 262_144}, fixed_dataset=DATASET_A
    )
    source = SourceRef("agreement", 0, 0, None)
    same = dict.fromkeys(FIELDS, 0)
    total = dict.fromkeys(FIELDS, 0)
    for demo in demo_events(n, now=now, datasets=[DATASET_A], seed=seed, formats=False):
        if demo.kind != "valid":
            continue
        obj = orjson.loads(demo.value)
        y, m, d = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
        obj["user_data"]["db"] = rng.choice(_BIRTH_DATES).format(y=y, m=m, d=d)
        obj["user_data"]["ge"] = rng.choice(_GENDERS)
        ours = admit(InputMessage(source, None, orjson.dumps(obj)), context, now).accepted
        if not ours:
            continue
        try:
            theirs = build(obj).normalize()["user_data"]
        except Exception:
            theirs = {}
        mine = ours[0].event["user_data"]
        for f in FIELDS:
            if f not in mine:
                continue
            total[f] += 1
            same[f] += _first(theirs.get(f)) == _first(mine[f])
    return {f: round(same[f] / total[f], 3) if total[f] else None for f in FIELDS}


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--forward", choices=("sync", "async"), default=None)
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--topic", default="")
    parser.add_argument("--group", default="")
    parser.add_argument("--graph-url", default="")
    parser.add_argument("--agreement-events", type=int, default=5000)
    parser.add_argument("--name", default="sdk_forwarder", help="results file name")
    args = parser.parse_args()
    if args.forward:
        logging.basicConfig(level=logging.ERROR)
        stats = forward_sync(args) if args.forward == "sync" else asyncio.run(forward_async(args))
        print(json.dumps(stats))
        return
    n = args.events
    runs: dict[str, list[dict[str, Any]]] = {"worker": [], "sdk_sync": [], "sdk_async": []}
    started = conditions()
    with Rig("sdk-bench", latency_ms=200, jitter_ms=100) as rig:
        base = Topics.unique(f"sdk-{int(time.time())}", "fill")
        asyncio.run(fill(rig.bootstrap, base, n, seed=11))
        order = list(runs)
        for i in range(args.pairs):
            for name in order[i % 3 :] + order[: i % 3]:
                topics = Topics(base.input, base.responses, base.failures, f"{name}-{i}")
                load = conditions()["load_average_1_5_15"]
                if name == "worker":
                    run = run_worker(rig, topics, n)
                else:
                    run = run_sdk(rig, topics, n, name.removeprefix("sdk_"))
                runs[name].append({**run, "load_average_at_start": load})
                print(name, runs[name][-1], file=sys.stderr)
    result = _summary(args, runs)
    result["conditions_at_start"] = started
    result["conditions_at_end"] = conditions()
    print(json.dumps(result, indent=2))
    write_result(args.name, result, _markdown(result))


def _summary(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def med(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    ratios = {
        peer: [
            round(w["cpu_s_per_1000"] / p["cpu_s_per_1000"], 3)
            for w, p in zip(runs["worker"], runs[peer], strict=True)
        ]
        for peer in ("sdk_sync", "sdk_async")
    }
    return {
        "benchmark": "sdk_forwarder_side_by_side",
        "events": args.events,
        "pairs": args.pairs,
        "sandbox_latency_ms": "200±100",
        "runs": runs,
        "median_cpu_s_per_1000": {k: med(k, "cpu_s_per_1000") for k in runs},
        "median_events_per_s": {k: med(k, "events_per_s") for k in runs},
        "worker_over_peer_cpu_per_event_paired": ratios,
        "worker_over_peer_median_cpu_per_event": {
            peer: round(med("worker", "cpu_s_per_1000") / med(peer, "cpu_s_per_1000"), 3)
            for peer in ("sdk_sync", "sdk_async")
        },
        "hash_agreement_sdk_vs_ours": agreement(args.agreement_events, seed=5),
    }


def _markdown(doc: dict[str, Any]) -> str:
    c = doc["conditions_at_start"]
    lines = [
        f"# worker vs SDK forwarder ({c['utc']}, commit {c['commit']})",
        "",
        f"{doc['events']} events, {doc['pairs']} interleaved rounds, sandbox 200-300 ms; "
        f"{c['cores']} cores, Python {c['python']}; load average (1/5/15 min) at start "
        f"{c['load_average_1_5_15']}, at end {doc['conditions_at_end']['load_average_1_5_15']}.",
        "",
        "| run | round | load at start | events/s | CPU-s per 1,000 events | delivered |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in doc["runs"].items():
        for i, r in enumerate(runs):
            lines.append(
                f"| {name} | {i} | {r['load_average_at_start'][0]} | {r['events_per_s']} "
                f"| {r['cpu_s_per_1000']} | {r['delivered']} |"
            )
    med = doc["median_cpu_s_per_1000"]
    ratio = doc["worker_over_peer_median_cpu_per_event"]
    lines += [
        "",
        f"Median CPU-s per 1,000 events: worker {med['worker']}, SDK sync {med['sdk_sync']}, "
        f"SDK async {med['sdk_async']}; worker/SDK: {ratio['sdk_sync']} (sync), "
        f"{ratio['sdk_async']} (async); paired: "
        f"{doc['worker_over_peer_cpu_per_event_paired']}.",
        f"Hash agreement of the SDK with ours: {doc['hash_agreement_sdk_vs_ours']}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
