"""The datasets the sandbox knows, with their access tokens, read from a small TOML file.

File format (see config/sandbox-datasets.example.toml)::

    [[datasets]]
    id = "1000000000000001"          # digits, as Meta's dataset/pixel ids
    token = "sandbox-token-1"        # the access token that may post to it
    app_secret = "s3cret"            # optional: then appsecret_proof is required and checked

Without a file the sandbox serves DEFAULT_DATASETS: datasets "1000000000000001" and
"1000000000000002", both with the token "sandbox-token", no app secret, so a client works with
zero configuration.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_DATASETS",
    "DEFAULT_TOKEN",
    "Dataset",
    "DatasetsFileError",
    "is_dataset_id",
    "load_datasets",
    "parse_datasets",
]


def is_dataset_id(text: str) -> bool:
    """A dataset id as Meta's edge takes it: ASCII digits only."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset (pixel) and the token allowed to post events to it."""

    id: str
    token: str
    app_secret: str | None = None

    def __repr__(self) -> str:  # never show secrets
        return (
            f"Dataset(id={self.id!r}, token=***, app_secret={'***' if self.app_secret else None})"
        )


class DatasetsFileError(ValueError):
    """The datasets file is missing, not TOML, or has an invalid entry (names the field)."""


DEFAULT_TOKEN = "sandbox-token"  # noqa: S105  # a public test token, not a secret
DEFAULT_DATASETS: Mapping[str, Dataset] = {
    "1000000000000001": Dataset("1000000000000001", DEFAULT_TOKEN),
    "1000000000000002": Dataset("1000000000000002", DEFAULT_TOKEN),
}


def parse_datasets(doc: Mapping[str, object]) -> dict[str, Dataset]:
    """Build the id -> Dataset map from a parsed TOML document."""
    entries = doc.get("datasets")
    if not isinstance(entries, list) or not entries:
        raise DatasetsFileError("'datasets' must be a non-empty array of tables")
    out: dict[str, Dataset] = {}
    for i, entry in enumerate(entries):
        where = f"datasets[{i}]"
        if not isinstance(entry, dict):
            raise DatasetsFileError(f"{where} must be a table")
        unknown = set(entry) - {"id", "token", "app_secret"}
        if unknown:
            raise DatasetsFileError(f"{where}: unknown keys {sorted(unknown)}")
        ds_id = entry.get("id")
        if isinstance(ds_id, int) and not isinstance(ds_id, bool):
            ds_id = str(ds_id)
        if not isinstance(ds_id, str) or not is_dataset_id(ds_id):
            raise DatasetsFileError(f"{where}.id must be a string of digits")
        token = entry.get("token")
        if not isinstance(token, str) or not token.strip():
            raise DatasetsFileError(f"{where}.token must be a non-empty string")
        secret = entry.get("app_secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise DatasetsFileError(f"{where}.app_secret must be a non-empty string")
        if ds_id in out:
            raise DatasetsFileError(f"{where}.id is a duplicate")
        out[ds_id] = Dataset(ds_id, token, secret)
    return out


def load_datasets(path: Path | None) -> dict[str, Dataset]:
    """Read the datasets file, or return a copy of DEFAULT_DATASETS when path is None."""
    if path is None:
        return dict(DEFAULT_DATASETS)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise DatasetsFileError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DatasetsFileError(f"{path} is not valid TOML: {exc}") from exc
    return parse_datasets(doc)
