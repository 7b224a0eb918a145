"""A registry refusing the credentials (HTTP 401/403) is a configuration error, not an outage:
the error names the registry (never its credentials) and the `[registry]` keys to check, the
messages wait as for an outage, it is reported once until the registry answers, and the fetch
metric says `refused`. Apicurio's auth needs an OIDC server, so a small aiohttp registry
stands in: it refuses, then answers with the schema."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.domain.registry import AvroSchema
from streams.domain.registry.config import RegistryConfig
from streams.observability.registry_metrics import RegistryMetrics
from streams.registry.cache import SchemaCache
from streams.registry.client import RegistryAuthRefused, RegistryClient
from streams.registry.decoder import RegistryDecoder
from tests.capi.fake_server import serve
from tests.registry.support import avro_message

RECORD = {"type": "record", "name": "Ping", "fields": [{"name": "n", "type": "long"}]}
PASSWORD = "pw-never-shown-3b1d"


class Registry:
    """Answers every schema look-up with `status` (200: RECORD)."""

    def __init__(self) -> None:
        self.status = 401
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.status != 200:
            return web.json_response({"error_code": self.status}, status=self.status)
        return web.json_response({"schema": orjson.dumps(RECORD).decode()})


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Registry, str]]:
    registry = Registry()
    async with serve(registry.handle) as url:
        yield registry, url


@pytest.mark.parametrize(
    ("status", "auth", "keys"),
    [
        (401, {"username": "capi", "password_env": "REG_PW"}, "registry.username / registry."),
        (403, {"token_env": "REG_TOKEN"}, "registry.token_env: "),
        (401, {}, "registry.username / registry.password_env (or registry.token_env): "),
    ],
)
async def test_a_refusal_names_the_keys_and_the_registry_never_the_credentials(
    fake: tuple[Registry, str], status: int, auth: dict[str, str], keys: str
) -> None:
    registry, url = fake
    registry.status = status
    host = url.removeprefix("http://")
    config = RegistryConfig(url=f"http://capi:{PASSWORD}@{host}/apis/ccompat/v7", **auth)
    async with RegistryClient(config) as client:  # aiohttp sends the URL's user and password
        with pytest.raises(RegistryAuthRefused) as err:
            await client.schema(1)
        message = str(err.value)
        assert message.startswith(keys), message
        assert f"the schema registry http://{host}/apis/ccompat/v7 refused " in message
        assert f"(HTTP {status}); check the registry credentials" in message
        assert PASSWORD not in message and PASSWORD not in repr(client)


async def test_a_refusal_holds_the_messages_is_reported_once_and_counted(
    fake: tuple[Registry, str], caplog: pytest.LogCaptureFixture
) -> None:
    registry, url = fake
    metrics = RegistryMetrics(CollectorRegistry())
    config = RegistryConfig(url=url, username="capi", password_env="REG_PW", timeout_seconds=5)
    async with RegistryClient(config, authorization="Basic eA==") as client:
        cache = SchemaCache(client, observer=metrics)
        decoder = RegistryDecoder(cache, lambda t: True, max_message_bytes=1000, retry_s=0.01)
        message = avro_message(7, RECORD, {"n": 1})
        with caplog.at_level(logging.WARNING, logger="streams.registry"):
            for _ in range(3):  # three windows: held each time, reported once
                window = await decoder.decode([("t", message)])
                assert window.waiting == {0: 7} and window.failures == {}
            refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(refusals) == 1, caplog.text
            assert "registry.username / registry.password_env: " in refusals[0].getMessage()
            assert "unavailable" not in caplog.text  # not reported as an outage
            assert metrics.fetches.labels("refused")._value.get() == registry.requests == 3
            assert metrics.fetches.labels("unavailable")._value.get() == 0

            registry.status = 200  # the operator fixed the credentials
            assert await decoder.wait_for({7})
            assert "accepts the credentials again" in caplog.text
        assert isinstance(cache.cached(7), AvroSchema)
        window = await decoder.decode([("t", message)])
        assert window.values == [{"n": 1}] and window.waiting == {}
