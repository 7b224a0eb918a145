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

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("+00 44 20 7946 0958", "442079460958"),  # "00": most of the world
            ("+0044 7911 123456", "447911123456"),
            ("+011 1 212 555 0100", "12125550100"),  # "011": North America
            ("+011 44 20 7946 0958", "442079460958"),
            ("+001 (616) 954-78 88", "16169547888"),  # Meta's Parameter Builder test value
            ("+001 82 2 123 4567", "8221234567"),  # "001" (Korea): "00" + 1 822... is not valid
            ("+0011 61 2 9374 4000", "61293744000"),  # "0011": Australia
            ("+010 81 3 1234 5678", "81312345678"),  # "010": Japan
        ],
    )
    def test_a_redundant_call_prefix_after_the_plus_is_stripped(
        self, text: str, expected: str
    ) -> None:
        assert normalize_phone(text, None) == expected
        assert normalize_phone(text, "US") == expected  # international: the region is unused

    @pytest.mark.parametrize("text", ["+000", "+00", "+00 999 123 4567", "+011 1 555"])
    def test_a_call_prefix_before_no_valid_number_is_still_dropped(self, text: str) -> None:
        assert normalize_phone(text, None) is None

    @pytest.mark.parametrize(
        ("text", "region"),
        [
            ("00200000000000", "US"),  # +20 0 0...: a second trunk 0 after the one removed
            ("+20 0 048 726 663", None),
            ("+375 0 8 339 794 076", None),  # Belarus: trunk 0 removed, trunk 8 left
            ("088730372", "BY"),  # trunk 0 removed, trunk 8 left
            ("07060684", "JE"),  # Jersey, read as +44 0...: a GB trunk 0 left
        ],
    )
    def test_a_trunk_prefix_left_after_one_is_removed_is_dropped(
        self, text: str, region: str | None
    ) -> None:
        assert normalize_phone(text, region) is None

    @pytest.mark.parametrize(
        ("text", "region", "expected"),
        [
            ("+20 0 2 1234 5678", None, "20212345678"),  # one trunk 0 after the country code
            ("+39 06 1234 5678", None, "390612345678"),  # Italy: the 0 is part of the number
            ("06 1234 5678", "IT", "390612345678"),
        ],
    )
    def test_a_result_reads_back_as_itself(
        self, text: str, region: str | None, expected: str
    ) -> None:
        assert normalize_phone(text, region) == expected
        assert normalize_phone("+" + expected, None) == expected
        assert normalize_phone("+" + expected, region) == expected

    def test_digits_of_other_scripts(self) -> None:
        assert normalize_phone("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨", None) == "442079460958"
        fullwidth = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in "020 7946 0958")
        assert normalize_phone(fullwidth, "GB") == "442079460958"
