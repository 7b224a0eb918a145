"""The faust app: glue between Kafka (topics, the agent, rebalances, shutdown) and the worker
objects that `streams.wiring` builds from the settings.

`create_app(settings, ...)` builds a fresh app (no module-level singleton). Its consumer is
`streams.kafka.faust_private.BatchConsumer` (transport `capi://`): each fetched partition batch
goes whole to a `Handover`, and the app's one task takes windows of records from it and hands
them to a `WindowRunner`, which processes windows concurrently and acks them in order once
their outcomes are durable (acks go into faust's consumer state; faust commits).
On stop, the dataset holds are stopped first (delivery waits end, unfinished events come back
held), so faust's wait for in-flight events and its final commit finish within the request
timeout.
"""

from __future__ import annotations

import gc
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from streams.domain.records import SourceRef
from streams.kafka import metadata_backoff
from streams.kafka.faust_private import SCHEME, BatchConsumer
from streams.kafka.handover import Handover, Record
from streams.kafka.windows import WindowRunner
from streams.kafka_connection.clients import faust_credentials
from streams.pipeline import InputMessage
from streams.settings import Settings
from streams.wiring import Worker, build_worker

__all__ = ["CapiApp", "create_app"]

logger = logging.getLogger(__name__)


class _FaustSink:
    """RecordSink over faust topics: `send` queues the record, the returned future resolves
    when Kafka acknowledged it (producer acks=all)."""

    def __init__(self, topics: dict[str, Any]) -> None:
        self._topics = topics

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        fut: Awaitable[Any] = await self._topics[topic].send(key=key, value=value)
        return fut


def _to_input(record: Record) -> InputMessage:
    headers: dict[str, bytes] = {}
    for name, raw in record.headers or ():
        if isinstance(name, str) and isinstance(raw, bytes | None):
            headers[name] = raw or b""
    ts = record.timestamp
    key = record.key
    value = record.value
    return InputMessage(
        source=SourceRef(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=ts if isinstance(ts, int) else None,
        ),
        key=key if isinstance(key, bytes) else None,
        value=value if isinstance(value, bytes) else None,
        headers=headers,
    )


class CapiApp(faust.App):
    """faust.App that starts and stops the worker's clients and tells the dataset holds about
    rebalances and shutdown (`streams.capi.holds`).

    faust waits for every in-flight event before it gives partitions away or stops. A dataset
    held for a token error could make that wait endless, so: at shutdown the holds are stopped
    at once, and when a rebalance still waits after `rebalance_grace_s` they are released
    (delivery resumes when the rebalance ends). Held events are never acked; faust seeks back
    to the committed offsets after the rebalance and they come again.
    """

    capi: Worker
    capi_handover: Handover
    capi_runner: WindowRunner | None = None
    capi_rebalance_grace_s: float = 10.0

    def on_rebalance_start(self) -> None:
        super().on_rebalance_start()
        self.capi.holds.rebalance_started(self.capi_rebalance_grace_s, lambda: self.rebalancing)

    def on_rebalance_end(self) -> None:
        super().on_rebalance_end()
        if self.capi_runner is not None:
            self.capi_runner.reset_blocks()
        self.capi.holds.rebalance_ended(shutting_down=bool(self.should_stop))

    async def on_start(self) -> None:
        await self.capi.client.start()
        if self.capi.registry is not None:
            await self.capi.registry.start()
        if self.capi.quality is not None:
            client, poller = self.capi.quality
            await client.start()
            await poller.start()
        await super().on_start()

    async def on_started(self) -> None:
        await super().on_started()
        # Everything allocated so far (modules, faust's services, clients) lives as long as
        # the process: keep it out of full collections. Measured together with the worker's
        # GC thresholds (run_worker); on its own, freezing made no measurable difference.
        gc.freeze()

    async def on_stop(self) -> None:
        logger.info("stopping: ending delivery waits, draining in-flight windows")
        self.capi.holds.stop()
        consumer = self._consumer
        if isinstance(consumer, BatchConsumer):
            consumer.stop_flow()  # fetched records not taken yet are dropped, not processed
            consumer.drop_queued()
        await super().on_stop()

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        if self.capi.quality is not None:
            client, poller = self.capi.quality
            await poller.stop()
            await client.close()
        if self.capi.registry is not None:
            await self.capi.registry.close()
        await self.capi.client.close()


def _consumer(app: faust.App) -> BatchConsumer:
    consumer = app.consumer
    if not isinstance(consumer, BatchConsumer):
        raise RuntimeError(f"the app's consumer is {type(consumer).__name__}, not BatchConsumer")
    return consumer


def read_ahead_events(settings: Settings) -> int:
    """Records fetched ahead of the windows (the hand-over's bound): twice a window, but no more
    than worker.max_unacked_bytes of the largest messages (kafka.max_message_bytes), so that
    large messages cannot fill memory ahead of the unacked bound (at least 64)."""
    w = settings.worker
    by_bytes = w.max_unacked_bytes // settings.kafka.max_message_bytes
    return max(64, min(2 * w.take_max, by_bytes))


