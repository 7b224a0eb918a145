"""Format names and the Kafka header that selects a format per message."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

__all__ = [
    "AUTO",
    "BUILTIN_FORMATS",
    "CLOUDEVENTS",
    "FORMAT_HEADER",
    "GA4",
    "INVALID_FORMAT",
    "MAPPING_PREFIX",
    "NATIVE",
    "RUDDERSTACK",
    "SEGMENT",
    "is_format_name",
]

FORMAT_HEADER: Final = "capi-format"
"""Kafka header naming the format of one message; it overrides the topic's format."""

NATIVE: Final = "native"
SEGMENT: Final = "segment"
RUDDERSTACK: Final = "rudderstack"
GA4: Final = "ga4"
CLOUDEVENTS: Final = "cloudevents"
AUTO: Final = "auto"
"""Detect the format from the message; only unambiguous shapes are accepted."""
MAPPING_PREFIX: Final = "mapping:"
"""`mapping:<name>` selects the declarative mapping `<name>`."""
INVALID_FORMAT: Final = "invalid"
"""`MapResult.format` of a message that named an unknown format (the name is not echoed)."""

BUILTIN_FORMATS: Final = (NATIVE, SEGMENT, RUDDERSTACK, GA4, CLOUDEVENTS)


def is_format_name(name: str, mappings: Collection[str], *, allow_auto: bool = True) -> bool:
    """Whether `name` is a built-in format, `auto`, or `mapping:<a configured mapping>`."""
    if name in BUILTIN_FORMATS or (allow_auto and name == AUTO):
        return True
    return name.startswith(MAPPING_PREFIX) and name[len(MAPPING_PREFIX) :] in mappings
