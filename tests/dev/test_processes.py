"""The shared process helpers of the local broker and registry, against real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from streams.dev import processes


@dataclass(frozen=True)
class _Info:
    pid: int
    port: int


def test_ports_pids_and_state(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert processes.port_taken(s.getsockname()[1])
    assert not processes.port_taken(processes.free_port())

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    state = tmp_path / "x.json"
    assert processes.recorded(state, _Info) is None  # no state file
    state.write_text("{not json")
    assert processes.recorded(state, _Info) is None
    state.write_text(json.dumps({"pid": child.pid, "port": 1}))
    assert processes.recorded(state, _Info) == _Info(child.pid, 1)
    processes.stop_recorded(_Info(child.pid, 1), state, grace_s=30)
    assert not state.exists()
    assert not processes.pid_alive(child.pid)  # reaped: not even a zombie
    assert processes.pid_alive(os.getpid())
    child.wait(timeout=10)  # already reaped: only tells Popen so


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    assert processes.log_tail(log, missing="(none)") == "(none)"
    log.write_text("".join(f"line {i}\n" for i in range(40)))
    assert processes.log_tail(log, lines=2) == "line 38\nline 39"
