"""Event Match Quality from Meta's Dataset Quality API, polled into Prometheus gauges.

Every `interval_s` the poller fetches each configured dataset (concurrently, one fetch per
dataset) and, on success, sets on the injected registry:

* `capi_emq_score{dataset, event_name}`: composite score 0-10;
* `capi_emq_key_coverage_ratio{dataset, event_name, key}`: share of events carrying the key, 0-1;
* `capi_emq_last_poll_timestamp_seconds{dataset}`: Unix time of the last successful poll;
* `capi_emq_poll_errors_total{dataset}`: polls that failed (fetch returned None or raised).

Label values stay bounded: `dataset` comes from the config; `key` is one of our user_data keys
(streams.domain.quality.match_key; identifiers outside that closed set are ignored);
`event_name` is a Meta standard event name or "custom". Several custom events share the
"custom" series, which then shows the lowest of their values (alerts fire on the worst one).
A successful poll replaces the dataset's series: event names or keys Meta no longer reports are
removed. A failed poll keeps the last values; the timestamp shows their age.

The poller never raises out of its task; each poll logs `dataset`, `outcome` (ok|failed|error)
and `events`; the fetcher holds the tokens: the poller never sees one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from streams.domain.quality import DatasetQuality, event_label, match_key

__all__ = ["EmqPoller", "QualityFetcher"]

log = logging.getLogger(__name__)


class QualityFetcher(Protocol):
    """What the poller needs from streams.capi.quality.DatasetQualityClient."""

    async def fetch(self, dataset_id: str) -> DatasetQuality | None: ...


def _labelled(quality: DatasetQuality) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Scores per event label and coverage per (event label, key), the lowest where shared."""
    scores: dict[str, float] = {}
    coverage: dict[tuple[str, str], float] = {}
    for ev in quality.events:
        label = event_label(ev.event_name)
        if ev.composite_score is not None:
            old = scores.get(label)
            scores[label] = ev.composite_score if old is None else min(old, ev.composite_score)
        for identifier, ratio in ev.coverage.items():
            key = match_key(identifier)
            if key is None:
                continue
            old = coverage.get((label, key))
            coverage[(label, key)] = ratio if old is None else min(old, ratio)
    return scores, coverage


class EmqPoller:
    """Polls each dataset every `interval_s` seconds into EMQ gauges.

    Arguments:
        fetcher: e.g. a started streams.capi.quality.DatasetQualityClient.
        datasets: dataset ids (the `dataset` label values); the fetcher holds the tokens.
        registry: where the four metrics are registered.
        interval_s: seconds between the end of one poll round and the start of the next.
        fetch_timeout_s: a fetch still running after this long counts as failed.
        clock: Unix time for the last-poll timestamp.
    """

    def __init__(
        self,
        fetcher: QualityFetcher,
        datasets: Iterable[str],
        *,
        registry: CollectorRegistry,
        interval_s: float,
        fetch_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0 or fetch_timeout_s <= 0:
            raise ValueError("interval_s and fetch_timeout_s must be > 0")
        self._fetcher = fetcher
        self._datasets = tuple(dict.fromkeys(datasets))
        self._interval_s = interval_s
        self._fetch_timeout_s = fetch_timeout_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._scored: dict[str, set[str]] = {ds: set() for ds in self._datasets}
        self._covered: dict[str, set[tuple[str, str]]] = {ds: set() for ds in self._datasets}
        r = registry
        self.score = Gauge(
            "capi_emq_score",
            "Event Match Quality composite score (0-10) reported by Meta",
            ["dataset", "event_name"],
            registry=r,
        )
        self.key_coverage = Gauge(
            "capi_emq_key_coverage_ratio",
            "Share of events carrying a match key (0-1) reported by Meta",
            ["dataset", "event_name", "key"],
            registry=r,
        )
        self.last_poll = Gauge(
            "capi_emq_last_poll_timestamp_seconds",
            "Unix time of the last successful Dataset Quality poll",
            ["dataset"],
            registry=r,
        )
        self.poll_errors = Counter(
            "capi_emq_poll_errors",
            "Dataset Quality polls that failed",
            ["dataset"],
            registry=r,
        )
        for ds in self._datasets:
            self.last_poll.labels(ds)
            self.poll_errors.labels(ds)

    def __repr__(self) -> str:
        return f"EmqPoller(datasets={sorted(self._datasets)!r}, interval_s={self._interval_s!r})"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Poll now and then every interval, in a background task (idempotent)."""
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="capi-emq-poller")

    async def stop(self) -> None:
        """Cancel the task and wait for it (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self._interval_s)

    async def poll_once(self) -> None:
        """One round over every dataset; never raises (except cancellation)."""
        await asyncio.gather(*(self._poll(ds) for ds in self._datasets))

    async def _poll(self, dataset: str) -> None:
        try:
            async with asyncio.timeout(self._fetch_timeout_s):
                quality = await self._fetcher.fetch(dataset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  # a poll must never take the worker down
            self.poll_errors.labels(dataset).inc()
            log.warning("emq poll dataset=%s outcome=error error=%s", dataset, type(exc).__name__)
            return
        if quality is None:
            self.poll_errors.labels(dataset).inc()
            log.warning("emq poll dataset=%s outcome=failed", dataset)
            return
        self._publish(dataset, quality)
        self.last_poll.labels(dataset).set(self._clock())
        log.info("emq poll dataset=%s outcome=ok events=%d", dataset, len(quality.events))

    def _publish(self, dataset: str, quality: DatasetQuality) -> None:
        scores, coverage = _labelled(quality)
        for label in self._scored[dataset] - scores.keys():
            self.score.remove(dataset, label)
        for label, score in scores.items():
            self.score.labels(dataset, label).set(score)
        for label, key in self._covered[dataset] - coverage.keys():
            self.key_coverage.remove(dataset, label, key)
        for (label, key), ratio in coverage.items():
            self.key_coverage.labels(dataset, label, key).set(ratio)
        self._scored[dataset] = set(scores)
        self._covered[dataset] = set(coverage)
