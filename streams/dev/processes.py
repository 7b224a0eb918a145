"""Local helper processes (broker, registry): ports, pids, state files, log tails.

Shared by `streams.dev.broker` and `streams.dev.apicurio`: each starts one detached Java
process, records it in a JSON state file in its data directory and stops it by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = [
    "free_port",
    "log_tail",
    "pid_alive",
    "port_taken",
    "reap",
    "recorded",
    "spawn_detached",
    "stop_recorded",
    "terminate",
]


class _Recorded(Protocol):
    @property
    def pid(self) -> int: ...


_Info = TypeVar("_Info", bound=_Recorded)

# The detached processes this process started, by pid. Their Popen handles stay referenced
# while the process runs (a handle collected before its process ended warns: ResourceWarning
# "subprocess N is still running") and are waited when `terminate` stops it. A process that
# outlives this one (`capi-streams kafka start`) keeps running: the handle only goes with us.
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn_detached(
    command: list[str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (a terminal's Ctrl-C does not reach it), its output
    appended to `log`; the returned handle stays valid until `terminate` stops it."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(port: int) -> bool:
    """True when a listener holds the port (a restart's lingering TIME_WAIT sockets do not
    count: Kafka binds with SO_REUSEADDR, and so does this check)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this very process) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def recorded(state: Path, make: Callable[..., _Info]) -> _Info | None:
    """The process recorded in the JSON file `state` (built by `make`), None when none runs."""
    try:
        info = make(**json.loads(state.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if pid_alive(info.pid) else None


def stop_recorded(info: _Recorded | None, state: Path, grace_s: float) -> None:
    """Stop `info`'s process (SIGTERM, then SIGKILL after `grace_s`); forget `state`."""
    if info is not None:
        terminate(info.pid, grace_s)
    state.unlink(missing_ok=True)


def log_tail(path: Path, lines: int = 25, missing: str = "(no log)") -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return missing


def terminate(pid: int, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            reap(pid)
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    reap(pid)


def reap(pid: int, wait_s: float = 10.0) -> None:
    """Collect the exit status when the process is our own child (tests), so no zombie stays;
    one `spawn_detached` started is waited through its handle (up to `wait_s`)."""
    child = _children.pop(pid, None)
    if child is None:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return
    try:
        child.wait(wait_s)
    except subprocess.TimeoutExpired:
        _children[pid] = child  # still running (SIGKILL not delivered yet): keep the handle
