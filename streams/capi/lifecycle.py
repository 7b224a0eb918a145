"""What the HTTP clients share: `async with` (open on enter, close on exit) and the one place a
token is unwrapped (`bearer`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from streams.settings import Secret

__all__ = ["AsyncClient", "bearer"]


def bearer(token: Secret | None) -> str:
    """The `Authorization` header value for `token` (empty without one: Meta refuses that as a
    configuration error). The only place a token is unwrapped."""
    return f"Bearer {token.reveal() if token is not None else ''}"


class AsyncClient(ABC):
    """A client with an idempotent `start()` and `close()`, usable as `async with client:`."""

    @abstractmethod
    async def start(self) -> None:
        """Open what the client needs (idempotent)."""

    @abstractmethod
    async def close(self) -> None:
        """Release it (idempotent)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
