"""Phone-number tables. Migration ``0011_telephony`` creates these (``number_routes``: ``0013``).

    phone_numbers        every number this resource bought: ``owned`` until released, then
                         ``released`` (kept, so releasing again is a no-op and SMS from it is refused)
    number_holds         a number held by a search or a reservation until ``expires_at``; the
                         primary key makes two holds of one number impossible
    number_searches      a search's request and, once it ran, its numbers and expiry
    number_reservations  a reservation (its numbers are its holds)
    number_operations    long-running operations (numbers/operations.py)
    number_routes        where the PSTN gateway rings a number's inbound calls without an
                         application (``numbers/routing.py``; migration ``0013_number_routes``)

Free = in the inventory, not owned, no unexpired hold. Every change runs in one write unit, and
write units are serialised (one SQLite writer; PostgreSQL's append lock), so a check and the
change it guards cannot interleave with another unit's.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from telex.store.schema import metadata

__all__ = [
    "number_holds",
    "number_operations",
    "number_reservations",
    "number_routes",
    "number_searches",
    "phone_numbers",
]

phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("e164", String(16), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("number_type", String(16), nullable=False),
    Column("assignment", String(16), nullable=False),
    Column("calling", String(24), nullable=False),
    Column("sms", String(24), nullable=False),
    Column("cost", Float, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),  # owned | released
    Column("purchased_at", Float, nullable=False),
    Column("released_at", Float, nullable=True),
    Index("ix_phone_numbers_status", "status", "e164"),
)

number_holds = Table(
    "number_holds",
    metadata,
    Column("e164", String(16), primary_key=True),
    Column("holder", String(64), nullable=False),  # "search:<id>" | "reservation:<id>"
    Column("expires_at", Float, nullable=False),
    # JSON: what the holder asked for this number (type, assignment, capabilities)
    Column("attrs", Text, nullable=False),
    Index("ix_number_holds_holder", "holder"),
)

number_searches = Table(
    "number_searches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("country", String(2), nullable=False),
    Column("number_type", String(16), nullable=False),
    Column("assignment", String(16), nullable=False),
    Column("calling", String(24), nullable=False),
    Column("sms", String(24), nullable=False),
    Column("area_code", String(8), nullable=True),
    Column("quantity", Integer, nullable=False),
    Column("numbers", Text, nullable=True),  # JSON list, once the search ran
    Column("status", String(16), nullable=False),  # pending | active | purchasing | purchased | failed
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
)

number_reservations = Table(
    "number_reservations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),  # active | submitted | completed
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    # JSON {id: [code, message]} of numbers the last change could not reserve
    Column("errors", Text, nullable=True),
    # JSON {id: attributes} of the numbers it bought, once completed (its holds are gone then)
    Column("purchased", Text, nullable=True),
)

number_operations = Table(
    "number_operations",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("request", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_action_at", Float, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("resource_location", String(256), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Index("ix_number_operations_status", "status", "created_at"),
)

number_routes = Table(
    "number_routes",
    metadata,
    Column("e164", String(16), primary_key=True),
    Column("users", Text, nullable=False),  # JSON list of raw ids (8:acs:...), rung all at once
    Column("group_call_id", String(64), nullable=True),  # or: the caller joins this group call
    Column("ring_seconds", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)
