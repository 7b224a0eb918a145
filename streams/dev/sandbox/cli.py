"""Command line of the sandbox: `capi-streams sandbox ...` and `python -m streams.dev.sandbox ...`.

The project CLI can reuse it: `add_arguments(subparser)`, then `run_from_args(namespace)`.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from streams.dev.sandbox.datasets import DatasetsFileError
from streams.dev.sandbox.faults import FaultConfig, FaultConfigError
from streams.dev.sandbox.receipts import DEFAULT_MAX_EVENTS
from streams.dev.sandbox.server import DEFAULT_HOST, DEFAULT_PORT, run_sandbox

__all__ = ["ADMIN_ENV", "add_arguments", "faults_from_args", "main", "run_from_args"]

ADMIN_ENV = "CAPI_SANDBOX_ADMIN"

log = logging.getLogger(__name__)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected a comma-separated list of integers") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options to `parser`."""
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--datasets",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML file of [[datasets]] id/token/app_secret (default: built-in test datasets)",
    )
    parser.add_argument(
        "--receipts-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="also append every accepted event to this JSONL file",
    )
    parser.add_argument(
        "--max-receipts",
        type=int,
        default=DEFAULT_MAX_EVENTS,
        metavar="N",
        help="events kept in memory for /_sandbox/events (default %(default)s)",
    )
    parser.add_argument(
        "--max-receive-times",
        type=int,
        default=DEFAULT_MAX_EVENTS,
        metavar="N",
        help="event ids kept with their requests' arrival and answer times for "
        "/_sandbox/receive-times (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault draws")
    parser.add_argument(
        "--admin",
        action="store_true",
        default=os.environ.get(ADMIN_ENV, "").strip().lower() in ("1", "true", "yes", "on"),
        help=f"serve the /_sandbox admin endpoints (receipts, stats, reset, faults; also "
        f"{ADMIN_ENV}=1); off by default: anyone who reaches the port could read the events",
    )
    g = parser.add_argument_group("fault injection (probabilities per request, 0..1)")
    g.add_argument(
        "--fault-5xx", type=float, default=0.0, metavar="P", help="answer an HTTP 5xx error"
    )
    g.add_argument(
        "--fault-5xx-statuses",
        type=_int_list,
        default=(500, 502, 503),
        metavar="LIST",
        help="the 5xx statuses to draw from (default 500,502,503)",
    )
    g.add_argument(
        "--fault-throttle", type=float, default=0.0, metavar="P", help="answer a throttle error"
    )
    g.add_argument(
        "--throttle-codes",
        type=_int_list,
        default=(4, 17, 80004),
        metavar="LIST",
        help="the throttle codes to draw from (default 4,17,80004)",
    )
    g.add_argument(
        "--throttle-minutes",
        type=int,
        default=0,
        metavar="M",
        help="estimated_time_to_regain_access in throttle answers",
    )
    g.add_argument(
        "--fault-transient",
        type=float,
        default=0.0,
        metavar="P",
        help="code 2, is_transient true, HTTP 500",
    )
    g.add_argument(
        "--fault-hang", type=float, default=0.0, metavar="P", help="answer only after a hang"
    )
    g.add_argument(
        "--hang-seconds", type=float, default=30.0, metavar="S", help="length of a hang (30)"
    )
    g.add_argument(
        "--fault-reset", type=float, default=0.0, metavar="P", help="reset the connection"
    )
    g.add_argument(
        "--latency-ms", type=float, default=0.0, metavar="MS", help="added to every answer"
    )
    g.add_argument(
        "--latency-jitter-ms", type=float, default=0.0, metavar="MS", help="spread of the latency"
    )
    g.add_argument(
        "--latency-dist",
        choices=("uniform", "exponential"),
        default="uniform",
        help="distribution of the jitter (default uniform)",
    )
    g.add_argument(
        "--capacity",
        type=int,
        default=0,
        metavar="N",
        help="requests served at once, the latency being each one's service time; the others "
        "wait in line (default 0: no limit)",
    )
    g.add_argument(
        "--invalid-token",
        action="append",
        default=[],
        metavar="DATASET_ID",
        help="answer 190 for this dataset until switched back (repeatable)",
    )


def faults_from_args(args: argparse.Namespace) -> FaultConfig:
    """The FaultConfig described by parsed options (raises FaultConfigError)."""
    return FaultConfig(
        http_5xx=args.fault_5xx,
        http_5xx_statuses=tuple(args.fault_5xx_statuses),
        throttle=args.fault_throttle,
        throttle_codes=tuple(args.throttle_codes),
        throttle_minutes=args.throttle_minutes,
        transient=args.fault_transient,
        hang=args.fault_hang,
        hang_seconds=args.hang_seconds,
        reset=args.fault_reset,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        latency_dist=args.latency_dist,
        capacity=args.capacity,
        invalid_token_datasets=frozenset(args.invalid_token),
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run the sandbox as the parsed options say; returns the process exit code."""
    if args.max_receive_times < 0:
        log.error("sandbox: --max-receive-times must be >= 0")
        return 2
    try:
        faults = faults_from_args(args)
        run_sandbox(
            port=args.port,
            host=args.host,
            datasets_file=args.datasets,
            faults=faults,
            jsonl_path=args.receipts_file,
            max_events=args.max_receipts if args.max_receipts >= 0 else None,
            max_receive_times=args.max_receive_times,
            seed=args.seed,
            admin=args.admin,
        )
    except (FaultConfigError, DatasetsFileError) as exc:
        log.error("sandbox: %s", exc)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="capi-streams sandbox",
        description="A local, strict emulator of Meta's Conversions API /events edge.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return run_from_args(args)
