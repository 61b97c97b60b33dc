"""``PushRegistrationService``: devices register to be woken; users see and remove their own.

    data plane (user token)      register · list · delete   — one's own registrations only
    management plane (HMAC)      the same for any user       — the trusted service's view

A platform whose provider is not configured refuses registrations (a device would otherwise
believe it can be woken). Registering the same device again renews it (TTL) and keeps its id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.push.registry import DeviceSpec, Platform, Registration, validate_device
from telex.push.settings import PushSettings
from telex.push.store import RegistrationStore

__all__ = ["PushRegistrationService"]


class PushRegistrationService:
    def __init__(
        self,
        store: RegistrationStore,
        clock: Clock,
        settings: PushSettings,
        platforms: frozenset[Platform],
        *,
        allow_http: bool = False,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.store = store
        self._clock = clock
        self._settings = settings
        self.platforms = platforms
        self._allow_http = allow_http
        self._new_id = new_id

    async def register(
        self, user: str, spec: DeviceSpec, ttl_seconds: int | None
    ) -> tuple[Registration, bool]:
        """Register ``spec`` for ``user``; returns it and whether it is new. Raises
        ``ValidationFailed`` for a malformed device or a platform that is off."""
        if spec.platform not in self.platforms:
            raise TelexError(
                ErrorCode.VALIDATION_FAILED, f"Push to {spec.platform.value} is not configured here."
            )
        s = self._settings
        token, options = validate_device(
            spec, channel_hosts=s.wns.channel_hosts, endpoint_hosts=s.webpush.endpoint_hosts,
            allow_http=self._allow_http,
        )  # fmt: skip
        ttl = min(ttl_seconds or s.registration_ttl_seconds, s.registration_ttl_seconds)
        now = self._clock.now()
        reg = Registration(self._new_id(), user, spec.platform, token, options, now, now + ttl)
        return await self.store.upsert(reg, now, s.max_registrations_per_user)

    async def registrations(self, user: str) -> list[Registration]:
        return await self.store.for_users([user], self._clock.now())

    async def unregister(self, user: str, registration_id: str) -> None:
        """Delete one of ``user``'s registrations; 404 for an unknown id or someone else's."""
        if len(registration_id) > 64 or not await self.store.delete(registration_id, user):
            raise TelexError(ErrorCode.NOT_FOUND, "The push registration does not exist.")

    async def unregister_all(self, user: str) -> int:
        return await self.store.delete_user(user)
