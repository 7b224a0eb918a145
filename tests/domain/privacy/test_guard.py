"""The PII guard on events as sent: nothing personal outside user_data, reported by path."""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.hashing import sha256_hex
from streams.domain.normalize import hash_user_data
from streams.domain.privacy.guard import (
    MAX_DEPTH,
    PHONE_PARSE_BUDGET,
    GuardAction,
    Guarded,
    GuardMode,
    PiiPolicy,
    guard_built_event,
    guard_event,
)
from streams.domain.privacy.patterns import find_pii
from streams.domain.transform import Accepted, DatasetPolicy, transform

EMAIL = "Jane.Doe@Example.com"
PHONE = "(650) 555-1212"
EM_HASH = hash_user_data({"em": EMAIL}, "us", current_year=2026)["em"][0]
PH_HASH = hash_user_data({"ph": PHONE}, "us", current_year=2026)["ph"][0]
DROP = PiiPolicy(GuardMode.DROP, country="us")
HASH = PiiPolicy(GuardMode.HASH, country="us")


def _event(**custom: Any) -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": 1_795_770_000,
        "event_id": "order-1",
        "action_source": "website",
        "event_source_url": "https://shop.example.com/checkout?fbclid=IwAR2xYz&utm_source=fb",
        "user_data": {"em": [EM_HASH], "client_user_agent": "Mozilla/5.0"},
        "custom_data": {"value": 42.5, "currency": "USD", **custom},
    }


def _strings(value: Any, skip_user_data: bool = True) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if skip_user_data and k == "user_data":
                continue
            yield k
            yield from _strings(v, False)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, False)


def test_an_event_without_personal_data_is_unchanged() -> None:
    event = _event(order_id="ORD-2026-000123", contents=[{"id": "SKU-1", "quantity": 2}])
    result = guard_event(event, DROP)
    assert result.event == event
    assert result.guarded == ()


def test_drop_mode_removes_personal_keys_and_values_everywhere() -> None:
    event = _event(
        customer_email=EMAIL,
        shipping_phone=PHONE,
        recipientName="Jane Doe",
        note=f"call {PHONE}",
        email_opt_in=True,
        contents=[{"id": "SKU-1", "gift_note": f"for {EMAIL}"}],
        tags=["vip", EMAIL],
        shipping={"address": {"street": "1 Main St"}, "method": "ups"},
    )
    result = guard_event(event, DROP)
    custom = result.event["custom_data"]
    assert custom == {
        "value": 42.5,
        "currency": "USD",
        "email_opt_in": True,
        "contents": [{"id": "SKU-1"}],
        "tags": ["vip"],
        "shipping": {"method": "ups"},
    }
    assert set(result.guarded) == {
        Guarded("custom_data.customer_email", GuardAction.DROP),
        Guarded("custom_data.shipping_phone", GuardAction.DROP),
        Guarded("custom_data.recipientName", GuardAction.DROP),
        Guarded("custom_data.note", GuardAction.DROP),
        Guarded("custom_data.contents[].gift_note", GuardAction.DROP),
        Guarded("custom_data.tags[]", GuardAction.DROP),
        Guarded("custom_data.shipping.address", GuardAction.DROP),
    }
    assert result.event["user_data"] == event["user_data"]
    assert event["custom_data"]["customer_email"] == EMAIL  # the input is not modified


def test_hash_mode_hashes_like_user_data() -> None:
    event = _event(customer_email=EMAIL, shipping_phone=PHONE, note=f"call {PHONE} or {EMAIL}")
    custom = guard_event(event, HASH).event["custom_data"]
    assert custom["customer_email"] == EM_HASH
    assert custom["shipping_phone"] == PH_HASH
    assert custom["note"] == f"call {PH_HASH} or {EM_HASH}"


def test_hash_mode_normalizes_names_and_birth_dates_like_user_data() -> None:
    event = _event(first_name=" Jane ", last_name="DOE", birthday="1990-02-01", nick="x")
    custom = guard_event(event, HASH, current_year=2026).event["custom_data"]
    expected = hash_user_data(
        {"fn": "Jane", "ln": "DOE", "db": "1990-02-01"}, "us", current_year=2026
    )
    assert custom["first_name"] == expected["fn"][0]
    assert custom["last_name"] == expected["ln"][0]
    assert custom["birthday"] == expected["db"][0]
    assert custom["nick"] == "x"


