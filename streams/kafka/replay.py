"""`capi-streams replay`: re-send selected failure records to the input topics.

`run_replay(settings, options)` does, in this order:

1. Take a snapshot of the failures topic: its partitions and their end offsets now. Records
   written later (e.g. by replayed events that fail again) are not read in this run.
2. Read every partition from its beginning (with `since`: from the first record Kafka stamped
   at or after `since - SEEK_MARGIN_S`, as a failure record is stamped after its `failed_at`) up
   to the snapshot's end, with a consumer that has no group: assign and seek, nothing is
   committed. Each record goes through the `ReplayPlanner` (streams/domain/replay.py).
3. Unless `dry_run`, produce each selected message (idempotent producer, acks=all) and wait
   until Kafka acknowledged every one.

Replayed events keep their event_id, so Meta drops copies it already has (same event_name and
event_id, same dataset, within 48 hours). Running the same replay twice sends the events twice;
that is harmless at Meta within that window, except for business_messaging events, which Meta
never deduplicates (the summary warns about them).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.domain.records import SourceRef
from streams.domain.replay import (
    ReplayFilter,
    ReplayMessage,
    ReplayOptions,
    ReplayPlanner,
    ReplaySummary,
    parse_time,
)
from streams.kafka_connection.clients import client_kwargs
from streams.kafka_connection.preflight import check_connection
from streams.settings import KafkaSettings, Settings

__all__ = [
    "SEEK_MARGIN_S",
    "ReplayError",
    "ReplayOptions",
    "ReplaySummary",
    "add_arguments",
    "options_from_args",
    "run_from_args",
    "run_replay",
]

logger = logging.getLogger(__name__)

SEEK_MARGIN_S: Final = 900.0
"""Clock difference tolerated between a record's Kafka timestamp and its `failed_at`."""
_STALL_S: Final = 60.0  # no progress reading the snapshot for this long: give up
_ACK_EVERY: Final = 5000  # wait for acknowledgements every this many messages


class ReplayError(Exception):
    """The replay cannot run as asked; the message says why (topic names only)."""


async def run_replay(settings: Settings, options: ReplayOptions) -> ReplaySummary:
    """Replay the failure records `options` selects; see the module docstring."""
    k = settings.kafka
    if not k.bootstrap_servers:
        raise ReplayError("kafka.bootstrap_servers is empty")
    if options.topic in (k.failures_topic, k.responses_topic):
        raise ReplayError(f"--topic {options.topic}: that is an outcome topic, not an input")
    if options.topic is not None and options.topic not in k.input_topics:
        raise ReplayError(f"--topic {options.topic}: not one of kafka.input_topics")
    await check_connection(k)
    existing = await _topic_partitions(k)
    if k.failures_topic not in existing:
        raise ReplayError(f"failures topic {k.failures_topic} does not exist")
    if options.topic is not None and options.topic not in existing:
        raise ReplayError(f"--topic {options.topic}: topic does not exist")
    failures = [TopicPartition(k.failures_topic, p) for p in existing[k.failures_topic]]
    consumer = AIOKafkaConsumer(
        **client_kwargs(k),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        planner = ReplayPlanner(
            options,
            failures_topic=k.failures_topic,
            input_topics=[t for t in k.input_topics if t in existing],
            now=time.time(),
        )
        if options.dry_run:
            await _scan(consumer, failures, options.filter.since, planner, None)
            return planner.summary
        producer = AIOKafkaProducer(
            **client_kwargs(k),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1 << 20,
        )
        await producer.start()
        try:
            sender = _Sender(producer, planner.summary)
            await _scan(consumer, failures, options.filter.since, planner, sender.send)
            await sender.flush()
        finally:
            await producer.stop()
        return planner.summary
    finally:
        await consumer.stop()


class _Sender:
    """Produces messages, waiting for acknowledgements in chunks; counts the acknowledged."""

    def __init__(self, producer: AIOKafkaProducer, summary: ReplaySummary) -> None:
        self._producer = producer
        self._summary = summary
        self._pending: list[Awaitable[Any]] = []

    async def send(self, message: ReplayMessage) -> None:
        fut = await self._producer.send(
            message.topic, message.value, key=message.key, headers=list(message.headers)
        )
        self._pending.append(fut)
        if len(self._pending) >= _ACK_EVERY:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)
        self._summary.replayed += len(pending)


async def _start_offsets(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], since: float | None
) -> dict[TopicPartition, int | None]:
    """Where to start reading each partition (None: nothing there can match)."""
    begins: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
    if since is None:
        return dict(begins)
    stamp = max(0, int((since - SEEK_MARGIN_S) * 1000))
    found = await consumer.offsets_for_times(dict.fromkeys(tps, stamp))
    return {tp: (None if found.get(tp) is None else found[tp].offset) for tp in tps}


