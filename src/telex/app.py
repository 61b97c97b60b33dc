"""The composition root: the one place that chooses implementations and wires them together.

    Settings ─► Node.open()  ─► Database (SQLite | PostgreSQL; group commit), migrations
                             ─► KeyringHolder ─► TokenVerifier ─► IdentityService
                             ─► TurnServer (UDP/TCP), started by Node.start()
                             ─► Backbone: EventLog + Bus (in-process | Redis)
                                   ◄── ChatService, CallingService, SmsService write units emit events
                                   ──► realtime Hub (a sink: committed and ephemeral events)
                                   ──► Doorbell ─► DeliveryRunner (webhooks, a lease per subscription)
                                               └─► PushNotifier (one lease) ─► Providers; Presence
                             ─► Telephony: phone numbers, SMS, carriers (simulated | SMPP)
                             ─► PstnGateway (SIP trunks; Call Automation dials through it),
                                started by Node.start()
             build_app(node) ─► FastAPI app: middleware, error mapping, routers, /realtime

Routers receive the services they use as arguments; nothing looks services up at run time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from telex import __version__
from telex.automation import WEBHOOK_RENDERINGS as AUTOMATION_WEBHOOKS
from telex.automation import Automation, open_automation
from telex.automation.api import automation_router
from telex.bus import Bus, open_bus
from telex.calling import CALL_SCOPES, CALL_TOPIC_PREFIX, CallEvent, CallingService, CallStore
from telex.calling import WEBHOOK_RENDERINGS as CALL_WEBHOOKS
from telex.calling.api import calling_router
from telex.carriers import Telephony
from telex.carriers.handsets_api import handsets_router
from telex.chat import CHAT_SCOPES, ChatService, ChatStore, RateLimiter
from telex.chat import WEBHOOK_RENDERINGS as CHAT_WEBHOOKS
from telex.chat.api import chat_router
from telex.config import Settings
from telex.core.clock import Clock, SystemClock
from telex.core.ids import parse_user_id
from telex.demo.routes import demo_router
from telex.demo.service import DemoService
from telex.events.audience import TopicScopes
from telex.events.backbone import Backbone
from telex.events.consumer import CursorStore, Doorbell
from telex.events.log import EventLog
from telex.identity import (
    IdentityService,
    KeyringHolder,
    SqlKeyringRepository,
    SqlUserRepository,
    TokenVerifier,
)
from telex.identity.api import identity_router
from telex.notifications import SOCKET_PATH, NotificationGateway, notifications_router
from telex.numbers.api import numbers_router
from telex.opsmetrics import install_node_metrics
from telex.presence import Presence, open_presence
from telex.pstn import PstnGateway
from telex.pstn.metrics import TrunkCollector
from telex.push import Providers, PushNotifier, PushRegistrationService, RegistrationStore
from telex.push.api import push_router
from telex.realtime import Hub, RealtimeGateway, SocketRefusals
from telex.sms import WEBHOOK_RENDERINGS as SMS_WEBHOOKS
from telex.sms.api import sms_router
from telex.startup import is_wildcard
from telex.store.database import Database
from telex.subscriptions import (
    DeliveryRunner,
    PrometheusDeliveryMetrics,
    SubscriptionService,
    SubscriptionStore,
)
from telex.subscriptions.api import subscriptions_router
from telex.tls import server_tls
from telex.turn.api import relay_router
from telex.turn.core import UserCheck, UserVerdict
from telex.turn.server import TurnServer
from telex.web.auth import BearerAuth, HmacAuth
from telex.web.cors import Cors, OriginPolicy
from telex.web.errors import install_error_handlers
from telex.web.lean import LeanRoutes, TelexApp
from telex.web.middleware import AccessLog, HttpMetrics, RequestContextMiddleware
from telex.web.routes_admin import admin_app
from telex.web.routes_home import home_router
from telex.web.routes_ops import Readiness, ops_router
from telex.web.routes_sdk import sdk_router
from telex.web.unsupported import install_unsupported
from telex.webhooks import (
    Catalogue,
    DestinationGuard,
    OutboundSender,
    OutboundSettings,
    Rendering,
    Resolver,
    build_client,
)

__all__ = ["Node", "access_key_override", "build_admin_app", "build_app"]


def access_key_override(settings: Settings, environ: dict[str, str] | None = None) -> bytes | None:
    """The primary access key from ``TELEX_ACCESS_KEY`` (base64) or ``access_key_file``, if given."""
    env = os.environ if environ is None else environ
    text = env.get("TELEX_ACCESS_KEY")
    if text is None and settings.access_key_file is not None:
        text = settings.access_key_file.read_text().strip()
    if text is None:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("TELEX_ACCESS_KEY must be base64") from exc
    if len(key) < 32:
        raise ValueError("TELEX_ACCESS_KEY must decode to at least 32 bytes")
    return key


def outbound_client(settings: OutboundSettings, guard: DestinationGuard) -> httpx.AsyncClient:
    """The SSRF-safe client for destinations customers and users choose (webhooks, Web Push)."""
    verify: ssl.SSLContext | bool = True
    if settings.ca_file:
        verify = ssl.create_default_context()
        verify.load_verify_locations(cafile=settings.ca_file)
    return build_client(guard, verify=verify)


def resource_topic(settings: Settings, resource_id: str) -> str:
    """Event Grid's ``topic`` of every event: the configured one, else an ACS-shaped path."""
    return settings.events.topic or (
        f"/subscriptions/{resource_id}/resourceGroups/telex/providers"
        "/Microsoft.Communication/communicationServices/telex"
    )


