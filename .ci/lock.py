"""The lock files against pyproject.toml: `stamp` after `make lock`, `check` before installing.

Each lock file carries a line `# pyproject-deps-sha256: <hex>`, the SHA-256 of the dependency
declarations it was compiled from (requires-python, dependencies, the extras it includes). If
pyproject.toml changed them since, `check` fails and names the one command that regenerates
the locks (`make lock`). Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"requirements.lock": (), "requirements-dev.lock": ("dev",)}
MARK = "# pyproject-deps-sha256: "


def deps_digest(extras: tuple[str, ...]) -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(project.get("dependencies", [])),
        "extras": {e: sorted(project.get("optional-dependencies", {}).get(e, [])) for e in extras},
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def stamp() -> None:
    for name, extras in LOCKS.items():
        path = ROOT / name
        lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(MARK)]
        path.write_text("\n".join([MARK + deps_digest(extras), *lines]) + "\n")


def check() -> int:
    stale = []
    for name, extras in LOCKS.items():
        path = ROOT / name
        if not path.exists():
            stale.append(f"{name} is missing")
            continue
        first = path.read_text().splitlines()[:1]
        if first != [MARK + deps_digest(extras)]:
            stale.append(f"{name} was not compiled from pyproject.toml's current dependencies")
    for problem in stale:
        print(f"lock check: {problem}", file=sys.stderr)
    if stale:
        print("lock check: regenerate the locks with `make lock`, then commit them", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["stamp"]:
        stamp()
        sys.exit(0)
    if sys.argv[1:] == ["check"]:
        sys.exit(check())
    sys.exit("usage: python3 .ci/lock.py check|stamp")
