"""Checks for the user_data fields Meta takes unhashed (docs/normalization.md,
"Fields that are never hashed").

Every check takes the trimmed (NFC) value and returns the value to send, or None when it is
dropped. Case is kept everywhere (`fbc` is case-sensitive).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Final

from streams.domain.hashing import PB_APPENDIX

__all__ = ["IDENTIFIER_CHECKS", "INTEGER_IDS", "IdentifierCheck"]

IdentifierCheck = Callable[[str], str | None]

# fb.<subdomain index>.<13-digit ms creation time>.<fbclid or random>[.<Parameter Builder appendix>]
_COOKIE: Final = re.compile(
    r"fb\.[0-9]\.[0-9]{13}\.[\x21-\x2d\x2f-\x7e]+(?:\." + PB_APPENDIX + ")?"
)
# A dotted-quad IPv4 address already in canonical form (no leading zeros): the common case.
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4: Final = re.compile(_OCTET + r"(?:\." + _OCTET + r"){3}")
# An IP with a Parameter Builder appendix; the appendix starts with a letter so that it can never
# be read as the last part of an IPv4 address.
_IP_WITH_APPENDIX: Final = re.compile(r"(.+)\.(?=[A-Za-z])" + PB_APPENDIX)


def ip_address(text: str) -> str | None:
    """A valid IPv4/IPv6 address in its canonical (compressed) form.

    A Parameter Builder value `<ip>.<appendix>` with a valid IP is passed through unchanged.
    """
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    match = _IP_WITH_APPENDIX.fullmatch(text)
    if match is None:
        return None
    try:
        ipaddress.ip_address(match.group(1))
    except ValueError:
        return None
    return text


def cookie(text: str) -> str | None:
    """`fbc`/`fbp`: `fb.<digit>.<13-digit ms>.<value>` with an optional appendix; case kept."""
    return text if _COOKIE.fullmatch(text) else None


def opaque(text: str) -> str | None:
    """Any non-empty value, kept as given (user agent and the various platform IDs)."""
    return text or None


IDENTIFIER_CHECKS: Final[Mapping[str, IdentifierCheck]] = {
    "client_ip_address": ip_address,
    "client_user_agent": opaque,
    "fbc": cookie,
    "fbp": cookie,
    "subscription_id": opaque,
    "fb_login_id": opaque,
    "lead_id": opaque,
    "anon_id": opaque,
    "madid": opaque,
    "page_id": opaque,
    "page_scoped_user_id": opaque,
    "ctwa_clid": opaque,
    "ig_account_id": opaque,
    "ig_sid": opaque,
    "whatsapp_business_account_id": opaque,
}
"""CAPI key of every never-hashed field -> its check."""

INTEGER_IDS: Final[frozenset[str]] = frozenset({"fb_login_id", "lead_id"})
"""Never-hashed fields Meta types as integers: an int input is sent as an int."""
