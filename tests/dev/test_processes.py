"""The shared process helpers of the local broker and registry, against real processes."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
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


def test_a_detached_child_is_kept_and_waited_through_its_handle(tmp_path: Path) -> None:
    """No handle of a running detached process is collected (it would warn, an error under
    pytest's filters); `terminate` waits it, so its exit status is known and no zombie stays."""
    log = tmp_path / "c.log"
    code = "import time; print('up', flush=True); time.sleep(120)"
    pid = processes.spawn_detached([sys.executable, "-c", code], log, cwd=tmp_path).pid
    gc.collect()  # nothing but the module keeps the handle now
    deadline = time.monotonic() + 60
    while processes.log_tail(log, missing="") != "up":
        assert time.monotonic() < deadline, "the child never wrote to its log"
        time.sleep(0.1)
    assert os.getsid(pid) == pid  # its own session: a terminal's Ctrl-C does not reach it
    handle = processes._children[pid]
    processes.terminate(pid, grace_s=30)
    assert handle.returncode == -signal.SIGTERM
    assert pid not in processes._children
    assert not processes.pid_alive(pid)
