"""The redaction backstop and the log formats."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from streams.observability.logging import logging_config, redact

TOKEN = "EAABsbCS1iHgBAKZCZBx0sLsecretTOKEN123"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("user jane.doe+x@example.co.uk failed", "jane.doe+x@example.co.uk"),
        ("phone +44 (0)20 7946-0958 bad", "+44 (0)20 7946-0958"),
        ("client 203.0.113.7 sent", "203.0.113.7"),
        ("client 2001:db8::ff00:42:8329 sent", "2001:db8::ff00:42:8329"),
        (f"url ?access_token={TOKEN}&x=1", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
    ],
)
def test_redact_removes_personal_data_and_tokens(text: str, gone: str) -> None:
    assert gone not in redact(text)


def test_redact_keeps_operational_facts() -> None:
    line = (
        "ts=2026-11-27 10:40:58,123 dataset=1000000000000001 events=1000 outcome=delivered "
        "fbtrace_id=AbC12 bootstrap=127.0.0.1:9092"
    )
    assert redact(line) == line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configured_logging_redacts_messages_args_and_exceptions(fmt: str) -> None:
    stream = io.StringIO()
    config = logging_config("INFO", fmt, secrets=["plain-secret-token"])
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    log = logging.getLogger("streams.test")
    log.info("sent dataset=%s email=%s token=%s", "1", "a.b@example.com", "plain-secret-token")
    try:
        raise ValueError("bad value a.b@example.com")
    except ValueError:
        log.exception("failed for 198.51.100.4")
    out = stream.getvalue()
    assert "a.b@example.com" not in out
    assert "plain-secret-token" not in out
    assert "198.51.100.4" not in out
    assert "dataset=1" in out and "ValueError" in out
    if fmt == "json":
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "streams.test"
    else:
        assert "level=INFO logger=streams.test" in out
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
