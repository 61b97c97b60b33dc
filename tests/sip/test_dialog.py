"""Dialogs (RFC 3261 §12) and the Reason / Q.850 / end-reason tables (RFC 3326, RFC 3398)."""

from __future__ import annotations

import pytest

from telex.sip.dialog import Dialog, DialogState, RequestCheck
from telex.sip.errors import SipParseError, SipUsageError
from telex.sip.headers import Via
from telex.sip.message import Request, make_response, parse_datagram
from telex.sip.reasons import (
    Q850_TO_STATUS,
    STATUS_TO_Q850,
    EndCause,
    Reason,
    end_cause_for,
    format_reason,
    parse_reasons,
    rejection_for,
)
from telex.sip.uri import SipUri
from tests.sip.samples import invite

VIA = Via("UDP", "198.51.100.1", 5060, (("branch", "z9hG4bKnew"),))


def _invite(extra: str = "") -> Request:
    msg = parse_datagram(invite(extra=extra))
    assert isinstance(msg, Request)
    return msg


def test_uac_dialog_reverses_record_route_and_targets_contact() -> None:
    request = _invite()
    response = make_response(request, 200, to_tag="callee")
    response.headers.add("Record-Route", "<sip:p2@10.0.0.2;lr>")
    response.headers.add("Record-Route", "<sip:p1@10.0.0.1;lr>")
    response.headers.add("Contact", "<sip:callee@10.9.9.9:5070>")
    dialog = Dialog.from_response(request, response)
    assert dialog.state is DialogState.CONFIRMED and dialog.is_uac
    assert dialog.id == (request.call_id, "1928301774", "callee")
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p1@10.0.0.1;lr", "sip:p2@10.0.0.2;lr"]
    bye = dialog.create_request("BYE", VIA)
    assert bye.uri == SipUri("10.9.9.9", "callee", 5070)
    assert bye.headers.get_all("route") == ["<sip:p1@10.0.0.1;lr>", "<sip:p2@10.0.0.2;lr>"]
    assert bye.cseq.seq == request.cseq.seq + 1 and bye.cseq.method == "BYE"
    assert bye.from_.tag == "1928301774" and bye.to.tag == "callee"
    assert dialog.next_hop() == SipUri("10.0.0.1", "p1", params=(("lr", None),))


def test_strict_router_takes_the_request_uri() -> None:
    request = _invite()
    response = make_response(request, 200, to_tag="callee")
    response.headers.add("Record-Route", "<sip:strict@10.0.0.1>")
    response.headers.add("Contact", "<sip:callee@10.9.9.9>")
    dialog = Dialog.from_response(request, response)
    bye = dialog.create_request("BYE", VIA)
    assert bye.uri == SipUri("10.0.0.1", "strict")
    assert bye.headers.get_all("route") == ["<sip:callee@10.9.9.9>"]


def test_uas_dialog_keeps_record_route_order_and_checks_cseq() -> None:
    request = _invite(extra="Record-Route: <sip:p1@10.0.0.1;lr>, <sip:p2@10.0.0.2;lr>\r\n")
    dialog = Dialog.from_request(request, "ours", local_seq=100)
    assert not dialog.is_uac and dialog.state is DialogState.EARLY
    assert [str(r.uri) for r in dialog.route_set] == ["sip:p1@10.0.0.1;lr", "sip:p2@10.0.0.2;lr"]
    assert dialog.remote_target == SipUri("192.0.2.10", "gw", 5060)
    bye = dialog.create_request("BYE", VIA)
    assert bye.cseq.seq == 101 and bye.to.tag == "1928301774" and bye.from_.tag == "ours"
    older = _invite()
    older.headers.set("CSeq", f"{request.cseq.seq - 1} INVITE")
    assert dialog.check_request(older) is RequestCheck.OUT_OF_ORDER
    newer = parse_datagram(
        invite(cseq=request.cseq.seq + 1).replace(b"<sip:gw@192.0.2.10:5060>", b"<sip:gw@192.0.2.77>")
    )
    assert isinstance(newer, Request)
    assert dialog.check_request(newer) is RequestCheck.OK
    assert dialog.remote_target == SipUri("192.0.2.77", "gw")  # a re-INVITE refreshes the target


def test_ack_reuses_the_invite_number_and_credentials() -> None:
    request = _invite(
        extra='Authorization: Digest username="a", realm="r", nonce="n", uri="u", response="x"\r\n'
    )
    response = make_response(request, 200, to_tag="callee")
    dialog = Dialog.from_response(request, response)
    dialog.credentials = [("Authorization", request.headers.get("authorization") or "")]
    ack = dialog.create_request("ACK", VIA, cseq=request.cseq.seq)
    assert ack.cseq.seq == request.cseq.seq and ack.cseq.method == "ACK"
    assert ack.headers.get("authorization") == request.headers.get("authorization")
    assert dialog.local_seq == request.cseq.seq  # an ACK takes no new number
    with pytest.raises(SipUsageError):
        dialog.create_request("ACK", VIA)
    dialog.terminate()
    with pytest.raises(SipUsageError):
        dialog.create_request("BYE", VIA)


def test_reason_header_parse_and_format() -> None:
    reasons = parse_reasons(
        ['Q.850;cause=16;text="Normal call clearing", SIP;cause=200;text="Call completed elsewhere"']
    )
    assert reasons == [
        Reason("Q.850", 16, "Normal call clearing"),
        Reason("SIP", 200, "Call completed elsewhere"),
    ]
    assert format_reason(reasons[0]) == 'Q.850;cause=16;text="Normal call clearing"'
    with pytest.raises(SipParseError):
        parse_reasons(["Q.850;cause=abc"])


@pytest.mark.parametrize(
    "status, cause",
    [
        (486, EndCause.BUSY), (600, EndCause.BUSY), (603, EndCause.DECLINED), (404, EndCause.NOT_FOUND),
        (484, EndCause.NOT_FOUND), (408, EndCause.MISSED), (480, EndCause.MISSED),
        (487, EndCause.CANCELLED), (503, EndCause.UNAVAILABLE), (502, EndCause.UNAVAILABLE),
        (403, EndCause.FORBIDDEN), (488, EndCause.FAILED), (302, EndCause.FAILED),
        (599, EndCause.UNAVAILABLE),
    ],
)  # fmt: skip
def test_status_to_end_reason(status: int, cause: EndCause) -> None:
    assert end_cause_for(status) is cause


def test_q850_cause_in_reason_wins_over_the_status() -> None:
    assert end_cause_for(480, [Reason("Q.850", 20)]) is EndCause.UNAVAILABLE  # subscriber absent
    assert end_cause_for(480, [Reason("Q.850", 19)]) is EndCause.MISSED  # no answer
    assert end_cause_for(500, [Reason("SIP", 17)]) is EndCause.UNAVAILABLE  # not Q.850: ignored


def test_rejections_round_trip_through_the_tables() -> None:
    for cause in (
        EndCause.BUSY,
        EndCause.DECLINED,
        EndCause.NOT_FOUND,
        EndCause.UNAVAILABLE,
        EndCause.MISSED,
    ):
        status, reason = rejection_for(cause)
        assert end_cause_for(status, [reason]) is cause
    # RFC 3398: busy is 17 ⇄ 486, unallocated 1 ⇄ 404.
    assert (STATUS_TO_Q850[486], Q850_TO_STATUS[17]) == (17, 486)
    assert (STATUS_TO_Q850[404], Q850_TO_STATUS[1]) == (1, 404)
