"""aiohttp client for ``POST {base_url}/{api_version}/{dataset}/events``.

One ``ClientSession`` per client for the process lifetime (keep-alive, pooled connections).
The client holds each dataset's access token as a :class:`~streams.settings.Secret` and
unwraps it only to build the ``Authorization: Bearer`` header: never in the URL, never in a
log line, never in a repr; nothing upstream (pipeline, deliverer) ever sees a token. HTTP and
network failures are returned as a :class:`GraphReply` with ``status=None`` and an
``error_kind``; only programming errors raise.
"""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson
from yarl import URL

from streams import __version__
from streams.capi.lifecycle import AsyncClient, bearer
from streams.domain.classify import REQUEST_INVALID
from streams.settings import Secret

__all__ = ["GraphClient", "GraphReply"]

_DATASET_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_API_VERSION = re.compile(r"v\d{1,3}\.\d{1,3}")
_EMPTY_HEADERS: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class GraphReply:
    """What came back for one POST.

    ``status`` is None when no HTTP reply arrived; ``error_kind`` then names why
    (``timeout``, ``connection_reset``, ``disconnected``, ``connect``, ``payload``,
    ``client_error``, ``os_error``, ``request_invalid``: aiohttp refused to build the request,
    say for a control character in the token). ``latency_s`` covers send through reading the body.
    """

    status: int | None
    body: bytes = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    latency_s: float
    error_kind: str | None = None


def _encode_default(obj: object) -> object:
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


class GraphClient(AsyncClient):
    """Posts event batches to the Graph API ``/events`` edge over one shared session.

    Arguments:
        base_url: scheme and host, e.g. ``https://graph.facebook.com`` (no trailing path).
        api_version: e.g. ``v25.0``.
        timeout_s: total time for one request, connect through body (Meta advises >= 1.5 s).
        max_connections: size of the connection pool; match it to the total requests in flight
            (datasets x per-dataset concurrency).
        tokens: each dataset's access token (a dataset without one is sent an empty bearer,
            which Meta refuses as a configuration error).
        partner_agent: optional platform identifier sent in the body.
        user_agent: sent as ``User-Agent``.
    """

    def __init__(
        self,
        base_url: str,
        api_version: str,
        *,
        tokens: Mapping[str, Secret] | None = None,
        timeout_s: float = 5.0,
        max_connections: int = 32,
        partner_agent: str | None = None,
        user_agent: str = f"capi-streams/{__version__}",
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host or url.query_string:
            raise ValueError("base_url must be an http(s) URL without a query")
        if not _API_VERSION.fullmatch(api_version):
            raise ValueError("api_version must look like v25.0")
        if timeout_s <= 0 or max_connections < 1:
            raise ValueError("timeout_s must be > 0 and max_connections >= 1")
        self._base = base_url.rstrip("/")
        self._api_version = api_version
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._partner_agent = partner_agent
        self._tokens: Mapping[str, Secret] = (
            tokens if tokens is not None else {}
        )  # read per request
        self._user_agent = user_agent
        self._urls: dict[str, URL] = {}
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return (
            f"GraphClient(base_url={self._base!r}, api_version={self._api_version!r}, "
            f"timeout_s={self._timeout_s!r}, max_connections={self._max_connections!r})"
        )

    __str__ = __repr__

    @property
    def started(self) -> bool:
        return self._session is not None and not self._session.closed

    async def start(self) -> None:
        """Open the session (idempotent). Must run inside the event loop that will use it."""
        if self.started:
            return
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=self._max_connections,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"User-Agent": self._user_agent, "Accept": "application/json"},
            raise_for_status=False,
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def url_for(self, dataset_id: str) -> URL:
        """``{base_url}/{api_version}/{dataset_id}/events``; ``dataset_id`` must be an id token."""
        url = self._urls.get(dataset_id)
        if url is None:
            if not _DATASET_ID.fullmatch(dataset_id):
                raise ValueError("dataset_id must be 1-64 characters of [A-Za-z0-9_-]")
            url = URL(f"{self._base}/{self._api_version}/{dataset_id}/events")
            self._urls[dataset_id] = url
        return url

    def encode_body(
        self, events: Sequence[Mapping[str, object]], test_event_code: str | None
    ) -> bytes:
        """The JSON body: ``data``, plus ``test_event_code``/``partner_agent`` when set."""
        body: dict[str, object] = {
            "data": events if isinstance(events, list | tuple) else list(events)
        }
        if test_event_code:
            body["test_event_code"] = test_event_code
        if self._partner_agent:
            body["partner_agent"] = self._partner_agent
        return orjson.dumps(body, default=_encode_default)

    async def post_events(
        self,
        dataset_id: str,
        events: Sequence[Mapping[str, object]],
        test_event_code: str | None = None,
    ) -> GraphReply:
        """POST one batch. Never raises for HTTP or network failures (see :class:`GraphReply`)."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("GraphClient.start() has not been awaited")
        url = self.url_for(dataset_id)
        data = self.encode_body(events, test_event_code)
        headers = {
            "Authorization": bearer(self._tokens.get(dataset_id)),
            "Content-Type": "application/json",
        }
        started = time.perf_counter()
        kind: str
        try:
            async with session.post(url, data=data, headers=headers, allow_redirects=False) as r:
                body = await r.read()
                return GraphReply(r.status, body, r.headers, time.perf_counter() - started)
        except TimeoutError:
            kind = "timeout"
        except (aiohttp.ClientConnectionResetError, ConnectionResetError):
            kind = "connection_reset"
        except aiohttp.ServerDisconnectedError:
            kind = "disconnected"
        except aiohttp.ClientConnectorError:
            kind = "connect"
        except aiohttp.ClientOSError as exc:
            kind = "connection_reset" if exc.errno == errno.ECONNRESET else "os_error"
        except aiohttp.ClientPayloadError:
            kind = "payload"
        except aiohttp.ClientError:
            kind = "client_error"
        except OSError:
            kind = "os_error"
        except ValueError:  # aiohttp refused a header (a control character in the token)
            kind = REQUEST_INVALID
        return GraphReply(None, b"", _EMPTY_HEADERS, time.perf_counter() - started, kind)
