"""Shared fixtures: one real Kafka broker and one real schema registry per test session (each
started on first use), unique topic names per test.

The broker is started through streams.dev.broker, the same code as `capi-streams kafka start`.
`CAPI_TEST_KAFKA_VERSION` selects the Kafka version (CI runs a 3.9 and a 4.x leg);
`CAPI_TEST_BOOTSTRAP` points the tests at an already running broker instead. The session broker
also has the secured listeners of `capi-streams kafka start --security all` (one broker for
every security mode the tests use). If the broker cannot start, every integration test errors:
the run fails, it never skips silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from streams.dev import apicurio, broker, broker_security

# The property tests check what a function does with any input, not how fast inputs are drawn:
# on a 2-core CI machine a draw or an example can stall behind the broker or a worker process
# (one run failed on a 1.4 s draw), so no per-example deadline and no too-slow health check.
settings.register_profile("capi", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("capi")


def _start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[broker.BrokerInfo]:
    data_dir: Path = tmp_path_factory.mktemp("kafka")
    version = os.environ.get("CAPI_TEST_KAFKA_VERSION", broker.DEFAULT_KAFKA_VERSION)
    info = broker.start_broker(
        port=0, data_dir=data_dir, kafka_version=version, security=broker_security.MODES
    )
    try:
        yield info
    finally:
        broker.stop_broker(data_dir)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[broker.BrokerInfo | None]:
    """The session broker: PLAINTEXT plus the secured listeners (SSL, SASL_SSL,
    SASL_PLAINTEXT); None when `CAPI_TEST_BOOTSTRAP` points at a broker of your own."""
    if os.environ.get("CAPI_TEST_BOOTSTRAP"):
        yield None
        return
    yield from _start(tmp_path_factory)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: broker.BrokerInfo | None) -> str:
    if kafka_broker is None:
        return os.environ["CAPI_TEST_BOOTSTRAP"]
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def secure_broker(
    kafka_broker: broker.BrokerInfo | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[broker.BrokerInfo]:
    """A broker with the secured listeners: the session broker, or (with
    `CAPI_TEST_BOOTSTRAP`) one started for them."""
    if kafka_broker is not None:
        yield kafka_broker
        return
    yield from _start(tmp_path_factory)


@pytest.fixture(scope="session")
def registry_info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apicurio.RegistryInfo]:
    """One real Apicurio Registry (in memory) per session, through `capi-streams registry`'s
    code. `CAPI_TEST_REGISTRY_DATA_DIR` points at the data dir of an already running one."""
    existing = os.environ.get("CAPI_TEST_REGISTRY_DATA_DIR")
    if existing:
        running = apicurio.status(Path(existing))
        assert running is not None, f"no registry runs from {existing}"
        yield running
        return
    data_dir: Path = tmp_path_factory.mktemp("registry")
    info = apicurio.start_registry(port=0, data_dir=data_dir)
    try:
        yield info
    finally:
        apicurio.stop_registry(data_dir)


@pytest.fixture(scope="session")
def registry_url(registry_info: apicurio.RegistryInfo) -> str:
    """The base URL of the session registry's Confluent-compatible API."""
    return registry_info.ccompat_url


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60]
    return f"t-{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique_group() -> str:
    return f"g-{uuid.uuid4().hex[:12]}"
