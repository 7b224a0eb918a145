"""Local helper processes (broker, registry): ports, pids, state files, start-up, log tails.

Shared by `streams.dev.broker` and `streams.dev.apicurio`: each starts one detached Java
process, waits until it is ready, records it in a JSON state file in its data directory and
stops it by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

__all__ = [
    "LocalProcess",
    "LocalProcessError",
    "choose_port",
    "find_java",
    "free_port",
    "log_tail",
    "pid_alive",
    "port_taken",
    "reap",
    "record_and_wait",
    "recorded",
    "spawn_detached",
    "stop_recorded",
    "terminate",
]


class LocalProcessError(Exception):
    """A local helper process could not be fetched, started or stopped; the message says why.
    `what` names the process in the messages ("the broker exited ...")."""

    what: ClassVar[str] = "process"


@dataclass(frozen=True, kw_only=True)
class LocalProcess:
    """A running local helper process: its pid, its port on 127.0.0.1 and its data dir."""

    pid: int
    port: int
    data_dir: str


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


def choose_port(port: int, error: type[LocalProcessError]) -> int:
    """`port`, or a free one when it is 0; `error` when a listener holds it."""
    if port == 0:
        return free_port()
    if port_taken(port):
        raise error(f"port {port} on 127.0.0.1 is taken; choose another with --port (0 = any)")
    return port


def find_java(error: type[LocalProcessError]) -> str:
    """The `java` on PATH; `error` naming what needs it when there is none."""
    java = shutil.which("java")
    if java is None:
        raise error(f"Java ('java') is not on PATH: the {error.what} needs Java 17 or newer.")
    return java


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


def record_and_wait(
    proc: subprocess.Popen[bytes],
    info: LocalProcess,
    ready: Callable[[], bool],
    *,
    error: type[LocalProcessError],
    state: Path,
    log: Path,
    not_ready: str,
    timeout_s: float,
    poll_s: float,
) -> None:
    """Record `info` (the started `proc`) in the JSON file `state`, then return once `ready()`
    holds. When the process exits first, or is not ready within `timeout_s` (it is stopped
    then), forget `state` and raise `error` with the last lines of its `log`; `not_ready` says
    what it did not do in time."""
    state.write_text(json.dumps(asdict(info)))
    missing = f"(no {error.what} log)"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            reap(proc.pid)
            state.unlink(missing_ok=True)
            raise error(
                f"the {error.what} exited with code {proc.returncode} during start-up; "
                f"last lines of {log}:\n{log_tail(log, missing=missing)}"
            )
        if ready():
            return
        time.sleep(poll_s)
    terminate(proc.pid, grace_s=10)
    state.unlink(missing_ok=True)
    raise error(
        f"the {error.what} {not_ready} within {timeout_s:.0f} s; "
        f"last lines of {log}:\n{log_tail(log, missing=missing)}"
    )


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
