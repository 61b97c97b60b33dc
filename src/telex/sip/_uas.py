"""The UAS half of the UA core: the requests we receive (INVITE, ACK, CANCEL, and every
in-dialog request: BYE, re-INVITE, INFO, OPTIONS) and the answers the owner gives to calls.

    INVITE ─► checks (scheme, Require, digest, SDP) ─► 100 + IncomingCall
    ring / early_media / answer / reject ─► 180 / 183 + SDP / 200 + SDP / 4xx-6xx + Reason
    200 ─► retransmitted at T1..T2 until the ACK (§13.3.1.4) ─► Confirmed
"""

from __future__ import annotations

from telex.sip._ua_base import (
    ALLOW,
    DTMF_SIGNALS,
    KNOWN_METHODS,
    SDP,
    ServerEntry,
    UaBase,
    first_reason,
    token,
)
from telex.sip.dialog import Dialog, RequestCheck
from telex.sip.digest import Verdict
from telex.sip.errors import SipParseError, SipUsageError
from telex.sip.events import (
    Confirmed,
    DtmfInfo,
    IncomingCall,
    MediaUpdated,
    Peer,
)
from telex.sip.leg import Leg, LegState, LegTimer
from telex.sip.message import (
    Request,
    Response,
    make_response,
)
from telex.sip.reasons import EndCause, Reason, q850_reason, rejection_for
from telex.sip.sdp import AudioSession, SdpNegotiationError, SessionDescription, parse_sdp
from telex.sip.uri import AbsoluteUri

__all__ = ["UasHalf"]


