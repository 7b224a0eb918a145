"""Fault injection: the configuration, the per-request decision and the faulty answers.

A fault is decided once per `/events` request, before the body is read or validated, by one
random draw against the cumulative probabilities (reset, hang, http_5xx, throttle, transient),
which must add up to at most 1. A faulted request records nothing. Every request that is
answered (faulted or not, except resets and hangs) is first delayed by the latency distribution:
`latency_ms` plus `uniform(0, latency_jitter_ms)` or `expovariate(mean=latency_jitter_ms)`.

`capacity` > 0 makes that delay a service time: at most `capacity` requests are served at once,
the others wait in line (first come, first served), so latency grows with the load, as at an
overloaded endpoint. A request whose client gave up (a timeout) still takes its turn: the server
does not know, and retries only lengthen the line.

Faulty answers:

* reset: the connection is aborted with an RST (SO_LINGER 0), no HTTP answer;
* hang: no answer for `hang_seconds` (cut short on shutdown), then 504 with an HTML body;
* http_5xx: a status drawn from `http_5xx_statuses`: 500 with a Graph JSON body (code 1),
  502/503/504 with an HTML body;
* throttle: HTTP 400, code drawn from `throttle_codes` (4, 17, 80004, ...), `is_transient: true`,
  with `X-Business-Use-Case-Usage` carrying `estimated_time_to_regain_access` =
  `throttle_minutes` (0 = retry soon) and, for code 4, `X-App-Usage`;
* transient: HTTP 500, code 2, `is_transient: true`.

`invalid_token_datasets` is not random: requests to those datasets fail with 190/460 until the
dataset is switched back (applied during authentication, after the random faults).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum

import orjson

from streams.dev.sandbox.errors import GraphError

__all__ = [
    "NO_FAULT",
    "Fault",
    "FaultConfig",
    "FaultConfigError",
    "FaultInjector",
    "FaultKind",
    "FaultReply",
    "decide",
    "fault_reply",
]

_THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
_LATENCY_DISTS = ("uniform", "exponential")


class FaultConfigError(ValueError):
    """A fault setting is out of range or unknown."""


class FaultKind(StrEnum):
    NONE = "none"
    RESET = "reset"
    HANG = "hang"
    HTTP_5XX = "http_5xx"
    THROTTLE = "throttle"
    TRANSIENT = "transient"


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Probabilities (0..1, summing to at most 1) and shapes of the injected faults."""

    http_5xx: float = 0.0
    http_5xx_statuses: tuple[int, ...] = (500, 502, 503)
    throttle: float = 0.0
    throttle_codes: tuple[int, ...] = (4, 17, 80004)
    throttle_minutes: int = 0
    transient: float = 0.0
    hang: float = 0.0
    hang_seconds: float = 30.0
    reset: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    latency_dist: str = "uniform"
    capacity: int = 0
    invalid_token_datasets: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        probs = (self.reset, self.hang, self.http_5xx, self.throttle, self.transient)
        for name, p in zip(
            ("reset", "hang", "http_5xx", "throttle", "transient"), probs, strict=True
        ):
            if not 0.0 <= p <= 1.0:
                raise FaultConfigError(f"{name} must be a probability in [0, 1]")
        if sum(probs) > 1.0 + 1e-9:
            raise FaultConfigError("the fault probabilities add up to more than 1")
        if not self.http_5xx_statuses or any(not 500 <= s <= 599 for s in self.http_5xx_statuses):
            raise FaultConfigError("http_5xx_statuses must be a non-empty list of 5xx statuses")
        if not self.throttle_codes or any(c not in _THROTTLE_CODES for c in self.throttle_codes):
            raise FaultConfigError("throttle_codes must be Graph throttling codes (4, 17, 80004..)")
        if self.throttle_minutes < 0:
            raise FaultConfigError("throttle_minutes must be >= 0")
        if self.hang_seconds <= 0:
            raise FaultConfigError("hang_seconds must be > 0")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise FaultConfigError("latency_ms and latency_jitter_ms must be >= 0")
        if self.capacity < 0:
            raise FaultConfigError("capacity must be >= 0 (0: no limit)")
        if self.latency_dist not in _LATENCY_DISTS:
            raise FaultConfigError("latency_dist must be 'uniform' or 'exponential'")

    @property
    def random_faults(self) -> bool:
        """True when any random fault has a non-zero probability."""
        return bool(self.reset or self.hang or self.http_5xx or self.throttle or self.transient)

    def to_json(self) -> dict[str, object]:
        doc = asdict(self)
        doc["http_5xx_statuses"] = list(self.http_5xx_statuses)
        doc["throttle_codes"] = list(self.throttle_codes)
        doc["invalid_token_datasets"] = sorted(self.invalid_token_datasets)
        return doc

    def with_changes(self, changes: Mapping[str, object]) -> FaultConfig:
        """A copy with the given fields changed (JSON types accepted); validates everything."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {sorted(unknown)}")
        coerced: dict[str, object] = {}
        for name, value in changes.items():
            coerced[name] = _coerce(name, value)
        return replace(self, **coerced)  # type: ignore[arg-type]


def _coerce(name: str, value: object) -> object:
    if name in ("http_5xx_statuses", "throttle_codes"):
        if not isinstance(value, list | tuple) or not all(type(v) is int for v in value):
            raise FaultConfigError(f"{name} must be a list of integers")
        return tuple(value)
    if name == "invalid_token_datasets":
        if not isinstance(value, list | tuple | set | frozenset) or not all(
            isinstance(v, str) for v in value
        ):
            raise FaultConfigError(f"{name} must be a list of dataset ids")
        return frozenset(value)
    if name == "latency_dist":
        if not isinstance(value, str):
            raise FaultConfigError(f"{name} must be a string")
        return value
    if name in ("throttle_minutes", "capacity"):
        if type(value) is not int:
            raise FaultConfigError(f"{name} must be an integer")
        return value
    if type(value) not in (int, float):
        raise FaultConfigError(f"{name} must be a number")
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do with one request: the kind, a delay before answering, and its details."""

    kind: FaultKind
    delay_s: float = 0.0
    status: int = 0
    code: int = 0


