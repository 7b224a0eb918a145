"""Bounded memo tables for the results of pure per-value functions (normalize, hash, check).

A `Memo` holds two generations of at most `limit` entries each. Lookups read the current
generation first (`memo.current.get(key)` on the hot path, no method call), then the previous
one; a hit there is stored again, which moves the entry forward. When the current generation
is full it becomes the previous one and the oldest is dropped, so values in use stay and
memory never exceeds 2 x `limit` entries. No clock, no I/O: a memo only ever returns what the
function returned for the same key.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Memo"]

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Key -> remembered result; at most 2 x `limit` entries.

    Hot path: `memo.current.get(key)`; after a miss, `memo.previous.get(key)`, then `store`.
    """

    __slots__ = ("current", "limit", "previous")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.current: dict[K, V] = {}
        """The current generation; its identity never changes (callers may keep it)."""
        self.previous: dict[K, V] = {}
        """The previous generation; replaced when `current` fills up (read it from the memo)."""

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)

    def recall(self, key: K) -> V | None:
        """The remembered result for `key`, or None (a previous-generation hit moves forward)."""
        found = self.current.get(key)
        if found is None:
            found = self.previous.get(key)
            if found is not None:
                self.store(key, found)
        return found

    def store(self, key: K, value: V) -> V:
        """Remember `value` (never None) for `key` and return it."""
        current = self.current
        if len(current) >= self.limit:
            self.previous = current.copy()
            current.clear()
        current[key] = value
        return value

    def clear(self) -> None:
        """Forget everything."""
        self.current.clear()
        self.previous = {}
