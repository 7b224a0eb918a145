from __future__ import annotations

import pytest

from streams.domain.phone import normalize_phone, phone_region


class TestPhoneRegion:
    def test_regions_with_metadata(self) -> None:
        assert phone_region("us") == "US"
        assert phone_region("gb") == "GB"
        assert phone_region(None) is None
        assert phone_region("aq") is None  # ISO country without phone metadata
        assert phone_region("zz") is None


class TestNormalizePhone:
    @pytest.mark.parametrize(
        ("text", "region", "expected"),
        [
            ("+1 (650) 555-1212", None, "16505551212"),
            ("+1 (650) 555-1212", "GB", "16505551212"),
            ("00 1 650 555 1212", "GB", "16505551212"),
            ("(650) 555-1212", "US", "16505551212"),
            ("(650) 555-1212", "CA", "16505551212"),
            ("1 (650) 555-1212", "US", "16505551212"),
            ("(650) 555-1212", None, "6505551212"),
            ("020 7946 0958", "GB", "442079460958"),
            ("+44 (0) 20 7946 0958", None, "442079460958"),
            ("8 (912) 345-67-89", "RU", "79123456789"),  # Russian trunk prefix 8
            ("011 44 20 7946 0958", "US", "442079460958"),
            ("tel: +33 1 23 45 67 89", None, "33123456789"),
        ],
    )
    def test_parsing(self, text: str, region: str | None, expected: str) -> None:
        assert normalize_phone(text.lower(), region) == expected

    @pytest.mark.parametrize(
        "suffix",
        [" ext. 12", " ext 12", " extension 12", " extn: 12", " x12", "x12", " #12", ";ext=12"],
    )
    def test_extensions_are_dropped(self, suffix: str) -> None:
        assert normalize_phone(f"+1 650 555 1212{suffix}", None) == "16505551212"
        assert normalize_phone(f"650 555 1212{suffix}", "US") == "16505551212"
        assert normalize_phone(f"650 555 1212{suffix}", None) == "6505551212"

    def test_an_x_that_is_not_an_extension_is_just_dropped(self) -> None:
        assert normalize_phone("650-xxx-1212", None) == "6501212"
        assert normalize_phone("650-555-xxxx-1212", "US") == "16505551212"

    @pytest.mark.parametrize(
        ("text", "region"),
        [
            ("", None),
            ("no digits", "US"),
            ("+", None),
            ("+0 650 555 1212", None),  # a country code never starts with 0
            ("+999 650 555 1212", None),  # unassigned country code
            ("+1 650 555 121", None),  # too short for NANPA
            ("+44 20 7946 0958 1234 5678", None),  # too long
            ("12345", "US"),
            ("123456", None),
            ("1234567890123456", None),
            ("0000000", None),
        ],
    )
    def test_dropped(self, text: str, region: str | None) -> None:
        assert normalize_phone(text, region) is None

    def test_digits_of_other_scripts(self) -> None:
        assert normalize_phone("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨", None) == "442079460958"
        fullwidth = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in "020 7946 0958")
        assert normalize_phone(fullwidth, "GB") == "442079460958"
