"""What `capi-streams run` prints: in-place progress on a terminal, plain lines on change
elsewhere; a summary that says why events failed and where to look."""

from __future__ import annotations

import io
import tomllib

from streams.dev.run_output import (
    LineWriter,
    failed_by_reason,
    sandbox_datasets_toml,
    summary_lines,
)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_file_gets_plain_lines_on_change_and_once_a_minute_when_idle() -> None:
    out, clock = io.StringIO(), _Clock()
    writer = LineWriter(out, min_gap_s=2, idle_s=60, clock=clock)
    for second in range(0, 200):
        clock.now = float(second)
        counts = (min(second, 10), 0, 0)  # changes during the first 10 s, then idle
        writer.show(f"consumed {counts[0]}  {second} events/s", counts)
    writer.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    seconds = [line.split()[2] for line in lines]
    # every 2 s while the counts change (0..10 s), then unchanged: once a minute
    assert seconds == ["0", "2", "4", "6", "8", "10", "70", "130", "190"]


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    out = _Tty()
    writer = LineWriter(out)
    writer.show("consumed 1", (1,))
    writer.show("consumed 2", (2,))
    writer.close()
    assert out.getvalue() == "\rconsumed 1   \rconsumed 2   \n"


def test_summary_counts_failures_by_reason_and_names_the_topic() -> None:
    samples = [
        ("capi_events_failed_total", {"dataset": "1", "reason": "missing_currency"}, 2.0),
        ("capi_events_failed_total", {"dataset": "2", "reason": "missing_currency"}, 1.0),
        ("capi_events_failed_total", {"dataset": "none", "reason": "invalid_json"}, 1.0),
        ("capi_events_failed_total", {"dataset": "1", "reason": "graph_rejected"}, 0.0),
        ("capi_events_delivered_total", {"dataset": "1"}, 7.0),
    ]
    reasons = failed_by_reason(samples)
    values = {"capi_events_consumed_total": 11.0, "capi_events_delivered_total": 7.0}
    values["capi_events_failed_total"] = 4.0
    lines = summary_lines(values, reasons, "capi-failures")
    assert lines[0] == "summary: consumed 11  delivered 7  failed 4"
    assert lines[1] == "  failed by reason: missing_currency 3, invalid_json 1"
    assert "capi-failures" in lines[2] and "capi-streams replay --dry-run" in lines[2]
    assert summary_lines(values, {}, "capi-failures") == [lines[0]]


def test_sandbox_datasets_file_serves_exactly_the_given_datasets() -> None:
    doc = tomllib.loads(sandbox_datasets_toml(["1234567890123456", "42"], "tok"))
    assert doc == {
        "datasets": [
            {"id": "1234567890123456", "token": "tok"},
            {"id": "42", "token": "tok"},
        ]
    }
