"""`capi-streams validate` (a command-line Payload Helper) and `capi-streams import` (CSV
offline conversions onto an input topic).

validate: for each event of a JSON / JSON-array / JSON Lines file, print what would be sent
(hashed) or why it would fail, and which customer-information values were dropped and why;
exit 1 when any event would fail. Needs neither Kafka nor a token.

import: read a CSV export with a declarative column mapping from the config
(`[mappings.<name>]`), check each row with the same transform the worker runs, produce one
native event per good row onto a topic (header `capi-format: native`), show progress and
report the rows skipped and why, by row number (`--skipped-out FILE` writes them all). Rows
default to `action_source = physical_store` (62 days).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.cli_options import add_config_option
from streams.cli_progress import Progress, Skipped, report_skipped
from streams.domain.formats import FORMAT_HEADER, NATIVE, MappingSpec, UnmappedAction
from streams.domain.formats.csv_rows import RowProblem, map_row, row_dict
from streams.domain.payload_helper import (
    Explanation,
    Verdict,
    explain,
    has_failures,
    render_text,
)
from streams.domain.payload_report import escape_controls, render_jsonl
from streams.domain.registry import split_wire_file
from streams.domain.registry.config import RegistryConfig
from streams.domain.transform import DatasetPolicy, Rejected, transform
from streams.kafka_connection.clients import client_kwargs
from streams.kafka_connection.preflight import check_connection
from streams.registry.client import RegistryUnavailable
from streams.registry.files import decode_file_messages
from streams.settings import (
    DEFAULT_MAX_EVENT_BYTES,
    ConfigError,
    DatasetSettings,
    Settings,
    load_settings,
)
from streams.validate_args import check_validate_args

__all__ = ["add_import", "add_validate"]


def _dataset(settings: Settings, dataset: str | None) -> DatasetSettings | None:
    chosen = dataset or settings.routing.default_dataset
    return settings.dataset(chosen) if chosen else None


def _policy(settings: Settings, dataset: str | None) -> DatasetPolicy:
    configured = _dataset(settings, dataset)
    if configured is not None:
        return configured.policy()
    return DatasetPolicy(dataset or "validate")


def _validate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(f"capi-streams validate: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"capi-streams validate: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    problem = check_validate_args(args, settings)
    if problem:
        print(f"capi-streams validate: {problem}", file=sys.stderr)
        return 2
    topic_format = settings.formats.for_topic(args.topic or settings.kafka.input_topics[0])
    configured = _dataset(settings, args.dataset)
    sources: list[bytes | Mapping[str, Any] | str] = [data]
    if args.registry:
        decoded = _decode_registry_file(data, settings, args.registry, "validate")
        if decoded is None:
            return 2
        sources = list(decoded)
    items: list[Explanation] = []
    now = time.time()
    for position, source in enumerate(sources, 1):
        if isinstance(source, str):  # a registry failure reason
            fmt = args.format or topic_format.format
            items.append(Explanation(position, None, fmt, Verdict.REJECTED, reason=source))
            continue
        found = explain(
            source,
            args.format or topic_format.format,
            _policy(settings, args.dataset),
            now,
            options=topic_format.options,
            mappings=settings.formats.mappings,
            max_event_bytes=configured.max_event_bytes if configured else DEFAULT_MAX_EVENT_BYTES,
            guard=configured.pii_policy() if configured else None,
        )
        items.extend(replace(i, message=position) if args.registry else i for i in found)
    print(render_jsonl(items) if args.json else escape_controls(render_text(items)), end="")
    return 1 if has_failures(items) else 0


def _decode_registry_file(
    data: bytes, settings: Settings, url: str, command: str
) -> list[Mapping[str, Any] | str] | None:
    """The file's wire-format messages decoded with the registry at `url` (auth and TLS from
    the config's [registry]), or None after saying why not."""
    if "@" in url.partition("://")[2]:  # secrets never sit in URLs (nor in shell history)
        print(
            f"capi-streams {command}: --registry: credentials in the URL are not allowed; set "
            "registry.username and registry.password_env (or registry.token_env) in the config",
            file=sys.stderr,
        )
        return None
    base = settings.registry or RegistryConfig(url=url)
    config = replace(base, url=url.rstrip("/"))
    auth = settings.registry_auth.reveal() if settings.registry_auth is not None else None
    messages = split_wire_file(data)
    try:
        return asyncio.run(
            decode_file_messages(
                messages, config, auth, max_message_bytes=settings.kafka.max_message_bytes
            )
        )
    except RegistryUnavailable as exc:
        print(f"capi-streams {command}: --registry: {exc}", file=sys.stderr)
        return None


def add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate", help="show what each event of a file would send, or why it would fail"
    )
    p.add_argument("file", help="a JSON object, a JSON array or JSON Lines")
    p.add_argument("--format", default=None, help="native, segment, rudderstack, ga4, ...")
    p.add_argument("--dataset", default=None, help="use this dataset's defaults")
    p.add_argument("--topic", default=None, help="use this input topic's format settings")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per event: status, reason, field, the event as it would be sent",
    )
    add_config_option(p, "datasets, formats and mappings")
    p.add_argument(
        "--registry",
        default=None,
        metavar="URL",
        help="FILE holds registry-encoded messages (one raw message, or one base64 message per "
        "line): decode them with the schema registry at URL (its Confluent-compatible API)",
    )
    p.set_defaults(func=_validate)


