"""The command line: options to FaultConfig, and `python -m streams.dev.sandbox` end to end."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from streams.dev.sandbox.cli import add_arguments, faults_from_args, main
from streams.dev.sandbox.faults import FaultConfig
from tests.cli_support import CLI
from tests.dev.sandbox.support import event

ROOT = Path(__file__).resolve().parents[3]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_mean_no_faults() -> None:
    args = parse()
    assert faults_from_args(args) == FaultConfig()
    assert (args.host, args.port, args.datasets) == ("127.0.0.1", 8787, None)


def test_every_fault_option_reaches_the_config() -> None:
    args = parse(
        "--fault-5xx", "0.1", "--fault-5xx-statuses", "503",
        "--fault-throttle", "0.2", "--throttle-codes", "80004,17", "--throttle-minutes", "2",
        "--fault-transient", "0.05", "--fault-hang", "0.01", "--hang-seconds", "5",
        "--fault-reset", "0.02", "--latency-ms", "30", "--latency-jitter-ms", "10",
        "--latency-dist", "exponential", "--capacity", "3",
        "--invalid-token", "1", "--invalid-token", "2",
    )  # fmt: skip
    assert faults_from_args(args) == FaultConfig(
        http_5xx=0.1,
        http_5xx_statuses=(503,),
        throttle=0.2,
        throttle_codes=(80004, 17),
        throttle_minutes=2,
        transient=0.05,
        hang=0.01,
        hang_seconds=5.0,
        reset=0.02,
        latency_ms=30.0,
        latency_jitter_ms=10.0,
        latency_dist="exponential",
        capacity=3,
        invalid_token_datasets=frozenset({"1", "2"}),
    )


def test_invalid_settings_exit_with_2_without_serving() -> None:
    assert main(["--fault-5xx", "0.7", "--fault-reset", "0.7"]) == 2
    assert main(["--datasets", "/nonexistent/datasets.toml"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sandbox_process() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    example = ROOT / "config" / "sandbox-datasets.example.toml"
    with subprocess.Popen(  # leaving it closes the pipes and waits
        [
            sys.executable,
            "-m",
            "streams.dev.sandbox",
            "--port",
            str(port),
            "--datasets",
            str(example),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        yield proc, port
        if proc.poll() is None:
            proc.kill()


async def test_module_entry_point_serves_and_stops_on_sigterm(
    sandbox_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = sandbox_process
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 15
        while True:
            try:
                async with http.get(f"{base}/_sandbox/health") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
            await asyncio.sleep(0.05)
        body = {
            "data": [event(event_time=int(time.time()) - 60)],
            "access_token": "sandbox-token-1",
        }
        async with http.post(f"{base}/v25.0/1000000000000001/events", json=body) as resp:
            assert resp.status == 200
            assert (await resp.json(loads=orjson.loads))["events_received"] == 1
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"listening on http://127.0.0.1:{port}" in err.decode()
    assert "sandbox-token" not in err.decode()


def test_capi_streams_sandbox_prints_its_address_and_datasets_when_ready(tmp_path: Path) -> None:
    datasets = tmp_path / "datasets.toml"
    datasets.write_text('[[datasets]]\nid = "1234567890123456"\ntoken = "t"\n')
    command = [*CLI, "sandbox", "--port", "0", "--datasets", str(datasets)]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # blocks until the sandbox is ready (or exits)
            assert line.startswith("sandbox listening on http://127.0.0.1:"), line
            assert line.endswith(" (datasets: 1234567890123456); Ctrl-C stops it\n")
            port = int(line.split("127.0.0.1:")[1].split()[0])
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    assert proc.returncode == 0
