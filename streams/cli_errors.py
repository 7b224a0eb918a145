"""Errors on the command line: one clear line a user can act on, the traceback only with
`--debug`.

A configuration error names its key (settings.ConfigError says which); a Kafka connection
error names `kafka.bootstrap_servers` and the addresses that were tried; anything else is one
line with its type, its text passed through the log redaction (no token, e-mail, phone or
client IP address reaches the terminal through a library's exception text).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import traceback
from collections.abc import Callable
from typing import Final, TextIO

from streams.observability.logging import redact
from streams.settings import ConfigError

__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "describe", "quiet_library_logs", "run_guarded"]

EXIT_CONFIG: Final = 2  # the configuration or the command line is wrong
EXIT_FAILED: Final = 1  # something the command needs failed (Kafka unreachable, ...)
EXIT_INTERRUPTED: Final = 130

_TRIED = re.compile(r"\('([^']*)', (\d+),")


def _kafka_error(exc: BaseException) -> bool:
    return any(cls.__module__.startswith("aiokafka.") for cls in type(exc).__mro__)


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line that explains `exc`, and the exit status."""
    if isinstance(exc, ConfigError):
        return f"configuration error: {exc}", EXIT_CONFIG
    text = str(exc)
    if _kafka_error(exc):
        tried = [f"{host}:{port}" for host, port in _TRIED.findall(text)]
        if type(exc).__name__ == "KafkaConnectionError" and tried:
            where = ", ".join(dict.fromkeys(tried))
            return (
                f"cannot reach a Kafka broker at {where} (kafka.bootstrap_servers): "
                "check the address and that the broker runs",
                EXIT_FAILED,
            )
        return f"Kafka error (kafka.bootstrap_servers): {text}", EXIT_FAILED
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}", EXIT_FAILED
    # Unexpected: the text is not ours, so it passes the log redaction.
    line = f"{type(exc).__name__}: {redact(text)}" if text else type(exc).__name__
    return f"{line} (--debug shows the traceback)", EXIT_FAILED


def quiet_library_logs() -> None:
    """Until a command configures logging (the worker does), library records go nowhere
    instead of to Python's last-resort stderr handler: aiokafka logs each failed connection
    attempt before raising the error that `describe` turns into one line."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def run_guarded(
    command: str,
    func: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    *,
    debug: bool = False,
    err: TextIO | None = None,
) -> int:
    """Run one subcommand; an exception becomes one line on stderr (plus its traceback with
    `debug`) and a non-zero exit status."""
    stream = err or sys.stderr
    try:
        return func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001  # the command line's last line of defence
        line, status = describe(exc)
        if debug:
            traceback.print_exc(file=stream)
        print(f"capi-streams {command}: {line}", file=stream, flush=True)
        return status
