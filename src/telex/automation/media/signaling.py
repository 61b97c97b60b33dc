"""Server-side media joins a call the way every client does: ``telex.client.calling``'s mesh,
with its commands and events carried in-process instead of over HTTP and a WebSocket.

    CallClient (aiortc mesh, offers/answers, ICE, keep-alives, data channels)  ◄── unchanged
      ├─ _post(path, body) ─► LocalCallClient: the same command, on CallingService directly
      └─ events ◄── _LocalFeed: a Hub sink for the application's identity, one call's events

So the application's participant is an ordinary participant of the call: the other clients
offer to it and answer it as to anyone, the server relays its signals, the keep-alive timer
drops it if its node dies. Only the transport differs; no WebRTC signaling is written here.
``MediaCall`` gives each peer connection its own outgoing track, because Call Automation plays
to some participants and not others.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration

from telex.calling import CallingService, Joined
from telex.client.calling import Call, CallClient, _Peer, prefer_audio_codecs
from telex.client.chat import TelexClientError
from telex.client.realtime import RealtimeEvent
from telex.core.errors import TelexError
from telex.events.model import DomainEvent
from telex.identity import Principal
from telex.realtime import Hub

__all__ = ["LocalCallClient", "MediaCall"]

_LEG_PATH = re.compile(r"^/calling/calls/(?P<call>[^/]+)/participants/(?P<leg>[^/]+)/:(?P<action>\w+)$")
_EARLY = 500  # events buffered before the call's id is known


class _LocalFeed:
    """Stands in for ``RealtimeClient``: the Hub hands it the identity's events, it keeps the
    one call's (``follow``) and the client's pump reads them in log order."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.connected = asyncio.Event()
        self.connected.set()
        self.connects = 1
        self._queue: asyncio.Queue[RealtimeEvent] = asyncio.Queue()
        self._call: str | None = None
        self._early: list[RealtimeEvent] = []

    def follow(self, call_id: str) -> None:
        self._call = call_id
        for event in self._early:
            if event.data.get("callId") == call_id:
                self._queue.put_nowait(event)
        self._early.clear()

    def offer(self, event: DomainEvent) -> bool:  # the Hub's Sink
        call_id = event.data.get("callId")
        if self._call is None:
            if len(self._early) < _EARLY:
                self._early.append(RealtimeEvent(event.type, event.data, str(event.position)))
        elif call_id == self._call:
            self._queue.put_nowait(RealtimeEvent(event.type, event.data, str(event.position)))
        return True

    def __aiter__(self) -> AsyncIterator[RealtimeEvent]:
        return self

    async def __anext__(self) -> RealtimeEvent:
        return await self._queue.get()

    async def close(self) -> None:
        return None


class MediaCall(Call):
    """A ``Call`` whose every peer connection gets its own outgoing track (``track_for``)."""

    track_for: Callable[[str], MediaStreamTrack] | None = None

    def _new_peer(self, participant_id: str, config: RTCConfiguration) -> _Peer:
        if self.track_for is None:
            return super()._new_peer(participant_id, config)
        peer = _Peer(self, participant_id, config)
        self._peers[participant_id] = peer
        peer.pc.addTrack(self.track_for(participant_id))
        if self._client.audio_codecs:
            prefer_audio_codecs(peer.pc, self._client.audio_codecs)
        return peer


class LocalCallClient(CallClient):
    """``CallClient`` for an identity on this node (see the module docstring). One per call."""

    def __init__(
        self, calling: CallingService, hub: Hub, principal: Principal, rtc: RTCConfiguration
    ) -> None:
        # CallClient's state without its HTTP client and WebSocket (deliberately no super()).
        self.endpoint = "local"
        self.display_name = None
        self.relay_only = True
        self.audio_codecs: tuple[str, ...] = ()
        self._calls: dict[str, Call] = {}
        self._early: dict[str, list[RealtimeEvent]] = {}
        self._incoming: asyncio.Queue[Call] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._rtc = rtc
        self._calling = calling
        self._hub = hub
        self._principal = principal
        self._feed = _LocalFeed(principal.user_id)
        self._realtime = self._feed  # type: ignore[assignment]

    def listen(self) -> None:
        """Start receiving the identity's events (before the command that makes the call, so
        that nothing about it is missed)."""
        self._hub.add(self._feed)
        self._pump = asyncio.create_task(self._run())

    async def attach(self, joined: Joined) -> MediaCall:
        """Take part in the call ``joined`` describes: offer media to its ``peers``."""
        self._feed.follow(joined.call.id)
        call = self._register(joined.call.id, joined.participant.id)
        assert isinstance(call, MediaCall)
        return call

    async def connect(self, call: MediaCall, joined: Joined) -> None:
        await call._joined(joined.payload(), None)

    def _register(self, call_id: str, participant_id: str) -> Call:
        call = MediaCall(self, call_id, participant_id)
        self._calls[call_id] = call
        return call

    async def close(self) -> None:
        for call in list(self._calls.values()):
            if call.my_state in ("connecting", "connected", "onHold"):
                with contextlib.suppress(TelexClientError):
                    await call.hang_up()
            await call._close_media()
        self._hub.remove(self._feed)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        for task in list(self._tasks):
            task.cancel()

    async def _rtc_configuration(self) -> RTCConfiguration:
        assert self._rtc is not None
        return self._rtc

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        match = _LEG_PATH.match(path)
        if match is None:
            raise TelexClientError(404, "NotFound", f"no local route for {path}")
        call_id, leg, action = match["call"], match["leg"], match["action"]
        body = body or {}
        p, calling = self._principal, self._calling
        try:
            if action == "signal":
                await calling.signal(
                    p,
                    call_id,
                    leg,
                    to=body["to"],
                    type_=body["type"],
                    sdp=body.get("sdp"),
                    candidate=body.get("candidate"),
                )
            elif action == "keepAlive":
                await calling.keep_alive(p, call_id, leg)
            elif action == "hangUp":
                await calling.hang_up(p, call_id, leg, for_everyone=bool(body.get("forEveryone")))
            elif action == "setMediaState":
                await calling.set_media(p, call_id, leg, muted=body.get("isMuted"))
            elif action == "openDataChannel":
                await calling.open_data_channel(
                    p,
                    call_id,
                    leg,
                    channel_id=body["channelId"],
                    reliability=body["reliability"],
                    priority=body["priority"],
                    recipients=body.get("participants"),
                )
            else:
                raise TelexClientError(405, "MethodNotAllowed", f"{action} is not used by server-side media")
        except TelexError as exc:
            raise TelexClientError(exc.status, exc.code.wire, exc.message) from exc
        return None
