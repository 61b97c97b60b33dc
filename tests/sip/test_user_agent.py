"""The UA core end to end in memory: two UserAgents on a fake network with a hand-moved clock."""

from __future__ import annotations

import pytest

from telex.sip.digest import Credentials, DigestServer
from telex.sip.errors import SipUsageError
from telex.sip.events import (
    Answered,
    AuthChallenge,
    Confirmed,
    DtmfInfo,
    EarlyMedia,
    Ended,
    Event,
    IncomingCall,
    MediaUpdated,
    OptionsResult,
    Peer,
    ReinviteFailed,
)
from telex.sip.message import Request, Response, parse_datagram
from telex.sip.reasons import EndCause
from telex.sip.sdp import Direction
from telex.sip.user_agent import UserAgent
from tests.sip.harness import Net
from tests.sip.samples import SDP_OFFER, invite

CARRIER = ("192.0.2.10", 5060)
TELEX = ("198.51.100.1", 5060)
RTP_A = ("192.0.2.10", 30000)
RTP_B = ("198.51.100.1", 40000)


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def first(events: list[Event], kind: type) -> object:
    return next(e for e in events if isinstance(e, kind))


def wire(net: Net) -> list[str]:
    """Start lines on the wire, in order: 'A>B INVITE' or 'B>A 200'."""
    names = {CARRIER: "A", TELEX: "B"}
    out = []
    for src, dst, data in net.wire:
        line = data.split(b"\r\n", 1)[0].decode()
        what = line.split()[1] if line.startswith("SIP/2.0") else line.split()[0]
        out.append(f"{names.get((src.host, src.port), '?')}>{names.get((dst.host, dst.port), '?')} {what}")
    return out


def setup(**b_config: object) -> tuple[Net, UserAgent, UserAgent]:
    net = Net()
    a = net.add(*CARRIER)
    b = net.add(*TELEX, **b_config)
    return net, a, b


def dial(net: Net, a: UserAgent, b: UserAgent) -> tuple[str, IncomingCall]:
    call_id = a.invite("sip:+15551230000@198.51.100.1", peer=net.peer_of(b), rtp=RTP_A, now=net.now)
    net.pump()
    incoming = first(net.take(b), IncomingCall)
    assert isinstance(incoming, IncomingCall)
    return call_id, incoming


def test_call_set_up_and_torn_down_by_the_caller() -> None:
    net, a, b = setup()
    call_id, incoming = dial(net, a, b)
    assert incoming.call_id == call_id and incoming.has_offer
    assert incoming.source == Peer("udp", *CARRIER)
    b.ring(call_id, net.now)
    net.pump()
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    a_events, b_events = net.take(a), net.take(b)
    assert kinds(a_events) == ["Ringing", "Answered"]
    assert kinds(b_events) == ["Confirmed"]
    answered = first(a_events, Answered)
    confirmed = first(b_events, Confirmed)
    assert isinstance(answered, Answered) and isinstance(confirmed, Confirmed)
    assert (answered.media.remote_address, answered.media.remote_port) == RTP_B
    assert (confirmed.media.remote_address, confirmed.media.remote_port) == RTP_A
    assert answered.media.codec.name == confirmed.media.codec.name == "PCMU"
    assert answered.media.telephone_event is not None
    a.hangup(call_id, net.now)
    net.pump()
    ended_a, ended_b = first(net.take(a), Ended), first(net.take(b), Ended)
    assert ended_a == Ended(call_id, EndCause.HUNG_UP, False)
    assert isinstance(ended_b, Ended) and ended_b.cause is EndCause.REMOTE_HUNG_UP and ended_b.by_remote
    assert ended_b.reason is not None and ended_b.reason.cause == 16
    assert wire(net) == ["A>B INVITE", "B>A 100", "B>A 180", "B>A 200", "A>B ACK", "A>B BYE", "B>A 200"]
    net.advance(40)
    assert a.leg(call_id) is None and b.leg(call_id) is None and a.next_timer() is None


