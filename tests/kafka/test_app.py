"""The faust app's settings come from ours only, never from faust's own environment variables."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streams.kafka.app import create_app
from streams.settings import load_settings


def test_faust_environment_variables_do_not_override_our_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without env={} each of these would silently win over create_app's arguments; acks=1
    # would weaken "an offset is committed only after its outcome record is durable".
    monkeypatch.setenv("PRODUCER_ACKS", "1")
    monkeypatch.setenv("BROKER_URL", "kafka://elsewhere.example:9092")
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "99")
    monkeypatch.setenv("BROKER_COMMIT_INTERVAL", "120")
    settings = load_settings(
        None,
        {
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "CAPI_KAFKA__SESSION_TIMEOUT_SECONDS": "12",
            "CAPI_DATASETS__0__ID": "1000000000000001",
            "CAPI_DATASETS__0__TOKEN_ENV": "T",
            "T": "token",
        },
    )
    app = create_app(settings, registry=CollectorRegistry(), datadir=Path(tempfile.mkdtemp()))
    conf = app.conf
    assert conf.producer_acks == -1
    assert [str(u) for u in conf.broker] == ["kafka://127.0.0.1:9092"]
    assert conf.broker_session_timeout == 12.0
    assert conf.broker_heartbeat_interval == 1.2
    assert conf.broker_commit_interval == 1.0
