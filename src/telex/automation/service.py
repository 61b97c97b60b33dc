"""``AutomationService``: Call Automation's call control (acs-wire.md §3.7), for the trusted
service that holds the access key (HMAC); media and recordings are in ``media_ops``.

    answer(incomingCallContext) ─► verify the ticket ─► a media slot ─► calling.accept as the
        callee, and in the same unit the call connection's row (on_saving) ─► the save hook sees
        the connection and appends CallConnected ─► server-side media joins the mesh
    create / connect ─► the same, with calling.start_call / join_group as the application
    participants:add / :transferToParticipant ─► calling.invite + a pending operation row,
        one unit; the hook reports how it ended
    :remove / :mute / :terminate / DELETE ─► calling commands; the hook reports

Everything the application learns later comes as callbacks appended by the save hook or by the
media session (``media_events``), never from here directly: one path, in log order.

Errors: an unknown call connection is 404; an ``incomingCallContext`` that does not verify is
400, one whose invitation no longer rings is 404; phone-number targets answer 501 on a server
without a SIP trunk. With one, a phone number may be created, added, transferred or redirected
to: the caller id is ``sourceCallerIdNumber`` (or, for a call answered on one of the resource's
numbers, that number), checked by the gateway as every outbound call is (``PhoneDialer``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from telex.automation.context import ContextSigner
from telex.automation.events import callback_event, result
from telex.automation.identifiers import identifier, is_phone, is_user, raw_id
from telex.automation.media.core import MediaEvent
from telex.automation.media.engine import MediaEngine
from telex.automation.media.signaling import LocalCallClient
from telex.automation.store import ConnectionRepo
from telex.automation.translate import Connection, ConnectionState, Operation, participant, participants
from telex.automation.wire import (
    AddParticipantRequest,
    AnswerCallRequest,
    CancelAddParticipantRequest,
    ConnectRequest,
    CreateCallRequest,
    MuteParticipantsRequest,
    RedirectCallRequest,
    RejectCallRequest,
    RemoveParticipantRequest,
    TransferToParticipantRequest,
)
from telex.calling import Call, CallingService, CallTx, Joined, Leg, LegState, PhoneDialer
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId
from telex.events.backbone import Backbone
from telex.events.model import DomainEvent
from telex.identity import IdentityService, Principal, Scope
from telex.store.database import Database
from telex.webhooks.outbound import DestinationGuard, DestinationRefused

__all__ = ["AutomationService", "PstnDialer", "not_implemented"]

log = logging.getLogger(__name__)

_JOINED = (LegState.CONNECTING, LegState.CONNECTED, LegState.ON_HOLD)


PstnDialer = PhoneDialer  # the PSTN gateway, as Call Automation sees it


def not_implemented(what: str) -> TelexError:
    return TelexError(ErrorCode.NOT_IMPLEMENTED, what)


def _pstn() -> TelexError:
    return not_implemented(
        "Calls to and from phone numbers need the PSTN gateway: configure a SIP trunk ([[sip.trunks]])."
    )


def _principal(user: str) -> Principal:
    """The identity an application is in a call as (its rights come from the access key)."""
    return Principal(UserId(user), frozenset({Scope.VOIP}), 0, 2**31 - 1, 0, "automation")


def _connection_not_found() -> TelexError:
    return TelexError(ErrorCode.NOT_FOUND, "The call connection does not exist.")


def _no_longer_ringing() -> TelexError:
    return TelexError(
        ErrorCode.NOT_FOUND, "The call is no longer ringing: it was answered, redirected or ended."
    )


class AutomationService:
    def __init__(
        self,
        calling: CallingService,
        identity: IdentityService,
        backbone: Backbone,
        clock: Clock,
        signer: ContextSigner,
        guard: DestinationGuard,
        engine: MediaEngine | None,
        app_user: str,
        db: Database,
    ) -> None:
        self.calling = calling
        self._db = db
        self._identity = identity
        self.backbone = backbone
        self._clock = clock
        self.signer = signer
        self._guard = guard
        self.engine = engine
        self.app_user = app_user
        self._uris: dict[str, str] = {}  # connection → its callback URI, for media callbacks
        self.pstn: PstnDialer | None = None  # the PSTN gateway, when a trunk is configured

    # helpers -----------------------------------------------------------------------------------------
    def check_uri(self, uri: str, field: str = "callbackUri") -> str:
        """The static URL rules (scheme, port, no credentials); addresses are checked at delivery."""
        try:
            self._guard.parse(uri)
        except DestinationRefused as exc:
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, f"{field} is not allowed ({exc.reason.value})."
            ) from exc
        return uri

    def _user(self, raw: str) -> str:
        if is_phone(raw):
            raise _pstn()
        if not is_user(raw):
            raise TelexError(ErrorCode.VALIDATION_FAILED, f"Cannot call {raw[:140]!r}.")
        return self._identity.parse_user(raw)

    async def connection(self, connection_id: str) -> Connection:
        async with self._db.read() as conn:
            found = await ConnectionRepo(conn).get(connection_id)
        if found is None:
            raise _connection_not_found()
        return found

    async def live(self, connection_id: str) -> tuple[Connection, Call]:
        """The connection and its call; 409 once the application has left the call."""
        conn = await self.connection(connection_id)
        if conn.state == ConnectionState.DISCONNECTED:
            raise TelexError(ErrorCode.CONFLICT, "The call connection is disconnected.")
        return conn, await self.calling.load(conn.call_id)

    @asynccontextmanager
    async def _joining(self, principal: Principal) -> AsyncIterator[LocalCallClient | None]:
        if self.engine is None or self.engine.max_sessions == 0:
            yield None
            return
        async with self.engine.joining(principal) as client:
            yield client

    async def _start_media(self, client: LocalCallClient | None, conn: Connection, joined: Joined) -> None:
        self._uris[conn.id] = conn.callback_uri
        if client is not None and self.engine is not None:
            await self.engine.start(client, conn.id, joined)

    def _saver(self, conn: Connection) -> Callable[[CallTx, Call, Leg], Awaitable[None]]:
        async def on_saving(tx: CallTx, call: Call, leg: Leg) -> None:
            conn.call_id, conn.leg_id = call.id, leg.id
            await ConnectionRepo(tx.conn).insert(conn)

        return on_saving

    def _new_connection(
        self, kind: str, user: str, uri: str, context: str | None, details: dict[str, Any]
    ) -> Connection:
        return Connection(
            id=str(uuid.uuid4()),
            call_id="",
            leg_id="",
            user_id=user,
            kind=kind,
            state=ConnectionState.CONNECTING,
            callback_uri=uri,
            operation_context=context,
            details=details,
            participants_seq=0,
            created_at=self._clock.now(),
        )

    def properties(self, conn: Connection, call: Call | None) -> dict[str, Any]:
        """``CallConnectionProperties``."""
        out: dict[str, Any] = {
            "callConnectionId": conn.id,
            "serverCallId": conn.call_id,
            "callConnectionState": conn.state,
            "callbackUri": conn.callback_uri,
            "correlationId": conn.call_id,
        }
        if conn.kind == "created":
            out["targets"] = [identifier(t) for t in conn.details.get("targets", [])]
        elif call is not None:
            out["targets"] = [
                identifier(x.user_id) for x in call.legs if x.state in _JOINED and x.id != conn.leg_id
            ]
        else:
            out["targets"] = []
        if conn.kind == "answered":
            out["answeredBy"] = {"id": conn.details.get("answeredBy") or conn.user_id}
        else:
            out["source"] = identifier(conn.user_id)
        if conn.details.get("sourceDisplayName"):
            out["sourceDisplayName"] = conn.details["sourceDisplayName"]
        return out

    # answer, reject, redirect ----------------------------------------------------------------------
    async def answer(self, req: AnswerCallRequest) -> dict[str, Any]:
        ticket = self.signer.verify(req.incomingCallContext, self._clock.now())
        uri = self.check_uri(req.callbackUri)
        if req.mediaStreamingOptions or req.transcriptionOptions:
            raise _needs_ai("Media streaming and transcription")
        answered_by = raw_id(req.answeredBy, "answeredBy") if req.answeredBy else None
        conn = self._new_connection(
            "answered",
            ticket.callee,
            uri,
            req.operationContext,
            {"answeredBy": answered_by} if answered_by else {},
        )
        principal = _principal(ticket.callee)
        async with self._joining(principal) as client:
            try:
                joined = await self.calling.accept(
                    principal, ticket.call_id, ticket.participant_id, on_saving=self._saver(conn)
                )
            except TelexError as exc:
                if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT):
                    raise _no_longer_ringing() from exc
                raise
            conn.state = ConnectionState.CONNECTED
            await self._start_media(client, conn, joined)
        return self.properties(conn, joined.call)

    async def reject(self, req: RejectCallRequest) -> None:
        ticket = self.signer.verify(req.incomingCallContext, self._clock.now())
        try:
            await self.calling.decline(_principal(ticket.callee), ticket.call_id, ticket.participant_id)
        except TelexError as exc:
            if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT):
                raise _no_longer_ringing() from exc
            raise

    async def redirect(self, req: RedirectCallRequest) -> None:
        ticket = self.signer.verify(req.incomingCallContext, self._clock.now())
        raw = raw_id(req.target, "target")
        # ACS's redirect names no caller id: a phone target sees the number that was called.
        caller_id = await self._caller_id(None, ticket.callee, raw) if is_phone(raw) else ""
        target = raw if caller_id else self._user(raw)
        try:
            leg = await self.calling.redirect(
                ticket.call_id, ticket.participant_id, target, phone=bool(caller_id)
            )
        except TelexError as exc:
            if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.CONFLICT):
                raise _no_longer_ringing() from exc
            raise
        if caller_id:
            await self._dial(ticket.call_id, leg, caller_id)

    # create, connect -----------------------------------------------------------------------------------
    async def create(self, req: CreateCallRequest) -> dict[str, Any]:
        uri = self.check_uri(req.callbackUri)
        if req.mediaStreamingOptions or req.transcriptionOptions:
            raise _needs_ai("Media streaming and transcription")
        raws = [raw_id(t, "targets") for t in req.targets]
        phones = [r for r in raws if is_phone(r)]
        caller_id = ""
        if phones:
            caller_id = await self._check_pstn(req.sourceCallerIdNumber, phones)
        targets = [r if is_phone(r) else self._user(r) for r in raws]
        source = self._user(raw_id(req.source, "source")) if req.source else self.app_user
        details: dict[str, Any] = {"targets": targets}
        if req.sourceDisplayName:
            details["sourceDisplayName"] = req.sourceDisplayName
        conn = self._new_connection("created", source, uri, req.operationContext, details)
        principal = _principal(source)
        async with self._joining(principal) as client:
            joined = await self.calling.start_call(
                principal, targets, display_name=req.sourceDisplayName, on_saving=self._saver(conn),
                phone=bool(phones), trusted=True,
            )  # fmt: skip
            await self._start_media(client, conn, joined)
        if self.pstn is not None:
            for leg in joined.call.legs:
                if is_phone(leg.user_id) and leg.state is LegState.RINGING:
                    await self.pstn.dial(joined.call.id, leg.id, leg.user_id[2:], caller_id)
        return self.properties(conn, joined.call)

    async def _check_pstn(self, caller: dict[str, Any] | None, phones: list[str]) -> str:
        """The caller id for calls to ``phones``: ACS requires ``sourceCallerIdNumber`` (400
        without), a number of this resource that may place calls (403 otherwise)."""
        value = ""
        for raw in phones:
            value = await self._caller_id(caller, None, raw)
        return value

    async def _caller_id(self, given: dict[str, Any] | None, own: str | None, target: str) -> str:
        """The number the phone ``target`` sees calling: ``given`` (``sourceCallerIdNumber``), else
        ``own`` when it is a phone number (the number an answered call came in on); checked by
        the gateway as every outbound call is: a number of this resource with outbound calling,
        a destination a trunk may call (403), before anything rings."""
        if self.pstn is None:
            raise _pstn()
        value = given.get("value") if isinstance(given, dict) else None
        if not value and own is not None and is_phone(own):
            value = own[2:]
        if not isinstance(value, str) or not value:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "Calls to phone numbers need sourceCallerIdNumber.")
        await self.pstn.check_outbound(value, target[2:])
        return value

    async def _dial(self, call_id: str, leg: Leg, caller_id: str) -> None:
        assert self.pstn is not None
        await self.pstn.dial(call_id, leg.id, leg.user_id[2:], caller_id)

    async def connect(self, req: ConnectRequest) -> dict[str, Any]:
        uri = self.check_uri(req.callbackUri)
        if req.mediaStreamingOptions or req.transcriptionOptions:
            raise _needs_ai("Media streaming and transcription")
        locator = req.callLocator
        if locator.roomId:
            raise not_implemented("Connecting to a rooms call is not supported by this server.")
        if locator.groupCallId:
            group = locator.groupCallId
        elif locator.serverCallId:
            call = await self.calling.load(locator.serverCallId)
            if call.group_id is None:
                raise TelexError(ErrorCode.VALIDATION_FAILED, "Only group calls can be connected to.")
            group = call.group_id
        else:
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, "callLocator needs a groupCallId or a serverCallId."
            )
        conn = self._new_connection("connected", self.app_user, uri, req.operationContext, {})
        principal = _principal(self.app_user)
        async with self._joining(principal) as client:
            joined = await self.calling.join_group(principal, group, on_saving=self._saver(conn))
            conn.state = ConnectionState.CONNECTED
            await self._start_media(client, conn, joined)
        return self.properties(conn, joined.call)

    # the connection --------------------------------------------------------------------------------------
    async def get(self, connection_id: str) -> dict[str, Any]:
        conn = await self.connection(connection_id)
        call = await self.calling.load(conn.call_id)
        return self.properties(conn, call)

    async def hang_up(self, connection_id: str) -> None:
        """Leave the call (a 1:1 call then ends); nothing to do once already out."""
        conn = await self.connection(connection_id)
        if conn.state == ConnectionState.DISCONNECTED:
            return
        with contextlib.suppress(TelexError):  # the call ended meanwhile: the hook reported it
            await self.calling.hang_up(_principal(conn.user_id), conn.call_id, conn.leg_id)

    async def terminate(self, connection_id: str) -> None:
        conn = await self.connection(connection_id)
        if conn.state == ConnectionState.DISCONNECTED:
            return
        with contextlib.suppress(TelexError):
            await self.calling.terminate(conn.call_id)

    async def list_participants(self, connection_id: str) -> dict[str, Any]:
        conn = await self.connection(connection_id)
        call = await self.calling.load(conn.call_id)
        return {"value": participants(call, conn.leg_id), "nextLink": None}

    async def get_participant(self, connection_id: str, raw: str) -> dict[str, Any]:
        conn = await self.connection(connection_id)
        call = await self.calling.load(conn.call_id)
        leg = next(
            (x for x in call.legs if x.user_id == raw and x.state in _JOINED and x.id != conn.leg_id), None
        )
        if leg is None:
            raise TelexError(ErrorCode.NOT_FOUND, "The participant is not in the call.")
        return participant(leg)

    async def add_participant(self, connection_id: str, req: AddParticipantRequest) -> dict[str, Any]:
        conn, _ = await self.live(connection_id)
        raw = raw_id(req.participantToAdd, "participantToAdd")
        caller_id = (
            await self._caller_id(req.sourceCallerIdNumber, conn.user_id, raw) if is_phone(raw) else ""
        )
        target = raw if caller_id else self._user(raw)
        uri = (
            self.check_uri(req.operationCallbackUri, "operationCallbackUri")
            if req.operationCallbackUri
            else None
        )
        timeout = float(req.invitationTimeoutInSeconds) if req.invitationTimeoutInSeconds else None

        async def on_saving(tx: CallTx, call: Call, leg: Leg) -> None:
            op = Operation(leg.id, conn.id, "add", leg.id, target, None, req.operationContext, uri)
            await ConnectionRepo(tx.conn).add_operation(op, self._clock.now())

        leg = await self.calling.invite(
            conn.call_id,
            target,
            display_name=req.sourceDisplayName,
            ring_seconds=timeout,
            on_saving=on_saving,
            phone=bool(caller_id),
        )
        if caller_id:
            await self._dial(conn.call_id, leg, caller_id)
        return {
            "participant": participant(leg),
            "operationContext": req.operationContext,
            "invitationId": leg.id,
        }

    async def cancel_add(self, connection_id: str, req: CancelAddParticipantRequest) -> dict[str, Any]:
        conn, call = await self.live(connection_id)
        uri = (
            self.check_uri(req.operationCallbackUri, "operationCallbackUri")
            if req.operationCallbackUri
            else None
        )
        leg = next((x for x in call.legs if x.id == req.invitationId), None)
        if leg is None or leg.state is not LegState.RINGING:
            await self.emit(
                [
                    callback_event(
                        "CancelAddParticipantFailed",
                        connection_id=conn.id,
                        call_id=conn.call_id,
                        uri=uri or conn.callback_uri,
                        now=self._clock.now(),
                        context=req.operationContext,
                        result_information=result(400, 0, "The invitation is no longer ringing."),
                        data={"invitationId": req.invitationId},
                    )
                ]
            )
            return {"invitationId": req.invitationId, "operationContext": req.operationContext}

        async def on_saving(tx: CallTx, call: Call, leg: Leg) -> None:
            await ConnectionRepo(tx.conn).mark_cancelled(leg.id, req.operationContext, uri)

        await self.calling.cancel_invite(conn.call_id, leg.id, on_saving=on_saving)
        return {"invitationId": req.invitationId, "operationContext": req.operationContext}

    async def remove_participant(self, connection_id: str, req: RemoveParticipantRequest) -> dict[str, Any]:
        conn, call = await self.live(connection_id)
        target = raw_id(req.participantToRemove, "participantToRemove")
        uri = (
            self.check_uri(req.operationCallbackUri, "operationCallbackUri")
            if req.operationCallbackUri
            else None
        )
        legs = [x for x in call.legs if x.user_id == target and x.active and x.id != conn.leg_id]
        if not legs:
            raise TelexError(ErrorCode.NOT_FOUND, "The participant is not in the call.")
        for leg in legs:

            async def on_saving(tx: CallTx, call: Call, leg: Leg) -> None:
                op = Operation(
                    str(uuid.uuid4()), conn.id, "remove", leg.id, target, None, req.operationContext, uri
                )
                await ConnectionRepo(tx.conn).add_operation(op, self._clock.now())

            await self.calling.remove(conn.call_id, leg.id, on_saving=on_saving)
        return {"operationContext": req.operationContext}

    async def mute(self, connection_id: str, req: MuteParticipantsRequest) -> dict[str, Any]:
        conn, call = await self.live(connection_id)
        wanted = {raw_id(t, "targetParticipants") for t in req.targetParticipants}
        legs = [x.id for x in call.legs if x.user_id in wanted and x.joined and x.id != conn.leg_id]
        if not legs:
            raise TelexError(ErrorCode.NOT_FOUND, "The participant is not in the call.")
        await self.calling.mute_participants(conn.call_id, legs)
        return {"operationContext": req.operationContext}

    async def transfer(self, connection_id: str, req: TransferToParticipantRequest) -> dict[str, Any]:
        conn, call = await self.live(connection_id)
        if conn.state != ConnectionState.CONNECTED:
            raise TelexError(ErrorCode.CONFLICT, "Only a connected call can be transferred.")
        raw = raw_id(req.targetParticipant, "targetParticipant")
        caller_id = (
            await self._caller_id(req.sourceCallerIdNumber, conn.user_id, raw) if is_phone(raw) else ""
        )
        target = raw if caller_id else self._user(raw)
        uri = (
            self.check_uri(req.operationCallbackUri, "operationCallbackUri")
            if req.operationCallbackUri
            else None
        )
        if req.transferee:
            transferee: str | None = raw_id(req.transferee, "transferee")
        else:
            other = next((x for x in call.legs if x.joined and x.id != conn.leg_id), None)
            transferee = other.user_id if other is not None else None

        async def on_saving(tx: CallTx, call: Call, leg: Leg) -> None:
            repo = ConnectionRepo(tx.conn)
            op = Operation(leg.id, conn.id, "transfer", leg.id, target, transferee, req.operationContext, uri)
            await repo.add_operation(op, self._clock.now())
            conn.state = ConnectionState.TRANSFERRING
            await repo.save(conn)

        leg = await self.calling.invite(conn.call_id, target, on_saving=on_saving, phone=bool(caller_id))
        if caller_id:
            await self._dial(conn.call_id, leg, caller_id)
        return {"operationContext": req.operationContext}

    # callbacks from media sessions (the engine's host) ----------------------------------------------
    async def media_events(self, session: Any, events: list[MediaEvent]) -> None:
        default = self._uris.get(session.connection_id)
        if default is None:
            default = (await self.connection(session.connection_id)).callback_uri
            self._uris[session.connection_id] = default
        now = self._clock.now()
        out = [
            callback_event(
                e.type,
                connection_id=session.connection_id,
                call_id=session.call_id,
                uri=e.callback or default,
                now=now,
                context=e.context,
                result_information=e.result.wire(),
                data=dict(e.data),
            )
            for e in events
        ]
        await self.emit(out)

    async def emit(self, events: list[DomainEvent]) -> None:
        async with self.backbone.write() as unit:
            for event in events:
                unit.emit(event)

    def forget(self, connection_id: str) -> None:
        self._uris.pop(connection_id, None)


def _needs_ai(what: str) -> TelexError:
    return not_implemented(
        f"{what} need a speech or AI service, which this server does not have; "
        "play audio files and recognize DTMF instead."
    )
