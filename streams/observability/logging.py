"""Logging setup: key=value text or JSON lines, and a redaction filter as a backstop.

The code logs batch-level facts only (dataset, events, outcome, fbtrace_id, duration) and
never event contents; the filter is the safety net behind that rule. It rewrites every record
that reaches the handlers: the access tokens it was given become `***`, and anything shaped
like an email address, an international phone number, a public IPv4/IPv6 address or a Meta
access token (`EAA...`) is replaced by a placeholder, in the message, its arguments and any
exception text.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "JsonFormatter",
    "LibraryLogFilter",
    "LongLineFilter",
    "RedactionFilter",
    "StartupNoiseFilter",
    "logging_config",
    "redact",
]

#: Library loggers whose repeated records are thinned out (a broker outage makes aiokafka log
#: the same connection error many times a second).
LIBRARY_LOGGERS = ("aiokafka", "kafka", "faust", "mode")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w.])\+\d[\d ()./-]{6,}\d")
_IPV4 = re.compile(r"(?<![\d.])(?!127\.)(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_META_TOKEN = re.compile(r"\bEAA[A-Za-z0-9]{16,}")
_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s\"']+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with secrets and personal-data shapes replaced."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    text = _TOKEN_PARAM.sub(r"\1***", text)
    text = _META_TOKEN.sub("<token>", text)
    text = _EMAIL.sub("<email>", text)
    text = _PHONE.sub("<phone>", text)
    text = _IPV4.sub("<ip>", text)
    return _IPV6_CANDIDATE.sub(_ipv6, text)


def _ipv6(match: re.Match[str]) -> str:
    """Replace a real, non-loopback IPv6 address; leave times like 10:40:58 alone."""
    candidate = match.group(0)
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return candidate
    return candidate if address.is_loopback else "<ip>"


class RedactionFilter(logging.Filter):
    """Redacts every record in place (message, args and exception text). `secrets` are known
    at start; `later` gives those obtained while running (OAuth tokens), asked per record."""

    def __init__(
        self, secrets: Iterable[str] = (), later: Callable[[], Iterable[str]] | None = None
    ) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)
        self._later = later

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if self._later is not None:
            secrets += tuple(s for s in self._later() if s)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string must not hide the record
            message = str(record.msg)
        record.msg = redact(message, secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def _is_library(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class LibraryLogFilter(logging.Filter):
    """Thins out the library loggers under `prefixes`: one record per (logger, level, message
    template) every `window_s`; the next one that passes says how many were suppressed. Our
    own loggers pass untouched. Runs before redaction (it keys on the unformatted template)."""

    def __init__(
        self,
        prefixes: Iterable[str] = LIBRARY_LOGGERS,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1000,
    ) -> None:
        super().__init__()
        self._prefixes = tuple(prefixes)
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # key -> [passed_at, count]

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_library(record.name, self._prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = self._clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self._window_s:
            entry[1] += 1
            return False
        if entry is None and len(self._seen) >= self._max_keys:
            self._seen.clear()
        suppressed = int(entry[1]) if entry is not None else 0
        self._seen[key] = [now, 0]
        if suppressed:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = str(record.msg)
            window = f"{self._window_s:g}"
            record.msg = (
                f"{message} [{suppressed} similar records suppressed in the last {window} s]"
            )
            record.args = None
        return True


class StartupNoiseFilter(logging.Filter):
    """aiokafka logs an ERROR each time it asks a fresh broker for the group coordinator before
    the broker has elected one (`GroupCoordinatorNotAvailableError`), and a WARNING when it
    then drops the coordinator it had asked ("Marking the coordinator dead"): harmless and
    retried. The first such record is shown once as INFO (if INFO is enabled), the others
    within `window_s` of it are dropped; after that they pass unchanged, so a coordinator
    that never comes, or goes away later, still shows as it did."""

    LOGGER = "aiokafka.consumer.group_coordinator"
    MARKERS = ("GroupCoordinatorNotAvailableError", "Marking the coordinator dead")

    def __init__(
        self, window_s: float = 120.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._first: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != self.LOGGER or record.levelno < logging.WARNING:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if not any(marker in message for marker in self.MARKERS):
            return True
        now = self._clock()
        if self._first is None:
            self._first = now
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = (
                "the group coordinator is not available yet (normal while a fresh broker "
                "starts); retrying"
            )
            record.args = None
            return logging.getLogger().isEnabledFor(logging.INFO)
        return now - self._first >= self._window_s


class LongLineFilter(logging.Filter):
    """Cuts library log lines to `max_chars` (faust lists every message it waits for in one
    line, hundreds of kB). Runs after redaction: a cut must never split a value the redaction
    would have recognized."""

    def __init__(self, prefixes: Iterable[str] = LIBRARY_LOGGERS, max_chars: int = 2000) -> None:
        super().__init__()
        self._prefixes = tuple(prefixes)
        self._max_chars = max_chars

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_library(record.name, self._prefixes):
            message = record.getMessage()
            if len(message) > self._max_chars:
                cut = len(message) - self._max_chars
                record.msg = f"{message[: self._max_chars]} [{cut} characters cut]"
                record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (+ exc)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


_TEXT_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def logging_config(
    level: str,
    fmt: str,
    secrets: Iterable[str] = (),
    later: Callable[[], Iterable[str]] | None = None,
) -> dict[str, Any]:
    """A logging.config.dictConfig for the worker: one stderr handler, redacted (`secrets`,
    and those `later` gives while running: see RedactionFilter)."""
    formatter: dict[str, Any] = {"()": JsonFormatter} if fmt == "json" else {"format": _TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "startup": {"()": StartupNoiseFilter},
            "library": {"()": LibraryLogFilter},
            "redact": {"()": RedactionFilter, "secrets": list(secrets), "later": later},
            "long": {"()": LongLineFilter},
        },
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                # start-up noise first; thinning keys on templates; cutting must not
                # split what redaction recognizes (last)
                "filters": ["startup", "library", "redact", "long"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }
