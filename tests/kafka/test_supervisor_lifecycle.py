"""The supervisor's process lifecycle with real child processes (small Python scripts standing
in for workers: no broker needed): restarts under the same instance id, giving up with the
child's status, forwarded signals, the stop bound. The Kafka side is tests/kafka/test_supervisor.py.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from streams.kafka.process_plan import RestartBudget
from streams.kafka.supervisor import Supervisor, worker_command

# Each child appends "<instance id> <event>" to $OUT; then it behaves as $MODE says.
CHILD = r"""
import os, signal, sys, time
out = os.environ["OUT"]
iid = os.environ["CAPI_KAFKA__GROUP_INSTANCE_ID"]
def note(what):
    with open(out, "a") as f:
        f.write(f"{iid} {what} {os.environ['CAPI_METRICS__HOST']}\n")
note("start")
mode = os.environ["MODE"]
if mode == "failstop":
    sys.exit(70)
def on_term(signum, frame):
    note(signal.Signals(signum).name)
    if mode != "stubborn":
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def _supervisor(tmp_path: Path, mode: str, **kwargs: Any) -> tuple[Supervisor, Path]:
    out = tmp_path / "events.txt"
    env = dict(os.environ, OUT=str(out), MODE=mode)
    sup = Supervisor(
        [sys.executable, "-c", CHILD],
        env,
        ["base-0", "base-1"],
        **kwargs,  # type: ignore[arg-type]
    )
    return sup, out


def _lines(out: Path) -> list[str]:
    return out.read_text().splitlines() if out.exists() else []


def _signal_once_started(sup: Supervisor, out: Path, sig: signal.Signals) -> None:
    """From a thread: once both children noted their start, signal this process."""

    def go() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            started = {line.split()[0] for line in _lines(out) if " start " in line}
            if started == {"base-0", "base-1"}:
                os.kill(os.getpid(), sig)
                return
            time.sleep(0.05)

    threading.Thread(target=go, daemon=True).start()


def test_a_failing_child_is_restarted_under_its_id_until_the_budget_runs_out(
    tmp_path: Path, restore_signals: None
) -> None:
    registry = CollectorRegistry()
    restarts = Counter("capi_worker_restarts", "", ["worker"], registry=registry)
    budget = RestartBudget(max_restarts=2, window_s=60, base_delay_s=0.05, cap_delay_s=0.1)
    sup, out = _supervisor(
        tmp_path, "failstop", stop_timeout_s=10, restarts=restarts, budget=budget, poll_s=0.02
    )
    assert sup.run() == 70
    starts = [line.split()[0] for line in _lines(out) if " start " in line]
    # each start under the same instance id; the first to use up its 2 restarts ends it
    assert starts.count("base-0") + starts.count("base-1") == len(starts)
    assert max(starts.count("base-0"), starts.count("base-1")) == 3
    assert all(line.endswith(" 127.0.0.1") for line in _lines(out))
    assert (
        max(
            registry.get_sample_value("capi_worker_restarts_total", {"worker": w}) or 0
            for w in ("0", "1")
        )
        == 2
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_is_forwarded_to_every_child_and_a_clean_stop_exits_0(
    tmp_path: Path, restore_signals: None, sig: signal.Signals
) -> None:
    sup, out = _supervisor(tmp_path, "clean", stop_timeout_s=20, poll_s=0.02)
    _signal_once_started(sup, out, sig)
    started = time.monotonic()
    assert sup.run() == 0
    assert time.monotonic() - started < 25
    got = sorted(line.rsplit(" ", 1)[0] for line in _lines(out) if " start " not in line)
    assert got == [f"base-0 {sig.name}", f"base-1 {sig.name}"]
    assert sup.pids() == [None, None]


def test_a_child_that_does_not_stop_in_time_is_killed_and_the_exit_status_is_75(
    tmp_path: Path, restore_signals: None
) -> None:
    sup, out = _supervisor(tmp_path, "stubborn", stop_timeout_s=1.5, poll_s=0.02)
    _signal_once_started(sup, out, signal.SIGTERM)
    started = time.monotonic()
    assert sup.run() == 75
    assert time.monotonic() - started < 15
    assert sum(1 for line in _lines(out) if " SIGTERM " in line) == 2


def test_the_child_command_is_the_ordinary_worker() -> None:
    assert worker_command("/etc/capi.toml")[1:] == [
        "-m",
        "streams.cli",
        "worker",
        "--config",
        "/etc/capi.toml",
    ]
    assert worker_command(None, debug=True)[1:] == ["-m", "streams.cli", "--debug", "worker"]
