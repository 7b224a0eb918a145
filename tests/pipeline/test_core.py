"""The window pipeline against fakes: formats, routing, failure records, holds, sink failures."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.capi.client import GraphReply
from streams.capi.delivery import Deliverer, DeliveryConfig
from streams.domain.records import SourceRef
from streams.observability.metrics import Metrics
from streams.pipeline import InputMessage, Pipeline
from streams.settings import Settings, load_settings
from streams.wiring import build_pipeline

DATA = Path(__file__).parents[1] / "data"
NOW = 1795168900.0  # close to the sample files' timestamps
DS_A, DS_B = "1000000000000001", "1000000000000002"


class FakeSender:
    """Accepts every request, or answers with `status`/`body` when set."""

    def __init__(self, status: int = 200, body: bytes | None = None) -> None:
        self.status = status
        self.body = body
        self.requests: list[tuple[str, int]] = []

    async def post_events(
        self,
        dataset_id: str,
        events: Sequence[Mapping[str, object]],
        test_event_code: str | None = None,
    ) -> GraphReply:
        self.requests.append((dataset_id, len(events)))
        body = self.body or orjson.dumps(
            {"events_received": len(events), "messages": [], "fbtrace_id": "trace"}
        )
        return GraphReply(self.status, body, {}, 0.001)


class TokenErrorForB(FakeSender):
    """Dataset B's token is invalid (190) until `restored`; A is accepted."""

    restored = False

    async def post_events(
        self,
        dataset_id: str,
        events: Sequence[Mapping[str, object]],
        test_event_code: str | None = None,
    ) -> GraphReply:
        if dataset_id == DS_B and not self.restored:
            self.requests.append((dataset_id, len(events)))
            body = {"error": {"code": 190, "type": "OAuthException", "fbtrace_id": "t"}}
            return GraphReply(400, orjson.dumps(body), {}, 0.001)
        return await super().post_events(dataset_id, events, test_event_code)


class ListSink:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[tuple[str, bytes | None, dict[str, Any]]] = []
        self.fail = fail

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        self.records.append((topic, key, orjson.loads(value)))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail:
            fut.set_exception(RuntimeError("broker unavailable"))
        else:
            fut.set_result(None)
        return fut

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for _, _, r in self.records if r["kind"] == kind]


def _settings(toml: str = "", tmp_path: Path | None = None) -> Settings:
    env = {
        "CAPI_DATASETS__0__ID": DS_A,
        "CAPI_DATASETS__0__TOKEN_ENV": "T",
        "CAPI_DATASETS__1__ID": DS_B,
        "CAPI_DATASETS__1__TOKEN_ENV": "T",
        "CAPI_ROUTING__DEFAULT_DATASET": DS_A,
        "T": "token",
    }
    path = None
    if toml and tmp_path is not None:
        path = tmp_path / "c.toml"
        path.write_text(toml)
    return load_settings(path, env)


def _pipeline(
    settings: Settings, sender: FakeSender, sink: ListSink, config_retry_s: float = 30.0
) -> tuple[Pipeline, Deliverer, Metrics]:
    metrics = Metrics(
        CollectorRegistry(),
        datasets=[DS_A, DS_B],
        topics=list(settings.kafka.input_topics),
        graph_api_version="v25.0",
    )
    deliverer = Deliverer(sender, DeliveryConfig(config_retry_s=config_retry_s), metrics)
    pipeline = build_pipeline(settings, deliverer, sink, metrics, clock=lambda: NOW)
    return pipeline, deliverer, metrics


def _msg(i: int, value: bytes | None, topic: str = "capi-events", **headers: bytes) -> InputMessage:
    return InputMessage(SourceRef(topic, 0, i, None), f"k{i}".encode(), value, headers)


def _native(i: int, **over: Any) -> bytes:
    ev: dict[str, Any] = {
        "event_name": "Lead",
        "event_time": int(NOW) - 10,
        "action_source": "system_generated",
        "event_id": f"n-{i}",
        "user_data": {"email": f"p{i}@example.com"},
    }
    ev.update(over)
    return orjson.dumps(ev)