def test_hash_mode_drops_what_cannot_be_hashed() -> None:
    event = _event(address={"street": "1 Main"}, phone="n/a", emails=[EMAIL, {"x": 1}])
    result = guard_event(event, HASH)
    custom = result.event["custom_data"]
    assert "address" not in custom
    assert "phone" not in custom
    assert custom["emails"] == [EM_HASH]
    assert Guarded("custom_data.address", GuardAction.DROP) in result.guarded


def test_off_leaves_everything() -> None:
    event = _event(customer_email=EMAIL)
    result = guard_event(event, PiiPolicy(GuardMode.OFF))
    assert result.event == event
    assert result.guarded == ()


def test_allow_and_deny_lists() -> None:
    policy = PiiPolicy(GuardMode.DROP, allow_keys=("name", "store_phone"), deny_keys=("vat_id",))
    event = _event(name="Blue shoes", store_phone=PHONE, customer_vat_id="DE123")
    custom = guard_event(event, policy).event["custom_data"]
    assert custom["name"] == "Blue shoes"
    assert custom["store_phone"] == PHONE
    assert "customer_vat_id" not in custom


def test_fields_an_event_needs_are_hashed_even_in_drop_mode() -> None:
    event = _event(order_id=EMAIL, contents=[{"id": EMAIL, "quantity": 1}])
    event["event_id"] = EMAIL
    result = guard_event(event, DROP)
    assert result.event["event_id"] == EM_HASH
    assert result.event["custom_data"]["order_id"] == EM_HASH
    assert result.event["custom_data"]["contents"] == [{"id": EM_HASH, "quantity": 1}]
    assert {g.action for g in result.guarded} == {GuardAction.HASH}


def test_urls_keep_scheme_host_path_and_tracking_parameters() -> None:
    event = _event()
    event["event_source_url"] = (
        "https://jane@shop.example.com/u/jane%40example.com/checkout"
        "?fbclid=IwAR2&email=jane%40example.com&utm_source=x&phone=%2B16505551212"
        "&q=call+650-555-1212&gclid=abc#/thanks?first_name=Jane&step=2"
    )
    event["referrer_url"] = "https://ref.example.com/?q=shoes"
    result = guard_event(event, DROP)
    assert result.event["event_source_url"] == (
        "https://shop.example.com/u/checkout?fbclid=IwAR2&utm_source=x&gclid=abc#/thanks?step=2"
    )
    assert result.event["referrer_url"] == "https://ref.example.com/?q=shoes"
    assert sorted(g.field for g in result.guarded) == [
        "event_source_url#first_name",
        "event_source_url/",
        "event_source_url?email",
        "event_source_url?phone",
        "event_source_url?q",
        "event_source_url@",
    ]


def test_urls_in_hash_mode_keep_hashed_parameters_encoded() -> None:
    event = _event()
    event["event_source_url"] = "https://shop.example.com/?email=jane.doe%40example.com&q=a+b"
    url = guard_event(event, HASH).event["event_source_url"]
    assert url == f"https://shop.example.com/?email={EM_HASH}&q=a+b"


def test_urls_anywhere_in_custom_data_are_guarded() -> None:
    event = _event(page={"url": "https://x.example/?email=jane%40example.com&id=7"})
    result = guard_event(event, DROP)
    assert result.event["custom_data"]["page"] == {"url": "https://x.example/?id=7"}
    assert result.guarded == (Guarded("custom_data.page.url?email", GuardAction.DROP),)


def test_keys_that_are_personal_data_are_removed_and_never_named() -> None:
    event = _event(**{EMAIL: "vip", "ok": 1})
    result = guard_event(event, HASH)
    assert EMAIL not in result.event["custom_data"]
    assert result.guarded == (Guarded("custom_data.*", GuardAction.DROP),)


def test_paths_have_no_indices_and_a_bounded_depth() -> None:
    deep: dict[str, Any] = {"email": EMAIL}
    for name in ("e", "d", "c", "b", "a"):
        deep = {name: [deep]}
    result = guard_event(_event(**deep), DROP)
    (guarded,) = result.guarded
    assert guarded.field == "custom_data.a[].b[].c[].d[]." + "..."
    assert guarded.field.removesuffix("....").count(".") == MAX_DEPTH - 1


