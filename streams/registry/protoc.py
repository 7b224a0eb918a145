"""Compile Protobuf schema text to a descriptor set with protoc (grpcio-tools' bundled compiler).

The schema and the files it imports (its registry references) are written to a temporary folder
and compiled by `python -m grpc_tools.protoc` in a subprocess, so its error text can be read.
The well-known types (google/protobuf/*.proto) ship with grpcio-tools.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from streams.domain.registry import SchemaError

__all__ = ["SCHEMA_FILE", "compile_proto"]

SCHEMA_FILE = "schema.proto"


def _well_known_dir() -> str:
    return str(importlib.resources.files("grpc_tools") / "_proto")


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not name.endswith(".proto"):
        raise SchemaError(f"reference name {name[:100]!r} is not a relative .proto path")
    return path


async def compile_proto(text: str, imports: Mapping[str, str], timeout_s: float = 60.0) -> bytes:
    """A serialized FileDescriptorSet of `text` (as SCHEMA_FILE) and everything it imports;
    `imports` maps import paths to their text. Raises SchemaError when protoc refuses it."""
    with tempfile.TemporaryDirectory(prefix="capi-proto-") as tmp:
        root = Path(tmp)
        files = {SCHEMA_FILE: text, **imports}
        for name, body in files.items():
            target = root / "src" / _safe(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        out = root / "set.pb"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{root / 'src'}",
            f"-I{_well_known_dir()}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            SCHEMA_FILE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SchemaError("protoc did not finish in time") from None
        if proc.returncode != 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SchemaError(f"protoc refused the schema: {detail[0][:200]}")
        return out.read_bytes()
