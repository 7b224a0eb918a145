"""A real single-node Apache Kafka broker (KRaft, loopback only) from Maven Central jars.

`capi-streams kafka start|stop|status`, the pytest session fixture and `capi-streams run` all go
through this module, so tests run against exactly what users start.

Steps of `start` (each one fails with a `BrokerError` that says what went wrong):
1. Check `java` (and, when jars must be fetched, `mvn`) on PATH.
2. Fetch the jars once with the POM shipped in this package (`streams/dev/poms/`, package
   data, so an installed package needs no source checkout) into the user's cache directory
   (`$XDG_CACHE_HOME/capi-streams/kafka-<version>/libs`); later starts reuse them offline.
3. Write `server.properties` and a console-only logging config into the data dir; format the
   KRaft storage on first start only (a restart keeps the topics).
4. Start `kafka.Kafka` detached, its output appended to `<data-dir>/broker.log`, and wait until
   the PLAINTEXT port accepts connections (Kafka opens it only once the broker is ready).
5. Record pid, port and version in `<data-dir>/broker.json` for `stop` and `status`.

`security=("sasl_ssl", ...)` adds secured listeners (streams/dev/broker_security.py) next to
the PLAINTEXT one, which the broker keeps for itself (inter-broker and controller traffic).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from streams.dev import broker_security
from streams.dev.processes import (
    LocalProcess,
    LocalProcessError,
    choose_port,
    find_java,
    free_port,
    port_taken,
    record_and_wait,
    recorded,
    spawn_detached,
    stop_recorded,
)

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "BrokerError",
    "BrokerInfo",
    "default_cache_dir",
    "default_data_dir",
    "fetch_jars",
    "start_broker",
    "status",
    "stop_broker",
]

DEFAULT_KAFKA_VERSION = "4.4.0"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def _pom_dir() -> Path:
    """The folder of the broker POMs: `$CAPI_KAFKA_POM_DIR`, else the package's own `poms/`."""
    env = os.environ.get("CAPI_KAFKA_POM_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "poms"


# Kafka's own log4j2 version per 4.x release (gradle/dependencies.gradle); the three log4j2
# artifacts must share it. Unknown 4.x versions fall back to the newest known line.
_LOG4J2_FOR_KAFKA = {
    "4.0.0": "2.24.3",
    "4.0.1": "2.24.3",
    "4.0.2": "2.25.3",
    "4.1.0": "2.24.3",
    "4.1.1": "2.24.3",
    "4.1.2": "2.25.3",
    "4.2.0": "2.25.3",
    "4.2.1": "2.25.3",
    "4.2.2": "2.25.3",
    "4.3.0": "2.25.4",
    "4.3.1": "2.25.4",
    "4.4.0": "2.25.4",
}
_LOG4J2_FALLBACK = "2.25.4"


class BrokerError(LocalProcessError):
    """The local broker could not be fetched, started or stopped; the message says why."""

    what = "broker"


@dataclass(frozen=True, kw_only=True)
class BrokerInfo(LocalProcess):
    """Where a running local broker is and how to reach it (`port`: PLAINTEXT)."""

    controller_port: int
    kafka_version: str
    listeners: dict[str, int] = field(default_factory=dict)  # secured: mode -> port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def secured_bootstrap(self, mode: str) -> str:
        """`host:port` of a secured listener (`localhost`: the broker certificate's name)."""
        host = "127.0.0.1" if mode == "sasl_plaintext" else "localhost"
        return f"{host}:{self.listeners[mode]}"

    def security(self) -> broker_security.LocalSecurity:
        """CA, client certificate and user of the secured listeners."""
        return broker_security.prepare(Path(self.data_dir))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "capi-streams"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "capi-streams" / "kafka"


def _is_4x(version: str) -> bool:
    return version.split(".", 1)[0] == "4"


def fetch_jars(kafka_version: str, cache_dir: Path | None = None) -> Path:
    """Return the folder of broker jars for `kafka_version`, downloading it on first use."""
    cache = (cache_dir or default_cache_dir()) / f"kafka-{kafka_version}"
    libs = cache / "libs"
    marker = cache / ".complete"
    if marker.exists() and any(libs.glob("*kafka_2.13*.jar")):
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError(
            "Maven ('mvn') is not on PATH: it is needed once to fetch the Kafka jars "
            f"from Maven Central into {cache}. Install Maven (Debian: apt-get install maven)."
        )
    if not (kafka_version[:1].isdigit() and kafka_version.count(".") == 2):
        raise BrokerError(f"--kafka-version must look like 3.9.2 or 4.1.1, got {kafka_version!r}")
    pom = _pom_dir() / ("pom-4.x.xml" if _is_4x(kafka_version) else "pom-3.9.xml")
    if not pom.exists():
        raise BrokerError(
            f"broker POM {pom} not found (package data of streams.dev: reinstall the "
            "package, or set CAPI_KAFKA_POM_DIR to a folder holding pom-3.9.xml and pom-4.x.xml)"
        )
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    cmd = [
        "mvn",
        "-B",
        "-ntp",
        "-q",
        "-f",
        str(pom),
        f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        "-Dmdep.prependGroupId=true",
        f"-DoutputDirectory={libs.resolve()}",
        f"-Dkafka.version={kafka_version}",
    ]
    if _is_4x(kafka_version):
        cmd.append(f"-Dlog4j2.version={_LOG4J2_FOR_KAFKA.get(kafka_version, _LOG4J2_FALLBACK)}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BrokerError(
            f"Downloading Kafka {kafka_version} jars from Maven Central failed "
            f"(mvn exit {proc.returncode}):\n{tail}"
        )
    marker.write_text(kafka_version)
    return libs


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _server_properties(
    port: int,
    controller_port: int,
    log_dir: Path,
    secured: dict[str, int],
    sec: broker_security.LocalSecurity | None,
) -> str:
    listeners = [f"PLAINTEXT://127.0.0.1:{port}", f"CONTROLLER://127.0.0.1:{controller_port}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{port}"]
    protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
    extra: list[str] = []
    if sec is not None:
        more, extra = broker_security.listener_properties(secured, sec)
        listeners += more
        advertised += [broker_security.advertised(m, p) for m, p in secured.items()]
        protocols += [f"{n}:{n}" for n in map(broker_security.PROTOCOL_OF_MODE.get, secured)]
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners={','.join(listeners)}",
            f"advertised.listeners={','.join(advertised)}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={','.join(protocols)}",
            *extra,
            f"log.dirs={log_dir}",
            "num.partitions=1",
            "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=1",
            "group.initial.rebalance.delay.ms=0",
            "log.cleaner.dedupe.buffer.size=16777216",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "",
        ]
    )


