"""`capi-streams registry`: the local Apicurio Registry the tests and users run."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import orjson
import pytest

from streams.cli import main
from streams.dev import apicurio


@pytest.mark.integration
def test_status_prints_the_confluent_compatible_url_last(
    registry_info: apicurio.RegistryInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "status", "--data-dir", registry_info.data_dir]) == 0
    url = capsys.readouterr().out.strip().splitlines()[-1]
    assert url == registry_info.ccompat_url
    with urllib.request.urlopen(f"{url}/subjects", timeout=10) as resp:
        assert isinstance(orjson.loads(resp.read()), list)


def test_not_running_and_port_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "status", "--data-dir", str(tmp_path)]) == 1
    assert "not running" in capsys.readouterr().out
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = main(["registry", "start", "--port", str(port), "--data-dir", str(tmp_path)])
    assert code == 2
    assert f"port {port} on 127.0.0.1 is taken" in capsys.readouterr().err


def test_a_bad_version_is_refused_before_maven_runs(tmp_path: Path) -> None:
    with pytest.raises(apicurio.RegistryError, match="--version must look like"):
        apicurio.fetch_app("../x", cache_dir=tmp_path)
