"""The node's server-side media: a bounded number of sessions, and commands routed to the node
that holds each session.

    answer / create / connect ─► joining(identity): a slot (503 + Retry-After when none is free)
                                 ─► LocalCallClient listening ─► the calling command ─► start()
                                 ─► MediaSession.run() until the application leaves the call
    :play, :recognize … ─► submit(connection, command)
                             session here?  ─► session.command()
                             elsewhere      ─► backbone.ephemeral ─► every node's engine (a sink)
                                                ─► the one holding the session applies it
    :sendDtmfTones to a phone ─► session ─► send_keys ─► trunk_legs[(call, participant)] here,
                                                          else the backbone to the node holding it

The bound is the back-pressure: media work (Opus in and out per participant, the 20 ms beat,
detection, recording) is CPU, and a node that accepted every bot call would fall behind on all
of them. The SDKs retry a 503 with its Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCBundlePolicy, RTCIceTransportPolicy

from telex.automation.events import TOPIC_PREFIX
from telex.automation.media.session import MediaSession, SessionHost
from telex.automation.media.signaling import LocalCallClient
from telex.automation.media.sources import SourceLoader
from telex.calling import CallingService, Joined
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.events.backbone import Backbone
from telex.events.model import DomainEvent
from telex.identity import Principal
from telex.realtime import Hub
from telex.turn.relayconfig import issue_relay_configuration
from telex.turn.settings import TurnSettings

__all__ = ["MEDIA_COMMAND", "MediaEngine"]

log = logging.getLogger(__name__)

MEDIA_COMMAND = "callAutomationMediaCommand"


class MediaEngine:
    def __init__(
        self,
        calling: CallingService,
        hub: Hub,
        backbone: Backbone,
        loader: SourceLoader,
        clock: Clock,
        *,
        max_sessions: int,
        recordings: Path,
        turn: TurnSettings,
        turn_secret: Callable[[], bytes],
        relay_host: str,
        relay_only: bool,
    ) -> None:
        self._calling = calling
        self._hub = hub
        self._backbone = backbone
        self.loader = loader
        self._clock = clock
        self.max_sessions = max_sessions
        self.recordings = recordings
        self._turn = turn
        self._turn_secret = turn_secret
        self._relay_host = relay_host
        self._relay_only = relay_only and turn.enabled
        # This node's trunk legs by (call id, participant id): where sent keys for a phone go.
        self.trunk_legs: dict[tuple[str, str], Callable[[str], None]] = {}
        self.host: SessionHost | None = None
        self.sessions: dict[str, MediaSession] = {}
        self._busy = 0  # slots taken: sessions plus joins in progress
        self._runs: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> int:
        return self._busy

    def rtc_configuration(self, user: str) -> RTCConfiguration:
        """What a server-side participant ``user`` connects with (TURN credentials, policy)."""
        return self._rtc(user)

    def _rtc(self, user: str) -> RTCConfiguration:
        servers = []
        if self._turn.enabled:
            config = issue_relay_configuration(
                self._turn, self._turn_secret(), user, 6 * 3600, self._clock.now(), self._relay_host
            )
            for entry in config["iceServers"]:
                urls = [u for u in entry["urls"] if u.startswith("turn:") and u.endswith("transport=udp")]
                urls += [u for u in entry["urls"] if u.startswith("stun:")]
                if urls:
                    servers.append(
                        RTCIceServer(urls=urls, username=entry["username"], credential=entry["credential"])
                    )
        policy = RTCIceTransportPolicy.RELAY if self._relay_only else RTCIceTransportPolicy.ALL
        return RTCConfiguration(
            iceServers=servers, iceTransportPolicy=policy, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
        )

    @asynccontextmanager
    async def joining(self, principal: Principal) -> AsyncIterator[LocalCallClient]:
        """A media slot and a client listening for ``principal``'s call events, for the block
        that makes the call; released unless ``start`` took them over."""
        if self._busy >= self.max_sessions:
            raise TelexError(
                ErrorCode.UNAVAILABLE,
                "Every server-side media session of this node is in use; retry later.",
                retry_after=5,
            )
        self._busy += 1
        client = LocalCallClient(self._calling, self._hub, principal, self._rtc(principal.user_id))
        client.listen()
        started = False
        try:
            yield client
            started = getattr(client, "_telex_started", False)
        finally:
            if not started:
                self._busy -= 1
                await client.close()

    async def start(self, client: LocalCallClient, connection_id: str, joined: Joined) -> MediaSession:
        """Media for ``connection_id``: the application's participant ``joined`` offers to its peers."""
        assert self.host is not None, "the engine's host (the automation service) is not set"
        call = await client.attach(joined)
        session = MediaSession(
            connection_id, joined.call.id, client, call, self.loader, self.host, self.recordings
        )
        session.keys_out = self.send_keys
        self.sessions[connection_id] = session
        client._telex_started = True  # type: ignore[attr-defined]
        task = asyncio.create_task(self._run(session, client, joined))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return session

    async def _run(self, session: MediaSession, client: LocalCallClient, joined: Joined) -> None:
        try:
            await client.connect(session.call, joined)
            await session.run()
        except Exception:
            log.exception("media session %s failed", session.connection_id)
        finally:
            await session.close()
            self.sessions.pop(session.connection_id, None)
            self._busy -= 1
            if self.host is not None:
                self.host.session_ended(session)

    async def submit(self, connection_id: str, command: dict[str, Any]) -> None:
        """Apply ``command`` where the connection's session is (see the module docstring)."""
        session = self.sessions.get(connection_id)
        if session is not None:
            session.command(command)
            return
        event = DomainEvent(
            MEDIA_COMMAND,
            f"{TOPIC_PREFIX}{connection_id}",
            {"connection": connection_id, "command": command},
            self._clock.now(),
        )
        await self._backbone.ephemeral(event)

    def key_pressed(self, call_id: str, participant_id: str, key: str) -> None:
        """A key ``participant_id`` of ``call_id`` pressed (RFC 4733 from a trunk): every media
        session of this node in that call hears it. The gateway leg and the application's session
        are on one node when a single node runs; across nodes the key goes over the backbone."""
        local = [s for s in self.sessions.values() if s.call_id == call_id]
        for session in local:
            session.key_pressed(participant_id, key)
        if not local:
            event = DomainEvent(
                MEDIA_COMMAND,
                f"{TOPIC_PREFIX}{call_id}",
                {"call": call_id, "key": {"participant": participant_id, "key": key}},
                self._clock.now(),
            )
            task = asyncio.ensure_future(self._backbone.ephemeral(event))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    def send_keys(self, call_id: str, participant_id: str, keys: str) -> None:
        """Keys for the phone participant ``participant_id`` (Call Automation's sendDtmfTones):
        its trunk leg sends them to the carrier. The leg registers in ``trunk_legs`` on the node
        that holds it; from another node the keys go over the backbone."""
        leg = self.trunk_legs.get((call_id, participant_id))
        if leg is not None:
            leg(keys)
            return
        event = DomainEvent(
            MEDIA_COMMAND,
            f"{TOPIC_PREFIX}{call_id}",
            {"call": call_id, "sendKeys": {"participant": participant_id, "keys": keys}},
            self._clock.now(),
        )
        task = asyncio.ensure_future(self._backbone.ephemeral(event))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    # EventSink: commands for sessions of this node, from other nodes -----------------------------
    def committed(self, events: list[DomainEvent]) -> None:
        return None

    def advanced(self, position: int) -> None:
        return None

    def ephemeral(self, event: DomainEvent) -> None:
        if event.type != MEDIA_COMMAND:
            return
        send = event.data.get("sendKeys")
        if isinstance(send, dict):
            leg = self.trunk_legs.get((str(event.data.get("call")), str(send.get("participant"))))
            if leg is not None:
                leg(str(send.get("keys")))
            return
        key = event.data.get("key")
        if isinstance(key, dict):
            for s in [s for s in self.sessions.values() if s.call_id == event.data.get("call")]:
                with contextlib.suppress(ValueError):
                    s.key_pressed(str(key.get("participant")), str(key.get("key")))
            return
        session = self.sessions.get(str(event.data.get("connection")))
        if session is not None and isinstance(event.data.get("command"), dict):
            try:
                session.command(event.data["command"])
            except Exception:
                log.exception("media command for %s failed", session.connection_id)

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await session.close()
        for task in list(self._runs):
            task.cancel()
        for task in list(self._runs):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
