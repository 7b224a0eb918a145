"""`capi-streams worker --processes`: the option (the runs: tests/kafka/test_supervisor.py)."""

from __future__ import annotations

import pytest

from streams.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "processes"),
    [
        ([], 1),  # the worker alone, no supervisor: as before the option existed
        (["--processes", "1"], 1),
        (["--processes", "3"], 3),
        (["--processes", "auto"], 0),  # 0: one per core
        (["--processes"], 0),
    ],
)
def test_processes_option(argv: list[str], processes: int) -> None:
    assert build_parser().parse_args(["worker", *argv]).processes == processes


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_processes_refuses_anything_else(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["worker", "--processes", bad])
    assert exc.value.code == 2
    assert "expected a number of at least 1 or 'auto'" in capsys.readouterr().err
