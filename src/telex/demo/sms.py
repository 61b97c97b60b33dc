"""The demo's SMS page: the visitor holds a simulated phone and texts the demo app's number.

    visitor's handset (+1 202 555 01xx, from the user id) ──POST /demo/api/sms/handset──► demo number
    demo number ──POST /demo/api/sms/reply (the app answering, as a trusted service would)──► handset
    GET /demo/api/sms ─► both sides' messages (the handset sees what reached it, with the delay)

The demo number is bought once, through the same search and purchase a customer makes, and kept
in ``demo-sms.json`` in the data dir. Keywords work as on any number: text STOP, START or HELP.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telex.carriers.node import Telephony
from telex.core.clock import iso_time
from telex.core.errors import ErrorCode, TelexError
from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType
from telex.numbers.service import SearchRequest
from telex.sms.service import LoggedSms, Recipient

__all__ = ["DemoSms"]

log = logging.getLogger(__name__)

_BOTH = Capabilities(Capability.INBOUND_OUTBOUND, Capability.INBOUND_OUTBOUND)
MAX_TEXT = 480


def _entry(m: LoggedSms) -> dict[str, Any]:
    outbound = m.direction == "out"
    return {
        "id": m.id,
        "from": m.number if outbound else m.peer,
        "to": m.peer if outbound else m.number,
        "message": m.text,
        "status": m.status,
        "at": iso_time(m.created_at),
    }


@dataclass
class DemoSms:
    telephony: Telephony
    number: str

    @classmethod
    async def open(cls, telephony: Telephony, data_dir: Path) -> DemoSms | None:
        """The demo number: the one kept in ``demo-sms.json`` if still owned, else a new one (None
        when the inventory has none left)."""
        path = data_dir / "demo-sms.json"
        saved = json.loads(path.read_text()).get("number") if path.exists() else None
        if saved and await telephony.numbers.lookup(saved) is not None:
            return cls(telephony, saved)
        numbers = telephony.numbers
        req = SearchRequest("US", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION, _BOTH, None, 1)
        try:
            op, search_id = await numbers.begin_search(req)
            await numbers.run_operation(op.id)
            [number] = (await numbers.search_result(search_id)).numbers
            op = await numbers.begin_purchase(search_id, False)
            await numbers.run_operation(op.id)
        except (TelexError, ValueError):
            log.warning("the demo found no phone number to buy; its SMS page is off")
            return None
        if await numbers.lookup(number) is None:
            return None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"number": number}, f)
        return cls(telephony, number)

    @staticmethod
    def handset_of(user_id: str) -> str:
        """The visitor's simulated phone: one of +1 202 555 0100..0199 (a fictional range the
        simulated carrier does not sell), the same for the same user."""
        n = int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:2], "big") % 100
        return f"+1202555{100 + n:04d}"

    async def view(self, user_id: str) -> dict[str, Any]:
        handset = self.handset_of(user_id)
        phone = await self.telephony.handsets.messages(handset, None, 50)
        app = await self.telephony.sms.log(self.number, None, 50)
        return {
            "number": self.number,
            "handset": handset,
            "handsetMessages": [_entry(m) for m in reversed(phone)],
            "appMessages": [_entry(m) for m in reversed(app) if m.peer == handset],
        }

    def _text(self, message: object) -> str:
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_TEXT:
            raise TelexError(ErrorCode.VALIDATION_FAILED, f"A message is 1 to {MAX_TEXT} characters.")
        return message

    async def from_handset(self, user_id: str, message: object) -> None:
        await self.telephony.handsets.send(self.handset_of(user_id), self.number, self._text(message))

    async def reply(self, user_id: str, message: object) -> None:
        """The demo app answers the visitor's phone (and no one else's)."""
        [result] = await self.telephony.sms.send(
            self.number, self._text(message), [Recipient(self.handset_of(user_id))]
        )
        if not result.successful:
            raise TelexError(ErrorCode.BAD_REQUEST, result.error or "The message was not accepted.")
