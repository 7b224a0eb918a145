"""Test harness: a real worker process against the session broker and an in-process sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from streams.dev.demo import demo_events
from streams.dev.sandbox.server import SandboxServer
from streams.domain.enrich import derive_event_id

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
    args: Sequence[str] = ()  # after `worker` (e.g. --processes 2)

    def start(self, timeout_s: float = 60) -> None:
        env = dict(self.env, CAPI_METRICS__PORT=str(self.metrics_port))
        with open(self.log_path, "ab") as log:  # the worker writes to its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker", *self.args],
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
        self.kill()
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


def probe(worker: WorkerProcess, path: str = "/readyz") -> str:
    """The body a probe on the worker's metrics port answers (with 200 or 503); "" when the
    port does not answer."""
    try:
        url = f"http://127.0.0.1:{worker.metrics_port}{path}"
        with urllib.request.urlopen(url, timeout=20) as resp:
            return str(resp.read().decode().strip())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode().strip())
    except (urllib.error.URLError, OSError):
        return ""


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll `check` every half second until it is true; fail after `timeout_s` naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


async def wait_ready(worker: WorkerProcess, want: str | None = None, timeout_s: float = 120) -> str:
    """Poll /readyz until it answers `want` (None: any `ok...`) while the process runs; the
    answer."""
    answer = ""

    async def check() -> bool:
        nonlocal answer
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
        answer = await asyncio.to_thread(probe, worker)
        return answer == want if want is not None else answer.startswith("ok")

    try:
        await until(check, timeout_s, f"/readyz {want or 'ok'!r}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last {answer!r}; log:\n{worker.log_tail()}") from None
    return answer


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


async def wait_committed(bootstrap: str, topics: Topics, timeout_s: float = 60) -> None:
    """Wait until the group has committed the input topic up to its current end offsets."""
    ends = await end_offsets(bootstrap, topics.input, topics.partitions)

    async def check() -> bool:
        return await committed(bootstrap, topics.group, topics.input, topics.partitions) == ends

    await until(check, timeout_s, f"offsets committed up to the ends {ends}")


async def group_members(bootstrap: str, group: str) -> list[str]:
    """The member ids of a consumer group, sorted (a static member's begins with its
    group.instance.id)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    return sorted(str(m[0]) for m in described[5])


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


async def set_token_invalid(url: str, dataset: str, invalid: bool) -> None:
    """The sandbox at `url` rejects `dataset`'s token (Graph error 190), or accepts it again."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/_sandbox/datasets/{dataset}/token-invalid", json={"invalid": invalid}
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()


def sandbox_stats(sandbox: SandboxServer) -> dict[str, Any]:
    """The in-process sandbox's receipt statistics (`/_sandbox/stats`)."""
    return cast(dict[str, Any], sandbox.state.receipts.stats())


def accepted(sandbox: SandboxServer, dataset: str | None = None) -> int:
    """Events the sandbox accepted (repeats included), of one dataset or all."""
    stats = sandbox_stats(sandbox)
    doc = stats["totals"] if dataset is None else stats["datasets"].get(dataset, {})
    return int(doc.get("events_accepted", 0))


async def wait_accepted(
    sandbox: SandboxServer, n: int, workers: Sequence[WorkerProcess], timeout_s: float
) -> None:
    """Wait until the sandbox accepted `n` events; fail when a worker exits or time is up."""
    deadline = time.monotonic() + timeout_s
    while accepted(sandbox) < n:
        for w in workers:
            assert w.proc is not None and w.proc.poll() is None, w.log_tail()
        assert time.monotonic() < deadline, f"the sandbox got {accepted(sandbox)} < {n} events"
        await asyncio.sleep(0.1)


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


# ---- reliability helpers: inputs with known outcomes, outcome collection, the ledger --------


def _valid_event(i: int, now: int, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "dataset_id": (DATASET_A, DATASET_B)[i % 2],
        "event_name": "Purchase",
        "event_time": now - 30,
        "action_source": "physical_store",
        "event_id": f"r-{i}",
        "user_data": {"email": f"person.{i}@example.com", "phone": "+1 650 555 1212"},
        "custom_data": {"value": 10 + i % 100, "currency": "USD"},
    }
    ev.update(over)
    return ev


