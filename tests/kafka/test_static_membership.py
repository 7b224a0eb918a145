"""kafka.group_instance_id: static group membership (KIP-345) on the real broker.

A static member that restarts under the same id takes its place back at once: the group never
holds a ghost member waiting for its session to time out, and the partitions come straight back.
A dynamic member restarted the same way leaves a ghost for the whole session timeout.
The workers' /readyz and /healthz probes (streams/observability/health.py) are read here too.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from streams.dev.sandbox.server import SandboxServer
from tests.kafka.harness import (
    Topics,
    WorkerProcess,
    create_topics,
    group_members,
    probe,
    wait_ready,
    worker_env,
)

pytestmark = pytest.mark.integration


async def test_a_restarted_static_member_takes_its_place_back_at_once(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, tmp_path: Path
) -> None:
    topics = Topics.unique(unique_topic, unique_group)
    await create_topics(kafka_bootstrap, topics)
    async with SandboxServer(seed=1) as sandbox:
        env = worker_env(
            kafka_bootstrap,
            sandbox.url,
            topics,
            extra={
                "CAPI_KAFKA__GROUP_INSTANCE_ID": "capi-streams-0",
                "CAPI_KAFKA__SESSION_TIMEOUT_SECONDS": "120",
            },
        )
        first = WorkerProcess(env, tmp_path / "w1.log")
        await asyncio.to_thread(first.start)
        try:
            assert await wait_ready(first) == "ok: 4 partitions assigned"
            assert await asyncio.to_thread(probe, first, "/healthz") == "ok"
            (member,) = await group_members(kafka_bootstrap, topics.group)
            assert member.startswith("capi-streams-0-")
        finally:
            await asyncio.to_thread(first.kill)

        second = WorkerProcess(env, tmp_path / "w2.log")
        started = time.monotonic()
        await asyncio.to_thread(second.start)
        try:
            assert await wait_ready(second) == "ok: 4 partitions assigned"
            # Well inside the 120 s session: a dynamic member would still see the dead one.
            assert time.monotonic() - started < 100
            (replacement,) = await group_members(kafka_bootstrap, topics.group)
            assert replacement.startswith("capi-streams-0-")
            assert replacement != member
        finally:
            assert await asyncio.to_thread(second.stop) == 0, second.log_tail()