def test_callee_hangs_up_and_early_media_comes_first() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    b.early_media(call_id, net.now, rtp=RTP_B)
    net.pump()
    early = net.take(a)
    assert kinds(early) == ["EarlyMedia"]
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    answered = first(net.take(a), Answered)
    assert isinstance(answered, Answered)
    assert isinstance(early[0], EarlyMedia) and early[0].media == answered.media
    b.hangup(call_id, net.now)
    net.pump()
    assert first(net.take(a), Ended) == Ended(
        call_id, EndCause.REMOTE_HUNG_UP, True, None, first_reason(net, "BYE")
    )


def first_reason(net: Net, method: str):  # type: ignore[no-untyped-def]
    from telex.sip.reasons import parse_reasons

    for _, _, data in net.wire:
        if data.startswith(method.encode()):
            msg = parse_datagram(data)
            return parse_reasons(msg.headers.get_all("reason"))[0]
    return None


@pytest.mark.parametrize(
    "cause, status, end",
    [
        (EndCause.BUSY, 486, EndCause.BUSY),
        (EndCause.DECLINED, 603, EndCause.DECLINED),
        (EndCause.NOT_FOUND, 404, EndCause.NOT_FOUND),
        (EndCause.UNAVAILABLE, 503, EndCause.UNAVAILABLE),
    ],
)
def test_rejections_reach_the_caller_as_end_reasons(cause: EndCause, status: int, end: EndCause) -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    b.reject(call_id, net.now, cause)
    net.pump()
    ended = first(net.take(a), Ended)
    assert isinstance(ended, Ended) and (ended.cause, ended.status, ended.by_remote) == (end, status, True)
    assert ended.reason is not None and ended.reason.protocol == "Q.850"
    assert first(net.take(b), Ended) == Ended(call_id, cause, False, status)
    assert wire(net)[-2:] == [f"B>A {status}", "A>B ACK"]


def test_caller_cancels_while_ringing() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    b.ring(call_id, net.now)
    net.pump()
    a.hangup(call_id, net.now)
    net.pump()
    assert kinds(net.take(a)) == ["Ringing", "Ended"]
    ended = first(net.take(b), Ended)
    assert isinstance(ended, Ended) and (ended.cause, ended.by_remote, ended.status) == (
        EndCause.CANCELLED,
        True,
        487,
    )
    assert wire(net)[-4:] == ["A>B CANCEL", "B>A 200", "B>A 487", "A>B ACK"]
    with pytest.raises(SipUsageError):
        b.answer(call_id, net.now, rtp=RTP_B)


def test_cancel_waits_for_a_provisional_response() -> None:
    net, a, b = setup()
    net.drop = lambda src, dst, data: data.startswith(b"SIP/2.0 100")
    call_id, _ = dial(net, a, b)
    a.hangup(call_id, net.now)
    net.pump()
    assert "A>B CANCEL" not in wire(net)  # RFC 3261 §9.1: not before a 1xx
    net.drop = lambda src, dst, data: False
    b.ring(call_id, net.now)
    net.pump()
    assert wire(net)[-5:] == ["B>A 180", "A>B CANCEL", "B>A 200", "B>A 487", "A>B ACK"]


def test_answer_racing_the_cancel_is_acknowledged_then_ended() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    b.ring(call_id, net.now)
    net.pump()
    net.drop = lambda src, dst, data: data.startswith(b"CANCEL")
    a.hangup(call_id, net.now)
    net.pump()
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    tail = wire(net)
    assert tail[-4:] == ["B>A 200", "A>B ACK", "A>B BYE", "B>A 200"]
    assert kinds(net.take(a)) == ["Ringing", "Ended"]
    assert kinds(net.take(b)) == ["Confirmed", "Ended"]


