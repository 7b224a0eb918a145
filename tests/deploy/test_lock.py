"""The hashed locks against pyproject.toml (.ci/lock.py, run by `make install`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = ("pyproject.toml", "requirements.lock", "requirements-dev.lock", ".ci/lock.py")


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / ".ci" / "lock.py"), "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _copy(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_committed_locks_match_pyproject() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_every_locked_package_is_pinned_with_hashes() -> None:
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text()
        pins = [ln for ln in text.splitlines() if ln[:1].isalnum()]
        assert pins, name
        assert all("==" in ln for ln in pins), name
        assert text.count("--hash=sha256:") >= len(pins), name


def test_a_dependency_added_to_pyproject_makes_the_lock_stale(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"orjson>=3.9",', '"orjson>=3.9",\n    "fastavro>=1.9",', 1))
    result = _check(root)
    assert result.returncode == 1
    assert "requirements.lock was not compiled from pyproject.toml" in result.stderr
    assert "requirements-dev.lock was not compiled from pyproject.toml" in result.stderr
    assert "regenerate the locks with `make lock`" in result.stderr
