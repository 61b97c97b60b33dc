"""The four transaction machines (RFC 3261 §17, RFC 6026): every (state, input) pair, driven
through the public API, against a table written out from the RFC figures; and the timers."""

from __future__ import annotations

import itertools

import pytest

from telex.sip.errors import SipUsageError
from telex.sip.message import Request, Response, make_response, parse_datagram
from telex.sip.transaction import (
    INPUTS,
    STATES,
    TABLES,
    Deliver,
    Effect,
    Input,
    Kind,
    State,
    TimedOut,
    TimerConfig,
    Transaction,
    Transmit,
    TransportFailed,
    build_non2xx_ack,
    server_key,
)
from tests.sip.samples import invite

T0 = 1000.0

# Written out from Figures 5-8 of RFC 3261 and the Accepted states of RFC 6026 §7-8, independent
# of the module's table: "state input -> next effects" (effects: send, resend, ack, deliver,
# timeout, fail). Pairs not listed: a network or timer input is absorbed (no change, no
# effect); a TU input is a misuse.
RFC = """
ict calling 1xx -> proceeding deliver
ict calling 2xx -> accepted deliver
ict calling 300-699 -> completed ack deliver
ict calling A -> calling send
ict calling B -> terminated timeout
ict calling transport -> terminated fail
ict proceeding 1xx -> proceeding deliver
ict proceeding 2xx -> accepted deliver
ict proceeding 300-699 -> completed ack deliver
ict accepted 2xx -> accepted deliver
ict accepted M -> terminated
ict completed 300-699 -> completed ack
ict completed D -> terminated
ict completed transport -> terminated fail
nict trying 1xx -> proceeding deliver
nict trying 2xx -> completed deliver
nict trying 300-699 -> completed deliver
nict trying E -> trying send
nict trying F -> terminated timeout
nict trying transport -> terminated fail
nict proceeding 1xx -> proceeding deliver
nict proceeding 2xx -> completed deliver
nict proceeding 300-699 -> completed deliver
nict proceeding E -> proceeding send
nict proceeding F -> terminated timeout
nict proceeding transport -> terminated fail
nict completed K -> terminated
ist proceeding request -> proceeding resend
ist proceeding send-1xx -> proceeding send
ist proceeding send-2xx -> accepted send
ist proceeding send-300-699 -> completed send
ist proceeding transport -> terminated fail
ist accepted ack -> accepted deliver
ist accepted send-2xx -> accepted send
ist accepted transport -> accepted fail
ist accepted L -> terminated
ist completed request -> completed resend
ist completed ack -> confirmed
ist completed G -> completed resend
ist completed H -> terminated timeout
ist completed transport -> terminated fail
ist confirmed I -> terminated
nist trying send-1xx -> proceeding send
nist trying send-2xx -> completed send
nist trying send-300-699 -> completed send
nist trying transport -> terminated fail
nist proceeding request -> proceeding resend
nist proceeding send-1xx -> proceeding send
nist proceeding send-2xx -> completed send
nist proceeding send-300-699 -> completed send
nist proceeding transport -> terminated fail
nist completed request -> completed resend
nist completed transport -> terminated fail
nist completed J -> terminated
"""
_NAMES = {
    "1xx": Input.RESPONSE_1XX, "2xx": Input.RESPONSE_2XX, "300-699": Input.RESPONSE_FINAL,
    "request": Input.REQUEST, "ack": Input.ACK, "send-1xx": Input.SEND_1XX,
    "send-2xx": Input.SEND_2XX, "send-300-699": Input.SEND_FINAL, "transport": Input.TRANSPORT_ERROR,
    **{letter: Input(letter) for letter in "ABDEFGHIJKLM"},
}  # fmt: skip
_TU = {Input.SEND_1XX, Input.SEND_2XX, Input.SEND_FINAL}