async def test_native_events_are_delivered_per_dataset_and_recorded() -> None:
    sender, sink = FakeSender(), ListSink()
    pipeline, _, metrics = _pipeline(_settings(), sender, sink)
    msgs = [_msg(i, _native(i, dataset_id=(DS_A, DS_B)[i % 2])) for i in range(10)]
    result = await pipeline.process(msgs)
    assert result.held == frozenset() and result.delivered == 10 and result.failed == 0
    assert sorted(sender.requests) == [(DS_A, 5), (DS_B, 5)]
    responses = sink.of("response")
    assert {r["dataset_id"] for r in responses} == {DS_A, DS_B}
    assert sorted(i for r in responses for i in r["event_ids"]) == sorted(
        f"n-{i}" for i in range(10)
    )
    assert (
        metrics.registry.get_sample_value("capi_events_consumed_total", {"topic": "capi-events"})
        == 10
    )
    assert (
        metrics.registry.get_sample_value(
            "capi_match_key_events_total", {"dataset": DS_A, "key": "em"}
        )
        == 5
    )


async def test_a_windows_failures_drops_and_guarded_fields_are_counted_in_metrics() -> None:
    sender, sink = FakeSender(), ListSink()
    pipeline, _, metrics = _pipeline(_settings(), sender, sink)
    bad_phone = {"email": "a@example.com", "phone": "12"}
    no_currency = {"event_name": "Purchase", "custom_data": {"value": 5}}
    msgs = [
        *(_msg(i, b"{not json") for i in range(3)),
        *(_msg(i, _native(i, **no_currency)) for i in range(3, 5)),
        *(_msg(i, _native(i, user_data=bad_phone)) for i in range(5, 9)),
        _msg(9, _native(9, custom_data={"note": "mail jane@example.com"})),
    ]
    result = await pipeline.process(msgs)
    assert result.failed == 5 and result.delivered == 5
    samples = {
        (fam.name, tuple(sorted(s.labels.items()))): s.value
        for fam in metrics.registry.collect()
        for s in fam.samples
        if s.name.endswith("_total") and s.value
    }
    assert samples[("capi_events_failed", (("dataset", "none"), ("reason", "invalid_json")))] == 3
    missing = (("dataset", DS_A), ("reason", "missing_currency"))
    assert samples[("capi_events_failed", missing)] == 2
    assert samples[("capi_user_data_dropped", (("field", "ph"), ("reason", "invalid")))] == 4
    note = (("action", "drop"), ("dataset", DS_A), ("field", "custom_data.note"))
    assert samples[("capi_pii_guarded", note)] == 1
    records = (("kind", "failure"), ("topic", "capi-failures"))
    assert samples[("capi_output_records", records)] == 5


async def test_dataset_header_routes_and_unknown_dataset_fails() -> None:
    sender, sink = FakeSender(), ListSink()
    pipeline, _, _ = _pipeline(_settings(), sender, sink)
    msgs = [
        _msg(0, _native(0), **{"capi-dataset": DS_B.encode()}),
        _msg(1, _native(1, dataset_id="42")),
    ]
    result = await pipeline.process(msgs)
    assert sender.requests == [(DS_B, 1)]
    [failure] = sink.of("failure")
    assert failure["reason"] == "unknown_dataset" and failure["field"] == "dataset_id"
    assert result.failed == 1


async def test_a_ga4_payload_with_several_events_yields_several_capi_events(
    tmp_path: Path,
) -> None:
    settings = _settings('[formats.topics.ga4-in]\nformat = "ga4"\n', tmp_path)
    sender, sink = FakeSender(), ListSink()
    pipeline, _, metrics = _pipeline(settings, sender, sink)
    payload = orjson.loads((DATA / "ga4" / "multiple_events.json").read_bytes())
    payload["user_agent"] = "Mozilla/5.0"  # the Measurement Protocol has no UA field
    raw = orjson.dumps(payload)
    result = await pipeline.process([_msg(0, raw, topic="ga4-in")])
    sent = sum(n for _, n in sender.requests)
    outcomes = (
        sent
        + result.failed
        + int(
            sum(
                s.value
                for fam in metrics.registry.collect()
                if fam.name == "capi_events_unmapped"
                for s in fam.samples
                if s.name.endswith("_total") and s.labels["action"] == "drop"
            )
        )
    )
    assert sent >= 2 and outcomes == len(orjson.loads(raw)["events"])
    ids = [i for r in sink.of("response") for i in r["event_ids"]]
    assert len(ids) == len(set(ids)) == sent  # distinct derived event ids