# Invalid inputs of the fault tests, by the failure reason each must produce.
INVALID_INPUTS: dict[str, Callable[[int, int], bytes]] = {
    "invalid_json": lambda i, now: b'{"event_name": "Purchase", broken',
    "not_an_object": lambda i, now: b"[1, 2, 3]",
    "missing_currency": lambda i, now: orjson.dumps(
        _valid_event(i, now, custom_data={"value": 3.5})
    ),
    "event_time_too_old": lambda i, now: orjson.dumps(
        _valid_event(i, now, event_time=now - 70 * 86400)
    ),
    "unknown_dataset": lambda i, now: orjson.dumps(_valid_event(i, now, dataset_id="999")),
}


@dataclass
class Inputs:
    """Produced-to-be messages with what must become of each.

    `event_ids[i]` is the event_id Meta must receive for a valid input (explicit, or derived
    by the worker from the key and the input for inputs without one); `invalid[i]` is the
    failure reason of an invalid input."""

    values: list[bytes]
    keys: list[bytes]
    event_ids: list[str | None]
    invalid: dict[int, str]
    datasets: list[str | None]


def make_inputs(
    n: int,
    now: int,
    *,
    invalid_every: int = 97,
    derived_every: int = 3,
    start: int = 0,
    datasets: Sequence[str] = (DATASET_A, DATASET_B),
) -> Inputs:
    """`n` inputs: every `invalid_every`-th invalid (the INVALID_INPUTS kinds in turn), every
    `derived_every`-th valid one without an event_id (the worker derives it). Event i goes to
    `datasets[i % len(datasets)]`."""
    kinds = list(INVALID_INPUTS)
    values: list[bytes] = []
    keys: list[bytes] = []
    ids: list[str | None] = []
    ds: list[str | None] = []
    invalid: dict[int, str] = {}
    for j in range(n):
        i = start + j
        key = f"k{i}".encode()
        keys.append(key)
        if invalid_every and i % invalid_every == invalid_every - 1:
            kind = kinds[(i // invalid_every) % len(kinds)]
            values.append(INVALID_INPUTS[kind](i, now))
            invalid[j] = kind
            ids.append(None)
            ds.append(None)
            continue
        ev = _valid_event(i, now, dataset_id=datasets[i % len(datasets)])
        if derived_every and i % derived_every == 0:
            del ev["event_id"]
            ids.append(derive_event_id(ev, key))
        else:
            ids.append(ev["event_id"])
        values.append(orjson.dumps(ev))
        ds.append(ev["dataset_id"])
    return Inputs(values, keys, ids, invalid, ds)


async def produce_keyed(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None],
    *,
    headers: Sequence[dict[str, bytes]] | None = None,
    max_request_size: int = 1_048_576,
) -> list[tuple[int, int]]:
    """Produce values (None = tombstone) with their keys; (partition, offset) of each."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=1 << 20,
        max_request_size=max_request_size,
        acks="all",
    )
    await producer.start()
    futs = []
    try:
        for i, value in enumerate(values):
            hdrs = list((headers[i] if headers else {}).items())
            futs.append(await producer.send(topic, value, key=keys[i], headers=hdrs))
        mds = await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return [(md.partition, md.offset) for md in mds]


async def create_topics_with(
    bootstrap: str, topics: Topics, input_config: dict[str, str] | None = None
) -> None:
    """Like create_topics, with topic configs for the input topic (e.g. max.message.bytes)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics.input, topics.partitions, 1, topic_configs=input_config or {}),
                NewTopic(topics.responses, topics.partitions, 1),
                NewTopic(topics.failures, topics.partitions, 1),
            ]
        )
    finally:
        await admin.close()


