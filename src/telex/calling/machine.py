"""The call state machine, sans I/O: a call snapshot in, commands applied, effects out.

Theory of operation
-------------------
A call has *participants*, one per join (a "leg": the same user in a call from two devices is
two participants, each with its own id). Every participant moves through ``LEG_TRANSITIONS``
and the call itself through ``CALL_TRANSITIONS``; nothing else changes a state. A command
(``accept``, ``decline``, ``hang_up``, ``expire`` …) feeds inputs to those tables, then
``_settle`` derives the call-level inputs the new participant states imply (the last invitee
declined: the call was not answered; the last but one participant left a direct call: it is
over). Each change is recorded as an ``Effect``, which the service persists and appends to the
event log in the same transaction, so a reader of the log sees exactly the transitions made.

    participant                                          call
      ringing ──accept──► connected ◄──resume── onHold     ringing ──answered──► connected
         │                   │  └──────hold──────►│           │ unanswered,             │ emptied,
         │ decline, missed,  │ hang up, call over │           │ cancelled,              │ ended for
         │ call over         ▼                    ▼           │ ended for everyone      │ everyone
         └──────────────► disconnected ◄──────────┘           └──────► ended ◄──────────┘
      connecting (the caller, until someone answers) ──answered──► connected
                  └─ hang up (a cancel) ──► disconnected
      connecting, connected, onHold ──no keep-alive by alive_until──► disconnected (connectionLost)

Time enters only as ``now``. The timers (ringing, and each joined participant's keep-alive
deadline, which catches clients that vanished without hanging up) are exposed:
``Call.next_deadline()`` is when ``Call.expire(now)`` next has work to do; the service's timer
task calls it.

Two kinds of error, as in h11: misuse by the caller of the API (an unknown leg, a command the
leg's state does not allow) raises ``TelexError`` with a 4xx code; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

from telex.core.errors import ErrorCode, TelexError

__all__ = [
    "CALL_TRANSITIONS",
    "LEG_TRANSITIONS",
    "Call",
    "CallInput",
    "CallKind",
    "CallState",
    "Effect",
    "EffectKind",
    "EndReason",
    "Leg",
    "LegInput",
    "LegState",
    "Role",
    "call_not_found",
]


class CallKind(StrEnum):
    DIRECT = "direct"  # the caller invites one user (1:1) or several at once
    GROUP = "group"  # joined by a groupId; anyone holding the id may join
    # Several users rung at once, the first to answer takes the call (a phone number routed to
    # users, as a hunt group does): otherwise a direct call.
    HUNT = "hunt"


class CallState(StrEnum):
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"


class LegState(StrEnum):
    CONNECTING = "connecting"
    RINGING = "ringing"
    CONNECTED = "connected"
    ON_HOLD = "onHold"
    DISCONNECTED = "disconnected"


class Role(StrEnum):
    CALLER = "caller"  # started the call (the first joiner of a group call)
    INVITEE = "invitee"
    MEMBER = "member"  # joined a group call later


class EndReason(StrEnum):
    HUNG_UP = "hungUp"  # this participant left
    REMOTE_HUNG_UP = "remoteHungUp"  # the others left a direct call, so it ended
    DECLINED = "declined"
    CANCELLED = "cancelled"  # the caller gave up before anyone answered
    MISSED = "missed"  # nobody answered in time
    ENDED_FOR_EVERYONE = "endedForEveryone"  # the caller ended the call for all
    CONNECTION_LOST = "connectionLost"  # its client stopped sending keep-alives
    REMOVED = "removed"  # a trusted service (Call Automation) took it out of the call
    REDIRECTED = "redirected"  # its invitation went to another user instead
    BUSY = "busy"  # a phone number's line was busy (SIP 486, 600)
    UNAVAILABLE = "unavailable"  # the phone network could not reach the number (404, 5xx …)


class LegInput(Enum):
    ACCEPT = "accept"
    DECLINE = "decline"
    RING_TIMEOUT = "ringTimeout"
    ANSWERED = "answered"  # someone answered the caller
    HOLD = "hold"
    RESUME = "resume"
    HANG_UP = "hangUp"
    CANCEL = "cancel"
    CALL_OVER = "callOver"  # the call ended around this participant (reason given)
    LOST = "lost"  # no keep-alive before its deadline: the client vanished


class CallInput(Enum):
    ANSWERED = "answered"
    UNANSWERED = "unanswered"
    CANCELLED = "cancelled"
    EMPTIED = "emptied"
    END_FOR_EVERYONE = "endForEveryone"


_R, _C, _H = LegState.RINGING, LegState.CONNECTED, LegState.ON_HOLD
_G, _D = LegState.CONNECTING, LegState.DISCONNECTED

LEG_TRANSITIONS: dict[tuple[LegState, LegInput], LegState] = {
    (_R, LegInput.ACCEPT): _C,
    (_R, LegInput.DECLINE): _D,
    (_R, LegInput.RING_TIMEOUT): _D,
    (_R, LegInput.CALL_OVER): _D,
    (_G, LegInput.ANSWERED): _C,
    (_G, LegInput.CANCEL): _D,
    (_G, LegInput.CALL_OVER): _D,
    (_C, LegInput.HOLD): _H,
    (_H, LegInput.RESUME): _C,
    (_C, LegInput.HANG_UP): _D,
    (_H, LegInput.HANG_UP): _D,
    (_C, LegInput.CALL_OVER): _D,
    (_H, LegInput.CALL_OVER): _D,
    (_G, LegInput.LOST): _D,
    (_C, LegInput.LOST): _D,
    (_H, LegInput.LOST): _D,
}

# The end reason each disconnecting input implies (CALL_OVER carries its own).
_LEG_REASONS = {
    LegInput.DECLINE: EndReason.DECLINED,
    LegInput.RING_TIMEOUT: EndReason.MISSED,
    LegInput.HANG_UP: EndReason.HUNG_UP,
    LegInput.CANCEL: EndReason.CANCELLED,
    LegInput.LOST: EndReason.CONNECTION_LOST,
}

CALL_TRANSITIONS: dict[tuple[CallState, CallInput], CallState] = {
    (CallState.RINGING, CallInput.ANSWERED): CallState.CONNECTED,
    (CallState.RINGING, CallInput.UNANSWERED): CallState.ENDED,
    (CallState.RINGING, CallInput.CANCELLED): CallState.ENDED,
    (CallState.RINGING, CallInput.END_FOR_EVERYONE): CallState.ENDED,
    (CallState.CONNECTED, CallInput.EMPTIED): CallState.ENDED,
    (CallState.CONNECTED, CallInput.END_FOR_EVERYONE): CallState.ENDED,
}

ACTIVE = frozenset({_G, _R, _C, _H})  # counts towards the mesh limit
JOINED = frozenset({_G, _C, _H})  # has signaling: may send and receive SDP, ICE, channels


class EffectKind(Enum):
    CALL_STARTED = "callStarted"
    CALL_STATE_CHANGED = "callStateChanged"
    CALL_ENDED = "callEnded"
    LEG_ADDED = "participantAdded"
    LEG_UPDATED = "participantUpdated"
    LEG_REMOVED = "participantRemoved"


@dataclass(frozen=True, slots=True)
class Effect:
    kind: EffectKind
    leg: Leg | None = None


def call_not_found() -> TelexError:
    # One answer for "no such call" and "not yours": no existence oracle.
    return TelexError(ErrorCode.NOT_FOUND, "The call does not exist or you are not a participant.")


@dataclass(slots=True)
class Leg:
    id: str
    user_id: str
    role: Role
    state: LegState
    created_at: float
    display_name: str | None = None
    end_reason: EndReason | None = None
    ring_deadline: float | None = None
    connected_at: float | None = None
    left_at: float | None = None
    # While joined: the participant is dropped (``connectionLost``) unless its client sends a
    # keep-alive before this instant. None: not watched (ringing, or keep-alives turned off).
    alive_until: float | None = None
    muted: bool = False
    video: bool = False
    screen_sharing: bool = False
    new: bool = False  # not yet stored
    dirty: bool = False  # changed since loaded

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def joined(self) -> bool:
        return self.state in JOINED


@dataclass(slots=True)
class Call:
    id: str
    kind: CallKind
    state: CallState
    caller_id: str  # the user who started the call
    created_at: float
    group_id: str | None = None
    video_offered: bool = False
    connected_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    legs: list[Leg] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    new: bool = False  # not yet stored
    dirty: bool = False

    # construction ------------------------------------------------------------------------------
    @classmethod
    def start_direct(
        cls,
        call_id: str,
        caller: Leg,
        invitees: list[Leg],
        *,
        video: bool,
        now: float,
        ring_timeout: float,
        max_participants: int,
        first_answer_only: bool = False,
    ) -> Call:
        """A call from ``caller`` (state ``connecting``) ringing every invitee; with
        ``first_answer_only``, the first to answer ends the others' invitations (``HUNT``)."""
        if not invitees:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "A call needs at least one user to call.")
        if 1 + len(invitees) > max_participants:
            raise _full(max_participants)
        kind = CallKind.HUNT if first_answer_only else CallKind.DIRECT
        call = cls(call_id, kind, CallState.RINGING, caller.user_id, now, video_offered=video)
        call.new = True
        caller.state, caller.role = LegState.CONNECTING, Role.CALLER
        call._record(EffectKind.CALL_STARTED)
        call._add(caller)
        for leg in invitees:
            leg.state, leg.role, leg.ring_deadline = LegState.RINGING, Role.INVITEE, now + ring_timeout
            call._add(leg)
        return call

    @classmethod
    def start_group(cls, call_id: str, group_id: str, first: Leg, *, video: bool, now: float) -> Call:
        """A group call, connected from the start: its first participant is in it alone."""
        call = cls(
            call_id, CallKind.GROUP, CallState.CONNECTED, first.user_id, now, group_id=group_id,
            video_offered=video, connected_at=now,
        )  # fmt: skip
        call.new = True
        first.state, first.role, first.connected_at = LegState.CONNECTED, Role.CALLER, now
        call._record(EffectKind.CALL_STARTED)
        call._add(first)
        return call

    # queries -------------------------------------------------------------------------------------
    def leg(self, leg_id: str) -> Leg:
        for leg in self.legs:
            if leg.id == leg_id:
                return leg
        raise call_not_found()

    def legs_of(self, user_id: str) -> list[Leg]:
        return [leg for leg in self.legs if leg.user_id == user_id]

    def joined_legs(self) -> list[Leg]:
        return [leg for leg in self.legs if leg.joined]

    def next_deadline(self) -> float | None:
        """When ``expire`` next has work: the earliest ringing or keep-alive deadline, if any."""
        deadlines = [leg.ring_deadline for leg in self.legs if leg.state is _R and leg.ring_deadline]
        deadlines += [leg.alive_until for leg in self.legs if leg.joined and leg.alive_until is not None]
        return min(deadlines) if deadlines else None

    @property
    def duration(self) -> float:
        """Seconds from the first answer to the end (0 for a call never answered)."""
        if self.connected_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else self.connected_at
        return max(0.0, end - self.connected_at)

    # commands ------------------------------------------------------------------------------------
    def join(self, leg: Leg, *, now: float, max_participants: int) -> None:
        """A new participant in a group call. Raises ``CallFull`` (409) at the mesh limit."""
        self._require_live()
        if self.kind is not CallKind.GROUP:
            raise TelexError(ErrorCode.CONFLICT, "Only group calls can be joined; answer the invitation.")
        if sum(1 for x in self.legs if x.active) >= max_participants:
            raise _full(max_participants)
        leg.state, leg.role, leg.connected_at = LegState.CONNECTED, Role.MEMBER, now
        self._add(leg)

    def accept(self, leg_id: str, *, now: float, video: bool = False) -> Leg:
        leg = self.leg(leg_id)
        self._step(leg, LegInput.ACCEPT, now, "The call is not ringing for this participant.")
        leg.connected_at, leg.ring_deadline, leg.video = now, None, video
        if self.state is CallState.RINGING:
            self._call_step(CallInput.ANSWERED, now)
            self.connected_at = now
            for other in self.legs:
                if other.state is _G:
                    self._step(other, LegInput.ANSWERED, now, "")
                    other.connected_at = now
                elif other.state is _R and self.kind is CallKind.HUNT:
                    # In the same step as the answer: a second answer racing this one finds its
                    # invitation already over (409), so two users never both take the call.
                    self._step(other, LegInput.CALL_OVER, now, "", EndReason.CANCELLED)
        self._settle(now)
        return leg

    def decline(self, leg_id: str, *, now: float) -> None:
        leg = self.leg(leg_id)
        self._step(leg, LegInput.DECLINE, now, "The call is not ringing for this participant.")
        self._settle(now)

    def expire(self, now: float) -> bool:
        """Fire the timers: every invitation past its deadline is ``missed``, every participant
        past its keep-alive deadline is disconnected with ``connectionLost``."""
        fired = False
        for leg in self.legs:
            if leg.state is _R and leg.ring_deadline is not None and leg.ring_deadline <= now:
                self._step(leg, LegInput.RING_TIMEOUT, now, "")
                fired = True
            elif leg.joined and leg.alive_until is not None and leg.alive_until <= now:
                self._step(leg, LegInput.LOST, now, "")
                fired = True
        if fired:
            self._settle(now)
        return fired

    def hang_up(self, leg_id: str, *, now: float, for_everyone: bool = False) -> None:
        """Leave the call; the caller may end it for everyone. A caller hanging up before anyone
        answered cancels the call. Only the user who started the call may end it for everyone."""
        leg = self.leg(leg_id)
        if leg.state is _R:
            raise TelexError(ErrorCode.CONFLICT, "A ringing participant declines rather than hangs up.")
        if for_everyone:
            if leg.user_id != self.caller_id:
                raise TelexError(ErrorCode.FORBIDDEN, "Only the caller may end the call for everyone.")
            if not leg.active:
                raise TelexError(ErrorCode.CONFLICT, "This participant is not in the call.")
            self._require_live()
            self._end(CallInput.END_FOR_EVERYONE, EndReason.ENDED_FOR_EVERYONE, now)
            return
        if leg.state is _G:
            self._step(leg, LegInput.CANCEL, now, "")
        else:
            self._step(leg, LegInput.HANG_UP, now, "This participant is not in the call.")
        self._settle(now)

    # commands of a trusted service (Call Automation); no participant's own rights apply --------------
    def invite(self, leg: Leg, *, now: float, ring_timeout: float, max_participants: int) -> None:
        """Ring one more user in a live call (add a participant, transfer). 409 ``CallFull`` at
        the mesh limit."""
        self._require_live()
        if sum(1 for x in self.legs if x.active) >= max_participants:
            raise _full(max_participants)
        leg.state, leg.role, leg.ring_deadline = LegState.RINGING, Role.INVITEE, now + ring_timeout
        self._add(leg)

    def cancel_invite(self, leg_id: str, *, now: float) -> None:
        """Stop ringing an invitee (409 unless it rings)."""
        leg = self.leg(leg_id)
        if leg.state is not _R:
            raise TelexError(ErrorCode.CONFLICT, "The invitation is no longer ringing.")
        self._step(leg, LegInput.CALL_OVER, now, "", EndReason.CANCELLED)
        self._settle(now)

    def end_invitation(self, leg_id: str, reason: EndReason, *, now: float) -> None:
        """The network answered a ringing invitee's invitation for it (a phone number: busy,
        declined, no answer, unreachable): it ends with ``reason`` (409 unless it rings)."""
        leg = self.leg(leg_id)
        if leg.state is not _R:
            raise TelexError(ErrorCode.CONFLICT, "The invitation is no longer ringing.")
        self._step(leg, LegInput.CALL_OVER, now, "", reason)
        self._settle(now)

    def remove(self, leg_id: str, *, now: float) -> None:
        """Take a participant out of the call, ringing or in it (409 once it is gone)."""
        leg = self.leg(leg_id)
        self._step(leg, LegInput.CALL_OVER, now, "This participant is not in the call.", EndReason.REMOVED)
        self._settle(now)

    def redirect(self, leg_id: str, target: Leg, *, now: float, ring_timeout: float) -> None:
        """Ring ``target`` instead of the ringing ``leg_id`` (the call never stops ringing)."""
        leg = self.leg(leg_id)
        if leg.state is not _R:
            raise TelexError(ErrorCode.CONFLICT, "The call is not ringing for this participant.")
        target.state, target.role, target.ring_deadline = LegState.RINGING, Role.INVITEE, now + ring_timeout
        self._add(target)
        self._step(leg, LegInput.CALL_OVER, now, "", EndReason.REDIRECTED)
        self._settle(now)

    def terminate(self, *, now: float) -> None:
        """End the call for everyone, whoever started it."""
        self._require_live()
        self._end(CallInput.END_FOR_EVERYONE, EndReason.ENDED_FOR_EVERYONE, now)

    def keep_alive(self, leg_id: str, *, until: float | None) -> None:
        """The participant's client is still there: watch it again until ``until``. Records no
        event (nothing changed that others see); 409 for a participant no longer in the call."""
        leg = self.require_joined(leg_id)
        leg.alive_until, leg.dirty = until, True

    def hold(self, leg_id: str, *, now: float) -> None:
        self._step(self.leg(leg_id), LegInput.HOLD, now, "Only a connected participant can hold.")

    def resume(self, leg_id: str, *, now: float) -> None:
        self._step(self.leg(leg_id), LegInput.RESUME, now, "Only a participant on hold can resume.")

    def set_media(
        self, leg_id: str, *, muted: bool | None, video: bool | None, screen_sharing: bool | None
    ) -> None:
        """Change what a joined participant sends; one ``participantUpdated`` if anything changed."""
        leg = self.require_joined(leg_id)
        before = (leg.muted, leg.video, leg.screen_sharing)
        leg.muted = before[0] if muted is None else muted
        leg.video = before[1] if video is None else video
        leg.screen_sharing = before[2] if screen_sharing is None else screen_sharing
        if (leg.muted, leg.video, leg.screen_sharing) != before:
            leg.dirty = True
            self._record(EffectKind.LEG_UPDATED, leg)

    def require_signaling(self, sender_id: str, target_id: str) -> tuple[Leg, Leg]:
        """The two ends of a signal: both in the call, or early media (RFC 3960 §3, the gateway
        model): while the call rings, a ringing phone number's participant (the PSTN gateway
        after a 183 with SDP) and the caller still waiting for an answer negotiate media, so the
        caller hears ringback and announcements. 409 otherwise."""
        sender, target = self.leg(sender_id), self.leg(target_id)
        if self.state is CallState.RINGING and _early_media_pair(sender, target):
            return sender, target
        return self.require_joined(sender_id), self.require_joined(target_id)

    def require_joined(self, leg_id: str) -> Leg:
        """The leg, which must be in the call (not ringing, not gone): 409 otherwise."""
        leg = self.leg(leg_id)
        if not leg.joined:
            raise TelexError(ErrorCode.CONFLICT, "This participant is not in the call.")
        return leg

    # internals -----------------------------------------------------------------------------------
    def _require_live(self) -> None:
        if self.state is CallState.ENDED:
            raise TelexError(ErrorCode.CONFLICT, "The call has ended.")

    def _record(self, kind: EffectKind, leg: Leg | None = None) -> None:
        self.effects.append(Effect(kind, leg))

    def _add(self, leg: Leg) -> None:
        leg.new = True
        self.legs.append(leg)
        self._record(EffectKind.LEG_ADDED, leg)

    def _step(
        self, leg: Leg, event: LegInput, now: float, misuse: str, reason: EndReason | None = None
    ) -> None:
        new = LEG_TRANSITIONS.get((leg.state, event))
        if new is None:
            raise TelexError(ErrorCode.CONFLICT, misuse or f"{event.value} is not allowed now.")
        leg.state, leg.dirty = new, True
        if new is _D:
            leg.end_reason = reason or _LEG_REASONS[event]
            leg.left_at, leg.ring_deadline, leg.alive_until = now, None, None
            self._record(EffectKind.LEG_REMOVED, leg)
        else:
            self._record(EffectKind.LEG_UPDATED, leg)

    def _call_step(self, event: CallInput, now: float) -> None:
        new = CALL_TRANSITIONS.get((self.state, event))
        if new is None:  # the commands above only feed inputs the table allows
            raise TelexError(ErrorCode.CONFLICT, f"{event.value} is not allowed in state {self.state}.")
        self.state, self.dirty = new, True
        if new is CallState.ENDED:
            self.ended_at = now
            self._record(EffectKind.CALL_ENDED)
        else:
            self._record(EffectKind.CALL_STATE_CHANGED)

    def _end(self, event: CallInput, reason: EndReason, now: float, others: EndReason | None = None) -> None:
        """End the call: every participant still in it is disconnected (ringing ones: cancelled)."""
        for leg in self.legs:
            if leg.active:
                leg_reason = others or reason
                if leg.state is _R and reason is not EndReason.ENDED_FOR_EVERYONE:
                    leg_reason = EndReason.CANCELLED
                self._step(leg, LegInput.CALL_OVER, now, "", leg_reason)
        self.end_reason = reason
        self._call_step(event, now)

    def _settle(self, now: float) -> None:
        """Derive the call-level inputs that the participants' new states imply."""
        if self.state is CallState.ENDED:
            return
        active = [leg for leg in self.legs if leg.active]
        if self.state is CallState.RINGING:
            caller_waiting = any(leg.state is _G for leg in self.legs)
            if not caller_waiting:
                self._end(CallInput.CANCELLED, EndReason.CANCELLED, now)
            elif not any(leg.state is _R for leg in self.legs):
                # Nobody left to answer: the caller hears the last invitee's answer.
                last = max((x for x in self.legs if x.role is Role.INVITEE), key=lambda x: x.left_at or 0.0)
                self._end(CallInput.UNANSWERED, last.end_reason or EndReason.MISSED, now)
            return
        if self.kind is not CallKind.GROUP and len(active) <= 1:
            self._end(CallInput.EMPTIED, EndReason.HUNG_UP, now, others=EndReason.REMOTE_HUNG_UP)
        elif not active:
            self._end(CallInput.EMPTIED, EndReason.HUNG_UP, now)


def _early_media_pair(a: Leg, b: Leg) -> bool:
    phone, caller = (a, b) if a.state is _R else (b, a)
    return (
        phone.state is _R
        and phone.user_id.startswith("4:")
        and caller.state is _G
        and caller.role is Role.CALLER
    )


def _full(limit: int) -> TelexError:
    return TelexError(
        ErrorCode.CALL_FULL,
        f"The call already has {limit} participants, the most a mesh call may have on this server.",
    )
