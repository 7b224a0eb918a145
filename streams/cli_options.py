"""Options every subcommand shares: `--debug` (before or after the subcommand's name)."""

from __future__ import annotations

import argparse
import os

__all__ = ["add_config_option", "add_debug_option", "subparsers"]

_DEBUG_HELP = "on an error, also print the traceback (default: one line saying what to fix)"


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of `parser` by name."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.update(action.choices)
    return out


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """`--debug` on `parser` and each of its subcommands (`capi-streams --debug run` and
    `capi-streams run --debug` both work)."""
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    for sub in subparsers(parser).values():
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )


def add_config_option(parser: argparse.ArgumentParser, gives: str) -> None:
    """`--config FILE` (default `$CAPI_CONFIG`); `gives` says what the command takes from it."""
    parser.add_argument(
        "--config",
        default=os.environ.get("CAPI_CONFIG"),
        metavar="FILE",
        help=f"TOML config (default: $CAPI_CONFIG); gives {gives}",
    )
