from __future__ import annotations

import pytest

from streams.domain.identifiers import IDENTIFIER_CHECKS, cookie, ip_address, opaque


class TestIpAddress:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("203.0.113.9", "203.0.113.9"),
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
            ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("::1", "::1"),
            ("fe80::1%eth0", "fe80::1%eth0"),
            ("203.0.113.9.AQ", "203.0.113.9.AQ"),  # Parameter Builder appendix kept
            ("2001:db8::1.AQQCAQIB", "2001:db8::1.AQQCAQIB"),
        ],
    )
    def test_valid(self, text: str, expected: str) -> None:
        assert ip_address(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.56",  # a fifth number is not an appendix
            "1.2.3.4:80",
            "[::1]",
            "2001:db8::g",
            "localhost",
            "1.2.3.999.AQ",
            "1.2.3.4.AQQ",
        ],
    )
    def test_invalid(self, text: str) -> None:
        assert ip_address(text) is None


class TestCookie:
    @pytest.mark.parametrize(
        "text",
        [
            "fb.1.1596403881668.1116446470",
            "fb.0.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk",
            "fb.2.1554763741205.AbCdEf.AQQCAQIB",
            "fb.1.1554763741205.AbCdEf.Bg",
        ],
    )
    def test_valid_and_unchanged(self, text: str) -> None:
        assert cookie(text) == text

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "fb.1.123.abc",  # creation time must be 13-digit ms
            "fb.12.1554763741205.abc",
            "FB.1.1554763741205.abc",
            "fb.1.1554763741205.",
            "fb.1.1554763741205.abc.AQQ",
            "fb.1.1554763741205.ab c",
            "fb.1.1554763741205.abc.def.AQ",
            "IwAR2F4-dbP0l7Mn1IawQQ",
        ],
    )
    def test_invalid(self, text: str) -> None:
        assert cookie(text) is None


def test_opaque_keeps_any_non_empty_value() -> None:
    assert opaque("Mozilla/5.0 (X11; Linux)") == "Mozilla/5.0 (X11; Linux)"
    assert opaque("") is None


def test_every_never_hashed_key_has_a_check() -> None:
    assert set(IDENTIFIER_CHECKS) == {
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
