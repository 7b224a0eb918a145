from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.registry.wire import frame, message_indexes, unframe


def _zigzag(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def test_unframe_reads_magic_byte_and_big_endian_id() -> None:
    framed = unframe(b"\x00\x00\x00\x01\x02payload")
    assert framed is not None
    assert framed.schema_id == 258
    assert framed.payload == b"payload"


def test_not_wire_format() -> None:
    assert unframe(b'{"event_name": "Purchase"}') is None  # JSON starts with "{", not 0
    assert unframe(b"\x00\x00\x00") is None  # shorter than the header
    assert unframe(b"\x01\x00\x00\x00\x01x") is None  # unknown magic byte


@given(st.integers(0, 2**31 - 1), st.binary(max_size=64))
def test_frame_round_trip(schema_id: int, payload: bytes) -> None:
    framed = unframe(frame(schema_id, payload))
    assert framed is not None
    assert (framed.schema_id, framed.payload) == (schema_id, payload)


def test_single_zero_byte_is_the_first_message() -> None:
    assert message_indexes(b"\x00rest") == ((0,), b"rest")


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=5), st.binary(max_size=16))
def test_message_indexes_round_trip(indexes: list[int], rest: bytes) -> None:
    encoded = _zigzag(len(indexes)) + b"".join(_zigzag(i) for i in indexes) + rest
    assert message_indexes(encoded) == (tuple(indexes), rest)


def test_malformed_indexes() -> None:
    assert message_indexes(b"") is None
    assert message_indexes(b"\x04\x02") is None  # two indexes announced, one present
    assert message_indexes(b"\xff" * 11) is None  # varint longer than 10 bytes
    assert message_indexes(_zigzag(-1)) is None  # negative count
    assert message_indexes(_zigzag(1000)) is None  # implausibly many
