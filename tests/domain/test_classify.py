"""Table-driven tests for streams.domain.classify (Graph error codes)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.classify import (
    REQUEST_INVALID,
    RULES,
    GraphError,
    Outcome,
    classify,
    parse_graph_error,
    throttle_wait_s,
)

D, T, H, P, X, C = (
    Outcome.DELIVERED,
    Outcome.TRANSIENT,
    Outcome.THROTTLED,
    Outcome.PAYLOAD,
    Outcome.REJECTED,
    Outcome.CONFIG,
)


def gerr(
    code: object,
    subcode: object = None,
    *,
    is_transient: object = None,
    title: str | None = None,
) -> bytes:
    err: dict[str, object] = {
        "message": f"(#{code}) message",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    if is_transient is not None:
        err["is_transient"] = is_transient
    if title is not None:
        err["error_user_title"] = title
    return json.dumps({"error": err}).encode()


def buc(minutes: float) -> dict[str, str]:
    usage = {
        "1234567890": [
            {
                "type": "ads_management",
                "call_count": 100,
                "total_cputime": 30,
                "total_time": 40,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return {"X-Business-Use-Case-Usage": json.dumps(usage)}


def etra(raw: str) -> dict[str, str]:
    """A usage header whose estimated_time_to_regain_access is the raw JSON ``raw``."""
    return {
        "X-Business-Use-Case-Usage": '{"1": [{"estimated_time_to_regain_access": ' + raw + "}]}"
    }


OK = b'{"events_received": 3, "messages": [], "fbtrace_id": "Tr4ce"}'
NO: dict[str, str] = {}

# (id, status, body, headers, outcome, reason, wait_s)
# fmt: off
TABLE: list[tuple[str, int | None, bytes | None, Mapping[str, str], Outcome, str, float | None]] = [
    ("success", 200, OK, NO, D, "delivered", None),
    ("success-usage-headers-ignored", 200, OK, buc(5), D, "delivered", None),
    ("200-empty-body", 200, b"", NO, T, "invalid_success_body", None),
    ("200-html", 200, b"<html>proxy</html>", NO, T, "invalid_success_body", None),
    ("200-no-events_received", 200, b'{"messages": []}', NO, T, "invalid_success_body", None),
    ("network-error", None, None, NO, T, "network", None),
    ("500-no-body", 500, None, NO, T, "http_5xx", None),
    ("503-html", 503, b"<html>down</html>", NO, T, "http_5xx", None),
    ("503-retry-after", 503, b"", {"Retry-After": "7"}, T, "http_5xx", 7.0),
    ("501", 501, b"", NO, C, "http_501", None),
    ("502-graph-code-2", 502, gerr(2), NO, T, "graph_transient", None),
    ("code-1", 500, gerr(1), NO, T, "graph_transient", None),
    ("code-2", 400, gerr(2), NO, T, "graph_transient", None),
    ("code-341", 400, gerr(341), NO, T, "app_limit", None),
    ("code-21009", 400, gerr(21009), NO, T, "dataset_not_ready", None),
    ("code-4-no-estimate", 400, gerr(4), {"X-App-Usage": '{"call_count":100}'}, H,
     "app_rate_limit", None),
    ("code-4-buc-5min", 400, gerr(4), buc(5), H, "app_rate_limit", 300.0),
    ("code-4-transient-stays-throttled", 400, gerr(4, is_transient=True), NO, H,
     "app_rate_limit", None),
    ("code-17", 400, gerr(17), NO, H, "user_rate_limit", None),
    ("code-17-2446079", 400, gerr(17, 2446079), buc(1), H, "user_rate_limit", 60.0),
    ("code-32", 400, gerr(32), NO, H, "pages_rate_limit", None),
    ("code-613-1996", 400, gerr(613, 1996), NO, H, "custom_rate_limit", None),
    ("code-80000", 400, gerr(80000), NO, H, "business_rate_limit", None),
    ("code-80004-buc", 400, gerr(80004), buc(2), H, "business_rate_limit", 120.0),
    ("code-80014", 400, gerr(80014), NO, H, "business_rate_limit", None),
    ("code-80015-unknown", 400, gerr(80015), NO, T, "graph_unknown", None),
    ("code-368", 400, gerr(368), NO, H, "temporarily_blocked", None),
    ("429-bare", 429, b"", NO, H, "http_429", None),
    ("429-retry-after", 429, b"", {"retry-after": "3"}, H, "http_429", 3.0),
    ("100-2804003-stale", 400, gerr(100, 2804003, is_transient=False), NO, P,
     "payload_invalid", None),
    ("100-2804016-not-hashed", 400, gerr(100, 2804016), NO, P, "payload_invalid", None),
    ("100-2804050", 400, gerr(100, 2804050), NO, P, "payload_invalid", None),
    ("100-2804000-low-edge", 400, gerr(100, 2804000), NO, P, "payload_invalid", None),
    ("100-2804099-high-edge", 400, gerr(100, 2804099), NO, P, "payload_invalid", None),
    ("100-2804100-outside", 400, gerr(100, 2804100), NO, X, "invalid_parameter", None),
    ("100-2804003-is-transient", 400, gerr(100, 2804003, is_transient=True), NO, T,
     "graph_transient", None),
    ("100-no-subcode", 400, gerr(100), NO, X, "invalid_parameter", None),
    ("100-other-subcode", 400, gerr(100, 1487390), NO, X, "invalid_parameter", None),
    ("100-33-dataset", 400, gerr(100, 33), NO, C, "dataset_unavailable", None),
    ("code-190", 400, gerr(190), NO, C, "token_invalid", None),
    ("code-190-463-expired", 400, gerr(190, 463), NO, C, "token_invalid", None),
    ("code-190-transient-stays-config", 400, gerr(190, is_transient=True), NO, C,
     "token_invalid", None),
    ("code-190-as-string", 400, gerr("190"), NO, C, "token_invalid", None),
    ("code-102", 400, gerr(102), NO, C, "token_invalid", None),
    ("code-3", 400, gerr(3), NO, C, "capability_missing", None),
    ("code-10", 403, gerr(10), NO, C, "permission_denied", None),
    ("code-200", 403, gerr(200), NO, C, "permission_denied", None),
    ("code-299", 403, gerr(299), NO, C, "permission_denied", None),
    ("code-300-unknown", 400, gerr(300), NO, T, "graph_unknown", None),
    ("unknown-code", 400, gerr(12345, is_transient=False), NO, T, "graph_unknown", None),
    ("error-without-code-transient", 400, b'{"error": {"is_transient": true}}', NO, T,
     "graph_transient", None),
    ("error-without-code-400", 400, b'{"error": {"message": "x"}}', NO, X, "http_4xx", None),
    ("200-with-graph-error", 200, gerr(190), NO, C, "token_invalid", None),
    ("408", 408, b"", NO, T, "http_408", None),
    ("413", 413, b"", NO, P, "http_413", None),
    ("401-bare", 401, b"", NO, C, "http_401", None),
    ("403-bare", 403, b"", NO, C, "http_403", None),
    ("404-html", 404, b"<html>not found</html>", NO, C, "http_404", None),
    ("302-redirect", 302, b"", {"Location": "https://example.invalid/"}, C, "http_302", None),
    ("400-html", 400, b"<html>bad</html>", NO, X, "http_4xx", None),
    ("400-json-list", 400, b"[1, 2]", NO, X, "http_4xx", None),
    ("400-invalid-utf8", 400, b"\xff\xfe{", NO, X, "http_4xx", None),
]
# fmt: on


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome", "reason", "wait_s"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_classification_table(
    status: int | None,
    body: bytes | None,
    headers: Mapping[str, str],
    outcome: Outcome,
    reason: str,
    wait_s: float | None,
) -> None:
    got = classify(status, body, headers)
    assert (got.outcome, got.reason, got.wait_s) == (outcome, reason, wait_s)
    assert got.status == status


def test_success_fields_are_parsed() -> None:
    got = classify(200, b'{"events_received": 2, "messages": ["m1", 7], "fbtrace_id": "T"}', {})
    assert got.events_received == 2
    assert got.messages == ("m1",)
    assert got.fbtrace_id == "T"
    assert got.error is None


def test_body_may_be_a_parsed_mapping() -> None:
    body = {"error": {"code": 100, "error_subcode": 2804003, "fbtrace_id": "F"}}
    got = classify(400, body, {})
    assert got.outcome is Outcome.PAYLOAD
    assert got.fbtrace_id == "F"


def test_graph_error_fields_and_redacted_repr() -> None:
    body = gerr(100, 2804016, is_transient=False, title="User Parameter Not Hashed")
    got = classify(400, body, {})
    assert got.error == GraphError(
        code=100,
        subcode=2804016,
        type="OAuthException",
        is_transient=False,
        fbtrace_id="AbCdEf123",
        title="User Parameter Not Hashed",
        message="(#100) message",
    )
    text = repr(got)
    assert "Not Hashed" not in text
    assert "message" not in text.replace("messages", "")


def test_parse_graph_error_ignores_non_mapping_error() -> None:
    assert parse_graph_error({"error": "nope"}) is None
    assert parse_graph_error({"events_received": 1}) is None
    err = parse_graph_error({"error": {"code": True, "error_subcode": "x", "is_transient": 1}})
    assert err == GraphError(code=None, subcode=None, is_transient=None)


def test_rules_are_well_formed_and_first_match_wins() -> None:
    for rule in RULES:
        assert rule.code_lo <= rule.code_hi
        assert (rule.subcode_lo is None) == (rule.subcode_hi is None)
    # a (code, subcode) row must precede the code-only row for the same code
    for i, rule in enumerate(RULES):
        if rule.subcode_lo is not None:
            later_generic = [
                j
                for j, other in enumerate(RULES)
                if other.subcode_lo is None and other.code_lo <= rule.code_lo <= other.code_hi
            ]
            assert all(j > i for j in later_generic)


# -- throttle wait parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        (buc(0), None),
        (buc(3), 180.0),
        (buc(0.5), 30.0),
        ({"x-business-use-case-usage": buc(4)["X-Business-Use-Case-Usage"]}, 240.0),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        "1": [{"type": "ads_management", "estimated_time_to_regain_access": 2}],
                        "2": [
                            {"type": "custom_audience", "estimated_time_to_regain_access": 0},
                            {"type": "ads_insights", "estimated_time_to_regain_access": 9},
                        ],
                    }
                )
            },
            540.0,
        ),
        ({"X-Ad-Account-Usage": '{"acc_id_util_pct": 99, "reset_time_duration": 45}'}, 45.0),
        ({"X-Ad-Account-Usage": '{"estimated_time_to_regain_access": 1}'}, 60.0),
        ({"X-App-Usage": '{"call_count": 100, "total_time": 20, "total_cputime": 5}'}, None),
        ({"X-App-Usage": '{"estimated_time_to_regain_access": 1}', "Retry-After": "90"}, 90.0),
        ({"Retry-After": "120", **buc(1)}, 120.0),
        ({"Retry-After": "12.5"}, 12.5),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "-5"}, None),
        ({"X-Business-Use-Case-Usage": "{not json"}, None),
        (etra("true"), None),
        (etra('"5"'), None),
        (etra("NaN"), None),
        (etra("-3"), None),
    ],
)
def test_throttle_wait_s(headers: Mapping[str, str], expected: float | None) -> None:
    assert throttle_wait_s(headers) == expected


def test_throttle_wait_with_case_insensitive_multidict() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    headers = CIMultiDictProxy(CIMultiDict(buc(7)))
    assert throttle_wait_s(headers) == 420.0
    assert classify(400, gerr(80004), headers).wait_s == 420.0


@given(
    status=st.one_of(st.none(), st.integers(min_value=100, max_value=599)),
    body=st.one_of(st.none(), st.binary(max_size=200)),
    retry_after=st.text(max_size=12),
)
def test_classify_is_total(status: int | None, body: bytes | None, retry_after: str) -> None:
    got = classify(status, body, {"Retry-After": retry_after})
    assert isinstance(got.outcome, Outcome)
    assert got.wait_s is None or got.wait_s > 0


@given(
    code=st.integers(min_value=-(2**40), max_value=2**40),
    subcode=st.one_of(st.none(), st.integers(min_value=0, max_value=2**40)),
    transient=st.one_of(st.none(), st.booleans()),
    status=st.sampled_from([200, 400, 403, 500]),
)
def test_any_graph_error_is_never_delivered(
    code: int, subcode: int | None, transient: bool | None, status: int
) -> None:
    got = classify(status, gerr(code, subcode, is_transient=transient), {})
    assert got.outcome is not Outcome.DELIVERED
    assert got.error is not None and got.error.code == code


def test_a_request_that_could_not_be_built_is_a_configuration_error() -> None:
    """No reply because the HTTP client refused the request (a token with a control
    character): no retry can fix it, so the dataset is held (CONFIG), not retried."""
    assert classify(None, b"", {}, REQUEST_INVALID).outcome is Outcome.CONFIG
    assert classify(None, b"", {}, REQUEST_INVALID).reason == REQUEST_INVALID
    assert classify(None, b"", {}, "timeout").outcome is Outcome.TRANSIENT
    assert classify(None, b"", {}).outcome is Outcome.TRANSIENT
