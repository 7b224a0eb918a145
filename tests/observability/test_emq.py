"""EmqPoller: end to end (sandbox -> DatasetQualityClient -> gauges) and with scripted fetchers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import MappingProxyType

import aiohttp
import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.capi.quality import DatasetQualityClient
from streams.dev.sandbox.server import SandboxServer
from streams.domain.model import STANDARD_EVENT_NAMES
from streams.domain.quality import MATCH_KEY_BY_IDENTIFIER, DatasetQuality, EventQuality
from streams.observability.emq import EmqPoller
from streams.settings import Secret
from tests.capi.test_quality import post_known_events
from tests.dev.sandbox.support import (
    DATASETS,
    DS1,
    DS2,
    TOKEN1,
    TOKEN2,
    FakeClock,
    event,
    user_data,
)

POLL_TIME = 1_800_000_123.5


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(datasets=DATASETS, clock=FakeClock(), seed=1) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


TOKENS = {DS1: Secret(TOKEN1), DS2: Secret(TOKEN2)}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def poller_for(
    client: DatasetQualityClient | Scripted,
    registry: CollectorRegistry,
    datasets: list[tuple[str, str]],
    **kwargs: float,
) -> EmqPoller:
    if isinstance(client, Scripted):
        client.tokens.update(datasets)
    return EmqPoller(
        client,
        [dataset for dataset, _ in datasets],
        registry=registry,
        interval_s=kwargs.pop("interval_s", 900),
        clock=lambda: POLL_TIME,
        **kwargs,
    )


async def test_end_to_end(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    await post_known_events(http, sandbox.url)
    registry = CollectorRegistry()
    client = DatasetQualityClient(sandbox.url, "v25.0", session=http, tokens=TOKENS)
    poller = poller_for(client, registry, [(DS1, TOKEN1), (DS2, TOKEN2)])
    assert value(registry, "capi_emq_poll_errors_total", dataset=DS1) == 0
    await poller.poll_once()

    def score(event_name: str, ds: str = DS1) -> float | None:
        return value(registry, "capi_emq_score", dataset=ds, event_name=event_name)

    def coverage(event_name: str, key: str) -> float | None:
        return value(
            registry, "capi_emq_key_coverage_ratio", dataset=DS1, event_name=event_name, key=key
        )

    assert score("Purchase") == 8.6
    assert score("Lead") == 3.5
    # pLTVPurchase (8.8) and "B2B Lead" (3.5) share the "custom" series: the lower score
    assert score("custom") == 3.5
    assert score("pLTVPurchase") is None
    assert coverage("Purchase", "client_ip_address") == 0.75
    for key in ("em", "ph", "client_user_agent", "fbc", "fbp"):
        assert coverage("Purchase", key) == 1.0
    assert coverage("Purchase", "external_id") is None  # never sent
    assert coverage("Lead", "em") == 1.0
    assert coverage("Lead", "ph") is None
    assert coverage("custom", "ph") == 1.0  # only pLTVPurchase carries it
    assert value(registry, "capi_emq_last_poll_timestamp_seconds", dataset=DS1) == POLL_TIME
    assert value(registry, "capi_emq_last_poll_timestamp_seconds", dataset=DS2) == POLL_TIME
    assert score("Purchase", DS2) is None  # nothing received for DS2
    assert value(registry, "capi_emq_poll_errors_total", dataset=DS1) == 0
    assert value(registry, "capi_emq_poll_errors_total", dataset=DS2) == 0

    # More events move the numbers on the next poll: ip coverage 3 of 8 Purchases.
    more = [event(event_id=f"q{i}", user_data=user_data(client_ip_address=None)) for i in range(4)]
    body = orjson.dumps({"data": more, "access_token": TOKEN1})
    url = f"{sandbox.url}/v25.0/{DS1}/events"
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 200
    await poller.poll_once()
    assert coverage("Purchase", "client_ip_address") == 0.375


async def test_failed_poll_keeps_values_and_counts_an_error(
    sandbox: SandboxServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await post_known_events(http, sandbox.url)
    registry = CollectorRegistry()
    client = DatasetQualityClient(sandbox.url, "v25.0", session=http, tokens=TOKENS)
    times = iter([100.0, 200.0])
    poller = EmqPoller(client, [DS1], registry=registry, interval_s=60, clock=lambda: next(times))
    await poller.poll_once()
    sandbox.state.faults.set_token_invalid(DS1, True)
    await poller.poll_once()
    assert value(registry, "capi_emq_poll_errors_total", dataset=DS1) == 1
    assert value(registry, "capi_emq_score", dataset=DS1, event_name="Purchase") == 8.6
    assert value(registry, "capi_emq_last_poll_timestamp_seconds", dataset=DS1) == 100.0
    polls = [r.getMessage() for r in caplog.records if r.name == "streams.observability.emq"]
    assert polls == [
        f"emq poll dataset={DS1} outcome=ok events=4",
        f"emq poll dataset={DS1} outcome=failed",
    ]
    assert TOKEN1 not in caplog.text
    assert TOKEN1 not in repr(poller)


async def test_label_values_stay_bounded(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    names = [f"custom_event_{i}" for i in range(30)] + ["Purchase", "ViewContent"]
    data = [event(event_name=name, event_id=f"e{i}") for i, name in enumerate(names)]
    body = orjson.dumps({"data": data, "access_token": TOKEN1})
    url = f"{sandbox.url}/v25.0/{DS1}/events"
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 200, await r.text()
    registry = CollectorRegistry()
    client = DatasetQualityClient(sandbox.url, "v25.0", session=http, tokens=TOKENS)
    await poller_for(client, registry, [(DS1, TOKEN1)]).poll_once()
    event_names: set[str] = set()
    keys: set[str] = set()
    for metric in registry.collect():
        for sample in metric.samples:
            assert sample.labels.get("dataset", DS1) == DS1
            if "event_name" in sample.labels:
                event_names.add(sample.labels["event_name"])
            if "key" in sample.labels:
                keys.add(sample.labels["key"])
    assert event_names == {"custom", "Purchase", "ViewContent"}
    assert keys == {"em", "ph", "client_ip_address", "client_user_agent", "fbc", "fbp"}
    assert keys <= set(MATCH_KEY_BY_IDENTIFIER.values())
    assert event_names <= STANDARD_EVENT_NAMES | {"custom"}


# ---- scripted fetchers -------------------------------------------------------------------


def quality(*events: tuple[str, float | None, dict[str, float]]) -> DatasetQuality:
    return DatasetQuality(tuple(EventQuality(n, s, MappingProxyType(c)) for n, s, c in events))


class Scripted:
    """Returns (or raises) the scripted answers in turn, then repeats the last one."""

    def __init__(self, *answers: DatasetQuality | Exception | None) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str]] = []
        self.tokens: dict[str, str] = {}  # as a real client holds them
        self.delay_s = 0.0

    async def fetch(self, dataset_id: str) -> DatasetQuality | None:
        self.calls.append((dataset_id, self.tokens.get(dataset_id, "")))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_series_meta_stops_reporting_are_removed() -> None:
    fetcher = Scripted(
        quality(
            ("Purchase", 7.0, {"email": 0.9, "phone": 0.5}),
            ("Lead", 4.0, {"email": 1.0}),
        ),
        quality(("Purchase", 7.5, {"email": 0.95, "brand_new_key": 0.3})),
    )
    registry = CollectorRegistry()
    poller = poller_for(fetcher, registry, [("1", "t")])
    await poller.poll_once()
    assert value(registry, "capi_emq_score", dataset="1", event_name="Lead") == 4.0
    await poller.poll_once()
    assert value(registry, "capi_emq_score", dataset="1", event_name="Lead") is None
    assert value(registry, "capi_emq_score", dataset="1", event_name="Purchase") == 7.5
    cov = "capi_emq_key_coverage_ratio"
    assert value(registry, cov, dataset="1", event_name="Purchase", key="em") == 0.95
    assert value(registry, cov, dataset="1", event_name="Purchase", key="ph") is None
    assert value(registry, cov, dataset="1", event_name="Lead", key="em") is None
    assert value(registry, cov, dataset="1", event_name="Purchase", key="brand_new_key") is None


async def test_event_without_a_score_sets_coverage_only() -> None:
    registry = CollectorRegistry()
    fetcher = Scripted(quality(("AddToCart", None, {"fbp": 1.0})))
    await poller_for(fetcher, registry, [("1", "t")]).poll_once()
    assert value(registry, "capi_emq_score", dataset="1", event_name="AddToCart") is None
    cov = "capi_emq_key_coverage_ratio"
    assert value(registry, cov, dataset="1", event_name="AddToCart", key="fbp") == 1.0


async def test_exceptions_and_hangs_count_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="streams.observability.emq")
    registry = CollectorRegistry()
    fetcher = Scripted(RuntimeError("boom with details"))
    poller = poller_for(fetcher, registry, [("1", "secret-token")], fetch_timeout_s=0.05)
    await poller.poll_once()  # does not raise
    fetcher.answers = [quality()]
    fetcher.delay_s = 1.0
    await poller.poll_once()  # times out
    assert value(registry, "capi_emq_poll_errors_total", dataset="1") == 2
    assert value(registry, "capi_emq_last_poll_timestamp_seconds", dataset="1") == 0
    assert [r.getMessage() for r in caplog.records] == [
        "emq poll dataset=1 outcome=error error=RuntimeError",
        "emq poll dataset=1 outcome=error error=TimeoutError",
    ]
    assert "secret-token" not in caplog.text


async def test_start_polls_every_interval_until_stopped() -> None:
    registry = CollectorRegistry()
    fetcher = Scripted(quality(("Purchase", 9.0, {})))
    poller = poller_for(fetcher, registry, [("1", "a"), ("2", "b")], interval_s=0.01)
    await poller.start()
    await poller.start()  # idempotent
    assert poller.running
    for _ in range(200):
        if len(fetcher.calls) >= 6:
            break
        await asyncio.sleep(0.01)
    await poller.stop()
    await poller.stop()
    assert not poller.running
    assert len(fetcher.calls) >= 6
    assert set(fetcher.calls) == {("1", "a"), ("2", "b")}
    calls = len(fetcher.calls)
    await asyncio.sleep(0.05)
    assert len(fetcher.calls) == calls  # stopped means stopped
    assert value(registry, "capi_emq_score", dataset="2", event_name="Purchase") == 9.0


def test_rejects_bad_intervals() -> None:
    for kwargs in ({"interval_s": 0}, {"interval_s": 1, "fetch_timeout_s": -1}):
        with pytest.raises(ValueError):
            EmqPoller(Scripted(None), [], registry=CollectorRegistry(), **kwargs)
