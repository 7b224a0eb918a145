"""The fast path must agree with `phonenumbers.parse` + `is_possible_number` whenever it answers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from streams.domain.phone_fastpath import UNDECIDED, fast_international, fast_national

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
CALLING_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def reference(number: str, region: str | None) -> str | None:
    """The policy's phone rule done with phonenumbers alone."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)[1:]


DIGITS = st.builds(
    lambda head, tail: (head + tail)[:21],
    st.one_of(
        st.sampled_from(["", "0", "00", "1", "8", "011"]),
        st.sampled_from(CALLING_CODES).map(str),
        st.sampled_from(CALLING_CODES).map(lambda code: f"{code}0"),
    ),
    st.text(st.sampled_from("0123456789"), min_size=0, max_size=18),
)


class TestAgreesWithPhonenumbers:
    @settings(max_examples=3000, deadline=None)
    @given(digits=DIGITS, region=st.sampled_from(REGIONS))
    def test_national(self, digits: str, region: str) -> None:
        fast = fast_national(digits, region)
        if fast != UNDECIDED:
            assert fast == reference(digits, region)

    @settings(max_examples=3000, deadline=None)
    @given(digits=DIGITS)
    def test_international(self, digits: str) -> None:
        fast = fast_international(digits)
        if fast != UNDECIDED:
            assert fast == reference("+" + digits, None)

    @pytest.mark.parametrize("region", REGIONS)
    def test_example_numbers_of_every_region(self, region: str) -> None:
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = "".join(
                c
                for c in phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
                if c.isdigit()
            )
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)[1:]
            fast = fast_national(national, region)
            if fast != UNDECIDED:
                assert fast == reference(national, region)
            fast = fast_international(e164)
            if fast != UNDECIDED:
                assert fast == reference("+" + e164, None)


class TestCoverage:
    """The fast path answers the common shapes (otherwise it is no faster)."""

    @pytest.mark.parametrize(
        ("digits", "region", "expected"),
        [
            ("6505551212", "US", "16505551212"),
            ("6135550123", "CA", "16135550123"),
            ("02079460958", "GB", "442079460958"),  # trunk 0 stripped
            ("03012345678", "DE", "493012345678"),
            ("0612345678", "FR", "33612345678"),
            ("8123456789", "IN", "918123456789"),
            ("11987654321", "BR", "5511987654321"),
            ("234", "US", None),  # answered: not possible
        ],
    )
    def test_national(self, digits: str, region: str, expected: str | None) -> None:
        assert fast_national(digits, region) == expected

    @pytest.mark.parametrize(
        ("digits", "expected"),
        [
            ("16505551212", "16505551212"),
            ("442079460958", "442079460958"),
            ("4402079460958", "442079460958"),  # UK (0) after the country code
            ("493012345678", "493012345678"),
        ],
    )
    def test_international(self, digits: str, expected: str) -> None:
        assert fast_international(digits) == expected

    @pytest.mark.parametrize(
        ("digits", "region"),
        [
            ("0612345678", "IT"),  # Italian leading zero stays: left to phonenumbers
            ("16505551212", "US"),  # the country code repeated
            ("9123456789", "IN"),  # starts like the country code (91)
            ("011442079460958", "US"),  # the region's international prefix
            ("12", "US"),
        ],
    )
    def test_leaves_the_rest_to_phonenumbers(self, digits: str, region: str) -> None:
        assert fast_national(digits, region) == UNDECIDED
        assert reference(digits, region) is not None or digits == "12"