async def test_segment_topic_and_unmappable_events_become_failure_records(
    tmp_path: Path,
) -> None:
    settings = _settings('[formats.topics.seg]\nformat = "segment"\n', tmp_path)
    sender, sink = FakeSender(), ListSink()
    pipeline, _, _ = _pipeline(settings, sender, sink)
    order = (DATA / "segment" / "order_completed.json").read_bytes()
    identify = (DATA / "segment" / "identify.json").read_bytes()
    result = await pipeline.process([_msg(0, order, "seg"), _msg(1, identify, "seg")])
    assert result.held == frozenset()
    failures = sink.of("failure")
    assert [f["reason"] for f in failures if f["source"]["offset"] == 1] == ["no_action"]
    delivered_or_rejected = sender.requests or [f for f in failures if f["source"]["offset"] == 0]
    assert delivered_or_rejected


async def test_unparseable_input_keeps_raw_only_when_configured(tmp_path: Path) -> None:
    for include_raw, expect in ((False, False), (True, True)):
        settings = _settings(f"[failures]\ninclude_raw = {str(include_raw).lower()}\n", tmp_path)
        sink = ListSink()
        pipeline, _, _ = _pipeline(settings, FakeSender(), sink)
        await pipeline.process([_msg(0, b"\xff{not json")])
        [failure] = sink.of("failure")
        assert failure["reason"] == "invalid_json"
        assert ("raw_base64" in failure) is expect


async def test_stopped_deliverer_holds_events_and_nothing_is_recorded_for_them() -> None:
    sender = FakeSender(
        400,
        orjson.dumps({"error": {"code": 190, "type": "OAuthException", "fbtrace_id": "x"}}),
    )
    sink = ListSink()
    pipeline, deliverer, _ = _pipeline(_settings(), sender, sink)
    window = [_msg(i, _native(i)) for i in range(3)]
    result = await asyncio.wait_for(pipeline.process(window), 5)
    # held: the dataset waits for a working token, the window returns without it
    assert result.waiting == frozenset({0, 1, 2}) and result.held == frozenset()
    assert result.later is not None
    await asyncio.sleep(0.05)
    assert not result.later.done()
    deliverer.holds.stop()
    later = await asyncio.wait_for(result.later, 5)
    assert later.held == frozenset({0, 1, 2})
    assert sink.of("response") == [] and sink.of("failure") == []


async def test_a_sink_failure_holds_the_whole_window() -> None:
    pipeline, _, _ = _pipeline(_settings(), FakeSender(), ListSink(fail=True))
    result = await pipeline.process([_msg(i, _native(i)) for i in range(4)])
    assert result.held == frozenset(range(4))


@pytest.mark.parametrize("value", [None, b"x" * 1_000_001])
async def test_empty_and_oversized_messages_fail_with_a_reason(value: bytes | None) -> None:
    sink = ListSink()
    pipeline, _, _ = _pipeline(_settings(), FakeSender(), sink)
    await pipeline.process([_msg(0, value)])
    [failure] = sink.of("failure")
    assert failure["reason"] == ("empty_message" if value is None else "message_too_large")


async def test_a_held_dataset_does_not_hold_the_other_datasets_of_its_window() -> None:
    sender, sink = TokenErrorForB(), ListSink()
    settings = _settings()
    pipeline, _, _ = _pipeline(settings, sender, sink, config_retry_s=0.05)
    msgs = [_msg(i, _native(i, dataset_id=(DS_A, DS_B)[i % 2])) for i in range(6)]
    result = await asyncio.wait_for(pipeline.process(msgs), 5)
    assert result.delivered == 3 and result.waiting == frozenset({1, 3, 5})
    assert result.later is not None
    sender.restored = True
    later = await asyncio.wait_for(result.later, 5)
    assert later.delivered == 3 and later.held == frozenset()
    assert sorted(i for r in sink.of("response") for i in r["event_ids"]) == [
        f"n-{i}" for i in range(6)
    ]


