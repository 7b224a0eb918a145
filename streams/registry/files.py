"""Decode a file's registry-encoded messages for `capi-streams validate` and `import`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streams.domain.registry import RegistryReason
from streams.domain.registry.config import RegistryConfig
from streams.registry.cache import SchemaCache
from streams.registry.client import RegistryClient, RegistryUnavailable
from streams.registry.decoder import RegistryDecoder

__all__ = ["decode_file_messages"]


async def decode_file_messages(
    messages: Sequence[bytes | None],
    config: RegistryConfig,
    authorization: str | None = None,
    *,
    max_message_bytes: int = 1_000_000,
) -> list[Mapping[str, Any] | str]:
    """Per message: the decoded object, or its failure reason (`not_wire_format` for a line
    that is not base64). Raises RegistryUnavailable when the registry cannot be asked."""
    async with RegistryClient(config, authorization) as client:
        decoder = RegistryDecoder(
            SchemaCache(client, config.cache_size),
            lambda _topic: True,
            max_message_bytes=max_message_bytes,
        )
        decoded = await decoder.decode([("file", m if m is not None else b"") for m in messages])
    if decoded.waiting:
        raise RegistryUnavailable("no answer from the schema registry")
    out: list[Mapping[str, Any] | str] = []
    for pos, value in enumerate(decoded.values):
        if pos in decoded.failures:
            out.append(str(decoded.failures[pos]))
        elif isinstance(value, Mapping):
            out.append(value)
        else:  # too large for kafka.max_message_bytes
            out.append("message_too_large" if value else str(RegistryReason.NOT_WIRE_FORMAT))
    return out
