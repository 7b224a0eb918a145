"""Running `capi-streams` as a user does: a subprocess from the repository root, with an
environment free of the caller's CAPI_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "streams.cli"]


def user_env(**extra: str) -> dict[str, str]:
    """This process's environment without CAPI_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPI_")}
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """`capi-streams ARGS` from the repository root; bytes out (`.stdout.decode()`)."""
    return subprocess.run(
        [*CLI, *args],
        cwd=ROOT,
        env=env if env is not None else user_env(),
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
