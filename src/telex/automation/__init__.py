"""Call Automation (ACS-compatible): applications answer, place and steer calls, with
server-side media (play, DTMF, hold music, recording) and callbacks. See docs/call-automation.md.

    HMAC REST (api) ─► AutomationService (call control) · MediaOps (media, recordings)
        ─► CallingService commands; the CallStore save hook (store.CallbackHook) turns call
           changes into callbacks in the same unit; IncomingCallIssuer adds IncomingCall events
    MediaEngine ─► MediaSession per connection: an aiortc participant of the call's mesh
    CallbackDispatcher ─► callbacks from the log to callback URIs, per connection, in order

``open_automation`` builds it for the composition root; ``Automation.run`` is its background
work (callback delivery) and ``Automation.close`` stops media sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from telex.automation.callbacks import CallbackDispatcher, callback_secret
from telex.automation.context import ContextSigner
from telex.automation.keys import AutomationKeys, CallbackSigner
from telex.automation.media.engine import MediaEngine
from telex.automation.media.sources import SourceLoader
from telex.automation.media_ops import MediaOps
from telex.automation.repeatability import Repeatability
from telex.automation.service import AutomationService
from telex.automation.settings import AutomationSettings
from telex.automation.store import CallbackHook, IncomingCallIssuer
from telex.automation.webhooks import RENDERINGS as WEBHOOK_RENDERINGS
from telex.calling import CallingService
from telex.core.clock import Clock
from telex.core.ids import ResourceId, new_user_id
from telex.events.backbone import Backbone
from telex.identity import IdentityService, UserRepository
from telex.realtime import Hub
from telex.store.database import Database
from telex.turn.settings import TurnSettings
from telex.webhooks.outbound import DestinationGuard, OutboundPolicy, OutboundSender, Resolver, build_client
from telex.webhooks.retry import RetryPolicy

__all__ = ["WEBHOOK_RENDERINGS", "Automation", "AutomationSettings", "open_automation"]

log = logging.getLogger(__name__)


@dataclass
class Automation:
    service: AutomationService
    media: MediaOps
    engine: MediaEngine
    dispatcher: CallbackDispatcher
    repeat: Repeatability
    signer: CallbackSigner
    context: ContextSigner
    _executor: ThreadPoolExecutor
    _senders: tuple[OutboundSender, ...]

    retention_days: float = 0.0

    async def run(self) -> None:
        """Callback delivery, and the hourly purge of old recordings."""
        purge = asyncio.create_task(self._purge())
        try:
            await self.dispatcher.run()
        finally:
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge

    async def _purge(self) -> None:
        while True:
            try:
                await self.media.purge_recordings(self.retention_days)
            except Exception:  # the store may be briefly unavailable
                log.exception("recordings could not be purged")
            await asyncio.sleep(3600)

    async def close(self) -> None:
        await self.engine.close()
        for sender in self._senders:
            with contextlib.suppress(Exception):
                await sender._client.aclose()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def open_automation(
    settings: AutomationSettings,
    *,
    db: Database,
    clock: Clock,
    backbone: Backbone,
    calling: CallingService,
    hub: Hub,
    identity: IdentityService,
    users: UserRepository,
    resource: ResourceId,
    access_keys: Callable[[], tuple[bytes, bytes]],
    data_dir: Path,
    public_url: str,
    turn: TurnSettings,
    turn_secret: Callable[[], bytes],
    relay_host: str,
    outbound: OutboundPolicy,
    resolver: Resolver | None = None,
) -> Automation:
    """``outbound`` is the node's policy for destinations others chose (``[outbound]``): it
    governs callback URIs and play sources as it governs webhooks."""
    keys = await AutomationKeys.load(db, new_user_id(resource), clock.now())
    if await users.get(keys.app_user) is None:  # type: ignore[arg-type]
        with contextlib.suppress(Exception):  # another node created it first
            await users.create(keys.app_user, clock.now())  # type: ignore[arg-type]
    context = ContextSigner(resource, [keys.context_secret])
    signer = CallbackSigner(keys, public_url, resource, settings.callback_token_seconds)
    callback_guard = DestinationGuard(outbound, resolver)
    callback_sender = OutboundSender(build_client(callback_guard), callback_guard, clock)
    source_guard = DestinationGuard(
        replace(outbound, max_response_bytes=settings.max_source_bytes, response_timeout=60.0), resolver
    )
    source_sender = OutboundSender(build_client(source_guard), source_guard, clock)
    executor = ThreadPoolExecutor(settings.decode_threads, thread_name_prefix="telex-media")
    loader = SourceLoader(
        source_sender,
        executor,
        max_seconds=settings.max_source_seconds,
        cache_entries=settings.source_cache_entries,
    )
    recordings = data_dir / "recordings"
    engine = MediaEngine(
        calling, hub, backbone, loader, clock, max_sessions=settings.max_media_sessions,
        recordings=recordings, turn=turn, turn_secret=turn_secret, relay_host=relay_host,
        relay_only=settings.media_relay_only,
    )  # fmt: skip
    service = AutomationService(
        calling, identity, backbone, clock, context, callback_guard, engine, keys.app_user, db
    )
    media = MediaOps(service, db, clock, signer.issuer)
    engine.host = media
    calling.store.add_hook(IncomingCallIssuer(context.issue, resource))
    calling.store.add_hook(CallbackHook())
    policy = RetryPolicy()
    if settings.callback_retry_compression > 1:
        policy = policy.compressed(settings.callback_retry_compression)
    dispatcher = CallbackDispatcher(
        db, callback_sender, signer, lambda: [callback_secret(k) for k in access_keys()], clock, policy,
        concurrency=settings.callback_concurrency,
    )  # fmt: skip
    backbone.add_sink(engine)
    backbone.add_sink(dispatcher)
    await asyncio.to_thread(recordings.mkdir, parents=True, exist_ok=True, mode=0o700)
    return Automation(
        service, media, engine, dispatcher, Repeatability(db, clock), signer, context, executor,
        (callback_sender, source_sender), settings.recording_retention_days,
    )  # fmt: skip
