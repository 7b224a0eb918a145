"""The public entry of the domain: one native input event -> Accepted(CAPI event) | Rejected.

Native input: a JSON object shaped like a CAPI server event whose `user_data` holds plain
customer information under CAPI keys or readable aliases (see `normalize.ALIASES`), plus an
optional `dataset_id` and `fbclid`. `event_time` may be Unix seconds, milliseconds or ISO-8601.

Steps: read the core fields (event_name, event_time, action_source, event_id), hash user_data
(`normalize`), add fbc from an fbclid and the dataset defaults (`enrich`), check every other
field (`validate`), then the cross-field rules. The first broken rule decides the reason; the
rest of the event is still built so that `Rejected.event` is complete. Unknown top-level keys
and `dataset_id` are dropped. `transform` never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from streams.domain.civil_time import SECONDS_PER_DAY, year_of_day
from streams.domain.enrich import (
    derive_event_id,
    fbc_from_fbclid,
    find_fbclid,
    ldu_inputs,
    user_data_input,
)
from streams.domain.event_time import MS_THRESHOLD, parse_event_time
from streams.domain.model import (
    ACTION_SOURCES,
    MAX_AGE_PHYSICAL_STORE_S,
    MAX_AGE_S,
    DatasetPolicy,
)
from streams.domain.normalize import Dropped, hash_user_data_report
from streams.domain.routing import is_dataset_id
from streams.domain.validate import (
    MAX_EVENT_NAME_CHARS,
    OPTIONAL_FIELDS,
    Accepted,
    Invalid,
    Rejected,
    RejectReason,
    action_source,
    check_app,
    check_customer_information,
    check_event_time,
    check_messaging,
    check_purchase,
    check_website,
    data_processing,
    event_id,
    event_name,
)

__all__ = [
    "Accepted",
    "DatasetPolicy",
    "RejectReason",
    "Rejected",
    "decode",
    "event_dataset_id",
    "transform",
]

_MAX_REMEMBERED_DAYS = 8


def decode(raw: bytes) -> dict[str, Any] | Rejected:
    """The JSON object in `raw`, or Rejected(INVALID_JSON / NOT_AN_OBJECT)."""
    try:
        obj = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return Rejected(RejectReason.INVALID_JSON, None, None, None, None, ())
    if not isinstance(obj, dict):
        return Rejected(RejectReason.NOT_AN_OBJECT, None, None, None, None, ())
    return obj


def event_dataset_id(obj: Mapping[str, Any]) -> str | None:
    """The event's own `dataset_id` (digits, given as a string or a positive int), else None."""
    if not isinstance(obj, Mapping):
        return None
    value = obj.get("dataset_id")
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        return text if value > 0 and is_dataset_id(text) else None
    if isinstance(value, str):
        value = value.strip()
        return value if is_dataset_id(value) else None
    return None


_YEARS: dict[int, int] = {}  # day number -> its UTC year; a few entries per run


def _year_of_day(day: int) -> int:
    year = _YEARS.get(day)
    if year is None:
        if len(_YEARS) >= _MAX_REMEMBERED_DAYS:
            _YEARS.clear()
        year = _YEARS[day] = year_of_day(day)
    return year


def transform(
    obj: Mapping[str, Any],
    policy: DatasetPolicy,
    *,
    now: float,
    source_key: bytes | None = None,
) -> Accepted | Rejected:
    """The CAPI event for `obj` under `policy`, or the first rule it breaks.

    `now` (Unix seconds) bounds event_time and gives the current year for date-of-birth
    checks. `source_key` (e.g. the Kafka record key) goes into a derived event_id, so the same
    record always gets the same id and Meta deduplicates replays.
    """
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return Rejected(RejectReason.NOT_AN_OBJECT, None, None, None, None, ())
    out: dict[str, Any] = {}
    name, seconds, source, problem = _core_fields(obj, policy, now, out)
    ident, id_problem = _event_id(obj.get("event_id"))
    problem = problem or id_problem
    if ident is not None:
        out["event_id"] = ident

    user_data, dropped, country_defaulted = _user_data(obj, policy, seconds, now)
    if user_data is None:
        problem = problem or Invalid(RejectReason.INVALID_FIELD, "user_data")
        user_data = {}
    out["user_data"] = user_data
    optional_problem = _optional_fields(obj, out)  # always: a rejected event stays complete
    problem = problem or optional_problem
    try:
        _data_processing(obj, policy, out, user_data)
        if problem is None:
            _cross_field_rules(out, user_data, name, source, country_defaulted)
    except Invalid as error:
        problem = problem or error

    derived = ident is None
    if derived:
        # Derived last, so a field error is reported before "no JSON form" is.
        ident = derive_event_id(obj, source_key)
        if ident is None:
            problem = problem or Invalid(RejectReason.INVALID_FIELD, None)
        else:
            out["event_id"] = ident

    if problem is not None:
        # A caught exception's traceback refers to this frame, and through it to the callers'
        # frames: kept in `problem`, it would make every rejection a reference cycle holding
        # the caller's whole window until the cycle collector runs.
        problem.__traceback__ = None
        return Rejected(problem.reason, problem.field, out, ident, name, dropped)
    assert name is not None and seconds is not None and ident is not None
    return Accepted(out, ident, name, seconds, dropped, derived)