def test_digest_both_ways() -> None:
    server = DigestServer("telex.test", b"k", {"trunk": "pw"}.get)
    net = Net()
    a = net.add(*CARRIER, credentials=lambda realm: Credentials("trunk", "pw"))
    b = net.add(*TELEX, auth=server)
    call_id, incoming = dial(net, a, b)
    assert incoming.request.headers.get("authorization") is not None
    challenge = first(net.take(a), AuthChallenge)
    assert challenge == AuthChallenge(call_id, "telex.test", 401, True)
    assert wire(net)[:5] == ["A>B INVITE", "B>A 401", "A>B ACK", "A>B INVITE", "B>A 100"]
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    assert kinds(net.take(a)) == ["Answered"]
    ack = next(d for _, _, d in reversed(net.wire) if d.startswith(b"ACK"))
    assert b"Authorization: Digest" in ack  # RFC 3261 §22.1: the 2xx ACK repeats the credentials


def test_wrong_password_ends_the_call_forbidden() -> None:
    net = Net()
    a = net.add(*CARRIER, credentials=lambda realm: Credentials("trunk", "nope"))
    b = net.add(*TELEX, auth=DigestServer("telex.test", b"k", {"trunk": "pw"}.get))
    a.invite("sip:x@198.51.100.1", peer=net.peer_of(b), rtp=RTP_A, now=net.now)
    net.pump()
    events = net.take(a)
    ended = first(events, Ended)
    assert isinstance(ended, Ended) and (ended.cause, ended.status) == (EndCause.FORBIDDEN, 403)
    assert net.take(b) == []


def test_no_credentials_reports_an_unanswered_challenge() -> None:
    net = Net()
    a = net.add(*CARRIER)
    b = net.add(*TELEX, auth=DigestServer("telex.test", b"k", {"trunk": "pw"}.get))
    call_id = a.invite("sip:x@198.51.100.1", peer=net.peer_of(b), rtp=RTP_A, now=net.now)
    net.pump()
    events = net.take(a)
    assert events[0] == AuthChallenge(call_id, "telex.test", 401, False)
    assert isinstance(events[1], Ended) and events[1].cause is EndCause.FORBIDDEN


def established(**b_config: object) -> tuple[Net, UserAgent, UserAgent, str]:
    net, a, b = setup(**b_config)
    call_id, _ = dial(net, a, b)
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    net.take(a)
    net.take(b)
    return net, a, b, call_id


def test_hold_and_resume_by_the_callee() -> None:
    net, a, b, call_id = established()
    b.hold(call_id, net.now)
    net.pump()
    held_b, held_a = first(net.take(b), MediaUpdated), first(net.take(a), MediaUpdated)
    assert isinstance(held_b, MediaUpdated) and not held_b.by_remote
    assert held_b.media.send and not held_b.media.receive  # sendonly: music on hold goes out
    assert isinstance(held_a, MediaUpdated) and held_a.by_remote and held_a.media.held_by_remote
    assert not held_a.media.send and held_a.media.receive
    b.hold(call_id, net.now)  # already held: nothing to do
    net.pump()
    assert net.take(b) == []
    b.resume(call_id, net.now)
    net.pump()
    resumed = first(net.take(a), MediaUpdated)
    assert isinstance(resumed, MediaUpdated) and resumed.media.send and resumed.media.receive
    invites = [parse_datagram(d) for _, _, d in net.wire if d.startswith(b"INVITE")]
    assert [b"a=sendonly" in m.body for m in invites] == [False, True, False]
    assert all(isinstance(m, Request) and m.to.tag for m in invites[1:])


def test_reinvite_glare_is_resolved_by_491_and_retry() -> None:
    net, a, b, call_id = established()
    a.hold(call_id, net.now)
    b.hold(call_id, net.now)
    net.pump()
    assert wire(net).count("A>B 491") + wire(net).count("B>A 491") == 2
    net.advance(5)
    a_updates = [e for e in net.take(a) if isinstance(e, MediaUpdated)]
    b_updates = [e for e in net.take(b) if isinstance(e, MediaUpdated)]
    assert a_updates and b_updates
    # Both wanted sendonly; once both offers went through, nobody receives.
    assert not a_updates[-1].media.receive and not b_updates[-1].media.receive