def test_emptied_containers_are_removed() -> None:
    result = guard_event(_event(extra={"email": EMAIL}, list_=[EMAIL]), DROP)
    assert result.event["custom_data"] == {"value": 42.5, "currency": "USD"}


def test_text_that_is_not_a_url_in_a_url_field_is_hashed_not_dropped() -> None:
    event = _event()
    event["event_source_url"] = EMAIL
    assert guard_event(event, DROP).event["event_source_url"] == EM_HASH


_PII = st.sampled_from(
    [EMAIL, PHONE, "+44 20 7946 0958", f"note {EMAIL}", "x@y.io", "jane%40example.com"]
)
_SAFE_TEXT = st.sampled_from(
    ["SKU-1", "ORD-2026-000123", "2026-11-27T09:15:00Z", "Blue shoes", "USD", "1234567.89"]
)
_KEYS = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8)
_JSON = st.recursive(
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | _PII
    | _SAFE_TEXT,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(_KEYS | st.just("email") | _PII, children, max_size=3)
    ),
    max_leaves=12,
)


@given(custom=st.dictionaries(_KEYS, _JSON, max_size=4), mode=st.sampled_from([DROP, HASH]))
def test_nothing_personal_survives_and_the_guard_is_idempotent(
    custom: dict[str, Any], mode: PiiPolicy
) -> None:
    event = _event(**custom)
    first = guard_event(event, mode)
    for text in _strings(first.event):
        assert not find_pii(text, "us"), text
    again = guard_event(first.event, mode)
    assert again.event == first.event
    assert again.guarded == ()
    # nothing reported, nothing changed: admission keeps the size measured before the guard
    assert orjson.dumps(again.event) == orjson.dumps(first.event)
    if not first.guarded:
        assert orjson.dumps(first.event) == orjson.dumps(event)
    assert first.event["user_data"] == event["user_data"]
    assert first.event["custom_data"]["value"] == 42.5


@given(
    order=st.text(string.ascii_uppercase + string.digits + "-", min_size=1, max_size=20),
    price=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    quantity=st.integers(min_value=0, max_value=10**12),
    when=st.integers(min_value=0, max_value=4_000_000_000_000),
)
def test_order_ids_prices_quantities_and_times_survive(
    order: str, price: float, quantity: int, when: int
) -> None:
    event = _event(
        order_id=order,
        contents=[{"id": order, "item_price": price, "quantity": quantity}],
        ts=when,
        ts_text=str(when),
        sku=f"SKU-{quantity}",
    )
    assert guard_event(event, DROP).event == event


@pytest.mark.parametrize("mode", [GuardMode.DROP, GuardMode.HASH])
def test_hashes_are_sha256_hex(mode: GuardMode) -> None:
    custom = guard_event(_event(email="x@y.io"), PiiPolicy(mode)).event["custom_data"]
    if mode is GuardMode.HASH:
        assert custom["email"] == sha256_hex("x@y.io")
    else:
        assert "email" not in custom


def test_fragment_parameters_with_personal_names_are_removed() -> None:
    for url, kept in (
        ("https://shop.example/#/checkout?first_name=Jane&last_name=Doe", "#/checkout?"),
        ("https://shop.example/#first_name=Jane", ""),
        ("https://shop.example/#step=2&first_name=Jane", "#step=2"),
    ):
        event = _event()
        event["event_source_url"] = url
        result = guard_event(event, DROP)
        assert result.event["event_source_url"] == "https://shop.example/" + kept
        assert "event_source_url#first_name" in {g.field for g in result.guarded}


def test_url_shaped_ids_that_would_lose_a_part_are_hashed_whole() -> None:
    ids = ["https://shop.example/o?email=a%40example.com", "https://shop.example/o?email=b%40x.io"]
    ids.append("https://jane@shop.example/o")
    for policy in (DROP, HASH):
        seen = set()
        for value in ids:
            event = _event(order_id=value)
            event["event_id"] = value
            result = guard_event(event, policy)
            event_id, order_id = result.event["event_id"], result.event["custom_data"]["order_id"]
            seen.add(event_id)
            assert "@" not in event_id and "example.com" not in event_id
            assert order_id == event_id or policy is HASH
            if policy is DROP:
                assert event_id == sha256_hex(value)
                assert Guarded("event_id", GuardAction.HASH) in result.guarded
        assert len(seen) == len(ids)
    clean = _event()
    clean["event_id"] = "https://shop.example/o/123?utm_source=fb"
    assert guard_event(clean, DROP).event["event_id"] == clean["event_id"]


