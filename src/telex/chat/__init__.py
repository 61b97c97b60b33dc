"""Chat (ACS Chat-compatible): threads, messages, participants, receipts, typing.

What other capabilities and the composition root may use is exported here; the routes
(``chat.api``) import the web layer and are wired by the composition root.
"""

from telex.chat.events import EventType
from telex.chat.guard import CHAT_SCOPES
from telex.chat.models import MessageType, ParticipantSpec
from telex.chat.ratelimit import RateLimiter
from telex.chat.repository import ChatStore
from telex.chat.service import ChatService
from telex.chat.settings import ChatSettings
from telex.chat.webhooks import RENDERINGS as WEBHOOK_RENDERINGS

__all__ = [
    "CHAT_SCOPES",
    "WEBHOOK_RENDERINGS",
    "ChatService",
    "ChatSettings",
    "ChatStore",
    "EventType",
    "MessageType",
    "ParticipantSpec",
    "RateLimiter",
]