def _core_fields(
    obj: Mapping[str, Any], policy: DatasetPolicy, now: float, out: dict[str, Any]
) -> tuple[str | None, int | None, str | None, Invalid | None]:
    """event_name, event_time and action_source into `out`: (name, seconds, source, the first
    problem). Each field is read by an inline check of its common, valid form; anything else
    goes to the field's checker, which decides (and raises for) every other form."""
    get = obj.get
    problem: Invalid | None = None
    raw_name = get("event_name")
    name: str | None = raw_name.strip() if type(raw_name) is str else None
    if name and len(name) <= MAX_EVENT_NAME_CHARS:
        out["event_name"] = name
    else:
        name = None
        try:
            name = out["event_name"] = event_name(raw_name)
        except Invalid as error:
            problem = error

    raw_time = get("event_time")
    if type(raw_time) is int and 0 <= raw_time <= MS_THRESHOLD:
        seconds: int | None = raw_time
    else:
        seconds = parse_event_time(raw_time)
    if seconds is None:
        missing = raw_time is None or raw_time == ""
        reason = RejectReason.MISSING_EVENT_TIME if missing else RejectReason.INVALID_EVENT_TIME
        problem = problem or Invalid(reason, "event_time")
    else:
        out["event_time"] = seconds

    source: str | None = get("action_source")
    if type(source) is str and source in ACTION_SOURCES:
        out["action_source"] = source
    else:
        source = None
        try:
            source = out["action_source"] = action_source(
                get("action_source"), policy.default_action_source
            )
        except Invalid as error:
            problem = problem or error

    if seconds is not None:
        max_age = MAX_AGE_PHYSICAL_STORE_S if source == "physical_store" else MAX_AGE_S
        if not now - max_age <= seconds <= now + policy.max_future_skew_s:
            try:
                check_event_time(seconds, source, now, policy.max_future_skew_s)
            except Invalid as error:
                problem = problem or error
    return name, seconds, source, problem


def _event_id(raw_id: Any) -> tuple[str | None, Invalid | None]:
    """The given event_id (None when absent or blank), or why it is refused."""
    if raw_id is None or type(raw_id) is str:
        return ((raw_id.strip() or None) if raw_id is not None else None), None
    try:
        return event_id(raw_id), None
    except Invalid as error:
        return None, error


def _optional_fields(obj: Mapping[str, Any], out: dict[str, Any]) -> Invalid | None:
    """Every other known field into `out`; the first problem."""
    problem: Invalid | None = None
    for key, raw in obj.items():
        check = OPTIONAL_FIELDS.get(key)
        if check is None or raw is None:
            continue
        try:
            value = check(raw, key)
        except Invalid as error:
            problem = problem or error
            continue
        if value is not None:
            out[key] = value
    return problem


def _data_processing(
    obj: Mapping[str, Any], policy: DatasetPolicy, out: dict[str, Any], user_data: Mapping[str, Any]
) -> None:
    """Limited Data Use options (the event's, else the dataset's); raises Invalid."""
    get = obj.get
    if (
        policy.ldu is None
        and get("data_processing_options") is None
        and get("data_processing_options_country") is None
        and get("data_processing_options_state") is None
    ):
        return
    options, country, state = data_processing(
        *ldu_inputs(obj, policy), "client_ip_address" in user_data
    )
    if options is not None:
        out["data_processing_options"] = options
    if country is not None:
        out["data_processing_options_country"] = country
    if state is not None:
        out["data_processing_options_state"] = state


def _user_data(
    obj: Mapping[str, Any], policy: DatasetPolicy, seconds: int | None, now: float
) -> tuple[dict[str, Any] | None, tuple[Dropped, ...], bool]:
    """(hashed user_data or None if it is not an object, dropped values, country defaulted)."""
    raw = obj.get("user_data")
    if raw is None:
        raw = {}
    elif type(raw) is not dict and not isinstance(raw, Mapping):
        return None, (), False
    if raw.get("country") and "fbclid" not in raw:  # `user_data_input` would change nothing
        prepared, country_defaulted = raw, False
    else:
        prepared, country_defaulted = user_data_input(raw, policy.default_country)
    hashed, dropped = hash_user_data_report(
        prepared,
        policy.default_country,
        policy.external_id_policy,
        current_year=_year_of_day(int(now) // SECONDS_PER_DAY),
    )
    if "fbc" not in hashed and seconds is not None:
        url = obj.get("event_source_url")
        if (
            obj.get("fbclid") is not None
            or raw.get("fbclid") is not None
            or (isinstance(url, str) and "fbclid=" in url)
        ):  # else `find_fbclid` would find nothing
            fbclid = find_fbclid(obj, raw)
            if fbclid is not None and (fbc := fbc_from_fbclid(fbclid, seconds)) is not None:
                hashed["fbc"] = fbc
    return hashed, dropped, country_defaulted


def _cross_field_rules(
    event: Mapping[str, Any],
    user_data: Mapping[str, Any],
    name: str | None,
    source: str | None,
    country_defaulted: bool,
) -> None:
    # The checks raise; each is called only when its cheap condition does not already hold.
    if source == "website":
        if "event_source_url" not in event or "client_user_agent" not in user_data:
            check_website(event, user_data)
    elif source == "app":
        app = event.get("app_data")
        if app is None or "advertiser_tracking_enabled" not in app or "extinfo" not in app:
            check_app(event)
    elif source == "business_messaging":
        check_messaging(event, user_data)
    if name == "Purchase":
        custom = event.get("custom_data")
        if not custom or "value" not in custom or "currency" not in custom:
            check_purchase(event)
    check_customer_information(user_data, country_defaulted)
