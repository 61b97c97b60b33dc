"""Phone numbers: what can be bought, searches and reservations, purchases, releases, capability
updates (ACS long-running operations), and the directory other capabilities ask.

    inventory (simulated carrier + configured carriers' numbers) ─► catalog (lists, operator info)
    NumbersService: begin_search / begin_purchase / begin_release / begin_update_capabilities
                    ─► operations (notStarted ─► running ─► succeeded | failed), run on commit
    ReservationService: browse, reservations, reservation purchases
    NumbersService.lookup(e164) ─► OwnedNumber | None      (SMS: may this number send? voice too)

See docs/phone-numbers.md.

What other capabilities and the composition root may use is exported here; the routes
(``numbers.api``) import the web layer and are wired by the composition root.
"""

from telex.numbers.catalog import Catalog
from telex.numbers.inventory import Inventory, Listing, listings_for_numbers, simulated_listings
from telex.numbers.model import AssignmentType, Capabilities, Capability, Cost, NumberType, OwnedNumber
from telex.numbers.repository import NumbersStore
from telex.numbers.reservations import ReservationService
from telex.numbers.service import NumbersService, SearchRequest
from telex.numbers.settings import NumbersSettings

__all__ = [
    "AssignmentType",
    "Capabilities",
    "Capability",
    "Catalog",
    "Cost",
    "Inventory",
    "Listing",
    "NumberType",
    "NumbersService",
    "NumbersSettings",
    "NumbersStore",
    "OwnedNumber",
    "ReservationService",
    "SearchRequest",
    "listings_for_numbers",
    "simulated_listings",
]
