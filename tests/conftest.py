"""Shared fixtures: one real Kafka broker per test session, unique topic names per test.

The broker is started through streams.dev.broker, the same code as `capi-streams kafka start`.
`CAPI_TEST_KAFKA_VERSION` selects the Kafka version (CI runs a 3.9 and a 4.x leg);
`CAPI_TEST_BOOTSTRAP` points the tests at an already running broker instead. If the broker
cannot start, every integration test errors: the run fails, it never skips silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from streams.dev import broker

# The property tests check what a function does with any input, not how fast inputs are drawn:
# on a 2-core CI machine a draw or an example can stall behind the broker or a worker process
# (one run failed on a 1.4 s draw), so no per-example deadline and no too-slow health check.
settings.register_profile("capi", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("capi")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("CAPI_TEST_BOOTSTRAP")
    if existing:
        yield existing
        return
    data_dir: Path = tmp_path_factory.mktemp("kafka")
    version = os.environ.get("CAPI_TEST_KAFKA_VERSION", broker.DEFAULT_KAFKA_VERSION)
    info = broker.start_broker(port=0, data_dir=data_dir, kafka_version=version)
    try:
        yield info.bootstrap
    finally:
        broker.stop_broker(data_dir)


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60]
    return f"t-{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique_group() -> str:
    return f"g-{uuid.uuid4().hex[:12]}"
