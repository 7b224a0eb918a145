from __future__ import annotations

import pytest

from streams.domain.geo import (
    CA_PROVINCES,
    COUNTRIES,
    COUNTRY_ALIASES,
    US_STATES,
    country_code,
    lookup_key,
)


class TestCountryTable:
    def test_iso_3166_1_size_and_shape(self) -> None:
        assert len(COUNTRIES) == 249
        alpha2 = [row[0] for row in COUNTRIES]
        alpha3 = [row[1] for row in COUNTRIES]
        assert len(set(alpha2)) == len(alpha2) and len(set(alpha3)) == len(alpha3)
        assert all(len(a) == 2 and a.isascii() and a.isalpha() and a.islower() for a in alpha2)
        assert all(len(a) == 3 and a.isascii() and a.isalpha() and a.islower() for a in alpha3)
        assert all(row[2] for row in COUNTRIES)

    def test_no_lookup_key_is_shared_by_two_countries(self) -> None:
        owner: dict[str, str] = {}
        labels = [(alias, code) for alias, code in COUNTRY_ALIASES.items()]
        for alpha2, alpha3, name, official, common in COUNTRIES:
            labels += [(alpha2, alpha2), (alpha3, alpha2)]
            labels += [(label, alpha2) for label in (name, official, common) if label]
        for label, code in labels:
            key = lookup_key(label)
            assert owner.setdefault(key, code) == code, label

    @pytest.mark.parametrize("row", COUNTRIES, ids=[row[0] for row in COUNTRIES])
    def test_every_code_and_name_resolves(self, row: tuple[str, ...]) -> None:
        alpha2 = row[0]
        for label in row:
            if label:
                assert country_code(label) == alpha2, label
                assert country_code(f"  {label.upper()}. ") == alpha2, label

    @pytest.mark.parametrize(
        ("alias", "code"),
        [
            ("uk", "gb"),
            ("U.K.", "gb"),
            ("Great Britain", "gb"),
            ("england", "gb"),
            ("USA", "us"),
            ("U.S.A.", "us"),
            ("United States America", "us"),
        ],
    )
    def test_aliases(self, alias: str, code: str) -> None:
        assert country_code(alias) == code

    @pytest.mark.parametrize(
        ("accented", "plain", "code"),
        [
            ("Côte d'Ivoire", "Cote dIvoire", "ci"),
            ("Åland Islands", "Aland Islands", "ax"),
            ("Curaçao", "Curacao", "cw"),
            ("Réunion", "Reunion", "re"),
            ("Saint Barthélemy", "Saint Barthelemy", "bl"),
            ("Türkiye", "Turkiye", "tr"),
        ],
    )
    def test_accents_are_optional(self, accented: str, plain: str, code: str) -> None:
        assert country_code(accented) == code
        assert country_code(plain) == code

    @pytest.mark.parametrize("value", ["", "uu", "xx", "Narnia", "u5", "States", "Korea"])
    def test_anything_else_is_unknown(self, value: str) -> None:
        assert country_code(value) is None


class TestSubdivisions:
    def test_us_states_and_territories(self) -> None:
        codes = set(US_STATES.values())
        assert len(codes) == 57  # 50 states, DC, AS, GU, MP, PR, UM, VI
        assert {"dc", "as", "gu", "mp", "pr", "um", "vi"} <= codes
        assert US_STATES["newyork"] == "ny"
        assert US_STATES["northcarolina"] == "nc"
        assert US_STATES["virginislandsus"] == US_STATES["usvirginislands"] == "vi"

    def test_canadian_provinces_and_territories(self) -> None:
        assert len(set(CA_PROVINCES.values())) == 13
        assert CA_PROVINCES["britishcolumbia"] == "bc"
        assert CA_PROVINCES["québec"] == CA_PROVINCES["quebec"] == "qc"
        assert CA_PROVINCES["newfoundlandandlabrador"] == "nl"

    def test_no_name_is_both_a_state_and_a_province(self) -> None:
        assert not set(US_STATES) & set(CA_PROVINCES)


class TestLookupKey:
    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ("United  States", "unitedstates"),
            (" u.s. ", "us"),
            ("Korea, Democratic People's Republic of", "koreademocraticpeoplesrepublicof"),
            ("Co\u0302te d'Ivoire", "côtedivoire"),  # decomposed input, NFC key
            ("***UU***", "uu"),
            ("us1", "us1"),
        ],
    )
    def test_keeps_lowercased_letters_and_digits(self, text: str, key: str) -> None:
        assert lookup_key(text) == key
