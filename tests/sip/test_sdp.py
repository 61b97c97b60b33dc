"""SDP (RFC 8866 subset) and the offer/answer rules of RFC 3264 for one audio stream."""

from __future__ import annotations

import pytest

from telex.sip.errors import SipParseError
from telex.sip.sdp import PCMU, AudioSession, Direction, SdpNegotiationError, parse_sdp
from tests.sip.samples import SDP_OFFER


def offer(
    *, media: str = "m=audio 30000 RTP/AVP 8 0 101", extra: str = "a=sendrecv\r\n", conn: str = "192.0.2.10"
) -> bytes:
    return (
        "v=0\r\no=carrier 1234 1 IN IP4 192.0.2.10\r\ns=-\r\n"
        f"c=IN IP4 {conn}\r\nt=0 0\r\n{media}\r\n"
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        f"a=fmtp:101 0-15\r\n{extra}"
    ).encode()


def session() -> AudioSession:
    return AudioSession("198.51.100.1", 40000, session_id="777")


def test_parse_and_serialize_round_trip() -> None:
    sdp = parse_sdp(SDP_OFFER)
    assert sdp.origin.session_id == "1234" and sdp.connection is not None
    m = sdp.media[0]
    assert (m.media, m.port, m.proto, m.formats) == ("audio", 30000, "RTP/AVP", ["8", "0", "101"])
    assert [c.name for c in m.codecs()] == ["PCMA", "PCMU", "telephone-event"]
    assert m.codecs()[2].fmtp == "0-15"
    assert m.direction is Direction.SENDRECV
    assert parse_sdp(sdp.encode()).encode() == sdp.encode() == SDP_OFFER


def test_static_payload_types_need_no_rtpmap() -> None:
    sdp = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n"
    )
    assert [c.name for c in sdp.media[0].codecs()] == ["PCMU", "PCMA"]


def test_answer_takes_the_offerers_first_codec_and_its_event_payload_type() -> None:
    answer, media = session().answer(parse_sdp(offer()))
    m = answer.media[0]
    assert m.formats == ["8", "101"]  # RFC 3264 §6.1: the offer's payload type numbers
    assert m.attributes_named("rtpmap") == ["8 PCMA/8000", "101 telephone-event/8000"]
    assert m.attribute("ptime") == "20" and m.direction is Direction.SENDRECV
    assert media.codec.name == "PCMA" and media.telephone_event is not None
    assert (media.remote_address, media.remote_port, media.remote_rtcp_port) == ("192.0.2.10", 30000, 30001)
    assert media.send and media.receive


def test_answer_prefers_our_codecs_only_among_those_offered() -> None:
    ours = AudioSession("198.51.100.1", 40000, "1", codecs=(PCMU,))
    _, media = ours.answer(parse_sdp(offer()))
    assert media.codec.name == "PCMU" and media.codec.payload_type == 0


@pytest.mark.parametrize(
    "theirs, ours, answered, send, receive",
    [
        ("sendrecv", Direction.SENDRECV, "sendrecv", True, True),
        ("sendonly", Direction.SENDRECV, "recvonly", False, True),  # they hold us
        ("recvonly", Direction.SENDRECV, "sendonly", True, False),
        ("inactive", Direction.SENDRECV, "inactive", False, False),
        ("sendrecv", Direction.SENDONLY, "sendonly", True, False),  # we hold them
        ("sendonly", Direction.SENDONLY, "inactive", False, False),
    ],
)
def test_direction_matrix(theirs: str, ours: Direction, answered: str, send: bool, receive: bool) -> None:
    answer, media = session().answer(parse_sdp(offer(extra=f"a={theirs}\r\n")), ours)
    assert answer.media[0].direction is Direction(answered)
    assert (media.send, media.receive) == (send, receive)
    assert media.held_by_remote == (theirs in ("sendonly", "inactive"))


def test_rfc2543_hold_with_null_connection_reads_as_sendonly() -> None:
    answer, media = session().answer(parse_sdp(offer(conn="0.0.0.0")))
    assert answer.media[0].direction is Direction.RECVONLY and media.held_by_remote


def test_unusable_streams_are_refused_with_port_zero_keeping_the_m_line_count() -> None:
    body = offer(media="m=video 30002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 30000 RTP/AVP 8 0 101")
    answer, media = session().answer(parse_sdp(body))
    assert [(m.media, m.port) for m in answer.media] == [("video", 0), ("audio", 40000)]
    assert media.remote_port == 30000


def test_no_common_codec_is_a_negotiation_error() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    )
    with pytest.raises(SdpNegotiationError):
        session().answer(parse_sdp(body))
    with pytest.raises(SdpNegotiationError):
        session().answer(parse_sdp(offer(media="m=audio 0 RTP/AVP 8")))


def test_rtcp_attribute_and_media_level_connection_win() -> None:
    good = offer(media="m=audio 30000 RTP/AVP 8 0 101\r\nc=IN IP4 192.0.2.99", extra="a=rtcp:30011\r\n")
    _, media = session().answer(parse_sdp(good))
    assert (media.remote_address, media.remote_rtcp_port) == ("192.0.2.99", 30011)


def test_offer_and_version_rules() -> None:
    ours = session()
    first = ours.offer()
    m = first.media[0]
    assert m.formats == ["0", "8", "101"] and m.attribute("fmtp") == "101 0-16"
    assert first.origin.version == 0
    assert ours.offer().origin.version == 0  # unchanged: same version (RFC 3264 §8)
    held = ours.offer(Direction.SENDONLY)
    assert held.origin.version == 1 and held.media[0].direction is Direction.SENDONLY


def test_accept_answer_checks_the_answer_against_our_offer() -> None:
    ours = session()
    ours.offer()
    answer = offer(media="m=audio 30000 RTP/AVP 0 101", extra="a=recvonly\r\n")
    media = ours.accept_answer(parse_sdp(answer))
    assert media.codec.name == "PCMU" and media.send and not media.receive
    with pytest.raises(SdpNegotiationError):
        ours.accept_answer(parse_sdp(offer(media="m=audio 0 RTP/AVP 0")))
    with pytest.raises(SdpNegotiationError):
        ours.accept_answer(parse_sdp(offer(media="m=audio 30000 RTP/AVP 18")))


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"v=1\r\n",
        b"v=0\r\ns=-\r\n",  # no o=
        b"v=0\r\no=- 1 x IN IP4 1.2.3.4\r\ns=-\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n",  # no c= anywhere
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP9 1.2.3.4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nbogus\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nX=upper\r\n",
        b"\xff\xfe",
    ],
)
def test_malformed_sdp(bad: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_sdp(bad)
