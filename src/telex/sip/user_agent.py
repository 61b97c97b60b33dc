"""The sans-I/O SIP user agent core: transactions and dialogs tied into calls.

Theory of operation
-------------------
The transport shell hands the core bytes with their source and the time; the core answers with
bytes to send and events, and exposes its next deadline:

    receive_datagram(data, peer, now) ─┐                     ┌─► data_to_send() → [Outgoing]
    receive_stream(data, peer, now) ───┼─► parse ─► match ───┼─► events()       → [Event]
    handle_timer(now) at next_timer() ─┘   transaction, then └─► next_timer()
                                           dialog, then leg
    commands: invite, ring, early_media, answer, reject, hangup, hold, resume, send_options

Incoming requests first meet their server transaction (§17.2.3), which absorbs retransmissions;
new ones go to the method's handler. Responses meet their client transaction (§17.1.3) and
reach the handler that sent the request. Anything unparseable is dropped and counted: quietly
for an address we have no business with, so a scanner learns nothing (``Counters``).

Decisions the RFCs leave open, taken here for a trunk-facing gateway:
* One ``Ended`` per call, emitted when the call is over for the application (a local hang-up
  reports at once; the CANCEL/BYE exchange finishes silently afterwards).
* Reliable provisional responses (100rel), session timers, UPDATE and REFER are not supported: an
  INVITE that requires them gets 420. Early media is an unreliable 183 whose SDP the 2xx repeats.
* In-dialog requests go to the route set or remote target when it names an IP address, else to
  the address the call began with (no DNS in a sans-I/O core; RFC 3263 belongs to the shell).
* Responses go back per §18.2.2 and RFC 3581: over a stream on the same connection, over UDP to
  the source address, at the source port when the Via asked for ``rport``.
"""

from __future__ import annotations

from telex.sip._ua_base import (
    ALLOW,
    KNOWN_METHODS,
    SDP,
    ClientEntry,
    Counters,
    ServerEntry,
    UaConfig,
)
from telex.sip._uac import UacHalf
from telex.sip._uas import UasHalf
from telex.sip.errors import SipParseError
from telex.sip.events import (
    Outgoing,
    Peer,
)
from telex.sip.leg import Leg, LegState, LegTimer
from telex.sip.message import (
    Request,
    Response,
    StreamParser,
    parse_datagram,
)
from telex.sip.reasons import EndCause, q850_reason, rejection_for
from telex.sip.transaction import (
    Kind,
    State,
    Transaction,
    client_key,
    server_key,
)

__all__ = ["Counters", "UaConfig", "UserAgent"]


