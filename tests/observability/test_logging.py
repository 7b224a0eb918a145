"""The redaction backstop and the log formats."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from streams.observability.logging import LibraryLogFilter, logging_config, redact

TOKEN = "EAABsbCS1iHgBAKZCZBx0sLsecretTOKEN123"


@pytest.fixture(autouse=True)
def _root_level_restored() -> Iterator[None]:
    """logging_config sets the root logger's level; later tests get it back as it was."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("user jane.doe+x@example.co.uk failed", "jane.doe+x@example.co.uk"),
        ("phone +44 (0)20 7946-0958 bad", "+44 (0)20 7946-0958"),
        ("client 203.0.113.7 sent", "203.0.113.7"),
        ("client 2001:db8::ff00:42:8329 sent", "2001:db8::ff00:42:8329"),
        (f"url ?access_token={TOKEN}&x=1", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
    ],
)
def test_redact_removes_personal_data_and_tokens(text: str, gone: str) -> None:
    assert gone not in redact(text)


def test_redact_keeps_operational_facts() -> None:
    line = (
        "ts=2026-11-27 10:40:58,123 dataset=1000000000000001 events=1000 outcome=delivered "
        "fbtrace_id=AbC12 bootstrap=127.0.0.1:9092"
    )
    assert redact(line) == line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configured_logging_redacts_messages_args_and_exceptions(fmt: str) -> None:
    stream = io.StringIO()
    config = logging_config("INFO", fmt, secrets=["plain-secret-token"])
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    log = logging.getLogger("streams.test")
    log.info("sent dataset=%s email=%s token=%s", "1", "a.b@example.com", "plain-secret-token")
    try:
        raise ValueError("bad value a.b@example.com")
    except ValueError:
        log.exception("failed for 198.51.100.4")
    out = stream.getvalue()
    assert "a.b@example.com" not in out
    assert "plain-secret-token" not in out
    assert "198.51.100.4" not in out
    assert "dataset=1" in out and "ValueError" in out
    if fmt == "json":
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "streams.test"
    else:
        assert "level=INFO logger=streams.test" in out
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def test_secrets_obtained_later_are_redacted_from_then_on() -> None:
    stream = io.StringIO()
    later: list[str] = []
    config = logging_config("INFO", "text", secrets=["known-at-start"], later=lambda: later)
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    log = logging.getLogger("aiokafka.conn")
    try:
        log.warning("token %s", "fetched-while-running")
        later.append("fetched-while-running")
        log.warning("token %s, secret %s", "fetched-while-running", "known-at-start")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    before, after = stream.getvalue().splitlines()
    assert before.endswith("token fetched-while-running")  # not a secret yet
    assert after.endswith("token ***, secret ***")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_library_filter_thins_repeats_per_template_and_counts_them() -> None:
    clock = _Clock()
    f = LibraryLogFilter(window_s=10.0, clock=clock)
    template = "Unable connect to node with id %s: %r"
    passed = [f.filter(_record("aiokafka", template, 1, OSError(i))) for i in range(500)]
    assert passed.count(True) == 1  # the first; 499 held back within the window
    assert f.filter(_record("aiokafka", "Unable to update metadata from %s", [1]))  # other text
    clock.now = 10.5
    again = _record("aiokafka", template, 1, OSError("x"))
    assert f.filter(again)
    assert again.getMessage().endswith("[499 similar records suppressed in the last 10 s]")


def test_library_filter_leaves_our_loggers_alone() -> None:
    f = LibraryLogFilter()
    ours = [_record("streams.pipeline", "window failed events=%d", i) for i in range(50)]
    assert all(f.filter(r) for r in ours)
    assert ours[-1].getMessage() == "window failed events=49"
    assert f.filter(_record("mode.services", "x")) and not f.filter(_record("mode.services", "x"))
    assert f.filter(_record("aiokafkaX", "y")) and f.filter(_record("aiokafkaX", "y"))


def test_long_library_lines_are_cut_after_redaction() -> None:
    stream = io.StringIO()
    config = logging_config("INFO", "text", secrets=["s3cr3t-T0ken-value-abcdefghijkl"])
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    values = ("john.doe@example.com", "s3cr3t-T0ken-value-abcdefghijkl", "203.0.113.77")
    try:
        # Each value starts 7 characters before the 2,000-character cut: cut first, its
        # first 7 characters would slip past the patterns; redacted first, they are gone.
        for i, value in enumerate(values):
            logging.getLogger(f"faust.part{i}").warning("w %s %s %s", "x" * 1990, value, "y" * 9)
        logging.getLogger("faust.consumer").warning("wait_empty: tasks %s", "z" * 5000)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    out = stream.getvalue()
    for value in values:
        assert value[:7] not in out
    lines = out.splitlines()
    assert len(lines) == 4
    assert all(len(line) < 2200 for line in lines) and lines[-1].endswith("characters cut]")


def test_group_coordinator_noise_at_start_up_is_one_info_line() -> None:
    stream = io.StringIO()
    config = logging_config("INFO", "text")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    log = logging.getLogger("aiokafka.consumer.group_coordinator")
    try:
        for _ in range(5):
            log.error(
                "Group Coordinator Request failed: %s",
                "[Error 15] GroupCoordinatorNotAvailableError",
            )
        log.warning("Marking the coordinator dead (node %s)for group %s.", 1, "capi-streams")
        log.error("Group Coordinator Request failed: %s", "[Error 16] NotCoordinatorForGroupError")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert "level=INFO" in lines[0] and "group coordinator is not available yet" in lines[0]
    assert "level=ERROR" in lines[1] and "NotCoordinatorForGroupError" in lines[1]


def test_group_coordinator_errors_pass_again_after_the_start_up_window() -> None:
    from streams.observability.logging import StartupNoiseFilter

    clock = _Clock()
    noise = StartupNoiseFilter(window_s=120, clock=clock)
    name, template = StartupNoiseFilter.LOGGER, "failed: %s"
    first = _record(name, template, "GroupCoordinatorNotAvailableError")
    assert noise.filter(first) is logging.getLogger().isEnabledFor(logging.INFO)
    assert first.levelname == "INFO"
    clock.now = 60
    assert noise.filter(_record(name, template, "GroupCoordinatorNotAvailableError")) is False
    clock.now = 121
    late = _record(name, template, "GroupCoordinatorNotAvailableError")
    assert noise.filter(late) is True and late.levelname == "ERROR"
    assert noise.filter(_record("streams.x", "GroupCoordinatorNotAvailableError")) is True
