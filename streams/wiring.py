"""Build every object of the worker from `Settings`, in one place.

`build_worker(settings, sink, registry)` returns the `Worker` parts: the metrics, the dataset
holds, the Graph client (it alone holds the tokens), the deliverer, the outcome writer, the
pipeline, the optional Event Match Quality poller, and the window timing. The faust app
(`streams.kafka.app`) only glues them to Kafka; tests and benchmarks build the same objects
here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from streams.capi.client import GraphClient
from streams.capi.delivery import Deliverer, DeliveryConfig
from streams.capi.holds import DatasetHolds
from streams.capi.quality import DatasetQualityClient
from streams.domain.batching import BatchLimits
from streams.domain.privacy.redact import KeepEvent
from streams.domain.retry import RetryPolicy
from streams.observability.emq import EmqPoller
from streams.observability.metrics import Metrics
from streams.observability.registry_metrics import RegistryMetrics
from streams.pipeline import OutcomeWriter, Pipeline, PipelineObserver, RecordSink
from streams.pipeline.registry import DecodingPipeline
from streams.registry.cache import SchemaCache
from streams.registry.client import RegistryClient
from streams.registry.decoder import RegistryDecoder
from streams.settings import Settings

__all__ = [
    "Worker",
    "build_pipeline",
    "build_registry_client",
    "build_worker",
    "delivery_config",
    "window_seconds",
]


@dataclass(frozen=True, slots=True)
class Worker:
    """The worker's objects, built from one `Settings`."""

    metrics: Metrics
    holds: DatasetHolds
    client: GraphClient
    deliverer: Deliverer
    pipeline: Pipeline | DecodingPipeline
    quality: tuple[DatasetQualityClient, EmqPoller] | None
    window_s: float
    registry: RegistryClient | None = None  # when a topic is registry-encoded


def window_seconds(settings: Settings) -> float:
    """A take-window closes when full or after `worker.take_within_ms`."""
    return max(settings.worker.take_within_ms / 1000, 0.001)


def delivery_config(settings: Settings) -> DeliveryConfig:
    g = settings.graph
    return DeliveryConfig(
        retry=RetryPolicy(
            max_attempts=g.max_attempts,
            base_s=g.retry_base_seconds,
            cap_s=g.retry_cap_seconds,
            max_elapsed_s=g.max_retry_seconds,
        ),
        max_in_flight=g.max_in_flight,
        config_retry_s=g.config_retry_seconds,
    )


def build_pipeline(
    settings: Settings,
    deliverer: Deliverer,
    sink: RecordSink,
    observer: PipelineObserver,
    *,
    registry: RegistryClient | None = None,
    registry_metrics: RegistryMetrics | None = None,
    clock: Callable[[], float] = time.time,
) -> Pipeline | DecodingPipeline:
    """The window pipeline over `deliverer` (and its holds), writing outcomes to `sink`;
    behind a registry decoder when `registry` is given (topics with `encoding = "registry"`)."""
    k = settings.kafka
    test_codes = {d.id: d.test_event_code for d in settings.datasets}
    outcomes = OutcomeWriter(
        sink,
        observer,
        responses_topic=k.responses_topic,
        failures_topic=k.failures_topic,
        test_codes=test_codes,
        keep_event=KeepEvent(settings.failures.keep_event),
        guards={d.id: d.pii_policy() for d in settings.datasets},
    )
    limits = {
        d.id: BatchLimits(max_events=d.max_events, max_bytes=d.max_bytes) for d in settings.datasets
    }
    pipeline = Pipeline(
        settings.admission(),
        limits,
        deliverer,
        deliverer.holds,
        outcomes,
        observer,
        test_codes=test_codes,
        clock=clock,
        batch_wait_s=settings.worker.batch_wait_ms / 1000,
    )
    if registry is None or settings.registry is None:
        return pipeline
    decoder = RegistryDecoder(
        SchemaCache(registry, settings.registry.cache_size, observer=registry_metrics),
        settings.formats.registry_encoded,
        max_message_bytes=k.max_message_bytes,
        retry_s=settings.registry.retry_seconds,
        sleep=deliverer.holds.sleep,
    )
    return DecodingPipeline(
        pipeline,
        decoder,
        outcomes,
        observer,
        include_raw=settings.failures.include_raw,
        clock=clock,
        on_waiting=registry_metrics.on_waiting if registry_metrics else lambda delta: None,
    )


def build_registry_client(settings: Settings) -> RegistryClient | None:
    """The schema registry client, when a topic is registry-encoded."""
    if settings.registry is None or not settings.formats.uses_registry:
        return None
    auth = settings.registry_auth.reveal() if settings.registry_auth is not None else None
    return RegistryClient(settings.registry, auth)


def build_worker(settings: Settings, sink: RecordSink, registry: CollectorRegistry) -> Worker:
    """Every object the worker runs, from validated settings."""
    g = settings.graph
    metrics = Metrics(
        registry,
        datasets=[d.id for d in settings.datasets],
        topics=settings.kafka.input_topics,
        graph_api_version=g.api_version,
        max_in_flight=g.max_in_flight,
    )
    tokens = {d.id: d.token for d in settings.datasets if d.token is not None}
    client = GraphClient(
        g.url,
        g.api_version,
        tokens=tokens,
        timeout_s=g.timeout_seconds,
        max_connections=max(8, g.max_in_flight * max(1, len(settings.datasets))),
    )
    holds = DatasetHolds(metrics, probe_every_s=g.config_retry_seconds)
    registry_client = build_registry_client(settings)
    deliverer = Deliverer(client, delivery_config(settings), metrics, holds=holds)
    quality: tuple[DatasetQualityClient, EmqPoller] | None = None
    if settings.quality.enabled:
        q = settings.quality
        quality_client = DatasetQualityClient(
            g.url,
            g.api_version,
            timeout_s=q.timeout_seconds,
            agent_name=q.agent_name or None,
            tokens=tokens,
        )
        poller = EmqPoller(
            quality_client,
            list(tokens),
            registry=registry,
            interval_s=q.interval_seconds,
            fetch_timeout_s=q.timeout_seconds * 2,
        )
        quality = (quality_client, poller)
    return Worker(
        metrics=metrics,
        holds=holds,
        client=client,
        deliverer=deliverer,
        pipeline=build_pipeline(
            settings,
            deliverer,
            sink,
            metrics,
            registry=registry_client,
            registry_metrics=RegistryMetrics(registry) if registry_client is not None else None,
        ),
        quality=quality,
        window_s=window_seconds(settings),
        registry=registry_client,
    )