NO_FAULT = Fault(FaultKind.NONE)


def decide(config: FaultConfig, rng: random.Random) -> Fault:
    """Draw the fault of one request."""
    delay = 0.0
    if config.latency_ms or config.latency_jitter_ms:
        jitter = config.latency_jitter_ms
        if jitter and config.latency_dist == "exponential":
            extra = rng.expovariate(1.0 / jitter)
        else:
            extra = rng.uniform(0.0, jitter) if jitter else 0.0
        delay = (config.latency_ms + extra) / 1000.0
    if not config.random_faults:
        return Fault(FaultKind.NONE, delay) if delay else NO_FAULT
    r = rng.random()
    edge = config.reset
    if r < edge:
        return Fault(FaultKind.RESET)
    edge += config.hang
    if r < edge:
        return Fault(FaultKind.HANG, config.hang_seconds)
    edge += config.http_5xx
    if r < edge:
        return Fault(FaultKind.HTTP_5XX, delay, status=rng.choice(config.http_5xx_statuses))
    edge += config.throttle
    if r < edge:
        return Fault(FaultKind.THROTTLE, delay, status=400, code=rng.choice(config.throttle_codes))
    edge += config.transient
    if r < edge:
        return Fault(FaultKind.TRANSIENT, delay, status=500, code=2)
    return Fault(FaultKind.NONE, delay) if delay else NO_FAULT


class FaultInjector:
    """The current FaultConfig (replaced whole on change) and the random source."""

    __slots__ = ("config", "rng")

    def __init__(self, config: FaultConfig | None = None, seed: int | None = None) -> None:
        self.config = config or FaultConfig()
        self.rng = random.Random(seed)

    def decide(self) -> Fault:
        return decide(self.config, self.rng)

    def token_invalid(self, dataset_id: str) -> bool:
        return dataset_id in self.config.invalid_token_datasets

    def set_token_invalid(self, dataset_id: str, invalid: bool) -> None:
        current = self.config.invalid_token_datasets
        updated = current | {dataset_id} if invalid else current - {dataset_id}
        self.config = replace(self.config, invalid_token_datasets=frozenset(updated))


@dataclass(frozen=True, slots=True)
class FaultReply:
    """An HTTP answer for a fault (resets have none)."""

    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str]


_THROTTLE_ERRORS: dict[int, tuple[int | None, str]] = {
    4: (None, "(#4) Application request limit reached"),
    17: (2446079, "(#17) User request limit reached"),
    32: (None, "(#32) Page request limit reached"),
    613: (None, "(#613) Calls to this api have exceeded the rate limit."),
    80004: (
        2446079,
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. "
        "For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
    ),
}
_HTML = "text/html; charset=utf-8"
_JSON = "application/json; charset=UTF-8"
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _html(status: int) -> bytes:
    reason = _REASONS.get(status, "Gateway Timeout" if status == 504 else "Server Error")
    return (
        f"<!DOCTYPE html><html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{status} {reason}</h1><p>Sorry, something went wrong.</p></body></html>"
    ).encode()


def fault_reply(fault: Fault, config: FaultConfig, dataset_id: str, fbtrace_id: str) -> FaultReply:
    """The answer for a HANG (after the wait), HTTP_5XX, THROTTLE or TRANSIENT fault."""
    trace = {"x-fb-trace-id": fbtrace_id}
    if fault.kind is FaultKind.HANG:
        return FaultReply(504, _html(504), _HTML, trace)
    if fault.kind is FaultKind.HTTP_5XX:
        if fault.status == 500:
            err = GraphError(500, 1, "An unknown error occurred", subcode=99)
            return FaultReply(500, err.body(fbtrace_id), _JSON, trace)
        return FaultReply(fault.status, _html(fault.status), _HTML, trace)
    if fault.kind is FaultKind.TRANSIENT:
        err = GraphError(
            500,
            2,
            "An unexpected error has occurred. Please retry your request later.",
            is_transient=True,
        )
        return FaultReply(500, err.body(fbtrace_id), _JSON, trace)
    if fault.kind is FaultKind.THROTTLE:
        subcode, message = _THROTTLE_ERRORS.get(
            fault.code, (None, f"(#{fault.code}) There have been too many calls. Wait a bit.")
        )
        err = GraphError(400, fault.code, message, subcode=subcode, is_transient=True)
        usage = {
            dataset_id: [
                {
                    "type": "ads_management",
                    "call_count": 100,
                    "total_cputime": 28,
                    "total_time": 31,
                    "estimated_time_to_regain_access": config.throttle_minutes,
                }
            ]
        }
        headers = {**trace, "X-Business-Use-Case-Usage": orjson.dumps(usage).decode()}
        if fault.code == 4:
            headers["X-App-Usage"] = '{"call_count":100,"total_cputime":28,"total_time":31}'
        return FaultReply(400, err.body(fbtrace_id), _JSON, headers)
    raise ValueError(f"no reply for fault kind {fault.kind}")
