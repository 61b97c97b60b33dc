"""The one authorization guard of chat: scope rules and membership, used by every REST route
(through ``ChatService``) and by the realtime gateway (``ChatTx.visible_events`` applies the
same membership rule to the event log).

    token scope ─► may this kind of token do this at all?        no ─► 403 Forbidden
    membership  ─► is the caller a current member of the thread?  no ─► 404, the same 404 as for a
                                                                        thread that does not exist
Scopes (security.md §2.1): ``chat`` may do everything; ``chat.join`` may not create, update or
delete threads; ``chat.join.limited`` additionally may not add or remove others.
"""

from __future__ import annotations

from enum import Enum

from telex.chat.repository import ChatTx, Record
from telex.core.errors import ErrorCode, TelexError
from telex.identity import Principal, Scope

__all__ = ["CHAT_SCOPES", "Action", "require_member", "require_scope", "thread_not_found"]

CHAT_SCOPES = (Scope.CHAT, Scope.CHAT_JOIN, Scope.CHAT_JOIN_LIMITED)


class Action(Enum):
    READ = "read"  # list, get, receipts
    WRITE = "write"  # send, edit, delete own messages, typing, receipts, leave
    MANAGE_THREAD = "manage_thread"  # create, update topic, delete
    MANAGE_PARTICIPANTS = "manage_participants"  # add, remove others


_ALLOWED: dict[Action, frozenset[Scope]] = {
    Action.READ: frozenset(CHAT_SCOPES),
    Action.WRITE: frozenset(CHAT_SCOPES),
    Action.MANAGE_THREAD: frozenset({Scope.CHAT}),
    Action.MANAGE_PARTICIPANTS: frozenset({Scope.CHAT, Scope.CHAT_JOIN}),
}


def thread_not_found() -> TelexError:
    # One message for "no such thread", "not a member" and "removed": no existence oracle.
    return TelexError(ErrorCode.NOT_FOUND, "The chat thread does not exist or you are not a participant.")


def require_scope(principal: Principal, action: Action) -> None:
    """Raise ``Forbidden`` (403) unless the token's scopes allow ``action``."""
    if principal.scopes.isdisjoint(_ALLOWED[action]):
        raise TelexError(ErrorCode.FORBIDDEN, "The access token does not grant this operation.")


async def require_member(tx: ChatTx, principal: Principal, thread_id: str, action: Action) -> Record:
    """The caller's current membership of a live thread, after the scope check.

    Raises ``Forbidden`` (403) for a scope that does not allow ``action``, and the uniform
    ``NotFound`` (404) for a missing or deleted thread, a non-member or a removed member.
    Call it inside the transaction that reads or changes the thread.
    """
    require_scope(principal, action)
    if "\x00" in thread_id:  # no thread id has one, and PostgreSQL cannot even compare it
        raise thread_not_found()
    membership = await tx.membership(thread_id, principal.user_id)
    if membership is None:
        raise thread_not_found()
    return membership
