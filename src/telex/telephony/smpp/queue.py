"""The durable outbox the SMPP client drains, as a Protocol, with an in-memory implementation.

The SMS service owns the real one (rows in its store, written in the same transaction that
accepted the send); the client only reads what is pending and records each outcome. Anything not
yet marked is pending, so a process restart resubmits whatever the SMSC had not acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from telex.telephony.smpp.message import OutboundMessage

__all__ = ["InMemorySmsQueue", "SmsQueue"]


class SmsQueue(Protocol):
    async def pending(self, limit: int) -> Sequence[OutboundMessage]:
        """The oldest ``limit`` messages neither submitted nor failed, oldest first."""

    async def mark_submitted(self, id: str, smsc_message_ids: Sequence[str]) -> None:
        """The SMSC accepted message ``id``; one SMSC id per part (receipts name those)."""

    async def mark_failed(self, id: str, reason: str) -> None:
        """Message ``id`` will not be sent."""


class InMemorySmsQueue:
    """An ``SmsQueue`` in a dict, for tests and benchmarks; ``wait_until`` awaits outcomes."""

    def __init__(self) -> None:
        self._pending: dict[str, OutboundMessage] = {}
        self.submitted: dict[str, tuple[str, ...]] = {}
        self.failed: dict[str, str] = {}
        self._changed = asyncio.Condition()

    def put(self, message: OutboundMessage) -> None:
        self._pending[message.ref] = message

    async def pending(self, limit: int) -> Sequence[OutboundMessage]:
        return [message for _, message in zip(range(limit), self._pending.values(), strict=False)]

    async def mark_submitted(self, id: str, smsc_message_ids: Sequence[str]) -> None:
        if self._pending.pop(id, None) is not None:
            self.submitted[id] = tuple(smsc_message_ids)
        await self._notify()

    async def mark_failed(self, id: str, reason: str) -> None:
        if self._pending.pop(id, None) is not None:
            self.failed[id] = reason
        await self._notify()

    async def wait_until(self, predicate: Callable[[InMemorySmsQueue], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
