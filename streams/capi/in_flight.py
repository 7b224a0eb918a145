"""A semaphore whose limit can shrink and grow while requests hold it.

:class:`InFlightLimiter` admits at most ``limit`` holders at a time, first come first served.
Lowering the limit takes nothing away: holders already in keep going, and newcomers wait until
enough of them have left to be under the new limit. Raising it admits waiters at once. The
:class:`streams.capi.delivery.Deliverer` keeps one per dataset and sets its limit from
:class:`streams.domain.concurrency.Concurrency`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

__all__ = ["InFlightLimiter"]


class InFlightLimiter:
    """At most ``limit`` holders (``async with limiter:``); the limit may change any time."""

    __slots__ = ("_in_use", "_limit", "_waiters")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return (
            f"InFlightLimiter(limit={self._limit}, in_use={self._in_use}, "
            f"waiting={len(self._waiters)})"
        )

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_use(self) -> int:
        """Holders now: may exceed ``limit`` for a while after it was lowered."""
        return self._in_use

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def set_limit(self, limit: int) -> None:
        """Change the limit; a higher one admits waiters now, a lower one only newcomers."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._admit()

    async def acquire(self) -> None:
        """Wait for a place (in arrival order)."""
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # admitted, then cancelled before it could run: give it back
            else:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                self._admit()
            raise

    def release(self) -> None:
        if self._in_use <= 0:
            raise RuntimeError("release() without acquire()")
        self._in_use -= 1
        self._admit()

    def _admit(self) -> None:
        while self._waiters and self._in_use < self._limit:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self._in_use += 1
            waiter.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
