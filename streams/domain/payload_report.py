"""Payload Helper output for machines and for terminals.

`render_jsonl`: one JSON object per event (or unmapped part) of the input, in input order:
`message` (1-based position in the file), `index` (inside a multi-event message, else null),
`format`, `status` (`sent`, `rejected`, `unmapped`, `custom`), `fails` (whether it ends as a
failure record), `reason`, `field`, `action`, `event_id`, `event_name`, `event` (as it would
be sent: hashed; for a rejection as far as it was built) and `dropped` (field and reason of
each value left out). JSON escapes every control character.

`escape_controls`: the text report with control characters shown as escapes (`\\x1b`, ...),
so input cannot move the cursor, clear the screen or retitle the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

import orjson

from streams.domain.payload_helper import Explanation

__all__ = ["escape_controls", "render_jsonl", "to_json"]


def to_json(item: Explanation) -> dict[str, Any]:
    """The JSON object of one explanation."""
    return {
        "message": item.message,
        "index": item.index,
        "format": item.format,
        "status": item.outcome.value,
        "fails": item.fails,
        "reason": item.reason,
        "field": item.field,
        "action": item.action.value if item.action is not None else None,
        "event_id": item.event_id,
        "event_name": item.event_name,
        "event": item.event,
        "dropped": [{"field": d.field, "reason": d.reason} for d in item.dropped],
    }


def render_jsonl(explanations: Sequence[Explanation]) -> str:
    """JSON Lines: one object per explanation (see the module docstring)."""
    return "".join(orjson.dumps(to_json(item)).decode() + "\n" for item in explanations)


_ESCAPED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # controls, format, surrogates, separators


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape_controls(text: str) -> str:
    """`text` with every control, format or line-separator character except newlines
    escaped."""
    return "".join(
        _escape(c) if c != "\n" and unicodedata.category(c) in _ESCAPED else c for c in text
    )
