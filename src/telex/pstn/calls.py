"""One call over a trunk: a SIP leg (the sans-I/O UA, through the gateway's transport) and a
participant of a Telex call (``LocalCallClient``, the same in-process client bots use), with the
media ``Bridge`` between them.

    inbound:  INVITE ─► ring (180) while the Telex call rings the number ─► someone answers ─► 200
              CANCEL before that ─► the Telex caller cancels; the invitation ends ─► SIP rejection
    outbound: the Telex participant rings ─► INVITE (401/407 answered) ─► 183 with SDP: RTP
              starts, and the ringing participant offers media to the waiting caller (early
              media: ringback, announcements) ─► 200: the participant answers and offers media
              to the others
              ─► a final failure ends the invitation with the reason the SIP status means
    either:   BYE from the carrier ─► the participant hangs up; the participant leaves ─► BYE

End reasons cross in both directions through two small tables (``_SIP_TO_TELEX`` and
``_TELEX_TO_SIP``), built on the SIP core's ``EndCause`` (which already maps statuses and Q.850).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telex.automation.media.signaling import LocalCallClient, MediaCall
from telex.calling import EndReason, Joined, LegState
from telex.client.calling import Call
from telex.client.chat import TelexClientError
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId
from telex.identity import Principal, Scope
from telex.pstn.bridge import AUDIO_CODECS, Bridge
from telex.pstn.trunks import Trunk
from telex.rtp import StreamConfig
from telex.sip import (
    Answered,
    Confirmed,
    DtmfInfo,
    EarlyMedia,
    EndCause,
    Ended,
    Event,
    MediaUpdated,
    SipUsageError,
)

if TYPE_CHECKING:
    from telex.pstn.gateway import PstnGateway


def phone_principal(user: str) -> Principal:
    """The rights a phone number's participant acts with (``voip``, like an application's)."""
    return Principal(UserId(user), frozenset({Scope.VOIP}), 0, 2**31 - 1, 0, "pstn")


__all__ = ["TrunkCall", "phone_principal", "sip_cause", "telex_reason"]

log = logging.getLogger(__name__)

_POLL = 0.25  # how often a ringing outbound invitation checks that Telex still wants it

# A SIP leg that ended before the answer: the reason its Telex invitation ends with.
_SIP_TO_TELEX = {
    EndCause.BUSY: EndReason.BUSY,
    EndCause.DECLINED: EndReason.DECLINED,
    EndCause.FORBIDDEN: EndReason.DECLINED,
    EndCause.MISSED: EndReason.MISSED,
    EndCause.CANCELLED: EndReason.CANCELLED,
}
# A Telex invitation that ended before the answer: what the carrier's caller hears.
_TELEX_TO_SIP = {
    EndReason.DECLINED: EndCause.DECLINED,
    EndReason.BUSY: EndCause.BUSY,
    EndReason.MISSED: EndCause.MISSED,
    EndReason.CANCELLED: EndCause.MISSED,
    EndReason.REDIRECTED: EndCause.MISSED,
    EndReason.UNAVAILABLE: EndCause.UNAVAILABLE,
}


def telex_reason(ended: Ended) -> EndReason:
    return _SIP_TO_TELEX.get(ended.cause, EndReason.UNAVAILABLE)


def sip_cause(reason: str | None) -> EndCause:
    try:
        return _TELEX_TO_SIP.get(EndReason(reason or ""), EndCause.UNAVAILABLE)
    except ValueError:
        return EndCause.UNAVAILABLE


class TrunkCall:
    def __init__(self, gateway: PstnGateway, sip_id: str, trunk: Trunk, user: str) -> None:
        self.gw = gateway
        self.sip_id = sip_id
        self.trunk = trunk
        self.user = user  # the phone number's raw id this participant is in the call as
        self.principal = phone_principal(user)
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.client: LocalCallClient | None = None
        self.call: MediaCall | None = None
        self.bridge: Bridge | None = None
        self.telex_call_id = ""
        self.outcome = ""  # how it ended, for logs and tests
        self.held_by_carrier = False
        self._state = ""
        self.started = gateway.clock.monotonic()
        self.setup_seconds: float | None = None  # INVITE in (or out) to the 200 OK sent (received)

    # the pieces ----------------------------------------------------------------------------------
    def _sip(self, command: Callable[[float], Any]) -> Any:
        return self.gw.transport.run(command)

    def _media(self, media: Any) -> None:
        assert self.bridge is not None
        self.bridge.rtp.update(StreamConfig.from_negotiated(media))

    def _key(self, digit: str) -> None:
        if self.call is not None and self.gw.engine is not None:
            self.gw.engine.key_pressed(self.call.id, self.call.participant_id, digit)

    async def _open(self) -> None:
        rtp = await self.gw.open_rtp()
        self.bridge = Bridge(rtp, self._key)
        self.client = self.gw.local_client(self.user)
        self.client.audio_codecs = AUDIO_CODECS  # G.711 to the others: no Opus, no resampling
        self.client.listen()

    async def _join(self, joined: Joined) -> None:
        """Be the participant ``joined`` names: offer media to its peers, send what the trunk
        says, and carry what they say to the trunk."""
        assert self.client is not None and self.bridge is not None
        call = await self.client.attach(joined)
        self.call, self.telex_call_id = call, joined.call.id
        call.track_for = self.bridge.outgoing(call)
        await call._joined(joined.payload(), self.bridge.track)
        self.bridge.start(call)
        if self.gw.engine is not None:  # Call Automation's sendDtmfTones to this participant
            self.gw.engine.trunk_legs[(call.id, call.participant_id)] = self.bridge.send_keys

    async def _next(self, done: Callable[[Call], bool] | None, poll: float | None = None) -> Event | None:
        """The next SIP event, or None once ``done(call)`` holds (or ``poll`` seconds pass)."""
        get = asyncio.ensure_future(self.events.get())
        waits: set[asyncio.Future[Any]] = {get}
        if done is not None and self.call is not None:
            waits.add(asyncio.ensure_future(self.call.wait_for(done)))
        try:
            finished, _ = await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                if not w.done():
                    w.cancel()
        if get in finished:
            return get.result()
        if not get.cancelled() and get.done():  # both at once: keep the event for next time
            self.events.put_nowait(get.result())
        return None

    async def _leave(self) -> None:
        if self.call is not None and self.call.my_state in ("connecting", "connected", "onHold"):
            with contextlib.suppress(TelexClientError):
                await self.call.hang_up()

    async def close(self) -> None:
        if self.call is not None and self.gw.engine is not None:
            self.gw.engine.trunk_legs.pop((self.call.id, self.call.participant_id), None)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
        if self.bridge is not None:
            await self.bridge.close()

    # inbound -------------------------------------------------------------------------------------
    async def run_inbound(
        self,
        caller: str,
        callee: str,
        display_name: str | None,
        *,
        ring: list[str] | None = None,
        ring_seconds: float | None = None,
    ) -> None:
        """The carrier's caller ``caller`` (raw id) rings ``callee`` (our number's raw id), or
        the users of its route (``ring``, all at once: the first to answer takes the call)."""
        await self._open()
        assert self.client is not None and self.bridge is not None
        principal = self.principal
        targets = ring or [callee]
        try:
            joined = await self.gw.calling.start_call(
                principal, targets, display_name=display_name, phone=True, trusted=True,
                ring_seconds=ring_seconds, first_answer_only=len(targets) > 1,
            )  # fmt: skip
        except TelexError as exc:
            # Nobody can ring: a routed user already rung too often this minute hears as busy;
            # anything else (a routed user deleted since) as unavailable, not as a server error.
            cause = EndCause.BUSY if exc.code is ErrorCode.TOO_MANY_REQUESTS else EndCause.UNAVAILABLE
            log.warning("phone call %s to %s could not ring: %s", self.sip_id, callee, exc)
            self.outcome = f"rejected:{cause.value}"
            self._sip(lambda now: self.gw.ua.reject(self.sip_id, now, cause))
            return
        await self._join(joined)
        call = self.call
        assert call is not None
        self._sip(lambda now: self.gw.ua.ring(self.sip_id, now))
        while True:  # ringing
            event = await self._next(lambda c: c.state != "ringing" or c.my_state == "disconnected")
            if event is None:
                break
            if isinstance(event, Ended):  # the caller gave up (CANCEL)
                self.outcome = "cancelled"
                await self._leave()
                return
        if call.my_state != "connected":
            reason = call.end_reason
            if len(targets) == 1:
                mine = next((p.end_reason for p in call.participants.values() if p.user_id == callee), None)
                # Redirected: the caller hears how the redirect's target answered.
                reason = reason if mine in (None, EndReason.REDIRECTED) else mine
            cause = sip_cause(reason)
            self.outcome = f"rejected:{cause.value}"
            with contextlib.suppress(Exception):
                self._sip(lambda now: self.gw.ua.reject(self.sip_id, now, cause))
            return
        await self._answer()

    async def run_group(self, group_call_id: str, display_name: str | None) -> None:
        """A routed number whose calls join a group call: the caller is in it at once."""
        await self._open()
        joined = await self.gw.calling.join_group(self.principal, group_call_id, display_name=display_name)
        await self._join(joined)
        await self._answer()

    async def _answer(self) -> None:
        assert self.bridge is not None
        rtp = self.bridge.rtp
        self._sip(lambda now: self.gw.ua.answer(self.sip_id, now, rtp=(self.gw.media_host, rtp.local_port)))
        self.setup_seconds = self.gw.clock.monotonic() - self.started
        await self._connected()

    async def _connected(self) -> None:
        """Both legs up, until either ends. Hold crosses both ways: a re-INVITE from the carrier
        that stops its media (sendonly, inactive) puts the participant on hold in Telex, and a
        participant Telex holds (Call Automation's hold) re-INVITEs the carrier with sendonly
        (RFC 3264 §8.4) while the hold music flows."""
        call = self.call
        assert call is not None
        self._state = call.my_state  # the participant's state as this loop last acted on it
        while True:
            event = await self._next(lambda c: c.my_state != self._state or c.state == "ended")
            if event is None:
                if call.my_state == "disconnected" or call.state == "ended":
                    self.outcome = "telexHungUp"
                    self._sip(lambda now: self.gw.ua.hangup(self.sip_id, now))
                    return
                self._state = call.my_state
                if not self.held_by_carrier and self._state in ("onHold", "connected"):
                    ua = self.gw.ua
                    command = ua.hold if self._state == "onHold" else ua.resume
                    with contextlib.suppress(SipUsageError):  # a re-INVITE is already under way
                        self._sip(functools.partial(command, self.sip_id))
                continue
            if isinstance(event, Confirmed | Answered | MediaUpdated | EarlyMedia):
                self._media(event.media)
            if isinstance(event, DtmfInfo):  # a trunk that sends digits in SIP INFO, not RFC 4733
                self._key(event.digit)
            elif isinstance(event, MediaUpdated) and event.by_remote:
                held = event.media.held_by_remote
                if held != self.held_by_carrier:
                    self.held_by_carrier = held
                    self._state = "onHold" if held else "connected"  # not to be echoed as a re-INVITE
                    await self._hold_in_telex(held)
            elif isinstance(event, Ended):
                self.outcome = f"sipEnded:{event.cause.value}"
                await self._leave()
                return

    async def _hold_in_telex(self, held: bool) -> None:
        assert self.call is not None and self.client is not None
        calling, principal = self.gw.calling, self.principal
        with contextlib.suppress(TelexError):  # the call changed meanwhile: its events say how
            if held:
                await calling.hold(principal, self.call.id, self.call.participant_id)
            else:
                await calling.resume(principal, self.call.id, self.call.participant_id)

    # outbound ------------------------------------------------------------------------------------
    async def run_outbound(self, call_id: str, participant_id: str) -> None:
        """Ring ``self.user``'s number through the trunk for the ringing participant."""
        calling = self.gw.calling
        while True:  # ringing at the carrier
            event = await self._next(None, poll=_POLL)
            if event is None:
                try:
                    snapshot = await calling.load(call_id)
                    leg = next(x for x in snapshot.legs if x.id == participant_id)
                except (TelexError, StopIteration):
                    leg = None
                if leg is None or leg.state is not LegState.RINGING:
                    self.outcome = "cancelledByTelex"
                    self._sip(lambda now: self.gw.ua.hangup(self.sip_id, now))
                    return
                continue
            if isinstance(event, EarlyMedia):
                self._media(event.media)  # RTP starts (latching)
                if self.call is None:
                    await self._early_join(call_id, participant_id)
            elif isinstance(event, Answered):
                self._media(event.media)
                self.setup_seconds = self.gw.clock.monotonic() - self.started
                break
            elif isinstance(event, Ended):
                self.outcome = f"failed:{event.cause.value}"
                with contextlib.suppress(TelexError):
                    await calling.end_invitation(call_id, participant_id, telex_reason(event))
                return
        assert self.client is not None
        try:
            joined = await calling.accept(self.principal, call_id, participant_id)
        except TelexError:  # Telex gave up in the same instant the carrier answered
            self.outcome = "answeredTooLate"
            self._sip(lambda now: self.gw.ua.hangup(self.sip_id, now))
            return
        if self.call is None:
            await self._join(joined)
        else:  # in since the early media: offer media to whoever else is in the call now
            assert self.bridge is not None
            await self.call._joined(joined.payload(), self.bridge.track)
        await self._connected()

    async def _early_join(self, call_id: str, participant_id: str) -> None:
        """Early media (a 183 with SDP): while the Telex call still rings, the ringing participant
        offers media to the waiting caller, so the caller hears the carrier's ringback or
        announcement before the answer (RFC 3960 §3). Only the caller of a ringing call: a phone
        number added to a call in progress is heard once it answers."""
        with contextlib.suppress(TelexError):  # the call moved on meanwhile: nothing to hear
            snapshot = await self.gw.calling.load(call_id)
            leg = next((x for x in snapshot.legs if x.id == participant_id), None)
            callers = [x for x in snapshot.legs if x.state is LegState.CONNECTING]
            if leg is None or leg.state is not LegState.RINGING or not callers:
                return
            # No keep-alives while ringing: the server counts only joined participants' (they
            # start once the answer joins it again).
            await self._join(Joined(snapshot, leg, callers, None))
