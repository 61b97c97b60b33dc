"""The SIP parser and serializer (RFC 3261 §7, §18.3, §20, §25) on hand-written cases."""

from __future__ import annotations

import pytest

from telex.sip.errors import SipParseError
from telex.sip.headers import Headers, split_values
from telex.sip.message import Limits, Request, Response, StreamParser, make_response, parse_datagram
from telex.sip.uri import AbsoluteUri, SipUri, TelUri, parse_name_addr, parse_uri
from tests.sip.samples import RESPONSE_180, SDP_OFFER, invite


def test_invite_parses_with_typed_mandatory_headers() -> None:
    msg = parse_datagram(invite())
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri == SipUri("198.51.100.1", "+15551230000")
    assert msg.via[0].transport == "UDP" and msg.via[0].branch == "z9hG4bKtrunk1"
    assert msg.via[0].sent_by == ("192.0.2.10", 5060)
    assert (msg.cseq.seq, msg.cseq.method) == (314159, "INVITE")
    assert msg.from_.display_name == "Carrier" and msg.from_.tag == "1928301774"
    assert msg.to.tag is None
    assert msg.call_id == "a84b4c76e66710@192.0.2.10"
    assert msg.headers.max_forwards() == 70
    assert msg.content_type == "application/sdp"
    assert msg.body == SDP_OFFER


def test_response_parses() -> None:
    msg = parse_datagram(RESPONSE_180)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (180, "Ringing")
    assert msg.to.tag == "as83kd"
    assert msg.via[0].param("received") == "198.51.100.1"


def test_compact_forms_expand() -> None:
    raw = (
        b"OPTIONS sip:gw@198.51.100.1 SIP/2.0\r\n"
        b"v: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bKc1\r\n"
        b"f: <sip:a@192.0.2.10>;tag=1\r\n"
        b"t: <sip:gw@198.51.100.1>\r\n"
        b"i: compact-1\r\n"
        b"CSeq: 7 OPTIONS\r\n"
        b"m: <sip:a@192.0.2.10;transport=tcp>\r\n"
        b"k: timer, 100rel\r\n"
        b"s: hello\r\n"
        b"c: text/plain\r\n"
        b"l: 2\r\n\r\nhi"
    )
    msg = parse_datagram(raw)
    assert msg.call_id == "compact-1"
    assert msg.headers.get("Supported") == "timer"
    assert msg.headers.tokens("supported") == {"timer", "100rel"}
    assert msg.headers.get("subject") == "hello"
    assert msg.content_type == "text/plain"
    assert msg.contact[0].uri == SipUri("192.0.2.10", "a", params=(("transport", "tcp"),))
    assert msg.body == b"hi"
    text = msg.encode().decode()
    assert "Via: SIP/2.0/TCP" in text and "Call-ID: compact-1" in text and "Content-Length: 2" in text
    compact = msg.encode(compact=True).decode()
    assert "\r\nv: SIP/2.0/TCP" in compact and "\r\nl: 2\r\n" in compact


def test_folded_header_lines_join_with_one_space() -> None:
    raw = invite(
        extra="Subject: I know you're there,\r\n         pick up the phone\r\n\t and talk to me!\r\n"
    )
    msg = parse_datagram(raw)
    assert msg.headers.get("subject") == "I know you're there, pick up the phone and talk to me!"


def test_list_headers_split_but_quoted_commas_and_auth_do_not() -> None:
    extra = (
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKb\r\n"
        'Route: "Doe, John" <sip:p1@10.0.0.1;lr>, <sip:p2@10.0.0.2;lr>\r\n'
        'Proxy-Authorization: Digest username="a", realm="b, c", nonce="n", uri="sip:x", response="r"\r\n'
        "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
    )
    msg = parse_datagram(invite(extra=extra))
    assert [v.host for v in msg.via] == ["192.0.2.10", "10.0.0.1", "10.0.0.2"]
    routes = msg.headers.route()
    assert [r.display_name for r in routes] == ["Doe, John", None]
    assert all(isinstance(r.uri, SipUri) and r.uri.loose_route for r in routes)
    assert len(msg.headers.get_all("proxy-authorization")) == 1
    assert msg.headers.get("date") == "Sat, 13 Nov 2010 23:29:00 GMT"


