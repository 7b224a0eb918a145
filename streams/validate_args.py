"""Up-front checks of `capi-streams validate`'s options: an unknown dataset or format is one
error that lists the known ones, before any event is read."""

from __future__ import annotations

import argparse

from streams.domain.formats import AUTO, BUILTIN_FORMATS, MAPPING_PREFIX, is_format_name
from streams.settings import Settings

__all__ = ["check_validate_args", "known_formats"]


def known_formats(settings: Settings) -> list[str]:
    """Every format name `--format` accepts with these settings."""
    mappings = [MAPPING_PREFIX + name for name in sorted(settings.formats.mappings)]
    return [*BUILTIN_FORMATS, AUTO, *mappings]


def check_validate_args(args: argparse.Namespace, settings: Settings) -> str | None:
    """What is wrong with `--dataset` or `--format`, or None."""
    known = [d.id for d in settings.datasets]
    if args.dataset is not None and args.dataset not in known:
        listed = ", ".join(known) if known else "none; the datasets come from --config"
        return f"--dataset {args.dataset}: not a configured dataset (configured: {listed})"
    if args.format is not None and not is_format_name(args.format, settings.formats.mappings):
        return (
            f"--format {args.format}: unknown format (known: {', '.join(known_formats(settings))})"
        )
    return None
