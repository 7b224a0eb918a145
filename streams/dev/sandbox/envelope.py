"""Top-level request parameters of `POST /{version}/{dataset}/events`
(main body parameters, and the JSON, multipart and url-encoded bodies Meta accepts).

Three encodings, as Meta accepts them: a JSON object body; multipart or url-encoded forms where
`data` is a JSON string (and, as the Python SDK sends it, possibly an array of JSON strings, one
per event). Query-string parameters are merged under the body's. The token is taken from the
body, else the query, else an `Authorization: Bearer|OAuth <token>` header.

Unknown top-level parameters are ignored, as Graph does; the known ones must have their type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from streams.dev.sandbox.errors import GraphError, invalid_param

__all__ = ["MAX_EVENTS", "Envelope", "build_envelope", "header_token", "params_from_json"]

MAX_EVENTS = 1000

_STRING_PARAMS = (
    "access_token",
    "appsecret_proof",
    "test_event_code",
    "partner_agent",
    "namespace_id",
    "upload_id",
    "upload_tag",
    "upload_source",
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The decoded request: events (not yet validated) and the parameters the sandbox uses."""

    data: list[object]
    access_token: str | None
    appsecret_proof: str | None
    test_event_code: str | None


def params_from_json(body: bytes) -> dict[str, object] | GraphError:
    """Decode a JSON request body, which must be an object."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return invalid_param("The request body is not valid JSON")
    if not isinstance(doc, dict):
        return invalid_param("The request body must be a JSON object")
    return doc


def header_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <t>` (or `OAuth <t>`) header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "oauth"):
        return None
    token = token.strip()
    return token or None


def build_envelope(params: Mapping[str, object]) -> Envelope | GraphError:
    """Check the top-level parameters and decode `data` into a list of events."""
    for name in _STRING_PARAMS:
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            return invalid_param(f"param {name} must be a string", blame=name)
    raw = params.get("data")
    if raw is None:
        return invalid_param("The parameter data is required", blame="data")
    if isinstance(raw, str | bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return invalid_param("param data must be a JSON-encoded array", blame="data")
    if not isinstance(raw, list):
        return invalid_param("param data must be an array", blame="data")
    if not raw:
        return invalid_param("param data must be a non-empty array", blame="data")
    if len(raw) > MAX_EVENTS:
        return invalid_param(
            f"param data must be an array of at most {MAX_EVENTS} events", blame="data"
        )
    if any(type(ev) is str for ev in raw):
        decoded: list[object] = []
        for i, ev in enumerate(raw):
            if type(ev) is str:
                try:
                    ev = orjson.loads(ev)
                except orjson.JSONDecodeError:
                    return invalid_param(
                        f"param data[{i}] is not a valid JSON object", blame=f"data[{i}]"
                    )
            decoded.append(ev)
        raw = decoded
    token = params.get("access_token")
    proof = params.get("appsecret_proof")
    tec = params.get("test_event_code")
    return Envelope(
        data=raw,
        access_token=token if isinstance(token, str) and token else None,
        appsecret_proof=proof if isinstance(proof, str) and proof else None,
        test_event_code=tec if isinstance(tec, str) and tec else None,
    )