def _expected() -> dict[tuple[Kind, State, Input], tuple[State, list[str]] | None]:
    rows: dict[tuple[Kind, State, Input], tuple[State, list[str]] | None] = {}
    for line in RFC.strip().splitlines():
        left, right = line.split(" -> ")
        kind, state, inp = left.split()
        nxt, *effects = right.split()
        rows[(Kind(kind), State(state), _NAMES[inp])] = (State(nxt), effects)
    for kind in Kind:
        for state in STATES[kind]:
            for inp in INPUTS[kind]:
                rows.setdefault((kind, state, inp), None if inp in _TU else (state, []))
    return rows


EXPECTED = _expected()
PAIRS = sorted(EXPECTED, key=lambda k: (k[0].value, k[1].value, k[2].value))


def _invite(method: str = "INVITE") -> Request:
    raw = invite()
    if method != "INVITE":
        raw = raw.replace(b"INVITE sip", f"{method} sip".encode()).replace(
            b"314159 INVITE", f"314159 {method}".encode()
        )
    msg = parse_datagram(raw)
    assert isinstance(msg, Request)
    return msg


def _response(request: Request, status: int) -> Response:
    return make_response(request, status, to_tag="remote" if status > 100 else None)


def _ack(request: Request, response: Response) -> Request:
    return build_non2xx_ack(request, response)


def drive(kind: Kind, state: State, reliable: bool = False) -> tuple[Transaction, float]:
    """A transaction of ``kind`` brought into ``state`` the way the RFC's arrows go."""
    method = "INVITE" if kind in (Kind.INVITE_CLIENT, Kind.INVITE_SERVER) else "OPTIONS"
    req = _invite(method)
    tx = Transaction(kind, req, reliable=reliable, timers=TimerConfig())
    now = T0
    if tx.is_client:
        tx.start(now)
    paths: dict[tuple[Kind, State], list[str]] = {
        (Kind.INVITE_CLIENT, State.PROCEEDING): ["r180"],
        (Kind.INVITE_CLIENT, State.ACCEPTED): ["r200"],
        (Kind.INVITE_CLIENT, State.COMPLETED): ["r486"],
        (Kind.INVITE_CLIENT, State.TERMINATED): ["r486", "wait"],
        (Kind.NON_INVITE_CLIENT, State.PROCEEDING): ["r100"],
        (Kind.NON_INVITE_CLIENT, State.COMPLETED): ["r200"],
        (Kind.NON_INVITE_CLIENT, State.TERMINATED): ["r200", "wait"],
        (Kind.INVITE_SERVER, State.PROCEEDING): ["s100"],
        (Kind.INVITE_SERVER, State.ACCEPTED): ["s200"],
        (Kind.INVITE_SERVER, State.COMPLETED): ["s486"],
        (Kind.INVITE_SERVER, State.CONFIRMED): ["s486", "ack"],
        (Kind.INVITE_SERVER, State.TERMINATED): ["s486", "ack", "wait"],
        (Kind.NON_INVITE_SERVER, State.PROCEEDING): ["s100"],
        (Kind.NON_INVITE_SERVER, State.COMPLETED): ["s200"],
        (Kind.NON_INVITE_SERVER, State.TERMINATED): ["s200", "wait"],
    }
    for step in paths.get((kind, state), []):
        if step.startswith("r"):
            tx.receive_response(_response(req, int(step[1:])), now)
        elif step.startswith("s"):
            tx.respond(_response(req, int(step[1:])), now)
        elif step == "ack":
            assert tx.last_response is not None
            tx.receive_request(_ack(req, tx.last_response), now)
        else:
            now += 64
            tx.handle_timer(now)
    assert tx.state is state
    return tx, now


