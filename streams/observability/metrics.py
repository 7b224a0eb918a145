"""Prometheus metrics of the worker, built on an injected registry.

Names follow Prometheus conventions: base units (seconds, bytes), `_total` counters, one
`capi_` prefix. Labels come only from the config (dataset, topic) or closed enums (reason,
outcome, field, key); every configured dataset's children are created at start so dashboards
see zeros instead of gaps. The README's metrics table lists the same catalogue.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams import __version__
from streams.domain.classify import Outcome
from streams.domain.model import USER_DATA_HASHED_KEYS, USER_DATA_PLAIN_KEYS
from streams.observability.batched import Children, observe_many

__all__ = ["MATCH_KEYS", "MAX_GUARDED_FIELDS", "Metrics"]

# Customer-information keys whose presence drives Meta's Event Match Quality (Meta's
# Conversions API docs: Customer Information Parameters).
MATCH_KEYS = tuple(sorted(USER_DATA_HASHED_KEYS | USER_DATA_PLAIN_KEYS))
_MATCH_KEY_SET = frozenset(MATCH_KEYS)
NO_DATASET = "none"
MAX_GUARDED_FIELDS = 200  # distinct `field` labels of capi_pii_guarded_total per dataset
OTHER_FIELD = "other"


class Metrics:
    """All worker metrics; the Deliverer's Observer (on_request, on_retry, ...) and the
    Pipeline's (on_consumed, on_failed, ...)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        datasets: Iterable[str],
        topics: Iterable[str],
        graph_api_version: str,
        max_in_flight: int = 4,
    ) -> None:
        self.registry = registry
        self._max_in_flight = max_in_flight
        r = registry
        self.consumed = Counter(
            "capi_events_consumed", "Input messages consumed", ["topic"], registry=r
        )
        self.failed = Counter(
            "capi_events_failed",
            "Events written to the failures topic, by dataset and reason",
            ["dataset", "reason"],
            registry=r,
        )
        self.unmapped = Counter(
            "capi_events_unmapped",
            "Source events an input format could not map, by format, reason and action",
            ["format", "reason", "action"],
            registry=r,
        )
        self.dropped = Counter(
            "capi_user_data_dropped",
            "Customer-information values dropped during normalization",
            ["field", "reason"],
            registry=r,
        )
        self.guarded = Counter(
            "capi_pii_guarded",
            "Fields the PII guard removed or hashed outside user_data, by path pattern",
            ["dataset", "field", "action"],
            registry=r,
        )
        self._guarded_fields: dict[str, set[str]] = {}
        self.delivered = Counter(
            "capi_events_delivered",
            "Events accepted by Meta (events_received)",
            ["dataset"],
            registry=r,
        )
        self.requests = Counter(
            "capi_requests", "Graph API requests by outcome", ["dataset", "outcome"], registry=r
        )
        self.request_duration = Histogram(
            "capi_request_duration_seconds",
            "Graph API request duration",
            ["dataset"],
            buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.batch_events = Histogram(
            "capi_batch_events",
            "Events per delivered request",
            ["dataset"],
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 750, 1000),
            registry=r,
        )
        self.event_delay = Histogram(
            "capi_event_delay_seconds",
            "Delay from event_time to delivery",
            ["dataset"],
            buckets=(
                1,
                5,
                15,
                60,
                300,
                900,
                3600,
                6 * 3600,
                86400,
                3 * 86400,
                6 * 86400,
                7 * 86400,
            ),
            registry=r,
        )
        self.retries = Counter(
            "capi_retries", "Requests retried after a transient error", ["dataset"], registry=r
        )
        self.throttles = Counter(
            "capi_throttle_pauses",
            "Times a dataset was paused by throttling",
            ["dataset"],
            registry=r,
        )
        self.throttle_seconds = Counter(
            "capi_throttle_paused_seconds",
            "Seconds of throttle pauses requested",
            ["dataset"],
            registry=r,
        )
        self.paused = Gauge(
            "capi_dataset_paused",
            "1 while a dataset is held for a configuration or token error",
            ["dataset"],
            registry=r,
        )
        self.in_flight = Gauge(
            "capi_requests_in_flight", "Graph API requests in flight", ["dataset"], registry=r
        )
        self.in_flight_limit = Gauge(
            "capi_graph_in_flight_limit",
            "Graph API requests a dataset may have in flight now: graph.max_in_flight, halved on "
            "timeouts and 5xx answers, raised by one per window of answered requests",
            ["dataset"],
            registry=r,
        )
        self.records = Counter(
            "capi_output_records",
            "Outcome records produced and acknowledged by Kafka",
            ["topic", "kind"],
            registry=r,
        )
        self.last_success = Gauge(
            "capi_last_success_timestamp_seconds",
            "Unix time of the last request Meta accepted",
            ["dataset"],
            registry=r,
        )
        self.match_keys = Counter(
            "capi_match_key_events",
            "Delivered events carrying each customer-information key",
            ["dataset", "key"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "capi_consumer_lag",
            "Messages between the last acked offset (or the fetch position) and the end of "
            "each assigned input partition",
            ["topic", "partition"],
            registry=r,
        )
        self.pending_windows = Gauge(
            "capi_windows_pending", "Take windows in flight, not yet acked", registry=r
        )
        self.window_failures = Counter(
            "capi_window_failures",
            "Processing windows that failed unexpectedly (the worker then stops, exit status 70)",
            registry=r,
        )
        self.build_info = Gauge(
            "capi_build_info",
            "Build information (always 1)",
            ["version", "graph_api_version"],
            registry=r,
        )
        self.build_info.labels(__version__, graph_api_version).set(1)
        # children of the counters updated per event or record, without `labels()` each time
        self._failed = Children(self.failed)
        self._records = Children(self.records)
        self._dropped = Children(self.dropped)
        self._guarded = Children(self.guarded)
        self._unmapped = Children(self.unmapped)
        for topic in topics:
            self.consumed.labels(topic)
        for ds in datasets:
            self._init_dataset(ds)

    def _init_dataset(self, ds: str) -> None:
        for m in (self.delivered, self.retries, self.throttles, self.throttle_seconds):
            m.labels(ds)
        for outcome in Outcome:
            self.requests.labels(ds, outcome.value)
        self.request_duration.labels(ds)
        self.batch_events.labels(ds)
        self.event_delay.labels(ds)
        self.paused.labels(ds).set(0)
        self.in_flight.labels(ds).set(0)
        self.in_flight_limit.labels(ds).set(self._max_in_flight)
        self.last_success.labels(ds)
        for key in MATCH_KEYS:
            self.match_keys.labels(ds, key)

    # Deliverer Observer protocol ------------------------------------------------------------
    def on_request(self, dataset: str, outcome: Outcome, duration_s: float, n_events: int) -> None:
        self.requests.labels(dataset, outcome.value).inc()
        self.request_duration.labels(dataset).observe(duration_s)

    def on_retry(self, dataset: str) -> None:
        self.retries.labels(dataset).inc()

    def on_throttle(self, dataset: str, seconds: float) -> None:
        self.throttles.labels(dataset).inc()
        self.throttle_seconds.labels(dataset).inc(seconds)

    def on_paused(self, dataset: str, paused: bool) -> None:
        self.paused.labels(dataset).set(1 if paused else 0)

    def on_in_flight(self, dataset: str, delta: int) -> None:
        self.in_flight.labels(dataset).inc(delta)

    def on_in_flight_limit(self, dataset: str, limit: int) -> None:
        self.in_flight_limit.labels(dataset).set(limit)

    # Pipeline observer protocol (streams.pipeline.observer) ---------------------------------
    def on_consumed(self, topic: str, n: int) -> None:
        self.consumed.labels(topic).inc(n)

    def on_unmapped(self, fmt: str, reason: str, action: str, n: int = 1) -> None:
        self._unmapped(fmt, reason, action).inc(n)

    def on_dropped(self, field: str, reason: str, n: int = 1) -> None:
        self._dropped(field, reason).inc(n)

    def on_guarded(self, dataset: str, field: str, action: str, n: int = 1) -> None:
        # Field patterns come from input keys: bounded per dataset, the rest counted as other.
        seen = self._guarded_fields.setdefault(dataset, set())
        if field not in seen:
            if len(seen) >= MAX_GUARDED_FIELDS:
                field = OTHER_FIELD
            else:
                seen.add(field)
        self._guarded(dataset, field, action).inc(n)

    def on_failed(self, dataset: str | None, reason: str, n: int = 1) -> None:
        self._failed(dataset or NO_DATASET, reason).inc(n)

    def on_record(self, topic: str, kind: str) -> None:
        self._records(topic, kind).inc()

    def on_delivered(
        self,
        dataset: str,
        events: Iterable[Mapping[str, Any]],
        n: int,
        now: float,
    ) -> None:
        self.delivered.labels(dataset).inc(n)
        self.batch_events.labels(dataset).observe(n)
        self.last_success.labels(dataset).set(now)
        delays: list[float] = []
        keys: list[Iterable[str]] = []
        for event in events:
            event_time = event.get("event_time")
            if isinstance(event_time, int):
                delays.append(max(0.0, now - event_time))
            user_data = event.get("user_data")
            if isinstance(user_data, Mapping):
                keys.append(user_data.keys())
        observe_many(self.event_delay.labels(dataset), delays)
        for key, count in Tally(chain.from_iterable(keys)).items():
            if key in _MATCH_KEY_SET:
                self.match_keys.labels(dataset, key).inc(count)