async def test_a_held_batch_keeps_only_its_own_events_alive_not_the_window() -> None:
    class Window(list[InputMessage]):
        """A list that can be weakly referenced, to see when the window is freed."""

    pipeline, deliverer, _ = _pipeline(_settings(), TokenErrorForB(), ListSink(), 0.05)
    msgs = Window(_msg(i, _native(i, dataset_id=(DS_A, DS_B)[i % 2])) for i in range(6))
    alive = weakref.ref(msgs)
    result = await asyncio.wait_for(pipeline.process(msgs), 5)
    assert result.later is not None and result.waiting == frozenset({1, 3, 5})
    del msgs
    await asyncio.sleep(0.1)  # the held batch retries meanwhile
    gc.collect()
    assert not result.later.done()
    assert alive() is None, "the held batch keeps the whole window alive"
    deliverer.holds.stop()
    later = await asyncio.wait_for(result.later, 5)
    assert later.held == frozenset({1, 3, 5})


async def test_an_event_over_max_event_bytes_fails_and_its_neighbours_flow() -> None:
    sender, sink = FakeSender(), ListSink()
    settings = _settings()
    pipeline, _, _ = _pipeline(settings, sender, sink)
    limit = settings.datasets[0].max_event_bytes
    big = {"value": 5, "currency": "USD", "note": "n" * limit}
    near_limit = {"value": 5, "currency": "USD", "note": "n" * (limit - 1000)}
    msgs = [
        _msg(0, _native(0)),
        _msg(1, _native(1, custom_data=big)),
        _msg(2, _native(2, custom_data=near_limit, event_name="L" * 256)),
    ]
    result = await pipeline.process(msgs)
    assert (result.delivered, result.failed) == (2, 1)
    [failure] = sink.of("failure")
    assert failure["reason"] == "event_too_large" and failure["event_id"] == "n-1"
    assert failure["source"]["offset"] == 1
    assert sorted(i for r in sink.of("response") for i in r["event_ids"]) == ["n-0", "n-2"]


async def test_a_failure_record_too_large_for_kafka_leaves_the_event_out() -> None:
    sink = ListSink()
    pipeline, _, _ = _pipeline(_settings(), FakeSender(), sink)
    contents = [{"id": f"sku-{i:07d}-" + "x" * 40, "quantity": 1} for i in range(12800)]
    value = _native(0, event_name="Purchase", custom_data={"value": 1, "contents": contents})
    await pipeline.process([_msg(0, value)])  # no currency: rejected, with a huge event
    [failure] = sink.of("failure")
    assert failure["reason"] == "missing_currency" and failure["omitted"] == ["event"]
    assert len(orjson.dumps(failure)) < 900_000


async def test_a_message_split_over_two_requests_stays_held_when_one_ends_held(
    tmp_path: Path,
) -> None:
    """One message, two events, two requests (max_events = 1). The first request meets a
    token error after a stop (so it ends held) while the second is still in flight: the
    message must stay held even though its other event is delivered later."""
    config = tmp_path / "c.toml"
    config.write_text(
        f'[[datasets]]\nid = "{DS_A}"\ntoken_env = "T"\nmax_events = 1\n'
        'default_action_source = "system_generated"\n'
        '[formats.topics.seg]\nformat = "segment"\n'
    )
    settings = load_settings(config, {"T": "token"})
    gates = [asyncio.Event(), asyncio.Event()]
    both_in_flight = asyncio.Event()
    token_error = orjson.dumps({"error": {"code": 190, "type": "OAuthException"}})

    class Gated(FakeSender):
        async def post_events(
            self,
            dataset_id: str,
            events: Sequence[Mapping[str, object]],
            test_event_code: str | None = None,
        ) -> GraphReply:
            k = len(self.requests)
            self.requests.append((dataset_id, len(events)))
            if k == 1:
                both_in_flight.set()
            await gates[k].wait()
            if k == 0:
                return GraphReply(400, token_error, {}, 0.001)
            return await super().post_events(dataset_id, events, test_event_code)

    sender, sink = Gated(), ListSink()
    pipeline, deliverer, _ = _pipeline(settings, sender, sink)
    batch = (DATA / "segment" / "batch.json").read_bytes()
    window = asyncio.create_task(pipeline.process([_msg(0, batch, "seg")]))
    await asyncio.wait_for(both_in_flight.wait(), 5)
    deliverer.holds.stop()  # shutdown or a rebalance past its grace
    gates[0].set()  # the first request now meets the token error and ends held
    result = await asyncio.wait_for(window, 5)
    gates[1].set()  # the second request is delivered
    later = result.later
    held = set(result.held) | (set((await asyncio.wait_for(later, 5)).held) if later else set())
    assert held == {0}, "a message with an event neither delivered nor failed must not be acked"
    assert len(sink.of("response")) == 1
