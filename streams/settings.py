"""Settings: one frozen object, from a TOML file plus environment overrides, checked at start-up.

Every key `section.key` of the file can be overridden by the environment variable
`CAPI_<SECTION>__<KEY>` (upper case, double underscore), e.g. `CAPI_KAFKA__BOOTSTRAP_SERVERS`,
`CAPI_GRAPH__URL`, `CAPI_METRICS__PORT`. A dataset's keys use its position:
`CAPI_DATASETS__0__TEST_EVENT_CODE`. Lists in the environment are comma-separated.
Tokens never sit in the file: a dataset names the variable that holds its token
(`token_env`), and the token's repr is masked.

`load_settings(path, env)` takes the environment as a mapping (tests pass dicts) and raises
`ConfigError` naming the bad key and what is expected.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from streams.domain.admission import AdmissionContext
from streams.domain.formats import FormatConfig, parse_format_config
from streams.domain.model import ACTION_SOURCES
from streams.domain.privacy.guard import GuardMode, PiiPolicy
from streams.domain.registry.config import (
    RegistryConfig,
    parse_registry_config,
    registry_authorization,
)
from streams.domain.routing import is_dataset_id
from streams.domain.transform import DatasetPolicy
from streams.setting_rules import OneOf, Range, Rule, rules_for, violation

__all__ = [
    "ConfigError",
    "DatasetSettings",
    "FailuresSettings",
    "GraphSettings",
    "KafkaSettings",
    "MetricsSettings",
    "QualitySettings",
    "RoutingSettings",
    "Secret",
    "Settings",
    "WorkerSettings",
    "check_bootstrap_servers",
    "load_settings",
]

ENV_PREFIX = "CAPI_"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
DEFAULT_MAX_EVENT_BYTES = 262_144
# Hosts that may be reached over plain http: the sandbox of docker-compose.yml, and loopback.
_SANDBOX_HOSTS = frozenset({"localhost", "sandbox"})


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what is expected."""


