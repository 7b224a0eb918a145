"""The aiohttp application: Meta's `/events` edge plus the sandbox's admin endpoints.

Graph endpoints:

* `POST /{version}/{dataset_id}/events`: faults (decided first), then authentication, then
  Meta's validation (streams.dev.sandbox.validation); success records every event.
* `GET /{version}/{dataset_id}`: `{"id": dataset_id}` (plus `is_consolidated_container` when
  asked in `fields`) for a cheap connectivity check; authenticated, never faulted.
* `GET /{version}/dataset_quality?dataset_id=&fields=`: Meta's Dataset Quality API shape with
  values computed from the accepted events (streams.dev.sandbox.quality); `dataset_id` is required
  (else 100), the token is checked as for `/events`; never faulted.

Authentication, in Graph's order: no token or a token the sandbox does not know -> 190; an
unknown dataset, or a known token that is not the dataset's -> 100/33 (Meta: "does not exist,
cannot be loaded due to missing permissions"); a dataset switched to token-invalid -> 190/460;
a dataset with an `app_secret` requires `appsecret_proof` = HMAC-SHA256(app_secret, token) hex
-> else 100.

Admin endpoints (JSON, never faulted): `GET /_sandbox/events?dataset=&event_id=&offset=&limit=`,
`GET /_sandbox/receive-times?after=&limit=` (per accepted request: arrival and answer times and
its event ids, streams.dev.sandbox.receive_times), `GET /_sandbox/stats`,
`POST /_sandbox/reset`, `GET|POST /_sandbox/faults` (POST a JSON object with the fields to
change), `POST /_sandbox/datasets/{id}/token-invalid` with
`{"invalid": true|false}`, `GET /_sandbox/datasets`, `GET /_sandbox/health`. All but the health
check only when asked for (`create_app(admin=True)`, `capi-streams sandbox --admin`): the
receipts are the events it accepted, and the faults change what every client gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from aiohttp.web_request import FileField

from streams.dev.sandbox.datasets import Dataset, is_dataset_id
from streams.dev.sandbox.envelope import build_envelope, header_token, params_from_json
from streams.dev.sandbox.errors import (
    GraphError,
    invalid_param,
    invalid_token,
    session_invalidated,
    unknown_object,
    unknown_path,
)
from streams.dev.sandbox.faults import (
    NO_FAULT,
    FaultConfigError,
    FaultInjector,
    FaultKind,
    fault_reply,
)
from streams.dev.sandbox.receipts import ReceiptStore, event_id_of
from streams.dev.sandbox.receive_times import ReceiveTimes
from streams.dev.sandbox.validation import validate_events

__all__ = ["MAX_BODY_BYTES", "STATE", "SandboxState", "create_app"]

MAX_BODY_BYTES = 64 * 1024 * 1024
_MAX_PAGE = 10_000
_MAX_TIMES_PAGE = 1_000  # requests (up to 1,000 event ids each)
_VERSION_RE = re.compile(r"v[0-9]{1,3}\.[0-9]{1,2}")
_JSON_CT = "application/json; charset=UTF-8"
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_LINGER_RST = struct.pack("ii", 1, 0)


@dataclass(slots=True)
class SandboxState:
    """Everything the handlers share: datasets, faults, receipts, the clock."""

    datasets: dict[str, Dataset]
    faults: FaultInjector
    receipts: ReceiptStore
    clock: Callable[[], float]
    times: ReceiveTimes = field(default_factory=ReceiveTimes)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    _tokens: frozenset[str] = frozenset()
    _line: asyncio.Semaphore | None = None
    _line_capacity: int = 0
    _serving: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._tokens = frozenset(d.token for d in self.datasets.values())

    def knows_token(self, token: str) -> bool:
        return token in self._tokens

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server shuts down."""
        if seconds <= 0 or self.closing.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)

    async def serve_for(self, seconds: float) -> None:
        """Spend `seconds` serving one request: with a `capacity` fault, in line behind the
        requests already served or waiting, and to the end even when the client gives up."""
        capacity = self.faults.config.capacity
        if capacity <= 0 or seconds <= 0:
            await self.pause(seconds)
            return
        if self._line is None or self._line_capacity != capacity:  # a change: a new line
            self._line, self._line_capacity = asyncio.Semaphore(capacity), capacity
        task = asyncio.ensure_future(self._occupy(self._line, seconds))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        await asyncio.shield(task)

    async def _occupy(self, line: asyncio.Semaphore, seconds: float) -> None:
        async with line:
            await self.pause(seconds)