def _with_turn_certificate(settings: Settings) -> Settings:
    """TURN over TLS (``turns:``) uses the HTTPS listener's certificate unless given its own."""
    turn = settings.turn
    if not turn.enabled or turn.tls_cert_file is not None:
        return settings
    tls = server_tls(settings)
    turn = turn.model_copy(update={"tls_cert_file": tls.cert, "tls_key_file": tls.key})
    return settings.model_copy(update={"turn": turn})


async def _open_automation(
    settings: Settings,
    db: Database,
    clock: Clock,
    backbone: Backbone,
    calling: CallingService,
    hub: Hub,
    identity: IdentityService,
    users: SqlUserRepository,
    keyring: KeyringHolder,
    resolver: Resolver | None,
) -> Automation:
    """Call Automation: its routes' services, server-side media and callback delivery."""
    host = "127.0.0.1" if is_wildcard(settings.host) else settings.host
    name = (
        settings.tls.hostnames[0]
        if settings.tls.hostnames
        else ("localhost" if host == "127.0.0.1" else host)
    )
    public_url = settings.public_url or f"https://{name}:{settings.tls_port}/"

    def turn_secret() -> bytes:
        configured = settings.turn.secrets
        return configured[0].encode() if configured else keyring.state.turn_secrets[0]

    return await open_automation(
        settings.automation, db=db, clock=clock, backbone=backbone, calling=calling, hub=hub,
        identity=identity, users=users, resource=keyring.state.resource_id, access_keys=keyring.access_keys,
        data_dir=settings.data_dir, public_url=public_url, turn=settings.turn, turn_secret=turn_secret,
        relay_host=settings.turn.external_address or host, outbound=settings.outbound.policy(),
        resolver=resolver,
    )  # fmt: skip


def _open_pstn(
    settings: Settings,
    calling: CallingService,
    hub: Hub,
    telephony: Telephony,
    automation: Automation | None,
    clock: Clock,
) -> PstnGateway:
    """The SIP trunk gateway; its participants get the same WebRTC configuration (TURN) as
    Call Automation's media, and Call Automation dials phone numbers through it."""
    from aiortc import RTCConfiguration

    engine = automation.engine if automation is not None else None
    host = "127.0.0.1" if is_wildcard(settings.host) else settings.host
    gateway = PstnGateway(
        settings.sip, host=settings.sip.host or host, calling=calling, hub=hub, numbers=telephony.numbers,
        engine=engine, rtc=engine.rtc_configuration if engine is not None else lambda _: RTCConfiguration(),
        clock=clock,
    )  # fmt: skip
    if automation is not None:
        automation.service.pstn = gateway
    return gateway


def _webhook_renderings(settings: Settings) -> list[Rendering]:
    """Every capability's Event Grid events. With Call Automation on, ``IncomingCall`` comes from
    it (carrying the ``incomingCallContext`` an application answers with), not from calling."""
    if not settings.automation.enabled:
        return [*CHAT_WEBHOOKS, *CALL_WEBHOOKS, *SMS_WEBHOOKS]
    calls = [r for r in CALL_WEBHOOKS if r.domain_type != CallEvent.INCOMING_CALL]
    return [*CHAT_WEBHOOKS, *calls, *SMS_WEBHOOKS, *AUTOMATION_WEBHOOKS]


