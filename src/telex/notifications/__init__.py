"""Realtime chat notifications for the official JavaScript chat SDK, unchanged.

The browser build of ``@azure/communication-chat`` receives events through its signaling client
(``@azure/communication-signaling``): a configuration route, an allocation, a socket.io 0.9
WebSocket carrying Skype-style notifications, and a registrar. This package is that service on
Telex's event backbone: another renderer and another session protocol beside ``/realtime``, fed
by the same hub, resuming from the same log positions.

    api.py       configuration, allocation, handshake, registrar (HTTP)
    gateway.py   the WebSocket shell: a sink of the realtime hub
    session.py   one socket's state machine (sans I/O)
    framing.py   socket.io 0.9 packets and payloads (sans I/O)
    render.py    chat's domain events ─► the SDK's notification payloads
    ticket.py    the signed ticket that lets a socket in without a token in its URL
"""

from telex.notifications.api import CONFIG_VERSIONS, notifications_router
from telex.notifications.gateway import SOCKET_PATH, NotificationGateway
from telex.notifications.settings import NotificationSettings

__all__ = [
    "CONFIG_VERSIONS",
    "SOCKET_PATH",
    "NotificationGateway",
    "NotificationSettings",
    "notifications_router",
]