STATE = web.AppKey("sandbox_state", SandboxState)


def _trace_id() -> str:
    return secrets.token_urlsafe(8)


def _json(doc: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(doc), headers={"Content-Type": _JSON_CT, **(headers or {})}
    )


def _graph_error(err: GraphError) -> web.Response:
    trace = _trace_id()
    headers = {"Content-Type": _JSON_CT, "x-fb-trace-id": trace}
    if err.blame is not None:
        headers["X-Sandbox-Blame"] = err.blame
    if err.code == 190:
        headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token"'
    return web.Response(status=err.status, body=err.body(trace), headers=headers)


def _abort(request: web.Request) -> None:
    """Close the connection with a TCP RST, without an HTTP answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    transport.abort()


async def _read_params(request: web.Request) -> tuple[dict[str, object], bytes | None] | GraphError:
    """Query parameters overridden by the body's (JSON object or form), and the raw body when
    it is a JSON object holding `data` (kept as the receipt)."""
    params: dict[str, object] = {}
    for key, value in request.query.items():
        params.setdefault(key, value)
    if not request.body_exists:
        return params, None
    ctype = request.content_type
    if ctype in _FORM_TYPES:
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError):
            return invalid_param("The request body could not be parsed as a form")
        seen: set[str] = set()
        for key, part in form.items():
            if key in seen:
                continue
            seen.add(key)
            params[key] = part.file.read() if isinstance(part, FileField) else part
        return params, None
    body = await request.read()
    if not body.strip():
        return params, None
    doc = params_from_json(body)
    if isinstance(doc, GraphError):
        return doc
    params.update(doc)
    return params, (body if "data" in doc else None)


def _authenticate(
    state: SandboxState, request: web.Request, dataset_id: str, params: Mapping[str, object]
) -> GraphError | None:
    token = params.get("access_token")
    if not isinstance(token, str) or not token:
        token = header_token(request.headers.get("Authorization"))
    if token is None:
        return invalid_token("An access token is required to request this resource")
    if not state.knows_token(token):
        return invalid_token("Cannot parse access token")
    dataset = state.datasets.get(dataset_id)
    if dataset is None or not hmac.compare_digest(dataset.token.encode(), token.encode()):
        return unknown_object(dataset_id)
    if state.faults.token_invalid(dataset_id):
        return session_invalidated()
    if dataset.app_secret is not None:
        proof = params.get("appsecret_proof")
        if not isinstance(proof, str) or not proof:
            return invalid_param("API calls from the server require an appsecret_proof argument")
        expected = hmac.new(dataset.app_secret.encode(), token.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), proof.encode()):
            return invalid_param("Invalid appsecret_proof provided in the API argument")
    return None


async def _accept(
    state: SandboxState, request: web.Request, dataset_id: str, arrived_at: float
) -> web.Response:
    version = request.match_info["version"]
    if _VERSION_RE.fullmatch(version) is None:
        return _reject(state, dataset_id, unknown_path(request.path))
    read = await _read_params(request)
    if isinstance(read, GraphError):
        return _reject(state, dataset_id, read)
    params, raw = read
    err = _authenticate(state, request, dataset_id, params)
    if err is not None:
        return _reject(state, dataset_id, err)
    envelope = build_envelope(params)
    if isinstance(envelope, GraphError):
        return _reject(state, dataset_id, envelope)
    err = validate_events(envelope.data, state.clock())
    if err is not None:
        return _reject(state, dataset_id, err)
    events: list[dict[str, object]] = envelope.data  # type: ignore[assignment]  # validated
    answered_at = state.receipts.record(dataset_id, envelope.test_event_code, events, raw)
    state.times.add(dataset_id, arrived_at, answered_at, tuple(map(event_id_of, events)))
    trace = _trace_id()
    body = orjson.dumps({"events_received": len(events), "messages": [], "fbtrace_id": trace})
    return web.Response(body=body, headers={"Content-Type": _JSON_CT, "x-fb-trace-id": trace})


def _reject(state: SandboxState, dataset_id: str, err: GraphError) -> web.Response:
    state.receipts.count_rejected(dataset_id, err.key)
    return _graph_error(err)


async def post_events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    arrived_at = state.clock()
    dataset_id = request.match_info["dataset_id"]
    state.receipts.count_request(dataset_id)
    fault = state.faults.decide()
    if fault is NO_FAULT:
        return await _accept(state, request, dataset_id, arrived_at)
    if fault.kind is FaultKind.RESET:
        state.receipts.count_fault(dataset_id, fault.kind.value)
        _abort(request)
        return web.Response(status=500)  # never reaches the client
    if fault.kind is FaultKind.NONE:
        await state.serve_for(fault.delay_s)
        return await _accept(state, request, dataset_id, arrived_at)
    state.receipts.count_fault(dataset_id, fault.kind.value)
    if fault.kind is FaultKind.HANG:
        await state.pause(fault.delay_s)
    else:
        await state.serve_for(fault.delay_s)
    reply = fault_reply(fault, state.faults.config, dataset_id, _trace_id())
    return web.Response(
        status=reply.status,
        body=reply.body,
        headers={"Content-Type": reply.content_type, **reply.headers},
    )


async def get_dataset_quality(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if _VERSION_RE.fullmatch(request.match_info["version"]) is None:
        return _graph_error(unknown_path(request.path))
    params: dict[str, object] = dict(request.query)
    dataset_id = request.query.get("dataset_id", "")
    if not is_dataset_id(dataset_id):
        return _graph_error(invalid_param("The parameter dataset_id is required"))
    err = _authenticate(state, request, dataset_id, params)
    if err is not None:
        return _graph_error(err)
    fields = request.query.get("fields")
    doc = state.receipts.quality.answer(
        dataset_id,
        match_quality=fields is None or "event_match_quality" in fields,
        freshness=fields is not None and "data_freshness" in fields,
    )
    return _json(doc)


async def get_dataset(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    dataset_id = request.match_info["dataset_id"]
    if _VERSION_RE.fullmatch(request.match_info["version"]) is None:
        return _graph_error(unknown_path(request.path))
    params: dict[str, object] = dict(request.query)
    err = _authenticate(state, request, dataset_id, params)
    if err is not None:
        return _graph_error(err)
    doc: dict[str, object] = {"id": dataset_id}
    if "is_consolidated_container" in request.query.get("fields", "").split(","):
        doc["is_consolidated_container"] = True
    return _json(doc)


# ---- admin ----------------------------------------------------------------------------------


def _admin_error(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status=status)


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        return None
    value = int(raw)
    return value if lo <= value <= hi else None


async def admin_events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    offset = _int_query(request, "offset", 0, 0, 2**62)
    limit = _int_query(request, "limit", 100, 1, _MAX_PAGE)
    if offset is None or limit is None:
        return _admin_error(f"offset must be >= 0 and limit in 1..{_MAX_PAGE}")
    page = state.receipts.list_events(
        dataset=request.query.get("dataset") or None,
        event_id=request.query.get("event_id") or None,
        offset=offset,
        limit=limit,
    )
    return _json(page)


async def admin_receive_times(request: web.Request) -> web.StreamResponse:
    after = _int_query(request, "after", 0, 0, 2**62)
    limit = _int_query(request, "limit", 100, 1, _MAX_TIMES_PAGE)
    if after is None or limit is None:
        return _admin_error(f"after must be >= 0 and limit in 1..{_MAX_TIMES_PAGE}")
    return _json(request.app[STATE].times.page(after=after, limit=limit))


async def admin_stats(request: web.Request) -> web.StreamResponse:
    return _json(request.app[STATE].receipts.stats())


async def admin_reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE].receipts.reset()
    request.app[STATE].times.reset()
    return _json({"reset": True})


async def admin_get_faults(request: web.Request) -> web.StreamResponse:
    return _json(request.app[STATE].faults.config.to_json())


async def _json_object(request: web.Request) -> dict[str, object] | None:
    try:
        doc = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


async def admin_set_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    changes = await _json_object(request)
    if changes is None:
        return _admin_error("the body must be a JSON object of fault settings")
    try:
        state.faults.config = state.faults.config.with_changes(changes)
    except FaultConfigError as exc:
        return _admin_error(str(exc))
    return _json(state.faults.config.to_json())


async def admin_token_invalid(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    dataset_id = request.match_info["dataset_id"]
    if dataset_id not in state.datasets:
        return _admin_error("unknown dataset", status=404)
    doc = await _json_object(request)
    invalid = None if doc is None else doc.get("invalid")
    if not isinstance(invalid, bool):
        return _admin_error('the body must be {"invalid": true|false}')
    state.faults.set_token_invalid(dataset_id, invalid)
    return _json({"dataset": dataset_id, "token_invalid": invalid})


async def admin_datasets(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    return _json(
        [
            {
                "id": d.id,
                "appsecret_proof_required": d.app_secret is not None,
                "token_invalid": state.faults.token_invalid(d.id),
            }
            for d in state.datasets.values()
        ]
    )


async def _admin_off(request: web.Request) -> web.StreamResponse:
    return _admin_error("not found (admin endpoints are off: start with --admin)", 404)


async def admin_health(request: web.Request) -> web.StreamResponse:
    return _json({"ok": True})


async def _on_shutdown(app: web.Application) -> None:
    app[STATE].closing.set()


async def _on_cleanup(app: web.Application) -> None:
    app[STATE].receipts.close()


def create_app(state: SandboxState, *, admin: bool = True) -> web.Application:
    """The sandbox application around a state (datasets, faults, receipts, clock).

    `admin` False serves only the Graph API routes and `/_sandbox/health`: the receipts (the
    events it accepted), stats, reset and fault injection stay off (the `sandbox` command's
    default, unless `--admin` or CAPI_SANDBOX_ADMIN=1)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    r = app.router
    # Admin routes first: /{version}/{dataset_id} would match /_sandbox/<x> too.
    if admin:
        r.add_get("/_sandbox/events", admin_events)
        r.add_get("/_sandbox/receive-times", admin_receive_times)
        r.add_get("/_sandbox/stats", admin_stats)
        r.add_post("/_sandbox/reset", admin_reset)
        r.add_get("/_sandbox/faults", admin_get_faults)
        r.add_post("/_sandbox/faults", admin_set_faults)
        r.add_get("/_sandbox/datasets", admin_datasets)
        r.add_post("/_sandbox/datasets/{dataset_id}/token-invalid", admin_token_invalid)
    r.add_get("/_sandbox/health", admin_health)
    if not admin:
        r.add_route("*", "/_sandbox/{rest:.*}", _admin_off)
    r.add_post("/{version}/{dataset_id}/events", post_events)
    r.add_get("/{version}/dataset_quality", get_dataset_quality)  # before /{version}/{id}
    r.add_get("/{version}/{dataset_id}", get_dataset)
    return app
