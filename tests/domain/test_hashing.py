from __future__ import annotations

import pytest

from streams.domain.hashing import PREHASHED_LENGTHS, is_hashed_output, prehashed, sha256_hex

HEX = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"


def test_sha256_hex_of_utf8() -> None:
    assert sha256_hex("test@example.com") == HEX
    assert (
        sha256_hex("москва") == "4ed0608556890f1debeb0947b33bff409c18a80755422c362f4daa5cd5ce0749"
    )


class TestPrehashed:
    def test_sha256_hex_is_lowercased(self) -> None:
        assert prehashed(HEX) == HEX
        assert prehashed(HEX.upper()) == HEX

    @pytest.mark.parametrize("appendix", ["AQ", "Ag", "AQQCAQIB", "_-aZ09Xy"])
    def test_parameter_builder_value_is_unchanged(self, appendix: str) -> None:
        assert prehashed(f"{HEX}.{appendix}") == f"{HEX}.{appendix}"

    @pytest.mark.parametrize(
        "value",
        [
            HEX[:32],  # MD5-looking
            HEX[:63],
            HEX + "0",
            "x" + HEX,
            HEX[:63] + "g",
            f" {HEX}",  # callers trim first; untrimmed is not a hash
            f"{HEX.upper()}.AQQCAQIB",  # Parameter Builder hashes are lowercase
            f"{HEX}.AQQ",
            f"{HEX}.AQQCAQI",
            f"{HEX}.AQQCAQIB0",
            f"{HEX}.A=",
            f"{HEX}:AQ",
            "",
        ],
    )
    def test_anything_else_is_not_hashed(self, value: str) -> None:
        assert prehashed(value) is None

    def test_lengths_precheck_covers_every_hashed_shape(self) -> None:
        assert {64, 67, 73} == PREHASHED_LENGTHS


class TestIsHashedOutput:
    def test_output_shapes(self) -> None:
        assert is_hashed_output(HEX)
        assert is_hashed_output(f"{HEX}.AQQCAQIB")
        assert not is_hashed_output(HEX.upper())
        assert not is_hashed_output("test@example.com")