_LOG4J1 = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""

_LOG4J2 = """appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
logger.raft.name=kafka.server.KafkaRaftServer
logger.raft.level=INFO
"""


def _log_option(version: str, conf_dir: Path) -> str:
    if _is_4x(version):
        path = conf_dir / "log4j2.properties"
        path.write_text(_LOG4J2)
        return f"-Dlog4j2.configurationFile={path}"
    path = conf_dir / "log4j.properties"
    path.write_text(_LOG4J1)
    return f"-Dlog4j.configuration=file:{path}"


def _state_file(data_dir: Path) -> Path:
    return data_dir / "broker.json"


def status(data_dir: Path | None = None) -> BrokerInfo | None:
    """The running broker recorded in `data_dir`, or None when none runs there."""
    return recorded(_state_file(data_dir or default_data_dir()), BrokerInfo)


def start_broker(
    *,
    port: int = 9092,
    data_dir: Path | None = None,
    kafka_version: str = DEFAULT_KAFKA_VERSION,
    cache_dir: Path | None = None,
    timeout_s: float = 90.0,
    heap: str = "512m",
    security: tuple[str, ...] = (),
) -> BrokerInfo:
    """Start (or find already running) a local broker; return once it accepts connections.
    `security`: secured listeners to add (`ssl`, `sasl_ssl`, `sasl_plaintext`)."""
    data_dir = (data_dir or default_data_dir()).resolve()
    running = status(data_dir)
    if running is not None:
        if running.kafka_version != kafka_version or not set(security) <= set(running.listeners):
            raise BrokerError(
                f"a Kafka {running.kafka_version} broker with listeners "
                f"{', '.join(['plaintext', *running.listeners])} already runs from {data_dir} "
                f"(pid {running.pid}); stop it first or use another --data-dir"
            )
        return running
    java = find_java(BrokerError)
    port, secured, controller_port = _ports(port, security)
    libs = fetch_jars(kafka_version, cache_dir)
    sec = _prepare_security(data_dir) if security else None

    conf_dir = data_dir / "config"
    log_dirs = data_dir / "data"
    conf_dir.mkdir(parents=True, exist_ok=True)
    properties = conf_dir / "server.properties"
    properties.write_text(_server_properties(port, controller_port, log_dirs, secured, sec))
    log_opt = _log_option(kafka_version, conf_dir)
    classpath = f"{libs}/*"
    _format_storage(java, log_opt, classpath, properties, log_dirs, sec)
    broker_log = data_dir / "broker.log"
    command = [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={data_dir / 'logs'}",
        log_opt,
        "-cp",
        classpath,
        "kafka.Kafka",
        str(properties),
    ]
    proc = spawn_detached(command, broker_log)
    info = BrokerInfo(
        pid=proc.pid,
        port=port,
        data_dir=str(data_dir),
        controller_port=controller_port,
        kafka_version=kafka_version,
        listeners=secured,
    )
    record_and_wait(
        proc,
        info,
        lambda: _accepts(port),
        error=BrokerError,
        state=_state_file(data_dir),
        log=broker_log,
        not_ready=f"did not accept connections on 127.0.0.1:{port}",
        timeout_s=timeout_s,
        poll_s=0.2,
    )
    return info


