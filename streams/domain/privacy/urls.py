"""URLs without personal data: scheme, host, path and non-personal parameters are kept.

What is removed (drop mode) or hashed (hash mode), each reported with a field suffix:

* `@`: user information before the host (`https://jane@shop.example`): always dropped;
* `/`: a path segment holding an e-mail address or phone number;
* `?<param>`: a query parameter whose name is personal (`email`, `phone`, `first_name`, ... see
  `keys`) or whose value holds an e-mail address or phone number; tracking parameters
  (`fbclid`, `gclid`, `utm_*`, ...) and every other parameter are kept as they are;
* `#<param>`: the same for `key=value` pairs in the fragment (single-page apps put their
  query there, `#/checkout?email=...`); `#` alone: a fragment of free text with personal data.

Untouched parameters keep their exact encoding; a URL with nothing personal is returned as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import (
    SplitResult,
    quote,
    quote_plus,
    unquote,
    unquote_plus,
    urlsplit,
    urlunsplit,
)

__all__ = ["UrlEdit", "guard_url", "looks_like_url", "plainly_clean"]

UrlEdit = tuple[str, str]
"""(field suffix such as `?email`, action: "drop" or "hash")."""

Rewrite = Callable[[str, str | None], tuple[str | None, str] | None]
"""(text, key or None) -> None when not personal, else (replacement or None to drop, action)."""

_SCHEMES: Final = ("http://", "https://")
CLICK_IDS: Final = frozenset(
    {"fbclid", "gclid", "gbraid", "wbraid", "dclid", "msclkid", "ttclid", "twclid", "li_fat_id"}
)
"""Click-id parameters: opaque ids an ad platform generated; their values are not scanned."""
_CHEAP_CHARS: Final = ("?", "#", "@", "%40")


def looks_like_url(text: str) -> bool:
    """True for an absolute http(s) URL."""
    return text[:8].lower().startswith(_SCHEMES)


def plainly_clean(
    url: str, has_pii: Callable[[str], bool], personal: Callable[[str], bool]
) -> bool:
    """True when `url` certainly needs no change (the common case, without parsing it): no
    user information or encoded `@`, no personal data in the part before the query, and no
    parameter with a personal name or value. False means: guard it with `guard_url`."""
    if "@" in url or "%40" in url:
        return False
    base, _, fragment = url.partition("#")
    base, _, query = base.partition("?")
    if "=" in fragment or has_pii(base) or (fragment and has_pii(fragment)):
        return False  # fragment parameters (`#/checkout?first_name=...`): parse them
    for piece in query.split("&") if query else ():
        name, _, value = piece.partition("=")
        if name in CLICK_IDS:
            continue  # an ad platform's opaque id
        if "%" in name or "+" in name or personal(name) or has_pii(value):
            return False
    return True


def guard_url(
    url: str, rewrite: Rewrite, has_pii: Callable[[str], bool], safe: Callable[[str], str]
) -> tuple[str, list[UrlEdit]] | None:
    """The URL without personal data and what was changed, or None when `url` is no URL.

    `rewrite(text, key)` decides one value (key = the parameter name, None for path and
    fragment text); `has_pii` says whether text holds an e-mail or phone number; `safe(key)`
    gives a parameter name fit for a metric label.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    if not any(c in url for c in _CHEAP_CHARS) and not has_pii(url):
        return url, []
    edits: list[UrlEdit] = []
    netloc = _netloc(parts, edits)
    path = _path(parts.path, rewrite, edits)
    query = _params(parts.query, "?", rewrite, safe, edits)
    fragment = _fragment(parts.fragment, rewrite, safe, edits)
    if not edits:
        return url, []
    return urlunsplit((parts.scheme, netloc, path, query, fragment)), edits


def _netloc(parts: SplitResult, edits: list[UrlEdit]) -> str:
    if "@" not in parts.netloc:
        return parts.netloc
    edits.append(("@", "drop"))
    return parts.netloc.rpartition("@")[2]


def _path(path: str, rewrite: Rewrite, edits: list[UrlEdit]) -> str:
    out = []
    for segment in path.split("/"):
        decision = rewrite(unquote(segment), None) if segment else None
        if decision is None:
            out.append(segment)
            continue
        replacement, action = decision
        edits.append(("/", action))
        if replacement is not None:
            out.append(quote(replacement, safe=""))
    return "/".join(out)


def _params(
    query: str, mark: str, rewrite: Rewrite, safe: Callable[[str], str], edits: list[UrlEdit]
) -> str:
    if not query:
        return query
    kept = []
    for piece in query.split("&"):
        raw_key, eq, raw_value = piece.partition("=")
        key = unquote_plus(raw_key)
        decision = rewrite(unquote_plus(raw_value), key) if piece else None
        if decision is None and rewrite(key, None) is not None:
            decision = (None, "drop")  # the parameter's name itself is personal data
        if decision is None:
            kept.append(piece)
            continue
        replacement, action = decision
        edits.append((mark + safe(key), action))
        if replacement is not None:
            kept.append(f"{raw_key}{eq or '='}{quote_plus(replacement, safe='')}")
    return "&".join(kept)


def _fragment(
    fragment: str, rewrite: Rewrite, safe: Callable[[str], str], edits: list[UrlEdit]
) -> str:
    if not fragment:
        return fragment
    if "=" in fragment:
        head, sep, tail = fragment.rpartition("?")
        if not sep:
            head, tail = "", fragment
        return head + sep + _params(tail, "#", rewrite, safe, edits)
    decision = rewrite(unquote(fragment), None)
    if decision is None:
        return fragment
    replacement, action = decision
    edits.append(("#", action))
    return quote(replacement, safe="") if replacement else ""
