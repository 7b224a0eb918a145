"""SHA-256 of normalized values and the anchored "already hashed" checks.

A value is taken as already hashed only when the whole trimmed value is 64 hex digits, or is a
Parameter Builder output `<64 lowercase hex>.<appendix>` (docs/normalization.md). MD5-looking
32-hex values are not hashes here: they are normalized and hashed like any other value.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = [
    "PB_APPENDIX",
    "PREHASHED_LENGTHS",
    "is_hashed_output",
    "prehashed",
    "sha256_hex",
]

PB_APPENDIX: Final = r"(?:[A-Za-z0-9_-]{2}|[A-Za-z0-9_-]{8})"
"""Regex source of a Parameter Builder appendix: a legacy 2-char token or 8-char base64url."""

_SHA256_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")
_PB_HASH: Final = re.compile(r"[0-9a-f]{64}\." + PB_APPENDIX)
_LOWER_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_PB_HASH_LENGTHS: Final = frozenset({67, 73})
PREHASHED_LENGTHS: Final[frozenset[int]] = frozenset({64, *_PB_HASH_LENGTHS})
"""The only lengths an already hashed value can have (a cheap pre-check for `prehashed`)."""


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()


def prehashed(text: str) -> str | None:
    """The form to send for a trimmed value that is already hashed, else None.

    64 hex digits are lowercased; a Parameter Builder value is returned unchanged.
    """
    size = len(text)
    if size == 64:
        return text.lower() if _SHA256_HEX.fullmatch(text) else None
    if size in _PB_HASH_LENGTHS and _PB_HASH.fullmatch(text):
        return text
    return None


def is_hashed_output(value: str) -> bool:
    """True for a value as sent in a hashed field: lowercase 64-hex or Parameter Builder shape."""
    return bool(_LOWER_SHA256_HEX.fullmatch(value) or _PB_HASH.fullmatch(value))
