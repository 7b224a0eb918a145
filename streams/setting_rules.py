"""Allowed values of settings: numeric ranges and closed sets, checked once at start-up.

`streams.settings` keeps one table (`RULES`) next to its dataclasses: a new numeric key gets
its range there in one line (`"worker.max_unacked_events": Range(1, 10_000_000)`); a key typed
`Literal[...]` is a closed set by its type alone. A value outside its rule is a `ValueError`
whose message names the key, the value, what is allowed and where the value came from (the
config file's path or the environment variable's name), e.g.

    worker.max_pending_windows: expected 1..1024, got 0 (from CAPI_WORKER__MAX_PENDING_WINDOWS)

Only numbers are echoed back; a text value never is (a token pasted into the wrong key must
not reach a log): `log_level: expected one of 'DEBUG', ..., got something else (from ...)`.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["OneOf", "Range", "Rule", "closed_sets", "numeric_fields", "rules_for", "violation"]


@dataclass(frozen=True)
class Range:
    """A finite number in [lo, hi] (NaN and infinities are never in range)."""

    lo: float
    hi: float
    note: str = ""  # why, when the bound is not obvious (e.g. "Meta's limit per request")

    def allows(self, value: Any) -> bool:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.lo <= value <= self.hi
        )

    def describe(self) -> str:
        text = f"{_num(self.lo)}..{_num(self.hi)}"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class OneOf:
    """One of a closed set of values."""

    values: tuple[Any, ...]
    note: str = ""

    def allows(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        text = "one of " + ", ".join(repr(v) for v in self.values)
        return f"{text} ({self.note})" if self.note else text


Rule = Range | OneOf


def _num(value: float) -> str:
    if not float(value).is_integer():
        return f"{value:g}"
    return f"{int(value):_}" if abs(value) >= 10_000 else str(int(value))


def violation(key: str, value: Any, rule: Rule, origin: str | None) -> str | None:
    """The error message for `value` of `key` if the rule refuses it, else None."""
    if value is None or rule.allows(value):
        return None
    where = f" (from {origin})" if origin else ""
    got = f"{value!r}" if not isinstance(value, str) else "something else"
    return f"{key}: expected {rule.describe()}, got {got}{where}"


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=False)


def _literal_values(hint: Any) -> tuple[Any, ...] | None:
    """The values of a `Literal[...]` (or `Literal[...] | None`) hint, else None."""
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1 and typing.get_origin(args[0]) is typing.Literal:
        return typing.get_args(args[0])
    return None


def closed_sets(cls: type[Any]) -> dict[str, OneOf]:
    """A `OneOf` rule for every field of the dataclass typed `Literal[...]`."""
    out: dict[str, OneOf] = {}
    for name, hint in _hints(cls).items():
        values = _literal_values(hint)
        if values is not None:
            out[name] = OneOf(values)
    return out


def numeric_fields(cls: type[Any]) -> list[str]:
    """The dataclass fields typed int or float (optionally `| None`), which need a rule."""
    hints = _hints(cls)
    out = []
    for f in fields(cls):
        hint = hints[f.name]
        args: Iterable[Any] = typing.get_args(hint) or (hint,)
        kinds = {a for a in args if a is not type(None)}
        if kinds and kinds <= {int, float}:
            out.append(f.name)
    return out


def rules_for(section: str, cls: type[Any], table: Mapping[str, Rule]) -> dict[str, Rule]:
    """The rules of one section's fields: the table's `section.key` entries and the closed
    sets of its Literal-typed fields."""
    prefix = f"{section}."
    rules: dict[str, Rule] = dict(closed_sets(cls))
    rules.update({k[len(prefix) :]: r for k, r in table.items() if k.startswith(prefix)})
    return rules
