"""Typed identifiers and their wire formats (acs-wire.md §1.7)."""

from __future__ import annotations

import re
import uuid
from typing import NewType

__all__ = ["ResourceId", "UserId", "identifier_kind", "new_user_id", "parse_user_id"]

ResourceId = NewType("ResourceId", str)
UserId = NewType("UserId", str)

_USER_RE = re.compile(
    r"^8:acs:(?P<res>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"_(?P<uid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def new_user_id(resource: ResourceId) -> UserId:
    """A fresh communication user id, ``8:acs:<resource-id>_<uuid>`` as ACS issues them."""
    return UserId(f"8:acs:{resource}_{uuid.uuid4()}")


def parse_user_id(raw: str, resource: ResourceId) -> UserId | None:
    """The id if it is a well-formed user id of this resource, else None."""
    m = _USER_RE.match(raw)
    if m is None or m.group("res") != resource:
        return None
    return UserId(raw)


def identifier_kind(user: str) -> dict[str, str]:
    """A ``CommunicationIdentifierKind`` as the ACS JS SDKs have it (plus ``rawId``): a
    communication user, or a phone number (raw id ``4:+E.164``, a PSTN participant)."""
    if user.startswith("4:"):
        return {"kind": "phoneNumber", "phoneNumber": user[2:], "rawId": user}
    return {"kind": "communicationUser", "communicationUserId": user, "rawId": user}
