"""A real Apicurio Registry (Apache-2.0, in-memory storage, loopback only) from Maven Central.

`capi-streams registry start|stop|status` and the pytest session fixture go through this module,
so the tests use exactly the registry users start. Clients speak its Confluent-compatible API at
`<url>/apis/ccompat/v7` (`RegistryInfo.ccompat_url`).

Steps of `start` (each one fails with a `RegistryError` that says what went wrong):
1. Check `java` (and, when the application must be fetched, `mvn`) on PATH.
2. Fetch the application once with the POM shipped in this package (`streams/dev/poms/`,
   package data) into the user's cache directory (`$XDG_CACHE_HOME/capi-streams/
   apicurio-<version>`): Apicurio publishes its Quarkus build as
   `io.apicurio:apicurio-registry-app:<version>:tar.gz:all`; Maven unpacks it.
3. Start the runner jar detached (storage in memory: every start is empty), its output appended
   to `<data-dir>/registry.log`, and wait until `/health/ready` answers 200.
4. Record pid, port and version in `<data-dir>/registry.json` for `stop` and `status`.

Version 2.6.13.Final is the default: it runs on Java 17. The 3.x builds on Maven Central
(3.3.x) are compiled for Java 21 and exit at start on Java 17 (UnsupportedClassVersionError).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from streams.dev.broker import MAVEN_DEPENDENCY_PLUGIN, default_cache_dir
from streams.dev.processes import (
    LocalProcess,
    LocalProcessError,
    choose_port,
    find_java,
    free_port,
    record_and_wait,
    recorded,
    spawn_detached,
    stop_recorded,
)

__all__ = [
    "DEFAULT_APICURIO_VERSION",
    "RegistryError",
    "RegistryInfo",
    "default_data_dir",
    "fetch_app",
    "start_registry",
    "status",
    "stop_registry",
]

DEFAULT_APICURIO_VERSION = "2.6.13.Final"


class RegistryError(LocalProcessError):
    """The local registry could not be fetched, started or stopped; the message says why."""

    what = "registry"


@dataclass(frozen=True, kw_only=True)
class RegistryInfo(LocalProcess):
    """Where a running local registry is and how to reach it."""

    version: str
    tls_cert: str | None = None  # HTTPS only, with this certificate (PEM)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ccompat_url(self) -> str:
        """The base URL of the Confluent-compatible API (what `[registry] url` names)."""
        return f"{self.url}/apis/ccompat/v7"


def _pom() -> Path:
    """The registry POM: `$CAPI_REGISTRY_POM`, else the package's own `poms/apicurio.xml`."""
    env = os.environ.get("CAPI_REGISTRY_POM")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "poms" / "apicurio.xml"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "capi-streams" / "registry"


def _runner_jar(app: Path) -> Path | None:
    """The launcher of an unpacked build: `*-runner.jar` (2.x) or `quarkus-run.jar` (3.x)."""
    for pattern in ("*-runner.jar", "quarkus-run.jar"):
        found = sorted(app.glob(pattern))
        if found:
            return found[0]
    return None


