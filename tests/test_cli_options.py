"""Every option of every subcommand explains itself; --debug works before or after the name."""

from __future__ import annotations

import argparse
import subprocess
import sys

from streams.cli import build_parser
from streams.cli_options import add_debug_option, subparsers


def _parser() -> argparse.ArgumentParser:
    parser = build_parser()
    add_debug_option(parser)
    return parser


def test_every_option_and_argument_has_help_text() -> None:
    parser = _parser()
    missing = []
    commands = subparsers(parser)
    assert {"run", "worker", "produce", "validate", "import", "replay", "sandbox", "kafka"} <= set(
        commands
    )
    for name, command in [("capi-streams", parser), *commands.items()]:
        for action in command._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_debug_before_or_after_the_subcommand() -> None:
    parser = _parser()
    assert parser.parse_args(["--debug", "validate", "f"]).debug is True
    assert parser.parse_args(["validate", "f", "--debug"]).debug is True
    assert parser.parse_args(["validate", "f"]).debug is False


def test_help_of_a_subcommand_lists_its_options_with_their_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "produce", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--event-time-now" in proc.stdout and "--debug" in proc.stdout
    assert "capi-dataset header" in proc.stdout