def test_reinvite_refused_keeps_the_call() -> None:
    net, a, b, call_id = established()
    leg = b.leg(call_id)
    assert leg is not None and leg.audio is not None
    a_leg = a.leg(call_id)
    assert a_leg is not None and a_leg.audio is not None
    a_leg.audio.codecs = ()  # the caller can no longer take any codec: it answers 488
    b.hold(call_id, net.now)
    net.pump()
    assert first(net.take(b), ReinviteFailed) == ReinviteFailed(call_id, 488)
    assert b.leg(call_id) is not None and not b.leg(call_id).ended  # type: ignore[union-attr]


def test_lost_2xx_is_retransmitted_and_acknowledged_once_per_copy() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    dropped = []

    def drop_first_200(src: Peer, dst: Peer, data: bytes) -> bool:
        if data.startswith(b"SIP/2.0 200") and not dropped:
            dropped.append(data)
            return True
        return False

    net.drop = drop_first_200
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    assert net.take(a) == []
    net.advance(0.6)  # T1: the UAS core retransmits its 2xx (RFC 3261 §13.3.1.4)
    assert kinds(net.take(a)) == ["Answered"]
    assert kinds(net.take(b)) == ["Confirmed"]
    net.advance(10)
    assert wire(net).count("B>A 200") == 2 and wire(net).count("A>B ACK") == 1


def test_no_ack_ends_the_call_after_64_t1_with_a_bye() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    net.drop = lambda src, dst, data: data.startswith(b"ACK")
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    net.advance(33)
    ended = first(net.take(b), Ended)
    assert isinstance(ended, Ended) and (ended.cause, ended.status) == (EndCause.CONNECTION_LOST, 408)
    assert "B>A BYE" in wire(net)
    assert 6 <= wire(net).count("B>A 200") <= 12


def test_unanswered_invite_times_out_with_timer_b() -> None:
    net = Net()
    a = net.add(*CARRIER)
    call_id = a.invite("sip:x@203.0.113.9", peer=Peer("udp", "203.0.113.9", 5060), rtp=RTP_A, now=net.now)
    net.pump()
    net.advance(31)
    assert net.take(a) == []
    net.advance(2)
    assert first(net.take(a), Ended) == Ended(call_id, EndCause.UNAVAILABLE, False, 408)
    assert len(net.wire) == 7  # the INVITE and six Timer A retransmissions


def test_retransmitted_invite_is_absorbed() -> None:
    net, a, b = setup()
    net.drop = lambda src, dst, data: data.startswith(b"SIP/2.0 100")
    _call_id, _ = dial(net, a, b)
    net.advance(2)
    assert wire(net).count("A>B INVITE") >= 2
    assert net.take(b) == []  # one IncomingCall only


def test_options_ping_both_ways_and_unknown_methods() -> None:
    net, a, b = setup()
    handle = a.send_options(net.peer_of(b), net.now)
    net.pump()
    assert net.take(a) == [OptionsResult(handle, net.peer_of(b), 200)]
    ok = next(d for s, _, d in net.wire if d.startswith(b"SIP/2.0 200"))
    assert b"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO" in ok
    lost = a.send_options(Peer("udp", "203.0.113.9", 5060), net.now)
    net.advance(40)
    assert net.take(a) == [OptionsResult(lost, Peer("udp", "203.0.113.9", 5060), None)]


def _raw(net: Net, ua: UserAgent, data: bytes, source: tuple[str, int] = CARRIER) -> list[Response]:
    ua.receive_datagram(data, Peer("udp", *source), net.now)
    out = []
    for o in ua.data_to_send():
        msg = parse_datagram(o.data)
        if isinstance(msg, Response):
            out.append(msg)
    return out


