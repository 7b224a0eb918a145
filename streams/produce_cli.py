"""`capi-streams produce FILE`: put events onto an input topic, for a first try or a backfill.

The file (`-` reads stdin) is one JSON object, a JSON array of them, or JSON Lines; each object
becomes one Kafka message as it is (`{"headers": {...}, "value": {...}}` gives a message its
own headers). With `--mapping` the file is CSV with a header row, mapped row by row by a
declarative mapping (a `[mappings.<name>]` of the config, or a TOML file holding one) into
native events, as `capi-streams import` does. `--format` and `--dataset` become the
`capi-format` and `capi-dataset` headers of every message; the worker checks everything else
and records each event's outcome. Lines or rows that are not events are named and skipped.

Kafka: `--bootstrap`, else `kafka.bootstrap_servers` of the config / environment, else the
local broker that `make run` (`capi-streams run`) or `capi-streams kafka start` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import functools
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.cli_options import add_config_option
from streams.cli_progress import Progress, Skipped, report_skipped
from streams.domain.formats import (
    BUILTIN_FORMATS,
    FORMAT_HEADER,
    MAPPING_PREFIX,
    NATIVE,
    MappingSpec,
    is_format_name,
    parse_format_config,
)
from streams.domain.formats.csv_rows import RowProblem, map_row, row_dict
from streams.domain.payload_helper import read_messages
from streams.domain.routing import DATASET_HEADER
from streams.kafka_connection.clients import client_kwargs
from streams.kafka_connection.preflight import check_connection
from streams.settings import ConfigError, Settings, check_bootstrap_servers, load_settings

__all__ = ["Message", "Skipped", "add_produce", "csv_messages", "json_messages", "with_bootstrap"]


@dataclass(frozen=True, slots=True)
class Message:
    """One message to produce: its position in the file (line, row or array index)."""

    position: int
    value: bytes = field(repr=False)
    headers: tuple[tuple[str, bytes], ...] = ()


def _header_bytes(value: object) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


def _event_time_now(event: dict[str, Any], now: float | None) -> dict[str, Any]:
    """Native events only (they have an event_name; Segment and GA4 messages take the Kafka
    record time themselves when they carry no time)."""
    if now is not None and "event_name" in event and event.get("event_time") in (None, ""):
        event["event_time"] = int(now)
    return event


def json_messages(data: bytes, now: float | None = None) -> list[Message | Skipped]:
    """The messages of a JSON object / array / JSON Lines file; `now` fills a missing
    event_time of each message."""
    out: list[Message | Skipped] = []
    for item in read_messages(data):
        if item.value is None:
            reason = item.problem.value if item.problem is not None else "not_an_object"
            out.append(Skipped(item.position, reason))
            continue
        headers = tuple((str(k), _header_bytes(v)) for k, v in item.headers.items())
        value = _event_time_now(dict(item.value), now)
        out.append(Message(item.position, orjson.dumps(value), headers))
    return out


def csv_messages(
    lines: Iterable[str], mapping: MappingSpec, now: float | None = None
) -> list[Message | Skipped]:
    """One native event per CSV row (row numbers count the header as row 1)."""
    rows = list(csv.reader(lines))
    if not rows:
        return []
    header = rows[0]
    out: list[Message | Skipped] = []
    native = ((FORMAT_HEADER, NATIVE.encode()),)
    for number, cells in enumerate(rows[1:], start=2):
        row = row_dict(header, cells)
        if isinstance(row, RowProblem):
            out.append(Skipped(number, row.value))
            continue
        result = map_row(row, mapping)
        if not result.events:
            reason = result.unmapped[0].reason.value if result.unmapped else "unmapped"
            out.append(Skipped(number, reason))
            continue
        for event in result.events:
            out.append(Message(number, orjson.dumps(_event_time_now(event, now)), native))
    return out


def with_bootstrap(
    settings: Settings, override: str | None, local: Callable[[], str | None]
) -> Settings:
    """`settings` with the Kafka address to use: `override`, the configured one, or `local()`
    (the local broker's, if one runs); ConfigError when there is none."""
    bootstrap = override or settings.kafka.bootstrap_servers or local()
    if not bootstrap:
        raise ConfigError(
            "kafka.bootstrap_servers: not set and no local broker runs "
            "(start one with `make run` or `capi-streams kafka start`, or pass --bootstrap)"
        )
    if override:
        try:
            check_bootstrap_servers(override)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("kafka.bootstrap_servers", "--bootstrap")) from None
    return dataclasses.replace(
        settings, kafka=dataclasses.replace(settings.kafka, bootstrap_servers=bootstrap)
    )


