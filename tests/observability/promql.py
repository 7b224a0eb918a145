"""Just enough PromQL and rule-file reading to check the operator config against the code.

Not a PromQL parser: it finds metric names, label matchers and grouping labels in the
expressions this repository writes (promtool checks their syntax separately), and reads the
`expr:` values of a Prometheus rule file without a YAML library (the count is cross-checked
against promtool's own count in the tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

__all__ = [
    "Rule",
    "exposed_series",
    "grouping_labels",
    "matcher_labels",
    "metric_names",
    "read_rules",
]

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?[\w$]+")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_SELECTOR = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*\"(?:[^\"\\]|\\.)*\"")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)


def metric_names(expr: str) -> set[str]:
    """Series names an expression selects (functions, keywords, labels and numbers left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def matcher_labels(expr: str) -> Iterator[tuple[str, str]]:
    """(metric name, label name) for every label matcher written as `name{label...}`."""
    for name, body in _SELECTOR.findall(expr):
        for label in _MATCHER.findall(body):
            yield name, label


def grouping_labels(expr: str) -> set[str]:
    """Labels named in by/without/on/ignoring/group_left/group_right clauses."""
    text = _STRING.sub('""', expr)
    out: set[str] = set()
    for inner in _GROUPING.findall(text):
        out.update(part.strip() for part in inner.split(",") if part.strip())
    return out


def exposed_series(registry: CollectorRegistry) -> dict[str, tuple[str, ...]]:
    """Every series name the registry exposes, with the labels it carries.

    prometheus_client names a counter family without `_total` and exposes `<name>_total`;
    histograms expose `_bucket` (plus `le`), `_count` and `_sum`. Families are listed whether or
    not they have children yet; the label names come from the metric objects themselves.
    """
    labelnames: dict[str, tuple[str, ...]] = {}
    for collector in _collectors(registry):
        for family in collector.describe():
            labelnames[family.name] = tuple(collector._labelnames)
    out: dict[str, tuple[str, ...]] = {}
    for family in registry.collect():
        labels = labelnames.get(family.name, ())
        if family.type == "counter":
            suffixes = {"_total": labels, "_created": labels}
        elif family.type == "histogram":
            suffixes = {
                "_bucket": (*labels, "le"),
                "_count": labels,
                "_sum": labels,
                "_created": labels,
            }
        elif family.type == "summary":
            suffixes = {"": (*labels, "quantile"), "_count": labels, "_sum": labels}
        elif family.type == "info":
            suffixes = {"_info": labels}
        else:
            suffixes = {"": labels}
        for suffix, names in suffixes.items():
            out[family.name + suffix] = names
    return out


def _collectors(registry: CollectorRegistry) -> list[MetricWrapperBase]:
    # The registry keeps its collectors privately; the metric objects are what know labels.
    return [c for c in registry._collector_to_names if isinstance(c, MetricWrapperBase)]


@dataclass(frozen=True)
class Rule:
    """One alerting or recording rule: its name and its expression."""

    name: str
    expr: str
    text: str  # the rule's whole block, for checks on its other keys


_RULE_START = re.compile(r"^(\s*)- (alert|record):\s*(\S+)\s*$")
_EXPR = re.compile(r"^(\s*)expr:\s*(.*)$")


def read_rules(text: str) -> list[Rule]:
    """The rules of a rule file written in the block style this repository uses."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _RULE_START.match(line)]
    rules = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        block = lines[start:end]
        m = _RULE_START.match(block[0])
        assert m is not None
        rules.append(Rule(name=m.group(3), expr=_block_expr(block), text="\n".join(block)))
    return rules


def _block_expr(block: list[str]) -> str:
    for i, line in enumerate(block):
        m = _EXPR.match(line)
        if m is None:
            continue
        indent, value = len(m.group(1)), m.group(2).strip()
        if value in ("|", "|-", ">", ">-"):
            body = []
            for more in block[i + 1 :]:
                if more.strip() and len(more) - len(more.lstrip()) <= indent:
                    break
                body.append(more.strip())
            return "\n".join(body).strip()
        if value[:1] in ("'", '"'):
            return value[1:-1]
        return value
    raise AssertionError(f"rule without expr: {block[0].strip()}")
