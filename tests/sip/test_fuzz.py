"""The parser under hostile input: a corpus of malformed messages and hypothesis fuzzing.

Whatever arrives, ``parse_datagram`` and ``StreamParser`` either return a message or raise
``SipParseError``; and the UA core drops a malformed packet from an unknown address without a
word and without an exception (issue 15: "it never crashes the gateway")."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telex.sip.digest import parse_auth_params, parse_challenge
from telex.sip.errors import SipParseError
from telex.sip.events import Peer
from telex.sip.message import StreamParser, parse_datagram
from telex.sip.reasons import parse_reasons
from telex.sip.sdp import AudioSession, SdpNegotiationError, parse_sdp
from telex.sip.uri import parse_name_addr, parse_uri
from telex.sip.user_agent import UaConfig, UserAgent
from tests.sip.samples import RESPONSE_180, SDP_OFFER, invite

GOOD = invite()
UNKNOWN = Peer("udp", "203.0.113.66", 5060)


def _replace(old: bytes, new: bytes, base: bytes = GOOD) -> bytes:
    assert old in base, old
    return base.replace(old, new, 1)


MALFORMED = {
    "empty": b"",
    "only CRLF then junk": b"\r\n\r\nhello",
    "no blank line": GOOD.split(b"\r\n\r\n")[0],
    "binary": bytes(range(256)),
    "request line two tokens": _replace(b"INVITE sip:+15551230000@198.51.100.1 SIP/2.0", b"INVITE sip:x@y"),
    "request line extra token": _replace(b" SIP/2.0\r\nVia", b" SIP/2.0 extra\r\nVia"),
    "bad version": _replace(b" SIP/2.0\r\nVia", b" SIP/7.0\r\nVia"),
    "lowercase version": _replace(b" SIP/2.0\r\nVia", b" sip/2.0\r\nVia"),
    "method with space": _replace(b"INVITE sip", b"INV ITE sip"),
    "method with bad char": _replace(b"INVITE sip", b"INV<ITE sip"),
    "uri without scheme": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"+15551230000 SIP"),
    "uri bad port": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"sip:a@198.51.100.1:99999 SIP"),
    "uri non-digit port": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"sip:a@198.51.100.1:5o60 SIP"),
    "uri unicode digit port": _replace(b"sip:+15551230000@198.51.100.1 SIP", "sip:a@h:5\u00b2 SIP".encode()),
    "uri bad ipv6": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"sip:a@[::g] SIP"),
    "uri unterminated ipv6": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"sip:a@[::1 SIP"),
    "uri empty host": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"sip:a@ SIP"),
    "uri empty param": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"sip:a@h;;x SIP"),
    "tel without context": _replace(b"sip:+15551230000@198.51.100.1 SIP", b"tel:1234 SIP"),
    "status code two digits": RESPONSE_180.replace(b"180 Ringing", b"18 Ringing"),
    "status code 700": RESPONSE_180.replace(b"180 Ringing", b"700 Ringing"),
    "status code letters": RESPONSE_180.replace(b"180 Ringing", b"1a0 Ringing"),
    "missing Via": _replace(b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKtrunk1\r\n", b""),
    "missing From": _replace(b'From: "Carrier" <sip:+15559870000@192.0.2.10>;tag=1928301774\r\n', b""),
    "missing To": _replace(b"To: <sip:+15551230000@198.51.100.1>\r\n", b""),
    "missing Call-ID": _replace(b"Call-ID: a84b4c76e66710@192.0.2.10\r\n", b""),
    "missing CSeq": _replace(b"CSeq: 314159 INVITE\r\n", b""),
    "CSeq method mismatch": _replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"),
    "CSeq not a number": _replace(b"CSeq: 314159 INVITE", b"CSeq: x INVITE"),
    "CSeq too large": _replace(b"CSeq: 314159 INVITE", b"CSeq: 4294967296 INVITE"),
    "CSeq huge": _replace(b"CSeq: 314159 INVITE", b"CSeq: " + b"9" * 5000 + b" INVITE"),
    "CSeq without method": _replace(b"CSeq: 314159 INVITE", b"CSeq: 314159"),
    "Call-ID with space": _replace(b"Call-ID: a84b4c76e66710@192.0.2.10", b"Call-ID: a b"),
    "Call-ID empty": _replace(b"Call-ID: a84b4c76e66710@192.0.2.10", b"Call-ID:"),
    "Via bad protocol": _replace(b"Via: SIP/2.0/UDP", b"Via: HTTP/1.1/UDP"),
    "Via no sent-by": _replace(b"Via: SIP/2.0/UDP 192.0.2.10:5060;", b"Via: SIP/2.0/UDP ;"),
    "Via bad port": _replace(b"192.0.2.10:5060;branch", b"192.0.2.10:-1;branch"),
    "Via empty list item": _replace(b"Via: SIP/2.0/UDP", b"Via: , SIP/2.0/UDP"),
    "From unterminated quote": _replace(b'From: "Carrier"', b'From: "Carrier'),
    "From unterminated angle": _replace(b"<sip:+15559870000@192.0.2.10>", b"<sip:+15559870000@192.0.2.10"),
    "From junk after address": _replace(b">;tag=1928301774", b"> junk;tag=1928301774"),
    "From display without uri": _replace(b'"Carrier" <sip:+15559870000@192.0.2.10>', b'"Carrier" sip:x@y'),
    "Contact bad uri": _replace(b"Contact: <sip:gw@192.0.2.10:5060>", b"Contact: <sip:gw@192.0.2.10:port>"),
    "Max-Forwards letters": _replace(b"Max-Forwards: 70", b"Max-Forwards: seventy"),
    "Max-Forwards too big": _replace(b"Max-Forwards: 70", b"Max-Forwards: 256"),
    "Content-Length negative": _replace(
        b"Content-Length: " + str(len(SDP_OFFER)).encode(), b"Content-Length: -1"
    ),
    "Content-Length conflicting": _replace(b"Content-Type:", b"Content-Length: 3\r\nContent-Type:"),
    "header without colon": _replace(b"Max-Forwards: 70", b"Max-Forwards 70"),
    "header name with space": _replace(b"Max-Forwards: 70", b"Max Forwards: 70"),
    "continuation first": _replace(b"\r\nVia:", b"\r\n continued\r\nVia:"),
    "not utf-8 header": _replace(b"Max-Forwards: 70", b"X-Bad: \xff\xfe"),
    "NUL in reason": RESPONSE_180.replace(b"180 Ringing", b"180 Ring\x00ing"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_corpus_raises_only_sip_parse_error(name: str) -> None:
    with pytest.raises(SipParseError):
        parse_datagram(MALFORMED[name])


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_corpus_over_a_stream(name: str) -> None:
    data = MALFORMED[name]
    parser = StreamParser()
    with contextlib.suppress(SipParseError):
        parser.feed(data + b"\r\n\r\n")


def test_ua_drops_malformed_from_unknown_address_quietly() -> None:
    ua = UserAgent(UaConfig(host="198.51.100.1"))
    for data in MALFORMED.values():
        ua.receive_datagram(data, UNKNOWN, 1000.0)
    assert ua.data_to_send() == [] and ua.events() == []
    assert ua.counters.malformed_unknown == len(MALFORMED) - 1  # "empty" is a keep-alive
    assert ua.counters.malformed_known == 0


def _mutations() -> st.SearchStrategy[bytes]:
    base = st.sampled_from([GOOD, RESPONSE_180, invite(extra="Route: <sip:p@10.0.0.1;lr>\r\n")])

    def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
        buf = bytearray(data)
        for kind, pos, chunk in edits:
            at = pos % (len(buf) + 1)
            if kind == 0:
                buf[at:at] = chunk
            elif kind == 1:
                del buf[at : at + len(chunk) + 1]
            else:
                buf[at : at + len(chunk)] = chunk
        return bytes(buf)

    specials = st.sampled_from(
        [b":", b";", b",", b"<", b">", b'"', b"\\", b"\r\n", b"\r\n ", b"@", b"=", b"[", b"]", b"?", b"%",
         b"\x00", b"\xff", b"9" * 12, "\u00b2".encode(), b" ", b"/", b"sip:", b"tel:", b"z9hG4bK"]
    )  # fmt: skip
    chunk = st.one_of(specials, st.binary(min_size=1, max_size=6))
    edit = st.tuples(st.integers(0, 2), st.integers(0, 4000), chunk)
    return st.builds(mutate, base, st.lists(edit, min_size=1, max_size=6))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_mutated_messages_never_raise_anything_else(data: bytes) -> None:
    try:
        msg = parse_datagram(data)
    except SipParseError:
        return
    # Whatever parses must serialize and parse again to the same thing.
    again = parse_datagram(msg.encode())

    def fields(m: object) -> list[tuple[str, str]]:
        return [(k, v) for k, v in m.headers if k != "Content-Length"]  # type: ignore[attr-defined]

    assert fields(again) == fields(msg)
    assert again.body == msg.body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_datagram(data)
    with contextlib.suppress(SipParseError):
        StreamParser().feed(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(), st.booleans())
def test_ua_core_survives_any_datagram(data: bytes, known: bool) -> None:
    """Mutated requests and responses from a trunk (known) or a stranger: never an exception;
    strangers' malformed packets get no answer at all."""
    ua = UserAgent(UaConfig(host="198.51.100.1", accept_from=lambda p: p.host == "192.0.2.10"))
    peer = Peer("udp", "192.0.2.10", 5060) if known else UNKNOWN
    ua.receive_datagram(data, peer, 1000.0)
    sent = ua.data_to_send()
    if not known:
        assert sent == []
    ua.handle_timer(1100.0)
    ua.events()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_grammar_helpers_raise_only_parse_errors(text: str) -> None:
    for parse in (
        parse_uri,
        parse_name_addr,
        lambda t: parse_reasons([t]),
        parse_auth_params,
        parse_challenge,
    ):
        with contextlib.suppress(SipParseError):
            parse(text)


def _sdp_mutations() -> st.SearchStrategy[bytes]:
    def mutate(pos: int, chunk: bytes, delete: bool) -> bytes:
        at = pos % (len(SDP_OFFER) + 1)
        if delete:
            return SDP_OFFER[:at] + SDP_OFFER[at + len(chunk) :]
        return SDP_OFFER[:at] + chunk + SDP_OFFER[at:]

    chunk = st.one_of(
        st.sampled_from([b" ", b"\r\n", b"=", b":", b"/", b"9" * 30, b"a=", b"m=", b"\xff"]),
        st.binary(max_size=5),
    )
    return st.builds(mutate, st.integers(0, 400), chunk, st.booleans())


@settings(max_examples=600, deadline=None)
@given(_sdp_mutations())
def test_sdp_parse_and_answer_raise_only_their_errors(data: bytes) -> None:
    try:
        offer = parse_sdp(data)
        AudioSession("198.51.100.1", 40000, "1").answer(offer)
    except (SipParseError, SdpNegotiationError):
        pass