def _release(record: Record) -> None:
    """Drop a processed record's input value: a held record keeps only its coordinates."""
    record.value = None


def _broker_urls(bootstrap: str, scheme: str = "kafka") -> list[str]:
    return [f"{scheme}://{h.strip()}" for h in bootstrap.split(",") if h.strip()]


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    datadir: Path | None = None,
    on_broken: Callable[[int], None] = lambda events: None,
) -> CapiApp:
    """Build the worker's faust app from validated settings. `on_broken` is told when a
    window failed unexpectedly (after capi_window_failures_total counted it)."""
    k = settings.kafka
    w = settings.worker
    if not k.bootstrap_servers:
        raise ValueError("kafka.bootstrap_servers is empty")
    app = _faust_app(settings, datadir)
    app.capi_rebalance_grace_s = w.rebalance_grace_seconds
    inputs = app.topic(
        *k.input_topics,
        value_type=bytes,
        key_type=bytes,
        value_serializer="raw",
        key_serializer="raw",
    )
    outputs = {
        name: app.topic(
            name, partitions=k.topic_partitions, value_serializer="raw", key_serializer="raw"
        )
        for name in (k.responses_topic, k.failures_topic)
    }
    app.topics.add(inputs)  # subscribed by faust's conductor; read through the hand-over
    # read-ahead: beyond the unacked bounds, so kept small in bytes (a quarter of them)
    app.capi_handover = Handover(read_ahead_events(settings), max(1, w.max_unacked_bytes // 4))
    reg = registry if registry is not None else CollectorRegistry()
    worker = app.capi = build_worker(settings, _FaustSink(outputs), reg)

    def broken(events: int) -> None:
        worker.metrics.window_failures.inc()
        on_broken(events)

    async def forward() -> None:
        consumer = _consumer(app)

        async def ack(record: Record) -> None:
            consumer.ack_record(record)

        runner = WindowRunner(
            worker.pipeline.process,
            ack,
            _to_input,
            max_pending=w.max_pending_windows,
            max_unacked=w.max_unacked_events,
            max_unacked_bytes=w.max_unacked_bytes,
            on_pending=worker.metrics.pending_windows.set,
            discard=consumer.abandon,
            release=_release,
            on_broken=broken,
        )
        app.capi_runner = runner
        await runner.run(app.capi_handover.windows(w.take_max, worker.window_s))

    app.task(forward, traced=False)
    app.timer(interval=5.0, name="capi-lag")(_lag_reporter(app, frozenset(k.input_topics)))
    return app


def _faust_app(settings: Settings, datadir: Path | None) -> CapiApp:
    """The faust app object and its Kafka client settings."""
    k = settings.kafka
    data = datadir or Path(tempfile.gettempdir()) / "capi-streams" / k.consumer_group
    data.parent.mkdir(parents=True, exist_ok=True)
    metadata_backoff.install()
    session_s = k.session_timeout_seconds
    return CapiApp(
        k.consumer_group,
        # faust reads un-prefixed variables (PRODUCER_ACKS, BROKER_URL, ...) from the
        # environment and lets them override the settings below: not for this app.
        env={},
        broker=_broker_urls(k.bootstrap_servers),
        broker_consumer=_broker_urls(k.bootstrap_servers, SCHEME),
        broker_credentials=faust_credentials(k),
        broker_session_timeout=session_s,
        consumer_group_instance_id=k.group_instance_id or None,
        broker_heartbeat_interval=min(3.0, max(0.5, session_s / 10)),
        broker_request_timeout=max(90.0, session_s + 10),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        datadir=str(data),
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=True,
        topic_partitions=k.topic_partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_max_poll_records=5000,
        consumer_max_fetch_size=4 * 1024 * 1024,
        stream_wait_empty=True,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_request_size=max(1_048_576, 2 * k.max_message_bytes),
        logging_config=None,
    )


def _lag_reporter(app: CapiApp, input_names: frozenset[str]) -> Callable[[], Awaitable[None]]:
    reported: set[tuple[str, int]] = set()

    async def report_lag() -> None:
        """Consumer lag per assigned input partition, every few seconds."""
        metrics = app.capi.metrics
        try:
            assigned = {tp for tp in app.consumer.assignment() if tp.topic in input_names}
            runner = app.capi_runner
            for tp in assigned:
                high = app.consumer.highwater(tp)
                if high is None:
                    continue
                done = runner.acked_next.get((tp.topic, tp.partition)) if runner else None
                if done is None:
                    done = await app.consumer.position(tp)
                if done is None:
                    continue
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - done))
            current = {(tp.topic, tp.partition) for tp in assigned}
            for topic, partition in reported - current:  # revoked: stop reporting it
                metrics.consumer_lag.remove(topic, str(partition))
            reported.clear()
            reported.update(current)
        except Exception:  # a metric must never take the worker down
            logger.debug("lag report failed", exc_info=True)

    return report_lag
