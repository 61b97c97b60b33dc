"""The demo's sample trusted service, in process.

    browser ── POST /demo/api/session {displayName} ─► DemoService.sign_in ─► IdentityService
        ◄── token (chat, voip) + session cookie
    browser ── POST /demo/api/token (cookie) ─► refresh: a fresh token for the same user
    browser ── POST /demo/api/rooms/{groupId} ─► the chat thread tied to that group call

A customer's own server does this with its access key; here it is the same services called
directly. The room's thread belongs to one service user (kept in ``demo.json`` in the data dir)
and is created with a repeatability id derived from the group id, so every visitor of a room,
on any node and after a restart, lands in the same thread without a table of its own.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from telex.carriers import Telephony
from telex.chat import ChatService, ParticipantSpec
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId
from telex.core.ratelimit import RateLimiter
from telex.demo.session import Session
from telex.demo.sms import DemoSms
from telex.identity import IdentityService, IssuedToken, Principal, Scope

__all__ = ["DemoService", "SignedIn"]

SCOPES = ("chat", "voip")
MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: Session
    token: IssuedToken


def _expired() -> TelexError:
    return TelexError(ErrorCode.UNAUTHORIZED, "The demo session has expired; sign in again.")


class DemoService:
    def __init__(
        self,
        identity: IdentityService,
        chat: ChatService,
        clock: Clock,
        service_user: UserId,
        cookie_key: bytes,
        token_minutes: int,
        session_seconds: int,
        sign_ins_per_minute: int = 0,
        rooms_per_minute: int = 0,
    ) -> None:
        self._identity = identity
        self._chat = chat
        self._clock = clock
        self.cookie_key = cookie_key
        self._token_minutes = token_minutes
        self._session_seconds = session_seconds
        self._limiter = RateLimiter(clock)
        self._sign_ins = [(sign_ins_per_minute, 60.0)]
        self._rooms = [(rooms_per_minute, 60.0)]
        # The service acts as its own member of every room thread. It is trusted code in this
        # process, so it holds a principal rather than a token it would only verify again.
        self._principal = Principal(service_user, frozenset({Scope.CHAT}), 0, 2**62, 0, "demo")
        # The SMS page (when the node has phone numbers): set by ``open``.
        self.sms: DemoSms | None = None

    @classmethod
    async def open(
        cls,
        identity: IdentityService,
        chat: ChatService,
        clock: Clock,
        data_dir: Path,
        token_minutes: int,
        session_seconds: int,
        telephony: Telephony | None = None,
        sign_ins_per_minute: int = 0,
        rooms_per_minute: int = 0,
    ) -> DemoService:
        """Load the service user and cookie key from ``data_dir/demo.json``, creating them once;
        with ``telephony``, also the demo's phone number (``DemoSms``)."""
        path = data_dir / "demo.json"
        state: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        user = state.get("serviceUser")
        live = False
        if user:
            try:
                await identity.require_live(identity.parse_user(user))
                live = True
            except TelexError:
                live = False
        if not live or "cookieKey" not in state:
            user = (await identity.create_user()).user
            state = {"serviceUser": user, "cookieKey": base64.b64encode(secrets.token_bytes(32)).decode()}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(state, f)
        assert user is not None
        key = base64.b64decode(state["cookieKey"])
        demo = cls(
            identity, chat, clock, UserId(user), key, token_minutes, session_seconds,
            sign_ins_per_minute, rooms_per_minute,
        )  # fmt: skip
        if telephony is not None:
            demo.sms = await DemoSms.open(telephony, data_dir)
        return demo

    async def sign_in(self, display_name: str, source: str = "") -> SignedIn:
        """A new user with a ``chat`` + ``voip`` token; raises ``ValidationFailed`` for a bad name,
        ``TooManyRequests`` past the sign-ins allowed from ``source`` (a client address)."""
        name = display_name.strip()
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, f"displayName must be 1 to {MAX_NAME} printable characters."
            )
        self._limiter.hit(f"sign-in:{source}", self._sign_ins)
        created = await self._identity.create_user(SCOPES, self._token_minutes)
        assert created.token is not None
        expires = int(self._clock.now()) + self._session_seconds
        return SignedIn(Session(created.user, name, expires), created.token)

    async def refresh(self, session: Session | None) -> IssuedToken:
        """A fresh token for the session's user; ``Unauthorized`` without a live session."""
        if session is None:
            raise _expired()
        try:
            return await self._identity.issue_token(UserId(session.user_id), SCOPES, self._token_minutes)
        except TelexError as exc:
            raise _expired() from exc

    async def join_room(self, session: Session | None, group_id: str) -> str:
        """The id of the chat thread tied to group call ``group_id``, with the caller a member who
        sees its whole history."""
        if session is None:
            raise _expired()
        try:
            room = str(uuid.UUID(group_id))
        except ValueError as exc:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "The room id must be a UUID.") from exc
        self._limiter.hit(f"room:{session.user_id}", self._rooms)
        topic, request_id = f"Call {room[:8]}", f"demo-room-{room}"
        # A new room counts against chat's thread limit as this visitor's, not the service's
        # (which every visitor would share).
        thread, _ = await self._chat.create_thread(
            self._principal, topic, [], request_id, rate_key=f"demo-visitor:{session.user_id}"
        )
        spec = ParticipantSpec(session.user_id, session.display_name, 0.0)
        invalid = await self._chat.add_participants(self._principal, thread.id, [spec])
        if invalid:
            raise _expired()  # the session's user was deleted since it signed in
        return thread.id
