"""The pure decisions of `worker --processes N`: how many, instance ids, restarts, exit status."""

from __future__ import annotations

import pytest

from streams.kafka.process_plan import (
    RestartBudget,
    choose_processes,
    instance_ids,
    supervisor_exit,
)


def test_auto_is_one_per_core_at_most_the_partitions() -> None:
    assert choose_processes(None, cpus=2, partitions=4).processes == 2
    assert choose_processes(None, cpus=8, partitions=4).processes == 4
    assert choose_processes(None, cpus=8, partitions=4).warning is None
    assert choose_processes(None, cpus=1, partitions=0).processes == 1


def test_an_explicit_count_is_kept_up_to_the_partitions() -> None:
    assert choose_processes(3, cpus=1, partitions=4).processes == 3
    assert choose_processes(3, cpus=1, partitions=4).warning is None
    assert choose_processes(4, cpus=1, partitions=4).warning is None


def test_more_than_the_partitions_is_capped_with_a_warning_naming_both_numbers() -> None:
    choice = choose_processes(6, cpus=2, partitions=4)
    assert choice.processes == 4
    assert choice.warning is not None
    assert "--processes 6" in choice.warning
    assert "4 partitions" in choice.warning


def test_instance_ids_are_the_base_and_an_index() -> None:
    assert instance_ids("capi-streams-0", 3) == [
        "capi-streams-0-0",
        "capi-streams-0-1",
        "capi-streams-0-2",
    ]


@pytest.mark.parametrize(
    ("base", "first"),
    [
        ("host name/with:odd chars", "host-name-with-odd-chars-0"),
        ("", "capi-streams-0"),
        ("x" * 300, "x" * 247 + "-0"),
    ],
)
def test_instance_ids_are_valid_for_the_broker(base: str, first: str) -> None:
    ids = instance_ids(base, 12)
    assert ids[0] == first
    assert all(len(i) <= 249 for i in ids)
    assert len(set(ids)) == 12
    assert ids[11].endswith("-11")


def test_restart_delays_double_up_to_the_cap_then_the_budget_runs_out() -> None:
    budget = RestartBudget(max_restarts=5, window_s=300, base_delay_s=1, cap_delay_s=10)
    restarts: list[float] = []
    delays = []
    now = 1000.0
    while (delay := budget.delay(restarts, now)) is not None:
        delays.append(delay)
        now += delay
        restarts.append(now)
    assert delays == [1, 2, 4, 8, 10]


def test_restarts_outside_the_window_are_forgotten() -> None:
    budget = RestartBudget(max_restarts=2, window_s=60)
    assert budget.delay([0.0, 10.0], now=30.0) is None
    assert budget.delay([0.0, 10.0], now=65.0) == 2.0
    assert budget.delay([0.0, 10.0], now=200.0) == 1.0


@pytest.mark.parametrize(
    ("codes", "status"),
    [
        ([0, 0], 0),
        ([], 0),
        ([0, 70], 70),
        ([75, 70, None], 70),
        ([0, 75], 75),
        ([0, None], 75),
        ([0, 1], 1),
        ([-9, 0], 1),
        ([2], 1),
    ],
)
def test_the_supervisor_exit_status(codes: list[int | None], status: int) -> None:
    assert supervisor_exit(codes) == status
