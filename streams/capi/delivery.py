"""Deliver one dataset's batch to Meta: retries, throttle pauses, bisection, configuration holds.

:meth:`Deliverer.deliver` runs the whole policy for one batch and returns a
:class:`DeliveryResult` that places every event index in exactly one of three groups:

* delivered: Meta acknowledged a request holding the event (ack it);
* failed: ``graph_rejected`` (Meta refused it; isolated by bisection) or
  ``retries_exhausted`` (transient errors outlasted the :class:`RetryPolicy`): write a failure
  record, then ack it;
* held: not finished because :meth:`DatasetHolds.stop` was called while waiting (configuration
  hold, throttle pause or backoff). Do not ack: the events stay in Kafka.

Policy, per :func:`streams.domain.classify.classify`:

* TRANSIENT: retry the same events with jittered exponential backoff (``Retry-After`` is honoured
  up to the policy cap), bounded by ``RetryPolicy.max_attempts`` and ``max_elapsed_s``. Elapsed
  time counts request time and backoff sleeps, not throttle/config pauses or queueing.
* THROTTLED: pause the whole dataset (every batch of it waits) for Meta's estimate, or for a
  jittered backoff when there is none, then resend. Throttling is backpressure, never a failure,
  and has no total bound: Meta asks callers to back off and more calls extend the block. Each
  single wait is capped by ``throttle_max_wait_s``; :meth:`DatasetHolds.stop` ends the wait.
* PAYLOAD/REJECTED: Meta rejects whole batches without naming the event, so a batch of n > 1 is
  split in halves, sent concurrently, recursively; a single event that is still refused fails
  with ``graph_rejected``. ``max_rejected_requests`` bounds the refused requests per batch (each
  counts against the app's Marketing API error rate); past it, a refused sub-batch fails whole
  with ``isolated=False``.
* CONFIG: hold the dataset (:class:`streams.capi.holds.DatasetHolds` reports it once), then
  probe with the same batch every ``config_retry_s`` (one probe at a time per dataset) until
  Meta accepts or refuses on the payload, or until the holds are stopped. Other datasets are
  unaffected.

Concurrency: a dataset has at most ``max_in_flight`` requests in flight, fewer while Graph is
overloaded (AIMD, :class:`streams.domain.concurrency.Concurrency`): a timeout, network error or
5xx halves the dataset's limit (once per window: answers to requests sent before the last
decrease do not lower it again), and each window of answered requests raises it by one, back
up to ``max_in_flight``. Requests in flight when it drops finish; new requests and retries wait
for a place under the lower limit. Throttle and configuration answers leave the limit alone:
they pause the dataset instead.

Tokens never pass through here: the :class:`EventSender` (the Graph client) holds them.

Cancelling the task that awaits :meth:`Deliverer.deliver` raises ``CancelledError`` as usual;
treat every event of that batch as held.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from streams.capi.client import GraphReply
from streams.capi.holds import DatasetHolds
from streams.capi.in_flight import InFlightLimiter
from streams.domain.classify import Classification, Outcome, classify
from streams.domain.concurrency import Concurrency, Signal, signal_of
from streams.domain.retry import RetryPolicy, backoff_delay

__all__ = [
    "GRAPH_REJECTED",
    "RETRIES_EXHAUSTED",
    "DeliveredRequest",
    "Deliverer",
    "DeliveryConfig",
    "DeliveryResult",
    "EventFailure",
    "EventSender",
    "NullObserver",
    "Observer",
]

logger = logging.getLogger(__name__)

GRAPH_REJECTED: Final = "graph_rejected"
RETRIES_EXHAUSTED: Final = "retries_exhausted"


class EventSender(Protocol):
    """The HTTP seam; :class:`streams.capi.client.GraphClient` implements it."""

    async def post_events(
        self,
        dataset_id: str,
        events: Sequence[Mapping[str, object]],
        test_event_code: str | None = None,
    ) -> GraphReply: ...


class Observer(Protocol):
    """Metrics hooks. Called synchronously on the event loop; implementations must not block."""

    def on_request(self, dataset: str, outcome: Outcome, duration_s: float, n_events: int) -> None:
        """One HTTP request finished with ``outcome`` after ``duration_s``."""

    def on_retry(self, dataset: str) -> None:
        """A transient failure is about to be retried."""

    def on_throttle(self, dataset: str, seconds: float) -> None:
        """Meta throttled the dataset; sending pauses for ``seconds``."""

    def on_paused(self, dataset: str, paused: bool) -> None:
        """The dataset entered (True) or left (False) a configuration hold."""

    def on_in_flight(self, dataset: str, delta: int) -> None:
        """A request started (+1) or ended (-1)."""

    def on_in_flight_limit(self, dataset: str, limit: int) -> None:
        """The dataset's allowed requests in flight changed to ``limit`` (first: the ceiling)."""