def _ports(port: int, security: tuple[str, ...]) -> tuple[int, dict[str, int], int]:
    """(the PLAINTEXT port, the secured listeners' ports, a free controller port); port 0
    picks free ones."""
    port = choose_port(port, BrokerError)
    secured = _secured_ports(port, security)
    controller_port = free_port()
    while controller_port in {port, *secured.values()}:
        controller_port = free_port()
    return port, secured, controller_port


def _secured_ports(port: int, security: tuple[str, ...]) -> dict[str, int]:
    """Ports of the secured listeners: the next ones after `port` in the order of
    broker_security.MODES (9093 SSL, 9094 SASL_SSL, 9095 SASL_PLAINTEXT), free ones when
    `port` was 0."""
    for mode in security:
        if mode not in broker_security.MODES:
            raise BrokerError(
                f"--security: expected {', '.join(broker_security.MODES)} or all, got {mode!r}"
            )
    out: dict[str, int] = {}
    for offset, mode in enumerate(broker_security.MODES, start=1):
        if mode not in security:
            continue
        if port_taken(chosen := port + offset):
            chosen = free_port()
            while chosen == port or chosen in out.values():
                chosen = free_port()
        out[mode] = chosen
    return out


def _prepare_security(data_dir: Path) -> broker_security.LocalSecurity:
    try:
        return broker_security.prepare(data_dir)
    except broker_security.SecuritySetupError as exc:
        raise BrokerError(str(exc)) from None


def _format_storage(
    java: str,
    log_opt: str,
    classpath: str,
    properties: Path,
    log_dirs: Path,
    sec: broker_security.LocalSecurity | None,
) -> None:
    """Format the KRaft storage on first start (with the SCRAM users when secured)."""
    scram_marker = log_dirs / ".capi-scram-users"
    if (log_dirs / "meta.properties").exists():
        if sec is not None and not scram_marker.exists():
            raise BrokerError(
                f"{log_dirs} was formatted without the SCRAM users of the secured listeners; "
                "use a fresh --data-dir for --security"
            )
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if cluster_id.startswith("-"):
        cluster_id = "A" + cluster_id[1:]
    scram = broker_security.scram_format_args(sec) if sec is not None else []
    fmt = subprocess.run(  # noqa: S603
        [
            *(java, "-Xmx256m", log_opt, "-cp", classpath),
            *("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)),
            *scram,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if fmt.returncode != 0:
        output = (fmt.stdout + fmt.stderr)[-2000:]
        if sec is not None:
            output = output.replace(sec.password, "***")
        raise BrokerError(f"formatting KRaft storage in {log_dirs} failed:\n{output}")
    if sec is not None:
        scram_marker.write_text("SCRAM-SHA-256,SCRAM-SHA-512\n")


def stop_broker(data_dir: Path | None = None, grace_s: float = 30.0) -> BrokerInfo | None:
    """Stop the broker recorded in `data_dir` (SIGTERM, then SIGKILL after `grace_s`)."""
    data_dir = (data_dir or default_data_dir()).resolve()
    info = status(data_dir)
    stop_recorded(info, _state_file(data_dir), grace_s)
    return info
