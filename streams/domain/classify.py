"""Classify a Graph API reply to ``/{dataset}/events`` into one closed set of outcomes.

Pure: values in, a :class:`Classification` out. The adapter (``streams.capi.delivery``) acts on
it. Decisions follow Meta's error codes
(Conversions API docs: Handling Errors) and look at Graph ``error.code``/``error_subcode`` and
``is_transient`` first; the HTTP status is only a fallback for replies without a Graph error
(throttling, for one, usually arrives as HTTP 400 with ``type: OAuthException``).

Rules that are ours, not Meta's:

* Unknown Graph codes are ``TRANSIENT`` (bounded retries, then the failures topic), as
  RudderStack does.
* ``PAYLOAD`` is Meta's documented whole-batch rejection (code 100, subcodes 2804000-2804099,
  plus HTTP 413). ``REJECTED`` is any other permanent verdict on the request (code 100 without
  such a subcode, or a bare 4xx). Meta never says which event was at fault, so the deliverer
  bisects both when the batch holds more than one event; only a single event fails.
* ``is_transient: true`` turns a permanent verdict (``PAYLOAD``/``REJECTED``) into
  ``TRANSIENT``. It never overrides ``THROTTLED`` or ``CONFIG``: both resend anyway, and a
  ``CONFIG`` hold keeps events in Kafka instead of exhausting retries.
* Code 368 (temporarily blocked for policy violations) is ``THROTTLED``: wait, then resend.
* A 2xx without a parseable success body is ``TRANSIENT`` (a proxy page is not Meta's
  acknowledgement; ``event_id`` deduplication absorbs a resend).
* 3xx, 401, 403, 404 and 501 without a Graph error are ``CONFIG``: the base URL, token or
  dataset is wrong, and no event can fix that.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "REQUEST_INVALID",
    "RULES",
    "Classification",
    "GraphError",
    "Outcome",
    "Rule",
    "classify",
    "parse_graph_error",
    "throttle_wait_s",
]


class Outcome(enum.Enum):
    """What the deliverer does next with the events of one request."""

    DELIVERED = "delivered"
    """Meta accepted the request (HTTP 2xx with a success body)."""
    TRANSIENT = "transient"
    """Resend after a backoff, bounded by attempts and elapsed time."""
    THROTTLED = "throttled"
    """Pause the whole dataset for the announced time, then resend. Never a failure."""
    PAYLOAD = "payload"
    """Meta rejected the whole batch for an event defect; bisect to find the bad events."""
    REJECTED = "rejected"
    """Other permanent rejection; bisect on n > 1, fail a single event."""
    CONFIG = "config"
    """The dataset cannot be used (token, permission, unknown id): hold events, probe later."""


@dataclass(frozen=True, slots=True)
class GraphError:
    """The ``error`` object of a Graph reply.

    ``title`` (``error_user_title``) and ``message`` are Meta's free text and may echo
    submitted values: they are excluded from ``repr`` and must stay out of logs by default.
    """

    code: int | None
    subcode: int | None = None
    type: str | None = None
    is_transient: bool | None = None
    fbtrace_id: str | None = None
    title: str | None = field(default=None, repr=False)
    message: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Classification:
    """The decision for one reply.

    ``reason`` is a stable, low-cardinality code (safe for logs and failure records).
    ``wait_s`` is the pause Meta asked for (usage headers or ``Retry-After``), when it gave one.
    ``events_received``/``messages``/``fbtrace_id`` come from a success body (or the error's
    trace id).
    """

    outcome: Outcome
    reason: str
    status: int | None = None
    error: GraphError | None = None
    wait_s: float | None = None
    events_received: int | None = None
    messages: tuple[str, ...] = ()
    fbtrace_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the Graph error table: an inclusive code range and optional subcode range."""

    code_lo: int
    code_hi: int
    outcome: Outcome
    reason: str
    subcode_lo: int | None = None
    subcode_hi: int | None = None

    def matches(self, code: int, subcode: int | None) -> bool:
        if not self.code_lo <= code <= self.code_hi:
            return False
        if self.subcode_lo is None:
            return True
        assert self.subcode_hi is not None
        return subcode is not None and self.subcode_lo <= subcode <= self.subcode_hi


