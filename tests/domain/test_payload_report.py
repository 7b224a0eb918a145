"""Payload Helper output: JSON Lines for machines, escaped text for terminals."""

from __future__ import annotations

import unicodedata

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.payload_helper import explain
from streams.domain.payload_report import escape_controls, render_jsonl
from streams.domain.transform import DatasetPolicy

NOW = 1_795_000_000.0


def test_escape_controls_keeps_text_and_newlines() -> None:
    assert escape_controls("Lead\x1b[2J\x07 ok\nnext\t\u202e\u00e9") == (
        "Lead\\x1b[2J\\x07 ok\nnext\\x09\\u202e\u00e9"
    )


@given(st.text())
def test_escaped_text_has_no_control_characters_but_newlines(text: str) -> None:
    out = escape_controls(text)
    bad = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    assert all(c == "\n" or unicodedata.category(c) not in bad for c in out)


def test_render_jsonl_is_one_object_per_result_in_input_order() -> None:
    ok = {
        "event_name": "Lead",
        "event_time": NOW - 60,
        "action_source": "email",
        "user_data": {"email": "a@example.com"},
    }
    data = orjson.dumps(ok) + b"\n" + orjson.dumps({**ok, "event_time": 1}) + b"\n"
    lines = render_jsonl(explain(data, "native", DatasetPolicy("1"), NOW)).splitlines()
    rows = [orjson.loads(line) for line in lines]
    assert [(r["message"], r["status"], r["reason"]) for r in rows] == [
        (1, "sent", None),
        (2, "rejected", "event_time_too_old"),
    ]
    assert set(rows[0]) == {
        "message",
        "index",
        "format",
        "status",
        "fails",
        "reason",
        "field",
        "action",
        "event_id",
        "event_name",
        "event",
        "dropped",
    }
