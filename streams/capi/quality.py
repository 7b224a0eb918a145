"""aiohttp client for Meta's Dataset Quality API: ``GET {base_url}/{api_version}/dataset_quality``.

Query: ``dataset_id``, ``fields`` (DEFAULT_FIELDS: per web event its name, EMQ composite score,
match-key coverage and data freshness) and, when set, ``agent_name``. The request and answer
shapes, with their source, are in streams.domain.quality, which parses the answer.

The token travels only in the ``Authorization: Bearer`` header (Graph accepts it there as well
as in ``access_token``): never in the URL, a log line or a repr. Failures (network, timeout,
HTTP or Graph error, an answer that is not Meta's shape) return None after one WARNING line
with ``dataset``, ``reason`` and, for Graph errors, ``status``/``code``/``subcode``/
``fbtrace_id``, never Graph's message text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import aiohttp
import orjson
from yarl import URL

from streams import __version__
from streams.capi.lifecycle import AsyncClient, bearer
from streams.domain.quality import DatasetQuality, parse_dataset_quality
from streams.settings import Secret

__all__ = ["DEFAULT_FIELDS", "DatasetQualityClient"]

DEFAULT_FIELDS = (
    "web{event_name,"
    "event_match_quality{composite_score,match_key_feedback{identifier,coverage{percentage}}},"
    "data_freshness{upload_frequency}}"
)
_DATASET_ID = re.compile(r"[0-9]{1,32}")
_API_VERSION = re.compile(r"v\d{1,3}\.\d{1,3}")
_ID_LIKE = re.compile(r"[A-Za-z0-9_-]+")

log = logging.getLogger(__name__)


class DatasetQualityClient(AsyncClient):
    """Fetches one dataset's quality per call, over a given or an owned ``ClientSession``.

    Arguments:
        base_url: scheme and host, e.g. ``https://graph.facebook.com`` (no path).
        api_version: e.g. ``v25.0``.
        session: a session to use (not closed here); without one, ``start()`` opens one that
            ``close()`` closes.
        timeout_s: total time for one request, connect through body.
        agent_name: Meta's ``agent_name`` filter (normalized partner_agent), or None for all.
        fields: the ``fields`` parameter.
        tokens: each dataset's access token, unwrapped only to build the request header.
    """

    def __init__(
        self,
        base_url: str,
        api_version: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        agent_name: str | None = None,
        fields: str = DEFAULT_FIELDS,
        tokens: Mapping[str, Secret] | None = None,
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host or url.query_string:
            raise ValueError("base_url must be an http(s) URL without a query")
        if not _API_VERSION.fullmatch(api_version):
            raise ValueError("api_version must look like v25.0")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._url = URL(f"{base_url.rstrip('/')}/{api_version}/dataset_quality")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._agent_name = agent_name
        self._fields = fields
        self._session = session
        self._owned: aiohttp.ClientSession | None = None
        self._tokens: Mapping[str, Secret] = (
            tokens if tokens is not None else {}
        )  # read per request

    def __repr__(self) -> str:
        return f"DatasetQualityClient(url={str(self._url)!r}, agent_name={self._agent_name!r})"

    async def start(self) -> None:
        """Open the owned session when none was given (idempotent)."""
        if self._session is None and (self._owned is None or self._owned.closed):
            self._owned = aiohttp.ClientSession(
                headers={"User-Agent": f"capi-streams/{__version__}"},
                raise_for_status=False,
                trust_env=False,
            )

    async def close(self) -> None:
        """Close the owned session, if any (idempotent); a given session is left open."""
        owned, self._owned = self._owned, None
        if owned is not None and not owned.closed:
            await owned.close()

    def url_for(self, dataset_id: str) -> URL:
        """The request URL (no token in it); ``dataset_id`` must be digits."""
        if not _DATASET_ID.fullmatch(dataset_id):
            raise ValueError("dataset_id must be 1-32 digits")
        query = {"dataset_id": dataset_id, "fields": self._fields}
        if self._agent_name:
            query["agent_name"] = self._agent_name
        return self._url.with_query(query)

    async def fetch(self, dataset_id: str) -> DatasetQuality | None:
        """The dataset's quality, or None (logged) when it could not be had."""
        session = self._session or self._owned
        if session is None or session.closed:
            raise RuntimeError("DatasetQualityClient.start() has not been awaited")
        url = self.url_for(dataset_id)
        headers = {
            "Authorization": bearer(self._tokens.get(dataset_id)),
            "Accept": "application/json",
        }
        try:
            async with session.get(
                url, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as resp:
                status, body = resp.status, await resp.read()
        except TimeoutError:
            _log_failure(dataset_id, "timeout")
            return None
        except aiohttp.ClientConnectorError:
            _log_failure(dataset_id, "connect")
            return None
        except (aiohttp.ClientError, OSError):
            _log_failure(dataset_id, "network")
            return None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            _log_failure(dataset_id, "not_json", status)
            return None
        quality = parse_dataset_quality(doc) if status == 200 else None
        if quality is None:
            _log_failure(dataset_id, "bad_answer" if status == 200 else "http_error", status, doc)
        return quality


def _log_failure(
    dataset_id: str, reason: str, status: int | None = None, doc: object = None
) -> None:
    err = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(err, dict):
        log.warning(
            "dataset quality fetch failed dataset=%s reason=%s status=%s",
            dataset_id,
            reason,
            status,
        )
        return
    log.warning(
        "dataset quality fetch failed dataset=%s reason=graph_error status=%s code=%s "
        "subcode=%s fbtrace_id=%s",
        dataset_id,
        status,
        _scalar(err.get("code")),
        _scalar(err.get("error_subcode")),
        _scalar(err.get("fbtrace_id")),
    )


def _scalar(value: object) -> str | int | None:
    """An int, or a short id-like string, for a log field (never free text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 64 and _ID_LIKE.fullmatch(value):
        return value
    return None
