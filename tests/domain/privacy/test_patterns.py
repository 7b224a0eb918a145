"""E-mail addresses and phone numbers in text: found where they are, never in ids or numbers."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.privacy.keys import KeyKind
from streams.domain.privacy.patterns import _PHONE, _PHONE_START, PiiFinder, find_pii, has_pii


@pytest.mark.parametrize(
    ("text", "country", "normalized"),
    [
        ("Jane.Doe@Example.com", None, "jane.doe@example.com"),
        ("write to jane%40example.com today", None, "jane@example.com"),
        ("josé@exämple.de", None, "josé@exämple.de"),
        ("call me at (650) 555-1212 please", "us", "16505551212"),
        ("650-555-1212", "us", "16505551212"),
        ("650.555.1212", "us", "16505551212"),
        ("650 5551212", "us", "16505551212"),
        ("+1 650 555 1212", None, "16505551212"),
        ("tel:+16505551212", None, "16505551212"),
        ("+33 6 12 34 56 78", None, "33612345678"),
        ("06 12 34 56 78", "fr", "33612345678"),
        ("020 7946 0958", "gb", "442079460958"),
        ("0049 30 1234567", None, "49301234567"),
    ],
)
def test_finds_and_normalizes(text: str, country: str | None, normalized: str) -> None:
    found = find_pii(text, country)
    assert [f.normalized for f in found] == [normalized]


def test_national_numbers_default_to_the_us_region_without_a_country() -> None:
    found = find_pii("(650) 555-1212", None)
    assert [f.kind for f in found] == [KeyKind.PHONE]
    assert found[0].normalized == "6505551212"  # what user_data.ph hashes with no country


@pytest.mark.parametrize(
    "text",
    [
        "ORD-2026-000123",
        "2026-000123",
        "SKU-1234567",
        "SKU1234567",
        "4155551212",
        "order 1234567890",
        "2026-11-27T09:15:00Z",
        "2026-11-27",
        "27.11.2026",
        "11/27/2026",
        "1234567.89",
        "1.234.567,89",
        "10 000 000",
        "550e8400-e29b-41d4-a716-446655440000",
        "a3f5b2c9d1e0f4a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1",
        "ISBN 978-3-16-148410-0",
        "v1.2.3456789",
        "1795770000.123",
        "fb.1.1795770000123.IwAR2xYz",
        "icon@2x.png",
        "@handle",
        "user@localhost",
        "192.168.100.200",
    ],
)
def test_ids_numbers_and_times_are_not_pii(text: str) -> None:
    for country in (None, "us", "fr", "de", "gb"):
        assert not has_pii(text, country), (text, country)


_ID_CHARS = string.ascii_uppercase + string.digits


@given(
    prefix=st.text(string.ascii_uppercase, min_size=1, max_size=5),
    parts=st.lists(st.text(string.digits, min_size=1, max_size=8), min_size=1, max_size=4),
    sep=st.sampled_from(["-", "_", ".", "/", ""]),
)
def test_prefixed_ids_are_never_phones(prefix: str, parts: list[str], sep: str) -> None:
    text = prefix + "-" + sep.join(parts)
    assert not has_pii(text, "us")


@given(
    st.integers(min_value=0, max_value=10**19) | st.floats(allow_nan=False, allow_infinity=False)
)
def test_numbers_written_out_are_never_pii(number: float) -> None:
    assert not has_pii(str(number), "us")
    assert not has_pii(f"{number:,}", "us")


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
def test_timestamps_are_never_pii(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    for text in (
        aware.isoformat(),
        aware.strftime("%Y-%m-%d %H:%M:%S"),
        aware.strftime("%Y-%m-%d"),
        aware.strftime("%d.%m.%Y"),
        aware.strftime("%m/%d/%Y"),
        str(int(aware.timestamp() * 1000)),
        (aware + timedelta(microseconds=1)).isoformat(),
    ):
        assert not has_pii(text, "us"), text


@given(st.uuids())
def test_uuids_are_never_pii(value: object) -> None:
    assert not has_pii(str(value), "us")


_REGIONS = sorted(r for r in ("US", "GB", "FR", "DE", "IT", "ES", "BR", "IN", "JP", "AU"))


@given(
    region=st.sampled_from(_REGIONS),
    style=st.sampled_from(["intl", "e164", "national"]),
    before=st.sampled_from(["", "call ", "tel: ", "Phone: ", "(mobile) "]),
    after=st.sampled_from(["", " thanks", ".", ", ok"]),
)
def test_real_phone_numbers_are_found_in_text(
    region: str, style: str, before: str, after: str
) -> None:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert number is not None
    fmt = {
        "intl": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        "e164": phonenumbers.PhoneNumberFormat.E164,
        "national": phonenumbers.PhoneNumberFormat.NATIONAL,
    }[style]
    written = phonenumbers.format_number(number, fmt)
    found = find_pii(before + written + after, region.lower())
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    assert [f.normalized for f in found] == [e164]


_LOCAL = st.text(string.ascii_lowercase + string.digits + "._+-", min_size=1, max_size=20).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum() and ".." not in s
)
_LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)


@given(
    local=_LOCAL,
    labels=st.lists(_LABEL, min_size=1, max_size=3),
    tld=st.sampled_from(["com", "de", "co", "io", "example", "museum"]),
    before=st.sampled_from(["", "mail ", "<", "contact: "]),
    after=st.sampled_from(["", ">", " today", "."]),
)
def test_email_addresses_are_found_in_text(
    local: str, labels: list[str], tld: str, before: str, after: str
) -> None:
    address = f"{local}@{'.'.join(labels)}.{tld}"
    found = find_pii(before + address.upper() + after, None)
    assert [(f.kind, f.normalized) for f in found] == [(KeyKind.EMAIL, address)]


@given(st.text(alphabet="0123456789 +-().,/_aZ@#é٣%", max_size=40))
def test_the_start_scan_never_rules_out_a_phone_shaped_run(text: str) -> None:
    # `_PHONE_START` only decides whether `_PHONE` is tried: it must see every possible start
    if _PHONE.search(text):
        assert _PHONE_START.search(text)


def test_find_within_checks_a_text_once_and_nothing_past_the_budget() -> None:
    finder = PiiFinder("us")
    text = "call (650) 555-1212 or (650) 555-1313, order 2026-000123"
    # three phone-shaped runs (the order number is one, and is not a phone): over budget
    assert finder.find_within(text, 2) == (3, None)
    assert text not in finder.seen  # nothing checked, nothing remembered
    runs, found = finder.find_within(text, 3)
    assert runs == 3 and found == PiiFinder("us").find(text)
    assert [f.normalized for f in found] == ["16505551212", "16505551313"]
    assert finder.find_within(text, 0) == (0, found)  # remembered: no check needed
    assert finder.find_within("no digits at all", 0) == (0, ())