def _row(
    codes: int | tuple[int, int],
    outcome: Outcome,
    reason: str,
    subcodes: int | tuple[int, int] | None = None,
) -> Rule:
    lo, hi = (codes, codes) if isinstance(codes, int) else codes
    if subcodes is None:
        return Rule(lo, hi, outcome, reason)
    slo, shi = (subcodes, subcodes) if isinstance(subcodes, int) else subcodes
    return Rule(lo, hi, outcome, reason, slo, shi)


RULES: tuple[Rule, ...] = (
    # First match wins: (code, subcode) rows precede code-only rows.
    _row(100, Outcome.CONFIG, "dataset_unavailable", 33),
    _row(100, Outcome.PAYLOAD, "payload_invalid", (2804000, 2804099)),
    _row(100, Outcome.REJECTED, "invalid_parameter"),
    _row((1, 2), Outcome.TRANSIENT, "graph_transient"),
    _row(341, Outcome.TRANSIENT, "app_limit"),
    _row(21009, Outcome.TRANSIENT, "dataset_not_ready"),
    _row(4, Outcome.THROTTLED, "app_rate_limit"),
    _row(17, Outcome.THROTTLED, "user_rate_limit"),
    _row(32, Outcome.THROTTLED, "pages_rate_limit"),
    _row(613, Outcome.THROTTLED, "custom_rate_limit"),
    _row((80000, 80014), Outcome.THROTTLED, "business_rate_limit"),
    _row(368, Outcome.THROTTLED, "temporarily_blocked"),
    _row(190, Outcome.CONFIG, "token_invalid"),
    _row(102, Outcome.CONFIG, "token_invalid"),
    _row(3, Outcome.CONFIG, "capability_missing"),
    _row(10, Outcome.CONFIG, "permission_denied"),
    _row((200, 299), Outcome.CONFIG, "permission_denied"),
)
"""The Graph error table. Adding a code means adding one row (and one test row)."""

_USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")


REQUEST_INVALID = "request_invalid"
"""`GraphReply.error_kind` of a request the HTTP client refused to build (a bad header)."""


def classify(
    status: int | None,
    body: bytes | Mapping[str, object] | None,
    headers: Mapping[str, str],
    error_kind: str | None = None,
) -> Classification:
    """Classify one reply. ``status=None`` means no HTTP reply: a network error, timeout or
    reset (``TRANSIENT``), or, with ``error_kind == REQUEST_INVALID``, a request that could not
    even be built from the dataset's settings (say, a token with a control character):
    ``CONFIG``, since no retry can fix it."""
    if status is None:
        if error_kind == REQUEST_INVALID:
            return Classification(Outcome.CONFIG, REQUEST_INVALID)
        return Classification(Outcome.TRANSIENT, "network")
    doc = _as_mapping(body)
    error = parse_graph_error(doc) if doc is not None else None
    if error is None and 200 <= status < 300:
        return _success(status, doc)
    if error is not None and error.code is not None:
        for rule in RULES:
            if rule.matches(error.code, error.subcode):
                outcome, reason = rule.outcome, rule.reason
                break
        else:
            outcome, reason = Outcome.TRANSIENT, "graph_unknown"
        if error.is_transient and outcome in (Outcome.PAYLOAD, Outcome.REJECTED):
            outcome, reason = Outcome.TRANSIENT, "graph_transient"
    else:
        outcome, reason = _by_status(status)
        if error is not None and error.is_transient and outcome is Outcome.REJECTED:
            outcome, reason = Outcome.TRANSIENT, "graph_transient"
    wait = throttle_wait_s(headers) if outcome in (Outcome.THROTTLED, Outcome.TRANSIENT) else None
    return Classification(
        outcome,
        reason,
        status=status,
        error=error,
        wait_s=wait,
        fbtrace_id=error.fbtrace_id if error is not None else None,
    )