class UserAgent(UacHalf, UasHalf):
    """The UA core. Commands: ``invite``, ``ring``, ``early_media``, ``answer``, ``reject``,
    ``hangup``, ``hold``, ``resume``, ``send_options``. Inputs: ``receive_datagram``,
    ``receive_stream``, ``connection_lost``, ``transport_error``, ``handle_timer``. Outputs:
    ``data_to_send``, ``events``, ``next_timer``."""

    def receive_datagram(self, data: bytes, peer: Peer, now: float) -> None:
        if not data.strip(b"\r\n"):
            return  # an RFC 5626 keep-alive
        try:
            message = parse_datagram(data, self.config.limits)
        except SipParseError:
            self._count_malformed(peer)
            return
        self._dispatch(message, peer, now)

    def receive_stream(self, data: bytes, peer: Peer, now: float) -> bool:
        """Bytes from a TCP/TLS connection; False means the framing is lost: close it."""
        parser = self._streams.setdefault(peer, StreamParser(self.config.limits))
        try:
            messages = parser.feed(data)
        except SipParseError:
            self.counters.stream_errors += 1
            self._count_malformed(peer)
            self._streams.pop(peer, None)
            return False
        while parser.pongs_due:
            parser.pongs_due -= 1
            self._out.append(Outgoing(peer, b"\r\n"))
        for message in messages:
            self._dispatch(message, peer, now)
        return True

    def connection_lost(self, peer: Peer, now: float) -> None:
        self._streams.pop(peer, None)
        self.transport_error(peer, now)

    def transport_error(self, peer: Peer, now: float) -> None:
        """The shell could not send to ``peer`` (ICMP error, refused connection)."""
        for entry in list(self._clients.values()):
            if entry.peer == peer:
                self._run_client(entry, entry.tx.transport_error(now), now)
        for sentry in list(self._servers.values()):
            if sentry.peer == peer:
                self._run_server(sentry, sentry.tx.transport_error(now), now)

    def handle_timer(self, now: float) -> None:
        for owner in self._due_owners(now):
            if isinstance(owner, ClientEntry):
                self._run_client(owner, owner.tx.handle_timer(now), now)
            elif isinstance(owner, ServerEntry):
                self._run_server(owner, owner.tx.handle_timer(now), now)
            else:
                for timer, due in sorted(owner.deadlines.items(), key=lambda kv: kv[1]):
                    if due <= now and owner.deadlines.get(timer) == due:
                        del owner.deadlines[timer]
                        self._leg_timer(owner, timer, now)
                self._schedule(owner)

    def hangup(self, call_id: str, now: float, cause: EndCause = EndCause.HUNG_UP) -> None:
        """End the call whatever its state: BYE when established, CANCEL while our INVITE is
        pending, a rejection while theirs is."""
        leg = self._legs.get(call_id)
        if leg is None or leg.ended:
            return
        reason = q850_reason(rejection_for(cause)[1].cause or 16)
        if leg.state in (LegState.INCOMING, LegState.EARLY) and not leg.is_uac:
            self.reject(call_id, now, cause)
            return
        leg.end_reason = reason
        if leg.is_uac and leg.state in (LegState.CALLING, LegState.EARLY):
            leg.state = LegState.CANCELLING
            if leg.invite_tx is not None and leg.invite_tx.state is State.PROCEEDING:
                self._send_cancel(leg, now)
            else:
                leg.cancel_owed = True  # §9.1: no CANCEL before a provisional response
            self._end(leg, EndCause.CANCELLED if cause is EndCause.HUNG_UP else cause, False, None, now)
            return
        if leg.state is LegState.ANSWERED:
            leg.bye_owed = True  # §15: no BYE before the ACK (or its timeout)
        else:
            self._send_bye(leg, now)
        self._end(leg, cause, by_remote=False, status=None, now=now)

    def _dispatch(self, message: Request | Response, peer: Peer, now: float) -> None:
        self.counters.received += 1
        if isinstance(message, Response):
            self._on_response(message, now)
        else:
            self._on_request(message, peer, now)

    def _on_response(self, response: Response, now: float) -> None:
        vias = response.via
        branch = vias[0].branch or ""
        entry = self._clients.get(client_key(branch, response.cseq.method))
        if entry is None:
            self.counters.unmatched_responses += 1  # RFC 6026 §8.2: discard silently
            return
        self._run_client(entry, entry.tx.receive_response(response, now), now)

    def _on_request(self, request: Request, peer: Peer, now: float) -> None:
        key = server_key(request)
        existing = self._servers.get(key)
        if existing is not None and (request.method != "ACK" or existing.tx.kind is Kind.INVITE_SERVER):
            self._run_server(existing, existing.tx.receive_request(request, now), now)
            return
        if request.method == "ACK":
            self._on_ack(request, now)
            return
        in_dialog = request.to.tag is not None
        accept = self.config.accept_from
        if not in_dialog and request.method != "CANCEL" and accept is not None and not accept(peer):
            self.counters.refused += 1
            return
        kind = Kind.INVITE_SERVER if request.method == "INVITE" else Kind.NON_INVITE_SERVER
        tx = Transaction(kind, request, reliable=peer.reliable, timers=self.config.timers)
        entry = ServerEntry(key, tx, self._response_peer(request, peer))
        self._servers[key] = entry
        self._by_tx[tx] = entry
        if request.method == "CANCEL":
            self._on_cancel(request, entry, now)
        elif in_dialog:
            self._on_in_dialog(request, entry, now)
        elif request.method == "INVITE":
            self._on_invite(request, entry, peer, now)
        elif request.method == "OPTIONS":
            self._reply(entry, request, 200, now, extra=[("Allow", ALLOW), ("Accept", SDP)])
        elif request.method == "BYE" or request.method == "INFO":
            self._reply(entry, request, 481, now)
        elif request.method in KNOWN_METHODS:
            self._reply(entry, request, 405, now, extra=[("Allow", ALLOW)])
        else:
            self._reply(entry, request, 501, now)

    def _leg_timer(self, leg: Leg, timer: LegTimer, now: float) -> None:
        t = self.config.timers
        if timer is LegTimer.RETRANSMIT_2XX and leg.pending_2xx is not None:
            self._out.append(Outgoing(self._response_target(leg), leg.pending_2xx))
            leg.pending_2xx_interval = min(leg.pending_2xx_interval * 2, t.t2)
            self._arm(leg, LegTimer.RETRANSMIT_2XX, now + leg.pending_2xx_interval)
        elif timer is LegTimer.ACK_WAIT and leg.pending_2xx is not None:
            # §13.3.1.4: no ACK in 64*T1: confirm the dialog only to end it with a BYE.
            leg.pending_2xx = None
            leg.deadlines.pop(LegTimer.RETRANSMIT_2XX, None)
            leg.bye_owed = False
            self._send_bye(leg, now, q850_reason(102))
            self._end(leg, EndCause.CONNECTION_LOST, by_remote=False, status=408, now=now)
        elif timer is LegTimer.CANCEL_GUARD:
            # §9.1: no final response 64*T1 after our CANCEL: the INVITE is as good as cancelled.
            if leg.invite_tx is not None:
                leg.invite_tx.abandon()
                self._clients.pop(client_key(leg.invite.branch or "", "INVITE"), None)
        elif timer is LegTimer.REINVITE_RETRY:
            self._maybe_reinvite(leg, now)
        elif timer is LegTimer.LINGER:
            if leg.transactions_done:
                self._drop_leg(leg)
            else:
                self._arm(leg, LegTimer.LINGER, now + 64 * t.t1)

    def _response_target(self, leg: Leg) -> Peer:
        entry = next((e for e in self._servers.values() if e.tx is leg.invite_tx), None)
        if entry is not None:
            return entry.peer
        return self._response_peer(leg.invite, leg.peer)