@pytest.mark.parametrize(
    "method, status",
    [("REGISTER", 405), ("SUBSCRIBE", 405), ("FOO", 501), ("BYE", 481), ("INFO", 481)],
)
def test_out_of_dialog_requests(method: str, status: int) -> None:
    net = Net()
    b = net.add(*TELEX)
    data = (
        invite(body=b"")
        .replace(b"INVITE sip", f"{method} sip".encode())
        .replace(b"314159 INVITE", f"314159 {method}".encode())
    )
    assert [r.status for r in _raw(net, b, data)] == [status]


def test_unsupported_require_and_media_are_refused() -> None:
    net = Net()
    b = net.add(*TELEX)
    [resp] = _raw(net, b, invite(extra="Require: 100rel\r\n"))
    assert resp.status == 420 and resp.headers.get("unsupported") == "100rel"
    g729 = SDP_OFFER.replace(b"RTP/AVP 8 0 101", b"RTP/AVP 18")
    [resp] = _raw(net, b, invite(body=g729, branch="z9hG4bK2", call_id="c2"))
    assert resp.status == 488
    [resp] = _raw(net, b, invite(body=b"garbage", branch="z9hG4bK3", call_id="c3"))
    assert resp.status == 400
    [resp] = _raw(net, b, invite(uri="mailto:a@b.com", branch="z9hG4bK4", call_id="c4"))
    assert resp.status == 416
    assert net.take(b) == [] and b.events() == []


def test_accept_from_drops_strangers_quietly() -> None:
    net = Net()
    b = net.add(*TELEX, accept_from=lambda p: p.host == CARRIER[0])
    assert _raw(net, b, invite(), source=("203.0.113.66", 5060)) == []
    assert b.counters.refused == 1 and b.events() == []
    assert [r.status for r in _raw(net, b, invite())] == [100]


def test_late_offer_invite_gets_our_offer_and_the_ack_answers() -> None:
    net = Net()
    b = net.add(*TELEX)
    assert [r.status for r in _raw(net, b, invite(body=b""))] == [100]
    [incoming] = b.events()
    assert isinstance(incoming, IncomingCall) and not incoming.has_offer
    b.answer(incoming.call_id, net.now, rtp=RTP_B)
    [ok] = [parse_datagram(o.data) for o in b.data_to_send()]
    assert isinstance(ok, Response) and ok.status == 200 and b"m=audio 40000 RTP/AVP 0 8 101" in ok.body
    answer = SDP_OFFER.replace(b"RTP/AVP 8 0 101", b"RTP/AVP 8 101")
    ack = (
        f"ACK sip:telex@198.51.100.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack\r\n"
        f"Max-Forwards: 70\r\nTo: {ok.headers.get('to')}\r\nFrom: {ok.headers.get('from')}\r\n"
        f"Call-ID: {ok.call_id}\r\nCSeq: 314159 ACK\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(answer)}\r\n\r\n"
    ).encode() + answer
    b.receive_datagram(ack, Peer("udp", *CARRIER), net.now)
    [confirmed] = b.events()
    assert isinstance(confirmed, Confirmed) and confirmed.media.codec.name == "PCMA"


