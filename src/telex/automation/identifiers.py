"""CommunicationIdentifierModel in and out of Call Automation (acs-wire.md §1.7).

Requests carry ``rawId`` and/or the kind's own object and never ``kind``; responses carry
``rawId`` (the SDK rebuilds identifiers from it), ``kind`` and the kind's object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telex.core.errors import ErrorCode, TelexError

__all__ = ["identifier", "is_phone", "is_user", "raw_id"]

_USER_PREFIXES = ("8:acs:", "8:spool:", "8:dod-acs:", "8:gcch-acs:")


def raw_id(model: Mapping[str, Any] | None, field: str = "identifier") -> str:
    """The raw id a request's identifier names; 400 when it names none."""
    if not isinstance(model, Mapping):
        raise TelexError(ErrorCode.VALIDATION_FAILED, f"{field} must be a communication identifier.")
    raw = model.get("rawId")
    if isinstance(raw, str) and raw:
        return raw[:256]
    user = model.get("communicationUser")
    if isinstance(user, Mapping) and isinstance(user.get("id"), str) and user["id"]:
        return str(user["id"])[:256]
    phone = model.get("phoneNumber")
    if isinstance(phone, Mapping) and isinstance(phone.get("value"), str) and phone["value"]:
        return "4:" + str(phone["value"])[:64]
    teams = model.get("microsoftTeamsUser")
    if isinstance(teams, Mapping) and isinstance(teams.get("userId"), str):
        return "8:orgid:" + str(teams["userId"])[:128]
    raise TelexError(ErrorCode.VALIDATION_FAILED, f"{field} must name a user or a phone number.")


def is_user(raw: str) -> bool:
    return raw.startswith(_USER_PREFIXES)


def is_phone(raw: str) -> bool:
    return raw.startswith("4:")


def identifier(raw: str) -> dict[str, Any]:
    """The identifier model of ``raw`` as responses and callbacks carry it."""
    if is_phone(raw):
        return {"rawId": raw, "kind": "phoneNumber", "phoneNumber": {"value": raw[2:]}}
    if is_user(raw):
        return {"rawId": raw, "kind": "communicationUser", "communicationUser": {"id": raw}}
    if raw.startswith("8:orgid:"):
        return {
            "rawId": raw,
            "kind": "microsoftTeamsUser",
            "microsoftTeamsUser": {"userId": raw[8:], "isAnonymous": False, "cloud": "public"},
        }
    return {"rawId": raw, "kind": "unknown"}
