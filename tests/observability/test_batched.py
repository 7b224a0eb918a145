"""Batched metric updates: the same samples as one update per observation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from streams.observability.batched import Children, observe_many

BUCKETS = (1, 5, 15, 60, 300, 3600, 86400)


def _samples(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


@given(
    st.lists(
        st.floats(min_value=0, max_value=10**7, allow_nan=False)
        | st.sampled_from([0.0, *map(float, BUCKETS)]),  # on a bucket's bound: le is inclusive
        max_size=60,
    )
)
def test_observe_many_fills_buckets_count_and_sum_as_observe_does(amounts: list[float]) -> None:
    one, many = CollectorRegistry(), CollectorRegistry()
    each = Histogram("delay", "d", ["dataset"], buckets=BUCKETS, registry=one).labels("1")
    for amount in amounts:
        each.observe(amount)
    bulk = Histogram("delay", "d", ["dataset"], buckets=BUCKETS, registry=many).labels("1")
    observe_many(bulk, amounts)
    buckets = [line for line in _samples(one) if "_sum" not in line]
    assert [line for line in _samples(many) if "_sum" not in line] == buckets
    summed = many.get_sample_value("delay_sum", {"dataset": "1"})
    assert summed == one.get_sample_value("delay_sum", {"dataset": "1"}) or (
        abs(summed - sum(amounts)) <= 1e-6 * max(1.0, sum(amounts))  # float addition order
    )


def test_children_are_the_metrics_own() -> None:
    registry = CollectorRegistry()
    counter = Counter("failed", "f", ["dataset", "reason"], registry=registry)
    children = Children(counter)
    children("1", "invalid_json").inc(3)
    children("1", "invalid_json").inc()
    counter.labels("1", "invalid_json").inc()
    labels = {"dataset": "1", "reason": "invalid_json"}
    assert registry.get_sample_value("failed_total", labels) == 5
    assert children("1", "invalid_json") is counter.labels("1", "invalid_json")