def test_bye_follows_record_route_and_info_carries_dtmf() -> None:
    net = Net()
    b = net.add(*TELEX)
    _raw(net, b, invite(extra="Record-Route: <sip:10.1.1.1:5070;lr>\r\n"))
    [incoming] = b.events()
    assert isinstance(incoming, IncomingCall)
    b.answer(incoming.call_id, net.now, rtp=RTP_B)
    [ok] = [parse_datagram(o.data) for o in b.data_to_send()]
    assert ok.headers.get("record-route") == "<sip:10.1.1.1:5070;lr>"
    ack = (
        f"ACK sip:telex@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack2\r\n"
        f"To: {ok.headers.get('to')}\r\nFrom: {ok.headers.get('from')}\r\nCall-ID: {ok.call_id}\r\n"
        "CSeq: 314159 ACK\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    assert _raw(net, b, ack) == []
    assert isinstance(b.events()[0], Confirmed)
    info = (
        f"INFO sip:telex@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinfo\r\n"
        f"To: {ok.headers.get('to')}\r\nFrom: {ok.headers.get('from')}\r\nCall-ID: {ok.call_id}\r\n"
        "CSeq: 314160 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 25\r\n\r\n"
        "Signal=11\r\nDuration=160\r\n"
    ).encode()
    assert [r.status for r in _raw(net, b, info)] == [200]
    assert b.events() == [DtmfInfo(incoming.call_id, "#", 160)]
    b.hangup(incoming.call_id, net.now)
    outs = b.data_to_send()
    bye = next(parse_datagram(o.data) for o in outs if o.data.startswith(b"BYE"))
    assert isinstance(bye, Request) and bye.headers.get("route") == "<sip:10.1.1.1:5070;lr>"
    assert next(o.peer for o in outs if o.data.startswith(b"BYE")) == Peer("udp", "10.1.1.1", 5070)


def test_in_dialog_request_with_wrong_tags_gets_481() -> None:
    net, _a, b, call_id = established()
    leg = b.leg(call_id)
    assert leg is not None
    bye = (
        invite(call_id=call_id, to_tag="not-ours", body=b"")
        .replace(b"INVITE sip", b"BYE sip")
        .replace(b"314159 INVITE", b"9 BYE")
    )
    assert [r.status for r in _raw(net, b, bye)] == [481]


def test_a_call_over_tcp() -> None:
    net = Net()
    a = net.add(*CARRIER, transport="tcp")
    b = net.add(*TELEX, transport="tcp")
    call_id = a.invite("sip:x@198.51.100.1", peer=net.peer_of(b, "tcp"), rtp=RTP_A, now=net.now)
    net.pump()
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    assert kinds(net.take(a)) == ["Answered"]
    assert b"Via: SIP/2.0/TCP" in net.wire[0][2] and b"transport=tcp" in net.wire[0][2]
    a.hangup(call_id, net.now)
    net.pump()
    net.advance(0.1)
    assert a.next_timer() is not None  # only the linger timer: no retransmission over TCP
    assert wire(net).count("A>B BYE") == 1


def test_hold_needs_an_established_call() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    with pytest.raises(SipUsageError):
        b.hold(call_id, net.now)
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    assert b.leg(call_id).direction is Direction.SENDRECV  # type: ignore[union-attr]


def test_hangup_before_the_ack_waits_for_it_then_sends_bye() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    net.drop = lambda src, dst, data: data.startswith(b"ACK")
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    b.hangup(call_id, net.now)
    net.pump()
    assert "B>A BYE" not in wire(net)  # RFC 3261 §15: not before the ACK
    net.drop = lambda src, dst, data: False
    net.advance(0.6)  # the 2xx retransmission brings a fresh ACK, then the BYE goes
    assert wire(net)[-3:] == ["A>B ACK", "B>A BYE", "A>B 200"]
    assert kinds(net.take(b)) == ["Ended"]


def test_transport_error_ends_a_pending_call_unavailable() -> None:
    net = Net()
    a = net.add(*CARRIER)
    peer = Peer("udp", "203.0.113.9", 5060)
    call_id = a.invite("sip:x@203.0.113.9", peer=peer, rtp=RTP_A, now=net.now)
    a.data_to_send()
    a.transport_error(peer, net.now)
    assert a.events() == [Ended(call_id, EndCause.UNAVAILABLE, False, 503)]


def test_answer_without_sdp_after_an_sdp_offer_is_refused_with_bye() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    leg = b.leg(call_id)
    assert leg is not None
    b.answer(call_id, net.now, rtp=RTP_B)
    out = b.data_to_send()
    ok = next(o for o in out if o.data.startswith(b"SIP/2.0 200"))
    head, _, _ = ok.data.partition(b"\r\n\r\n")
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith((b"Content-", b"l:")))
    a.receive_datagram(head + b"\r\nContent-Length: 0\r\n\r\n", net.peer_of(b), net.now)
    ended = first(a.events(), Ended)
    assert isinstance(ended, Ended) and (ended.cause, ended.status) == (EndCause.FAILED, 488)
    assert [o.data.split(b" ")[0] for o in a.data_to_send()] == [b"ACK", b"BYE"]


