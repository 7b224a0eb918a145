"""`capi-streams run` stops what it started when start-up fails: the sandbox or the worker not
ready in time leaves no process running and no scratch files (no port 9092: the broker is
given, or never reached)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.dev.local_run import ReadyTimeouts, run_main
from tests.cli_support import user_env


class _Recorder:
    """subprocess.Popen that keeps every process it started."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self._popen = subprocess.Popen

    def __call__(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = self._popen(*args, **kwargs)
        self.started.append(proc)
        return proc


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    recorder = _Recorder()
    monkeypatch.setattr(subprocess, "Popen", recorder)  # what local_run starts
    yield recorder.started
    for proc in recorder.started:  # a failing test leaves nothing behind either
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _cmd(proc: subprocess.Popen[bytes]) -> list[str]:
    args = proc.args
    assert isinstance(args, list)
    return [str(a) for a in args]


def _scratch_dirs(proc: subprocess.Popen[bytes]) -> list[Path]:
    return [Path(a).parent for a in _cmd(proc) if a.endswith("sandbox-datasets.toml")]


def test_sandbox_not_ready_in_time_is_stopped(started: list[subprocess.Popen[bytes]]) -> None:
    # The broker address is never contacted: start-up fails at the sandbox, before Kafka.
    env = user_env(CAPI_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1")
    out = io.StringIO()
    code = run_main(None, env=env, out=out, timeouts=ReadyTimeouts(sandbox_s=0))
    assert code == 2
    assert "the sandbox did not listen" in out.getvalue()
    assert [_cmd(p)[3] for p in started] == ["sandbox"]
    sandbox = started[0]
    assert sandbox.returncode is not None  # stopped and reaped, not merely signalled
    scratch = _scratch_dirs(sandbox)
    assert scratch and not scratch[0].exists()


def test_worker_not_ready_in_time_stops_worker_and_sandbox(
    started: list[subprocess.Popen[bytes]], kafka_bootstrap: str, unique_topic: str
) -> None:
    env = user_env(
        CAPI_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        CAPI_KAFKA__INPUT_TOPICS=unique_topic,
        CAPI_KAFKA__RESPONSES_TOPIC=f"{unique_topic}-responses",
        CAPI_KAFKA__FAILURES_TOPIC=f"{unique_topic}-failures",
    )
    out = io.StringIO()
    code = run_main(None, env=env, out=out, timeouts=ReadyTimeouts(worker_s=0))
    assert code == 2, out.getvalue()
    assert "the worker did not listen" in out.getvalue()
    assert sorted(_cmd(p)[3] for p in started) == ["sandbox", "worker"]
    assert all(p.returncode is not None for p in started)
    scratch = [d for p in started for d in _scratch_dirs(p)]
    assert scratch and not scratch[0].exists()