def test_split_values_rejects_unbalanced_and_empty() -> None:
    assert split_values('a, "b,c", <d,e>') == ["a", '"b,c"', "<d,e>"]
    for bad in ('"open, b', "<open, b", "a,,b", "a, "):
        with pytest.raises(SipParseError):
            split_values(bad)


@pytest.mark.parametrize(
    "declared, expected",
    [(None, SDP_OFFER + b"junk"), (len(SDP_OFFER), SDP_OFFER), (10, SDP_OFFER[:10])],
)
def test_content_length_over_udp(declared: int | None, expected: bytes) -> None:
    head, _, _ = invite().partition(b"\r\n\r\n")
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Content-Length"))
    if declared is not None:
        head += f"\r\nContent-Length: {declared}".encode()
    msg = parse_datagram(head + b"\r\n\r\n" + SDP_OFFER + b"junk")
    assert msg.body == expected


def test_content_length_beyond_the_datagram_is_an_error() -> None:
    raw = invite().replace(f"Content-Length: {len(SDP_OFFER)}".encode(), b"Content-Length: 9999")
    with pytest.raises(SipParseError):
        parse_datagram(raw)


def test_stream_parser_frames_pipelined_split_messages_and_answers_pings() -> None:
    one, two = invite(branch="z9hG4bKs1"), invite(branch="z9hG4bKs2", cseq=2)
    parser = StreamParser()
    data = b"\r\n\r\n" + one + two + b"\r\n"
    got: list[Request | Response] = []
    for i in range(0, len(data), 7):
        got += parser.feed(data[i : i + 7])
    assert [m.via[0].branch for m in got] == ["z9hG4bKs1", "z9hG4bKs2"]
    assert all(m.body == SDP_OFFER for m in got)
    assert parser.pongs_due == 1


def test_stream_parser_requires_content_length() -> None:
    head, _, body = invite().partition(b"\r\n\r\n")
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Content-Length"))
    with pytest.raises(SipParseError):
        StreamParser().feed(head + b"\r\n\r\n" + body)


def test_stream_parser_bounds_an_endless_header_block() -> None:
    parser = StreamParser(Limits(max_message=1024))
    parser.feed(b"INVITE sip:a@b SIP/2.0\r\n")
    for _ in range(19):
        parser.feed(b"X-Filler: " + b"a" * 40 + b"\r\n")
    with pytest.raises(SipParseError):
        parser.feed(b"X-Filler: " + b"a" * 40 + b"\r\n")


def test_limits() -> None:
    with pytest.raises(SipParseError):
        parse_datagram(invite(extra="X-A: b\r\n" * 200))
    with pytest.raises(SipParseError):
        parse_datagram(invite(extra="Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n" * 40))
    with pytest.raises(SipParseError):
        parse_datagram(invite(extra="X-Long: " + "a" * 9000 + "\r\n"))
    with pytest.raises(SipParseError):
        parse_datagram(invite(body=b"x" * 40000))


def test_make_response_copies_what_rfc3261_8_2_6_says() -> None:
    request = parse_datagram(invite(extra="Record-Route: <sip:p1@10.0.0.1;lr>\r\n"))
    assert isinstance(request, Request)
    ok = make_response(request, 200, to_tag="ourtag")
    assert ok.to.tag == "ourtag"
    assert ok.headers.get_all("via") == request.headers.get_all("via")
    assert ok.headers.get("record-route") == "<sip:p1@10.0.0.1;lr>"
    assert ok.cseq == request.cseq and ok.call_id == request.call_id
    trying = make_response(request, 100, to_tag="ourtag")
    assert trying.to.tag is None and trying.headers.get("record-route") is None
    again = parse_datagram(ok.encode())
    assert isinstance(again, Response) and again.status == 200 and again.to.tag == "ourtag"


