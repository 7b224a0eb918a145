"""Registry-encoded input: decode a window's wire-format messages, then run the pipeline.

`DecodingPipeline.process(messages)` keeps `Pipeline.process`'s contract (`WindowResult`):

1. decode (`streams.registry.decoder`): messages of topics with `encoding = "registry"` become
   decoded objects (admission then maps them like JSON objects), or failure records
   (`not_wire_format`, `unknown_schema_id`, `undecodable_payload`), or `waiting` when their
   schema is not cached and the registry cannot be asked;
2. the pipeline runs on the decoded messages (and the other topics' messages, unchanged);
3. waiting messages are not bad input: they are `WindowResult.waiting` (never acked, nothing
   committed past them on their partition) and their `later` asks the registry again every
   `registry.retry_seconds`; once it answers they run through steps 1-2. Messages whose schema
   is cached keep flowing meanwhile. The dataset holds' stop switch (shutdown, a rebalance
   past its grace period) ends the wait: the messages come back held and Kafka redelivers them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from streams.domain.admission import InputMessage
from streams.domain.records import FailureRecord
from streams.pipeline.core import Pipeline, WindowResult
from streams.pipeline.observer import PipelineObserver
from streams.pipeline.outcomes import OutcomeWriter
from streams.registry.decoder import RegistryDecoder

__all__ = ["DecodingPipeline"]

logger = logging.getLogger(__name__)

_NOTHING = WindowResult(held=frozenset(), delivered=0, failed=0)


class DecodingPipeline:
    """The pipeline behind a registry decoder."""

    def __init__(
        self,
        inner: Pipeline,
        decoder: RegistryDecoder,
        outcomes: OutcomeWriter,
        observer: PipelineObserver,
        *,
        include_raw: bool = False,
        clock: Callable[[], float] = time.time,
        on_waiting: Callable[[int], None] = lambda delta: None,
    ) -> None:
        self._inner = inner
        self._decoder = decoder
        self._outcomes = outcomes
        self._observer = observer
        self._include_raw = include_raw
        self._clock = clock
        self._on_waiting = on_waiting

    async def process(self, messages: Sequence[InputMessage]) -> WindowResult:
        """Run one window; never raises except CancelledError (treat all as held then)."""
        try:
            return await self._process(messages)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("window failed unexpectedly; holding it events=%d", len(messages))
            return WindowResult(held=frozenset(range(len(messages))), delivered=0, failed=0)

    async def _process(self, messages: Sequence[InputMessage]) -> WindowResult:
        decoded = await self._decoder.decode([(m.source.topic, m.value) for m in messages])
        if not decoded.failures and not decoded.waiting:
            pairs = zip(messages, decoded.values, strict=True)
            return await self._inner.process(
                [m if m.value is v else replace(m, value=v) for m, v in pairs]
            )
        now = self._clock()
        acks: list[Awaitable[object]] = []
        for pos, reason in sorted(decoded.failures.items()):
            msg = messages[pos]
            self._observer.on_consumed(msg.source.topic, 1)
            raw = msg.value if self._include_raw and isinstance(msg.value, bytes) else None
            acks.append(
                await self._outcomes.failure(FailureRecord(reason, msg.source, raw=raw), now)
            )
        skip = decoded.failures.keys() | decoded.waiting.keys()
        ready = [p for p in range(len(messages)) if p not in skip]
        sub = [replace(messages[p], value=decoded.values[p]) for p in ready]
        result = await self._inner.process(sub) if sub else _NOTHING
        await asyncio.gather(*acks)  # every failure record is durable before any ack
        laters: list[Awaitable[WindowResult]] = []
        if result.later is not None:
            laters.append(_remapped(result.later, ready))
        if decoded.waiting:
            waiting = sorted(decoded.waiting)
            logger.info(
                "messages wait for the schema registry events=%d schema_ids=%s",
                len(waiting),
                ",".join(map(str, sorted(set(decoded.waiting.values())))),
            )
            laters.append(self._retry(messages, waiting, set(decoded.waiting.values())))
        return WindowResult(
            held=frozenset(ready[i] for i in result.held),
            delivered=result.delivered,
            failed=result.failed + len(decoded.failures),
            waiting=frozenset(decoded.waiting) | {ready[i] for i in result.waiting},
            later=asyncio.ensure_future(_merged(laters)) if laters else None,
        )

    async def _retry(
        self, messages: Sequence[InputMessage], positions: list[int], schema_ids: set[int]
    ) -> WindowResult:
        """The messages at `positions`, once the registry answers for `schema_ids`."""
        self._on_waiting(len(positions))
        try:
            answered = await self._decoder.wait_for(schema_ids)
        finally:
            self._on_waiting(-len(positions))
        if not answered:  # shutdown, or a rebalance past its grace: never acked, read again
            logger.warning(
                "released messages waiting for the schema registry events=%d", len(positions)
            )
            return WindowResult(held=frozenset(positions), delivered=0, failed=0)
        result = await _settled(await self._process([messages[p] for p in positions]))
        return _mapped(result, positions)


async def _settled(result: WindowResult) -> WindowResult:
    """`result` with its waiting positions' later outcome folded in (no `later` left)."""
    while result.later is not None:
        later = await result.later
        result = WindowResult(
            held=(result.held - result.waiting) | later.held,
            delivered=result.delivered + later.delivered,
            failed=result.failed + later.failed,
            waiting=later.waiting,
            later=later.later,
        )
    return result


def _mapped(result: WindowResult, positions: Sequence[int]) -> WindowResult:
    return WindowResult(
        held=frozenset(positions[i] for i in result.held),
        delivered=result.delivered,
        failed=result.failed,
    )


async def _remapped(later: Awaitable[WindowResult], positions: Sequence[int]) -> WindowResult:
    return _mapped(await _settled(await later), positions)


async def _merged(laters: list[Awaitable[WindowResult]]) -> WindowResult:
    results = await asyncio.gather(*laters)
    return WindowResult(
        held=frozenset().union(*(r.held for r in results)),
        delivered=sum(r.delivered for r in results),
        failed=sum(r.failed for r in results),
    )