@dataclass
class Node:
    """One Telex node's services, opened from settings and closed on shutdown."""

    settings: Settings
    clock: Clock
    db: Database
    keyring: KeyringHolder
    verifier: TokenVerifier
    identity: IdentityService
    registry: CollectorRegistry
    events: EventLog
    bus: Bus
    backbone: Backbone
    topics: TopicScopes
    chat: ChatService
    hub: Hub
    calling: CallingService
    subscriptions: SubscriptionService | None = None
    delivery: DeliveryRunner | None = None
    outbound: httpx.AsyncClient | None = None
    push: PushRegistrationService | None = None
    providers: Providers | None = None
    notifier: PushNotifier | None = None
    presence: Presence | None = None
    turn: TurnServer | None = None
    demo: DemoService | None = None
    automation: Automation | None = None
    http_metrics: HttpMetrics | None = None
    socket_refusals: SocketRefusals | None = None
    telephony: Telephony | None = None
    # Set on SIGTERM (server.py): /readyz answers 503 while the node still serves, so a load
    # balancer stops sending it new work before it closes its listeners.
    draining: bool = False
    pstn: PstnGateway | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def open(
        cls, settings: Settings, clock: Clock | None = None, resolver: Resolver | None = None
    ) -> Node:
        """``resolver`` answers the outbound sender's DNS lookups (default: the system's)."""
        clock = clock or SystemClock()
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings = _with_turn_certificate(settings)
        db = Database(settings.database_url)
        try:
            await db.migrate(upgrade=settings.migrate)
        except BaseException:
            await db.close()
            raise
        keyring = KeyringHolder(SqlKeyringRepository(db), clock, access_key_override(settings))
        await keyring.load()
        users = SqlUserRepository(db)
        ident = settings.identity
        verifier = TokenVerifier(
            keyring,
            users,
            clock,
            location=ident.resource_location,
            leeway_seconds=ident.token_leeway_seconds,
            revocation_cache_seconds=ident.revocation_cache_seconds,
        )
        identity = IdentityService(users, keyring, verifier, clock, ident.resource_location)
        events = EventLog(db)
        bus = open_bus(settings.bus)
        backbone = Backbone(db, events, bus)
        chat = ChatService(ChatStore(db, backbone), backbone, clock, settings.chat, RateLimiter(clock))
        calling = CallingService(CallStore(db, backbone), clock, settings.calling, limiter=RateLimiter(clock))
        hub = Hub(events, settings.realtime.poll_seconds)
        backbone.add_sink(hub)
        # Who may receive which topics: chat threads need a chat scope, calls a voip scope.
        topics = TopicScopes(frozenset(CHAT_SCOPES), {CALL_TOPIC_PREFIX: CALL_SCOPES})
        registry = CollectorRegistry()
        # Ways out besides the hub follow the log with cursors; the doorbell wakes them.
        doorbell = Doorbell()
        backbone.add_sink(doorbell)
        cursors = CursorStore(db)
        guard = DestinationGuard(settings.outbound.policy(), resolver)
        outbound = outbound_client(settings.outbound, guard)
        sender = OutboundSender(outbound, guard, clock)
        catalogue = Catalogue(_webhook_renderings(settings))
        subscriptions = SubscriptionService(
            SubscriptionStore(db), cursors, events, sender, catalogue, clock, settings.events,
            resource_topic(settings, keyring.state.resource_id), settings.public_url,
        )  # fmt: skip
        delivery = None
        if settings.events.enabled:
            metrics = PrometheusDeliveryMetrics(registry)
            delivery = DeliveryRunner(subscriptions, cursors, events, doorbell, sender, clock, metrics)
        # Push: to users with no live connection on any node (presence: the hub, or Redis).
        presence = open_presence(settings.bus, hub, settings.push.presence_refresh_seconds)
        providers = Providers(settings.push, outbound, clock)
        registrations = RegistrationStore(db)
        push = PushRegistrationService(
            registrations, clock, settings.push, providers.platforms, allow_http=settings.outbound.allow_http
        )
        notifier = None
        if settings.push.enabled and providers.platforms:
            notifier = PushNotifier(
                events, cursors, doorbell, registrations, presence, providers, clock, settings.push, registry
            )
        # Phone numbers, SMS and carriers (their sweeps and connections run in start_background).
        telephony = Telephony.open(settings.numbers, settings.sms, settings.carriers, db, backbone, clock)
        automation = None
        if settings.automation.enabled:
            automation = await _open_automation(
                settings, db, clock, backbone, calling, hub, identity, users, keyring, resolver
            )
        pstn = None
        if settings.sip.enabled:
            pstn = _open_pstn(settings, calling, hub, telephony, automation, clock)
            registry.register(TrunkCollector(pstn))
        demo = None
        if settings.demo.enabled:
            d = settings.demo
            demo = await DemoService.open(
                identity, chat, clock, settings.data_dir, d.token_minutes, int(d.session_hours * 3600),
                telephony, d.sign_ins_per_ip_per_minute, d.rooms_per_visitor_per_minute,
            )  # fmt: skip
        node = cls(
            settings, clock, db, keyring, verifier, identity, registry,
            events=events, bus=bus, backbone=backbone, topics=topics, chat=chat, hub=hub, calling=calling,
            subscriptions=subscriptions, delivery=delivery, outbound=outbound, push=push, providers=providers,
            notifier=notifier, presence=presence, demo=demo, telephony=telephony,
            automation=automation, pstn=pstn,
        )  # fmt: skip
        install_node_metrics(registry, db, bus, hub, lambda: node.draining)
        return node

    def turn_secrets(self) -> tuple[bytes, ...]:
        """TURN REST secrets: the configured ones, else the keyring's (first signs, all verify)."""
        configured = self.settings.turn.secrets
        return tuple(s.encode() for s in configured) if configured else self.keyring.state.turn_secrets

    def turn_users(self) -> tuple[UserCheck, Callable[[str], Awaitable[object]]]:
        """TURN's user check and lookup (``telex.turn.core``): a credential of this resource's
        user is good while the user is live and its tokens of the credential's generation are not
        revoked, as the token verifier sees it (its cache, ≤ 1 s old). Other names (``anonymous``,
        a relay's own users) have no tokens to revoke."""

        def check(user_id: str, generation: int | None) -> UserVerdict:
            user = parse_user_id(user_id, self.keyring.state.resource_id)
            if user is None:
                return UserVerdict.LIVE
            state = self.verifier.cached_user_state(user)
            if state is None:
                return UserVerdict.UNKNOWN
            live = state[1] and state[0] == (generation or 0)
            return UserVerdict.LIVE if live else UserVerdict.REFUSED

        async def lookup(user_id: str) -> object:
            user = parse_user_id(user_id, self.keyring.state.resource_id)
            return await self.verifier.user_state(user) if user is not None else None

        return check, lookup

    async def start(self) -> None:
        """Start the node's listeners besides HTTP (TURN) and its periodic work (keyring refresh)."""
        if self.settings.turn.enabled:
            check, lookup = self.turn_users()
            self.turn = TurnServer(
                self.settings.turn, self.turn_secrets, self.clock, self.settings.host,
                registry=self.registry, users=check, lookup=lookup,
            )  # fmt: skip
            await self.turn.start()
        if self.pstn is not None:
            await self.pstn.start()
        self.start_background()

    def start_background(self) -> None:
        refresh = self.settings.identity.keyring_refresh_seconds
        self._tasks.append(asyncio.create_task(self.keyring.run_refresher(refresh)))
        self._tasks.append(asyncio.create_task(self.hub.run(self.bus)))
        self._tasks.append(asyncio.create_task(self.calling.run_timers()))
        if self.delivery is not None:
            self._tasks.append(asyncio.create_task(self.delivery.run()))
        if self.notifier is not None:
            self._tasks.append(asyncio.create_task(self.notifier.run()))
            assert self.presence is not None
            self._tasks.append(asyncio.create_task(self.presence.run()))
        if self.telephony is not None:
            self._tasks += [asyncio.create_task(work) for work in self.telephony.background()]
        if self.automation is not None:
            self._tasks.append(asyncio.create_task(self.automation.run()))

    async def ready(self) -> Readiness:
        """``/readyz``: the store answers, the hub (once started) delivers, the node is not
        draining. The bus is reported but does not decide: without it delivery polls the log."""
        checks = {
            "store": "ok" if await self.db.ping() else "unreachable",
            "hub": "ok" if self.hub.started.is_set() or not self._tasks else "starting",
            "bus": "ok" if self.bus.up else "unreachable (delivering by polling the log)",
        }
        reason = ""
        if self.draining:
            reason = "draining: this node is stopping"
        elif checks["store"] != "ok":
            reason = "the store is unreachable"
        elif checks["hub"] != "ok":
            reason = "the realtime hub is starting"
        return Readiness(not reason, checks, reason)

    async def close(self) -> None:
        if self.pstn is not None:
            await self.pstn.close()
        if self.telephony is not None:
            await self.telephony.close()
        if self.automation is not None:
            await self.automation.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.turn is not None:
            await self.turn.stop()
        if self.providers is not None:
            await self.providers.close()
        if self.presence is not None:
            await self.presence.close()
        if self.outbound is not None:
            await self.outbound.aclose()
        await self.bus.close()
        await self.db.close()


