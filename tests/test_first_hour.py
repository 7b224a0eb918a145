"""The README's first hour, run as a newcomer would: `make run` in one process, the "Send your
first events" commands (exactly as the README writes them) from another, until the events are
delivered; then Ctrl-C and the summary, and `replay --dry-run` on what failed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_support import ROOT, run_cli, user_env

pytestmark = pytest.mark.integration

CLI = str(ROOT / ".venv" / "bin" / "capi-streams")
BAD_EVENT = (
    b'{"event_name": "Purchase", "action_source": "system_generated", '
    b'"user_data": {"email": "nobody@example.com"}, "custom_data": {"value": 5}}\n'
)


def readme_commands(heading: str) -> list[str]:
    """The shell lines of the first ```sh block after `heading` in README.md."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block, f"no sh block after {heading}"
    return [line for line in block.group(1).splitlines() if line.strip()]


class Output:
    """Collects a child's merged stdout/stderr in a thread."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with proc.stdout:  # closed here once the child's output ends (no ResourceWarning)
            for line in iter(proc.stdout.readline, b""):
                self.chunks.append(line)

    @property
    def raw(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def text(self) -> str:
        return self.raw.decode(errors="replace")

    def wait_for(
        self, ok: Callable[[str], bool], timeout_s: float, alive: Callable[[], bool]
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ok(self.text):
                return
            if not alive():
                break
            time.sleep(0.5)
        raise AssertionError(f"not seen in time; output so far:\n{self.text[-4000:]}")

    def join(self) -> None:
        self._thread.join(10)


@pytest.fixture
def newcomer_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A shell environment without CAPI_* settings and with its own local-broker data dir;
    the broker `make run` leaves running is stopped afterwards."""
    env = user_env(XDG_DATA_HOME=str(tmp_path))
    env.pop("MAKEFLAGS", None)
    yield env
    subprocess.run([CLI, "kafka", "stop"], env=env, capture_output=True, timeout=60, check=False)


def _counts(text: str) -> tuple[int, int, int] | None:
    found = re.findall(r"consumed ([\d,]+)\s+delivered ([\d,]+)\s+failed ([\d,]+)", text)
    if not found:
        return None
    consumed, delivered, failed = (int(v.replace(",", "")) for v in found[-1])
    return consumed, delivered, failed


def test_make_run_fed_by_produce_delivers_the_readme_examples(
    newcomer_env: dict[str, str],
) -> None:
    (ROOT / ".venv" / ".installed").touch()  # the venv is there; `make run` must not rebuild it
    run = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=newcomer_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the test's Ctrl-C goes to it alone
    )
    out = Output(run)
    try:
        out.wait_for(lambda t: "worker running" in t, 240, lambda: run.poll() is None)
        assert "serving datasets 1000000000000001, 1000000000000002" in out.text

        for command in readme_commands("### Send your first events"):
            sent = subprocess.run(
                ["bash", "-c", command],
                cwd=ROOT,
                env=newcomer_env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert sent.returncode == 0, (command, sent.stdout, sent.stderr)
            assert re.search(r"produced \d+ messages to capi-events", sent.stdout), sent.stdout
        bad = run_cli("produce", "-", "--event-time-now", env=newcomer_env, stdin=BAD_EVENT)
        assert bad.returncode == 0, bad.stderr
        # messages: native 3, Segment 2, GA4 1 (two events), CSV 3 rows, the bad one.
        out.wait_for(
            lambda t: _counts(t) == (10, 10, 1),
            180,
            lambda: run.poll() is None,
        )

        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in the terminal of `make run`
        run.wait(90)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(30)
        out.join()

    text = out.text
    assert re.search(r"summary: consumed 10\s+delivered 10\s+failed 1", text), text[-3000:]
    assert "failed by reason: missing_currency 1" in text
    assert "capi-failures" in text and "capi-streams replay --dry-run" in text
    # Output that fits a pipe: no cursor codes, no backspaces, no traceback, no alarming noise.
    assert b"\x1b" not in out.raw and b"\x08" not in out.raw and b"\r" not in out.raw
    assert "Traceback" not in text
    assert "level=ERROR" not in text, text[-3000:]
    assert "GroupCoordinatorNotAvailableError" not in text
    assert "Marking the coordinator dead" not in text
    progress = re.findall(r"^consumed .*events/s$", text, flags=re.MULTILINE)
    assert 1 <= len(progress) < 30, progress  # on change, not every second

    replay = run_cli("replay", "--dry-run", env=newcomer_env)
    report = replay.stdout.decode()
    assert replay.returncode == 0, replay.stderr
    assert "matched 1" in report and "permanent 1" in report
    assert "missing_currency=1" in report
    assert "dry run: 0 messages selected, nothing sent" in report