class OutcomeReader:
    """Reads the responses and failures topics from the start, continuously, in the background
    (no consumer group). `records` grows as the worker writes outcome records."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self.records: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        # outcomes of records[:_read], kept up to date incrementally: recomputing them over
        # every record on each poll costs seconds per poll with 200,000 inputs, and this
        # process also serves the sandbox (a loaded test starved the worker's requests)
        self._outcomes: dict[tuple[int, int], list[str]] = {}
        self._read = 0

    async def __aenter__(self) -> OutcomeReader:
        self._consumer = AIOKafkaConsumer(
            self._topics.responses,
            self._topics.failures,
            bootstrap_servers=self._bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker restart: keep reading once it is back
                await asyncio.sleep(0.5)
                continue
            for records in batch.values():
                self.records.extend(orjson.loads(r.value) for r in records if r.value)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def outcomes(self) -> dict[tuple[int, int], list[str]]:
        """(partition, offset) -> outcomes so far (see outcomes_by_coord); do not modify."""
        end = len(self.records)
        add_outcomes(self._outcomes, self.records[self._read : end], self._topics.input)
        self._read = end
        return self._outcomes

    async def wait_covered(
        self,
        coords: Iterable[tuple[int, int]],
        timeout_s: float,
        *,
        alive: Sequence[WorkerProcess] = (),
        stall_s: float | None = None,
    ) -> dict[tuple[int, int], list[str]]:
        """Wait until every coord has an outcome; fail early when a worker in `alive` exits.

        Without `stall_s`, fail after `timeout_s`. With it, the budget follows the worker's
        measured speed: fail when no new coord got an outcome for `stall_s` (the worker
        stalled), and only after `timeout_s` in all otherwise (a slow, loaded machine)."""
        missing = set(coords)
        total = len(missing)
        started = progressed = time.monotonic()
        while True:
            done = self.outcomes()
            before = len(missing)
            missing.difference_update([c for c in missing if c in done])
            now = time.monotonic()
            if len(missing) < before:
                progressed = now
            if not missing:
                return done
            for w in alive:
                assert w.proc is not None and w.proc.poll() is None, (
                    f"worker exited {w.proc and w.proc.returncode}:\n{w.log_tail()}"
                )
            stalled = stall_s is not None and now - progressed > stall_s
            if stalled or now - started > timeout_s:
                tails = "\n---\n".join(w.log_tail() for w in alive)
                why = f"no progress for {stall_s:.0f} s" if stalled else f"{timeout_s:.0f} s"
                raise AssertionError(
                    f"{len(missing)} of {total} inputs have no outcome after {now - started:.0f} "
                    f"s ({why}; e.g. {sorted(missing)[:5]}); logs:\n{tails}"
                )
            await asyncio.sleep(0.5)


def outcomes_by_coord(
    records: Iterable[dict[str, Any]], topic: str
) -> dict[tuple[int, int], list[str]]:
    """(partition, offset) -> every outcome recorded for it ('delivered' or a failure reason),
    repeated outcomes included (a replay after a fault writes them again)."""
    out: dict[tuple[int, int], list[str]] = {}
    add_outcomes(out, records, topic)
    return out


def add_outcomes(
    out: dict[tuple[int, int], list[str]], records: Iterable[dict[str, Any]], topic: str
) -> None:
    """Add the outcomes of `records` to `out` (see outcomes_by_coord)."""
    for r in records:
        if r.get("kind") == "response":
            for s in r["sources"]:
                if s["topic"] == topic:
                    for off in s["offsets"]:
                        out.setdefault((s["partition"], off), []).append("delivered")
        elif r.get("kind") == "failure" and r["source"]["topic"] == topic:
            coord = (r["source"]["partition"], r["source"]["offset"])
            out.setdefault(coord, []).append(r["reason"])


@dataclass
class LedgerCounts:
    """What the ledger found (printed by check_ledger; shown with `pytest -s`)."""

    inputs: int
    delivered: int  # distinct valid inputs accepted by the sandbox
    failed: dict[str, int]  # invalid inputs in the failures topic, by reason
    sandbox_events: int  # events the sandbox accepted, repeats included
    sandbox_duplicates: int  # accepted events repeating an event_id (Meta drops them)
    repeated_outcomes: int  # outcome entries beyond one per input (replays)


def check_ledger(
    label: str,
    coords: Sequence[tuple[int, int]],
    inputs: Inputs,
    records: Iterable[dict[str, Any]],
    receipts: Iterable[dict[str, Any]],
    topic: str,
) -> LedgerCounts:
    """Assert the at-least-once ledger and return (and print) its counts.

    * every input has an outcome record: valid ones only 'delivered', invalid ones only their
      expected failure reason (never both, never another reason);
    * the sandbox accepted exactly the valid inputs' event_ids, each in the input's dataset;
    * any repeated delivery carries the same event_id with the same payload (Meta's
      deduplication absorbs it)."""
    outcomes = outcomes_by_coord(records, topic)
    wrong: list[str] = []
    repeated = 0
    for i, coord in enumerate(coords):
        got = outcomes.get(coord)
        want = inputs.invalid.get(i, "delivered")
        if not got:
            wrong.append(f"input {i} {coord}: no outcome (want {want})")
        elif set(got) != {want}:
            wrong.append(f"input {i} {coord}: outcomes {got} (want {want})")
        else:
            repeated += len(got) - 1
    assert not wrong, f"{label}: {len(wrong)} inputs with a wrong outcome: {wrong[:10]}"

    valid = {
        inputs.event_ids[i]: inputs.datasets[i]
        for i in range(len(coords))
        if i not in inputs.invalid
    }
    assert len(valid) == len(coords) - len(inputs.invalid), f"{label}: event_ids not unique"
    seen: dict[str, tuple[str, bytes]] = {}
    total = dups = 0
    unexpected: list[str] = []
    for r in receipts:
        total += 1
        eid = r["event_id"]
        body = orjson.dumps(r["payload"], option=orjson.OPT_SORT_KEYS)
        if eid not in valid:
            unexpected.append(str(eid))
            continue
        prev = seen.get(eid)
        if prev is None:
            seen[eid] = (r["dataset"], body)
            continue
        dups += 1
        assert prev == (r["dataset"], body), (
            f"{label}: event_id {eid} delivered twice with different content"
        )
    assert not unexpected, (
        f"{label}: {len(unexpected)} events at the sandbox match no valid input "
        f"(e.g. {unexpected[:5]}): a replay changed an event_id, or an invalid input got through"
    )
    missing = [eid for eid in valid if eid not in seen]
    assert not missing, f"{label}: {len(missing)} valid inputs never reached the sandbox"
    wrong_ds = [eid for eid, (ds, _) in seen.items() if ds != valid[eid]]
    assert not wrong_ds, f"{label}: {len(wrong_ds)} events in the wrong dataset"
    failed: dict[str, int] = {}
    for reason in inputs.invalid.values():
        failed[reason] = failed.get(reason, 0) + 1
    counts = LedgerCounts(len(coords), len(seen), failed, total, dups, repeated)
    print(
        f"\n[ledger {label}] inputs={counts.inputs} delivered={counts.delivered} "
        f"failed={sum(failed.values())} {dict(sorted(failed.items()))} "
        f"sandbox_events={counts.sandbox_events} sandbox_duplicates={counts.sandbox_duplicates} "
        f"repeated_outcome_records={counts.repeated_outcomes}"
    )
    return counts


def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process in KiB, from /proc (Linux)."""
    cur = peak = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return cur, peak


def demo_inputs(n: int, now: int, seed: int = 5) -> Inputs:
    """`n` realistic demo messages (streams.dev.demo, native format, both datasets, ~15% invalid
    with the reason the demo expects) as ledger inputs."""
    out = Inputs([], [], [], {}, [])
    for i, ev in enumerate(
        demo_events(n, now=now, datasets=[DATASET_A, DATASET_B], seed=seed, formats=False)
    ):
        assert not ev.headers, "native demo events carry no headers"
        out.values.append(ev.value)
        out.keys.append(ev.key)
        if ev.kind != "valid":
            out.invalid[i] = ev.kind
            out.event_ids.append(None)
            out.datasets.append(None)
            continue
        doc = orjson.loads(ev.value)
        eid = doc.get("event_id")
        out.event_ids.append(str(eid) if eid is not None else derive_event_id(doc, ev.key))
        out.datasets.append(str(doc.get("dataset_id", DATASET_A)))
    return out
