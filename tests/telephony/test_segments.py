"""GSM 03.38 / UCS-2 segmentation: the reference cases, then properties over any text."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telex.telephony.segments import (
    ESCAPE,
    Concat,
    Encoding,
    concat_udh,
    decode_gsm7,
    decode_ucs2,
    encode_gsm7,
    encode_ucs2,
    encoding_for,
    is_gsm7,
    pack_septets,
    parse_udh,
    segment,
    segment_count,
    unpack_septets,
)

GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"  # noqa: E501
GSM_EXTENSION = "\f^{}\\[~]|€"


@pytest.mark.parametrize(
    ("text", "encoding", "units"),
    [
        ("", Encoding.GSM7, [0]),
        ("x" * 160, Encoding.GSM7, [160]),
        ("x" * 161, Encoding.GSM7, [153, 8]),
        ("x" * 158 + "€", Encoding.GSM7, [160]),  # 158 + ESC pair = 160 septets: one SMS
        ("x" * 159 + "€", Encoding.GSM7, [153, 8]),  # 161 septets
        ("x" * 152 + "€" + "y" * 7, Encoding.GSM7, [152, 9]),  # the pair would straddle 153: it moves whole
        ("€" * 80, Encoding.GSM7, [160]),
        ("€" * 81, Encoding.GSM7, [152, 10]),  # the case smpplib splits after an ESC
        ("x" * 306, Encoding.GSM7, [153, 153]),
        ("x" * 307, Encoding.GSM7, [153, 153, 1]),
        ("Ж" * 70, Encoding.UCS2, [70]),
        ("Ж" * 71, Encoding.UCS2, [67, 4]),
        ("Ж" * 66 + "😀" + "Ж" * 10, Encoding.UCS2, [66, 12]),  # the emoji smpplib cuts in half
        ("😀" * 35, Encoding.UCS2, [70]),
        ("😀" * 36, Encoding.UCS2, [66, 6]),
        ("x" * 160 + "é", Encoding.GSM7, [153, 8]),  # é is in the default alphabet
        ("x" * 69 + "ç", Encoding.UCS2, [70]),  # ç is not (only Ç is): UCS-2
    ],
)
def test_reference_cases(text: str, encoding: Encoding, units: list[int]) -> None:
    segments = segment(text)
    assert segments.encoding is encoding
    assert list(segments.units()) == units
    assert segments.count == len(units) == segment_count(text)
    assert "".join(segments.parts) == text


def test_sixteen_bit_reference_leaves_one_unit_less() -> None:
    assert list(segment("x" * 161, ref16=True).units()) == [152, 9]
    assert list(segment("Ж" * 71, ref16=True).units()) == [66, 5]


def test_alphabet_is_the_3gpp_table() -> None:
    assert len(GSM_BASIC) == 127  # 128 positions, one of which is the escape
    assert encode_gsm7("@") == b"\x00"
    assert encode_gsm7("€") == bytes((ESCAPE, 0x65))
    assert encode_gsm7("{}") == bytes((ESCAPE, 0x28, ESCAPE, 0x29))
    assert encode_gsm7("A") == b"A"
    assert is_gsm7(GSM_BASIC + GSM_EXTENSION)
    assert encode_gsm7(GSM_BASIC).count(ESCAPE) == 0
    assert encoding_for("hello`") is Encoding.UCS2  # the backtick is not in GSM-7
    with pytest.raises(ValueError, match="U\\+0060"):
        encode_gsm7("`")


def test_decode_gsm7_is_lenient() -> None:
    assert decode_gsm7(bytes((ESCAPE, 0x41))) == "A"  # unknown extension: the basic character
    assert decode_gsm7(b"A" + bytes((ESCAPE,))) == "A "  # a trailing escape
    assert decode_gsm7(bytes((ESCAPE, ESCAPE))) == " "
    assert decode_gsm7(b"\xff") == "\ufffd"


def test_ucs2_keeps_surrogate_pairs() -> None:
    assert encode_ucs2("👋") == bytes.fromhex("d83ddc4b")
    assert decode_ucs2(bytes.fromhex("0048d83ddc4b")) == "H👋"
    assert decode_ucs2(b"\x00H\x00") == "H\ufffd"
    assert decode_ucs2(bytes.fromhex("d83d0048")) == "\ufffdH"


def test_pack_septets_vector() -> None:
    # "hellohello" packs to e8329bfd4697d9ec37 (TS 23.038 §6.1.2.1.1 packing)
    septets = encode_gsm7("hellohello")
    assert pack_septets(septets).hex() == "e8329bfd4697d9ec37"
    assert unpack_septets(pack_septets(septets), len(septets)) == septets


@given(st.binary(max_size=200), st.integers(0, 6))
def test_pack_unpack_round_trip(data: bytes, fill: int) -> None:
    septets = bytes(b & 0x7F for b in data)
    assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets


def test_concat_udh() -> None:
    assert concat_udh(0x2A, 3, 1) == bytes.fromhex("0500032a0301")
    assert concat_udh(0x1234, 3, 2, ref16=True) == bytes.fromhex("060804123403 02".replace(" ", ""))
    assert parse_udh(bytes.fromhex("0500032a0301") + b"body") == (Concat(0x2A, 3, 1), b"body")
    assert parse_udh(bytes.fromhex("06080412340302") + b"x") == (Concat(0x1234, 3, 2), b"x")
    # another element before it (a port address, IE 0x05) is skipped
    assert parse_udh(bytes.fromhex("0b050400000000" + "0003010201") + b"x") == (Concat(1, 2, 1), b"x")
    assert parse_udh(bytes.fromhex("050003010003")) == (None, b"")  # seq past total: not concatenated
    for broken in (b"", bytes.fromhex("0500"), bytes.fromhex("0300"), bytes.fromhex("030004000000")):
        with pytest.raises(ValueError, match=r"header|element"):
            parse_udh(broken)
    for args in ((256, 2, 1), (1, 2, 3), (1, 0, 0), (1, 256, 1)):
        with pytest.raises(ValueError, match=r"concatenation|reference"):
            concat_udh(*args)
    with pytest.raises(ValueError, match="16-bit"):
        concat_udh(0x10000, 2, 1, ref16=True)


@given(st.binary(max_size=64))
def test_parse_udh_raises_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_udh(data)


texts = st.one_of(
    st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXTENSION), max_size=700),
    st.text(alphabet=st.sampled_from("xé€{😀Жa "), max_size=400),
    st.text(max_size=300),
)


@settings(max_examples=400)
@given(texts, st.booleans())
def test_segmentation_properties(text: str, ref16: bool) -> None:
    segments = segment(text, ref16=ref16)
    # the parts give the text back
    assert "".join(segments.parts) == text
    units = segments.units()
    payloads = segments.payloads()
    single = 160 if segments.encoding is Encoding.GSM7 else 70
    per_part = (153 if segments.encoding is Encoding.GSM7 else 67) - (1 if ref16 else 0)
    # no part over its limit, and a multi-part message only when one part cannot hold it
    if segments.count == 1:
        assert units[0] <= single
    else:
        assert sum(units) > single
        assert all(0 < u <= per_part for u in units)
        # greedy is minimal: each full part could not take the next character
        assert all(u >= per_part - 1 for u in units[:-1])
    for part, payload in zip(segments.parts, payloads, strict=True):
        if segments.encoding is Encoding.GSM7:
            # the escape is never the last septet of a part (it would be split from its code)
            assert decode_gsm7(payload) == part
            assert not payload.endswith(bytes((ESCAPE,)))
        else:
            # never a high surrogate at the end of a part
            assert len(payload) % 2 == 0
            if payload:
                assert not 0xD8 <= payload[-2] <= 0xDB
    assert segments.encoding is (Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2)


@given(st.binary(max_size=300))
def test_decoders_never_raise(data: bytes) -> None:
    decode_gsm7(data)
    decode_ucs2(data)


@given(st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXTENSION), max_size=200))
def test_gsm7_round_trip(text: str) -> None:
    assert decode_gsm7(encode_gsm7(text)) == text
