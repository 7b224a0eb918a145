from __future__ import annotations

import pytest

from streams.domain.formats import parse_format_config
from streams.domain.formats.config import FormatConfigError
from streams.domain.registry.config import (
    RegistryConfig,
    RegistryConfigError,
    parse_registry_config,
)


def test_defaults_and_auth_by_env_var_name() -> None:
    assert parse_registry_config(None) is None
    cfg = parse_registry_config({"url": "https://sr.example/apis/ccompat/v7/", "token_env": "T"})
    assert cfg == RegistryConfig(url="https://sr.example/apis/ccompat/v7", token_env="T")
    basic = parse_registry_config({"url": "http://h", "username": "u", "password_env": "P"})
    assert basic is not None and basic.password_env == "P"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({}, "registry.url"),
        ({"url": "ftp://x"}, "registry.url"),
        ({"url": "http://h", "token": "abc"}, "registry.token"),
        ({"url": "http://h", "password": "abc"}, "registry.password"),
        ({"url": "http://h", "username": "u"}, "registry.password_env"),
        ({"url": "http://h", "username": "u", "password_env": "P", "token_env": "T"}, "token_env"),
        ({"url": "http://h", "cache_size": 0}, "registry.cache_size"),
        ({"url": "http://h", "cache_size": 1.5}, "registry.cache_size"),
        ({"url": "http://h", "timeout_seconds": True}, "registry.timeout_seconds"),
        ({"url": "http://h", "colour": 1}, "registry.colour"),
    ],
)
def test_errors_name_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(RegistryConfigError, match=key):
        parse_registry_config(raw)


def test_encoding_per_topic() -> None:
    cfg = parse_format_config({"topics": {"avro-in": {"encoding": "registry"}}})
    assert cfg.registry_encoded("avro-in")
    assert not cfg.registry_encoded("json-in")
    assert cfg.uses_registry
    assert not parse_format_config({}).uses_registry
    with pytest.raises(FormatConfigError, match=r"formats\.topics\.t\.encoding"):
        parse_format_config({"topics": {"t": {"encoding": "avro"}}})
