"""What `capi-streams worker` does before it starts (streams/kafka/worker.py `prepare_start`),
the same with one process and with a supervisor (`--processes N`)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.worker import prepare_start
from streams.kafka.worker_processes import run_processes
from streams.kafka_connection.oauth import RedactedTokens
from streams.settings import ConfigError, load_settings
from tests.cli_support import run_cli
from tests.kafka.harness import Topics, free_port, worker_env

pytestmark = pytest.mark.integration

# A deprecated key: it still loads, and the worker says so when it starts.
DEPRECATED = {"CAPI_DATASETS__0__MAX_WAIT_MS": "80"}


async def _partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}


def test_prepare_start_names_the_deprecations_and_creates_the_missing_topics_once(
    kafka_bootstrap: str, unique_topic: str, unique_group: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = Topics.unique(unique_topic, unique_group, partitions=3)
    env = worker_env(kafka_bootstrap, "http://127.0.0.1:1", topics, extra=DEPRECATED)
    settings = load_settings(None, env)
    (deprecation,) = settings.deprecations
    assert "datasets[0].max_wait_ms" in deprecation
    names = [topics.input, topics.responses, topics.failures]

    prepare_start(settings)
    assert capsys.readouterr().err.splitlines() == [
        f"capi-streams worker: configuration: {deprecation}",
        f"capi-streams worker: created topics {', '.join(names)}",
    ]
    assert asyncio.run(_partitions(kafka_bootstrap, names)) == dict.fromkeys(names, 3)

    prepare_start(settings)  # the topics exist now: nothing to create, nothing said about it
    assert capsys.readouterr().err.splitlines() == [
        f"capi-streams worker: configuration: {deprecation}"
    ]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_one_worker_and_a_supervisor_start_alike(
    processes: str, unique_topic: str, unique_group: str
) -> None:
    """Both say the deprecation, then stop at the connection check with one line naming the
    key (before a supervisor would plan or start anything)."""
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    topics = Topics.unique(unique_topic, unique_group)
    env = worker_env(address, "http://127.0.0.1:1", topics, extra=DEPRECATED)
    done = run_cli("worker", "--processes", processes, env=env)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2, lines
    assert done.stdout == b""
    assert len(lines) == 2, lines
    assert lines[0].startswith("capi-streams worker: configuration: datasets[0].max_wait_ms: ")
    assert lines[1].startswith("capi-streams worker: configuration error: ")
    assert "kafka.bootstrap_servers" in lines[1] and address in lines[1]


def test_a_supervisor_logs_through_the_workers_redaction(
    unique_topic: str, unique_group: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--processes N` logs with the worker's redaction, OAuth tokens fetched while it runs
    included (its connection check and partition count fetch them too)."""
    topics = Topics.unique(unique_topic, unique_group)
    env = worker_env(f"127.0.0.1:{free_port()}", "http://127.0.0.1:1", topics)
    settings = load_settings(None, env)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with pytest.raises(ConfigError):  # nothing listens there: stops at the check
            run_processes(settings, 2, None)
        token = f"fetched-{uuid.uuid4().hex}"

        class Provider(AbstractTokenProvider):  # type: ignore[misc]
            async def token(self) -> str:
                return token

        assert asyncio.run(RedactedTokens(Provider()).token()) == token
        logging.getLogger("aiokafka.conn").error("token %s refused", token)
        err = capsys.readouterr().err
        assert "token *** refused" in err and token not in err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
