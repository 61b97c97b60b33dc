"""Phone numbers, SMS and carriers wired together for one node (the composition root calls this;
it wires their routes: ``numbers.api``, ``sms.api``, ``carriers.handsets_api``).

Telephony.open(settings) ─► Inventory (simulated countries + SMPP carriers' numbers)
                         ─► NumbersService, ReservationService, Catalog
                         ─► CarrierRouter ─► SmsService ─► SimulatedCarrier, SmppCarrier × n
routers(hmac)   the phone-numbers, SMS and handset APIs
background()    operation and SMS sweeps, the carriers' connections (Node.start_background)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from telex.carriers.handsets import Handsets
from telex.carriers.routing import CarrierRouter, expand_numbers
from telex.carriers.settings import CarriersSettings
from telex.carriers.simulated import SIMULATED, SimulatedCarrier
from telex.carriers.smpp import SmppCarrier
from telex.core.clock import Clock
from telex.events.backbone import Backbone
from telex.numbers.catalog import Catalog
from telex.numbers.inventory import Inventory, listings_for_numbers, simulated_listings
from telex.numbers.repository import NumbersStore
from telex.numbers.reservations import ReservationService
from telex.numbers.service import NumbersService
from telex.numbers.settings import NumbersSettings
from telex.sms.repository import SmsStore
from telex.sms.service import SmsService
from telex.sms.settings import SmsSettings
from telex.store.database import Database

__all__ = ["Telephony"]

_STOP_WAIT = 5.0


@dataclass
class Telephony:
    numbers: NumbersService
    reservations: ReservationService
    catalog: Catalog
    sms: SmsService
    router: CarrierRouter
    simulated: SimulatedCarrier
    handsets: Handsets
    smpp: list[SmppCarrier] = field(default_factory=list)
    handsets_enabled: bool = True
    _runs: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        numbers_settings: NumbersSettings,
        sms_settings: SmsSettings,
        carriers: CarriersSettings,
        db: Database,
        backbone: Backbone,
        clock: Clock,
    ) -> Telephony:
        router = CarrierRouter(default=SIMULATED)
        listings = []
        for c in carriers.smpp:  # first: a carrier's own numbers win over the simulated inventory
            numbers = expand_numbers(c.numbers)
            router.add(c.name, numbers, c.prefixes)
            listings += listings_for_numbers(numbers)
        listings += [
            x
            for x in simulated_listings(carriers.simulated.countries)
            if router.carrier_for(x.e164) == SIMULATED
        ]
        inventory = Inventory(listings)
        numbers_service = NumbersService(NumbersStore(db), inventory, clock, numbers_settings)
        sms = SmsService(SmsStore(db, backbone), numbers_service, router, clock, sms_settings)
        node = uuid.uuid4().hex[:12]  # names this process's claims on outbox messages
        simulated = SimulatedCarrier(sms, numbers_service, clock, carriers.simulated, node)
        router.attach(SIMULATED, simulated.notify)
        smpp = []
        for c in carriers.smpp:
            carrier = SmppCarrier(c, sms, clock, node)
            router.attach(c.name, carrier.notify)
            smpp.append(carrier)
        return cls(
            numbers=numbers_service, reservations=ReservationService(numbers_service),
            catalog=Catalog(inventory), sms=sms, router=router, simulated=simulated,
            handsets=Handsets(sms, numbers_service, router), smpp=smpp,
            handsets_enabled=carriers.simulated.handsets,
        )  # fmt: skip

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """What runs for the node's life: sweeps and the carriers' connections."""
        return [
            self.numbers.run_sweeps(), self.sms.run_sweeps(), self.simulated.run(),
            *(carrier.run() for carrier in self.smpp),
        ]  # fmt: skip

    async def close(self) -> None:
        """Unbind from SMSCs (bounded), let running operations finish."""
        for carrier in self.smpp:
            await carrier.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_WAIT):
                await self.numbers.drain()
