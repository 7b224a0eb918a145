"""Settings: TOML plus CAPI_* overrides, errors that name the key, masked tokens."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from streams.setting_rules import Range, numeric_fields
from streams.settings import (
    _SECTIONS,
    RULES,
    ConfigError,
    DatasetSettings,
    KafkaSettings,
    Secret,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "EAAGsecretvalue123456789"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_the_annotated_example_loads() -> None:
    s = load_settings(ROOT / "config" / "capi-streams.example.toml", {"CAPI_TOKEN_WEB": TOKEN})
    assert s.kafka.input_topics == ("capi-events",)
    assert s.datasets[0].id == "1234567890123456"
    assert s.datasets[0].token == Secret(TOKEN)
    assert s.routing.default_dataset == "1234567890123456"


def test_the_docker_config_loads() -> None:
    s = load_settings(ROOT / "config" / "capi-streams.docker.toml", {"CAPI_TOKEN": "t"})
    assert s.datasets and s.datasets[0].token is not None


def test_environment_overrides_every_section(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[datasets]]\nid = "1"\ntoken_env = "T"\n')
    s = load_settings(
        path,
        {
            "T": TOKEN,
            "CAPI_KAFKA__BOOTSTRAP_SERVERS": "a:1,b:2",
            "CAPI_KAFKA__INPUT_TOPICS": "x, y",
            "CAPI_GRAPH__TIMEOUT_SECONDS": "2.5",
            "CAPI_GRAPH__MAX_IN_FLIGHT": "7",
            "CAPI_DATASETS__0__TEST_EVENT_CODE": "TEST1",
            "CAPI_DATASETS__1__ID": "2",
            "CAPI_DATASETS__1__TOKEN_ENV": "T",
            "CAPI_FAILURES__INCLUDE_RAW": "true",
            "CAPI_ROUTING__DEFAULT_DATASET": "2",
            "CAPI_ROUTING__TOPICS__X": "1",
        },
    )
    assert s.kafka.bootstrap_servers == "a:1,b:2"
    assert s.kafka.input_topics == ("x", "y")
    assert s.graph.timeout_seconds == 2.5 and s.graph.max_in_flight == 7
    assert s.datasets[0].test_event_code == "TEST1"
    assert [d.id for d in s.datasets] == ["1", "2"]
    assert s.failures.include_raw is True
    assert s.routing.default_dataset == "2" and s.routing.topics == {"x": "1"}


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[kafka]\nbootstrap = 'x'\n", {}, "kafka.bootstrap: unknown key"),
        ("[graph]\ntimeout_seconds = 'soon'\n", {}, "graph.timeout_seconds: expected a number"),
        ("[graph]\nmax_in_flight = 0\n", {}, "graph.max_in_flight: expected 1..256, got 0"),
        ("[graph]\nurl = 'ftp://x'\n", {}, "graph.url: expected https://"),
        ("[nope]\n", {}, "nope: unknown section"),
        ("[[datasets]]\nid = '1'\n", {}, r"datasets\[0\].token_env: required"),
        (
            "[[datasets]]\nid = '1'\ntoken_env = 'T'\ntoken = 'abc'\n",
            {},
            "tokens never sit in the file",
        ),
        ("[[datasets]]\nid = 'pixel'\ntoken_env = 'T'\n", {}, "expected the numeric dataset"),
        ("[[datasets]]\nid = '1'\ntoken_env = 'T'\nmax_events = 5000\n", {}, "1..1000"),
        (
            "[[datasets]]\nid = '1'\ntoken_env = 'T'\ndefault_action_source = 'web'\n",
            {},
            "default_action_source: expected one of",
        ),
        ("[routing]\ndefault_dataset = '9'\n", {}, "routing.default_dataset: '9' is not"),
        ("", {"CAPI_GRAPH__MAX_ATTEMPTS": "many"}, "graph.max_attempts: expected an integer"),
        ("", {"CAPI_DATASETS__X__ID": "1"}, "CAPI_DATASETS__<index>__<KEY>"),
        ("[kafka\n", {}, "not valid TOML"),
        ("[formats]\nformat = 'segmnt'\n", {}, "formats.format"),
        ("[kafka]\nsession_timeout_seconds = 2\n", {}, "kafka.session_timeout_seconds: expected 6"),
        (
            "",
            {"CAPI_WORKER__SHUTDOWN_TIMEOUT_SECONDS": "12"},
            r"worker.shutdown_timeout_seconds: expected at least graph.timeout_seconds \+ 5 \(15\)",
        ),
    ],
)
def test_errors_name_the_key_and_what_is_expected(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, text), env)


def test_tokens_are_masked_in_every_repr(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[datasets]]\nid = "1"\ntoken_env = "T"\n')
    s = load_settings(path, {"T": TOKEN})
    for text in (repr(s), str(s), repr(s.datasets[0]), str(s.datasets[0].token)):
        assert TOKEN not in text
    assert s.datasets[0].token is not None and s.datasets[0].token.reveal() == TOKEN


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml", {})


def test_max_wait_ms_still_loads_but_is_deprecated_onto_the_worker_window(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        '[[datasets]]\nid = "1"\ntoken_env = "T"\nmax_wait_ms = 80\n'
        '[[datasets]]\nid = "2"\ntoken_env = "T"\nmax_wait_ms = 500\n'
        "[routing]\ndefault_dataset = '1'\n",
    )
    s = load_settings(path, {})
    assert s.worker.take_within_ms == 80  # the shortest wait was always the one window
    [message] = s.deprecations
    assert "datasets[0].max_wait_ms, datasets[1].max_wait_ms: deprecated" in message
    assert "worker.take_within_ms" in message
    plain = load_settings(None, {"CAPI_WORKER__TAKE_WITHIN_MS": "300"})
    assert plain.worker.take_within_ms == 300 and plain.deprecations == ()
    with pytest.raises(
        ConfigError, match=r"datasets\[0\]\.max_wait_ms: expected 0..60_000, got -1"
    ):
        load_settings(
            _write(tmp_path, '[[datasets]]\nid = "1"\ntoken_env = "T"\nmax_wait_ms = -1\n'), {}
        )


def test_group_instance_id_from_the_environment_and_its_checks() -> None:
    env = {"CAPI_KAFKA__GROUP_INSTANCE_ID": "capi-streams-2"}
    assert load_settings(None, env).kafka.group_instance_id == "capi-streams-2"
    assert load_settings(None, {}).kafka.group_instance_id == ""
    with pytest.raises(ConfigError, match=r"kafka\.group_instance_id: expected at most 249"):
        load_settings(None, {"CAPI_KAFKA__GROUP_INSTANCE_ID": "pod 0"})


def test_whole_numbers_written_as_floats_are_integers(tmp_path: Path) -> None:
    """Helm renders values through JSON numbers: 4 becomes 4.0 and 1000000 becomes 1e+06."""
    text = "[kafka]\ntopic_partitions = 4.0\nmax_message_bytes = 1e+06\n"
    kafka = load_settings(_write(tmp_path, text), {}).kafka
    assert (kafka.topic_partitions, kafka.max_message_bytes) == (4, 1_000_000)
    assert isinstance(kafka.topic_partitions, int)
    with pytest.raises(ConfigError, match=r"kafka\.topic_partitions: expected an integer"):
        load_settings(_write(tmp_path, "[kafka]\ntopic_partitions = 4.5\n"), {})


# ---------------------------------------------------------------- privacy

_TWO = '[[datasets]]\nid = "1"\ntoken_env = "T"\n[[datasets]]\nid = "2"\ntoken_env = "T"\n'


def test_pii_guard_settings_per_dataset(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _TWO.replace(
            'id = "1"\ntoken_env = "T"\n',
            'id = "1"\ntoken_env = "T"\npii_guard = "hash"\npii_allow_keys = ["name"]\n'
            'pii_deny_keys = ["vat_id"]\ndefault_country = "DE"\n',
            1,
        ),
    )
    s = load_settings(path, {"T": TOKEN, "CAPI_DATASETS__1__PII_GUARD": "off"})
    first, second = (d.pii_policy() for d in s.datasets)
    assert (first.mode.value, first.allow_keys, first.deny_keys, first.country) == (
        "hash",
        ("name",),
        ("vat_id",),
        "de",
    )
    assert second.mode.value == "off"
    assert s.admission().guards["1"] == first
    assert s.failures.keep_event == "redacted"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[datasets]]\nid = "1"\ntoken_env = "T"\npii_guard = "mask"\n', "datasets[0].pii_guard"),
        ('[failures]\nkeep_event = "all"\n', "failures.keep_event"),
    ],
)
def test_bad_privacy_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    if "datasets" not in text:
        text = '[[datasets]]\nid = "1"\ntoken_env = "T"\n' + text
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_settings(_write(tmp_path, text), {"T": TOKEN})


def test_routing_topics_may_lock_a_topic_to_its_datasets(tmp_path: Path) -> None:
    text = _TWO + (
        "[routing.topics]\n"
        'plain = "1"\n'
        'team-a = { dataset = "1", lock = true }\n'
        'team-b = { datasets = ["2", "1"], lock = true }\n'
        'unlocked = { dataset = "2" }\n'
    )
    s = load_settings(_write(tmp_path, text), {"T": TOKEN})
    assert s.routing.topics == {"plain": "1", "team-a": "1", "team-b": "2", "unlocked": "2"}
    assert s.routing.locks == {"team-a": frozenset({"1"}), "team-b": frozenset({"1", "2"})}
    assert s.admission().topic_locks == s.routing.locks


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('{ dataset = "3", lock = true }', r"routing.topics.t: '3' is not a configured"),
        ('{ dataset = "1", datasets = ["2"] }', "routing.topics.t: expected either"),
        ("{ lock = true }", "routing.topics.t: expected either"),
        ("{ datasets = [] }", "routing.topics.t.datasets: expected a non-empty list"),
        ('{ dataset = "1", lock = "yes please" }', "routing.topics.t.lock: expected true"),
        ('{ dataset = "1", locked = true }', "routing.topics.t.locked: unknown key"),
    ],
)
def test_bad_topic_routes_name_the_key(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, _TWO + f"[routing.topics]\nt = {entry}\n"), {"T": TOKEN})


@pytest.mark.parametrize(
    "url",
    [
        "https://graph.facebook.com",
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "http://sandbox:8080",
    ],
)
def test_graph_url_is_https_or_a_local_sandbox(tmp_path: Path, url: str) -> None:
    s = load_settings(None, {"CAPI_GRAPH__URL": url})
    assert s.graph.url == url


@pytest.mark.parametrize(
    "url", ["http://graph.facebook.com", "http://10.0.0.5:8080", "ftp://x", "graph.facebook.com"]
)
def test_graph_url_over_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"graph\.url: expected https://"):
        load_settings(None, {"CAPI_GRAPH__URL": url})


def test_registry_encoding_needs_the_registry_and_reads_its_secret_from_env(
    tmp_path: Path,
) -> None:
    topic = '[formats.topics.orders]\nencoding = "registry"\n'
    with pytest.raises(ConfigError, match=r"registry\.url"):
        load_settings(_write(tmp_path, topic), {})
    text = topic + '[registry]\nurl = "https://sr:8081"\ntoken_env = "SR_TOKEN"\n'
    with pytest.raises(ConfigError, match=r"registry\.token_env: environment variable SR_TOKEN"):
        load_settings(_write(tmp_path, text), {})
    s = load_settings(_write(tmp_path, text), {"SR_TOKEN": "sr-secret"})
    assert s.registry is not None and s.registry.url == "https://sr:8081"
    assert s.registry_auth == Secret("Bearer sr-secret")
    assert "sr-secret" not in repr(s)
    assert s.formats.registry_encoded("orders") and not s.formats.registry_encoded("other")


# A URL setting holding `user:password@` (the registry's crashed aiohttp next to its
# [registry] auth): refused at load, naming the key and its source, the password redacted.
URLS_WITH_CREDENTIALS = [
    ("registry", "url", "https://capi:hunter2-pw@sr.internal:8081/apis/ccompat/v7", "password_env"),
    ("registry", "url", "https://capi:hun/ter2-pw@sr.internal:8081", "password_env"),
    ("graph", "url", "https://capi:hunter2-pw@graph.facebook.com", "token_env"),
    ("kafka", "oauth_token_endpoint", "https://id:hunter2-pw@idp/oauth2/token", "secret_env"),
]


@pytest.mark.parametrize(("section", "key", "url", "instead"), URLS_WITH_CREDENTIALS)
@pytest.mark.parametrize("source", ["file", "env"])
def test_credentials_in_a_url_are_refused_naming_the_key_and_source_never_the_password(
    tmp_path: Path, section: str, key: str, url: str, instead: str, source: str
) -> None:
    tables = {
        "registry": {"url": "https://sr", "username": "capi", "password_env": "SR_PASSWORD"},
        "kafka": {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
        "graph": {},
    }
    variable = f"CAPI_{section.upper()}__{key.upper()}"
    env = {"SR_PASSWORD": "registry-pw"}
    if source == "file":
        tables[section][key] = url
    else:
        env[variable] = url
    text = "".join(
        f"[{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in table.items())
        for name, table in tables.items()
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env)
    message = str(caught.value)
    assert message.startswith(f"{section}.{key}: credentials in the URL (https://***@")
    assert message.endswith(f"(from {path if source == 'file' else variable})")
    assert instead in message
    assert "hunter2" not in message and "capi:" not in message and "id:" not in message


# The values the issue found accepted, each of which hung or crashed the worker later.
OUT_OF_RANGE = [
    ("worker", "max_pending_windows", "0", "expected 1..1024, got 0"),
    ("worker", "max_unacked_events", "0", "expected 1..10_000_000, got 0"),
    ("graph", "config_retry_seconds", "0", r"expected 0.1..86_400, got 0.0"),
    ("graph", "retry_base_seconds", "-1", r"expected 0.001..60, got -1.0"),
    ("graph", "max_retry_seconds", "nan", r"expected 0.001..86_400, got nan"),
    ("graph", "max_retry_seconds", "inf", r"expected 0.001..86_400, got inf"),
    ("worker", "log_level", '"LOUD"', r"expected one of 'DEBUG', 'INFO', .*, got something else"),
    ("worker", "log_format", '"xml"', r"expected one of 'text', 'json', got something else"),
    ("worker", "take_within_ms", "0", "expected 1..60_000, got 0"),
    ("metrics", "port", "70000", "expected 0..65_535 .*, got 70000"),
]


@pytest.mark.parametrize(("section", "key", "value", "expected"), OUT_OF_RANGE)
def test_a_value_out_of_range_in_the_file_names_the_key_and_the_file(
    tmp_path: Path, section: str, key: str, value: str, expected: str
) -> None:
    path = _write(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=f"^{section}.{key}: {expected} \\(from {path}\\)$"):
        load_settings(path, {})


@pytest.mark.parametrize(("section", "key", "value", "expected"), OUT_OF_RANGE)
def test_a_value_out_of_range_in_the_environment_names_the_variable(
    tmp_path: Path, section: str, key: str, value: str, expected: str
) -> None:
    # the file holds a valid value; the environment overrides it with the bad one
    path = _write(tmp_path, "")
    variable = f"CAPI_{section.upper()}__{key.upper()}"
    with pytest.raises(ConfigError, match=f"^{section}.{key}: {expected} \\(from {variable}\\)$"):
        load_settings(path, {variable: value.strip('"')})


def test_dataset_values_out_of_range_name_the_dataset_and_the_source(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[datasets]]\nid = "1"\ntoken_env = "T"\nmax_wait_ms = -5\n')
    with pytest.raises(ConfigError, match=rf"^datasets\[0\].max_wait_ms: .*got -5 \(from {path}\)"):
        load_settings(path, {})
    with pytest.raises(
        ConfigError,
        match=r"^datasets\[0\].ldu_state: expected one of 0, 1000, .*got 7 "
        r"\(from CAPI_DATASETS__0__LDU_STATE\)",
    ):
        load_settings(
            _write(tmp_path, '[[datasets]]\nid = "1"\ntoken_env = "T"\n'),
            {"CAPI_DATASETS__0__LDU_STATE": "7"},
        )


def test_a_wrong_type_names_where_it_came_from(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"^graph.max_attempts: expected an integer \(from CAPI_GRAPH__MAX_ATTEMPTS\)",
    ):
        load_settings(None, {"CAPI_GRAPH__MAX_ATTEMPTS": "many"})


def test_every_numeric_setting_has_a_range_its_default_satisfies() -> None:
    """A key added without a line in settings.RULES fails here, naming it."""
    classes = {**_SECTIONS, "kafka": KafkaSettings, "datasets": DatasetSettings}
    missing = [
        f"{section}.{name}"
        for section, cls in classes.items()
        for name in numeric_fields(cls)
        if f"{section}.{name}" not in RULES
    ]
    assert not missing, f"add a range to streams.settings.RULES for: {missing}"
    stale = [key for key in RULES if key.split(".")[0] not in classes]
    assert not stale, stale
    for key, rule in RULES.items():
        section, name = key.split(".")
        defaults = {f.name: f.default for f in fields(classes[section])}
        if name not in defaults:  # a deprecated key, still read (and checked) at load
            assert key == "datasets.max_wait_ms", key
            continue
        assert defaults[name] is None or rule.allows(defaults[name]), (key, defaults[name])
    assert isinstance(RULES["worker.max_pending_windows"], Range)


def test_the_edges_of_a_range_are_accepted(tmp_path: Path) -> None:
    s = load_settings(
        None,
        {
            "CAPI_WORKER__MAX_PENDING_WINDOWS": "1",
            "CAPI_WORKER__MAX_UNACKED_EVENTS": "1",
            "CAPI_GRAPH__RETRY_BASE_SECONDS": "60",
            "CAPI_GRAPH__RETRY_CAP_SECONDS": "60",
            "CAPI_WORKER__LOG_LEVEL": "DEBUG",
        },
    )
    assert s.worker.max_pending_windows == 1 and s.worker.max_unacked_events == 1
    assert s.graph.retry_base_seconds == 60.0 and s.worker.log_level == "DEBUG"
    with pytest.raises(ConfigError, match=r"retry_cap_seconds: expected at least .*CAPI_GRAPH"):
        load_settings(None, {"CAPI_GRAPH__RETRY_BASE_SECONDS": "31"})


def test_a_token_is_stripped_of_surrounding_whitespace(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[datasets]]\nid = "1"\ntoken_env = "T"\n')
    s = load_settings(path, {"T": f"  {TOKEN}\r\n"})
    assert s.datasets[0].token == Secret(TOKEN)
    assert load_settings(path, {"T": " \n"}).datasets[0].token is None  # blank: no token


@pytest.mark.parametrize(
    ("value", "kind", "position"),
    [
        (f"{TOKEN[:8]}\n{TOKEN[8:]}", "whitespace", 9),
        (f"{TOKEN[:8]} {TOKEN[8:]}", "whitespace", 9),
        (f"{TOKEN[:3]}\x00{TOKEN[3:]}", "a control or non-ASCII character", 4),
        (f"{TOKEN}\x7f", "a control or non-ASCII character", len(TOKEN) + 1),
        (f"{TOKEN}é", "a control or non-ASCII character", len(TOKEN) + 1),
    ],
)
def test_a_token_with_a_bad_character_inside_names_the_dataset_and_variable(
    tmp_path: Path, value: str, kind: str, position: int
) -> None:
    two = '[[datasets]]\nid = "1"\ntoken_env = "T"\n[[datasets]]\nid = "22"\ntoken_env = "TB"\n'
    path = _write(tmp_path, two)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"T": TOKEN, "TB": value})
    message = str(caught.value)
    assert message.startswith(
        f"datasets[1].token_env: the token in TB (dataset 22) holds {kind} "
        f"at position {position} of "
    ), message
    for part in (TOKEN, TOKEN[:8], TOKEN[8:]):
        assert part not in message
    assert load_settings(path, {"T": TOKEN, "TB": f"{TOKEN}\n"}).datasets[1].token == Secret(TOKEN)
