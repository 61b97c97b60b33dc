"""``SubscriptionService``: event subscriptions on the management plane (HMAC-signed callers only).

    put(name, spec) ─► check the spec (types in the catalogue, URL rules, limits)
                    ─► new URL or schema? ─► handshake (POST validation event | OPTIONS) ─► refused: 400
                    ─► row (secrets kept across replacements) ─► cursor at the log's head (new)
                    ─► on_change(name): this node's runner restarts the worker; other nodes see
                       ``updated_at`` move at their next poll
    validate(name, token)  the owner opened the validation link: AwaitingManualAction ─► Succeeded
    rotate_secret · replay(from position | time) · dead_letters · delete

A new subscription receives the events committed after it was created; ``replay`` moves its
cursor back. Every caller of this service has been authenticated with the access key, except
``validate``, which the link's token authenticates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.events.consumer import CursorStore
from telex.events.log import EventLog
from telex.subscriptions.handshake import run_handshake, token_matches
from telex.subscriptions.model import NAME_PATTERN, ProvisioningState, Subscription, SubscriptionSpec
from telex.subscriptions.settings import EventsSettings
from telex.subscriptions.store import DeadLetter, SubscriptionStore
from telex.webhooks.catalogue import Catalogue
from telex.webhooks.outbound import DestinationRefused, OutboundSender
from telex.webhooks.signing import WebhookSecret

__all__ = ["SubscriptionService"]

MAX_URL = 2048
MAX_SUBJECT_FILTER = 1024


def _bad(message: str) -> TelexError:
    return TelexError(ErrorCode.VALIDATION_FAILED, message)


def not_found() -> TelexError:
    return TelexError(ErrorCode.NOT_FOUND, "The event subscription does not exist.")


class SubscriptionService:
    def __init__(
        self,
        store: SubscriptionStore,
        cursors: CursorStore,
        log: EventLog,
        sender: OutboundSender,
        catalogue: Catalogue,
        clock: Clock,
        settings: EventsSettings,
        topic: str,
        public_url: str = "",
    ) -> None:
        """``public_url`` (the server's, as clients reach it) starts the validation links sent in
        handshakes; empty: the URL the management request came in on."""
        self.store = store
        self.cursors = cursors
        self._log = log
        self._sender = sender
        self.catalogue = catalogue
        self._clock = clock
        self.settings = settings
        self.topic = topic
        self._public_url = public_url
        self._listeners: list[Callable[[str], None]] = []

    def now(self) -> float:
        return self._clock.now()

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` after any change to a subscription made on this node."""
        self._listeners.append(listener)

    def _changed(self, name: str) -> None:
        for listener in self._listeners:
            listener(name)

    # checks -------------------------------------------------------------------------------------
    @staticmethod
    def check_name(name: str) -> str:
        if not NAME_PATTERN.match(name):
            raise not_found()  # a name that cannot exist is simply not there
        return name

    def _check(self, spec: SubscriptionSpec) -> None:
        if len(spec.url) > MAX_URL:
            raise _bad(f"endpointUrl has at most {MAX_URL} characters.")
        try:
            self._sender.guard.parse(spec.url)
        except DestinationRefused as exc:
            raise _bad(exc.message) from exc
        types = spec.filter.included_types
        if types is not None:
            unknown = sorted(types - self.catalogue.types)
            if unknown:
                raise _bad(f"Unknown event types: {', '.join(unknown[:5])}.")
            if not types:
                raise _bad("includedEventTypes must name at least one type (omit it for all).")
        f = spec.filter
        if max(len(f.subject_begins_with), len(f.subject_ends_with)) > MAX_SUBJECT_FILTER:
            raise _bad(f"Subject filters have at most {MAX_SUBJECT_FILTER} characters.")
        if not 1 <= spec.max_events_per_batch <= 5000:
            raise _bad("maxEventsPerBatch is 1–5000.")
        if not 1 <= spec.preferred_batch_kb <= 1024:
            raise _bad("preferredBatchSizeInKilobytes is 1–1024.")
        if not 1 <= spec.max_attempts <= 30:
            raise _bad("maxDeliveryAttempts is 1–30.")
        if not 1 <= spec.ttl_minutes <= 1440:
            raise _bad("eventTimeToLiveInMinutes is 1–1440.")

    # operations ---------------------------------------------------------------------------------
    async def get(self, name: str) -> Subscription:
        sub = await self.store.get(self.check_name(name))
        if sub is None:
            raise not_found()
        return sub

    async def all(self) -> list[Subscription]:
        return await self.store.all()

    async def put(
        self, name: str, spec: SubscriptionSpec, base_url: str, *, must_exist: bool = False
    ) -> tuple[Subscription, bool]:
        """Create or replace; returns the subscription and whether it was created. A new URL or
        schema runs the handshake first; if it fails nothing changes (400)."""
        if not NAME_PATTERN.match(name):
            raise _bad("An event subscription name is 3–64 letters, digits or hyphens.")
        self._check(spec)
        existing = await self.store.get(name)
        if existing is None and must_exist:
            raise not_found()
        if existing is None and await self.store.count() >= self.settings.max_subscriptions:
            raise TelexError(
                ErrorCode.CONFLICT, "The resource has as many event subscriptions as it may have."
            )
        now = self._clock.now()
        moved = (
            existing is None
            or existing.spec.url != spec.url
            or existing.spec.schema != spec.schema
            or existing.effective_state(now) is ProvisioningState.FAILED
        )
        if existing is None:
            sub = Subscription(name, spec, WebhookSecret.generate(), ProvisioningState.SUCCEEDED, now, now)
        else:
            sub = replace(existing, spec=spec, updated_at=now)
        if moved:
            result = await run_handshake(
                self._sender, url=spec.url, schema=spec.schema, name=name, topic=self.topic,
                origin=self.settings.origin, validation_base=self._validation_base(base_url, name), now=now,
                window=self.settings.manual_validation_seconds,
            )  # fmt: skip
            sub = replace(
                sub, state=result.state, validation_hash=result.validation_hash,
                validation_deadline=result.validation_deadline, allowed_rate=result.allowed_rate,
            )  # fmt: skip
        if not await self.store.put(sub, create=existing is None):
            raise TelexError(ErrorCode.CONFLICT, "The event subscription changed meanwhile; retry.")
        if existing is None:
            await self.cursors.ensure(sub.cursor, await self._log.head(), now)
        elif moved:
            await self.cursors.bump(sub.cursor, now)  # a retry pending for the old URL is dropped
        self._changed(name)
        return sub, existing is None

    def _validation_base(self, base_url: str, name: str) -> str:
        base = (self._public_url or base_url).rstrip("/")
        return f"{base}/eventSubscriptions/{quote(name)}/:validate"

    async def delete(self, name: str) -> None:
        sub = await self.get(name)
        await self.store.delete(sub.name)
        await self.cursors.delete(sub.cursor)
        self._changed(sub.name)

    async def validate(self, name: str, token: str) -> bool:
        """The endpoint's owner opened the validation link (or a CloudEvents receiver called the
        callback): True if that validated the subscription."""
        if not NAME_PATTERN.match(name) or not token or len(token) > 256:
            return False
        sub = await self.store.get(name)
        now = self._clock.now()
        if (
            sub is None
            or sub.effective_state(now) is not ProvisioningState.AWAITING_MANUAL_ACTION
            or not token_matches(token, sub.validation_hash)
        ):
            return False
        await self.store.touch(
            name, now, state=ProvisioningState.SUCCEEDED.value, validation_hash=None, validation_deadline=None
        )
        self._changed(name)
        return True

    async def rotate_secret(self, name: str, previous_valid_seconds: float) -> Subscription:
        """A new current secret; the old one keeps signing for ``previous_valid_seconds``."""
        sub = await self.get(name)
        now = self._clock.now()
        new = WebhookSecret.generate()
        keep = previous_valid_seconds > 0
        await self.store.touch(
            sub.name, now, secret=str(new),
            previous_secret=str(sub.secret) if keep else None,
            previous_secret_until=now + previous_valid_seconds if keep else None,
        )  # fmt: skip
        self._changed(sub.name)
        return await self.get(sub.name)

    async def replay(self, name: str, *, from_position: int | None, from_time: float | None) -> int:
        """Deliver again from ``from_position`` (or the first event at or after ``from_time``);
        returns the first position that will be delivered."""
        sub = await self.get(name)
        head = await self._log.head()
        if from_position is not None:
            if not 1 <= from_position <= head + 1:
                raise _bad(f"fromPosition is 1–{head + 1} (the next position to be written).")
            first = from_position
        else:
            assert from_time is not None
            found = await self._log.first_position_since(from_time)
            first = head + 1 if found is None else found
        now = self._clock.now()
        if await self.cursors.rewind(sub.cursor, first - 1, now) < 0:
            await self.cursors.ensure(sub.cursor, first - 1, now)
        await self.store.touch(sub.name, now)
        self._changed(sub.name)
        return first

    async def dead_letters(self, name: str, after: int, limit: int) -> list[DeadLetter]:
        sub = await self.get(name)
        return await self.store.dead_letters(sub.name, after, limit)

    async def position(self, name: str) -> tuple[int, int]:
        """The subscription's delivered position and the log's head."""
        sub = await self.get(name)
        state = await self.cursors.get(sub.cursor)
        return (state.position if state else 0), await self._log.head()