async def _produce(
    settings: Settings, topic: str, events: list[tuple[bytes, bytes | None]], progress: Progress
) -> None:
    await check_connection(settings.kafka)
    producer = AIOKafkaProducer(**client_kwargs(settings.kafka), linger_ms=10)
    await producer.start()
    try:
        futures = []
        for i, (value, key) in enumerate(events, 1):
            futures.append(
                await producer.send(
                    topic, value, key=key, headers=[(FORMAT_HEADER, NATIVE.encode())]
                )
            )
            progress.update(i)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _import(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(f"capi-streams import: configuration error: {exc}", file=sys.stderr)
        return 2
    mapping = settings.formats.mappings.get(args.mapping)
    if mapping is None:
        known = ", ".join(sorted(settings.formats.mappings)) or "none configured"
        print(
            f"capi-streams import: --mapping {args.mapping!r} is not a [mappings] entry ({known})",
            file=sys.stderr,
        )
        return 2
    if not settings.kafka.bootstrap_servers and not args.dry_run:
        print(
            "capi-streams import: set kafka.bootstrap_servers (or use --dry-run)", file=sys.stderr
        )
        return 2
    body = _import_rows(args, settings)
    if body is None:
        return 2
    good, skipped = _checked_rows(args, settings, mapping, body)
    unit = "messages" if args.registry else "rows"
    print(f"{len(body)} {unit} read, {len(good)} to produce, {len(skipped)} skipped")
    for reason, count in Counter(item.reason for item in skipped).most_common():
        print(f"  skipped {count:6d}  {reason}")
    report_skipped(skipped, "message " if args.registry else "row ", args.skipped_out)
    if args.dry_run or not good:
        return 0 if good or not body else 1
    progress = Progress(len(good), sys.stderr)
    try:
        asyncio.run(_produce(settings, args.topic, good, progress))
    except ConfigError as exc:  # the Kafka connection, naming the key to fix
        print(f"capi-streams import: {exc}", file=sys.stderr)
        return 2
    progress.close()
    print(f"produced {len(good)} events to {args.topic}")
    return 0


def _checked_rows(
    args: argparse.Namespace,
    settings: Settings,
    mapping: MappingSpec,
    body: list[Mapping[str, Any] | str],
) -> tuple[list[tuple[bytes, bytes | None]], list[Skipped]]:
    """(native event and key of each good row, the other rows by number and reason); a str in
    `body` is why that row (or message) cannot be read."""
    policy = _policy(settings, args.dataset)
    now = time.time()
    skipped: list[Skipped] = []
    good: list[tuple[bytes, bytes | None]] = []
    topic_options = settings.formats.for_topic(args.topic).options
    for number, row in enumerate(body, start=1 if args.registry else 2):
        if isinstance(row, str):
            skipped.append(Skipped(number, row))
            continue
        result = map_row(row, mapping, topic_options)
        for part in result.unmapped:
            if part.action is not UnmappedAction.CUSTOM:  # CUSTOM still sends the event
                skipped.append(Skipped(number, part.reason.value))
        for event in result.events:
            if args.dataset:
                event["dataset_id"] = args.dataset
            checked = transform(event, policy, now=now)
            if isinstance(checked, Rejected):
                skipped.append(Skipped(number, checked.reason.value))
                continue
            key = f"{Path(args.file).name}:{number}".encode() if args.row_keys else None
            good.append((orjson.dumps(event), key))
    return good, skipped


def _import_rows(
    args: argparse.Namespace, settings: Settings
) -> list[Mapping[str, Any] | str] | None:
    """The rows of the CSV file (dicts by header), or with --registry its decoded messages;
    a str is why a row or message cannot be read. None after saying why the file cannot."""
    if args.registry:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            print(f"capi-streams import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return None
        return _decode_registry_file(data, settings, args.registry, "import")
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"capi-streams import: cannot read {args.file}: {exc}", file=sys.stderr)
        return None
    if not rows:
        print("capi-streams import: the file is empty", file=sys.stderr)
        return None
    header = rows[0]
    out: list[Mapping[str, Any] | str] = []
    for cells in rows[1:]:
        row = row_dict(header, cells)
        out.append(row.value if isinstance(row, RowProblem) else row)
    return out


def add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("import", help="produce offline conversions from a CSV file")
    p.add_argument("file", help="CSV with a header row (or registry-encoded messages)")
    p.add_argument(
        "--registry",
        default=None,
        metavar="URL",
        help="FILE holds registry-encoded messages (one raw message, or one base64 message per "
        "line), decoded with the schema registry at URL, then mapped like CSV rows",
    )
    p.add_argument("--mapping", required=True, help="a [mappings.<name>] of the config")
    p.add_argument("--topic", required=True, help="input topic to produce to")
    p.add_argument("--dataset", default=None, help="dataset_id for every row")
    add_config_option(p, "datasets, formats and mappings")
    p.add_argument("--dry-run", action="store_true", help="check and report, produce nothing")
    p.add_argument(
        "--skipped-out",
        default=None,
        metavar="FILE",
        help="write the skipped rows here: row number and reason, tab-separated, one a line",
    )
    p.add_argument(
        "--row-keys",
        action="store_true",
        help="key messages by file name and row number (default: no key; ids derive from content)",
    )
    p.set_defaults(func=_import)