class Secret:
    """A token: its value is only reachable through `reveal()`; repr and str are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


ActionSource = Literal[
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
]


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = ""  # empty: `capi-streams run` starts the local broker
    input_topics: tuple[str, ...] = ("capi-events",)
    responses_topic: str = "capi-responses"
    failures_topic: str = "capi-failures"
    consumer_group: str = "capi-streams"
    topic_partitions: int = 4
    max_message_bytes: int = 1_000_000
    session_timeout_seconds: float = 30.0  # a dead worker's partitions move after this
    group_instance_id: str = ""  # static group membership (KIP-345); empty: dynamic
    # Security of every Kafka client (streams/kafka_connection/clients.py); secrets come only from
    # the environment variables named here and are held as masked `Secret`s.
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    ssl_ca_file: str = ""  # empty: the system's CAs
    ssl_cert_file: str = ""  # client certificate (mutual TLS)
    ssl_key_file: str = ""
    ssl_key_password_env: str = ""
    ssl_check_hostname: bool = True
    sasl_mechanism: str = ""  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
    sasl_username: str = ""
    sasl_password_env: str = ""
    oauth_token_endpoint: str = ""  # OIDC client-credentials token endpoint
    oauth_client_id: str = ""
    oauth_client_secret_env: str = ""
    oauth_scope: str = ""
    oauth_extensions: tuple[str, ...] = ()  # "key=value" SASL extensions (Confluent Cloud)
    oauth_token_provider: str = ""  # "module:callable" for other providers (MSK IAM, ...)
    ssl_key_password: Secret | None = field(default=None, compare=False, repr=False)
    sasl_password: Secret | None = field(default=None, compare=False, repr=False)
    oauth_client_secret: Secret | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class GraphSettings:
    url: str = DEFAULT_GRAPH_URL
    api_version: str = DEFAULT_API_VERSION
    timeout_seconds: float = 10.0
    max_in_flight: int = 4
    max_attempts: int = 6
    retry_base_seconds: float = 0.5
    retry_cap_seconds: float = 30.0
    max_retry_seconds: float = 120.0
    config_retry_seconds: float = 30.0


@dataclass(frozen=True)
class DatasetSettings:
    id: str
    token_env: str
    token: Secret | None = field(default=None, compare=False)
    test_event_code: str | None = None
    default_country: str | None = None
    default_action_source: ActionSource | None = None
    ldu: bool = False
    ldu_country: int | None = None
    ldu_state: int | None = None
    external_id: Literal["hash", "raw"] = "hash"
    max_events: int = 1000
    max_bytes: int = 4_000_000
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES  # one event as sent; larger: event_too_large
    max_future_skew_seconds: int = 60
    pii_guard: Literal["drop", "hash", "off"] = "drop"  # personal data outside user_data
    pii_allow_keys: tuple[str, ...] = ()  # keys the guard leaves alone
    pii_deny_keys: tuple[str, ...] = ()  # more keys that name personal data

    def pii_policy(self) -> PiiPolicy:
        return PiiPolicy(
            GuardMode(self.pii_guard), self.pii_allow_keys, self.pii_deny_keys, self.default_country
        )

    def policy(self) -> DatasetPolicy:
        return DatasetPolicy(
            dataset_id=self.id,
            default_action_source=self.default_action_source,
            default_country=self.default_country,
            ldu=("LDU",) if self.ldu else None,
            ldu_country=self.ldu_country,
            ldu_state=self.ldu_state,
            external_id_policy=self.external_id,
            max_future_skew_s=self.max_future_skew_seconds,
        )


@dataclass(frozen=True)
class RoutingSettings:
    default_dataset: str | None = None
    topics: Mapping[str, str] = field(default_factory=dict)  # input topic -> dataset id
    # Locked topics -> the only datasets their events may name (`lock = true`).
    locks: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSettings:
    port: int = 9464
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class QualitySettings:
    """Optional Event Match Quality poller (Meta's Dataset Quality API)."""

    enabled: bool = False
    interval_seconds: float = 900.0
    timeout_seconds: float = 10.0
    agent_name: str = ""


@dataclass(frozen=True)
class FailuresSettings:
    include_raw: bool = False
    keep_event: Literal["redacted", "none", "raw"] = "redacted"  # see README Privacy


@dataclass(frozen=True)
class WorkerSettings:
    take_max: int = 4000  # events per take window (all datasets)
    take_within_ms: int = 200  # window time limit (all datasets)
    max_pending_windows: int = 16  # windows processed at once
    batch_wait_ms: int = 1000  # a dataset's open request is sent when full or after this
    max_unacked_events: int = 20_000  # taken but not acked (behind a held dataset): memory bound
    max_unacked_bytes: int = 256 * 1024 * 1024  # their input (keys and values): memory bound
    rebalance_grace_seconds: float = 10.0  # then a rebalance releases held datasets
    shutdown_timeout_seconds: float = 30.0  # SIGTERM: exit 75 without committing after this
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    graph: GraphSettings = field(default_factory=GraphSettings)
    datasets: tuple[DatasetSettings, ...] = ()
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    failures: FailuresSettings = field(default_factory=FailuresSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    # Input formats per topic and declarative mappings ([formats], [mappings]; see README).
    formats: FormatConfig = field(default_factory=FormatConfig)
    # The schema registry of topics with `encoding = "registry"` ([registry]; see README).
    registry: RegistryConfig | None = None
    # Its `Authorization` header value, from the environment variable the config names.
    registry_auth: Secret | None = field(default=None, compare=False)
    # Deprecated keys that were read and mapped onto their replacement (say so at start-up).
    deprecations: tuple[str, ...] = field(default=(), compare=False)

    def admission(self) -> AdmissionContext:
        """What the domain's admission step needs from these settings."""
        return AdmissionContext(
            policies={d.id: d.policy() for d in self.datasets},
            max_event_bytes={d.id: d.max_event_bytes for d in self.datasets},
            max_message_bytes=self.kafka.max_message_bytes,
            formats=self.formats,
            topic_datasets=self.routing.topics,
            default_dataset=self.routing.default_dataset,
            include_raw=self.failures.include_raw,
            guards={d.id: d.pii_policy() for d in self.datasets},
            topic_locks=self.routing.locks,
        )

    def dataset(self, dataset_id: str) -> DatasetSettings | None:
        for ds in self.datasets:
            if ds.id == dataset_id:
                return ds
        return None


# The allowed values of every numeric setting, one line per key (`datasets.<key>` for the keys
# of each dataset); a key typed Literal[...] above is a closed set by its type alone. A numeric
# key missing here fails tests/test_settings.py. Values outside are refused at start-up with the
# key and where the value came from (streams.setting_rules).
RULES: dict[str, Rule] = {
    "kafka.topic_partitions": Range(1, 10_000),
    "kafka.max_message_bytes": Range(1_024, 1 << 30),
    "kafka.session_timeout_seconds": Range(
        6, 300, "the broker's default group.min/max.session.timeout.ms allow 6 s..30 min"
    ),
    "graph.timeout_seconds": Range(0.1, 300),
    "graph.max_in_flight": Range(1, 256),
    "graph.max_attempts": Range(1, 100),
    "graph.retry_base_seconds": Range(0.001, 60),
    "graph.retry_cap_seconds": Range(0.001, 3_600),
    "graph.max_retry_seconds": Range(0.001, 86_400),
    "graph.config_retry_seconds": Range(0.1, 86_400),
    "metrics.port": Range(0, 65_535, "0 picks a free port"),
    "quality.interval_seconds": Range(1, 86_400),
    "quality.timeout_seconds": Range(0.1, 300),
    "worker.take_max": Range(1, 100_000),
    "worker.take_within_ms": Range(1, 60_000),
    "worker.max_pending_windows": Range(1, 1_024),
    "worker.batch_wait_ms": Range(0, 60_000),
    "worker.max_unacked_events": Range(1, 10_000_000),
    "worker.max_unacked_bytes": Range(1 << 20, 1 << 36, "1 MiB..64 GiB"),
    "worker.rebalance_grace_seconds": Range(0.1, 3_600),
    "worker.shutdown_timeout_seconds": Range(1, 3_600),
    "datasets.ldu_country": OneOf((0, 1), "0 geolocate, 1 USA"),
    "datasets.ldu_state": OneOf((0, *range(1000, 1014)), "0 geolocate, 1000..1013 a US state"),
    "datasets.max_events": Range(1, 1_000, "Meta's limit per request"),
    "datasets.max_wait_ms": Range(0, 60_000),
    "datasets.max_bytes": Range(1_000, 100_000_000),
    "datasets.max_event_bytes": Range(1_000, 100_000_000, "and at most max_bytes"),
    "datasets.max_future_skew_seconds": Range(0, 86_400),
}

_SECTIONS: dict[str, type[Any]] = {
    "graph": GraphSettings,
    "metrics": MetricsSettings,
    "failures": FailuresSettings,
    "worker": WorkerSettings,
    "quality": QualitySettings,
}
_DATASET_KEYS = {
    "id": str,
    "token_env": str,
    "test_event_code": str,
    "default_country": str,
    "default_action_source": str,
    "ldu": bool,
    "ldu_country": int,
    "ldu_state": int,
    "external_id": str,
    "max_events": int,
    "max_wait_ms": int,
    "max_bytes": int,
    "max_event_bytes": int,
    "max_future_skew_seconds": int,
    "pii_guard": str,
    "pii_allow_keys": "tuple[str, ...]",
    "pii_deny_keys": "tuple[str, ...]",
}


def _coerce(key: str, value: Any, expected: Any) -> Any:
    """Check or convert one value (env values arrive as strings) to the field's type."""
    text = isinstance(value, str)
    if expected in (int, "int"):
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got a boolean")
        if isinstance(value, int):
            return value
        # A whole number written as a float (4.0, 1e+06): YAML-to-TOML tools (Helm's values
        # become JSON numbers) write every number that way.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if text:
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer")
    if expected in (float, "float"):
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got a boolean")
        if isinstance(value, int | float):
            return float(value)
        if text:
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number")
    if expected in (bool, "bool"):
        if isinstance(value, bool):
            return value
        if text and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{key}: expected true or false")
    if expected in ("tuple[str, ...]",):
        if text:
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{key}: expected a list of strings")
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string")
    return value


def _field_types(cls: type[Any]) -> dict[str, Any]:
    """The keys a section takes (not its secrets, which come from the environment)."""
    fields = cls.__dataclass_fields__.items()
    return {name: f.type for name, f in fields if not str(f.type).startswith("Secret")}


@dataclass(frozen=True)
class _Origins:
    """Where each value came from: the environment variable that set it, else the file."""

    path: str | None
    variables: Mapping[str, str]  # "worker.take_max" / "datasets[0].max_events" -> variable

    def of(self, key: str) -> str | None:
        return self.variables.get(key, self.path)


def _checked(key: str, value: Any, expected: Any, rule: Rule | None, origins: _Origins) -> Any:
    """One value converted to its type and checked against its rule; errors name the key
    and where the value came from."""
    origin = origins.of(key)
    try:
        typed = _coerce(key, value, expected)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {origin})" if origin else str(exc)) from None
    message = violation(key, typed, rule, origin) if rule is not None else None
    if message:
        raise ConfigError(message)
    return typed


def _section(name: str, cls: type[Any], raw: Mapping[str, Any], origins: _Origins) -> Any:
    types = _field_types(cls)
    rules = rules_for(name, cls, RULES)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in types:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(sorted(types))})")
        expected = types[key]
        typed = expected in ("tuple[str, ...]", "int", "float", "bool")
        label = f"{name}.{key}"
        kwargs[key] = _checked(label, value, expected if typed else str, rules.get(key), origins)
    return cls(**kwargs)


