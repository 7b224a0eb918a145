"""`capi-streams worker --processes N` on the real broker, with the sandbox over real HTTP.

A supervisor runs N ordinary workers in the group as static members (`<base>-<index>`), one
metrics port merging theirs (a `worker` label), forwards SIGTERM, restarts a killed worker
under the same instance id without a rebalance (the surviving worker's
`capi_partition_assignments_total` stays where it was) and caps N at the partitions.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    OutcomeReader,
    Topics,
    WorkerProcess,
    check_ledger,
    committed,
    create_topics,
    end_offsets,
    make_inputs,
    produce_keyed,
    sandbox_events,
    worker_env,
)

pytestmark = pytest.mark.integration

SHUTDOWN_S = 20.0
STOP_BOUND_S = SHUTDOWN_S + 10.0  # the supervisor's kill deadline (STOP_MARGIN_S)


def _children(pid: int) -> dict[str, int]:
    """instance id -> pid of the supervisor's worker processes (Linux /proc)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids = [int(p) for p in f.read().split()]
    except OSError:
        return out
    for child in pids:
        try:
            with open(f"/proc/{child}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except OSError:
            continue
        iid = env.get(b"CAPI_KAFKA__GROUP_INSTANCE_ID")
        if iid is not None:
            out[iid.decode()] = child
    return out


def _probe(sup: WorkerProcess, path: str = "/readyz") -> str:
    try:
        url = f"http://127.0.0.1:{sup.metrics_port}{path}"
        with urllib.request.urlopen(url, timeout=20) as resp:
            return str(resp.read().decode().strip())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode().strip())
    except (urllib.error.URLError, OSError):
        return ""


def _by_worker(sup: WorkerProcess, name: str) -> dict[str, float]:
    """worker label -> sum of the samples of `name` on the supervisor's /metrics."""
    out: dict[str, float] = {}
    for key, value in sup.metrics().items():
        if key.startswith(name + "{"):
            labels = dict(p.split("=", 1) for p in key[len(name) + 1 : -1].split(","))
            out[labels["worker"]] = out.get(labels["worker"], 0.0) + value
    return out


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


async def _ready(sup: WorkerProcess, want: str, timeout_s: float = 120) -> None:
    async def check() -> bool:
        assert sup.proc is not None and sup.proc.poll() is None, sup.log_tail()
        return await asyncio.to_thread(_probe, sup) == want

    try:
        await _until(check, timeout_s, f"/readyz {want!r}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last {_probe(sup)!r}; log:\n{sup.log_tail()}") from None