def test_second_2xx_from_another_fork_is_acknowledged_and_ended() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    b.answer(call_id, net.now, rtp=RTP_B)
    ok = next(o.data for o in b.data_to_send() if o.data.startswith(b"SIP/2.0 200"))
    a.receive_datagram(ok, net.peer_of(b), net.now)
    assert kinds(a.events()) == ["Answered"]
    a.data_to_send()
    leg = b.leg(call_id)
    assert leg is not None
    forked = ok.replace(leg.local_tag.encode(), b"otherfork")
    a.receive_datagram(forked, net.peer_of(b), net.now)
    sent = [o.data for o in a.data_to_send()]
    assert [d.split(b" ")[0] for d in sent] == [b"ACK", b"BYE"]
    assert all(b"tag=otherfork" in d for d in sent)
    assert a.events() == []  # the call itself goes on


def test_reinvite_while_our_2xx_awaits_its_ack_gets_500_retry_after() -> None:
    net, a, b = setup()
    call_id, _ = dial(net, a, b)
    net.drop = lambda src, dst, data: data.startswith(b"ACK")
    b.answer(call_id, net.now, rtp=RTP_B)
    net.pump()
    net.drop = lambda src, dst, data: False
    a.hold(call_id, net.now)
    net.pump()
    assert "B>A 500" in wire(net)
    reply = next(d for s, _, d in net.wire if d.startswith(b"SIP/2.0 500"))
    assert b"Retry-After:" in reply
    assert first(net.take(a), ReinviteFailed) == ReinviteFailed(call_id, 500)


def test_in_dialog_options_and_out_of_order_cseq() -> None:
    net, a, b, call_id = established()
    leg = a.leg(call_id)
    assert leg is not None and leg.dialog is not None
    dialog = leg.dialog
    from telex.sip.headers import Via

    options = dialog.create_request("OPTIONS", Via("UDP", *CARRIER, (("branch", "z9hG4bKopt"),)))
    assert [r.status for r in _raw(net, b, options.encode())] == [200]
    stale = dialog.create_request("INFO", Via("UDP", *CARRIER, (("branch", "z9hG4bKold"),)), cseq=None)
    stale.headers.set("CSeq", f"{dialog.local_seq - 5} INFO")
    assert [r.status for r in _raw(net, b, stale.encode())] == [500]


def test_tcp_keepalive_ping_gets_a_pong_and_broken_framing_closes() -> None:
    net = Net()
    b = net.add(*TELEX, transport="tcp")
    peer = Peer("tcp", *CARRIER)
    assert b.receive_stream(b"\r\n\r\n", peer, net.now)
    assert [o.data for o in b.data_to_send()] == [b"\r\n"]
    assert not b.receive_stream(b"INVITE sip:x@y SIP/2.0\r\nVia: nonsense\r\n\r\n", peer, net.now)
    assert b.counters.stream_errors == 1


def test_dtmf_info_plain_digit_and_bad_signal() -> None:
    net, a, b, call_id = established()
    leg = a.leg(call_id)
    assert leg is not None and leg.dialog is not None
    from telex.sip.headers import Via

    for n, (kind, body, status) in enumerate(
        [
            ("application/dtmf", b"7", 200),
            ("application/dtmf-relay", b"Signal=Z\r\n", 400),
            ("text/plain", b"x", 415),
        ]
    ):
        info = leg.dialog.create_request(
            "INFO", Via("UDP", *CARRIER, (("branch", f"z9hG4bKi{n}"),)), body=body, content_type=kind
        )
        assert [r.status for r in _raw(net, b, info.encode())] == [status]
    assert b.events() == [DtmfInfo(call_id, "7", None)]
