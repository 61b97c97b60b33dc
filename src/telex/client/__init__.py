"""Python client SDK: an async chat client and the realtime client (see docs/chat.md, docs/realtime.md)."""

from telex.client.chat import ChatClient, TelexClientError
from telex.client.realtime import RealtimeClient, RealtimeError, RealtimeEvent, SkippedEvent

__all__ = [
    "ChatClient",
    "RealtimeClient",
    "RealtimeError",
    "RealtimeEvent",
    "SkippedEvent",
    "TelexClientError",
]