def _apply(tx: Transaction, inp: Input, now: float) -> list[Effect] | None:
    """Feed ``inp`` through the public API; None when the input cannot occur (a timer that the
    state never arms)."""
    req = tx.request
    if inp is Input.RESPONSE_1XX:
        return tx.receive_response(_response(req, 180), now)
    if inp is Input.RESPONSE_2XX:
        return tx.receive_response(_response(req, 200), now)
    if inp is Input.RESPONSE_FINAL:
        return tx.receive_response(_response(req, 486), now)
    if inp is Input.REQUEST:
        return tx.receive_request(req, now)
    if inp is Input.ACK:
        return tx.receive_request(_ack(req, _response(req, 486)), now)
    if inp is Input.SEND_1XX:
        return tx.respond(_response(req, 180), now)
    if inp is Input.SEND_2XX:
        return tx.respond(_response(req, 200), now)
    if inp is Input.SEND_FINAL:
        return tx.respond(_response(req, 486), now)
    if inp is Input.TRANSPORT_ERROR:
        return tx.transport_error(now)
    due = tx.armed.get(inp.value)
    if due is None:
        return None
    # Let the earlier timers (retransmissions) fire first; then fire this one alone.
    while min(tx.armed.values()) < due:
        tx.handle_timer(min(tx.armed.values()))
    return tx.handle_timer(due)


def _describe(effects: list[Effect], tx: Transaction) -> list[str]:
    out = []
    for e in effects:
        if isinstance(e, Transmit):
            if e.data.startswith(b"ACK "):
                out.append("ack")
            elif tx.is_client:
                out.append("send")
            else:
                out.append("send/resend")
        elif isinstance(e, Deliver):
            out.append("deliver")
        elif isinstance(e, TimedOut):
            out.append("timeout")
        elif isinstance(e, TransportFailed):
            out.append("fail")
    return out


def test_tables_are_total() -> None:
    for kind in Kind:
        assert set(TABLES[kind]) == {(s, i) for s in STATES[kind] for i in INPUTS[kind]}


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0].value}-{p[1].value}-{p[2].value}")
def test_every_state_input_pair(pair: tuple[Kind, State, Input]) -> None:
    kind, state, inp = pair
    tx, now = drive(kind, state)
    expected = EXPECTED[pair]
    if expected is None:
        with pytest.raises(SipUsageError):
            _apply(tx, inp, now)
        assert tx.state is state
        return
    nxt, effects = expected
    got = _apply(tx, inp, now)
    if got is None:
        # A timer this state never arms: the RFC draws no arrow, and the table must not either.
        assert (nxt, effects) == (state, []), f"{inp.value} should be armed in {state.value}"
        return
    want = ["send/resend" if e in ("send", "resend") and not tx.is_client else e for e in effects]
    assert _describe(got, tx) == want
    assert tx.state is nxt


def test_client_invite_retransmits_with_doubling_until_timer_b() -> None:
    tx = Transaction(Kind.INVITE_CLIENT, _invite(), reliable=False)
    sends = [T0] if tx.start(T0) else []
    timeouts = 0
    while not tx.terminated:
        due = tx.next_timer()
        assert due is not None
        for effect in tx.handle_timer(due):
            if isinstance(effect, Transmit):
                sends.append(due)
            timeouts += isinstance(effect, TimedOut)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(sends)]
    assert gaps == [0.5, 1, 2, 4, 8, 16]  # Timer A: T1 doubling; Timer B at 64*T1 = 32 s
    assert timeouts == 1 and tx.next_timer() is None


def test_non_invite_client_caps_retransmissions_at_t2() -> None:
    tx = Transaction(Kind.NON_INVITE_CLIENT, _invite("OPTIONS"), reliable=False)
    tx.start(T0)
    gaps, last = [], T0
    while not tx.terminated:
        due = tx.next_timer()
        assert due is not None
        if any(isinstance(e, Transmit) for e in tx.handle_timer(due)):
            gaps.append(round(due - last, 3))
            last = due
    assert gaps == [0.5, 1, 2, 4, 4, 4, 4, 4, 4, 4]  # E: doubling up to T2 = 4 s; F at 32 s