async def _members(bootstrap: str, group: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.groups
    return sorted(str(m[0]) for m in described[5])


async def _all_committed(bootstrap: str, topics: Topics) -> None:
    ends = await end_offsets(bootstrap, topics.input, topics.partitions)

    async def check() -> bool:
        return await committed(bootstrap, topics.group, topics.input, topics.partitions) == ends

    await _until(check, 60, f"offsets committed up to the ends {ends}")


def _stop_within_bound(sup: WorkerProcess) -> int:
    assert sup.proc is not None
    children = _children(sup.proc.pid)
    started = time.monotonic()
    code = sup.stop(timeout_s=STOP_BOUND_S + 30)
    elapsed = time.monotonic() - started
    assert elapsed < STOP_BOUND_S, f"stop took {elapsed:.0f} s"
    for pid in children.values():
        assert not os.path.exists(f"/proc/{pid}/status") or _zombie(pid), f"{pid} still runs"
    return code


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        return any(line.startswith("State:") and "Z" in line for line in f)


def _env(bootstrap: str, url: str, topics: Topics, **extra: str) -> dict[str, str]:
    return worker_env(
        bootstrap,
        url,
        topics,
        extra={
            "CAPI_KAFKA__GROUP_INSTANCE_ID": "capi-sup",
            "CAPI_KAFKA__SESSION_TIMEOUT_SECONDS": "120",
            "CAPI_WORKER__SHUTDOWN_TIMEOUT_SECONDS": str(int(SHUTDOWN_S)),
            **extra,
        },
    )


async def test_two_processes_deliver_a_ledger_once_on_one_metrics_port_and_stop_on_sigterm(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    inputs = make_inputs(3000, int(time.time()))
    async with SandboxServer(seed=1) as sandbox, OutcomeReader(kafka_bootstrap, topics) as reader:
        env = _env(kafka_bootstrap, sandbox.url, topics)
        sup = WorkerProcess(env, tmp_path / "sup.log", args=["--processes", "2"])
        await asyncio.to_thread(sup.start)
        try:
            await _ready(sup, "ok: 4 partitions assigned to 2 workers")
            assert sup.proc is not None
            assert sorted(_children(sup.proc.pid)) == ["capi-sup-0", "capi-sup-1"]
            members = await _members(kafka_bootstrap, topics.group)
            assert [m.rsplit("-", 5)[0] for m in members] == ["capi-sup-0", "capi-sup-1"]
            coords = await produce_keyed(kafka_bootstrap, topics.input, inputs.values, inputs.keys)
            await reader.wait_covered(coords, timeout_s=300, alive=[sup], stall_s=120)
            receipts = await sandbox_events(sandbox.url)
            counts = check_ledger(
                "two processes", coords, inputs, reader.records, receipts, topics.input
            )
            assert counts.sandbox_duplicates == 0
            assert counts.repeated_outcomes == 0
            await _all_committed(kafka_bootstrap, topics)
            consumed = await asyncio.to_thread(_by_worker, sup, "capi_events_consumed_total")
            assert set(consumed) == {"0", "1"}
            assert min(consumed.values()) > 0
            assert sum(consumed.values()) == len(coords)
            up = await asyncio.to_thread(_by_worker, sup, "capi_worker_up")
            assert up == {"0": 1.0, "1": 1.0}
            assert await asyncio.to_thread(_probe, sup, "/healthz") == "ok"
        finally:
            code = await asyncio.to_thread(_stop_within_bound, sup)
        assert code == 0, sup.log_tail()


async def test_a_killed_worker_restarts_under_its_instance_id_without_a_rebalance(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    inputs = make_inputs(4000, int(time.time()))
    half = len(inputs.values) // 2
    async with SandboxServer(seed=1) as sandbox, OutcomeReader(kafka_bootstrap, topics) as reader:
        env = _env(kafka_bootstrap, sandbox.url, topics)
        sup = WorkerProcess(env, tmp_path / "sup.log", args=["--processes", "2"])
        await asyncio.to_thread(sup.start)
        try:
            await _ready(sup, "ok: 4 partitions assigned to 2 workers")
            assert sup.proc is not None
            before = await asyncio.to_thread(_by_worker, sup, "capi_partition_assignments_total")
            coords = await produce_keyed(
                kafka_bootstrap, topics.input, inputs.values[:half], inputs.keys[:half]
            )
            await reader.wait_covered(coords, timeout_s=300, alive=[sup], stall_s=120)
            victim = _children(sup.proc.pid)["capi-sup-0"]
            os.kill(victim, signal.SIGKILL)

            async def restarted() -> bool:
                assert sup.proc is not None
                pid = _children(sup.proc.pid).get("capi-sup-0")
                return pid is not None and pid != victim

            await _until(restarted, 60, "worker 0 started again")
            restarts = await asyncio.to_thread(_by_worker, sup, "capi_worker_restarts_total")
            assert restarts == {"0": 1.0, "1": 0.0}
            await _ready(sup, "ok: 4 partitions assigned to 2 workers")
            coords += await produce_keyed(
                kafka_bootstrap, topics.input, inputs.values[half:], inputs.keys[half:]
            )
            await reader.wait_covered(coords, timeout_s=300, alive=[sup], stall_s=120)
            receipts = await sandbox_events(sandbox.url)
            check_ledger("killed worker", coords, inputs, reader.records, receipts, topics.input)
            await _all_committed(kafka_bootstrap, topics)
            after = await asyncio.to_thread(_by_worker, sup, "capi_partition_assignments_total")
            # The survivor took part in no rebalance; the restarted one got its partitions back.
            assert after["1"] == before["1"], (before, after)
            assert after["0"] == 1.0
            members = await _members(kafka_bootstrap, topics.group)
            assert [m.rsplit("-", 5)[0] for m in members] == ["capi-sup-0", "capi-sup-1"]
        finally:
            code = await asyncio.to_thread(_stop_within_bound, sup)
        assert code == 0, sup.log_tail()


async def test_more_processes_than_partitions_warns_and_runs_one_per_partition(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    topics = Topics.unique(unique_topic, unique_group, partitions=2)
    await create_topics(kafka_bootstrap, topics)
    async with SandboxServer(seed=1) as sandbox:
        env = _env(kafka_bootstrap, sandbox.url, topics)
        sup = WorkerProcess(env, tmp_path / "sup.log", args=["--processes", "3"])
        await asyncio.to_thread(sup.start)
        try:
            await _ready(sup, "ok: 2 partitions assigned to 2 workers")
            assert sup.proc is not None
            assert sorted(_children(sup.proc.pid)) == ["capi-sup-0", "capi-sup-1"]
            assert "--processes 3 is more than the 2 partitions" in sup.log_tail(200)
            up = await asyncio.to_thread(_by_worker, sup, "capi_worker_up")
            assert up == {"0": 1.0, "1": 1.0}
        finally:
            code = await asyncio.to_thread(_stop_within_bound, sup)
        assert code == 0, sup.log_tail()
