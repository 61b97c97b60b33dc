"""The simulated carrier's handsets: outside numbers a test or a person drives by hand.

    send(handset, to, message)   the handset texts one of our numbers (an SMSReceived on it,
                                 keywords applied)
    messages(handset, …)         what the handset sent and what reached it, newest first

Served as ``/simulator/handsets/…`` (``handsets_api``) and used by the demo's SMS page. Only
numbers the simulated carrier serves take part: a number of an SMPP carrier is real.
"""

from __future__ import annotations

from telex.carriers.routing import CarrierRouter
from telex.carriers.simulated import SIMULATED
from telex.core.errors import ErrorCode, TelexError
from telex.sms.service import Directory, LoggedSms, SmsService
from telex.telephony.numbers import parse_e164

__all__ = ["Handsets"]


class Handsets:
    """What the handset routes (and the demo) do, without HTTP."""

    def __init__(self, sms: SmsService, directory: Directory, router: CarrierRouter) -> None:
        self._sms, self._directory, self._router = sms, directory, router

    async def _outside(self, number: str) -> str:
        e164 = parse_e164(number if number.startswith("+") else "+" + number)
        if self._router.carrier_for(e164) != SIMULATED:
            raise TelexError(ErrorCode.NOT_FOUND, "That number is not on the simulated carrier.")
        if await self._directory.lookup(e164) is not None:
            raise TelexError(ErrorCode.CONFLICT, "That number is owned here: send from it with the SMS API.")
        return e164

    async def send(self, handset: str, to: str, message: str) -> str:
        """Text our number ``to`` from the outside number ``handset``; 404 if ``to`` takes no SMS here."""
        source = await self._outside(handset)
        target = parse_e164(to)
        if self._router.carrier_for(target) != SIMULATED:
            raise TelexError(ErrorCode.NOT_FOUND, "That number is not on the simulated carrier.")
        if "\x00" in message or not message:
            raise TelexError(ErrorCode.VALIDATION_FAILED, "message must be text.")
        message_id = await self._sms.inbound(SIMULATED, source, target, message)
        if message_id is None:
            raise TelexError(ErrorCode.NOT_FOUND, "That number does not receive SMS on this server.")
        return message_id

    async def messages(self, handset: str, before: int | None, limit: int) -> list[LoggedSms]:
        """What the handset sent, and what reached it (delivered messages; a blocked or failed one
        never arrived), newest first."""
        source = await self._outside(handset)
        found = await self._sms.log(source, before, limit, peer=True)
        return [
            m for m in found if m.carrier == SIMULATED and (m.direction == "in" or m.status == "delivered")
        ]
