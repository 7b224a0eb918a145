"""`capi-streams`: one command line with subcommands.

- `kafka start|stop|status`: a real local Kafka broker (see streams/dev/broker.py).
- `registry start|stop|status`: a real local Apicurio Registry (see streams/dev/apicurio.py).
- `sandbox`: the local Graph API sandbox.
- `worker`: the faust worker, from a config file.
- `run`: the main job on embedded defaults (local broker, sandbox) with a live progress line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from streams.cli_errors import quiet_library_logs, run_guarded
from streams.cli_options import add_debug_option
from streams.dev import apicurio, broker, broker_security
from streams.settings import ConfigError, load_settings

__all__ = ["main"]


def _kafka(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else None
    wanted = [m.strip().lower() for m in (args.security or "").split(",") if m.strip()]
    security = broker_security.MODES if wanted == ["all"] else tuple(wanted)
    try:
        if args.action == "start":
            info = broker.start_broker(
                port=args.port,
                data_dir=data_dir,
                kafka_version=args.kafka_version,
                timeout_s=args.timeout,
                security=security,
            )
            print(f"Kafka {info.kafka_version} running (pid {info.pid}), data in {info.data_dir}")
            for mode in security:
                print(broker_security.client_hints(mode, info.listeners[mode], info.security()))
            print(info.secured_bootstrap(security[-1]) if security else info.bootstrap)
            return 0
        if args.action == "stop":
            stopped = broker.stop_broker(data_dir)
            print(f"stopped broker pid {stopped.pid}" if stopped else "no broker was running")
            return 0
        info_or_none = broker.status(data_dir)
        if info_or_none is None:
            print("not running")
            return 1
        print(
            f"running: Kafka {info_or_none.kafka_version} pid {info_or_none.pid} "
            f"data {info_or_none.data_dir}"
        )
        for mode in info_or_none.listeners:
            print(f"{mode}: {info_or_none.secured_bootstrap(mode)}")
        print(info_or_none.bootstrap)
        return 0
    except broker.BrokerError as exc:
        print(f"capi-streams kafka {args.action}: {exc}", file=sys.stderr)
        return 2


def _add_kafka(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kafka", help="run a real single-node Kafka broker on 127.0.0.1")
    p.add_argument(
        "action", choices=["start", "stop", "status"], help="start, stop or show the broker"
    )
    p.add_argument("--port", type=int, default=9092, help="PLAINTEXT port (0 = pick a free one)")
    p.add_argument("--data-dir", default=None, help=f"default {broker.default_data_dir()}")
    p.add_argument(
        "--kafka-version",
        default=broker.DEFAULT_KAFKA_VERSION,
        help="Kafka release to run (default %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness")
    p.add_argument(
        "--security",
        default="",
        metavar="MODES",
        help="add secured listeners: ssl, sasl_ssl, sasl_plaintext (comma-separated) or all; "
        "ports --port+1, +2, +3; prints the [kafka] keys a client needs",
    )
    p.set_defaults(func=_kafka)


def _registry(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else None
    if args.action == "start" and bool(args.tls_cert) != bool(args.tls_key):
        print("capi-streams registry start: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        if args.action == "start":
            tls = (Path(args.tls_cert), Path(args.tls_key)) if args.tls_cert else None
            info = apicurio.start_registry(
                port=args.port,
                data_dir=data_dir,
                version=args.version,
                timeout_s=args.timeout,
                tls=tls,
            )
            print(f"Apicurio Registry {info.version} running (pid {info.pid}), in memory")
            print(info.ccompat_url)
            return 0
        if args.action == "stop":
            stopped = apicurio.stop_registry(data_dir)
            print(f"stopped registry pid {stopped.pid}" if stopped else "no registry was running")
            return 0
        running = apicurio.status(data_dir)
        if running is None:
            print("not running")
            return 1
        print(f"running: Apicurio Registry {running.version} pid {running.pid}")
        print(running.ccompat_url)
        return 0
    except apicurio.RegistryError as exc:
        print(f"capi-streams registry {args.action}: {exc}", file=sys.stderr)
        return 2


def _add_registry(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "registry", help="run a real Apicurio schema registry (in memory) on 127.0.0.1"
    )
    p.add_argument(
        "action", choices=["start", "stop", "status"], help="start, stop or show the registry"
    )
    p.add_argument("--port", type=int, default=8081, help="HTTP port (0 = pick a free one)")
    p.add_argument("--data-dir", default=None, help=f"default {apicurio.default_data_dir()}")
    p.add_argument(
        "--version",
        default=apicurio.DEFAULT_APICURIO_VERSION,
        help="Apicurio Registry release to run (default %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    p.add_argument("--tls-cert", default=None, metavar="PEM", help="serve HTTPS only, with this")
    p.add_argument("--tls-key", default=None, metavar="PEM", help="... and this private key")
    p.set_defaults(func=_registry)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        default=os.environ.get("CAPI_CONFIG"),
        metavar="FILE",
        help="TOML config file (default: $CAPI_CONFIG; every key can be set by CAPI_* variables)",
    )


def _worker(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, os.environ)
        if args.processes == 1:
            from streams.kafka.worker import run_worker  # imports faust: only when needed

            return run_worker(settings)
        from streams.kafka.worker_processes import run_processes

        requested = args.processes or None  # 0: auto
        return run_processes(settings, requested, args.config, debug=args.debug)
    except ConfigError as exc:
        print(f"capi-streams worker: configuration error: {exc}", file=sys.stderr)
        return 2


def _processes(text: str) -> int:
    """`auto` (0) or a count of at least 1."""
    if text == "auto":
        return 0
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a number of at least 1 or 'auto', got {text!r}")


def _add_worker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run the faust worker (consume, hash, batch, deliver)")
    _config_arg(p)
    p.add_argument(
        "--processes",
        type=_processes,
        nargs="?",
        const=0,
        default=1,
        metavar="N|auto",
        help="run N worker processes in the group under a supervisor (static membership, one "
        "metrics port); `auto` or no value: one per core; at most the input partitions "
        "(default 1: the worker alone, no supervisor)",
    )
    p.set_defaults(func=_worker)


def _run(args: argparse.Namespace) -> int:
    from streams.dev.local_run import run_main

    return run_main(args.config, demo=args.demo, demo_count=args.events)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="the main job on embedded defaults: local broker, sandbox, worker, live progress",
    )
    _config_arg(p)
    p.add_argument(
        "--demo",
        action="store_true",
        help="also produce a sample stream, wait until it is processed, show where it went",
    )
    p.add_argument("--events", type=int, default=2000, help="demo events (default 2000)")
    p.set_defaults(func=_run)


def _sandbox(args: argparse.Namespace) -> int:
    from streams.dev.sandbox.cli import run_from_args

    return run_from_args(args)


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from streams.dev.sandbox.cli import add_arguments

    p = sub.add_parser("sandbox", help="a strict local Graph API (Conversions API) sandbox")
    add_arguments(p)
    p.set_defaults(func=_sandbox)


def _replay(args: argparse.Namespace) -> int:
    from streams.kafka.replay import run_from_args

    try:
        settings = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(f"capi-streams replay: configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.kafka.bootstrap_servers:
        local = _local_bootstrap()
        if local is not None:
            kafka = dataclasses.replace(settings.kafka, bootstrap_servers=local)
            settings = dataclasses.replace(settings, kafka=kafka)
    return run_from_args(args, settings)


def _local_bootstrap() -> str | None:
    """The address of the local broker `capi-streams run` / `kafka start` left running."""
    running = broker.status()
    return running.bootstrap if running is not None else None


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from streams.kafka.replay import add_arguments

    p = sub.add_parser(
        "replay", help="re-send failure records (same event_id) after the cause is fixed"
    )
    _config_arg(p)
    add_arguments(p)
    p.set_defaults(func=_replay)


def _add_payload_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from streams.payload_cli import add_import, add_validate
    from streams.produce_cli import add_produce

    add_produce(sub, _local_bootstrap)
    add_validate(sub)
    add_import(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capi-streams", description="Kafka to Meta's Conversions API stream processor"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_kafka(sub)
    _add_registry(sub)
    _add_worker(sub)
    _add_run(sub)
    _add_sandbox(sub)
    _add_payload_commands(sub)
    _add_replay(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    add_debug_option(parser)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    quiet_library_logs()
    return run_guarded(args.command, func, args, debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
