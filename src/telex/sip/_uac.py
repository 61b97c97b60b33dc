"""The UAC half of the UA core: the requests we send (INVITE with its CANCEL and the ACK for its
2xx, re-INVITE for hold and resume, OPTIONS) and what their responses mean.

    invite ─► INVITE ─► 1xx: Ringing / EarlyMedia ─► 2xx: ACK + Answered
                    └─► 401/407: credentials, INVITE again ─► 3xx-6xx: Ended(end_cause_for)
    hold / resume ─► re-INVITE (sendonly / sendrecv) ─► 2xx: ACK + MediaUpdated; 491: retry later
"""

from __future__ import annotations

from telex.sip._ua_base import (
    ALLOW,
    SDP,
    UaBase,
    challenge_realm,
    credentials_of,
    first_reason,
    token,
)
from telex.sip.dialog import Dialog, DialogState
from telex.sip.digest import DigestClient
from telex.sip.errors import SipUsageError
from telex.sip.events import (
    Answered,
    AuthChallenge,
    EarlyMedia,
    MediaUpdated,
    OptionsResult,
    Outgoing,
    Peer,
    ReinviteFailed,
    Ringing,
)
from telex.sip.headers import Headers
from telex.sip.leg import Leg, LegState, LegTimer
from telex.sip.message import (
    Request,
    Response,
)
from telex.sip.reasons import EndCause, end_cause_for, q850_reason
from telex.sip.sdp import AudioSession, Direction
from telex.sip.uri import NameAddr, SipUri, Uri, parse_uri

__all__ = ["UacHalf"]


