"""The realtime gateway: one WebSocket per client at ``/realtime`` (protocol: docs/realtime.md),
and the hub that hands this node's connections the events they may see."""

from telex.realtime.admission import SocketRefusals
from telex.realtime.gateway import RealtimeGateway
from telex.realtime.hub import Hub
from telex.realtime.settings import RealtimeSettings

__all__ = ["Hub", "RealtimeGateway", "RealtimeSettings", "SocketRefusals"]
