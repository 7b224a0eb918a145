"""Metrics: the PII guard's counter has bounded labels; counts per request and window."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streams.observability.metrics import MAX_GUARDED_FIELDS, Metrics


def _metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry, datasets=["1"], topics=["t"], graph_api_version="v25.0"), registry


def test_guarded_fields_are_counted_by_dataset_field_and_action() -> None:
    metrics, registry = _metrics()
    metrics.on_guarded("1", "custom_data.customer_email", "drop")
    metrics.on_guarded("1", "custom_data.customer_email", "drop")
    metrics.on_guarded("1", "event_source_url?email", "hash")
    labels = {"dataset": "1", "field": "custom_data.customer_email", "action": "drop"}
    assert registry.get_sample_value("capi_pii_guarded_total", labels) == 2
    labels = {"dataset": "1", "field": "event_source_url?email", "action": "hash"}
    assert registry.get_sample_value("capi_pii_guarded_total", labels) == 1


def test_field_labels_are_bounded_per_dataset() -> None:
    metrics, registry = _metrics()
    for i in range(MAX_GUARDED_FIELDS + 50):
        metrics.on_guarded("1", f"custom_data.k{i}", "drop")
    metrics.on_guarded("1", "custom_data.k0", "drop")  # a known field keeps its label
    samples = [
        s
        for family in registry.collect()
        if family.name == "capi_pii_guarded"
        for s in family.samples
        if s.name == "capi_pii_guarded_total"
    ]
    fields = {s.labels["field"] for s in samples}
    assert len(fields) == MAX_GUARDED_FIELDS + 1
    other = {"dataset": "1", "field": "other", "action": "drop"}
    assert registry.get_sample_value("capi_pii_guarded_total", other) == 50
    k0 = {"dataset": "1", "field": "custom_data.k0", "action": "drop"}
    assert registry.get_sample_value("capi_pii_guarded_total", k0) == 2


def test_a_delivered_request_counts_its_events_delays_and_match_keys() -> None:
    metrics, registry = _metrics()
    now = 1_800_000_000.0
    events = [
        {"event_time": int(now) - 30, "user_data": {"em": ["h"], "ph": ["h"], "fbp": "fb.1.2.3"}},
        {"event_time": int(now) - 7200, "user_data": {"em": ["h"], "not_a_key": 1}},
        {"event_time": int(now) + 5, "user_data": {"client_user_agent": "UA"}},  # clock skew: 0
        {"user_data": "not an object"},
    ]
    metrics.on_delivered("1", iter(events), len(events), now)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"dataset": "1", **labels})

    assert sample("capi_events_delivered_total") == 4
    assert sample("capi_event_delay_seconds_count") == 3
    assert sample("capi_event_delay_seconds_sum") == 30 + 7200
    assert sample("capi_event_delay_seconds_bucket", le="1.0") == 1  # the skewed one
    assert sample("capi_event_delay_seconds_bucket", le="60.0") == 2
    assert sample("capi_event_delay_seconds_bucket", le="3600.0") == 2
    assert sample("capi_event_delay_seconds_bucket", le="21600.0") == 3
    keys = {"em": 2, "ph": 1, "fbp": 1, "client_user_agent": 1, "ln": 0}
    for key, count in keys.items():
        assert sample("capi_match_key_events_total", key=key) == count
    assert sample("capi_match_key_events_total", key="not_a_key") is None


def test_failures_and_drops_count_by_the_number_reported() -> None:
    metrics, registry = _metrics()
    metrics.on_failed("1", "invalid_currency", 3)
    metrics.on_failed(None, "invalid_json")
    metrics.on_dropped("ph", "invalid", 2)
    failed = "capi_events_failed_total"
    assert registry.get_sample_value(failed, {"dataset": "1", "reason": "invalid_currency"}) == 3
    assert registry.get_sample_value(failed, {"dataset": "none", "reason": "invalid_json"}) == 1
    dropped = {"field": "ph", "reason": "invalid"}
    assert registry.get_sample_value("capi_user_data_dropped_total", dropped) == 2
