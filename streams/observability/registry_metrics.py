"""Prometheus metrics of the schema registry input (topics with `encoding = "registry"`)."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["FETCH_OUTCOMES", "RegistryMetrics"]

# ok: a usable schema; unknown: 404 for the id; unusable: it cannot be compiled or parsed;
# unavailable: no answer (down, timeout, 5xx); refused: 401/403 (the credentials)
FETCH_OUTCOMES: Final = ("ok", "unknown", "unusable", "unavailable", "refused")


class RegistryMetrics:
    """Schema fetches by outcome, and the messages waiting for the registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.fetches = Counter(
            "capi_registry_schema_fetches",
            "Schema registry look-ups of a schema id, by outcome",
            ["outcome"],
            registry=registry,
        )
        for outcome in FETCH_OUTCOMES:
            self.fetches.labels(outcome)
        self.waiting = Gauge(
            "capi_registry_waiting_messages",
            "Input messages waiting for the schema registry (their schema is not cached and it "
            "gives no answer); nothing is committed past them",
            registry=registry,
        )

    def on_fetch(self, outcome: str) -> None:
        self.fetches.labels(outcome).inc()

    def on_waiting(self, delta: int) -> None:
        self.waiting.inc(delta)