class UasHalf(UaBase):
    def ring(self, call_id: str, now: float) -> None:
        leg = self._uas_pending(call_id)
        self._respond_invite(leg, 180, now)
        leg.state = LegState.EARLY

    def early_media(self, call_id: str, now: float, *, rtp: tuple[str, int]) -> None:
        """183 Session Progress with our SDP answer: the caller hears us before the answer."""
        leg = self._uas_pending(call_id)
        if leg.offer is None:
            raise SipUsageError("early media needs an offer in the INVITE (no 100rel here)")
        audio = self._audio_for(leg, rtp)
        answer, media = audio.answer(leg.offer, leg.direction)
        leg.media = media
        self._respond_invite(leg, 183, now, answer.encode())
        leg.state = LegState.EARLY

    def answer(self, call_id: str, now: float, *, rtp: tuple[str, int]) -> None:
        """200 OK with our SDP (an answer, or an offer for a late-offer INVITE)."""
        leg = self._uas_pending(call_id)
        audio = self._audio_for(leg, rtp)
        if leg.offer is not None:
            answer, media = audio.answer(leg.offer, leg.direction)
            leg.media = media
            body = answer.encode()
            leg.offered_direction = leg.direction
        else:
            body = audio.offer(leg.direction).encode()
            leg.awaiting_sdp_in_ack = True
        self._respond_invite(leg, 200, now, body)
        leg.state = LegState.ANSWERED

    def reject(
        self, call_id: str, now: float, cause: EndCause = EndCause.DECLINED, status: int | None = None
    ) -> None:
        leg = self._uas_pending(call_id)
        default_status, reason = rejection_for(cause)
        self._respond_invite(leg, status or default_status, now, reason=reason)
        self._end(leg, cause, by_remote=False, status=status or default_status, now=now)

    def _on_invite(self, request: Request, entry: ServerEntry, peer: Peer, now: float) -> None:
        call_id = request.call_id
        if call_id in self._legs:
            self._reply(entry, request, 482, now)  # the same call reached us twice (a loop)
            return
        if isinstance(request.uri, AbsoluteUri):
            self._reply(entry, request, 416, now)
            return
        required = request.headers.tokens("require")
        if required:
            self._reply(entry, request, 420, now, extra=[("Unsupported", ", ".join(sorted(required)))])
            return
        auth = self.config.auth
        if auth is not None:
            verdict = auth.verify(request, now)
            if verdict is Verdict.BAD:
                self._reply(entry, request, 403, now)
                return
            if verdict is not Verdict.OK:
                challenge = auth.challenge(now, stale=verdict is Verdict.STALE)
                self._reply(entry, request, 401, now, extra=challenge)
                return
        offer: SessionDescription | None = None
        if request.body:
            if request.content_type != SDP:
                self._reply(entry, request, 415, now, extra=[("Accept", SDP)])
                return
            try:
                offer = parse_sdp(request.body)
            except SipParseError:
                self._reply(entry, request, 400, now)
                return
            if not AudioSession("", 0, "0").can_answer(offer):  # any audio stream we can serve?
                self._reply(entry, request, 488, now, extra=[("Warning", '304 - "Media type not available"')])
                return
        self._reply(entry, request, 100, now)
        leg = Leg(call_id, False, peer, LegState.INCOMING, request, token(), invite_tx=entry.tx, offer=offer)
        self._add_leg(leg)
        self._events.append(
            IncomingCall(call_id, request.uri, request.from_, request.to, peer, offer is not None, request)
        )

    def _uas_pending(self, call_id: str) -> Leg:
        leg = self._legs.get(call_id)
        if leg is None or leg.is_uac or leg.state not in (LegState.INCOMING, LegState.EARLY) or leg.ended:
            raise SipUsageError("no incoming call waiting for an answer with that id")
        return leg

    def _audio_for(self, leg: Leg, rtp: tuple[str, int]) -> AudioSession:
        if leg.audio is None:
            leg.audio = AudioSession(rtp[0], rtp[1], session_id=str(self._rng.randrange(1, 2**31)))
        return leg.audio

    def _respond_invite(
        self, leg: Leg, status: int, now: float, body: bytes = b"", reason: Reason | None = None
    ) -> None:
        tx = leg.invite_tx
        assert tx is not None
        request = leg.invite
        response = make_response(request, status, to_tag=leg.local_tag)
        headers = response.headers
        if 100 < status < 300:
            headers.add("Contact", str(self._contact(leg.peer)))
            if leg.dialog is None:
                leg.dialog = Dialog.from_request(request, leg.local_tag, self._rng.randrange(1, 2**16))
        if status >= 200 and status < 300:
            headers.add("Allow", ALLOW)
        if reason is not None:
            headers.add("Reason", str(reason))
        headers.add("Server", self.config.user_agent)
        if body:
            headers.add("Content-Type", SDP)
            response.body = body
        entry = self._server_entry(tx)
        self._run_server(entry, tx.respond(response, now), now)
        if 200 <= status < 300:
            assert leg.dialog is not None
            leg.dialog.confirm()
            self._await_ack(leg, response, request.cseq.seq, now)

    def _await_ack(self, leg: Leg, response: Response, cseq: int, now: float) -> None:
        """§13.3.1.4: the UAS core retransmits its 2xx (T1 doubling to T2) until the ACK comes,
        and gives up after 64*T1."""
        leg.pending_2xx = response.encode()
        leg.pending_2xx_cseq = cseq
        t = self.config.timers
        leg.pending_2xx_interval = t.t1
        if not leg.peer.reliable:
            self._arm(leg, LegTimer.RETRANSMIT_2XX, now + t.t1)
        self._arm(leg, LegTimer.ACK_WAIT, now + 64 * t.t1)

    def _on_ack(self, ack: Request, now: float) -> None:
        leg = self._legs.get(ack.call_id)
        if leg is None or leg.dialog is None or ack.to.tag != leg.local_tag:
            return
        if leg.pending_2xx is None or ack.cseq.seq != leg.pending_2xx_cseq:
            return  # a retransmitted ACK, or one for a 2xx we no longer wait on
        leg.pending_2xx = None
        leg.deadlines.pop(LegTimer.RETRANSMIT_2XX, None)
        leg.deadlines.pop(LegTimer.ACK_WAIT, None)
        initial = ack.cseq.seq == leg.invite.cseq.seq
        if leg.awaiting_sdp_in_ack:
            leg.awaiting_sdp_in_ack = False
            if not self._take_answer(leg, ack.body):
                self._send_bye(leg, now, q850_reason(127))
                self._end(leg, EndCause.FAILED, by_remote=False, status=488, now=now)
                return
            if not initial and leg.media is not None:
                self._events.append(MediaUpdated(leg.call_id, leg.media, by_remote=True))
        if leg.bye_owed:
            leg.bye_owed = False
            self._send_bye(leg, now)
            return
        if initial and leg.state is LegState.ANSWERED:
            leg.state = LegState.ESTABLISHED
            if leg.media is not None:
                self._events.append(Confirmed(leg.call_id, leg.media))

    def _on_cancel(self, cancel: Request, entry: ServerEntry, now: float) -> None:
        """§9.2: a CANCEL matches the INVITE server transaction with the same branch."""
        via = cancel.via[0]
        host, port = via.sent_by
        invite = self._servers.get((via.branch or "", host, port, "INVITE"))
        if invite is None:
            self._reply(entry, cancel, 481, now)
            return
        leg = self._legs.get(cancel.call_id)
        self._reply(entry, cancel, 200, now, to_tag=leg.local_tag if leg is not None else None)
        if leg is None or leg.is_uac or leg.state not in (LegState.INCOMING, LegState.EARLY) or leg.ended:
            return
        self._respond_invite(leg, 487, now)
        reasons = first_reason(cancel)
        self._end(leg, EndCause.CANCELLED, by_remote=True, status=487, now=now, reason=reasons)

    def _on_in_dialog(self, request: Request, entry: ServerEntry, now: float) -> None:
        leg = self._legs.get(request.call_id)
        dialog = leg.dialog if leg is not None else None
        if (
            leg is None
            or dialog is None
            or request.to.tag != leg.local_tag
            or (request.from_.tag or "") != dialog.remote_tag
        ):
            self._reply(entry, request, 481, now)
            return
        if dialog.check_request(request) is RequestCheck.OUT_OF_ORDER:
            self._reply(entry, request, 500, now)
            return
        method = request.method
        if method == "BYE":
            self._reply(entry, request, 200, now, to_tag=leg.local_tag)
            dialog.terminate()
            leg.deadlines.pop(LegTimer.RETRANSMIT_2XX, None)
            leg.deadlines.pop(LegTimer.ACK_WAIT, None)
            leg.pending_2xx = None
            self._end(
                leg,
                EndCause.REMOTE_HUNG_UP,
                by_remote=True,
                status=None,
                now=now,
                reason=first_reason(request),
            )
        elif method == "INVITE":
            self._on_reinvite(leg, request, entry, now)
        elif method == "INFO":
            self._on_info(leg, request, entry, now)
        elif method == "OPTIONS":
            self._reply(entry, request, 200, now, to_tag=leg.local_tag, extra=[("Allow", ALLOW)])
        elif method in KNOWN_METHODS:
            self._reply(entry, request, 405, now, to_tag=leg.local_tag, extra=[("Allow", ALLOW)])
        else:
            self._reply(entry, request, 501, now, to_tag=leg.local_tag)

    def _on_reinvite(self, leg: Leg, request: Request, entry: ServerEntry, now: float) -> None:
        if leg.ended or leg.audio is None:
            self._reply(entry, request, 481, now, to_tag=leg.local_tag)
            return
        if leg.reinvite_pending:
            self._reply(entry, request, 491, now, to_tag=leg.local_tag)  # §14.2: glare
            return
        if leg.pending_2xx is not None:
            retry = [("Retry-After", str(self._rng.randint(0, 10)))]
            self._reply(entry, request, 500, now, to_tag=leg.local_tag, extra=retry)  # §14.2
            return
        assert leg.dialog is not None
        if request.body:
            try:
                offer = parse_sdp(request.body)
                answer, media = leg.audio.answer(offer, leg.direction)
            except (SipParseError, SdpNegotiationError):
                self._reply(entry, request, 488, now, to_tag=leg.local_tag)
                return
            leg.media = media
            body = answer.encode()
            leg.offered_direction = leg.direction
        else:
            body = leg.audio.offer(leg.direction).encode()
            leg.awaiting_sdp_in_ack = True
        response = make_response(request, 200, to_tag=leg.local_tag)
        response.headers.add("Contact", str(self._contact(leg.peer)))
        response.headers.add("Allow", ALLOW)
        response.headers.add("Content-Type", SDP)
        response.body = body
        self._run_server(entry, entry.tx.respond(response, now), now)
        self._await_ack(leg, response, request.cseq.seq, now)
        if request.body and leg.media is not None:
            self._events.append(MediaUpdated(leg.call_id, leg.media, by_remote=True))

    def _on_info(self, leg: Leg, request: Request, entry: ServerEntry, now: float) -> None:
        kind = request.content_type
        digit: str | None = None
        duration: int | None = None
        if kind == "application/dtmf-relay":
            fields: dict[str, str] = {}
            for line in request.body.decode("utf-8", "replace").splitlines():
                name, _, value = line.partition("=")
                fields[name.strip().lower()] = value.strip()
            digit = fields.get("signal")
            text = fields.get("duration", "")
            duration = int(text) if text.isascii() and text.isdigit() and len(text) < 7 else None
        elif kind == "application/dtmf":
            digit = request.body.decode("utf-8", "replace").strip()
        elif request.body:
            self._reply(entry, request, 415, now, to_tag=leg.local_tag)
            return
        if digit is not None:
            digit = DTMF_SIGNALS.get(digit, digit).upper()
            if len(digit) != 1 or digit not in "0123456789*#ABCD":
                self._reply(entry, request, 400, now, to_tag=leg.local_tag)
                return
            self._events.append(DtmfInfo(leg.call_id, digit, duration))
        self._reply(entry, request, 200, now, to_tag=leg.local_tag)
