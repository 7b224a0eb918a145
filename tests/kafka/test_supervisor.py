"""`capi-streams worker --processes N` on the real broker, with the sandbox over real HTTP.

A supervisor runs N ordinary workers in the group as static members (`<base>-<index>`), one
metrics port merging theirs (a `worker` label), forwards SIGTERM, restarts a killed worker
under the same instance id without a rebalance (the surviving worker's
`capi_partition_assignments_total` stays where it was) and caps N at the partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    Inputs,
    LedgerCounts,
    OutcomeReader,
    Topics,
    WorkerProcess,
    check_ledger,
    create_topics,
    group_members,
    make_inputs,
    probe,
    produce_keyed,
    sandbox_events,
    until,
    wait_committed,
    wait_ready,
    worker_env,
)

pytestmark = pytest.mark.integration

SHUTDOWN_S = 20.0
STOP_BOUND_S = SHUTDOWN_S + 10.0  # the supervisor's kill deadline (STOP_MARGIN_S)
READY_2 = "ok: 4 partitions assigned to 2 workers"


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


def _by_worker(sup: WorkerProcess, name: str) -> dict[str, float]:
    """worker label -> sum of the samples of `name` on the supervisor's /metrics."""
    out: dict[str, float] = {}
    for key, value in sup.metrics().items():
        if key.startswith(name + "{"):
            labels = dict(p.split("=", 1) for p in key[len(name) + 1 : -1].split(","))
            out[labels["worker"]] = out.get(labels["worker"], 0.0) + value
    return out


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


@contextlib.asynccontextmanager
async def _supervisor(
    env: dict[str, str], log: Path, processes: int
) -> AsyncIterator[WorkerProcess]:
    """`capi-streams worker --processes N` started; on the way out it must stop within the
    bound and exit 0."""
    sup = WorkerProcess(env, log, args=["--processes", str(processes)])
    await asyncio.to_thread(sup.start)
    try:
        yield sup
    finally:
        code = await asyncio.to_thread(_stop_within_bound, sup)
    assert code == 0, sup.log_tail()


@dataclass
class _Run:
    """`worker --processes 2` ready against the sandbox, an outcome reader on its topics."""

    bootstrap: str
    topics: Topics
    sandbox: SandboxServer
    reader: OutcomeReader
    sup: WorkerProcess

    async def delivered(
        self, label: str, coords: list[tuple[int, int]], inputs: Inputs
    ) -> LedgerCounts:
        """Every input's outcome, the ledger checked against the sandbox, all committed."""
        await self.reader.wait_covered(coords, timeout_s=300, alive=[self.sup], stall_s=120)
        receipts = await sandbox_events(self.sandbox.url)
        records = self.reader.records
        counts = check_ledger(label, coords, inputs, records, receipts, self.topics.input)
        await wait_committed(self.bootstrap, self.topics)
        return counts


@contextlib.asynccontextmanager
async def _two_workers(bootstrap: str, topics: Topics, tmp_path: Path) -> AsyncIterator[_Run]:
    """Create the topics, start the sandbox, an outcome reader and `worker --processes 2`;
    wait until the two workers have the 4 partitions."""
    await create_topics(bootstrap, topics)
    async with (
        SandboxServer(seed=1) as sandbox,
        OutcomeReader(bootstrap, topics) as reader,
        _supervisor(_env(bootstrap, sandbox.url, topics), tmp_path / "sup.log", 2) as sup,
    ):
        await wait_ready(sup, READY_2)
        yield _Run(bootstrap, topics, sandbox, reader, sup)


async def _instance_ids(bootstrap: str, group: str) -> list[str]:
    """The group's members by their static instance ids (a member id is `<id>-<uuid>`)."""
    return [m.rsplit("-", 5)[0] for m in await group_members(bootstrap, group)]


async def test_two_processes_deliver_a_ledger_once_on_one_metrics_port_and_stop_on_sigterm(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    inputs = make_inputs(3000, int(time.time()))
    async with _two_workers(kafka_bootstrap, topics, tmp_path) as run:
        sup = run.sup
        assert sup.proc is not None
        assert sorted(_children(sup.proc.pid)) == ["capi-sup-0", "capi-sup-1"]
        members = await _instance_ids(kafka_bootstrap, topics.group)
        assert members == ["capi-sup-0", "capi-sup-1"]
        coords = await produce_keyed(kafka_bootstrap, topics.input, inputs.values, inputs.keys)
        counts = await run.delivered("two processes", coords, inputs)
        assert counts.sandbox_duplicates == 0
        assert counts.repeated_outcomes == 0
        consumed = await asyncio.to_thread(_by_worker, sup, "capi_events_consumed_total")
        assert set(consumed) == {"0", "1"}
        assert min(consumed.values()) > 0
        assert sum(consumed.values()) == len(coords)
        up = await asyncio.to_thread(_by_worker, sup, "capi_worker_up")
        assert up == {"0": 1.0, "1": 1.0}
        assert await asyncio.to_thread(probe, sup, "/healthz") == "ok"


async def test_a_killed_worker_restarts_under_its_instance_id_without_a_rebalance(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    inputs = make_inputs(4000, int(time.time()))
    half = len(inputs.values) // 2
    async with _two_workers(kafka_bootstrap, topics, tmp_path) as run:
        sup = run.sup
        assert sup.proc is not None
        before = await asyncio.to_thread(_by_worker, sup, "capi_partition_assignments_total")
        coords = await produce_keyed(
            kafka_bootstrap, topics.input, inputs.values[:half], inputs.keys[:half]
        )
        await run.reader.wait_covered(coords, timeout_s=300, alive=[sup], stall_s=120)
        victim = _children(sup.proc.pid)["capi-sup-0"]
        os.kill(victim, signal.SIGKILL)

        async def restarted() -> bool:
            assert sup.proc is not None
            pid = _children(sup.proc.pid).get("capi-sup-0")
            return pid is not None and pid != victim

        await until(restarted, 60, "worker 0 started again")
        restarts = await asyncio.to_thread(_by_worker, sup, "capi_worker_restarts_total")
        assert restarts == {"0": 1.0, "1": 0.0}
        await wait_ready(sup, READY_2)
        coords += await produce_keyed(
            kafka_bootstrap, topics.input, inputs.values[half:], inputs.keys[half:]
        )
        await run.delivered("killed worker", coords, inputs)
        after = await asyncio.to_thread(_by_worker, sup, "capi_partition_assignments_total")
        # The survivor took part in no rebalance; the restarted one got its partitions back.
        assert after["1"] == before["1"], (before, after)
        assert after["0"] == 1.0
        members = await _instance_ids(kafka_bootstrap, topics.group)
        assert members == ["capi-sup-0", "capi-sup-1"]


async def test_more_processes_than_partitions_warns_and_runs_one_per_partition(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    topics = Topics.unique(unique_topic, unique_group, partitions=2)
    await create_topics(kafka_bootstrap, topics)
    async with (
        SandboxServer(seed=1) as sandbox,
        _supervisor(_env(kafka_bootstrap, sandbox.url, topics), tmp_path / "sup.log", 3) as sup,
    ):
        await wait_ready(sup, "ok: 2 partitions assigned to 2 workers")
        assert sup.proc is not None
        assert sorted(_children(sup.proc.pid)) == ["capi-sup-0", "capi-sup-1"]
        assert "--processes 3 is more than the 2 partitions" in sup.log_tail(200)
        up = await asyncio.to_thread(_by_worker, sup, "capi_worker_up")
        assert up == {"0": 1.0, "1": 1.0}
