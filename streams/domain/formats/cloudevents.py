"""CloudEvents 1.0 envelopes on Kafka: structured JSON mode and binary mode (`ce_` headers).

Structured mode: the message is the JSON envelope (`specversion`, `id`, `source`, `type`,
optional `time`, `datacontenttype`, and `data` or `data_base64`). Binary mode: the attributes
are the Kafka headers `ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_time`, the
message value is the data and `content-type` is its media type. Either way the data must be
a JSON object; it is then mapped by its own format (see `streams.domain.formats`), chosen by
the `capiformat` extension attribute (`ce_capiformat` header) when present.

The envelope contributes what its data lacks: `time` for the event time, and `id` for the
event_id (`<id>-<n>` for the n-th event when the data holds several).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from streams.domain.event_time import parse_event_time
from streams.domain.formats.result import SOURCE_INDEX_KEY, UnmappableReason
from streams.domain.formats.values import header_value, text

__all__ = [
    "CE_HEADER_PREFIX",
    "Envelope",
    "EnvelopeError",
    "is_envelope",
    "unwrap",
    "with_envelope_ids",
]

CE_HEADER_PREFIX: Final = "ce_"
_STRUCTURED_MEDIA: Final = "application/cloudevents"
_REQUIRED: Final = ("id", "source", "type")


@dataclass(frozen=True, slots=True)
class Envelope:
    """The data of a CloudEvent and the attributes the mappers use."""

    data: Mapping[str, Any] = field(repr=False)  # plain customer data: no repr
    id: str
    source: str
    type: str
    time: int | None  # Unix seconds of the `time` attribute, if readable
    format: str | None  # the `capiformat` extension attribute
    binary: bool


@dataclass(frozen=True, slots=True)
class EnvelopeError:
    """Why an envelope cannot be used, and the attribute (or header) at fault."""

    reason: UnmappableReason
    field: str


def is_envelope(obj: Mapping[str, Any], headers: Mapping[str, Any] | None) -> bool:
    """A binary-mode message (ce_specversion header) or a structured-mode envelope."""
    if header_value(headers, "ce_specversion") is not None:
        return True
    content_type = header_value(headers, "content-type")
    if content_type is not None and content_type.lower().startswith(_STRUCTURED_MEDIA):
        return True
    return "specversion" in obj and "type" in obj and "id" in obj


def _is_json(media: str | None) -> bool:
    if media is None:
        return True
    kind = media.split(";", 1)[0].strip().lower()
    return kind in ("application/json", "text/json") or kind.endswith("+json")


def unwrap(obj: Mapping[str, Any], headers: Mapping[str, Any] | None) -> Envelope | EnvelopeError:
    """The envelope of a CloudEvents message, or why it is unusable."""
    spec = header_value(headers, "ce_specversion")
    if spec is not None:
        return _binary(obj, headers, spec)
    return _structured(obj)


def _binary(
    obj: Mapping[str, Any], headers: Mapping[str, Any] | None, spec: str
) -> Envelope | EnvelopeError:
    if not spec.startswith("1."):
        return EnvelopeError(UnmappableReason.INVALID_ENVELOPE, "ce_specversion")
    attrs: dict[str, str] = {}
    for name in _REQUIRED:
        value = header_value(headers, CE_HEADER_PREFIX + name)
        if value is None:
            return EnvelopeError(UnmappableReason.INVALID_ENVELOPE, CE_HEADER_PREFIX + name)
        attrs[name] = value
    if not _is_json(header_value(headers, "content-type")):
        return EnvelopeError(UnmappableReason.UNSUPPORTED_CONTENT_TYPE, "content-type")
    return Envelope(
        data=obj,
        id=attrs["id"],
        source=attrs["source"],
        type=attrs["type"],
        time=parse_event_time(header_value(headers, "ce_time")),
        format=header_value(headers, "ce_capiformat"),
        binary=True,
    )


def _structured(obj: Mapping[str, Any]) -> Envelope | EnvelopeError:
    spec = obj.get("specversion")
    if not isinstance(spec, str) or not spec.startswith("1."):
        return EnvelopeError(UnmappableReason.INVALID_ENVELOPE, "specversion")
    attrs: dict[str, str] = {}
    for name in _REQUIRED:
        value = text(obj.get(name))
        if value is None:
            return EnvelopeError(UnmappableReason.INVALID_ENVELOPE, name)
        attrs[name] = value
    media = obj.get("datacontenttype")
    if media is not None and not (isinstance(media, str) and _is_json(media)):
        return EnvelopeError(UnmappableReason.UNSUPPORTED_CONTENT_TYPE, "datacontenttype")
    data = _data(obj)
    if data is None:
        where = "data_base64" if "data_base64" in obj and "data" not in obj else "data"
        return EnvelopeError(UnmappableReason.INVALID_ENVELOPE, where)
    raw_format = obj.get("capiformat")
    return Envelope(
        data=data,
        id=attrs["id"],
        source=attrs["source"],
        type=attrs["type"],
        time=parse_event_time(obj.get("time")),
        format=raw_format.strip() or None if isinstance(raw_format, str) else None,
        binary=False,
    )


def _data(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The data as a JSON object: `data` (an object, or JSON text), or `data_base64`."""
    data = obj.get("data")
    raw: bytes | str | None = None
    if isinstance(data, Mapping):
        return data
    if isinstance(data, str):
        raw = data
    elif data is None and isinstance(obj.get("data_base64"), str):
        try:
            raw = base64.b64decode(obj["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            return None
    if raw is None:
        return None
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def with_envelope_ids(
    events: Sequence[dict[str, Any]], envelope: Envelope
) -> tuple[dict[str, Any], ...]:
    """The events (copied) with the envelope's id as event_id where they have none."""
    out: list[dict[str, Any]] = []
    several = len(events) > 1
    for position, event in enumerate(events):
        copy = dict(event)
        if copy.get("event_id") in (None, ""):
            index = copy.pop(SOURCE_INDEX_KEY, None)
            if index is None and several:
                index = position
            copy["event_id"] = envelope.id if index is None else f"{envelope.id}-{index}"
        out.append(copy)
    return tuple(out)
