"""The worker's logging config: what its redaction hides (streams.kafka.worker.worker_logging)."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import pytest

from streams.kafka.worker import worker_logging
from streams.kafka_connection.clients import token_provider
from streams.settings import load_settings
from tests.kafka.secure import CLIENT_SECRET, token_server

DATASET_TOKEN = "EAAB-worker-logging-dataset-token"  # a test value


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The worker's logging, configured, written to a string; put back as it was after."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    yield stream
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    root.setLevel(level)


async def test_the_oauth_tokens_fetched_while_running_are_redacted(
    captured: io.StringIO,
) -> None:
    """A token the Kafka clients fetch after the logging was configured is hidden like the
    configured secrets, should a library log it."""
    async with token_server(lifetime_s=60) as tokens:
        env = {
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "CAPI_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CAPI_KAFKA__SASL_MECHANISM": "OAUTHBEARER",
            **tokens.env(),
            "CAPI_DATASETS__0__ID": "1000000000000001",
            "CAPI_DATASETS__0__TOKEN_ENV": "CAPI_TEST_WORKER_LOGGING_TOKEN",
            "CAPI_TEST_WORKER_LOGGING_TOKEN": DATASET_TOKEN,
        }
        settings = load_settings(None, env)
        config = worker_logging(settings)
        config["handlers"]["stderr"]["stream"] = captured
        logging.config.dictConfig(config)
        token = await token_provider(settings.kafka).token()
    assert token == tokens.issued[-1]
    logging.getLogger("aiokafka.conn").warning(
        "sasl token=%s secret=%s dataset=%s", token, CLIENT_SECRET, DATASET_TOKEN
    )
    out = captured.getvalue()
    assert "sasl token=*** secret=*** dataset=***" in out
    for secret in (token, CLIENT_SECRET, DATASET_TOKEN):
        assert secret not in out