def _success(status: int, doc: Mapping[str, object] | None) -> Classification:
    received = doc.get("events_received") if doc is not None else None
    if doc is None or not isinstance(received, int) or isinstance(received, bool):
        return Classification(Outcome.TRANSIENT, "invalid_success_body", status=status)
    raw_messages = doc.get("messages")
    messages = (
        tuple(m for m in raw_messages if isinstance(m, str))
        if isinstance(raw_messages, list)
        else ()
    )
    trace = doc.get("fbtrace_id")
    return Classification(
        Outcome.DELIVERED,
        "delivered",
        status=status,
        events_received=received,
        messages=messages,
        fbtrace_id=trace if isinstance(trace, str) else None,
    )


def _by_status(status: int) -> tuple[Outcome, str]:
    """Fallback for replies without a Graph error code (after Segment's core/errors.ts)."""
    if status == 429:
        return Outcome.THROTTLED, "http_429"
    if status in (408, 423, 425):
        return Outcome.TRANSIENT, f"http_{status}"
    if status == 413:
        return Outcome.PAYLOAD, "http_413"
    if status in (401, 403, 404, 501) or 300 <= status < 400:
        return Outcome.CONFIG, f"http_{status}"
    if 400 <= status < 500:
        return Outcome.REJECTED, "http_4xx"
    if 500 <= status < 600:
        return Outcome.TRANSIENT, "http_5xx"
    return Outcome.TRANSIENT, "http_unexpected"


def _as_mapping(body: bytes | Mapping[str, object] | None) -> Mapping[str, object] | None:
    if body is None or isinstance(body, Mapping):
        return body
    if not body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError: HTML pages, truncated bodies
        return None
    return doc if isinstance(doc, dict) else None


def parse_graph_error(doc: Mapping[str, object]) -> GraphError | None:
    """Return the ``error`` object of a Graph body, or None when there is none."""
    err = doc.get("error")
    if not isinstance(err, Mapping):
        return None
    transient = err.get("is_transient")
    return GraphError(
        code=_int(err.get("code")),
        subcode=_int(err.get("error_subcode")),
        type=_str(err.get("type")),
        is_transient=transient if isinstance(transient, bool) else None,
        fbtrace_id=_str(err.get("fbtrace_id")),
        title=_str(err.get("error_user_title")),
        message=_str(err.get("message")),
    )


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def throttle_wait_s(headers: Mapping[str, str]) -> float | None:
    """Seconds Meta asks us to wait, or None when it gave no positive figure.

    Reads ``estimated_time_to_regain_access`` (minutes) anywhere in ``X-Business-Use-Case-Usage``,
    ``X-App-Usage`` and ``X-Ad-Account-Usage``, ``reset_time_duration`` (seconds) in
    ``X-Ad-Account-Usage``, and ``Retry-After`` in delta-seconds (an HTTP-date is ignored).
    The largest figure wins. Header names are matched case-insensitively.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    best = 0.0
    for name in _USAGE_HEADERS:
        raw = lowered.get(name)
        if not raw:
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        best = max(best, 60.0 * _max_number(doc, "estimated_time_to_regain_access"))
        if name == "x-ad-account-usage":
            best = max(best, _max_number(doc, "reset_time_duration"))
    retry_after = lowered.get("retry-after")
    if retry_after:
        try:
            seconds = float(retry_after.strip())
        except ValueError:
            seconds = 0.0
        if math.isfinite(seconds):
            best = max(best, seconds)
    return best if best > 0.0 else None


def _max_number(doc: object, key: str) -> float:
    """Largest finite, non-negative number stored under ``key`` at any depth of ``doc``."""
    best = 0.0
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k == key and isinstance(v, int | float) and not isinstance(v, bool):
                    if math.isfinite(v) and v > best:
                        best = float(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    return best
