"""What a failure record keeps of the event: redacted (default), none, or raw."""

from __future__ import annotations

from typing import Any

from streams.domain.normalize import hash_user_data
from streams.domain.privacy.guard import GuardMode, PiiPolicy
from streams.domain.privacy.redact import KeepEvent, kept_event, kept_ids

EMAIL = "jane.doe@example.com"
EM_HASH = hash_user_data({"em": EMAIL}, current_year=2026)["em"][0]


def _hashed_event() -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": 1_795_770_000,
        "event_id": "order-1",
        "action_source": "website",
        "event_source_url": "https://shop.example.com/?email=jane.doe%40example.com&fbclid=x",
        "user_data": {
            "em": [EM_HASH],
            "client_ip_address": "203.0.113.9",
            "client_user_agent": "Mozilla/5.0",
            "fbp": "fb.1.1795770000.123",
        },
        "custom_data": {"value": 1, "customer_email": EMAIL, "note": f"for {EMAIL}"},
    }


def test_redacted_keeps_hashed_user_data_minus_the_ip_and_guards_the_rest() -> None:
    kept = kept_event(_hashed_event(), KeepEvent.REDACTED, PiiPolicy(), hashed=True)
    assert kept.event is not None
    assert kept.event["user_data"] == {
        "em": [EM_HASH],
        "client_user_agent": "Mozilla/5.0",
        "fbp": "fb.1.1795770000.123",
    }
    assert kept.event["custom_data"] == {"value": 1}
    assert kept.event["event_source_url"] == "https://shop.example.com/?fbclid=x"
    assert set(kept.redacted) == {
        "user_data.client_ip_address",
        "custom_data.customer_email",
        "custom_data.note",
        "event_source_url?email",
    }
    assert kept.user_data_keys is None
    assert EMAIL not in str(kept)


def test_redacted_uses_the_hash_mode_of_the_dataset() -> None:
    kept = kept_event(_hashed_event(), KeepEvent.REDACTED, PiiPolicy(GuardMode.HASH), hashed=True)
    assert kept.event is not None
    assert kept.event["custom_data"]["customer_email"] == EM_HASH


def test_redacted_guards_even_when_the_dataset_turned_the_guard_off() -> None:
    kept = kept_event(_hashed_event(), KeepEvent.REDACTED, PiiPolicy(GuardMode.OFF), hashed=True)
    assert kept.event is not None
    assert "customer_email" not in kept.event["custom_data"]


def test_redacted_lists_only_the_keys_of_user_data_that_was_never_normalized() -> None:
    raw = {
        "event_name": "Purchase",
        "dataset_id": "999",
        "first_name": "Jane",
        "user_data": {"email": EMAIL, "phone": "+1 650 555 1212", EMAIL: 1},
        "custom_data": {"value": 1, "email": EMAIL},
    }
    kept = kept_event(raw, KeepEvent.REDACTED, None, hashed=False)
    assert kept.event == {"event_name": "Purchase", "custom_data": {"value": 1}}
    assert kept.user_data_keys == ("*", "email", "phone")
    assert EMAIL not in str(kept)


def test_none_keeps_nothing_and_raw_keeps_everything() -> None:
    event = _hashed_event()
    assert kept_event(event, KeepEvent.NONE, PiiPolicy(), hashed=True).event is None
    raw = kept_event(event, KeepEvent.RAW, PiiPolicy(), hashed=True)
    assert raw.event == event
    assert raw.redacted == ()


def test_no_event_stays_no_event() -> None:
    assert kept_event(None, KeepEvent.REDACTED, PiiPolicy(), hashed=True).event is None


def test_the_records_own_ids_are_hashed_where_they_hold_personal_data() -> None:
    policy = PiiPolicy()
    assert kept_ids(EMAIL, "Purchase", KeepEvent.REDACTED, policy) == (EM_HASH, "Purchase")
    assert kept_ids("order-1", None, KeepEvent.REDACTED, None) == ("order-1", None)
    assert kept_ids(EMAIL, None, KeepEvent.RAW, policy) == (EMAIL, None)
    assert kept_ids(None, None, KeepEvent.NONE, policy) == (None, None)


def test_an_event_never_transformed_is_guarded_in_every_field() -> None:
    raw = {
        "event_name": "Lead",
        "event_time": "alice@example.com",
        "action_source": "call +1 415 555 2671",
        "data_processing_options": ["bob@example.com"],
        "opt_out": {"email": "x@y.zz"},
        "messaging_channel": "carol@example.com",
        "user_data": {"em": "dave@example.com"},
    }
    kept = kept_event(raw, KeepEvent.REDACTED, None, hashed=False)
    assert kept.event == {"event_name": "Lead"}
    assert kept.user_data_keys == ("em",)
    assert set(kept.redacted) == {
        "event_time",
        "action_source",
        "data_processing_options[]",
        "opt_out.email",
        "messaging_channel",
    }
