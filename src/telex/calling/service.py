"""``CallingService``: who may do what to a call, one write transaction per command.

    route ─► CallingService.op(principal, …) ─► CallStore.write(): load ─► scope + participant check
             ─► Call command (machine.py) ─► save: events and rows in the unit ─► group commit ─► published

Authorization (security.md §2.1): a ``voip`` token may start calls; ``voip.join`` may only join
a group call in progress and answer calls it is invited to. Everything about a call, including
whether it exists, is visible only to its participants: anyone else gets the same 404.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from telex.calling.events import CallEvent, call_payload, call_topic, leg_topic, signal_event
from telex.calling.machine import Call, EndReason, Leg, LegState, Role, call_not_found
from telex.calling.repository import CallStore, CallTx
from telex.calling.settings import CallingSettings
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import identifier_kind
from telex.core.ratelimit import RateLimiter
from telex.events.model import DomainEvent
from telex.identity import Principal, Scope

__all__ = ["CALL_SCOPES", "CallingService", "Joined", "OnSaving", "PhoneDialer", "callable_target"]

log = logging.getLogger(__name__)

CALL_SCOPES = frozenset({Scope.VOIP, Scope.VOIP_JOIN})

SignalType = Literal["offer", "answer", "candidate"]
# Runs in a command's unit just before the call is saved, with the participant the command is
# about: a trusted service (Call Automation) records its own rows in the same transaction.
OnSaving = Callable[[CallTx, Call, Leg], Awaitable[None]]
Reliability = Literal["lossy", "durable"]
Priority = Literal["normal", "high"]


@dataclass(frozen=True, slots=True)
class Joined:
    """The call as the new participant finds it, and the participants it should offer media to."""

    call: Call
    participant: Leg
    peers: list[Leg]
    # How often the client should send ``:keepAlive`` (None: keep-alives are off).
    keep_alive_interval: float | None = None

    def payload(self) -> dict[str, Any]:
        """The join answer's body, as REST sends it and in-process clients (bots, the PSTN
        gateway) take it: the call, the new participant, and the participants to offer media to."""
        body: dict[str, Any] = {
            "call": call_payload(self.call),
            "participantId": self.participant.id,
            "peers": [leg.id for leg in self.peers],
        }
        if self.keep_alive_interval is not None:
            body["keepAliveIntervalSeconds"] = self.keep_alive_interval
        return body


def _new_id() -> str:
    return str(uuid.uuid4())


def _require(principal: Principal, scopes: Iterable[Scope]) -> None:
    if principal.scopes.isdisjoint(scopes):
        raise TelexError(ErrorCode.FORBIDDEN, "The access token does not grant this operation.")


class PhoneDialer(Protocol):
    """The PSTN gateway, as those who ring phone numbers see it (set by the composition root)."""

    async def check_outbound(self, caller_id: str, target: str) -> None:
        """Raise ``TelexError`` unless ``caller_id`` (E.164) may call ``target`` (E.164): 403 for
        a caller id this resource does not own with outbound calling, or a refused destination."""

    async def dial(self, call_id: str, participant_id: str, target: str, caller_id: str) -> None:
        """Call ``target`` through a trunk for the ringing participant ``participant_id``."""


_PHONE = re.compile(r"^4:\+[1-9][0-9]{1,14}$")


def callable_target(raw: str, *, phone: bool = False) -> bool:
    """A communication user, or (for the PSTN gateway and Call Automation, ``phone``) a phone
    number's raw id ``4:+E.164``."""
    if raw.startswith("8:acs:") and len(raw) <= 128:
        return True
    return phone and _PHONE.match(raw) is not None


def _display_name(value: str | None) -> str | None:
    if value is not None and len(value) > 256:
        raise TelexError(ErrorCode.VALIDATION_FAILED, "displayName may have at most 256 characters.")
    return value or None


