"""What `capi-streams run` prints: output that fits where it goes, and a summary that says why.

- `LineWriter`: on a terminal the progress line is redrawn in place; anywhere else (a log
  file, a pipe) a plain line is written when the counts change (at most every `min_gap_s`)
  or, unchanged, every `idle_s`: no control characters, no line every second forever.
- `summary_lines`: consumed / delivered / failed, the failures by reason, and where to look.
- `sandbox_datasets_toml`: the sandbox's datasets file for a config's datasets, so a config
  without tokens is served exactly its own datasets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final, TextIO

__all__ = ["LineWriter", "sandbox_datasets_toml", "summary_lines"]

FAILED_METRIC: Final = "capi_events_failed_total"


class LineWriter:
    def __init__(
        self,
        out: TextIO,
        *,
        min_gap_s: float = 2.0,
        idle_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.tty = out.isatty()
        self._min_gap_s = min_gap_s
        self._idle_s = idle_s
        self._clock = clock
        self._last_at: float | None = None
        self._last_key: object = None
        self._drawn = False

    def show(self, line: str, key: object) -> None:
        """Show `line`; `key` is what counts as a change (the counts, not the rate)."""
        if self.tty:
            print("\r" + line + "   ", end="", file=self.out, flush=True)
            self._drawn = True
            return
        now = self._clock()
        if self._last_at is not None:
            quiet = now - self._last_at
            if quiet < self._min_gap_s or (key == self._last_key and quiet < self._idle_s):
                return
        print(line, file=self.out, flush=True)
        self._last_at, self._last_key = now, key

    def close(self) -> None:
        """End a redrawn line, so what follows starts on its own line."""
        if self._drawn:
            print(file=self.out, flush=True)
            self._drawn = False


def summary_lines(
    values: Mapping[str, float], failed_by_reason: Mapping[str, float], failures_topic: str
) -> list[str]:
    """The run's closing summary (`values`: each metric summed over its labels)."""
    consumed = values.get("capi_events_consumed_total", 0.0)
    delivered = values.get("capi_events_delivered_total", 0.0)
    failed = values.get(FAILED_METRIC, 0.0)
    lines = [f"summary: consumed {consumed:,.0f}  delivered {delivered:,.0f}  failed {failed:,.0f}"]
    reasons = sorted(((n, r) for r, n in failed_by_reason.items() if n), reverse=True)
    if reasons:
        lines.append("  failed by reason: " + ", ".join(f"{r} {n:,.0f}" for n, r in reasons))
        lines.append(
            f"  each failed event has a record with its reason and field in the topic "
            f"{failures_topic}; `capi-streams replay --dry-run` counts what can be re-sent"
        )
    return lines


def sandbox_datasets_toml(dataset_ids: Iterable[str], token: str) -> str:
    """A sandbox datasets file serving `dataset_ids`, each with `token`."""
    return "".join(f'[[datasets]]\nid = "{ds}"\ntoken = "{token}"\n\n' for ds in dataset_ids)


def failed_by_reason(
    samples: Iterable[tuple[str, Mapping[str, str], float]],
) -> dict[str, float]:
    """Sum `capi_events_failed_total` samples per `reason` label."""
    out: dict[str, float] = {}
    for name, labels, value in samples:
        if name == FAILED_METRIC:
            reason = labels.get("reason", "unknown")
            out[reason] = out.get(reason, 0.0) + value
    return out
