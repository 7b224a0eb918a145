from __future__ import annotations

import pytest

from streams.domain.formats import parse_format_config
from streams.domain.formats.config import FormatConfigError
from streams.domain.registry.config import (
    RegistryConfig,
    RegistryConfigError,
    parse_registry_config,
    registry_authorization,
)
from streams.registry.client import RegistryClient


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


def test_auth_header_from_env_and_never_in_repr() -> None:
    bearer = RegistryConfig(url="https://sr", token_env="SR_TOKEN")
    assert registry_authorization(bearer, {"SR_TOKEN": "s3cret"}) == "Bearer s3cret"
    with pytest.raises(ValueError, match=r"registry\.token_env"):
        registry_authorization(bearer, {})
    basic = RegistryConfig(url="https://sr", username="u", password_env="SR_PW")
    assert registry_authorization(basic, {"SR_PW": "pw"}) == "Basic dTpwdw=="
    assert registry_authorization(RegistryConfig(url="https://sr"), {}) is None
    client = RegistryClient(bearer, "Bearer s3cret")
    assert "s3cret" not in repr(client) and "s3cret" not in str(client)