class CallingService:
    def __init__(
        self,
        store: CallStore,
        clock: Clock,
        settings: CallingSettings,
        new_id: Callable[[], str] = _new_id,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        self._settings = settings
        self._new_id = new_id
        self._limiter = limiter or RateLimiter(clock)

    def _alive_until(self, now: float) -> float | None:
        timeout = self._settings.keepalive_timeout_seconds
        return now + timeout if timeout > 0 else None

    def _joined(self, call: Call, leg: Leg, peers: list[Leg]) -> Joined:
        timeout = self._settings.keepalive_timeout_seconds
        # A third of the timeout: two keep-alives may be lost or late before the third is due.
        return Joined(call, leg, peers, round(timeout / 3, 3) if timeout > 0 else None)

    # starting and joining ------------------------------------------------------------------------
    async def start_call(
        self,
        principal: Principal,
        targets: list[str],
        *,
        video: bool = False,
        display_name: str | None = None,
        on_saving: OnSaving | None = None,
        phone: bool = False,
        trusted: bool = False,
        ring_seconds: float | None = None,
        first_answer_only: bool = False,
    ) -> Joined:
        """Ring ``targets`` (one for a 1:1 call, several for a direct group invitation, or several
        of whom the first to answer takes the call: ``first_answer_only``).

        Needs ``voip`` (403 otherwise). Targets must be other communication users (400), or
        phone numbers when a trusted caller (the PSTN gateway, Call Automation) says ``phone``;
        at most ``max_participants - 1`` of them (409 ``CallFull``). Whether a target exists is
        not revealed: an invitation to nobody rings until it is ``missed``. Each target is one
        invitation against the caller's and that callee's per-minute limits (429 beyond). A
        ``trusted`` caller (Call Automation, the PSTN gateway: the resource's own services) has
        no per-caller limit, and a phone number as callee none either: a trunk's own limits and
        the carrier bound those, and a busy line must not stop ringing after ten calls a minute.
        ``ring_seconds`` (a routed phone number's) replaces the configured ring timeout.
        """
        _require(principal, {Scope.VOIP})
        wanted = list(dict.fromkeys(targets))
        for raw in wanted:
            if not callable_target(raw, phone=phone) or raw == principal.user_id:
                raise TelexError(ErrorCode.VALIDATION_FAILED, f"Cannot call {raw[:140]!r}.")
        per_caller = [(self._settings.invitations_per_caller_per_minute, 60.0)]
        per_callee = [(self._settings.invitations_per_callee_per_minute, 60.0)]
        self._limiter.hit_all(
            [*((f"invite-from:{principal.user_id}", per_caller) for _ in wanted if not trusted)]
            + [(f"invite-to:{user}", per_callee) for user in wanted if _PHONE.match(user) is None]
        )
        now = self._clock.now()
        caller = Leg(self._new_id(), principal.user_id, Role.CALLER, LegState.CONNECTING, now)
        caller.display_name = _display_name(display_name)
        caller.alive_until, caller.video = self._alive_until(now), video
        invitees = [Leg(self._new_id(), user, Role.INVITEE, LegState.RINGING, now) for user in wanted]
        call = Call.start_direct(
            self._new_id(), caller, invitees, video=video, now=now,
            ring_timeout=ring_seconds or self._settings.ring_timeout_seconds,
            max_participants=self._settings.max_participants, first_answer_only=first_answer_only,
        )  # fmt: skip
        async with self.store.write() as tx:
            if on_saving is not None:
                await on_saving(tx, call, caller)
            await tx.save(call, principal.user_id, now)
        return self._joined(call, caller, [])

    async def join_group(
        self,
        principal: Principal,
        group_id: str,
        *,
        video: bool = False,
        display_name: str | None = None,
        on_saving: OnSaving | None = None,
    ) -> Joined:
        """Join the group's call, starting it if none is in progress.

        ``voip`` or ``voip.join`` may join a call in progress; only ``voip`` may start one (403).
        ``group_id`` must be a UUID (400). At the mesh limit: 409 ``CallFull``.
        """
        _require(principal, CALL_SCOPES)
        try:
            group = str(uuid.UUID(group_id))
        except ValueError as exc:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "groupId must be a UUID.") from exc
        now = self._clock.now()
        leg = Leg(self._new_id(), principal.user_id, Role.MEMBER, LegState.CONNECTED, now)
        leg.display_name = _display_name(display_name)
        # Whoever starts or joins with video has its camera on from the start (the others' tiles
        # show it), the first participant of a group call as much as a later one.
        leg.alive_until, leg.video = self._alive_until(now), video
        async with self.store.write() as tx:
            call_id = await tx.live_group_call(group)
            if call_id is None:
                if Scope.VOIP not in principal.scopes:
                    raise TelexError(
                        ErrorCode.FORBIDDEN, "A voip.join token may only join a call in progress."
                    )
                call = Call.start_group(self._new_id(), group, leg, video=video, now=now)
            else:
                call = await self._load(tx, call_id)
                call.join(leg, now=now, max_participants=self._settings.max_participants)
            if on_saving is not None:
                await on_saving(tx, call, leg)
            await tx.save(call, principal.user_id, now)
            # After the save: its hooks may have changed the call (a transfer that this answer
            # completes takes the transferring participant out).
            peers = [x for x in call.joined_legs() if x.id != leg.id]
        return self._joined(call, leg, peers)

    async def accept(
        self,
        principal: Principal,
        call_id: str,
        participant_id: str,
        *,
        video: bool = False,
        on_saving: OnSaving | None = None,
    ) -> Joined:
        """Answer an invitation; the answerer then offers media to every ``peers`` entry.
        404 unless the participant is the caller's own; 409 unless it is ringing."""
        _require(principal, CALL_SCOPES)
        now = self._clock.now()
        async with self.store.write() as tx:
            call, leg = await self._own(tx, principal, call_id, participant_id)
            call.accept(leg.id, now=now, video=video)
            leg.alive_until = self._alive_until(now)
            if on_saving is not None:
                await on_saving(tx, call, leg)
            await tx.save(call, principal.user_id, now)
            # After the save: its hooks may have changed the call (a transfer that this answer
            # completes takes the transferring participant out).
            peers = [x for x in call.joined_legs() if x.id != leg.id]
        return self._joined(call, leg, peers)

    # leaving and state -----------------------------------------------------------------------------
    async def decline(self, principal: Principal, call_id: str, participant_id: str) -> Call:
        """Refuse an invitation (409 unless ringing)."""
        return await self._command(
            principal, call_id, participant_id, lambda c, leg, now: c.decline(leg, now=now)
        )

    async def hang_up(
        self, principal: Principal, call_id: str, participant_id: str, *, for_everyone: bool = False
    ) -> Call:
        """Leave (a caller leaving before an answer cancels). ``for_everyone`` ends the call for
        all participants and is the caller's alone (403 for anyone else)."""
        return await self._command(
            principal, call_id, participant_id,
            lambda c, leg, now: c.hang_up(leg, now=now, for_everyone=for_everyone),
        )  # fmt: skip

    async def hold(self, principal: Principal, call_id: str, participant_id: str) -> Call:
        return await self._command(
            principal, call_id, participant_id, lambda c, leg, now: c.hold(leg, now=now)
        )

    async def resume(self, principal: Principal, call_id: str, participant_id: str) -> Call:
        return await self._command(
            principal, call_id, participant_id, lambda c, leg, now: c.resume(leg, now=now)
        )

    async def set_media(
        self,
        principal: Principal,
        call_id: str,
        participant_id: str,
        *,
        muted: bool | None = None,
        video: bool | None = None,
        screen_sharing: bool | None = None,
    ) -> Call:
        """Record mute, camera and screen-share state; the others see ``callParticipantUpdated``."""
        return await self._command(
            principal, call_id, participant_id,
            lambda c, leg, _: c.set_media(leg, muted=muted, video=video, screen_sharing=screen_sharing),
        )  # fmt: skip

    async def keep_alive(self, principal: Principal, call_id: str, participant_id: str) -> None:
        """The participant's client is still there (send every ``keepAliveIntervalSeconds``).
        409 once the participant is no longer in the call, e.g. after it was dropped as lost."""
        await self._command(
            principal, call_id, participant_id,
            lambda c, leg, now: c.keep_alive(leg, until=self._alive_until(now)),
        )  # fmt: skip

    async def get_call(self, principal: Principal, call_id: str) -> Call:
        """The call with all its participants, for anyone who is or was one of them (404 otherwise)."""
        _require(principal, CALL_SCOPES)
        async with self.store.read() as tx:
            call = await self._load(tx, call_id)
        if not call.legs_of(principal.user_id):
            raise call_not_found()
        return call

    # signaling -------------------------------------------------------------------------------------
    async def signal(
        self,
        principal: Principal,
        call_id: str,
        participant_id: str,
        *,
        to: str,
        type_: SignalType,
        sdp: str | None = None,
        candidate: dict[str, Any] | None = None,
    ) -> None:
        """Send an SDP offer/answer or an ICE candidate to one other participant of the call;
        only that participant receives it. Both must be in the call (409 otherwise), but for
        early media: a ringing phone number and the waiting caller (``Call.require_signaling``)."""
        limit = self._settings.max_signal_bytes
        if type_ == "candidate":
            if candidate is None or len(str(candidate)) > limit:
                raise TelexError(ErrorCode.VALIDATION_FAILED, "A candidate signal needs a candidate.")
        elif sdp is None or not sdp or len(sdp.encode()) > limit:
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, f"An {type_} needs an sdp of at most {limit} bytes."
            )
        now = self._clock.now()
        async with self.store.write() as tx:
            call, sender = await self._own(tx, principal, call_id, participant_id)
            sender, target = call.require_signaling(sender.id, to)  # joined, or early media
            if target.id == sender.id:
                raise TelexError(ErrorCode.VALIDATION_FAILED, "A participant does not signal itself.")
            payload: dict[str, Any] = {
                "callId": call.id, "from": sender.id, "fromUser": identifier_kind(sender.user_id),
                "to": target.id, "type": type_,
            }  # fmt: skip
            if type_ == "candidate":
                payload["candidate"] = candidate
            else:
                payload["sdp"] = sdp
            event = signal_event(call, sender, CallEvent.SIGNAL, payload, leg_topic(call.id, target.id), now)
            await tx.save(call, principal.user_id, now, [event])

    async def open_data_channel(
        self,
        principal: Principal,
        call_id: str,
        participant_id: str,
        *,
        channel_id: int,
        reliability: Reliability,
        priority: Priority,
        recipients: list[str] | None,
    ) -> None:
        """Announce a data channel the sender opened (ACS semantics: the sender picks the id,
        reliability and priority). Everyone in the call learns of it, or only ``recipients``."""
        if not 0 <= channel_id <= 65535:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "channelId must be from 0 to 65535.")
        now = self._clock.now()
        async with self.store.write() as tx:
            call, sender = await self._own(tx, principal, call_id, participant_id)
            call.require_joined(sender.id)
            payload: dict[str, Any] = {
                "callId": call.id, "from": sender.id, "fromUser": identifier_kind(sender.user_id),
                "channelId": channel_id, "reliability": reliability, "priority": priority,
                "to": recipients,
            }  # fmt: skip
            if recipients is None:
                topics = [call_topic(call.id)]
            else:
                targets = list(dict.fromkeys(call.require_joined(r).id for r in recipients))
                topics = [leg_topic(call.id, t) for t in targets]
            kind = CallEvent.DATA_CHANNEL_OPENED
            events: list[DomainEvent] = [signal_event(call, sender, kind, payload, t, now) for t in topics]
            await tx.save(call, principal.user_id, now, events)

    # a trusted service's commands (Call Automation: its HMAC caller may act on any call) -----------
    async def load(self, call_id: str) -> Call:
        """The call with all its participants (404 if there is none)."""
        async with self.store.read() as tx:
            return await self._load(tx, call_id)

    async def live_group_call(self, group_id: str) -> str | None:
        """The id of the group's call in progress, if there is one."""
        async with self.store.read() as tx:
            return await tx.live_group_call(group_id)

    async def invite(
        self,
        call_id: str,
        user: str,
        *,
        display_name: str | None = None,
        ring_seconds: float | None = None,
        on_saving: OnSaving | None = None,
        phone: bool = False,
    ) -> Leg:
        """Ring ``user`` in a live call for ``ring_seconds`` (default: the ring timeout);
        409 once it ended, ``CallFull`` at the mesh limit. A phone number's raw id only when the
        trusted caller says ``phone`` (it then dials it through the PSTN gateway)."""
        if not callable_target(user, phone=phone):
            raise TelexError(ErrorCode.VALIDATION_FAILED, f"Cannot call {user[:140]!r}.")
        now = self._clock.now()
        leg = Leg(self._new_id(), user, Role.INVITEE, LegState.RINGING, now, _display_name(display_name))
        ring = ring_seconds if ring_seconds is not None else self._settings.ring_timeout_seconds
        most = self._settings.max_participants
        await self._system(
            call_id,
            lambda c, t: c.invite(leg, now=t, ring_timeout=ring, max_participants=most),
            leg.id,
            on_saving,
        )
        return leg

    async def redirect(self, call_id: str, participant_id: str, user: str, *, phone: bool = False) -> Leg:
        """Ring ``user`` instead of the ringing participant (409 unless it rings); a phone
        number as ``invite`` allows it."""
        if not callable_target(user, phone=phone):
            raise TelexError(ErrorCode.VALIDATION_FAILED, f"Cannot call {user[:140]!r}.")
        now = self._clock.now()
        leg = Leg(self._new_id(), user, Role.INVITEE, LegState.RINGING, now)
        ring = self._settings.ring_timeout_seconds
        await self._system(call_id, lambda c, t: c.redirect(participant_id, leg, now=t, ring_timeout=ring))
        return leg

    async def cancel_invite(
        self, call_id: str, participant_id: str, *, on_saving: OnSaving | None = None
    ) -> Call:
        return await self._system(
            call_id, lambda c, t: c.cancel_invite(participant_id, now=t), participant_id, on_saving
        )

    async def end_invitation(self, call_id: str, participant_id: str, reason: EndReason) -> Call:
        """The phone network's answer to a ringing phone number (``Call.end_invitation``)."""
        return await self._system(call_id, lambda c, t: c.end_invitation(participant_id, reason, now=t))

    async def remove(self, call_id: str, participant_id: str, *, on_saving: OnSaving | None = None) -> Call:
        apply: Callable[[Call, float], object] = lambda c, t: c.remove(participant_id, now=t)  # noqa: E731
        return await self._system(call_id, apply, participant_id, on_saving)

    async def terminate(self, call_id: str) -> Call:
        return await self._system(call_id, lambda c, t: c.terminate(now=t))

    async def mute_participants(self, call_id: str, participant_ids: list[str]) -> Call:
        def mute(call: Call, _: float) -> None:
            for pid in participant_ids:
                call.set_media(pid, muted=True, video=None, screen_sharing=None)

        return await self._system(call_id, mute)

    async def hold_participant(self, call_id: str, participant_id: str, *, hold: bool) -> Call:
        if hold:
            return await self._system(call_id, lambda c, t: c.hold(participant_id, now=t))
        return await self._system(call_id, lambda c, t: c.resume(participant_id, now=t))

    async def _system(
        self,
        call_id: str,
        apply: Callable[[Call, float], object],
        leg_id: str | None = None,
        on_saving: OnSaving | None = None,
    ) -> Call:
        now = self._clock.now()
        async with self.store.write() as tx:
            call = await self._load(tx, call_id)
            apply(call, now)
            if on_saving is not None and leg_id is not None:
                await on_saving(tx, call, call.leg(leg_id))
            await tx.save(call, None, now)
        return call

    # the timers (ringing, keep-alive) ------------------------------------------------------------
    async def expire_due(self) -> int:
        """Mark every invitation past its deadline ``missed`` and disconnect every participant
        past its keep-alive deadline (``connectionLost``); returns how many calls changed."""
        now = self._clock.now()
        async with self.store.read() as tx:
            due = await tx.due_calls(now)
        changed = 0
        for call_id in due:
            async with self.store.write() as wtx:
                call = await wtx.load(call_id)
                if call is None or not call.expire(now):
                    continue  # another node (or an answer) got there first
                await wtx.save(call, None, now)
            changed += 1
        return changed

    async def run_timers(self) -> None:
        """Fire ringing and keep-alive timeouts until cancelled (``Node.start_background``)."""
        poll = self._settings.timer_poll_seconds
        # Sleep first: nothing can be due at start-up that a second's delay would hurt, and the
        # node's other start-up work (the hub's first read) goes first.
        await self._clock.sleep(poll)
        await self.defer_silence_after_start()
        while True:
            wait = poll
            try:
                await self.expire_due()
                async with self.store.read() as tx:
                    deadline = await tx.next_deadline()
                if deadline is not None:
                    wait = min(poll, max(0.01, deadline - self._clock.now()))
            except Exception:  # the store may be briefly unavailable; the next round retries
                log.exception("calling timer could not expire invitations or silent participants")
            await self._clock.sleep(wait)

    async def defer_silence_after_start(self) -> None:
        """Keep-alives sent while this node was down (or the whole service was) reached no one:
        a restart gives every joined participant a whole keep-alive timeout to reach it again,
        rather than dropping as ``connectionLost`` the ones whose clients are still there. With
        several nodes, a participant that really left is dropped at most one timeout later."""
        until = self._alive_until(self._clock.now())
        if until is None:
            return
        try:
            async with self.store.write() as tx:
                await tx.defer_silence(until)
        except Exception:  # the store may be away at start: then the timers behave as before
            log.exception("calling timer could not defer keep-alive deadlines at start")

    # helpers ---------------------------------------------------------------------------------------
    @staticmethod
    async def _load(tx: CallTx, call_id: str) -> Call:
        call = await tx.load(call_id) if len(call_id) <= 64 else None
        if call is None:
            raise call_not_found()
        return call

    async def _own(
        self, tx: CallTx, principal: Principal, call_id: str, participant_id: str
    ) -> tuple[Call, Leg]:
        """The call and the caller's own participant in it; the uniform 404 otherwise."""
        _require(principal, CALL_SCOPES)
        call = await self._load(tx, call_id)
        leg = next((x for x in call.legs if x.id == participant_id), None)
        if leg is None or leg.user_id != principal.user_id:
            raise call_not_found()
        return call, leg

    async def _command(
        self,
        principal: Principal,
        call_id: str,
        participant_id: str,
        apply: Callable[[Call, str, float], object],
    ) -> Call:
        now = self._clock.now()
        async with self.store.write() as tx:
            call, leg = await self._own(tx, principal, call_id, participant_id)
            apply(call, leg.id, now)
            await tx.save(call, principal.user_id, now)
        return call
