"""Fault injection: every mode through real HTTP, the admin endpoint, and the draw itself."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson
import pytest

from streams.dev.sandbox.faults import FaultConfig, FaultConfigError, FaultKind, decide
from streams.dev.sandbox.server import SandboxServer
from tests.dev.sandbox.support import DATASETS, DS1, DS2, TOKEN1, TOKEN2, Client, event


async def set_faults(client: Client, **changes: Any) -> dict[str, Any]:
    reply = await client.admin("POST", "faults", changes)
    assert reply.status == 200, reply.doc
    doc: dict[str, Any] = reply.doc
    return doc


async def stats_of(client: Client, dataset: str = DS1) -> dict[str, Any]:
    doc: dict[str, Any] = (await client.admin("GET", "stats")).doc["datasets"][dataset]
    return doc


async def stored_count(client: Client) -> int:
    total: int = (await client.admin("GET", "events")).doc["total"]
    return total


async def test_http_500_has_a_graph_json_body(client: Client) -> None:
    await set_faults(client, http_5xx=1.0, http_5xx_statuses=[500])
    reply = await client.post_events([event()])
    assert reply.status == 500
    assert reply.error["code"] == 1
    assert reply.error["fbtrace_id"]
    assert await stored_count(client) == 0


@pytest.mark.parametrize("status", [502, 503])
async def test_http_502_503_have_an_html_body(client: Client, status: int) -> None:
    await set_faults(client, http_5xx=1.0, http_5xx_statuses=[status])
    reply = await client.post_events([event()])
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("text/html")
    assert f"<h1>{status}" in reply.doc


@pytest.mark.parametrize(("code", "subcode"), [(4, None), (17, 2446079), (80004, 2446079)])
async def test_throttling_errors_carry_the_usage_header(
    client: Client, code: int, subcode: int | None
) -> None:
    await set_faults(client, throttle=1.0, throttle_codes=[code], throttle_minutes=3)
    reply = await client.post_events([event()])
    assert reply.status == 400
    assert reply.error["code"] == code
    assert reply.error.get("error_subcode") == subcode
    assert reply.error["is_transient"] is True
    assert reply.error["type"] == "OAuthException"
    usage = orjson.loads(reply.headers["X-Business-Use-Case-Usage"])
    [entry] = usage[DS1]
    assert entry["estimated_time_to_regain_access"] == 3
    assert entry["type"] == "ads_management"
    assert entry["call_count"] >= 100
    if code == 4:
        assert orjson.loads(reply.headers["X-App-Usage"])["call_count"] >= 100
    assert await stored_count(client) == 0


async def test_throttle_minutes_zero_means_retry_soon(client: Client) -> None:
    await set_faults(client, throttle=1.0, throttle_codes=[80004])
    reply = await client.post_events([event()])
    usage = orjson.loads(reply.headers["X-Business-Use-Case-Usage"])
    assert usage[DS1][0]["estimated_time_to_regain_access"] == 0


async def test_transient_code_2(client: Client) -> None:
    await set_faults(client, transient=1.0)
    reply = await client.post_events([event()])
    assert reply.status == 500
    assert reply.error["code"] == 2
    assert reply.error["is_transient"] is True
    assert await stored_count(client) == 0


async def test_latency_delays_the_answer(client: Client) -> None:
    await set_faults(client, latency_ms=150)
    started = time.monotonic()
    reply = await client.post_events([event()])
    assert time.monotonic() - started >= 0.14
    assert reply.status == 200
    assert await stored_count(client) == 1


async def test_latency_applies_to_faulty_answers_too(client: Client) -> None:
    await set_faults(client, latency_ms=120, transient=1.0)
    started = time.monotonic()
    reply = await client.post_events([event()])
    assert time.monotonic() - started >= 0.11
    assert reply.error["code"] == 2


async def test_capacity_serves_one_request_at_a_time(client: Client) -> None:
    """Capacity 1, 0.2 s each: three requests at once are answered about 0.2 s apart."""
    await set_faults(client, capacity=1, latency_ms=200)
    started = time.monotonic()

    async def timed() -> float:
        reply = await client.post_events([event()])
        assert reply.status == 200
        return time.monotonic() - started

    times = sorted(await asyncio.gather(timed(), timed(), timed()))
    assert times[0] >= 0.19
    assert times[1] >= 0.39
    assert times[2] >= 0.59
    assert await stored_count(client) == 3


async def test_an_abandoned_request_still_takes_its_turn(client: Client) -> None:
    """A client that gives up leaves its request in line: the next one waits for it."""
    await set_faults(client, capacity=1, latency_ms=300)
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await client.http.post(
            client.events_url(),
            json={"data": [event()], "access_token": TOKEN1},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    reply = await client.post_events([event()])
    assert reply.status == 200
    assert time.monotonic() - started >= 0.59
    assert await stored_count(client) == 1  # the abandoned request recorded nothing


async def test_hang_outlasts_a_client_timeout(client: Client) -> None:
    await set_faults(client, hang=1.0, hang_seconds=0.5)
    with pytest.raises(asyncio.TimeoutError):
        await client.http.post(
            client.events_url(),
            json={"data": [event()], "access_token": TOKEN1},
            timeout=aiohttp.ClientTimeout(total=0.15),
        )
    started = time.monotonic()
    reply = await client.post_events([event()])
    assert time.monotonic() - started >= 0.45
    assert reply.status == 504
    assert await stored_count(client) == 0
    assert (await stats_of(client))["faults"] == {"hang": 2}


async def test_hang_is_cut_short_on_shutdown(clock: Any) -> None:
    server = SandboxServer(
        datasets=DATASETS, clock=clock, faults=FaultConfig(hang=1.0), shutdown_timeout=10
    )
    await server.start()
    async with aiohttp.ClientSession() as http:
        pending = asyncio.ensure_future(
            http.post(
                f"{server.url}/v25.0/{DS1}/events",
                json={"data": [event()], "access_token": TOKEN1},
            )
        )
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await server.stop()
        # hang_seconds is 30 and aiohttp would wait 10 s for the handler: the hang woke up
        assert time.monotonic() - started < 1.5
        try:
            resp = await asyncio.wait_for(pending, 5)
            assert resp.status == 504
            resp.release()
        except aiohttp.ClientError:
            pass  # the connection closed first: equally acceptable


async def test_reset_closes_the_connection_without_an_answer(client: Client) -> None:
    await set_faults(client, reset=1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.post_events([event()])
    await set_faults(client, reset=0.0)
    assert (await client.post_events([event()])).status == 200  # the server is fine
    stats = await stats_of(client)
    assert stats["faults"] == {"reset": 1}
    assert stats["events_accepted"] == 1


async def test_token_invalid_switch(client: Client) -> None:
    switch = f"datasets/{DS1}/token-invalid"
    reply = await client.admin("POST", switch, {"invalid": True})
    assert reply.doc == {"dataset": DS1, "token_invalid": True}
    bad = await client.post_events([event()])
    assert bad.status == 400
    assert (bad.error["code"], bad.error["error_subcode"]) == (190, 460)
    assert (await client.post_events([event()], dataset=DS2, token=TOKEN2)).status == 200
    listing = (await client.admin("GET", "datasets")).doc
    assert {d["id"]: d["token_invalid"] for d in listing}[DS1] is True
    await client.admin("POST", switch, {"invalid": False})
    assert (await client.post_events([event()])).status == 200
    assert (await stats_of(client))["rejected_requests"] == {"190/460": 1}


async def test_token_invalid_switch_rejects_bad_requests(client: Client) -> None:
    assert (
        await client.admin("POST", "datasets/42/token-invalid", {"invalid": True})
    ).status == 404
    assert (
        await client.admin("POST", f"datasets/{DS1}/token-invalid", {"invalid": 1})
    ).status == 400


async def test_token_invalid_set_at_start(clock: Any) -> None:
    faults = FaultConfig(invalid_token_datasets=frozenset({DS1}))
    async with (
        SandboxServer(datasets=DATASETS, clock=clock, faults=faults) as server,
        aiohttp.ClientSession() as http,
    ):
        client = Client(http, server.url)
        assert (await client.post_events([event()])).error["code"] == 190


async def test_faults_come_before_validation(client: Client) -> None:
    await set_faults(client, http_5xx=1.0, http_5xx_statuses=[503])
    reply = await client.post_events([event(event_time=1)], token="wrong")
    assert reply.status == 503


async def test_faults_spare_admin_and_connectivity_check(client: Client) -> None:
    await set_faults(client, reset=0.5, http_5xx=0.5)
    ok = await client.request("GET", f"{client.base}/v25.0/{DS1}", params={"access_token": TOKEN1})
    assert ok.status == 200
    assert (await client.admin("GET", "health")).status == 200


async def test_mixed_probabilities_with_a_seed(client: Client) -> None:
    await set_faults(client, http_5xx=0.2, throttle=0.2, transient=0.2, latency_ms=1)
    statuses = Counter()
    for i in range(60):
        reply = await client.post_events([event(event_id=f"e{i}")])
        statuses[reply.status] += 1
    stats = await stats_of(client)
    faulted = sum(stats["faults"].values())
    assert set(stats["faults"]) == {"http_5xx", "throttle", "transient"}
    assert statuses[200] == 60 - faulted == stats["accepted_requests"]
    assert await stored_count(client) == statuses[200]


async def test_get_and_set_faults(client: Client) -> None:
    initial = (await client.admin("GET", "faults")).doc
    assert initial["http_5xx"] == 0.0 and initial["throttle_codes"] == [4, 17, 80004]
    updated = await set_faults(client, throttle=0.25, latency_dist="exponential")
    assert updated["throttle"] == 0.25 and updated["latency_dist"] == "exponential"
    assert (await client.admin("GET", "faults")).doc == updated


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"http_5xx": 1.5}, id="probability-above-1"),
        pytest.param({"reset": 0.6, "hang": 0.6}, id="sum-above-1"),
        pytest.param({"throttle_codes": [100]}, id="not-a-throttle-code"),
        pytest.param({"http_5xx_statuses": [404]}, id="not-a-5xx"),
        pytest.param({"hang_seconds": 0}, id="zero-hang"),
        pytest.param({"latency_ms": -1}, id="negative-latency"),
        pytest.param({"latency_dist": "pareto"}, id="unknown-distribution"),
        pytest.param({"throttle_minutes": 1.5}, id="fractional-minutes"),
        pytest.param({"capacity": -1}, id="negative-capacity"),
        pytest.param({"capacity": 1.5}, id="fractional-capacity"),
        pytest.param({"http_5xx": True}, id="bool-probability"),
        pytest.param({"chaos": 1}, id="unknown-setting"),
    ],
)
async def test_invalid_fault_settings_are_refused(client: Client, changes: dict[str, Any]) -> None:
    reply = await client.admin("POST", "faults", changes)
    assert reply.status == 400
    assert reply.doc["error"]
    assert (await client.admin("GET", "faults")).doc["http_5xx"] == 0.0


async def test_fault_settings_body_must_be_an_object(client: Client) -> None:
    reply = await client.request("POST", f"{client.base}/_sandbox/faults", data=b"[1]")
    assert reply.status == 400


def test_decide_follows_the_probabilities() -> None:
    config = FaultConfig(reset=0.1, hang=0.1, http_5xx=0.2, throttle=0.2, transient=0.1)
    rng = random.Random(1)
    kinds = Counter(decide(config, rng).kind for _ in range(20_000))
    expected = {
        FaultKind.RESET: 0.1,
        FaultKind.HANG: 0.1,
        FaultKind.HTTP_5XX: 0.2,
        FaultKind.THROTTLE: 0.2,
        FaultKind.TRANSIENT: 0.1,
        FaultKind.NONE: 0.3,
    }
    for kind, p in expected.items():
        assert abs(kinds[kind] / 20_000 - p) < 0.02, kind


@pytest.mark.parametrize("dist", ["uniform", "exponential"])
def test_latency_distribution_bounds(dist: str) -> None:
    config = FaultConfig(latency_ms=10, latency_jitter_ms=20, latency_dist=dist)
    rng = random.Random(2)
    delays = [decide(config, rng).delay_s for _ in range(5000)]
    assert min(delays) >= 0.010
    mean_extra = sum(delays) / len(delays) - 0.010
    assert abs(mean_extra - (0.010 if dist == "uniform" else 0.020)) < 0.002
    if dist == "uniform":
        assert max(delays) <= 0.030
    else:
        assert max(delays) > 0.060  # an exponential tail


def test_config_rejects_bad_values_directly() -> None:
    with pytest.raises(FaultConfigError):
        FaultConfig(transient=-0.1)
    with pytest.raises(FaultConfigError):
        FaultConfig().with_changes({"invalid_token_datasets": "1000000000000001"})


async def test_latency_works_again_after_a_restart(clock: Any) -> None:
    server = SandboxServer(datasets=DATASETS, clock=clock, faults=FaultConfig(latency_ms=150))
    await server.start()
    await server.stop()
    async with server, aiohttp.ClientSession() as http:
        started = time.monotonic()
        reply = await Client(http, server.url).post_events([event()])
        assert reply.status == 200
        assert time.monotonic() - started >= 0.14