# [kafka] keys holding secrets: never in the file, read from the variable the `_env` key names.
_KAFKA_SECRETS = {
    "sasl_password": "sasl_password_env",
    "ssl_key_password": "ssl_key_password_env",
    "oauth_client_secret": "oauth_client_secret_env",
}


def _kafka_section(
    raw: Mapping[str, Any], env: Mapping[str, str], origins: _Origins
) -> KafkaSettings:
    for key, env_key in _KAFKA_SECRETS.items():
        if key in raw:
            raise ConfigError(
                f"kafka.{key}: secrets never sit in the file; set kafka.{env_key} to the "
                "name of the environment variable that holds it"
            )
    kafka: KafkaSettings = _section("kafka", KafkaSettings, raw, origins)
    found: dict[str, Any] = {}
    for key, env_key in _KAFKA_SECRETS.items():
        value = env.get(getattr(kafka, env_key)) if getattr(kafka, env_key) else None
        found[key] = Secret(value) if value else None
    upper = {k: getattr(kafka, k).upper() for k in ("security_protocol", "sasl_mechanism")}
    return replace(kafka, **upper, **found)


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn `CAPI_A__B[__C]` variables into a nested dict shaped like the TOML file, and the
    name of the variable behind each key."""
    out: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if parts[0] == "datasets":
            if len(parts) != 3 or not parts[1].isdigit():
                raise ConfigError(f"{name}: expected CAPI_DATASETS__<index>__<KEY>")
            out.setdefault("datasets", {}).setdefault(int(parts[1]), {})[parts[2]] = value
            names[f"datasets[{int(parts[1])}].{parts[2]}"] = name
        elif parts[0] == "routing" and len(parts) == 3 and parts[1] == "topics":
            out.setdefault("routing", {}).setdefault("topics", {})[parts[2]] = value
        elif len(parts) == 2:
            out.setdefault(parts[0], {})[parts[1]] = value
            names[f"{parts[0]}.{parts[1]}"] = name
        else:
            raise ConfigError(f"{name}: expected CAPI_<SECTION>__<KEY>")
    return out, names


_DATASET_RULES = rules_for("datasets", DatasetSettings, RULES)


def _dataset(
    index: int, raw: Mapping[str, Any], env: Mapping[str, str], origins: _Origins
) -> DatasetSettings:
    where = f"datasets[{index}]"
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _DATASET_KEYS:
            if key == "token":
                raise ConfigError(
                    f"{where}.token: tokens never sit in the file; set token_env to the "
                    "name of the environment variable that holds it"
                )
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(_DATASET_KEYS)})")
        expected, rule = _DATASET_KEYS[key], _DATASET_RULES.get(key)
        kwargs[key] = _checked(f"{where}.{key}", value, expected, rule, origins)
    for required in ("id", "token_env"):
        if not kwargs.get(required):
            raise ConfigError(f"{where}.{required}: required")
    if not is_dataset_id(str(kwargs["id"])):
        raise ConfigError(f"{where}.id: expected the numeric dataset (pixel) id")
    if kwargs.get("external_id", "hash") not in ("hash", "raw"):
        raise ConfigError(f"{where}.external_id: expected 'hash' or 'raw'")
    if kwargs.get("pii_guard", "drop") not in ("drop", "hash", "off"):
        raise ConfigError(f"{where}.pii_guard: expected 'drop', 'hash' or 'off'")
    src = kwargs.get("default_action_source")
    if src is not None and src not in ACTION_SOURCES:
        raise ConfigError(
            f"{where}.default_action_source: expected one of {', '.join(sorted(ACTION_SOURCES))}"
        )
    country = kwargs.get("default_country")
    if country is not None:
        if len(country) != 2 or not country.isalpha():
            raise ConfigError(f"{where}.default_country: expected an ISO 3166 alpha-2 code")
        kwargs["default_country"] = country.lower()
    kwargs.pop("max_wait_ms", None)  # deprecated: onto worker.take_within_ms (_max_wait_ms)
    event_bytes = kwargs.get("max_event_bytes", DatasetSettings.max_event_bytes)
    if event_bytes > kwargs.get("max_bytes", DatasetSettings.max_bytes):
        raise ConfigError(
            f"{where}.max_event_bytes: expected at most max_bytes, got {event_bytes}"
            + _from(origins, f"{where}.max_event_bytes", f"{where}.max_bytes")
        )
    token = _token(where, kwargs["id"], kwargs["token_env"], env.get(kwargs["token_env"]))
    return DatasetSettings(**kwargs, token=token)


def _token(where: str, dataset_id: str, variable: str, value: str | None) -> Secret | None:
    """The dataset's token from its variable, stripped of surrounding whitespace (a trailing
    newline from `$(cat file)` or a secrets mount); a token with whitespace or a control
    character inside cannot travel in an HTTP header and is refused here, naming the dataset
    and the variable, never the token."""
    token = (value or "").strip()
    if not token:
        return None
    for position, char in enumerate(token, 1):
        if not "!" <= char <= "~":
            kind = "whitespace" if char.isspace() else "a control or non-ASCII character"
            raise ConfigError(
                f"{where}.token_env: the token in {variable} (dataset {dataset_id}) holds "
                f"{kind} at position {position} of {len(token)}; an access token is printable "
                "ASCII without spaces"
            )
    return Secret(token)


def _max_wait_ms(ds_raw: list[dict[str, Any]], sections: dict[str, Any]) -> tuple[str, ...]:
    """`datasets[].max_wait_ms` (deprecated): the worker always took the shortest over all
    datasets as its one window, so it maps onto `worker.take_within_ms` (the shorter wins)."""
    waits = {
        i: _coerce(f"datasets[{i}].max_wait_ms", d["max_wait_ms"], int)
        for i, d in enumerate(ds_raw)
        if "max_wait_ms" in d
    }
    if not waits:
        return ()
    worker: WorkerSettings = sections["worker"]
    window = min(worker.take_within_ms, *waits.values())
    sections["worker"] = replace(worker, take_within_ms=window)
    keys = ", ".join(f"datasets[{i}].max_wait_ms" for i in waits)
    return (
        f"{keys}: deprecated; the window is worker.take_within_ms for all datasets "
        f"(now {window} ms)",
    )


def _routing(raw: Mapping[str, Any], datasets: tuple[DatasetSettings, ...]) -> RoutingSettings:
    ids = [d.id for d in datasets]
    for key in raw:
        if key not in ("default_dataset", "topics"):
            raise ConfigError(f"routing.{key}: unknown key (known: default_dataset, topics)")
    default = raw.get("default_dataset")
    if default is None and len(datasets) == 1:
        default = datasets[0].id
    if default is not None and str(default) not in ids:
        raise ConfigError(f"routing.default_dataset: {default!r} is not a configured dataset id")
    topics = raw.get("topics", {})
    if not isinstance(topics, Mapping):
        raise ConfigError("routing.topics: expected a table of topic = dataset id")
    chosen: dict[str, str] = {}
    locks: dict[str, frozenset[str]] = {}
    for topic, entry in topics.items():
        dataset, allowed = _topic_route(f"routing.topics.{topic}", entry, ids)
        chosen[str(topic)] = dataset
        if allowed is not None:
            locks[str(topic)] = allowed
    return RoutingSettings(
        default_dataset=str(default) if default is not None else None, topics=chosen, locks=locks
    )


def _topic_route(where: str, entry: Any, ids: list[str]) -> tuple[str, frozenset[str] | None]:
    """One `routing.topics` entry: `"id"`, or `{ dataset = "id" | datasets = [...], lock }`.
    Returns the topic's dataset (the first listed) and, when locked, its allowed datasets."""
    if not isinstance(entry, Mapping):
        entry = {"dataset": entry}
    unknown = set(entry) - {"dataset", "datasets", "lock"}
    if unknown:
        raise ConfigError(
            f"{where}.{sorted(unknown)[0]}: unknown key (known: dataset, datasets, lock)"
        )
    if ("dataset" in entry) == ("datasets" in entry):
        raise ConfigError(f'{where}: expected either dataset = "id" or datasets = ["id", ...]')
    listed = entry["datasets"] if "datasets" in entry else [entry["dataset"]]
    if not isinstance(listed, list) or not listed:
        raise ConfigError(f"{where}.datasets: expected a non-empty list of dataset ids")
    for ds in listed:
        if str(ds) not in ids:
            raise ConfigError(f"{where}: {ds!r} is not a configured dataset id")
    lock = _coerce(f"{where}.lock", entry.get("lock", False), bool)
    names = [str(ds) for ds in listed]
    return names[0], (frozenset(names) if lock else None)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(dict(base[key]), value)
        else:
            base[key] = value
    return base


