"""Which keys name personal data."""

from __future__ import annotations

import pytest

from streams.domain.privacy.keys import KeyKind, KeyRules, words


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("customerEmail", ("customer", "email")),
        ("CUSTOMER_EMAIL", ("customer", "email")),
        ("e-mail", ("e", "mail")),
        ("IPAddress", ("ip", "address")),
        ("addressLine1", ("address", "line1")),
        ("", ()),
    ],
)
def test_words_split_camel_case_and_separators(key: str, expected: tuple[str, ...]) -> None:
    assert words(key) == expected


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("email", KeyKind.EMAIL),
        ("customer_email", KeyKind.EMAIL),
        ("customerEmail", KeyKind.EMAIL),
        ("E-Mail", KeyKind.EMAIL),
        ("shipping_phone", KeyKind.PHONE),
        ("mobileNumber", KeyKind.PHONE),
        ("first_name", KeyKind.FIRST_NAME),
        ("lastName", KeyKind.LAST_NAME),
        ("recipient_name", KeyKind.OTHER),
        ("name", KeyKind.OTHER),
        ("address", KeyKind.OTHER),
        ("billing_address", KeyKind.OTHER),
        ("date_of_birth", KeyKind.BIRTH_DATE),
        ("dob", KeyKind.BIRTH_DATE),
        ("client_ip", KeyKind.OTHER),
    ],
)
def test_personal_keys(key: str, kind: KeyKind) -> None:
    assert KeyRules().kind(key) is kind


@pytest.mark.parametrize(
    "key",
    [
        "content_name",
        "product_name",
        "event_name",
        "email_opt_in",
        "phone_verified",
        "order_id",
        "zip",
        "city",
        "country",
        "user_id",
        "value",
        "currency",
        "names_count",
    ],
)
def test_ordinary_keys_are_not_personal(key: str) -> None:
    assert KeyRules().kind(key) is None


def test_deny_adds_entries_matched_on_the_last_words() -> None:
    rules = KeyRules(deny=["vat_id", "loyaltyCard"])
    assert rules.kind("customer_vat_id") is KeyKind.OTHER
    assert rules.kind("loyalty_card") is KeyKind.OTHER
    assert rules.kind("vat_id_checked") is None


def test_allow_exempts_whole_keys_only() -> None:
    rules = KeyRules(allow=["name", "store_phone"])
    assert rules.kind("name") is None
    assert rules.allowed("name")
    assert rules.allowed("storePhone")
    assert rules.kind("store_phone") is None
    assert rules.kind("customer_phone") is KeyKind.PHONE
    assert not rules.allowed("customer_name")


def test_decisions_are_remembered_without_changing_them() -> None:
    rules = KeyRules()
    for _ in range(3):
        assert rules.kind("customer_email") is KeyKind.EMAIL
        assert rules.kind("sku") is None
