"""Graph API errors as the sandbox answers them (Meta's Conversions API docs: Handling Errors),
and their catalogue.

Bodies keep Graph's sparseness: `message`, `type`, `code`, `is_transient` and `fbtrace_id` are
always present; `error_subcode`, `error_user_title` and `error_user_msg` only where Meta sends
them (CAPI validation errors), so clients are exercised against missing fields too.

CAPI validation errors (100/28040xx) never name the offending event, as at Meta. The sandbox
adds the event path in a header that only it sends, `X-Sandbox-Blame`, for people debugging by
hand; clients must not depend on it.

Subcodes: 33, 2804001, 2804003, 2804009, 2804016, 2804019, 2804050 as Meta sends them. 2804004
for an `event_time` in the future is the sandbox's own choice: Meta does not document that case.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = [
    "SUBCODE_BAD_FBC",
    "SUBCODE_FUTURE_TIME",
    "SUBCODE_INSUFFICIENT_MATCHING",
    "SUBCODE_NOT_HASHED",
    "SUBCODE_PURCHASE_VALUE",
    "SUBCODE_REQUIRED",
    "SUBCODE_TOO_OLD",
    "SUBCODE_UNKNOWN_OBJECT",
    "GraphError",
    "capi_error",
    "invalid_param",
    "invalid_token",
    "session_invalidated",
    "unknown_object",
    "unknown_path",
]

SUBCODE_UNKNOWN_OBJECT = 33
SUBCODE_BAD_FBC = 2804001
SUBCODE_TOO_OLD = 2804003
SUBCODE_FUTURE_TIME = 2804004
SUBCODE_PURCHASE_VALUE = 2804009
SUBCODE_NOT_HASHED = 2804016
SUBCODE_REQUIRED = 2804019
SUBCODE_INSUFFICIENT_MATCHING = 2804050

_OAUTH = "OAuthException"
_METHOD = "GraphMethodException"


@dataclass(frozen=True, slots=True)
class GraphError:
    """One Graph error answer: HTTP status plus the fields of the `error` object."""

    status: int
    code: int
    message: str
    type: str = _OAUTH
    subcode: int | None = None
    is_transient: bool = False
    user_title: str | None = None
    user_msg: str | None = None
    blame: str | None = None

    @property
    def key(self) -> str:
        """`code` or `code/subcode`, the form used in the sandbox's statistics."""
        return str(self.code) if self.subcode is None else f"{self.code}/{self.subcode}"

    def body(self, fbtrace_id: str) -> bytes:
        """The JSON body Meta would send."""
        err: dict[str, object] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        err["is_transient"] = self.is_transient
        if self.user_title is not None:
            err["error_user_title"] = self.user_title
        if self.user_msg is not None:
            err["error_user_msg"] = self.user_msg
        err["fbtrace_id"] = fbtrace_id
        return orjson.dumps({"error": err})


def invalid_param(detail: str, blame: str | None = None) -> GraphError:
    """Plain Graph code 100: a parameter of the wrong type, shape or value."""
    return GraphError(400, 100, f"(#100) {detail}", blame=blame)


_CAPI_TEXT: dict[int, tuple[str, str]] = {
    SUBCODE_BAD_FBC: (
        "Invalid fbc Parameter",
        "The fbc parameter is incorrectly formatted. It must look like "
        "fb.{subdomain_index}.{creation_time_ms}.{fbclid}.",
    ),
    SUBCODE_TOO_OLD: (
        "Event Timestamp Too Old",
        "The timestamp for this event is too far in the past. Events need to be sent from your "
        "server within 7 days of when they occurred (62 days for physical_store events).",
    ),
    SUBCODE_FUTURE_TIME: (
        "Event Timestamp In The Future",
        "The timestamp for this event is in the future. Send the Unix time in seconds at which "
        "the event happened.",
    ),
    SUBCODE_PURCHASE_VALUE: (
        "Missing Value for Purchase Event",
        "Purchase events must include custom_data.value as a number and custom_data.currency "
        "as a three-letter ISO 4217 code.",
    ),
    SUBCODE_NOT_HASHED: (
        "User Parameter Not Hashed",
        "A customer information parameter that must be hashed is not a lowercase SHA-256 hex "
        "digest. Normalize and hash it with SHA-256 before sending.",
    ),
    SUBCODE_REQUIRED: (
        "Required Parameter Missing",
        "A parameter required for this event's action_source is missing.",
    ),
    SUBCODE_INSUFFICIENT_MATCHING: (
        "Insufficient Customer Information Parameters",
        "The customer information parameters of this event are not enough to match it. Add "
        "parameters such as em, ph, external_id, fbp or client_ip_address.",
    ),
}


def capi_error(subcode: int, blame: str, detail: str | None = None) -> GraphError:
    """Code 100 with a CAPI validation subcode; the body does not name the event."""
    title, msg = _CAPI_TEXT[subcode]
    if detail is not None:
        msg = f"{msg} ({detail})"
    return GraphError(
        400, 100, "Invalid parameter", subcode=subcode, user_title=title, user_msg=msg, blame=blame
    )


def unknown_object(object_id: str) -> GraphError:
    """100/33: the dataset does not exist or the token may not use it."""
    return GraphError(
        400,
        100,
        f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        type=_METHOD,
        subcode=SUBCODE_UNKNOWN_OBJECT,
    )


def invalid_token(reason: str) -> GraphError:
    """190: no token, or a token the sandbox does not know."""
    return GraphError(400, 190, f"Invalid OAuth access token - {reason}")


def session_invalidated() -> GraphError:
    """190/460: the dataset's token was switched to invalid through the admin endpoint."""
    return GraphError(
        400,
        190,
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
        subcode=460,
    )


def unknown_path(path: str) -> GraphError:
    """2500: a path that is not a Graph endpoint (e.g. a malformed version)."""
    return GraphError(400, 2500, f"Unknown path components: {path[:100]}")
