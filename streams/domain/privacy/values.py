"""What the PII guard puts in place of personal data it finds: a SHA-256, or nothing.

`personal_value` handles the value of a key that names personal data (removed, or hashed in
hash mode, normalized as user_data normalizes em, ph, fn, ln, db; other kinds trimmed and
lowercased); `hash_matches` replaces each e-mail address or phone number found in a text by
its SHA-256, in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Final

from streams.domain.hashing import prehashed, sha256_hex
from streams.domain.normalize import normalize_field
from streams.domain.privacy.keys import KeyKind
from streams.domain.privacy.patterns import Found, decoded

__all__ = ["GuardAction", "hash_matches", "hash_value", "personal_value"]


class GuardAction(StrEnum):
    """What was done to one field (a stable metric label)."""

    DROP = "drop"
    HASH = "hash"


_NORMALIZED_AS: Final = {
    KeyKind.EMAIL: "em",
    KeyKind.PHONE: "ph",
    KeyKind.FIRST_NAME: "fn",
    KeyKind.LAST_NAME: "ln",
    KeyKind.BIRTH_DATE: "db",
}


def personal_value(
    value: Any, kind: KeyKind, hash_mode: bool, country: str | None, year: int
) -> tuple[Any, str]:
    """The value of a personal key: removed (None), or hashed in hash mode; and the action."""
    if not hash_mode:
        return None, GuardAction.DROP
    if isinstance(value, list):
        hashed = [h for item in value if (h := hash_value(item, kind, country, year)) is not None]
        return (hashed or None), (GuardAction.HASH if hashed else GuardAction.DROP)
    hashed_one = hash_value(value, kind, country, year)
    return hashed_one, (GuardAction.DROP if hashed_one is None else GuardAction.HASH)


def hash_value(value: Any, kind: KeyKind, country: str | None, year: int) -> str | None:
    """The SHA-256 of one text or number of `kind`, normalized; None when it cannot be."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    already = prehashed(text)
    if already is not None:
        return already
    key = _NORMALIZED_AS.get(kind)
    if key is None:
        normalized: str | None = text.lower() or None
    else:
        normalized = normalize_field(key, text, country, current_year=year)
    return None if normalized is None else sha256_hex(normalized)


def hash_matches(text: str, matches: Sequence[Found]) -> str:
    """`text` (decoded) with each match replaced by its SHA-256."""
    plain = decoded(text)
    pieces, end = [], 0
    for m in matches:
        pieces += [plain[end : m.start], _sha(m)]
        end = m.end
    pieces.append(plain[end:])
    return "".join(pieces).strip()


def _sha(found: Found) -> str:
    if found.kind is KeyKind.EMAIL:
        normalized = normalize_field("em", found.normalized, current_year=0)  # no year in em
        return sha256_hex(normalized or found.normalized)
    return sha256_hex(found.normalized)
