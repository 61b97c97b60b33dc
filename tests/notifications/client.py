"""A minimal client of the notification protocol, in Python: what the JS chat SDK's signaling
client does (allocate, handshake, socket.io WebSocket), for tests and bench/chat.py."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

from telex.notifications import framing as f

__all__ = ["NotificationClient"]


class NotificationClient:
    def __init__(self, base_url: str, token: str) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.cursor: str | None = None
        self.ws: Any = None
        self._early: list[dict[str, Any]] = []  # notifications in the frames before trouter.connected

    async def connect(self) -> list[f.Packet]:
        """Allocate, handshake and open the socket; returns the packets up to ``trouter.connected``."""
        headers = {"x-skypetoken": self.token}
        async with httpx.AsyncClient(base_url=self.base, headers=headers) as http:
            query = {"epid": "test"} | ({"cur": self.cursor} if self.cursor is not None else {})
            alloc = (await http.post("/v4/a", params=query)).raise_for_status().json()
            (await http.get("/socket.io/1/")).raise_for_status()
        params = urlencode(alloc["connectparams"] | {"ccid": alloc["ccid"]})
        ws_url = self.base.replace("http", "ws", 1) + f"/socket.io/1/websocket/telex?{params}"
        self.ws = await websockets.connect(ws_url, max_size=2**22)
        seen: list[f.Packet] = []
        while not any(p.type is f.PacketType.EVENT and p.event()[0] == "trouter.connected" for p in seen):
            frame = f.decode_frame(await self.ws.recv())
            seen += frame
            self._early += await self._handle(frame)
        return seen

    async def notifications(self) -> list[dict[str, Any]]:
        """The notifications of the next frame (answering each, as the SDK does); keeps the
        position a ``trouter.connected`` in the frame names."""
        if self._early:
            out, self._early = self._early, []
            return out
        return await self._handle(f.decode_frame(await self.ws.recv()))

    async def _handle(self, packets: list[f.Packet]) -> list[dict[str, Any]]:
        out = []
        for packet in packets:
            if packet.type is f.PacketType.MESSAGE:
                request = json.loads(packet.data)
                out.append(json.loads(request["body"]))
                await self.ws.send(f.message_packet(json.dumps({"id": request["id"], "status": 200})))
            elif packet.type is f.PacketType.EVENT and packet.event()[0] == "trouter.connected":
                self.cursor = packet.event()[1][0]["connectparams"]["cur"]
        return out

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
