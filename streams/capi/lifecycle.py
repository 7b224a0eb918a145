"""`async with` for the HTTP clients: open on enter, close on exit."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["AsyncClient"]


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
