"""Helpers for the sandbox tests: datasets, a settable clock, valid events, an HTTP client."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from streams.dev.sandbox.datasets import Dataset

DS1, DS2, DS3 = "1000000000000001", "1000000000000002", "1000000000000003"
TOKEN1, TOKEN2, TOKEN3 = "tok-one", "tok-two", "tok-three"
APP_SECRET = "app-secret-3"
DATASETS = {
    DS1: Dataset(DS1, TOKEN1),
    DS2: Dataset(DS2, TOKEN2),
    DS3: Dataset(DS3, TOKEN3, APP_SECRET),
}
NOW = 1_764_000_000  # 2025-11-24T16:00:00Z


class FakeClock:
    """A settable clock (Unix seconds)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_BASE_EVENT: dict[str, Any] = {
    "event_name": "Purchase",
    "event_time": NOW - 60,
    "event_id": "order-1",
    "action_source": "website",
    "event_source_url": "https://shop.example.com/checkout",
    "user_data": {
        "em": [sha("alice@example.com")],
        "ph": sha("33612345678"),
        "client_ip_address": "203.0.113.7",
        "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "fbc": "fb.1.1764000000000.IwAR2xyz",
        "fbp": "fb.1.1764000000000.123456789",
    },
    "custom_data": {"value": 42.5, "currency": "EUR"},
}


def event(**overrides: Any) -> dict[str, Any]:
    """A valid website Purchase event; keyword overrides replace top-level keys (None removes)."""
    ev = copy.deepcopy(_BASE_EVENT)
    for key, value in overrides.items():
        if value is None:
            ev.pop(key, None)
        else:
            ev[key] = value
    return ev


def user_data(**overrides: Any) -> dict[str, Any]:
    """The base user_data with keyword overrides (None removes a key)."""
    ud: dict[str, Any] = copy.deepcopy(_BASE_EVENT["user_data"])
    for key, value in overrides.items():
        if value is None:
            ud.pop(key, None)
        else:
            ud[key] = value
    return ud


@dataclass
class Reply:
    status: int
    doc: Any
    headers: Any

    @property
    def error(self) -> dict[str, Any]:
        err: dict[str, Any] = self.doc["error"]
        return err


@dataclass
class Client:
    """An aiohttp session bound to one sandbox."""

    http: aiohttp.ClientSession
    base: str

    def events_url(self, dataset: str = DS1, version: str = "v25.0") -> str:
        return f"{self.base}/{version}/{dataset}/events"

    async def post_events(
        self,
        data: list[Any],
        *,
        dataset: str = DS1,
        token: str | None = TOKEN1,
        **params: Any,
    ) -> Reply:
        body: dict[str, Any] = {"data": data, **params}
        if token is not None:
            body["access_token"] = token
        return await self.request(
            "POST",
            self.events_url(dataset),
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        )

    async def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        async with self.http.request(method, url, **kwargs) as resp:
            raw = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
            doc = orjson.loads(raw) if "json" in ctype else raw.decode()
            return Reply(resp.status, doc, resp.headers)

    async def admin(self, method: str, path: str, body: Any = None) -> Reply:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["data"] = orjson.dumps(body)
        return await self.request(method, f"{self.base}/_sandbox/{path}", **kwargs)
