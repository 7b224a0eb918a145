"""The local broker: a real produce/consume round trip, and the CLI's contract."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.dev import broker, processes

pytestmark = pytest.mark.integration


async def test_round_trip(kafka_bootstrap: str, unique_topic: str, unique_group: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(unique_topic, f"m{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        unique_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_group,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        got = [(await consumer.getone()).value for _ in range(10)]
    finally:
        await consumer.stop()
    assert got == [f"m{i}".encode() for i in range(10)]


def test_cli_start_status_stop(tmp_path: Path, kafka_bootstrap: str) -> None:
    """`kafka start --port 0` prints host:port last; `stop` leaves no broker process."""
    del kafka_bootstrap  # the jars are cached by the session broker; this one starts warm
    data = tmp_path / "k"
    exe = [sys.executable, "-m", "streams.cli", "kafka"]
    started = subprocess.run(
        [*exe, "start", "--port", "0", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    bootstrap = started.stdout.strip().splitlines()[-1]
    host, port = bootstrap.split(":")
    assert host == "127.0.0.1" and int(port) > 0
    info = broker.status(data)
    assert info is not None and info.bootstrap == bootstrap
    st = subprocess.run([*exe, "status", "--data-dir", str(data)], capture_output=True, text=True)
    assert st.returncode == 0 and st.stdout.strip().endswith(bootstrap)
    subprocess.run([*exe, "stop", "--data-dir", str(data)], check=True, timeout=60)
    assert broker.status(data) is None
    assert not processes.pid_alive(info.pid)
    st = subprocess.run([*exe, "status", "--data-dir", str(data)], capture_output=True, text=True)
    assert st.returncode == 1 and "not running" in st.stdout


def test_port_taken_is_a_clear_error(tmp_path: Path, kafka_bootstrap: str) -> None:
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    with pytest.raises(broker.BrokerError, match=f"port {port} .* is taken"):
        broker.start_broker(port=port, data_dir=tmp_path / "x")


def test_missing_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(broker.BrokerError, match=r"'java'\) is not on PATH"):
        broker.start_broker(port=0, data_dir=tmp_path / "x")


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(broker.BrokerError, match="'mvn'"):
        broker.fetch_jars("3.9.2", cache_dir=tmp_path / "empty-cache")


def test_bad_version_download_fails_with_maven_output(tmp_path: Path) -> None:
    with pytest.raises(broker.BrokerError, match=r"Downloading Kafka 3\.9\.99 jars .* failed"):
        broker.fetch_jars("3.9.99", cache_dir=tmp_path / "cache")


async def test_cli_start_with_security_prints_what_a_client_needs(
    secure_broker: broker.BrokerInfo, tmp_path: Path
) -> None:
    """`kafka start --security all` on the running secured broker: the printed [kafka] keys
    (CA file, user, the password to export) connect to each secured listener as printed."""
    from streams.kafka_connection.preflight import check_connection
    from streams.settings import load_settings

    cmd = [sys.executable, "-m", "streams.cli", "kafka", "start", "--security", "all"]
    cmd += ["--port", "0", "--data-dir", secure_broker.data_dir]
    cmd += ["--kafka-version", secure_broker.kafka_version]
    started = await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, check=True, timeout=120
    )
    out = started.stdout
    assert out.strip().splitlines()[-1] == secure_broker.secured_bootstrap("sasl_plaintext")
    sec = secure_broker.security()
    assert sec.ca_file in out and f"export CAPI_KAFKA_PASSWORD='{sec.password}'" in out
    for mode, protocol in (
        ("ssl", "SSL"),
        ("sasl_ssl", "SASL_SSL"),
        ("sasl_plaintext", "SASL_PLAINTEXT"),
    ):
        block = out.split(f"# {protocol} listener\n", 1)[1].split("\n# ", 1)[0]
        config = tmp_path / f"{mode}.toml"
        config.write_text(block.split("\n#")[0] + "\n")
        settings = load_settings(config, {"CAPI_KAFKA_PASSWORD": sec.password})
        assert settings.kafka.security_protocol == protocol
        await check_connection(settings.kafka)
