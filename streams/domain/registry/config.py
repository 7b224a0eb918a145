"""The `[registry]` config table: where the schema registry is and how to reach it.

    [registry]
    url = "http://127.0.0.1:8081/apis/ccompat/v7"   # its Confluent-compatible API
    username = "capi"              # basic auth user (optional) ...
    password_env = "REGISTRY_PASSWORD"   # ... and the env var holding the password
    token_env = "REGISTRY_TOKEN"   # or: bearer auth, the env var holding the token
    ca_file = "/etc/ssl/registry-ca.pem" # TLS: trust this CA bundle (optional)
    timeout_seconds = 10           # one request
    cache_size = 1000              # parsed schemas kept (least recently used go first)
    retry_seconds = 2              # while it is unreachable: wait between tries

Secrets never sit in the file: only the names of the environment variables that hold them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "RegistryConfig",
    "RegistryConfigError",
    "parse_registry_config",
    "registry_authorization",
]

_KEYS: Final = (
    "url",
    "username",
    "password_env",
    "token_env",
    "ca_file",
    "timeout_seconds",
    "cache_size",
    "retry_seconds",
)


class RegistryConfigError(ValueError):
    """The registry config is invalid: the key and what is expected."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"registry.{key}: {message}")
        self.key = f"registry.{key}"


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """How to reach the schema registry (secrets by env var name only)."""

    url: str
    username: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    ca_file: str | None = None
    timeout_seconds: float = 10.0
    cache_size: int = 1000
    retry_seconds: float = 2.0


def parse_registry_config(raw: object) -> RegistryConfig | None:
    """The `[registry]` table (None when absent)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise RegistryConfigError("", "expected a table")
    for secret in ("password", "token"):
        if secret in raw:
            raise RegistryConfigError(
                secret, f"secrets never sit in the file: set {secret}_env to a variable's name"
            )
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise RegistryConfigError(unknown[0], f"unknown key (known: {', '.join(_KEYS)})")
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise RegistryConfigError("url", "expected the http(s) URL of the registry's API")
    for key in ("username", "password_env", "token_env", "ca_file"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise RegistryConfigError(key, "expected a string")
    if (raw.get("username") is None) != (raw.get("password_env") is None):
        raise RegistryConfigError("password_env", "basic auth needs username and password_env")
    if raw.get("token_env") is not None and raw.get("username") is not None:
        raise RegistryConfigError("token_env", "choose basic auth or a bearer token, not both")
    return RegistryConfig(
        url=url.rstrip("/"),
        username=raw.get("username"),
        password_env=raw.get("password_env"),
        token_env=raw.get("token_env"),
        ca_file=raw.get("ca_file"),
        timeout_seconds=_positive(raw, "timeout_seconds", 10.0),
        cache_size=int(_positive(raw, "cache_size", 1000, integer=True)),
        retry_seconds=_positive(raw, "retry_seconds", 2.0),
    )


def _positive(raw: Mapping[str, Any], key: str, default: float, *, integer: bool = False) -> float:
    value = raw.get(key, default)
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value <= 0:
        raise RegistryConfigError(key, f"expected a positive {'integer' if integer else 'number'}")
    return float(value)


def registry_authorization(config: RegistryConfig, env: Mapping[str, str]) -> str | None:
    """The `Authorization` header value for `config`, its secret read from `env` (None: no
    auth). Raises RegistryConfigError naming the key when the variable is unset."""
    if config.token_env is not None:
        token = env.get(config.token_env)
        if not token:
            raise RegistryConfigError("token_env", f"environment variable {config.token_env} unset")
        return f"Bearer {token}"
    if config.username is not None and config.password_env is not None:
        password = env.get(config.password_env)
        if password is None:
            raise RegistryConfigError(
                "password_env", f"environment variable {config.password_env} unset"
            )
        pair = f"{config.username}:{password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"
    return None
