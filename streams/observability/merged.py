"""One /metrics, /healthz and /readyz for the workers of `capi-streams worker --processes N`.

Each worker keeps its own registry and probes exactly as a single worker has them, served on
a loopback port of its own; the supervisor's server answers on `metrics.host:metrics.port` by
asking every worker and merging the answers:

* /metrics: every family of every worker, each sample with a `worker` label (the worker's
  index, `0`..`N-1`, stable across restarts), plus `capi_worker_up{worker}` (1 when that
  worker answered this scrape). Chosen over prometheus_client's multiprocess mode, which
  keeps values in per-pid files: it does not support custom collectors (the consumer lag and
  the fail-stop scrape signal are collectors), needs an aggregation mode chosen per gauge and
  files cleaned up after a worker restarts. Scraping keeps each worker's numbers its own; a
  restarted worker's counters start again from 0, which Prometheus' `rate()` reads as a reset.
  A worker's fail-stop (streams/kafka/failstop.py) waits for a scrape of its metrics: a
  scrape of the supervisor is one.
* /healthz: 200 unless a running worker answers 503 (its event loop is stuck) or not at all.
  A worker that is starting (no server yet) or waiting to be restarted counts as live:
  restarting it is the supervisor's job, not the orchestrator's.
* /readyz: 200 when every worker is running and ready, with the partitions they hold
  together; 503 with the first worker's reason otherwise, and while stopping.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Target", "WorkersCollector", "WorkersProbes", "merge_families"]

#: A worker as the supervisor sees it: its label and its loopback port (None while it is not
#: running: waiting to be restarted, or stopped).
Target = tuple[str, int | None]

_T = TypeVar("_T")
_R = TypeVar("_R")


def merge_families(scrapes: Iterable[tuple[str, Iterable[Metric]]]) -> list[Metric]:
    """The families of several workers as one set: same-named families joined, every sample
    labelled `worker` with its worker's name."""
    merged: dict[str, Metric] = {}
    for worker, families in scrapes:
        for family in families:
            out = merged.get(family.name)
            if out is None:
                out = Metric(family.name, family.documentation, family.type, family.unit)
                merged[family.name] = out
            out.samples.extend(
                s._replace(labels={**s.labels, "worker": worker}) for s in family.samples
            )
    return list(merged.values())


def _get(port: int, path: str, timeout_s: float) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:port/path; (0, why) when nothing answered,
    (-1, why) when the connection was refused (the server is not up yet)."""
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status), resp.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace").strip()
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return -1, "starting"
        return 0, f"no answer ({exc.reason})"
    except OSError as exc:  # a timeout while reading
        return 0, f"no answer ({exc})"


def _each(items: Sequence[_T], fn: Callable[[_T], _R]) -> list[_R]:
    """`fn` over `items` concurrently (a stuck worker's probe waits up to 10 s)."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(fn, items))


class WorkersCollector:
    """A prometheus_client collector that scrapes the workers and yields their merged
    families and `capi_worker_up`."""

    def __init__(self, targets: Callable[[], Sequence[Target]], timeout_s: float = 5.0) -> None:
        self._targets = targets
        self._timeout_s = timeout_s

    def _scrape(self, target: Target) -> tuple[str, list[Metric] | None]:
        name, port = target
        if port is None:
            return name, None
        status, body = _get(port, "/metrics", self._timeout_s)
        if status != 200:
            return name, None
        return name, list(text_string_to_metric_families(body + "\n"))

    def collect(self) -> Iterator[Metric]:
        scraped = _each(list(self._targets()), self._scrape)
        up = GaugeMetricFamily(
            "capi_worker_up",
            "1 when the worker process answered this scrape (worker --processes N)",
            labels=["worker"],
        )
        for name, families in scraped:
            up.add_metric([name], 0.0 if families is None else 1.0)
        yield up
        yield from merge_families((n, f) for n, f in scraped if f is not None)


class WorkersProbes:
    """/healthz and /readyz over the workers (see the module docstring)."""

    def __init__(self, targets: Callable[[], Sequence[Target]], timeout_s: float = 15.0) -> None:
        self._targets = targets
        self._timeout_s = timeout_s
        self.stopping = False

    def _ask(self, path: str) -> list[tuple[str, int, str]]:
        def one(target: Target) -> tuple[str, int, str]:
            name, port = target
            if port is None:
                return name, -2, "not running (restarting)"
            return (name, *_get(port, path, self._timeout_s))

        return _each(list(self._targets()), one)

    def live(self) -> tuple[bool, str]:
        for name, status, why in self._ask("/healthz"):
            if status in (0, 503):
                return False, f"worker {name}: {why}"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if self.stopping:
            return False, "stopping"
        answers = self._ask("/readyz")
        assigned = 0
        for name, status, why in answers:
            if status != 200:
                return False, f"worker {name}: {why}"
            words = why.split()
            assigned += int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
        return True, f"ok: {assigned} partitions assigned to {len(answers)} workers"