@pytest.mark.parametrize("mode", [GuardMode.DROP, GuardMode.HASH])
def test_an_event_full_of_phone_shaped_values_costs_at_most_the_parse_budget(
    mode: GuardMode,
) -> None:
    policy = PiiPolicy(mode, country="nz")
    notes = {f"n{i}": f"call +1 415 555 {i:04d} ({mode.value})" for i in range(2_000)}
    notes["plain"] = "no digits here at all"
    seen = policy.memo.finder.seen
    before = {text for text, found in seen.items() if found}
    result = guard_event(_event(**notes), policy)
    checked = {text for text, found in seen.items() if found} - before
    assert 0 < len(checked) <= PHONE_PARSE_BUDGET  # texts phonenumbers parsed
    custom = result.event["custom_data"]
    assert custom["plain"] == "no digits here at all"
    kept = [v for k, v in custom.items() if k.startswith("n")]
    if mode is GuardMode.DROP:
        assert kept == []
    else:
        assert len(kept) == 2_000 and not any("+1 415" in v for v in kept)
    assert {g.field for g in result.guarded} >= {"custom_data.n1", "custom_data.n1999"}


_IDS = st.none() | st.just("  ") | _PII | _SAFE_TEXT | st.just("cs-" + "0" * 32)


def _built(event_id: str | None, **custom: Any) -> Accepted:
    """The transform's event for `_event(**custom)` with `event_id` (None: none given)."""
    native = {k: v for k, v in _event(**custom).items() if k != "event_id"}
    native["user_data"] = {"em": EMAIL, "client_user_agent": "Mozilla/5.0"}
    if event_id is not None:
        native["event_id"] = event_id
    accepted = transform(native, DatasetPolicy("1000000000000001"), now=1_795_770_100)
    assert isinstance(accepted, Accepted)
    return accepted


@given(
    event_id=_IDS,
    custom=st.dictionaries(_KEYS, _JSON, max_size=3),
    mode=st.sampled_from([DROP, HASH]),
)
def test_a_built_event_is_guarded_as_the_full_walk_guards_it(
    event_id: str | None, custom: dict[str, Any], mode: PiiPolicy
) -> None:
    # `guard_built_event` leaves out only an event_id the transform derived: what is sent and
    # what is reported are those of the full walk (`guard_event`) over the same event
    accepted = _built(event_id, **custom)
    assert accepted.derived_id == (event_id is None or not event_id.strip())
    full = guard_event(accepted.event, mode, current_year=2026)
    sent, guarded = guard_built_event(accepted.event, mode, 2026, derived_id=accepted.derived_id)
    assert (sent, guarded) == (full.event, full.guarded)
    assert not find_pii(sent["event_id"], "us")


@pytest.mark.parametrize("given_id", [EMAIL, f"order for {PHONE}", "cs-" + "a" * 32])
def test_a_given_event_id_is_never_taken_for_a_derived_one(given_id: str) -> None:
    accepted = _built(given_id)
    assert not accepted.derived_id  # the flag admission passes to the guard
    sent, guarded = guard_built_event(accepted.event, DROP, derived_id=accepted.derived_id)
    assert not find_pii(sent["event_id"], "us")
    if find_pii(given_id, "us"):
        assert sent["event_id"] != given_id
        assert Guarded("event_id", GuardAction.HASH) in guarded
        # what a wrong flag would let through: the id sent as it came
        skipped, _ = guard_built_event(accepted.event, DROP, derived_id=True)
        assert skipped["event_id"] == given_id


def test_a_built_event_that_needs_no_change_is_returned_itself() -> None:
    event = _event()
    sent, guarded = guard_built_event(event, DROP)
    assert sent is event and guarded == ()
    changed, guarded = guard_built_event(_event(email=EMAIL), DROP)
    assert "email" not in changed["custom_data"] and guarded
    assert guard_built_event(event, PiiPolicy(GuardMode.OFF)) == (event, ())