def fetch_app(version: str, cache_dir: Path | None = None) -> Path:
    """Return the runner jar of Apicurio Registry `version`, downloading it on first use."""
    app = (cache_dir or default_cache_dir()) / f"apicurio-{version}"
    marker = app / ".complete"
    jar = _runner_jar(app)
    if marker.exists() and jar is not None:
        return jar
    if shutil.which("mvn") is None:
        raise RegistryError(
            "Maven ('mvn') is not on PATH: it is needed once to fetch Apicurio Registry "
            f"from Maven Central into {app}. Install Maven (Debian: apt-get install maven)."
        )
    if not version[:1].isdigit() or "/" in version:
        raise RegistryError(f"--version must look like 2.6.13.Final, got {version!r}")
    pom = _pom()
    if not pom.exists():
        raise RegistryError(
            f"registry POM {pom} not found (package data of streams.dev: reinstall the package, "
            "or set CAPI_REGISTRY_POM to the path of apicurio.xml)"
        )
    if app.exists():
        shutil.rmtree(app)
    app.mkdir(parents=True)
    cmd = [
        *("mvn", "-B", "-ntp", "-q", "-f", str(pom)),
        f"{MAVEN_DEPENDENCY_PLUGIN}:unpack-dependencies",
        f"-DoutputDirectory={app.resolve()}",
        # its "already unpacked" markers go with the app, not into the repository
        f"-DmarkersDirectory={(app / '.markers').resolve()}",
        f"-Dapicurio.version={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    jar = _runner_jar(app)
    if proc.returncode != 0 or jar is None:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RegistryError(
            f"Downloading Apicurio Registry {version} from Maven Central failed "
            f"(mvn exit {proc.returncode}{', no runner jar' if jar is None else ''}):\n{tail}"
        )
    marker.write_text(version)
    return jar


def _state_file(data_dir: Path) -> Path:
    return data_dir / "registry.json"


def status(data_dir: Path | None = None) -> RegistryInfo | None:
    """The running registry recorded in `data_dir`, or None when none runs there."""
    return recorded(_state_file(data_dir or default_data_dir()), RegistryInfo)


def _ready(info: RegistryInfo) -> bool:
    context = ssl.create_default_context(cafile=info.tls_cert) if info.tls_cert else None
    try:
        url = f"{info.url}/health/ready"  # http(s) to 127.0.0.1, built here
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _java_command(
    java: str, jar: Path, port: int, heap: str, tls: tuple[Path, Path] | None
) -> list[str]:
    listen = [f"-Dquarkus.http.port={port}"]
    if tls is not None:  # HTTPS only: plain HTTP on a port nobody uses, and refused
        listen = [
            f"-Dquarkus.http.ssl-port={port}",
            f"-Dquarkus.http.port={free_port()}",
            f"-Dquarkus.http.ssl.certificate.files={tls[0].resolve()}",
            f"-Dquarkus.http.ssl.certificate.key-files={tls[1].resolve()}",
            "-Dquarkus.http.insecure-requests=disabled",
        ]
    return [
        java,
        f"-Xmx{heap}",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",  # start-up CPU matters here, not peak throughput
        "-Djava.awt.headless=true",
        *listen,
        "-Dquarkus.http.host=127.0.0.1",
        "-Dquarkus.log.level=WARN",
        '-Dquarkus.log.category."io.quarkus".level=INFO',
        "-jar",
        str(jar),
    ]


def start_registry(
    *,
    port: int = 8081,
    data_dir: Path | None = None,
    version: str = DEFAULT_APICURIO_VERSION,
    cache_dir: Path | None = None,
    timeout_s: float = 180.0,
    heap: str = "384m",
    tls: tuple[Path, Path] | None = None,
) -> RegistryInfo:
    """Start (or find already running) a local registry; return once it is ready. `tls`:
    (certificate, private key) PEM files: HTTPS only."""
    data_dir = (data_dir or default_data_dir()).resolve()
    running = status(data_dir)
    if running is not None:
        if running.version != version:
            raise RegistryError(
                f"Apicurio Registry {running.version} already runs from {data_dir} "
                f"(pid {running.pid}); stop it first or use another --data-dir"
            )
        return running
    java = find_java(RegistryError)
    port = choose_port(port, RegistryError)
    jar = fetch_app(version, cache_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "registry.log"
    proc = spawn_detached(_java_command(java, jar, port, heap, tls), log_path, cwd=data_dir)
    cert = str(tls[0].resolve()) if tls is not None else None
    info = RegistryInfo(
        pid=proc.pid, port=port, data_dir=str(data_dir), version=version, tls_cert=cert
    )
    record_and_wait(
        proc,
        info,
        lambda: _ready(info),
        error=RegistryError,
        state=_state_file(data_dir),
        log=log_path,
        not_ready=f"was not ready on 127.0.0.1:{port}",
        timeout_s=timeout_s,
        poll_s=0.5,
    )
    return info


def stop_registry(data_dir: Path | None = None, grace_s: float = 20.0) -> RegistryInfo | None:
    """Stop the registry recorded in `data_dir` (SIGTERM, then SIGKILL after `grace_s`)."""
    data_dir = (data_dir or default_data_dir()).resolve()
    info = status(data_dir)
    stop_recorded(info, _state_file(data_dir), grace_s)
    return info