def build_app(node: Node, *, lean: bool = True) -> TelexApp:
    """The ASGI app of a node. ``lean`` serves the hot routes below FastAPI (web/lean.py); off,
    FastAPI serves every route (the tests run both ways and compare)."""
    settings = node.settings
    app = TelexApp(
        title="Telex",
        version=__version__,
        description="Self-hosted communication services, wire-compatible with Azure Communication Services.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    hot = LeanRoutes()
    ident = settings.identity
    hmac = HmacAuth(node.keyring, node.clock, ident.hmac_skew_seconds, ident.hmac_failures_per_minute)
    bearer = BearerAuth(node.verifier)
    app.include_router(ops_router(node.keyring, node.ready, hot))
    app.include_router(identity_router(node.identity, hmac, hot, RateLimiter(node.clock), ident))
    app.include_router(chat_router(node.chat, bearer, settings.chat, hot))
    app.include_router(calling_router(node.calling, bearer, hot, node.pstn))
    if node.subscriptions is not None:
        app.include_router(subscriptions_router(node.subscriptions, hmac))
    if node.push is not None and node.providers is not None:
        vapid = node.providers.vapid_public_key
        app.include_router(push_router(node.push, bearer, hmac, node.identity.parse_user, vapid))
    if node.automation is not None:
        a = node.automation
        app.include_router(automation_router(a.service, a.media, hmac, a.repeat, a.signer))
    # One origin allowlist for REST (CORS) and /realtime.
    own = [settings.public_url.rstrip("/")] if settings.public_url else []
    origins = OriginPolicy(settings.http.allowed_origins, own)
    if node.socket_refusals is None:  # once per node, like the HTTP metrics below
        node.socket_refusals = SocketRefusals(node.registry)
    # One socket carries chat and call events; a token needs a chat or a voip scope to open it.
    gateway = RealtimeGateway(
        node.verifier, node.events, node.hub, settings.realtime, node.clock, node.topics,
        frozenset(CHAT_SCOPES) | CALL_SCOPES, origins=origins.refused, refusals=node.socket_refusals,
    )  # fmt: skip
    app.add_socket("/realtime", gateway)
    if settings.notifications.enabled:  # the JS chat SDK's realtime path, on the same hub (docs/js-sdks.md)
        app.include_router(
            notifications_router(node.verifier, node.keyring, node.events, settings.notifications, node.clock)
        )
        notifications = NotificationGateway(
            node.verifier, node.keyring, node.events, node.hub, settings.notifications, node.clock,
            node.topics, origins=origins.refused, refusals=node.socket_refusals,
        )  # fmt: skip
        app.add_socket(SOCKET_PATH, notifications)
    app.include_router(
        relay_router(settings.turn, node.turn_secrets, node.identity, node.verifier, hmac, node.clock, hot)
    )
    app.include_router(sdk_router())
    if node.telephony is not None:  # phone numbers, SMS, the simulated carrier's handsets
        tel = node.telephony
        app.include_router(numbers_router(tel.numbers, tel.reservations, tel.catalog, hmac))
        app.include_router(sms_router(tel.sms, hmac, hot))
        if tel.handsets_enabled:
            app.include_router(handsets_router(tel.handsets, hmac))
    if node.demo is not None:  # it serves the demo's files by name at the root
        app.include_router(demo_router(node.demo, node.clock, origins))
    else:
        app.include_router(home_router())
    # ACS APIs Telex lacks answer 501 naming the API; only requests no route matched get there.
    app.router.default = install_unsupported(app.router.default)
    if node.http_metrics is None:  # once per node: every app of the node shares them
        node.http_metrics = HttpMetrics(node.registry)
    access_log = AccessLog(enabled=logging.getLogger("telex.access").isEnabledFor(logging.INFO))
    app.state.access_log = access_log
    context = functools.partial(
        RequestContextMiddleware,
        max_body_bytes=settings.http.max_body_bytes,
        metrics=node.http_metrics,
        access_log=access_log,
        hsts_seconds=settings.http.hsts_max_age_seconds,
    )
    cors = functools.partial(Cors, policy=origins, max_age=settings.http.cors_max_age_seconds)
    # Added first, so it runs inside the request context (request id, log line, metrics), on
    # FastAPI's routes and, below, on the hot routes alike.
    app.add_middleware(cors.func, **cors.keywords)
    app.add_middleware(context.func, **context.keywords)
    if lean:
        app.enable_lean(hot, lambda inner: context(cors(inner)))
    return app


def build_admin_app(node: Node) -> ASGIApp:
    """The admin listener's app: ``/metrics`` and the health probes (web/routes_admin.py)."""
    return admin_app(node.registry, node.ready, node.settings.http.metrics_token)