class NullObserver:
    """An :class:`Observer` that records nothing."""

    def on_request(self, dataset: str, outcome: Outcome, duration_s: float, n_events: int) -> None:
        pass

    def on_retry(self, dataset: str) -> None:
        pass

    def on_throttle(self, dataset: str, seconds: float) -> None:
        pass

    def on_paused(self, dataset: str, paused: bool) -> None:
        pass

    def on_in_flight(self, dataset: str, delta: int) -> None:
        pass

    def on_in_flight_limit(self, dataset: str, limit: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Delivery knobs (seconds unless named otherwise).

    Arguments:
        retry: bounds for transient failures.
        max_in_flight: concurrent requests per dataset, the ceiling of the adaptive limit.
        adaptive_in_flight: False keeps every dataset at ``max_in_flight`` whatever Graph
            answers (the behaviour before the adaptive limit, for comparisons).
        throttle_base_s, throttle_cap_s, throttle_jitter: backoff used when a throttle reply
            carries no wait estimate (grows with consecutive throttles of the dataset).
        throttle_max_wait_s: cap on any single throttle pause, including Meta's estimate.
        config_retry_s: interval between probes of a dataset held for a configuration error.
        max_rejected_requests: bisection budget, refused requests per ``deliver`` call.
    """

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_in_flight: int = 4
    adaptive_in_flight: bool = True
    throttle_base_s: float = 5.0
    throttle_cap_s: float = 300.0
    throttle_jitter: float = 0.2
    throttle_max_wait_s: float = 3600.0
    config_retry_s: float = 30.0
    max_rejected_requests: int = 100

    def __post_init__(self) -> None:
        if self.max_in_flight < 1 or self.max_rejected_requests < 1:
            raise ValueError("max_in_flight and max_rejected_requests must be >= 1")
        if min(self.throttle_base_s, self.throttle_cap_s, self.throttle_max_wait_s) < 0:
            raise ValueError("throttle waits must be >= 0")
        if not 0.0 <= self.throttle_jitter <= 1.0:
            raise ValueError("throttle_jitter must be in [0, 1]")
        if self.config_retry_s <= 0:
            raise ValueError("config_retry_s must be > 0")


@dataclass(frozen=True, slots=True)
class DeliveredRequest:
    """One accepted request: the batch positions it carried and Meta's answer."""

    indices: range
    events_received: int | None
    fbtrace_id: str | None
    attempts: int
    latency_s: float
    messages: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class EventFailure:
    """One event that will not be delivered.

    ``reason`` is ``graph_rejected`` or ``retries_exhausted``; ``detail`` is the last
    classification reason or network error kind (``timeout``, ``http_5xx``, ``payload_invalid``
    …). ``isolated`` is True when Meta refused this event sent alone. ``title`` is Meta's
    ``error_user_title`` (free text: kept out of ``repr``).
    """

    index: int
    reason: str
    detail: str
    attempts: int
    status: int | None
    code: int | None
    subcode: int | None
    fbtrace_id: str | None
    isolated: bool = True
    title: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """Every index of the batch appears once: in ``delivered``, ``failures`` or ``held``."""

    dataset_id: str
    delivered: tuple[DeliveredRequest, ...]
    failures: tuple[EventFailure, ...]
    held: tuple[int, ...]
    requests: int
    duration_s: float

    @property
    def delivered_count(self) -> int:
        return sum(len(r.indices) for r in self.delivered)


class _Dataset:
    """Shared state of one dataset across concurrent ``deliver`` calls."""

    __slots__ = ("concurrency", "in_flight", "resume_at", "throttle_logged", "throttle_streak")

    def __init__(self, max_in_flight: int) -> None:
        self.concurrency = Concurrency.start(max_in_flight)
        self.in_flight = InFlightLimiter(max_in_flight)
        self.resume_at = 0.0
        self.throttle_streak = 0
        self.throttle_logged = False  # the current throttle pause was reported

    def throttle(self, wait_s: float | None, cfg: DeliveryConfig, rand: float, now: float) -> float:
        """Pause the dataset for Meta's estimate (or a backoff); return the wait."""
        self.throttle_streak += 1
        wait = wait_s
        if wait is None:
            wait = backoff_delay(
                self.throttle_streak,
                cfg.throttle_base_s,
                cfg.throttle_cap_s,
                cfg.throttle_jitter,
                rand,
            )
        wait = min(wait, cfg.throttle_max_wait_s)
        if self.resume_at <= now:  # the dataset was open: a new pause (report it)
            self.throttle_logged = False
        self.resume_at = max(self.resume_at, now + wait)
        return wait


class _Run:
    """Mutable bookkeeping for one ``deliver`` call."""

    __slots__ = (
        "dataset_id",
        "delivered",
        "events",
        "failures",
        "held",
        "rejected",
        "requests",
        "retries",
        "state",
        "test_event_code",
        "throttles",
    )

    def __init__(
        self,
        dataset_id: str,
        events: Sequence[Mapping[str, object]],
        test_event_code: str | None,
        state: _Dataset,
    ) -> None:
        self.dataset_id = dataset_id
        self.events = events
        self.test_event_code = test_event_code
        self.state = state
        self.delivered: list[DeliveredRequest] = []
        self.failures: list[EventFailure] = []
        self.held: list[range] = []
        self.requests = 0
        self.rejected = 0
        self.retries = 0
        self.throttles = 0

    def delivered_request(
        self, indices: range, cls: Classification, reply: GraphReply, attempts: int
    ) -> None:
        self.delivered.append(
            DeliveredRequest(
                indices=indices,
                events_received=cls.events_received,
                fbtrace_id=cls.fbtrace_id,
                attempts=attempts,
                latency_s=reply.latency_s,
                messages=cls.messages,
            )
        )
        if cls.events_received != len(indices):
            logger.warning(
                "events_received mismatch dataset=%s events=%d events_received=%s fbtrace_id=%s",
                self.dataset_id,
                len(indices),
                cls.events_received,
                cls.fbtrace_id,
            )

    def fail(
        self,
        indices: range,
        reason: str,
        cls: Classification,
        reply: GraphReply,
        attempts: int,
        *,
        isolated: bool,
    ) -> None:
        err = cls.error
        detail = reply.error_kind or cls.reason
        self.failures.extend(
            EventFailure(
                index=i,
                reason=reason,
                detail=detail,
                attempts=attempts,
                status=cls.status,
                code=err.code if err else None,
                subcode=err.subcode if err else None,
                fbtrace_id=cls.fbtrace_id,
                isolated=isolated,
                title=err.title if err else None,
            )
            for i in indices
        )


class Deliverer:
    """Runs the delivery policy (see module docstring) over an :class:`EventSender`.

    ``holds`` is shared with the pipeline (the wiring builds one); by default the deliverer
    makes its own. ``sleep``, ``rand`` and ``clock`` are injectable for tests; ``clock`` must
    be monotonic and advance across ``sleep``.
    """

    def __init__(
        self,
        sender: EventSender,
        config: DeliveryConfig | None = None,
        observer: Observer | None = None,
        *,
        holds: DatasetHolds | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._cfg = config or DeliveryConfig()
        self._obs: Observer = observer or NullObserver()
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._datasets: dict[str, _Dataset] = {}
        self.holds = holds or DatasetHolds(self._obs, probe_every_s=self._cfg.config_retry_s)

    def __repr__(self) -> str:
        return f"Deliverer(config={self._cfg!r}, datasets={sorted(self._datasets)!r})"

    def _state(self, dataset_id: str) -> _Dataset:
        state = self._datasets.get(dataset_id)
        if state is None:
            state = self._datasets[dataset_id] = _Dataset(self._cfg.max_in_flight)
            self._obs.on_in_flight_limit(dataset_id, state.concurrency.limit)
        return state

    async def deliver(
        self,
        dataset_id: str,
        events: Sequence[Mapping[str, object]],
        test_event_code: str | None = None,
    ) -> DeliveryResult:
        """Deliver one batch (<= 1,000 events) of one dataset; see the module docstring."""
        run = _Run(dataset_id, events, test_event_code, self._state(dataset_id))
        started = self._clock()
        if events:
            await self._part(run, range(len(events)))
        held = tuple(i for r in sorted(run.held, key=lambda r: r.start) for i in r)
        result = DeliveryResult(
            dataset_id=dataset_id,
            delivered=tuple(sorted(run.delivered, key=lambda d: d.indices.start)),
            failures=tuple(sorted(run.failures, key=lambda f: f.index)),
            held=held,
            requests=run.requests,
            duration_s=self._clock() - started,
        )
        _log_summary(run, result)
        return result

    async def _part(self, run: _Run, indices: range) -> None:
        """Deliver ``run.events[indices]`` until it is delivered, failed, split or held."""
        st, holds, dataset = run.state, self.holds, run.dataset_id
        whole = len(indices) == len(run.events)
        chunk = run.events if whole else run.events[indices.start : indices.stop]
        failures = 0
        attempts = 0
        spent = 0.0
        while True:
            sent = await self._send_when_open(run, chunk)
            if sent is None:
                run.held.append(indices)
                return
            cls, reply = sent
            attempts += 1
            outcome = cls.outcome
            if outcome is Outcome.DELIVERED:
                holds.release(dataset, cls)
                st.throttle_streak = 0
                run.delivered_request(indices, cls, reply, attempts)
                return
            if outcome is Outcome.THROTTLED:
                self._throttled(run, cls)
                continue
            if outcome is Outcome.CONFIG:
                holds.hold(dataset, cls)
                st.resume_at = max(st.resume_at, self._clock() + self._cfg.config_retry_s)
                continue
            if outcome is Outcome.PAYLOAD or outcome is Outcome.REJECTED:
                holds.release(dataset, cls)
                await self._rejected(run, indices, cls, reply, attempts)
                return
            # Outcome.TRANSIENT
            failures += 1
            spent += reply.latency_s
            delay = self._retry_delay(cls, failures, spent)
            if delay is None:
                run.fail(indices, RETRIES_EXHAUSTED, cls, reply, attempts, isolated=False)
                return
            run.retries += 1
            self._obs.on_retry(run.dataset_id)
            if not await self._sleep_unless_stopped(delay):
                run.held.append(indices)
                return
            spent += delay

    async def _send_when_open(
        self, run: _Run, chunk: Sequence[Mapping[str, object]]
    ) -> tuple[Classification, GraphReply] | None:
        """Send once the dataset's pause is over (a held dataset: one probe at a time);
        None when the holds are stopped meanwhile."""
        st, holds, dataset = run.state, self.holds, run.dataset_id
        if not await self._wait_open(st):
            return None
        if holds.is_held(dataset):
            async with holds.probe_lock(dataset):
                if not await self._wait_open(st):
                    return None
                if holds.is_held(dataset):
                    return await self._send(run, chunk)
        return await self._send(run, chunk)

    def _retry_delay(self, cls: Classification, failures: int, spent: float) -> float | None:
        """The backoff before retrying a transient failure; None when the policy is spent."""
        retry = self._cfg.retry
        delay = retry.next_delay(failures, spent, self._rand())
        if delay is not None and cls.wait_s is not None:
            delay = max(delay, min(cls.wait_s, retry.cap_s))
        return delay

    async def _rejected(
        self, run: _Run, indices: range, cls: Classification, reply: GraphReply, attempts: int
    ) -> None:
        """Meta refused the request: bisect it, or fail it (one event, or the budget spent)."""
        run.rejected += 1
        if len(indices) > 1 and run.rejected <= self._cfg.max_rejected_requests:
            mid = (indices.start + indices.stop) // 2
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._part(run, range(indices.start, mid)))
                tg.create_task(self._part(run, range(mid, indices.stop)))
            return
        isolated = len(indices) == 1
        run.fail(indices, GRAPH_REJECTED, cls, reply, attempts, isolated=isolated)
        if isolated:
            logger.debug(
                "event rejected dataset=%s index=%d reason=%s code=%s subcode=%s fbtrace_id=%s",
                run.dataset_id,
                indices.start,
                cls.reason,
                cls.error.code if cls.error else None,
                cls.error.subcode if cls.error else None,
                cls.fbtrace_id,
            )

    async def _send(
        self, run: _Run, chunk: Sequence[Mapping[str, object]]
    ) -> tuple[Classification, GraphReply]:
        dataset, st = run.dataset_id, run.state
        async with st.in_flight:
            epoch = st.concurrency.epoch
            self._obs.on_in_flight(dataset, 1)
            try:
                reply = await self._sender.post_events(dataset, chunk, run.test_event_code)
            finally:
                self._obs.on_in_flight(dataset, -1)
            cls = classify(reply.status, reply.body, reply.headers, reply.error_kind)
            # before the place is given back, so that a lowered limit holds off the next send
            self._adapt(dataset, st, signal_of(cls.outcome, reply.status), epoch, cls, reply)
        run.requests += 1
        self._obs.on_request(dataset, cls.outcome, reply.latency_s, len(chunk))
        _log_request(dataset, len(chunk), cls, reply)
        return cls, reply

    def _adapt(
        self,
        dataset: str,
        st: _Dataset,
        signal: Signal,
        epoch: int,
        cls: Classification,
        reply: GraphReply,
    ) -> None:
        """Move the dataset's concurrency limit after one answer (AIMD, see
        :mod:`streams.domain.concurrency`)."""
        if not self._cfg.adaptive_in_flight:
            return
        before = st.concurrency
        after = st.concurrency = before.after(signal, epoch)
        if after.limit == before.limit:
            return
        st.in_flight.set_limit(after.limit)
        self._obs.on_in_flight_limit(dataset, after.limit)
        if after.limit < before.limit:
            logger.info(
                "graph concurrency lowered dataset=%s limit=%d from=%d reason=%s status=%s",
                dataset,
                after.limit,
                before.limit,
                reply.error_kind or cls.reason,
                reply.status,
            )
        else:
            logger.debug("graph concurrency raised dataset=%s limit=%d", dataset, after.limit)

    def _throttled(self, run: _Run, cls: Classification) -> None:
        cfg = self._cfg
        run.throttles += 1
        wait = run.state.throttle(cls.wait_s, cfg, self._rand(), self._clock())
        self._obs.on_throttle(run.dataset_id, wait)
        if not run.state.throttle_logged:
            run.state.throttle_logged = True
            err = cls.error
            logger.warning(
                "dataset throttled dataset=%s reason=%s code=%s subcode=%s wait_s=%.3f "
                "fbtrace_id=%s",
                run.dataset_id,
                cls.reason,
                err.code if err else None,
                err.subcode if err else None,
                wait,
                cls.fbtrace_id,
            )

    async def _wait_open(self, st: _Dataset) -> bool:
        """Wait out the dataset's pause; False when stopping."""
        while True:
            if self.holds.stopping:
                return False
            delay = st.resume_at - self._clock()
            if delay <= 0:
                return True
            if not await self._sleep_unless_stopped(delay):
                return False

    async def _sleep_unless_stopped(self, delay: float) -> bool:
        return await self.holds.sleep(delay, self._sleep)


def _log_request(dataset: str, n: int, cls: Classification, reply: GraphReply) -> None:
    logger.debug(
        "graph request dataset=%s events=%d outcome=%s reason=%s status=%s fbtrace_id=%s "
        "duration_s=%.3f",
        dataset,
        n,
        cls.outcome.value,
        reply.error_kind or cls.reason,
        reply.status,
        cls.fbtrace_id,
        reply.latency_s,
    )


def _log_summary(run: _Run, result: DeliveryResult) -> None:
    """One line per batch: DEBUG when uneventful, WARNING when events failed or are held."""
    failed, held = len(result.failures), len(result.held)
    if held:
        outcome = "held"
    elif failed:
        outcome = "partial" if result.delivered else "failed"
    else:
        outcome = "delivered"
    eventful = failed or held or run.retries or run.throttles or run.requests > 1
    level = logging.WARNING if failed or held else logging.INFO
    if not eventful:
        level = logging.DEBUG
    if not logger.isEnabledFor(level):
        return
    fbtrace_id = result.delivered[0].fbtrace_id if len(result.delivered) == 1 else None
    logger.log(
        level,
        "capi batch dataset=%s events=%d outcome=%s delivered=%d failed=%d held=%d "
        "requests=%d retries=%d throttles=%d fbtrace_id=%s duration_s=%.3f",
        result.dataset_id,
        len(run.events),
        outcome,
        result.delivered_count,
        failed,
        held,
        result.requests,
        run.retries,
        run.throttles,
        fbtrace_id,
        result.duration_s,
    )
