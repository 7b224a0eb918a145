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

import pytest

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


@dataclass(frozen=True, kw_only=True)
class _Started(processes.LocalProcess):
    pass


class _Error(processes.LocalProcessError):
    what = "helper"


def test_record_and_wait_reports_an_early_exit_with_the_log_tail(tmp_path: Path) -> None:
    log, state = tmp_path / "h.log", tmp_path / "h.json"
    code = "import sys; print('bad config', flush=True); sys.exit(3)"
    proc = processes.spawn_detached([sys.executable, "-c", code], log)
    early = r"(?s)the helper exited with code 3 during start-up; .*h\.log:\nbad config"
    with pytest.raises(_Error, match=early):
        processes.record_and_wait(
            proc,
            _Started(pid=proc.pid, port=1, data_dir=str(tmp_path)),
            lambda: False,
            error=_Error,
            state=state,
            log=log,
            not_ready="x",
            timeout_s=60,
            poll_s=0.05,
        )
    assert not state.exists() and proc.pid not in processes._children


def test_record_and_wait_records_then_stops_a_process_not_ready_in_time(tmp_path: Path) -> None:
    log, state = tmp_path / "h.log", tmp_path / "h.json"
    proc = processes.spawn_detached([sys.executable, "-c", "import time; time.sleep(120)"], log)
    recorded: list[object] = []  # what the state file held at each readiness check
    late = r"(?s)the helper never listened within 1 s; .*absent\.log:\n\(no helper log\)"
    with pytest.raises(_Error, match=late):
        processes.record_and_wait(
            proc,
            _Started(pid=proc.pid, port=1, data_dir=str(tmp_path)),
            lambda: bool(recorded.append(json.loads(state.read_text()))),
            error=_Error,
            state=state,
            log=tmp_path / "absent.log",
            not_ready="never listened",
            timeout_s=1,
            poll_s=0.05,
        )
    assert len(recorded) > 1 and not state.exists()
    assert recorded[0] == {"pid": proc.pid, "port": 1, "data_dir": str(tmp_path)}
    assert proc.returncode == -signal.SIGTERM and not processes.pid_alive(proc.pid)


def test_choose_port_and_find_java_name_what_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(_Error, match=f"port {port} on 127.0.0.1 is taken; choose another"):
            processes.choose_port(port, _Error)
    assert processes.choose_port(0, _Error) > 0
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(_Error, match=r"\('java'\) is not on PATH: the helper needs Java 17"):
        processes.find_java(_Error)