def load_settings(path: str | Path | None, env: Mapping[str, str]) -> Settings:
    """Build the settings from a TOML file (optional) and `CAPI_*` environment overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    overrides, variables = _env_overrides(env)
    origins = _Origins(str(path) if path is not None else None, variables)
    ds_over = overrides.pop("datasets", {})
    raw = _merge(raw, overrides)
    known = {*_SECTIONS, "kafka", "datasets", "routing", "formats", "mappings", "registry"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{key}: unknown section (known: {', '.join(sorted(known))})")
    sections = {
        name: _section(name, cls, raw.get(name, {}), origins) for name, cls in _SECTIONS.items()
    }
    sections["kafka"] = _kafka_section(raw.get("kafka", {}), env, origins)

    ds_raw = raw.get("datasets", [])
    if not isinstance(ds_raw, list):
        raise ConfigError("datasets: expected an array of tables ([[datasets]])")
    ds_raw = [dict(d) for d in ds_raw]
    for index, values in sorted(ds_over.items()):
        while len(ds_raw) <= index:
            ds_raw.append({})
        ds_raw[index].update(values)
    datasets = tuple(_dataset(i, d, env, origins) for i, d in enumerate(ds_raw))
    deprecations = _max_wait_ms(ds_raw, sections)
    ids = [d.id for d in datasets]
    if len(set(ids)) != len(ids):
        raise ConfigError("datasets: each id may appear once")

    routing = _routing(dict(raw.get("routing", {})), datasets)
    try:
        formats = parse_format_config(raw.get("formats"), raw.get("mappings"))
        registry = parse_registry_config(raw.get("registry"))
        if registry is not None:
            _no_credentials_in_url("registry.url", registry.url, origins, _REGISTRY_AUTH)
        auth = registry_authorization(registry, env) if registry is not None else None
    except ValueError as exc:  # FormatConfigError / MappingError / RegistryConfigError name the key
        raise ConfigError(str(exc)) from None
    if formats.uses_registry and registry is None:
        raise ConfigError("registry.url: a topic has encoding = 'registry': set [registry] url")
    settings = Settings(
        datasets=datasets,
        routing=routing,
        formats=formats,
        registry=registry,
        registry_auth=Secret(auth) if auth is not None else None,
        deprecations=deprecations,
        **sections,
    )
    _check(settings, origins)
    return settings


# Where the credentials of each URL setting go instead of the URL's userinfo.
_REGISTRY_AUTH = "set registry.username and registry.password_env (or registry.token_env)"
_URL_CREDENTIALS = {
    "graph.url": "the access token comes from each dataset's token_env",
    "kafka.oauth_token_endpoint": "set kafka.oauth_client_id and kafka.oauth_client_secret_env",
}


def _no_credentials_in_url(key: str, url: str, origins: _Origins, instead: str) -> None:
    """Refuse `user:password@` in a URL setting: secrets never sit in files or URLs (and
    aiohttp refuses a URL with credentials next to an `Authorization` header). The message
    names the key and where the value came from, with the userinfo redacted. Any `@` after
    the scheme counts: a password holding an unencoded `/`, `?` or `#` moves the `@` out of
    the URL's authority (a literal `@` elsewhere is written `%40`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return
    after = re.split(r"[?#]", rest.rpartition("@")[2], maxsplit=1)[0]
    origin = origins.of(key)
    raise ConfigError(
        f"{key}: credentials in the URL ({scheme}://***@{after}) are not "
        f"allowed: secrets never sit in files or URLs; {instead}"
        + (f" (from {origin})" if origin else "")
    )


