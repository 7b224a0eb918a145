"""Keys that name personal data: removed (or hashed) whatever their value.

A key is compared by its words: `customerEmail`, `customer-email` and `CUSTOMER_EMAIL` are all
(customer, email). A key is personal when its words END with one of the entries below, so
`customer_email`, `billing_phone` and `shipping_address` are personal while `email_opt_in`,
`phone_verified` and `content_name` are not. A few entries are matched only as the whole key
(`name`, `address`, `mail`): `name` alone is a person's name in most custom properties, while
`product_name` or `content_name` are not personal.

Not in the default list on purpose (each is a value shared by many people, or a pseudonymous id
the advertiser chooses to send): city, state, country, zip and postal codes, gender, age,
user/customer/account ids. `pii_deny_keys` adds entries (matched like the defaults, on the
key's last words); `pii_allow_keys` exempts whole keys (compared word for word), e.g. `name`
when it holds product names, or `store_phone`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from streams.domain.memo import Memo

__all__ = [
    "DEFAULT_PERSONAL_KEYS",
    "KeyKind",
    "KeyRules",
    "words",
]


class KeyKind(StrEnum):
    """What a personal key holds: decides the normalization of its value in hash mode."""

    EMAIL = "em"
    PHONE = "ph"
    FIRST_NAME = "fn"
    LAST_NAME = "ln"
    BIRTH_DATE = "db"
    OTHER = "other"  # trimmed and lowercased, then hashed
    NONE = "none"  # not personal (internal marker)


_E = KeyKind.EMAIL
_P = KeyKind.PHONE
_FN = KeyKind.FIRST_NAME
_LN = KeyKind.LAST_NAME
_DB = KeyKind.BIRTH_DATE
_O = KeyKind.OTHER

DEFAULT_PERSONAL_KEYS: Final[dict[str, KeyKind]] = {
    # e-mail
    "email": _E,
    "emails": _E,
    "e_mail": _E,
    "email_address": _E,
    # phone
    "phone": _P,
    "phones": _P,
    "phone_number": _P,
    "phonenumber": _P,
    "telephone": _P,
    "tel": _P,
    "mobile": _P,
    "mobile_number": _P,
    "mobile_phone": _P,
    "cell": _P,
    "cellphone": _P,
    "cell_phone": _P,
    "fax": _P,
    "whatsapp_number": _P,
    # names
    "first_name": _FN,
    "firstname": _FN,
    "given_name": _FN,
    "middle_name": _FN,
    "last_name": _LN,
    "lastname": _LN,
    "family_name": _LN,
    "surname": _LN,
    "maiden_name": _LN,
    "full_name": _O,
    "fullname": _O,
    "customer_name": _O,
    "recipient_name": _O,
    "contact_name": _O,
    "billing_name": _O,
    "shipping_name": _O,
    "buyer_name": _O,
    "person_name": _O,
    "user_name": _O,
    "username": _O,
    "cardholder_name": _O,
    "recipient": _O,
    "addressee": _O,
    "contact_person": _O,
    # postal address
    "street": _O,
    "street_address": _O,
    "billing_address": _O,
    "shipping_address": _O,
    "home_address": _O,
    "postal_address": _O,
    "mailing_address": _O,
    "delivery_address": _O,
    "address_line": _O,
    "address_line1": _O,
    "address_line2": _O,
    "address1": _O,
    "address2": _O,
    # birth date
    "birthday": _DB,
    "birthdate": _DB,
    "birth_date": _DB,
    "date_of_birth": _DB,
    "dob": _DB,
    # network and national identifiers
    "ip": _O,
    "ip_address": _O,
    "ssn": _O,
    "social_security_number": _O,
    "passport_number": _O,
    "national_id": _O,
    "tax_id": _O,
    "iban": _O,
    "card_number": _O,
    "credit_card": _O,
}
"""Default entries (snake_case words) -> the kind of value they hold."""

_WHOLE_KEY_ONLY: Final[dict[str, KeyKind]] = {"name": _O, "address": _O, "mail": _E}
"""Entries matched only as the whole key (`name`, not `product_name`)."""

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS: Final = re.compile(r"[^0-9A-Za-z]+")
_MAX_KEY_CHARS: Final = 80
_MAX_REMEMBERED: Final = 4096
_NOT_PERSONAL: Final = KeyKind.NONE  # remembered "not personal" (a memo holds no None)


def words(key: str) -> tuple[str, ...]:
    """The lowercase words of a key: split at camelCase and at anything but ASCII alnum."""
    spaced = _CAMEL.sub("_", key[:_MAX_KEY_CHARS])
    return tuple(w for w in _SEPARATORS.split(spaced.lower()) if w)


def _entries(names: Iterable[str]) -> dict[tuple[str, ...], KeyKind]:
    return {w: _O for w in map(words, names) if w}


@dataclass(frozen=True, slots=True)
class _Rules:
    suffixes: dict[tuple[str, ...], KeyKind]
    whole: dict[tuple[str, ...], KeyKind]
    allowed: frozenset[tuple[str, ...]]
    longest: int


class KeyRules:
    """Decides which keys name personal data (the defaults, plus deny, minus allow)."""

    __slots__ = ("_memo", "_rules")

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        suffixes = {words(k): kind for k, kind in DEFAULT_PERSONAL_KEYS.items()}
        suffixes.update(_entries(deny))
        self._rules = _Rules(
            suffixes=suffixes,
            whole={words(k): kind for k, kind in _WHOLE_KEY_ONLY.items()},
            allowed=frozenset(w for w in map(words, allow) if w),
            longest=max(map(len, suffixes)),
        )
        self._memo: Memo[str, KeyKind | None] = Memo(_MAX_REMEMBERED)

    def kind(self, key: str) -> KeyKind | None:
        """The kind of personal data `key` names, or None when it names none."""
        found = self._memo.recall(key)
        if found is None:
            found = self._memo.store(key, self._decide(words(key)) or _NOT_PERSONAL)
        return None if found is _NOT_PERSONAL else found

    def allowed(self, key: str) -> bool:
        """True when the operator exempted this key (compared word for word)."""
        return bool(self._rules.allowed) and words(key) in self._rules.allowed

    def _decide(self, key_words: tuple[str, ...]) -> KeyKind | None:
        r = self._rules
        if not key_words or key_words in r.allowed:
            return None
        whole = r.whole.get(key_words)
        if whole is not None:
            return whole
        for size in range(min(len(key_words), r.longest), 0, -1):
            kind = r.suffixes.get(key_words[-size:])
            if kind is not None:
                return kind
        return None
