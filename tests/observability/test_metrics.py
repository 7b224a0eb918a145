"""Metrics: the PII guard's counter has bounded labels."""

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