async def _topic_partitions(kafka: KafkaSettings) -> dict[str, list[int]]:
    """Every topic of the cluster and its partitions."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return {
        t["topic"]: sorted(p["partition"] for p in t["partitions"])
        for t in described
        if t["error_code"] == 0
    }


async def _scan(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    since: float | None,
    planner: ReplayPlanner,
    send: Callable[[ReplayMessage], Awaitable[None]] | None,
) -> None:
    """Offer every record of the snapshot of `tps` to `planner`; send what it selects."""
    consumer.assign(tps)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    starts = await _start_offsets(consumer, tps, since)
    pending: dict[TopicPartition, int] = {}
    for tp in tps:
        start = starts[tp]
        if start is not None and start < ends[tp]:
            consumer.seek(tp, start)
            pending[tp] = ends[tp]
        else:
            consumer.pause(tp)
    topic = tps[0].topic if tps else ""
    logger.info("replay snapshot topic=%s partitions=%d to_read=%d", topic, len(tps), len(pending))
    progress = time.monotonic()
    while pending and not planner.done:
        batch = await consumer.getmany(*pending, timeout_ms=500, max_records=2000)
        for tp, records in batch.items():
            end = pending.get(tp)
            if end is None:
                continue
            for r in records:
                if r.offset >= end or planner.done:
                    break
                message = planner.offer(r.value, SourceRef(tp.topic, tp.partition, r.offset))
                if message is not None and send is not None:
                    await send(message)
        if batch:
            progress = time.monotonic()
        for tp in list(pending):
            if await consumer.position(tp) >= pending[tp]:
                del pending[tp]
                consumer.pause(tp)
                progress = time.monotonic()
        if time.monotonic() - progress > _STALL_S:
            raise ReplayError(f"no progress reading {topic} for {_STALL_S:.0f} s")


# ---------------------------------------------------------------- command line


def _time_arg(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the replay options to `parser` (the caller adds --config)."""
    parser.add_argument(
        "--reason",
        action="append",
        default=[],
        metavar="R",
        help="only failures with this reason, e.g. retries_exhausted (repeatable)",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="ID",
        help="only failures of this dataset (repeatable)",
    )
    parser.add_argument(
        "--since",
        type=_time_arg,
        default=None,
        metavar="TIME",
        help="only failures with failed_at >= TIME (ISO-8601, no offset = UTC, or Unix seconds)",
    )
    parser.add_argument(
        "--until",
        type=_time_arg,
        default=None,
        metavar="TIME",
        help="only failures with failed_at < TIME",
    )
    parser.add_argument(
        "--topic",
        default=None,
        help="input topic to send to (default: each failure's source topic)",
    )
    parser.add_argument(
        "--limit", type=_limit_arg, default=None, metavar="N", help="send at most N messages"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="count what would be sent, by reason, dataset and topic; send nothing",
    )
    parser.add_argument(
        "--include-permanent",
        action="store_true",
        help="also re-send failures of the event's own content (missing_currency, "
        "graph_rejected, ...), which fail again unless the worker's checks changed",
    )


def options_from_args(args: argparse.Namespace) -> ReplayOptions:
    """The ReplayOptions described by parsed `add_arguments` options."""
    return ReplayOptions(
        filter=ReplayFilter(
            reasons=frozenset(args.reason),
            datasets=frozenset(args.dataset),
            since=args.since,
            until=args.until,
        ),
        topic=args.topic,
        limit=args.limit,
        dry_run=args.dry_run,
        include_permanent=args.include_permanent,
    )


def run_from_args(
    args: argparse.Namespace,
    settings: Settings,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run a replay from parsed options, print its summary; return the exit code.

    The CLI fills an empty `kafka.bootstrap_servers` with the local broker, when one runs.
    0: done (also when nothing matched); 2: the replay cannot run as asked. A Kafka error
    propagates (the command line reports it in one line, exit status 1).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    if not settings.kafka.bootstrap_servers:
        err.write(
            "capi-streams replay: kafka.bootstrap_servers is empty and no local broker "
            "runs (capi-streams kafka start)\n"
        )
        return 2
    try:
        summary = asyncio.run(run_replay(settings, options_from_args(args)))
    except (ReplayError, ValueError) as exc:
        err.write(f"capi-streams replay: {exc}\n")
        return 2
    for line in summary.lines():
        out.write(line + "\n")
    return 0
