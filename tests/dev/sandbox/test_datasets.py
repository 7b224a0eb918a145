"""The datasets file: the shipped example, the defaults, and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.dev.sandbox.datasets import (
    DEFAULT_DATASETS,
    DEFAULT_TOKEN,
    Dataset,
    DatasetsFileError,
    load_datasets,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "sandbox-datasets.example.toml"


def test_example_file_loads() -> None:
    datasets = load_datasets(EXAMPLE)
    assert list(datasets) == ["1000000000000001", "1000000000000002", "1000000000000003"]
    assert datasets["1000000000000001"] == Dataset("1000000000000001", "sandbox-token-1")
    assert datasets["1000000000000003"].app_secret == "sandbox-app-secret-3"


def test_defaults_without_a_file() -> None:
    datasets = load_datasets(None)
    assert set(datasets) == {"1000000000000001", "1000000000000002"}
    assert all(d.token == DEFAULT_TOKEN and d.app_secret is None for d in datasets.values())
    datasets.clear()
    assert DEFAULT_DATASETS  # callers get a copy


def test_integer_ids_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text('[[datasets]]\nid = 123\ntoken = "t"\n')
    assert load_datasets(path) == {"123": Dataset("123", "t")}


def test_repr_hides_secrets() -> None:
    text = repr(Dataset("1", "my-token", "my-secret"))
    assert "my-token" not in text and "my-secret" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "non-empty array"),
        ("datasets = 5", "non-empty array"),
        ('[[datasets]]\ntoken = "t"', "id must be"),
        ('[[datasets]]\nid = "12a"\ntoken = "t"', "id must be"),
        ('[[datasets]]\nid = "1"', "token must be"),
        ('[[datasets]]\nid = "1"\ntoken = " "', "token must be"),
        ('[[datasets]]\nid = "1"\ntoken = "t"\napp_secret = ""', "app_secret"),
        ('[[datasets]]\nid = "1"\ntoken = "t"\npixel = "x"', "unknown keys"),
        ('[[datasets]]\nid = "1"\ntoken = "t"\n[[datasets]]\nid = "1"\ntoken = "u"', "duplicate"),
        ("[[datasets]\n", "not valid TOML"),
    ],
)
def test_invalid_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "d.toml"
    path.write_text(content)
    with pytest.raises(DatasetsFileError, match=message) as info:
        load_datasets(path)
    assert '"t"' not in str(info.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetsFileError, match="cannot read"):
        load_datasets(tmp_path / "absent.toml")


@given(st.text(alphabet="0123456789a²٣ -", min_size=0, max_size=32))
def test_the_sandbox_reads_dataset_ids_as_the_worker_does(text: str) -> None:
    # The sandbox never imports the domain; up to the worker's length limit both rules agree.
    from streams.dev.sandbox.datasets import is_dataset_id as sandbox_rule
    from streams.domain.routing import is_dataset_id as worker_rule

    assert sandbox_rule(text) == worker_rule(text)
