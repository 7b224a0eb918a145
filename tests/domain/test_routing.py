"""Dataset choice and topic locks."""

from __future__ import annotations

from streams.domain.routing import choose_dataset, locked_out

KNOWN = frozenset({"111", "222", "333"})


def _choose(**over: object) -> tuple[str | None, bool]:
    args: dict[str, object] = {
        "event_dataset": None,
        "header_dataset": None,
        "topic": "shop-a",
        "topic_map": {"shop-a": "111"},
        "default": None,
        "known": KNOWN,
    }
    args.update(over)
    return choose_dataset(**args)  # type: ignore[arg-type]


def test_precedence_event_then_header_then_topic_then_default() -> None:
    assert _choose(event_dataset="222", header_dataset=b"333") == ("222", True)
    assert _choose(header_dataset=b"333") == ("333", True)
    assert _choose() == ("111", True)
    assert _choose(topic="other", default="222") == ("222", True)
    assert _choose(topic="other") == (None, False)


def test_an_unknown_dataset_is_reported_not_replaced() -> None:
    assert _choose(event_dataset="999") == ("999", False)


def test_a_locked_topic_refuses_other_datasets() -> None:
    locks = {"shop-a": frozenset({"111", "222"})}
    assert not locked_out("shop-a", "111", locks)
    assert not locked_out("shop-a", "222", locks)
    assert locked_out("shop-a", "333", locks)
    assert not locked_out("shop-b", "333", locks)  # not locked