class UacHalf(UaBase):
    def invite(
        self,
        target: Uri | str,
        *,
        peer: Peer,
        rtp: tuple[str, int],
        now: float,
        from_user: str | None = None,
        display_name: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> str:
        """Place a call to ``target`` through ``peer`` (the trunk's address); returns its Call-ID.
        The SDP offer describes our RTP endpoint at ``rtp``."""
        uri = parse_uri(target) if isinstance(target, str) else target
        call_id = f"{token()}@{self.config.host}"
        local_tag = token()
        audio = AudioSession(rtp[0], rtp[1], session_id=str(self._rng.randrange(1, 2**31)))
        user = from_user or self.config.user
        from_uri = SipUri(self.config.host, user)
        from_ = NameAddr(from_uri, display_name, (("tag", local_tag),))
        offer = audio.offer()
        headers_ = Headers()
        headers_.add("Via", str(self._via(peer)))
        headers_.add("Max-Forwards", "70")
        headers_.add("From", str(from_))
        headers_.add("To", str(NameAddr(uri)))
        headers_.add("Call-ID", call_id)
        headers_.add("CSeq", f"{self._rng.randrange(1, 2**16)} INVITE")
        headers_.add("Contact", str(self._contact(peer)))
        headers_.add("Allow", ALLOW)
        headers_.add("User-Agent", self.config.user_agent)
        for name, value in headers or ():
            headers_.add(name, value)
        headers_.add("Content-Type", SDP)
        request = Request(headers_, offer.encode(), "INVITE", uri)
        leg = Leg(call_id, True, peer, LegState.CALLING, request, local_tag, audio=audio)
        if self.config.credentials is not None:
            leg.auth = DigestClient(self.config.credentials)
        self._add_leg(leg)
        self._send_invite(leg, now)
        return call_id

    def send_options(self, peer: Peer, now: float, uri: Uri | None = None) -> str:
        """An out-of-dialog OPTIONS (a trunk keep-alive); the answer comes as ``OptionsResult``."""
        handle = token()
        target = uri or SipUri(peer.host, None, peer.port)
        headers = Headers()
        headers.add("Via", str(self._via(peer)))
        headers.add("Max-Forwards", "70")
        headers.add(
            "From", str(NameAddr(SipUri(self.config.host, self.config.user), None, (("tag", token()),)))
        )
        headers.add("To", str(NameAddr(target)))
        headers.add("Call-ID", f"{handle}@{self.config.host}")
        headers.add("CSeq", "1 OPTIONS")
        headers.add("Accept", SDP)
        headers.add("User-Agent", self.config.user_agent)
        request = Request(headers, b"", "OPTIONS", target)

        def done(response: Response, now: float) -> None:
            if response.status >= 200:
                self._events.append(OptionsResult(handle, peer, response.status))

        def failed(timed_out: bool, now: float) -> None:
            self._events.append(OptionsResult(handle, peer, None))

        self._start_client(request, peer, now, done, failed)
        return handle

    def hold(self, call_id: str, now: float) -> None:
        """Re-INVITE with ``a=sendonly``: the peer stops sending us media (RFC 3264 §8.4)."""
        self._set_direction(call_id, Direction.SENDONLY, now)

    def resume(self, call_id: str, now: float) -> None:
        self._set_direction(call_id, Direction.SENDRECV, now)

    def _send_invite(self, leg: Leg, now: float) -> None:
        leg.invite_tx = self._start_client(
            leg.invite,
            leg.peer,
            now,
            lambda response, now: self._on_invite_response(leg, response, now),
            lambda timed_out, now: self._on_invite_failure(leg, timed_out, now),
        )

    def _on_invite_failure(self, leg: Leg, timed_out: bool, now: float) -> None:
        leg.deadlines.pop(LegTimer.CANCEL_GUARD, None)
        self._end(leg, EndCause.UNAVAILABLE, by_remote=False, status=408 if timed_out else 503, now=now)
        leg.state = LegState.ENDED

    def _on_invite_response(self, leg: Leg, response: Response, now: float) -> None:
        status = response.status
        if status < 200:
            self._on_invite_provisional(leg, response, now)
        elif status < 300:
            self._on_invite_2xx(leg, response, now)
        else:
            self._on_invite_failed(leg, response, now)

    def _on_invite_provisional(self, leg: Leg, response: Response, now: float) -> None:
        if leg.cancel_owed:
            leg.cancel_owed = False
            self._send_cancel(leg, now)
        if leg.state is LegState.CANCELLING or leg.ended or response.status == 100:
            return
        if response.to.tag is not None and leg.dialog is None:
            leg.dialog = Dialog.from_response(leg.invite, response)
        leg.state = LegState.EARLY
        if response.status in (180, 181, 182):
            self._events.append(Ringing(leg.call_id, response.status))
        if response.body and response.content_type == SDP and response.body != leg.early_sdp:
            leg.early_sdp = response.body
            if self._take_answer(leg, response.body) and leg.media is not None:
                self._events.append(EarlyMedia(leg.call_id, leg.media))

    def _on_invite_2xx(self, leg: Leg, response: Response, now: float) -> None:
        remote_tag = response.to.tag
        if leg.last_ack is not None and leg.dialog is not None and remote_tag == leg.dialog.remote_tag:
            cseq, sent = leg.last_ack
            if cseq == response.cseq.seq:
                self._out.append(Outgoing(self._next_hop(leg), sent))  # a retransmitted 2xx
            return
        if remote_tag is None:
            return  # a 2xx must carry a To tag; without one there is no dialog to acknowledge
        if leg.last_ack is not None or (
            leg.dialog is not None
            and leg.dialog.remote_tag != remote_tag
            and leg.dialog.state is DialogState.CONFIRMED
        ):
            # §13.2.2.4: a second 2xx from another fork: acknowledge it, then end that dialog.
            other = Dialog.from_response(leg.invite, response)
            self._ack_and_bye(leg, other, response, now)
            return
        if leg.dialog is None or leg.dialog.remote_tag != remote_tag:
            leg.dialog = Dialog.from_response(leg.invite, response)
        dialog = leg.dialog
        dialog.update_from_response(leg.invite, response)
        dialog.confirm()
        dialog.credentials = credentials_of(leg.invite)
        ack = dialog.create_request("ACK", self._via(leg.peer), cseq=leg.invite.cseq.seq)
        data = ack.encode()
        leg.last_ack = (leg.invite.cseq.seq, data)
        self._out.append(Outgoing(self._next_hop(leg), data))
        leg.deadlines.pop(LegTimer.CANCEL_GUARD, None)
        if leg.state is LegState.CANCELLING or leg.ended:
            self._send_bye(leg, now)  # the CANCEL lost the race with the answer (§9.1)
            return
        if (response.body and not self._take_answer(leg, response.body)) or leg.media is None:
            self._send_bye(leg, now, q850_reason(127))
            self._end(leg, EndCause.FAILED, by_remote=False, status=488, now=now)
            return
        leg.state = LegState.ESTABLISHED
        self._events.append(Answered(leg.call_id, leg.media))

    def _ack_and_bye(self, leg: Leg, dialog: Dialog, response: Response, now: float) -> None:
        ack = dialog.create_request("ACK", self._via(leg.peer), cseq=leg.invite.cseq.seq)
        self._out.append(Outgoing(leg.peer, ack.encode()))
        bye = dialog.create_request("BYE", self._via(leg.peer))
        self._start_client(bye, leg.peer, now, lambda r, n: None, lambda t, n: None)

    def _on_invite_failed(self, leg: Leg, response: Response, now: float) -> None:
        status = response.status
        leg.deadlines.pop(LegTimer.CANCEL_GUARD, None)
        if status in (401, 407) and not leg.ended and leg.auth is not None:
            headers = leg.auth.authorize(leg.invite, response)
            realm = challenge_realm(response)
            self._events.append(AuthChallenge(leg.call_id, realm, status, headers is not None))
            if headers is not None:
                self._resend_with_auth(leg, headers, now)
                return
        elif status in (401, 407):
            self._events.append(AuthChallenge(leg.call_id, challenge_realm(response), status, False))
        reasons = first_reason(response)
        cause = end_cause_for(status, [reasons] if reasons else [])
        if leg.state is LegState.CANCELLING:
            cause = EndCause.CANCELLED
        self._end(leg, cause, by_remote=True, status=status, now=now, reason=reasons)
        leg.state = LegState.ENDED

    def _resend_with_auth(self, leg: Leg, auth_headers: list[tuple[str, str]], now: float) -> None:
        """§22.2: the same request with a new CSeq number and branch, plus credentials."""
        old = leg.invite
        headers = Headers()
        for name, value in old.headers:
            low = name.lower()
            if low in ("authorization", "proxy-authorization"):
                continue
            if low == "via":
                value = str(self._via(leg.peer))
            elif low == "cseq":
                value = f"{old.cseq.seq + 1} INVITE"
            headers.add(name, value)
        for name, value in auth_headers:
            headers.add(name, value)
        leg.invite = Request(headers, old.body, "INVITE", old.uri)
        leg.state = LegState.CALLING
        leg.dialog = None
        self._send_invite(leg, now)

    def _send_cancel(self, leg: Leg, now: float) -> None:
        """§9.1: same Request-URI, Call-ID, From, To, CSeq number and top Via as the INVITE."""
        invite = leg.invite
        headers = Headers()
        headers.add("Via", str(invite.via[0]))
        for value in invite.headers.get_all("route"):
            headers.add("Route", value)
        headers.add("Max-Forwards", "70")
        headers.add("From", invite.headers.get("from") or "")
        headers.add("To", invite.headers.get("to") or "")
        headers.add("Call-ID", invite.call_id)
        headers.add("CSeq", f"{invite.cseq.seq} CANCEL")
        if leg.end_reason is not None:
            headers.add("Reason", str(leg.end_reason))
        cancel = Request(headers, b"", "CANCEL", invite.uri)
        self._start_client(cancel, leg.peer, now, lambda r, n: None, lambda t, n: None)
        self._arm(leg, LegTimer.CANCEL_GUARD, now + 64 * self.config.timers.t1)

    def _set_direction(self, call_id: str, direction: Direction, now: float) -> None:
        leg = self._legs.get(call_id)
        if leg is None or leg.ended or leg.state is not LegState.ESTABLISHED:
            raise SipUsageError("hold and resume need an established call")
        leg.direction = direction
        self._maybe_reinvite(leg, now)

    def _maybe_reinvite(self, leg: Leg, now: float) -> None:
        busy = leg.reinvite_pending or leg.pending_2xx is not None
        if (
            busy
            or leg.ended
            or leg.direction == leg.offered_direction
            or LegTimer.REINVITE_RETRY in leg.deadlines
        ):
            return
        assert leg.dialog is not None and leg.audio is not None
        direction = leg.direction
        offer = leg.audio.offer(direction)
        request = leg.dialog.create_request(
            "INVITE",
            self._via(self._next_hop(leg)),
            contact=self._contact(leg.peer),
            body=offer.encode(),
            content_type=SDP,
            extra=[("Allow", ALLOW)],
        )
        auth = DigestClient(self.config.credentials) if self.config.credentials else None
        peer = self._next_hop(leg)

        def on_response(response: Response, now: float) -> None:
            nonlocal request
            if response.status < 200:
                return
            leg.reinvite_pending = False
            if response.status < 300:
                if leg.last_ack is not None and leg.last_ack[0] == request.cseq.seq:
                    self._out.append(Outgoing(peer, leg.last_ack[1]))
                    return
                assert leg.dialog is not None
                leg.dialog.update_from_response(request, response)
                ack = leg.dialog.create_request("ACK", self._via(peer), cseq=request.cseq.seq)
                leg.last_ack = (request.cseq.seq, ack.encode())
                self._out.append(Outgoing(peer, leg.last_ack[1]))
                if leg.ended:
                    return
                if self._take_answer(leg, response.body) and leg.media is not None:
                    leg.offered_direction = direction
                    self._events.append(MediaUpdated(leg.call_id, leg.media, by_remote=False))
                self._maybe_reinvite(leg, now)
                return
            if response.status in (401, 407) and auth is not None:
                headers = auth.authorize(request, response)
                if headers:
                    assert leg.dialog is not None
                    request = leg.dialog.create_request(
                        "INVITE",
                        self._via(peer),
                        contact=self._contact(leg.peer),
                        body=request.body,
                        content_type=SDP,
                        extra=[("Allow", ALLOW), *headers],
                    )
                    leg.reinvite_pending = True
                    leg.reinvite_tx = self._start_client(request, peer, now, on_response, on_failure)
                    return
            if response.status == 491:
                # §14.1: the Call-ID owner waits 2.1-4 s, the other side 0-2 s.
                wait = self._rng.uniform(2.1, 4.0) if leg.is_uac else self._rng.uniform(0.0, 2.0)
                self._arm(leg, LegTimer.REINVITE_RETRY, now + wait)
                return
            if response.status in (408, 481):
                self._end(leg, EndCause.CONNECTION_LOST, by_remote=False, status=response.status, now=now)
                self._send_bye(leg, now)
                return
            self._events.append(ReinviteFailed(leg.call_id, response.status))

        def on_failure(timed_out: bool, now: float) -> None:
            leg.reinvite_pending = False
            self._end(leg, EndCause.CONNECTION_LOST, by_remote=False, status=408, now=now)
            self._send_bye(leg, now)

        leg.reinvite_pending = True
        leg.reinvite_tx = self._start_client(request, peer, now, on_response, on_failure)
