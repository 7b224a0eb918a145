"""Meta's validation rules, each through real HTTP against the in-process sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streams.dev.sandbox.validation import FUTURE_SKEW_S, MAX_AGE_S, MAX_AGE_STORE_S
from tests.dev.sandbox.support import NOW, Client, event, sha, user_data

H = sha("x")  # any valid hash
EXTINFO = ["i2", "com.example.app", "1.0", "1.0 long", "17.1", "iPhone15,2"] + [""] * 10


def app_event(**app_data: Any) -> dict[str, Any]:
    data = {"advertiser_tracking_enabled": 1, "extinfo": list(EXTINFO), **app_data}
    data = {k: v for k, v in data.items() if v is not None}
    return event(
        action_source="app",
        event_source_url=None,
        user_data={"madid": "38400000-8cf0-11bd-b23e-10b96e40000d", "em": H},
        app_data=data,
    )


def messaging_event(channel: str | None, **ud: Any) -> dict[str, Any]:
    ev = event(action_source="business_messaging", event_source_url=None)
    ev["user_data"] = {"ph": H, **ud}
    if channel is not None:
        ev["messaging_channel"] = channel
    return ev


# (id, event factory, expected code, expected subcode or None)
REJECTED: list[tuple[str, Callable[[], Any], int, int | None]] = [
    ("not-an-object", lambda: "just a string that is not JSON", 100, None),
    ("array-event", lambda: [1, 2], 100, None),
    ("unexpected-top-key", lambda: event(pixel_id="1"), 100, None),
    ("unexpected-user-data-key", lambda: event(user_data=user_data(email=H)), 100, None),
    ("missing-event-name", lambda: event(event_name=None), 100, 2804019),
    ("empty-event-name", lambda: event(event_name=""), 100, None),
    ("missing-event-time", lambda: event(event_time=None), 100, 2804019),
    ("float-event-time", lambda: event(event_time=NOW - 60.5), 100, None),
    ("string-event-time", lambda: event(event_time=str(NOW - 60)), 100, None),
    ("iso-event-time", lambda: event(event_time="2025-11-24T15:59:00Z"), 100, None),
    ("bool-event-time", lambda: event(event_time=True), 100, None),
    ("ms-event-time", lambda: event(event_time=(NOW - 60) * 1000), 100, 2804004),
    ("missing-action-source", lambda: event(action_source=None), 100, 2804019),
    ("unknown-action-source", lambda: event(action_source="web"), 100, None),
    ("too-old", lambda: event(event_time=NOW - MAX_AGE_S - 1), 100, 2804003),
    (
        "store-too-old",
        lambda: event(action_source="physical_store", event_time=NOW - MAX_AGE_STORE_S - 1),
        100,
        2804003,
    ),
    ("future", lambda: event(event_time=NOW + FUTURE_SKEW_S + 1), 100, 2804004),
    ("missing-user-data", lambda: event(user_data=None), 100, 2804019),
    ("user-data-not-object", lambda: event(user_data=[H]), 100, None),
    ("empty-user-data", lambda: event(action_source="email", user_data={}), 100, 2804050),
    ("website-no-url", lambda: event(event_source_url=None), 100, 2804019),
    ("website-bad-url", lambda: event(event_source_url="shop.example.com"), 100, None),
    (
        "website-no-user-agent",
        lambda: event(user_data=user_data(client_user_agent=None)),
        100,
        2804019,
    ),
    ("empty-user-agent", lambda: event(user_data=user_data(client_user_agent=" ")), 100, None),
    ("purchase-no-custom-data", lambda: event(custom_data=None), 100, 2804009),
    ("purchase-no-value", lambda: event(custom_data={"currency": "EUR"}), 100, 2804009),
    (
        "purchase-string-value",
        lambda: event(custom_data={"value": "42.5", "currency": "EUR"}),
        100,
        2804009,
    ),
    ("purchase-no-currency", lambda: event(custom_data={"value": 1}), 100, 2804009),
    (
        "purchase-bad-currency",
        lambda: event(custom_data={"value": 1, "currency": "EURO"}),
        100,
        2804009,
    ),
    (
        "lead-bad-currency",
        lambda: event(event_name="Lead", custom_data={"value": 1, "currency": "E1R"}),
        100,
        None,
    ),
    (
        "lead-string-value",
        lambda: event(event_name="Lead", custom_data={"value": "1"}),
        100,
        None,
    ),
    ("custom-data-list", lambda: event(event_name="Lead", custom_data=[1]), 100, None),
    (
        "contents-without-id",
        lambda: event(custom_data={"value": 1, "currency": "EUR", "contents": [{"quantity": 1}]}),
        100,
        None,
    ),
    ("em-plain", lambda: event(user_data=user_data(em="alice@example.com")), 100, 2804016),
    ("em-plain-in-list", lambda: event(user_data=user_data(em=[H, "alice@x.io"])), 100, 2804016),
    ("ph-uppercase-hex", lambda: event(user_data=user_data(ph=H.upper())), 100, 2804016),
    ("fn-md5", lambda: event(user_data=user_data(fn="0" * 32)), 100, 2804016),
    ("ct-bad-appendix", lambda: event(user_data=user_data(ct=H + ".ABC")), 100, 2804016),
    ("country-raw", lambda: event(user_data=user_data(country="us")), 100, 2804016),
    ("em-empty", lambda: event(user_data=user_data(em="")), 100, None),
    ("em-number", lambda: event(user_data=user_data(em=5)), 100, None),
    ("external-id-number", lambda: event(user_data=user_data(external_id=5)), 100, None),
    ("fbc-short-time", lambda: event(user_data=user_data(fbc="fb.1.176400000.IwAR")), 100, 2804001),
    ("fbc-no-prefix", lambda: event(user_data=user_data(fbc="IwAR2xyz")), 100, 2804001),
    ("fbc-no-value", lambda: event(user_data=user_data(fbc="fb.1.1764000000000.")), 100, 2804001),
    ("fbc-hashed", lambda: event(user_data=user_data(fbc=H)), 100, 2804001),
    ("fbp-malformed", lambda: event(user_data=user_data(fbp="fb.1.abc.123")), 100, None),
    ("ip-invalid", lambda: event(user_data=user_data(client_ip_address="999.1.1.1")), 100, None),
    ("ip-hashed", lambda: event(user_data=user_data(client_ip_address=H)), 100, None),
    ("lead-id-text", lambda: event(user_data=user_data(lead_id="abc")), 100, None),
    (
        "only-location-and-ua",
        lambda: event(
            user_data={"ct": H, "country": H, "st": H, "zp": H, "ge": H, "client_user_agent": "UA"}
        ),
        100,
        2804050,
    ),
    (
        "only-ua",
        lambda: event(
            event_name="Lead", action_source="email", user_data={"client_user_agent": "U"}
        ),
        100,
        2804050,
    ),
    (
        "only-db-and-ua",
        lambda: event(user_data={"db": H, "client_user_agent": "UA"}),
        100,
        2804050,
    ),
    (
        "only-fn-ge",
        lambda: event(action_source="email", event_source_url=None, user_data={"fn": H, "ge": H}),
        100,
        2804050,
    ),
    (
        "only-ln-ge",
        lambda: event(action_source="email", event_source_url=None, user_data={"ln": H, "ge": H}),
        100,
        2804050,
    ),
    (
        "only-ge-and-empty-em",
        lambda: event(action_source="email", event_source_url=None, user_data={"ge": H, "em": []}),
        100,
        2804050,
    ),
    ("app-without-app-data", lambda: app_event() | {"app_data": None}, 100, 2804019),
    (
        "app-without-tracking-flag",
        lambda: app_event(advertiser_tracking_enabled=None),
        100,
        2804019,
    ),
    ("app-tracking-flag-2", lambda: app_event(advertiser_tracking_enabled=2), 100, None),
    ("app-without-extinfo", lambda: app_event(extinfo=None), 100, 2804019),
    ("app-extinfo-15", lambda: app_event(extinfo=EXTINFO[:15]), 100, None),
    ("app-extinfo-version", lambda: app_event(extinfo=["a1", *EXTINFO[1:]]), 100, None),
    ("messaging-no-channel", lambda: messaging_event(None), 100, 2804019),
    ("messaging-bad-channel", lambda: messaging_event("sms"), 100, None),
    ("whatsapp-no-ctwa-clid", lambda: messaging_event("whatsapp"), 100, 2804019),
    (
        "ldu-without-country",
        lambda: event(data_processing_options=["LDU"]),
        100,
        2804019,
    ),
    (
        "ldu-without-state-or-ip",
        lambda: event(
            data_processing_options=["LDU"],
            data_processing_options_country=1,
            user_data=user_data(client_ip_address=None),
        ),
        100,
        2804019,
    ),
    ("dpo-unknown", lambda: event(data_processing_options=["GDPR"]), 100, None),
    (
        "dpo-bad-state",
        lambda: event(
            data_processing_options=["LDU"],
            data_processing_options_country=1,
            data_processing_options_state=999,
        ),
        100,
        None,
    ),
    ("opt-out-string", lambda: event(opt_out="true"), 100, None),
    ("event-id-empty", lambda: event(event_id=""), 100, None),
    ("event-id-object", lambda: event(event_id={"id": 1}), 100, None),
    ("segment-unknown", lambda: event(customer_segmentation="vip"), 100, None),
    ("original-event-data-list", lambda: event(original_event_data=[]), 100, None),
]


@pytest.mark.parametrize(
    ("make", "code", "subcode"),
    [pytest.param(m, c, s, id=i) for i, m, c, s in REJECTED],
)
async def test_rejected_like_meta(
    client: Client, make: Callable[[], Any], code: int, subcode: int | None
) -> None:
    reply = await client.post_events([event(event_id="ok-first"), make()])
    assert reply.status == 400
    err = reply.error
    assert err["code"] == code
    assert err.get("error_subcode") == subcode
    assert err["type"] == "OAuthException"
    assert err["is_transient"] is False
    assert isinstance(err["fbtrace_id"], str) and len(err["fbtrace_id"]) >= 8
    assert reply.headers["X-Sandbox-Blame"].startswith("data[1]")
    if subcode is not None:
        assert err["message"] == "Invalid parameter"
        assert err["error_user_title"] and err["error_user_msg"]
        assert "data[" not in err["error_user_msg"]  # Meta does not name the event
    page = await client.admin("GET", "events")
    assert page.doc["total"] == 0  # whole-batch semantics: the valid event is not recorded either


ACCEPTED: list[tuple[str, Callable[[], Any]]] = [
    ("base", event),
    (
        "store-30-days-old",
        lambda: event(action_source="physical_store", event_time=NOW - 30 * 86400),
    ),
    (
        "store-61-days-old",
        lambda: event(action_source="physical_store", event_time=NOW - 61 * 86400),
    ),
    ("almost-7-days-old", lambda: event(event_time=NOW - MAX_AGE_S + 5)),
    ("slightly-future", lambda: event(event_time=NOW + FUTURE_SKEW_S)),
    ("email-source-no-url", lambda: event(action_source="email", event_source_url=None)),
    ("hash-with-pb-appendix-8", lambda: event(user_data=user_data(em=H + ".AQQCAQIB"))),
    ("hash-with-pb-appendix-2", lambda: event(user_data=user_data(ph=[H + ".BA", H]))),
    ("external-id-raw", lambda: event(user_data=user_data(external_id="cust-42"))),
    ("external-id-list", lambda: event(user_data=user_data(external_id=["a", H]))),
    ("ipv6", lambda: event(user_data=user_data(client_ip_address="2001:db8::7"))),
    ("ip-with-appendix", lambda: event(user_data=user_data(client_ip_address="203.0.113.7.AQ"))),
    ("fbc-with-appendix", lambda: event(user_data=user_data(fbc="fb.1.1764000000000.IwAR.AQ"))),
    ("lead-id-int", lambda: event(user_data=user_data(lead_id=123456))),
    ("event-id-int", lambda: event(event_id=123)),
    ("no-event-id", lambda: event(event_id=None)),
    (
        "purchase-int-value-lower-currency",
        lambda: event(custom_data={"value": 3, "currency": "usd"}),
    ),
    ("lead-without-custom-data", lambda: event(event_name="Lead", custom_data=None)),
    ("custom-event-name", lambda: event(event_name="BookedDemo", custom_data={"tier": "gold"})),
    (
        "fn-ge-plus-em",
        lambda: event(user_data={"fn": H, "ge": H, "em": H, "client_user_agent": "U"}),
    ),
    ("fbp-only", lambda: event(action_source="chat", user_data={"fbp": "fb.1.1764000000000.9"})),
    ("app", app_event),
    ("app-android-null-entries", lambda: app_event(extinfo=["a2", *([None] * 15)])),
    ("messenger", lambda: messaging_event("messenger", page_scoped_user_id="123")),
    ("whatsapp", lambda: messaging_event("whatsapp", ctwa_clid="ARAkLkA8rmlFeiCktEJQ")),
    (
        "ldu-geolocate",
        lambda: event(
            data_processing_options=["LDU"],
            data_processing_options_country=0,
            data_processing_options_state=0,
        ),
    ),
    (
        "ldu-with-ip",
        lambda: event(data_processing_options=["LDU"], data_processing_options_country=1),
    ),
    ("ldu-off", lambda: event(data_processing_options=[])),
    (
        "optional-fields",
        lambda: event(
            opt_out=False,
            referrer_url="https://www.google.com/",
            customer_segmentation="new_customer_to_business",
            original_event_data={"event_name": "Purchase", "event_time": NOW - 3600},
            custom_data={
                "value": 1.0,
                "currency": "EUR",
                "contents": [{"id": "sku", "quantity": 2}],
                "content_ids": ["sku"],
            },
        ),
    ),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=i) for i, m in ACCEPTED])
async def test_accepted_like_meta(client: Client, make: Callable[[], Any]) -> None:
    payload = make()
    reply = await client.post_events([payload])
    assert reply.status == 200, reply.doc
    assert reply.doc["events_received"] == 1
    assert reply.doc["messages"] == []
    assert isinstance(reply.doc["fbtrace_id"], str)
    page = await client.admin("GET", "events")
    assert page.doc["total"] == 1
    assert page.doc["events"][0]["payload"] == payload


async def test_time_rules_follow_the_injected_clock(client: Client, clock: Any) -> None:
    ev = event(event_time=NOW - 3600)
    assert (await client.post_events([ev])).status == 200
    clock.now = NOW + MAX_AGE_S  # the same event is now older than 7 days
    reply = await client.post_events([ev])
    assert reply.error["error_subcode"] == 2804003


async def test_one_stale_event_fails_a_full_batch(client: Client) -> None:
    data = [event(event_id=f"e{i}") for i in range(1000)]
    data[500]["event_time"] = NOW - MAX_AGE_S - 10
    reply = await client.post_events(data)
    assert reply.error["error_subcode"] == 2804003
    assert reply.headers["X-Sandbox-Blame"] == "data[500].event_time"
    stats = await client.admin("GET", "stats")
    assert stats.doc["totals"]["events_accepted"] == 0
    assert stats.doc["totals"]["rejected_requests"] == {"100/2804003": 1}


async def test_a_thousand_events_are_accepted(client: Client) -> None:
    reply = await client.post_events([event(event_id=f"e{i}") for i in range(1000)])
    assert reply.status == 200
    assert reply.doc["events_received"] == 1000


@pytest.mark.parametrize("count", [0, 1001])
async def test_event_count_outside_1_to_1000_is_code_100(client: Client, count: int) -> None:
    reply = await client.post_events([event(event_id=f"e{i}") for i in range(count)])
    assert reply.status == 400
    assert reply.error["code"] == 100
    assert "error_subcode" not in reply.error


async def test_unexpected_key_message_names_the_key_and_param(client: Client) -> None:
    reply = await client.post_events([event(), event(user_data=user_data(phone=H))])
    assert reply.error["message"] == '(#100) Unexpected key "phone" on param "data[1][user_data]"'


async def test_errors_never_echo_customer_values(client: Client) -> None:
    reply = await client.post_events([event(user_data=user_data(em="alice@example.com"))])
    assert reply.error["error_subcode"] == 2804016
    assert "alice" not in str(reply.doc)
    assert "alice" not in str(dict(reply.headers))


def test_the_sandbox_knows_the_same_action_sources_as_the_worker() -> None:
    # The sandbox stands in for Meta and never imports the domain: its own table must agree.
    from streams.dev.sandbox.validation import ACTION_SOURCES as SANDBOX_ACTION_SOURCES
    from streams.domain.model import ACTION_SOURCES as WORKER_ACTION_SOURCES

    assert SANDBOX_ACTION_SOURCES == WORKER_ACTION_SOURCES
