"""The Conversions API vocabulary: names, value sets and the per-dataset policy.

Everything here is a constant taken from Meta's Conversions API docs (page titles in comments),
plus `DatasetPolicy`, the per-dataset defaults the transform applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

__all__ = [
    "ACTION_SOURCES",
    "APP_DATA_BOOL_KEYS",
    "APP_DATA_KEYS",
    "APP_DATA_STR_KEYS",
    "ATTRIBUTION_DATA_KEYS",
    "ATTRIBUTION_METHODS",
    "ATTRIBUTION_MODELS",
    "ATTRIBUTION_SETTING_KEYS",
    "BUSINESS_MESSAGING_EVENT_NAMES",
    "CONTENT_KEYS",
    "CURRENCIES",
    "CUSTOMER_SEGMENTATIONS",
    "CUSTOM_DATA_STANDARD_KEYS",
    "DECLINE_REASONS",
    "DELIVERY_CATEGORIES",
    "EXTINFO_LENGTH",
    "EXTINFO_VERSIONS",
    "INPUT_ONLY_KEYS",
    "LDU",
    "LDU_COUNTRY_CODES",
    "LDU_STATE_CODES",
    "MAX_AGE_PHYSICAL_STORE_S",
    "MAX_AGE_S",
    "MESSAGING_CHANNELS",
    "ORIGINAL_EVENT_DATA_KEYS",
    "REFUSED_MATCH_KEY_SETS",
    "SERVER_EVENT_KEYS",
    "STANDARD_EVENT_NAMES",
    "USER_DATA_HASHED_KEYS",
    "USER_DATA_KEYS",
    "USER_DATA_PLAIN_KEYS",
    "ActionSource",
    "DatasetPolicy",
]


class ActionSource(StrEnum):
    """Where the conversion happened (Server Event Parameters); required on every event."""

    EMAIL = "email"
    WEBSITE = "website"
    APP = "app"
    PHONE_CALL = "phone_call"
    CHAT = "chat"
    PHYSICAL_STORE = "physical_store"
    SYSTEM_GENERATED = "system_generated"
    BUSINESS_MESSAGING = "business_messaging"
    OTHER = "other"


ACTION_SOURCES: Final[frozenset[str]] = frozenset(a.value for a in ActionSource)

# Server Event Parameters: every key Meta accepts at the top level of a server event
# (`data[i]`). Anything else makes Meta reject the whole request ("Unexpected key"), so the
# transform drops it.
SERVER_EVENT_KEYS: Final[frozenset[str]] = frozenset(
    {
        "event_name",
        "event_time",
        "user_data",
        "custom_data",
        "action_source",
        "event_source_url",
        "opt_out",
        "event_id",
        "data_processing_options",
        "data_processing_options_country",
        "data_processing_options_state",
        "referrer_url",
        "customer_segmentation",
        "app_data",
        "original_event_data",
        "attribution_data",
        "messaging_channel",
    }
)
# Keys of the native input format that never reach Meta.
INPUT_ONLY_KEYS: Final[frozenset[str]] = frozenset({"dataset_id", "fbclid"})

# Meta Pixel standard events (plus the default PageView) and the business-messaging set.
STANDARD_EVENT_NAMES: Final[frozenset[str]] = frozenset(
    {
        "AddPaymentInfo",
        "AddToCart",
        "AddToWishlist",
        "CompleteRegistration",
        "Contact",
        "CustomizeProduct",
        "Donate",
        "FindLocation",
        "InitiateCheckout",
        "Lead",
        "PageView",
        "Purchase",
        "Schedule",
        "Search",
        "StartTrial",
        "SubmitApplication",
        "Subscribe",
        "ViewContent",
    }
)
BUSINESS_MESSAGING_EVENT_NAMES: Final[frozenset[str]] = frozenset(
    {
        "Purchase",
        "LeadSubmitted",
        "InitiateCheckout",
        "AddToCart",
        "ViewContent",
        "OrderCreated",
        "OrderShipped",
        "OrderDelivered",
        "OrderCanceled",
        "OrderReturned",
        "CartAbandoned",
        "QualifiedLead",
        "RatingProvided",
        "ReviewProvided",
    }
)

# Server Event Parameters, event_time: how old an event may be when it is sent.
MAX_AGE_S: Final = 7 * 86_400
MAX_AGE_PHYSICAL_STORE_S: Final = 62 * 86_400

# Customer Information Parameters: the keys. Hashing and aliases belong to `normalize`.
USER_DATA_HASHED_KEYS: Final[frozenset[str]] = frozenset(
    {"em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"}
)
USER_DATA_PLAIN_KEYS: Final[frozenset[str]] = frozenset(
    {
        "client_ip_address",
        "client_user_agent",
        "fbc",
        "fbp",
        "subscription_id",
        "fb_login_id",
        "lead_id",
        "anon_id",
        "madid",
        "page_id",
        "page_scoped_user_id",
        "ctwa_clid",
        "ig_account_id",
        "ig_sid",
        "whatsapp_business_account_id",
    }
)
USER_DATA_KEYS: Final[frozenset[str]] = USER_DATA_HASHED_KEYS | USER_DATA_PLAIN_KEYS

# Customer Information Parameters (minimum matching): an event whose customer information is
# only (a subset of) one of these is refused.
REFUSED_MATCH_KEY_SETS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)

# Custom Data Parameters: the standard keys. Any other key is a custom property and is kept.
CUSTOM_DATA_STANDARD_KEYS: Final[frozenset[str]] = frozenset(
    {
        "value",
        "currency",
        "content_name",
        "content_category",
        "content_ids",
        "contents",
        "content_type",
        "order_id",
        "predicted_ltv",
        "num_items",
        "search_string",
        "status",
        "delivery_category",
        "net_revenue",
        "item_number",
        "store_data",
    }
)
# Custom Data Parameters: `contents[]` item keys with a defined type; other item keys pass.
CONTENT_KEYS: Final[frozenset[str]] = frozenset(
    {
        "id",
        "quantity",
        "item_price",
        "delivery_category",
        "title",
        "description",
        "brand",
        "category",
    }
)
DELIVERY_CATEGORIES: Final[frozenset[str]] = frozenset({"in_store", "curbside", "home_delivery"})

# Server Event Parameters
CUSTOMER_SEGMENTATIONS: Final[frozenset[str]] = frozenset(
    {
        "new_customer_to_business",
        "new_customer_to_business_line",
        "new_customer_to_product_area",
        "new_customer_to_medium",
        "existing_customer_to_business",
        "existing_customer_to_business_line",
        "existing_customer_to_product_area",
        "existing_customer_to_medium",
        "customer_in_loyalty_program",
    }
)
MESSAGING_CHANNELS: Final[frozenset[str]] = frozenset({"messenger", "whatsapp", "instagram"})

# App Data Parameters (app_data)
APP_DATA_BOOL_KEYS: Final[frozenset[str]] = frozenset(
    {
        "advertiser_tracking_enabled",
        "application_tracking_enabled",
        "consider_views",
        "include_dwell_data",
        "include_video_data",
    }
)
APP_DATA_STR_KEYS: Final[frozenset[str]] = frozenset(
    {
        "campaign_ids",
        "install_referrer",
        "installer_package",
        "vendor_id",
        "windows_attribution_id",
        "receipt_data",
    }
)
APP_DATA_KEYS: Final[frozenset[str]] = (
    APP_DATA_BOOL_KEYS | APP_DATA_STR_KEYS | frozenset({"extinfo", "url_schemes"})
)
EXTINFO_LENGTH: Final = 16
EXTINFO_VERSIONS: Final[frozenset[str]] = frozenset({"a2", "i2"})

# Server Event Parameters: original_event_data and attribution_data
ORIGINAL_EVENT_DATA_KEYS: Final[frozenset[str]] = frozenset(
    {"event_name", "event_time", "order_id", "event_id"}
)
ATTRIBUTION_DATA_KEYS: Final[frozenset[str]] = frozenset(
    {
        "scope",
        "visit_time",
        "ad_id",
        "adset_id",
        "campaign_id",
        "attribution_share",
        "attribution_model",
        "attr_window",
        "attribution_value",
        "attribution_source",
        "touchpoint_type",
        "touchpoint_ts",
        "attribution_method",
        "decline_reason",
        "auditing_token",
        "linkage_key",
        "touchpoint_id",
        "attribution_setting",
        "total_credit",
        "partner_client_id",
    }
)
ATTRIBUTION_SETTING_KEYS: Final[frozenset[str]] = frozenset(
    {"inactivity_window_hours", "reattribution_window_hours"}
)
ATTRIBUTION_MODELS: Final[frozenset[str]] = frozenset(
    {
        "customized_multi_touch",
        "first_touch",
        "last_click",
        "last_touch",
        "linear",
        "position_based",
        "time_decay",
        "unknown",
    }
)
ATTRIBUTION_METHODS: Final[frozenset[str]] = frozenset(
    {"ard", "deeplink", "gpir", "invalid_response", "mir", "srn"}
)
DECLINE_REASONS: Final[frozenset[str]] = frozenset(
    {
        "attribute_to_other_source",
        "out_of_lookback_window",
        "view_through_disabled",
        "within_inactive_window",
        "inactive",
        "fraud_detected",
        "unknown",
        "reinstall_attribution_disabled",
        "lookback",
        "not_pmod_match",
        "validation_rule_detected",
        "preload_install",
        "min_time_between_re_engagements",
        "duplicated",
        "pmod_disabled",
    }
)

# Data Processing Options (Limited Data Use)
LDU: Final = "LDU"
LDU_COUNTRY_CODES: Final[dict[int, str]] = {0: "geolocate", 1: "US"}
LDU_STATE_CODES: Final[dict[int, str]] = {
    0: "geolocate",
    1000: "CA",
    1001: "CO",
    1002: "CT",
    1003: "FL",
    1004: "OR",
    1005: "TX",
    1006: "MT",
    1007: "DE",
    1008: "NE",
    1009: "NH",
    1010: "NJ",
    1011: "MN",
    1012: "MD",
    1013: "RI",
}

# ISO 4217 list one (current alphabetic codes, 2025 edition, incl. fund and metal codes),
# without XXX ("no currency") and XTS ("testing"), which never price a conversion.
CURRENCIES: Final[frozenset[str]] = frozenset(
    {
        "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN",
        "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC",
        "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD",
        "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG",
        "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS",
        "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
        "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK",
        "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
        "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR",
        "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC",
        "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
        "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST",
        "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD",
        "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DatasetPolicy:
    """Per-dataset defaults and limits applied by `transform`.

    Invalid settings raise `ValueError` at construction (startup), never per event.
    """

    dataset_id: str
    # action_source for events that carry none.
    default_action_source: str | None = None
    # ISO alpha-2: the phone region and the `country` of events that carry none.
    default_country: str | None = None
    # data_processing_options for events that carry none, e.g. ("LDU",); None = no default.
    ldu: tuple[str, ...] | None = None
    ldu_country: int | None = None
    ldu_state: int | None = None
    # "raw": external_id sent trimmed and unhashed (when the Pixel sends it raw).
    external_id_policy: Literal["hash", "raw"] = "hash"
    # How far in the future an event_time may be, in seconds.
    max_future_skew_s: int = 60

    def __post_init__(self) -> None:
        if not self.dataset_id:
            raise ValueError("dataset_id is empty")
        if (
            self.default_action_source is not None
            and self.default_action_source not in ACTION_SOURCES
        ):
            raise ValueError("default_action_source is not a CAPI action_source")
        dc = self.default_country
        if dc is not None and not (len(dc) == 2 and dc.isascii() and dc.isalpha()):
            raise ValueError("default_country must be an ISO 3166-1 alpha-2 code")
        if self.ldu is not None and not set(self.ldu) <= {LDU}:
            raise ValueError("ldu may only contain 'LDU'")
        if self.ldu_country is not None and self.ldu_country not in LDU_COUNTRY_CODES:
            raise ValueError("ldu_country must be 0 or 1")
        if self.ldu_state is not None and self.ldu_state not in LDU_STATE_CODES:
            raise ValueError("ldu_state must be 0 or 1000..1013")
        if self.external_id_policy not in ("hash", "raw"):
            raise ValueError("external_id_policy must be 'hash' or 'raw'")
        if self.max_future_skew_s < 0:
            raise ValueError("max_future_skew_s is negative")
