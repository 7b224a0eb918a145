"""Input formats: one decoded Kafka message (+ headers) -> native events for the transform.

Formats: `native` (the transform's own input, passed through), `segment`, `rudderstack`,
`ga4` (Measurement Protocol), `cloudevents` (an envelope around any of these) and
`mapping:<name>` (a declarative mapping from the config). `auto` detects the format and
accepts only unambiguous shapes.

The format of a message is, first that applies: the `capi-format` header, the topic's
configured format. A CloudEvents envelope (structured, or binary with `ce_` headers) is
unwrapped whatever the format; its data is mapped by, first that applies: the `capiformat`
attribute, the chosen format (unless `cloudevents`/`auto`), the topic's `inner_format`,
detection. `map_message` never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from streams.domain.formats import cloudevents
from streams.domain.formats.config import (
    FormatConfig,
    FormatConfigError,
    TopicFormat,
    parse_format_config,
    parse_options,
)
from streams.domain.formats.declarative import (
    MappingError,
    MappingSpec,
    map_declarative,
    parse_mapping,
    parse_mappings,
)
from streams.domain.formats.ga4 import looks_like_ga4, map_ga4
from streams.domain.formats.names import (
    AUTO,
    BUILTIN_FORMATS,
    CLOUDEVENTS,
    FORMAT_HEADER,
    GA4,
    INVALID_FORMAT,
    MAPPING_PREFIX,
    NATIVE,
    RUDDERSTACK,
    SEGMENT,
    is_format_name,
)
from streams.domain.formats.result import (
    SOURCE_INDEX_KEY,
    FormatOptions,
    MapResult,
    UnmappableReason,
    Unmapped,
    UnmappedAction,
)
from streams.domain.formats.segment import looks_like_rudderstack, looks_like_segment, map_segment
from streams.domain.formats.values import header_value

__all__ = [
    "AUTO",
    "BUILTIN_FORMATS",
    "CLOUDEVENTS",
    "DEFAULT_OPTIONS",
    "FORMAT_HEADER",
    "GA4",
    "INVALID_FORMAT",
    "MAPPERS",
    "MAPPING_PREFIX",
    "NATIVE",
    "RUDDERSTACK",
    "SEGMENT",
    "SOURCE_INDEX_KEY",
    "FormatConfig",
    "FormatConfigError",
    "FormatOptions",
    "MapResult",
    "MappingError",
    "MappingSpec",
    "TopicFormat",
    "UnmappableReason",
    "Unmapped",
    "UnmappedAction",
    "detect",
    "is_format_name",
    "map_message",
    "parse_format_config",
    "parse_mapping",
    "parse_mappings",
    "parse_options",
]

Mapper = Callable[[Mapping[str, Any], FormatOptions, "float | None"], MapResult]

DEFAULT_OPTIONS: Final = FormatOptions()


def _native(obj: Mapping[str, Any], options: FormatOptions, received_at: float | None) -> MapResult:
    del options, received_at
    return MapResult((obj,) if isinstance(obj, dict) else (dict(obj),), (), NATIVE)


def _rudderstack(
    obj: Mapping[str, Any], options: FormatOptions, received_at: float | None
) -> MapResult:
    return map_segment(obj, options, received_at, rudderstack=True)


def _segment(
    obj: Mapping[str, Any], options: FormatOptions, received_at: float | None
) -> MapResult:
    return map_segment(obj, options, received_at)


MAPPERS: Final[Mapping[str, Mapper]] = {
    NATIVE: _native,
    SEGMENT: _segment,
    RUDDERSTACK: _rudderstack,
    GA4: map_ga4,
}
"""Built-in format name -> mapper (cloudevents is an envelope, handled by `map_message`)."""


def _looks_native(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("event_name"), str)


def detect(obj: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str | None:
    """The one format `obj` has the shape of, or None when none or several match.

    Declarative mappings are never detected.
    """
    if not isinstance(obj, Mapping):
        return None
    if cloudevents.is_envelope(obj, headers):
        return CLOUDEVENTS
    found: list[str] = []
    if looks_like_ga4(obj):
        found.append(GA4)
    if looks_like_segment(obj):
        found.append(RUDDERSTACK if looks_like_rudderstack(obj) else SEGMENT)
    if _looks_native(obj):
        found.append(NATIVE)
    return found[0] if len(found) == 1 else None


def map_message(
    obj: Mapping[str, Any],
    headers: Mapping[str, Any] | None,
    fmt: str,
    options: FormatOptions = DEFAULT_OPTIONS,
    *,
    mappings: Mapping[str, MappingSpec] | None = None,
    received_at: float | None = None,
) -> MapResult:
    """Native events for one decoded message.

    `fmt` is the topic's format (a format name or `auto`); the `capi-format` header wins over
    it. `headers` are the Kafka headers (values as bytes or str). `received_at` is the Kafka
    record time in Unix seconds: the event time of formats whose events may lack one.
    """
    mappings = mappings or {}
    chosen = header_value(headers, FORMAT_HEADER) or fmt
    if not is_format_name(chosen, mappings):
        field = FORMAT_HEADER if header_value(headers, FORMAT_HEADER) else "format"
        return _fail(options, UnmappableReason.UNKNOWN_FORMAT, field, INVALID_FORMAT)
    if not isinstance(obj, Mapping):
        return _fail(options, UnmappableReason.FORMAT_MISMATCH, None, chosen)
    if not chosen.startswith(MAPPING_PREFIX) and cloudevents.is_envelope(obj, headers):
        return _map_envelope(obj, headers, chosen, options, mappings, received_at)
    if chosen == CLOUDEVENTS:
        return _fail(options, UnmappableReason.FORMAT_MISMATCH, "specversion", CLOUDEVENTS)
    if chosen == AUTO:
        detected = detect(obj, headers)
        if detected is None:
            return _fail(options, UnmappableReason.UNDETECTED_FORMAT, None, AUTO)
        chosen = detected
    return _map_as(chosen, obj, options, mappings, received_at)


def _map_as(
    fmt: str,
    obj: Mapping[str, Any],
    options: FormatOptions,
    mappings: Mapping[str, MappingSpec],
    received_at: float | None,
) -> MapResult:
    mapper = MAPPERS.get(fmt)
    if mapper is not None:
        return mapper(obj, options, received_at)
    return map_declarative(obj, mappings[fmt[len(MAPPING_PREFIX) :]], options, received_at)


def _map_envelope(
    obj: Mapping[str, Any],
    headers: Mapping[str, Any] | None,
    chosen: str,
    options: FormatOptions,
    mappings: Mapping[str, MappingSpec],
    received_at: float | None,
) -> MapResult:
    envelope = cloudevents.unwrap(obj, headers)
    if isinstance(envelope, cloudevents.EnvelopeError):
        return _fail(options, envelope.reason, envelope.field, CLOUDEVENTS)
    inner = envelope.format
    if inner is None and chosen not in (CLOUDEVENTS, AUTO):
        inner = chosen
    if inner is None:
        inner = options.inner_format
    if inner is None or inner == AUTO:
        inner = detect(envelope.data)
        if inner is None:
            return _fail(options, UnmappableReason.UNDETECTED_FORMAT, "data", CLOUDEVENTS)
    if inner == CLOUDEVENTS or not is_format_name(inner, mappings, allow_auto=False):
        field = "capiformat" if envelope.format is not None else "data"
        reason = (
            UnmappableReason.INVALID_ENVELOPE
            if inner == CLOUDEVENTS
            else UnmappableReason.UNKNOWN_FORMAT
        )
        return _fail(options, reason, field, CLOUDEVENTS)
    time = envelope.time if envelope.time is not None else received_at
    result = _map_as(inner, envelope.data, options, mappings, time)
    events = result.events
    if events and inner == NATIVE and envelope.time is not None:
        events = tuple(
            e if e.get("event_time") not in (None, "") else {**e, "event_time": envelope.time}
            for e in events
        )
    return MapResult(cloudevents.with_envelope_ids(events, envelope), result.unmapped, CLOUDEVENTS)


def _fail(
    options: FormatOptions, reason: UnmappableReason, field: str | None, fmt: str
) -> MapResult:
    return MapResult((), (options.unmapped(reason, field),), fmt)
