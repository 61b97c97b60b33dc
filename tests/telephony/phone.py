"""Helpers for the phone-number and SMS tests: an in-process node on a fake clock, a signed
client of its API, and shortcuts to own numbers and read the event log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from telex.app import Node, build_app
from telex.carriers.node import Telephony
from telex.core.clock import Clock, FakeClock
from telex.events.model import DomainEvent
from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType
from telex.numbers.service import SearchRequest
from tests.conftest import make_settings
from tests.support.signing import HmacSigner

__all__ = ["Phone", "phone_node"]

BOTH = Capability.INBOUND_OUTBOUND


@dataclass
class Phone:
    node: Node
    clock: Any  # a FakeClock, unless the node runs on real time
    api: httpx.AsyncClient

    @property
    def tel(self) -> Telephony:
        assert self.node.telephony is not None
        return self.node.telephony

    async def settle(self) -> None:
        """Let every operation this node started finish."""
        await self.tel.numbers.drain()

    async def own(
        self,
        quantity: int = 1,
        area_code: str = "425",
        sms: Capability = BOTH,
        calling: Capability = BOTH,
        number_type: NumberType = NumberType.GEOGRAPHIC,
        country: str = "US",
    ) -> list[str]:
        """Buy numbers through the services (search, then purchase), as the API would."""
        numbers = self.tel.numbers
        req = SearchRequest(country, number_type, AssignmentType.APPLICATION, Capabilities(calling, sms),
                            area_code, quantity)  # fmt: skip
        _, search_id = await numbers.begin_search(req)
        await self.settle()
        found = list((await numbers.search_result(search_id)).numbers)
        await numbers.begin_purchase(search_id, False)
        await self.settle()
        return found

    async def events(self, type_: str | None = None) -> list[DomainEvent]:
        found = await self.node.events.read_after(0, 10_000)
        return [e for e in found if type_ is None or e.type == type_]

    async def deliver(self) -> None:
        """Run the simulated carrier until nothing is queued or due (moving the clock as needed)."""
        for _ in range(20):
            due = await self.tel.simulated.step()
            if due is None:
                return
            self.clock.advance(max(0.0, due - self.clock.now()) + 0.001)


@asynccontextmanager
async def phone_node(tmp_path: Path, clock: Clock | None = None, **overrides: Any) -> AsyncIterator[Phone]:
    clock = clock or FakeClock()
    settings = make_settings(tmp_path, **overrides)
    node = await Node.open(settings, clock)
    transport = httpx.ASGITransport(app=build_app(node))
    signer = HmacSigner(node.keyring.state.primary_key, now=clock.now)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", auth=signer) as api:
            yield Phone(node, clock, api)
    finally:
        await node.close()


def body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except json.JSONDecodeError:
        return response.text