def _check_graph_url(url: str) -> None:
    """https, or http to a loopback host or the compose sandbox (`http://sandbox:8080`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not host:
        raise ConfigError("graph.url: expected https:// and a host")
    if parts.scheme == "http" and not (host in _SANDBOX_HOSTS or _loopback(host)):
        raise ConfigError(
            "graph.url: expected https:// (http only to a loopback host or the sandbox): "
            "the token and customer data must not travel in clear text"
        )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bootstrap_servers(servers: str) -> None:
    """Address syntax only: every entry `host:port`. Whether a broker answers there is checked
    when a client connects. A missing port is refused: Kafka clients would silently use 9092."""
    for entry in (part.strip() for part in servers.split(",")):
        host, sep, port = entry.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")  # [::1]:9092
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"kafka.bootstrap_servers: expected host:port[,host:port], got {entry!r}"
                + (
                    " (no port; Kafka's default would be 9092: write it out)"
                    if entry and not sep
                    else ""
                )
            )


def _check(s: Settings, origins: _Origins) -> None:
    """Checks across keys (each key's own range is in RULES)."""
    if s.kafka.bootstrap_servers:
        check_bootstrap_servers(s.kafka.bootstrap_servers)
    if not s.kafka.input_topics:
        raise ConfigError("kafka.input_topics: at least one topic is required")
    for name in (s.kafka.responses_topic, s.kafka.failures_topic):
        if name in s.kafka.input_topics:
            raise ConfigError(f"kafka: output topic {name!r} is also an input topic")
    urls = {"graph.url": s.graph.url, "kafka.oauth_token_endpoint": s.kafka.oauth_token_endpoint}
    for key, url in urls.items():
        _no_credentials_in_url(key, url, origins, _URL_CREDENTIALS[key])
    _check_graph_url(s.graph.url)
    if s.failures.keep_event not in ("redacted", "none", "raw"):
        raise ConfigError("failures.keep_event: expected 'redacted', 'none' or 'raw'")
    if not s.graph.api_version.startswith("v"):
        raise ConfigError("graph.api_version: expected a version like v25.0")
    gid = s.kafka.group_instance_id
    if gid and not (len(gid) <= 249 and re.fullmatch(r"[A-Za-z0-9._-]+", gid)):
        raise ConfigError(
            "kafka.group_instance_id: expected at most 249 characters of "
            "letters, digits, '.', '_' and '-' (a pod name, say)"
        )
    if s.worker.shutdown_timeout_seconds < s.graph.timeout_seconds + 5:
        raise ConfigError(
            "worker.shutdown_timeout_seconds: expected at least graph.timeout_seconds + 5 "
            f"({s.graph.timeout_seconds + 5:g}): a stop lets in-flight requests finish"
            + _from(origins, "worker.shutdown_timeout_seconds", "graph.timeout_seconds")
        )
    if s.graph.retry_cap_seconds < s.graph.retry_base_seconds:
        raise ConfigError(
            "graph.retry_cap_seconds: expected at least graph.retry_base_seconds "
            f"({s.graph.retry_base_seconds:g})"
            + _from(origins, "graph.retry_cap_seconds", "graph.retry_base_seconds")
        )
    _check_kafka_security(s.kafka)


def _from(origins: _Origins, *keys: str) -> str:
    """` (from X, Y)`: where the keys of a check across keys came from."""
    found = sorted({origin for key in keys if (origin := origins.of(key))})
    return f" (from {', '.join(found)})" if found else ""


_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


def _check_kafka_security(k: KafkaSettings) -> None:
    """Which [kafka] security keys go together; whether files and variables exist is checked
    when a client is built (streams/kafka_connection/clients.py), so `validate` needs neither."""
    if k.security_protocol not in _PROTOCOLS:
        raise ConfigError(f"kafka.security_protocol: expected one of {', '.join(_PROTOCOLS)}")
    sasl = k.security_protocol.startswith("SASL_")
    tls = k.security_protocol in ("SSL", "SASL_SSL")
    if not tls:
        for key in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password_env"):
            if getattr(k, key):
                raise ConfigError(f"kafka.{key}: needs security_protocol SSL or SASL_SSL")
    if bool(k.ssl_cert_file) != bool(k.ssl_key_file):
        raise ConfigError(
            "kafka.ssl_key_file: mutual TLS needs both ssl_cert_file and ssl_key_file"
        )
    if not sasl:
        for key in ("sasl_mechanism", "sasl_username", "sasl_password_env", *_OAUTH_KEYS):
            if getattr(k, key):
                raise ConfigError(
                    f"kafka.{key}: needs security_protocol SASL_PLAINTEXT or SASL_SSL"
                )
        return
    if k.sasl_mechanism not in _MECHANISMS:
        raise ConfigError(f"kafka.sasl_mechanism: expected one of {', '.join(_MECHANISMS)}")
    if k.sasl_mechanism != "OAUTHBEARER":
        for key in ("sasl_username", "sasl_password_env"):
            if not getattr(k, key):
                raise ConfigError(f"kafka.{key}: required with sasl_mechanism {k.sasl_mechanism}")
        return
    _check_oauth(k)


_OAUTH_KEYS = (
    "oauth_token_endpoint",
    "oauth_client_id",
    "oauth_client_secret_env",
    "oauth_scope",
    "oauth_extensions",
    "oauth_token_provider",
)


def _check_oauth(k: KafkaSettings) -> None:
    for ext in k.oauth_extensions:
        if "=" not in ext or not ext.split("=", 1)[0]:
            raise ConfigError(
                "kafka.oauth_extensions: expected entries like 'logicalCluster=lkc-1'"
            )
    if k.oauth_token_provider:
        module, _, func = k.oauth_token_provider.partition(":")
        if not module or not func:
            raise ConfigError("kafka.oauth_token_provider: expected 'module:callable'")
        if k.oauth_token_endpoint:
            raise ConfigError(
                "kafka.oauth_token_endpoint: set either oauth_token_endpoint (the built-in "
                "OIDC client-credentials provider) or oauth_token_provider, not both"
            )
        return
    if not k.oauth_token_endpoint:
        raise ConfigError(
            "kafka.oauth_token_endpoint: required with sasl_mechanism OAUTHBEARER "
            "(or oauth_token_provider = 'module:callable')"
        )
    parts = urlsplit(k.oauth_token_endpoint)
    local = parts.scheme == "http" and _loopback(parts.hostname or "")
    if not (parts.scheme == "https" and parts.hostname) and not local:
        raise ConfigError(
            "kafka.oauth_token_endpoint: expected an https:// URL (http only to a loopback "
            "host): the client secret must not travel in clear text"
        )
    for key in ("oauth_client_id", "oauth_client_secret_env"):
        if not getattr(k, key):
            raise ConfigError(f"kafka.{key}: required with oauth_token_endpoint")
