"""Producer side of the registry tests: register schemas through the registry's
Confluent-compatible REST API and encode payloads with the maintained libraries (fastavro, the
protobuf runtime), framed in the Confluent wire format - as Kafka producers do."""

from __future__ import annotations

import io
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import fastavro
import orjson

from streams.domain.registry import frame

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


async def register(
    url: str,
    subject: str,
    schema: str,
    schema_type: str = "AVRO",
    references: Sequence[dict[str, Any]] = (),
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """Register `schema` under `subject`; the schema id the registry gives it."""
    body: dict[str, Any] = {"schema": schema}
    if schema_type != "AVRO":
        body["schemaType"] = schema_type
    if references:
        body["references"] = list(references)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/subjects/{quote(subject, safe='')}/versions",
            data=orjson.dumps(body),
            headers={"Content-Type": CONTENT_TYPE},
            ssl=ssl_context if ssl_context is not None else True,
        ) as resp,
    ):
        text = await resp.text()
        assert resp.status == 200, f"registering {subject}: HTTP {resp.status} {text}"
        return int(orjson.loads(text)["id"])


def avro_message(schema_id: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return frame(schema_id, out.getvalue())


def protobuf_message(schema_id: int, message: Any, indexes: Sequence[int] = (0,)) -> bytes:
    """`message` serialized after its message indexes (a single 0 byte for the first)."""

    def zigzag(n: int) -> bytes:
        z, out = (n << 1) ^ (n >> 63), bytearray()
        while z > 0x7F:
            out.append((z & 0x7F) | 0x80)
            z >>= 7
        out.append(z)
        return bytes(out)

    head = (
        b"\x00" if list(indexes) == [0] else zigzag(len(indexes)) + b"".join(map(zigzag, indexes))
    )
    return frame(schema_id, head + message.SerializeToString())


def json_message(schema_id: int, obj: dict[str, Any]) -> bytes:
    return frame(schema_id, orjson.dumps(obj))