def _mapping(settings: Settings, name: str) -> MappingSpec:
    """`name` of the config's [mappings], or a TOML file with one [mappings.<name>] table."""
    if name.endswith(".toml") or os.sep in name:
        try:
            doc = tomllib.loads(Path(name).read_text(encoding="utf-8"))
            specs = parse_format_config(None, doc.get("mappings")).mappings
        except OSError as exc:
            raise ConfigError(f"--mapping {name}: cannot read it: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise ConfigError(f"--mapping {name}: {exc}") from None
        if len(specs) != 1:
            raise ConfigError(f"--mapping {name}: expected exactly one [mappings.<name>] table")
        return next(iter(specs.values()))
    spec = settings.formats.mappings.get(name)
    if spec is None:
        known = ", ".join(sorted(settings.formats.mappings)) or "none configured"
        raise ConfigError(f"--mapping {name}: not a [mappings] entry of the config ({known})")
    return spec


def _extra_headers(args: argparse.Namespace, settings: Settings) -> tuple[tuple[str, bytes], ...]:
    out: list[tuple[str, bytes]] = []
    if args.format is not None:
        if args.mapping is not None:
            raise ConfigError("--format: CSV rows are mapped here and sent as native events")
        if not is_format_name(args.format, settings.formats.mappings):
            known = [*BUILTIN_FORMATS, "auto"]
            known += [MAPPING_PREFIX + name for name in sorted(settings.formats.mappings)]
            raise ConfigError(f"--format {args.format}: expected one of {', '.join(known)}")
        out.append((FORMAT_HEADER, args.format.encode()))
    if args.dataset is not None:
        if not args.dataset.isdigit():
            raise ConfigError(f"--dataset {args.dataset}: expected a numeric dataset id")
        out.append((DATASET_HEADER, args.dataset.encode()))
    return tuple(out)


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None


def _messages(args: argparse.Namespace, settings: Settings) -> list[Message | Skipped]:
    data = _read(args.file)
    now = time.time() if args.event_time_now else None
    if args.mapping is None and args.file.lower().endswith(".csv"):
        raise ConfigError(f"{args.file}: CSV input needs --mapping (a [mappings] name or file)")
    if args.mapping is None:
        return json_messages(data, now)
    spec = _mapping(settings, args.mapping)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{args.file}: expected UTF-8 text") from None
    return csv_messages(text.splitlines(), spec, now)


async def _send(
    settings: Settings,
    topic: str,
    messages: Sequence[Message],
    extra: tuple[tuple[str, bytes], ...],
    progress: Progress,
) -> None:
    await check_connection(settings.kafka)  # an error names the [kafka] key to fix
    producer = AIOKafkaProducer(**client_kwargs(settings.kafka), acks="all", linger_ms=10)
    await producer.start()
    try:
        pending = []
        for done, message in enumerate(messages, 1):
            own = {name for name, _ in message.headers}
            headers = [*message.headers, *(h for h in extra if h[0] not in own)]
            pending.append(await producer.send(topic, message.value, headers=headers))
            progress.update(done)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _produce(args: argparse.Namespace, local: Callable[[], str | None]) -> int:
    settings = load_settings(args.config, os.environ)
    extra = _extra_headers(args, settings)
    topic = args.topic or settings.kafka.input_topics[0]
    items = _messages(args, settings)
    messages = [m for m in items if isinstance(m, Message)]
    skipped = [m for m in items if isinstance(m, Skipped)]
    unit = "rows" if args.mapping else "messages"
    print(f"{len(messages)} messages to produce to {topic}, {len(skipped)} {unit} skipped")
    report_skipped(skipped, "row " if args.mapping else "#", args.skipped_out)
    if not messages:
        return 1 if skipped else 0
    settings = with_bootstrap(settings, args.bootstrap, local)
    progress = Progress(len(messages), sys.stderr, unit="messages")
    asyncio.run(_send(settings, topic, messages, extra, progress))
    progress.close()
    print(f"produced {len(messages)} messages to {topic} at {settings.kafka.bootstrap_servers}")
    return 0


def add_produce(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], local: Callable[[], str | None]
) -> None:
    """The `produce` subcommand; `local()` gives the local broker's address, if one runs."""
    p = sub.add_parser(
        "produce", help="produce the events of a JSON, JSON Lines or CSV file to an input topic"
    )
    p.add_argument(
        "file", help="JSON object, JSON array, JSON Lines, or CSV with --mapping; - = stdin"
    )
    p.add_argument(
        "--topic", default=None, help="input topic (default: the first of kafka.input_topics)"
    )
    p.add_argument(
        "--format",
        default=None,
        help="capi-format header of every message: native, segment, rudderstack, ga4, cloudevents, "
        "auto, mapping:<name> (default: none, the topic's format applies)",
    )
    p.add_argument(
        "--dataset", default=None, metavar="ID", help="capi-dataset header of every message"
    )
    p.add_argument(
        "--mapping",
        default=None,
        metavar="NAME|FILE",
        help="read CSV rows through this declarative mapping: a [mappings] name of the config "
        "or a TOML file with one [mappings.<name>] table",
    )
    p.add_argument(
        "--event-time-now",
        action="store_true",
        help="give events without an event_time the current time (the examples have none)",
    )
    p.add_argument(
        "--bootstrap",
        default=None,
        metavar="HOST:PORT",
        help="Kafka address (default: kafka.bootstrap_servers, else the local broker)",
    )
    p.add_argument(
        "--skipped-out", default=None, metavar="FILE", help="write the skipped lines/rows here"
    )
    add_config_option(p, "the topic, mappings and Kafka address")
    p.set_defaults(func=functools.partial(_produce, local=local))
