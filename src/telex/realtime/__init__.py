"""The realtime gateway: one WebSocket per client at ``/realtime`` (protocol: docs/realtime.md)."""
