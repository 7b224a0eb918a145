"""Progress of commands that work through a file, and the report of what they skipped.

`Progress`: on a terminal it redraws one line in place (carriage return); anywhere else (a log
file, a pipe) it writes a plain line at every tenth of the work, so a log holds no control
characters. `report_skipped`: the skipped lines or rows by number and reason (never their
values: they may hold personal data), the first 20 on stdout, all of them to a file if asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

__all__ = ["Progress", "Skipped", "report_skipped"]

SHOWN_SKIPPED: Final = 20


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input line or row that is no event, and why (no values: they may be personal)."""

    position: int
    reason: str


def report_skipped(skipped: Sequence[Skipped], label: str, out_path: str | None) -> None:
    """Print the first skipped items as `skipped <label><position>: <reason>`; write them all
    to `out_path` (tab-separated position and reason, one a line) when given."""
    for item in skipped[:SHOWN_SKIPPED]:
        print(f"  skipped {label}{item.position}: {item.reason}")
    if len(skipped) > SHOWN_SKIPPED:
        print(f"  ... and {len(skipped) - SHOWN_SKIPPED} more")
    if out_path:
        lines = "".join(f"{item.position}\t{item.reason}\n" for item in skipped)
        Path(out_path).write_text(lines, encoding="utf-8")


class Progress:
    def __init__(self, total: int, out: TextIO, unit: str = "rows") -> None:
        self.total = max(total, 1)
        self.out = out
        self.unit = unit
        self.tty = out.isatty()
        self.last = -1

    def update(self, done: int) -> None:
        pct = done * 100 // self.total
        if pct == self.last:
            return
        self.last = pct
        bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
        text = f"[{bar}] {pct:3d}% {done}/{self.total} {self.unit}"
        if self.tty:
            print(f"\r{text}", end="", file=self.out)
        elif pct % 10 == 0:
            print(text, file=self.out)
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            print(file=self.out)
