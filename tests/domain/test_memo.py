"""The bounded two-generation memo behind the per-value normalization results."""

from __future__ import annotations

import pytest

from streams.domain.memo import Memo


def test_store_returns_the_value_and_recall_finds_it() -> None:
    memo: Memo[str, str] = Memo(4)
    assert memo.store("a", "A") == "A"
    assert memo.current.get("a") == "A"
    assert memo.recall("a") == "A"
    assert memo.recall("b") is None
    assert len(memo) == 1


def test_never_more_than_two_generations_of_limit_entries() -> None:
    memo: Memo[int, str] = Memo(3)
    for key in range(100):
        memo.store(key, str(key))
        assert len(memo.current) <= 3
        assert len(memo) <= 6
    # The newest entries are kept, the oldest forgotten.
    assert memo.recall(99) == "99"
    assert memo.recall(0) is None


def test_a_full_generation_becomes_the_previous_one() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.store("a", 1)
    memo.store("b", 2)
    memo.store("c", 3)  # current was full: a and b move to the previous generation
    assert memo.current == {"c": 3}
    assert memo.previous == {"a": 1, "b": 2}
    assert memo.recall("a") == 1  # found in the previous generation ...
    assert memo.current == {"c": 3, "a": 1}  # ... and moved forward


def test_entries_in_use_survive_rotations() -> None:
    memo: Memo[int, int] = Memo(4)
    memo.store(0, 0)
    for key in range(1, 200):
        memo.store(key, key)
        assert memo.recall(0) == 0  # used after every store, so never forgotten


def test_current_keeps_its_identity() -> None:
    memo: Memo[int, int] = Memo(2)
    current = memo.current
    for key in range(10):
        memo.store(key, key)
    memo.clear()
    assert memo.current is current
    assert len(memo) == 0
    assert memo.recall(9) is None


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        Memo(0)