def test_round_trip_keeps_everything() -> None:
    msg = parse_datagram(invite(extra="X-Custom: one\r\nX-Custom: two\r\n"))
    again = parse_datagram(msg.encode())
    assert list(again.headers) == list(msg.headers)
    assert again.body == msg.body


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sip:alice@atlanta.com", SipUri("atlanta.com", "alice")),
        (
            "sip:alice:secretword@atlanta.com;transport=tcp",
            SipUri("atlanta.com", "alice", None, "sip", "secretword", (("transport", "tcp"),)),
        ),
        (
            "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
            SipUri(
                "atlanta.com",
                "alice",
                None,
                "sips",
                None,
                (),
                (("subject", "project%20x"), ("priority", "urgent")),
            ),
        ),
        (
            "sip:+1-212-555-1212:1234@gateway.com;user=phone",
            SipUri("gateway.com", "+1-212-555-1212", None, "sip", "1234", (("user", "phone"),)),
        ),
        (
            "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
            SipUri(
                "atlanta.com",
                None,
                None,
                "sip",
                None,
                (("method", "REGISTER"),),
                (("to", "alice%40atlanta.com"),),
            ),
        ),
        ("sip:alice;day=tuesday@atlanta.com", SipUri("atlanta.com", "alice;day=tuesday")),
        ("sip:[2001:db8::10]:5070;LR", SipUri("[2001:db8::10]", None, 5070, "sip", None, (("lr", None),))),
        ("SIP:bob@Biloxi.COM:5060", SipUri("Biloxi.COM", "bob", 5060)),
    ],
)
def test_sip_uris_from_rfc3261_19_1_3(text: str, expected: SipUri) -> None:
    assert parse_uri(text) == expected


def test_transport_param_compares_case_insensitively() -> None:
    uri = parse_uri("sip:a@10.0.0.1;transport=UDP")
    assert isinstance(uri, SipUri) and uri.transport == "udp"
    sips = parse_uri("sips:a@example.com")
    assert isinstance(sips, SipUri) and sips.transport == "tls"


def test_tel_uris() -> None:
    tel = parse_uri("tel:+1-201-555-0123;ext=12")
    assert isinstance(tel, TelUri) and tel.is_global and tel.digits == "+12015550123"
    assert tel.param("ext") == "12"
    local = parse_uri("tel:7042;phone-context=example.com")
    assert isinstance(local, TelUri) and not local.is_global
    with pytest.raises(SipParseError):
        parse_uri("tel:7042")  # RFC 3966 §5.1.5: local numbers need a phone-context
    assert str(tel) == "tel:+1-201-555-0123;ext=12"


def test_other_schemes_are_kept_as_absolute_uris() -> None:
    assert parse_uri("mailto:a@example.com") == AbsoluteUri("mailto", "a@example.com")


def test_name_addr_forms() -> None:
    quoted = parse_name_addr(r'"A \"quoted\" name" <sip:a@b.com>;tag=x')
    assert quoted.display_name == 'A "quoted" name' and quoted.tag == "x"
    tokens = parse_name_addr("Bob  Smith <sip:bob@b.com;transport=tcp>;expires=60")
    assert tokens.display_name == "Bob Smith"
    assert isinstance(tokens.uri, SipUri) and tokens.uri.transport == "tcp"
    assert tokens.param("expires") == "60"
    # RFC 3261 §20.10: parameters after a bare addr-spec belong to the header.
    bare = parse_name_addr("sip:carol@c.com;tag=99")
    assert bare.tag == "99" and isinstance(bare.uri, SipUri) and bare.uri.params == ()
    assert str(parse_name_addr(str(quoted))) == str(quoted)


def test_headers_mutation_clears_typed_cache() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("CSeq", "1 INVITE")])
    assert headers.via()[0].host == "a"
    headers.add("Via", "SIP/2.0/UDP b;branch=z9hG4bK2", first=True)
    assert [v.host for v in headers.via()] == ["b", "a"]
    headers.set("CSeq", "2 INVITE")
    assert headers.cseq().seq == 2
    with pytest.raises(ValueError, match="line break"):
        headers.add("X-Evil", "a\r\nInjected: yes")