def test_non_invite_client_in_proceeding_retransmits_every_t2() -> None:
    tx = Transaction(Kind.NON_INVITE_CLIENT, _invite("OPTIONS"), reliable=False)
    tx.start(T0)
    tx.receive_response(_response(tx.request, 100), T0 + 0.1)
    first = tx.armed["E"]
    tx.handle_timer(first)
    assert tx.armed["E"] == pytest.approx(first + 4.0)


def test_server_invite_retransmits_final_response_until_ack() -> None:
    req = _invite()
    tx = Transaction(Kind.INVITE_SERVER, req, reliable=False)
    tx.respond(_response(req, 486), T0)
    assert tx.armed == {"G": T0 + 0.5, "H": T0 + 32}
    resent = tx.handle_timer(T0 + 0.5)
    assert [type(e) for e in resent] == [Transmit]
    assert tx.armed["G"] == T0 + 1.5
    assert tx.last_response is not None
    tx.receive_request(_ack(req, tx.last_response), T0 + 1)
    assert tx.state is State.CONFIRMED and tx.armed == {"I": T0 + 1 + 5}


@pytest.mark.parametrize("kind", list(Kind))
def test_reliable_transport_arms_no_retransmission_and_zero_waits(kind: Kind) -> None:
    req = _invite("INVITE" if kind in (Kind.INVITE_CLIENT, Kind.INVITE_SERVER) else "OPTIONS")
    tx = Transaction(kind, req, reliable=True)
    if tx.is_client:
        tx.start(T0)
        assert set(tx.armed) <= {"B", "F"}
        tx.receive_response(_response(req, 486 if kind is Kind.INVITE_CLIENT else 200), T0)
    else:
        tx.respond(_response(req, 486 if kind is Kind.INVITE_SERVER else 200), T0)
        if kind is Kind.INVITE_SERVER:
            assert set(tx.armed) == {"H"}
            assert tx.last_response is not None
            tx.receive_request(_ack(req, tx.last_response), T0)
    assert tx.terminated  # D, I, J and K are zero over TCP/TLS


def test_rfc6026_accepted_absorbs_invite_retransmission_and_passes_2xx() -> None:
    req = _invite()
    server = Transaction(Kind.INVITE_SERVER, req, reliable=False)
    server.respond(_response(req, 200), T0)
    assert server.receive_request(req, T0 + 1) == []  # not taken for a new call
    assert server.armed == {"L": T0 + 32}
    client = Transaction(Kind.INVITE_CLIENT, req, reliable=False)
    client.start(T0)
    client.receive_response(_response(req, 200), T0)
    again = client.receive_response(_response(req, 200), T0 + 1)
    assert [type(e) for e in again] == [Deliver]
    assert client.armed == {"M": T0 + 32}


def test_non2xx_ack_follows_17_1_1_3() -> None:
    req = parse_datagram(invite(extra="Route: <sip:p1@10.0.0.1;lr>\r\n"))
    assert isinstance(req, Request)
    resp = _response(req, 486)
    ack = build_non2xx_ack(req, resp)
    assert ack.method == "ACK" and ack.uri == req.uri
    assert [str(v) for v in ack.via] == [str(req.via[0])]
    assert ack.cseq.seq == req.cseq.seq and ack.cseq.method == "ACK"
    assert ack.to.tag == "remote" and ack.from_ == req.from_
    assert ack.headers.get("route") == "<sip:p1@10.0.0.1;lr>"
    assert server_key(ack) == server_key(req)  # it matches the INVITE's server transaction


def test_client_api_misuse() -> None:
    tx = Transaction(Kind.INVITE_CLIENT, _invite(), reliable=False)
    tx.start(T0)
    with pytest.raises(SipUsageError):
        tx.start(T0)
    with pytest.raises(SipUsageError):
        tx.respond(_response(tx.request, 200), T0)
    with pytest.raises(SipUsageError):
        tx.receive_request(tx.request, T0)
    server = Transaction(Kind.NON_INVITE_SERVER, _invite("OPTIONS"), reliable=False)
    with pytest.raises(SipUsageError):
        server.receive_response(_response(server.request, 200), T0)
