"""SMS: sending (repeatable, rate-limited, opt-out aware), the carriers' outbox and what they
report back (receipts, inbound messages), opt-out management, and the message log.

    POST /sms ─► send(): sender owned with outbound SMS? ─► per recipient: number, repeatability,
                 opt-out ─► one write unit: rows (queued | blocked), events ─► commit
                 ─► dispatch.notify(carrier): the carrier's connection claims queued rows
    carrier ─► submitted(ids) | refused(reason) ─► receipt(id, delivered) ─► delivery report event
    carrier ─► inbound(from, to, text[, part]) ─► keywords (STOP/START/HELP) ─► SMSReceived event

Contract of ``send``: raises ``TelexError`` for the whole request — 400 (malformed sender,
empty or over-long text, no or too many recipients), 401 (the sender is not a number this
resource owns with outbound SMS: what ACS answers), 429 (the sender's per-minute limit; nothing
is sent) — and otherwise returns one result per recipient, in order, each 202 (accepted), 400
(a malformed number or repeatability field, or an id reused for another request) or 412
(repeatability too old). A recipient who opted out is accepted and then fails with ACS's
"Sender blocked for given recipient." delivery report.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.numbers.model import NumberType, OwnedNumber
from telex.sms import events as ev
from telex.sms.optout import Keyword, Keywords
from telex.sms.ratelimit import SendRate
from telex.sms.repeatability import Check, request_hash
from telex.sms.repeatability import check as check_repeatability
from telex.sms.repository import DELIVERED, FAILED, QUEUED, RECEIVED, SUBMITTED, Record, SmsStore, SmsTx
from telex.sms.settings import SmsSettings
from telex.telephony.numbers import is_e164, parse_e164
from telex.telephony.segments import segment

__all__ = [
    "BLOCKED",
    "Directory",
    "Dispatch",
    "LoggedSms",
    "OptOutResult",
    "OutboundSms",
    "Recipient",
    "SendResult",
    "SmsService",
]

log = logging.getLogger(__name__)

BLOCKED = "Sender blocked for given recipient."
CLAIM_AHEAD = 200
INVALID_TO = "Invalid To phone number format."


class Directory(Protocol):
    async def lookup(self, number: str) -> OwnedNumber | None: ...


class Dispatch(Protocol):
    """Which carrier serves a number, and how to tell it that messages are waiting."""

    def carrier_for(self, number: str) -> str: ...

    def notify(self, carrier: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Recipient:
    to: str
    request_id: str | None = None
    first_sent: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    to: str
    status: int
    message_id: str | None = None
    error: str | None = None
    repeatability: str | None = None  # accepted | rejected, when repeatability was asked for

    @property
    def successful(self) -> bool:
        return self.status == 202


@dataclass(frozen=True, slots=True)
class OutboundSms:
    id: str
    sender: str
    recipient: str
    text: str
    delivery_report: bool
    segments: int
    submitted_at: float | None = None


@dataclass(frozen=True, slots=True)
class LoggedSms:
    id: str
    seq: int
    direction: str
    number: str
    peer: str
    text: str
    segments: int
    status: str
    details: str | None
    tag: str | None
    created_at: float
    done_at: float | None
    carrier: str


@dataclass(frozen=True, slots=True)
class OptOutResult:
    to: str
    status: int
    error: str | None = None
    opted_out: bool | None = None


def _logged(r: Record) -> LoggedSms:
    return LoggedSms(
        r.id, r.seq, r.direction, r.number, r.peer, r.body, r.segments, r.status, r.status_details, r.tag,
        r.created_at, r.done_at, r.carrier,
    )  # fmt: skip


def _outbound(r: Record) -> OutboundSms:
    return OutboundSms(r.id, r.number, r.peer, r.body, r.delivery_report, r.segments, r.submitted_at)


def _invalid(message: str) -> TelexError:
    return TelexError(ErrorCode.VALIDATION_FAILED, message)


class SmsService:
    def __init__(
        self,
        store: SmsStore,
        directory: Directory,
        dispatch: Dispatch,
        clock: Clock,
        settings: SmsSettings,
    ) -> None:
        self.store = store
        self._directory = directory
        self._dispatch = dispatch
        self._clock = clock
        self.settings = settings
        self._rate = SendRate(clock)
        self._keywords = Keywords(settings.opt_out if settings.opt_out_enabled else {})
        self._limits = {
            NumberType.TOLL_FREE: settings.per_minute_toll_free,
            NumberType.GEOGRAPHIC: settings.per_minute_geographic,
            NumberType.MOBILE: settings.per_minute_mobile,
        }

    # sending ---------------------------------------------------------------------------------------
    async def _sender(self, sender: str) -> OwnedNumber:
        if not isinstance(sender, str) or not sender:
            raise _invalid("from is required.")
        parse_e164(sender)
        owned = await self._directory.lookup(sender)
        if owned is None or not owned.capabilities.sms.outbound:
            raise TelexError(
                ErrorCode.UNAUTHORIZED, "The from number is not a number of this resource that may send SMS."
            )
        return owned

    def _check_text(self, message: str, tag: str | None) -> None:
        if not message:
            raise _invalid("message must not be empty.")
        if len(message) > self.settings.max_message_length:
            raise _invalid(f"message is longer than {self.settings.max_message_length} characters.")
        if "\x00" in message or (tag is not None and "\x00" in tag):
            raise _invalid("message and tag must not contain NUL characters.")
        if tag is not None and len(tag) > self.settings.max_tag_length:
            raise _invalid(f"tag is longer than {self.settings.max_tag_length} characters.")

    async def send(
        self,
        sender: str,
        message: str,
        recipients: Sequence[Recipient],
        delivery_report: bool = False,
        tag: str | None = None,
    ) -> list[SendResult]:
        if not 1 <= len(recipients) <= self.settings.max_recipients:
            raise _invalid(f"Between 1 and {self.settings.max_recipients} recipients are allowed.")
        self._check_text(message, tag)
        owned = await self._sender(sender)
        segments = segment(message)
        carrier = self._dispatch.carrier_for(sender)
        now = self._clock.now()
        window = self.settings.repeatability_window_seconds

        results: list[SendResult | None] = [None] * len(recipients)
        pending: list[tuple[int, str, str | None, str]] = []  # index, to, request id, hash
        for i, r in enumerate(recipients):
            rep = check_repeatability(r.request_id, r.first_sent, now, window)
            asked = None if rep.check is Check.NONE else "rejected"
            if rep.check is Check.INVALID:
                results[i] = SendResult(r.to, 400, error=rep.reason, repeatability=asked)
            elif rep.check is Check.TOO_OLD:
                results[i] = SendResult(r.to, 412, error=rep.reason, repeatability=asked)
            elif not isinstance(r.to, str) or len(r.to) > 32 or not is_e164(r.to):
                results[i] = SendResult(str(r.to)[:32], 400, error=INVALID_TO, repeatability=asked)
            else:
                pending.append(
                    (i, r.to, rep.request_id, request_hash(sender, r.to, message, delivery_report, tag))
                )

        queued = 0
        async with self.store.write() as tx:
            fresh: list[tuple[int, str, str | None, str]] = []
            by_id: dict[str, tuple[str, str]] = {}  # request id of this request → (hash, message id)
            for i, to, request_id, digest in pending:
                if request_id is None:
                    fresh.append((i, to, None, digest))
                    continue
                seen = by_id.get(request_id)
                row = None if seen is not None else await tx.by_request(request_id)
                if seen is None and row is None:
                    fresh.append((i, to, request_id, digest))
                    by_id[request_id] = (digest, "")
                    continue
                first_hash = seen[0] if seen is not None else row.request_hash  # type: ignore[union-attr]
                first_id = seen[1] if seen is not None else row.id  # type: ignore[union-attr]
                if first_hash == digest:
                    results[i] = SendResult(to, 202, message_id=first_id or None, repeatability="accepted")
                else:
                    reason = "The repeatabilityRequestId was already used with a different request."
                    results[i] = SendResult(to, 400, error=reason, repeatability="rejected")
            self._rate.take(sender, len(fresh), self._limits.get(owned.number_type, 0))
            blocked = await tx.opted_out(sender, [to for _, to, _, _ in fresh])
            rows = []
            for i, to, request_id, digest in fresh:
                message_id = f"Outgoing_{uuid.uuid4()}"
                if request_id is not None:
                    by_id[request_id] = (digest, message_id)
                block = to in blocked
                rows.append({
                    "id": message_id, "direction": "out", "number": sender, "peer": to, "body": message,
                    "segments": segments.count, "encoding": segments.encoding.value,
                    "status": FAILED if block else QUEUED, "status_details": BLOCKED if block else None,
                    "delivery_report": delivery_report, "tag": tag, "carrier": carrier,
                    "request_id": request_id, "request_hash": digest if request_id else None,
                    "created_at": now, "done_at": now if block else None,
                })  # fmt: skip
                if block and delivery_report:
                    tx.emit(ev.delivery_report(message_id, sender, to, delivered=False, details=BLOCKED,
                                               segments_delivered=0, segments_failed=segments.count,
                                               attempted_at=now, now=now, tag=tag))  # fmt: skip
                queued += not block
                results[i] = SendResult(
                    to, 202, message_id=message_id, repeatability="accepted" if request_id else None
                )
            await tx.insert_messages(rows)
            # A repeat of a recipient earlier in this same request gets that recipient's message id.
            for i, to, request_id, _ in pending:
                result = results[i]
                if (
                    request_id is not None
                    and result is not None
                    and result.status == 202
                    and not result.message_id
                ):
                    results[i] = SendResult(
                        to, 202, message_id=by_id[request_id][1], repeatability="accepted"
                    )
        if queued:
            self._dispatch.notify(carrier)
        return [r for r in results if r is not None]

    async def _queue_reply(self, tx: SmsTx, sender: str, recipient: str, text: str, now: float) -> None:
        """A message the platform sends itself (a keyword's reply): no report, no rate limit."""
        segments = segment(text)
        carrier = self._dispatch.carrier_for(sender)
        await tx.insert_messages([{
            "id": f"Outgoing_{uuid.uuid4()}", "direction": "out", "number": sender, "peer": recipient,
            "body": text, "segments": segments.count, "encoding": segments.encoding.value, "status": QUEUED,
            "delivery_report": False, "tag": None, "carrier": carrier, "created_at": now,
        }])  # fmt: skip

    # the carriers' side --------------------------------------------------------------------------
    async def claim(self, carrier: str, node: str, limit: int, lease: float) -> list[OutboundSms]:
        """Queued messages of ``carrier`` for ``node`` to send, oldest first: ones it holds, and
        free ones it now holds for ``lease`` seconds (another node takes them over if it dies).
        Claims are taken ``CLAIM_AHEAD`` at a time, so a busy outbox costs one write per batch,
        not one per message."""
        now = self._clock.now()
        async with self.store.read() as tx:
            rows = await tx.claimable(carrier, node, now, limit)
        if all(r.claimed_by == node and (r.claim_until or 0) >= now + lease / 2 for r in rows):
            return [_outbound(r) for r in rows]
        async with self.store.write() as tx:
            ahead = await tx.claimable(carrier, node, now, max(limit, CLAIM_AHEAD))
            await tx.claim([r.id for r in ahead], node, now + lease)
        return [_outbound(r) for r in ahead[:limit]]

    async def submitted(self, carrier: str, message_id: str, carrier_ids: Sequence[str]) -> None:
        """The carrier accepted the message; ``carrier_ids`` name its parts in receipts."""
        await self.submitted_many(carrier, [(message_id, carrier_ids)])

    async def submitted_many(self, carrier: str, accepted: Sequence[tuple[str, Sequence[str]]]) -> None:
        """``submitted`` for several messages in one write unit."""
        now = self._clock.now()
        async with self.store.write() as tx:
            for message_id, carrier_ids in accepted:
                row = await tx.message(message_id)
                if row is None or row.status != QUEUED:
                    continue
                expected = len(set(carrier_ids)) if row.delivery_report else 0
                await tx.mark_submitted(message_id, now, expected)
                if expected:
                    await tx.insert_carrier_ids(carrier, message_id, carrier_ids)
                    for early in await tx.take_unmatched(carrier, list(carrier_ids)):
                        await self._apply_receipt(
                            tx, carrier, early.carrier_id, early.delivered, early.details, now
                        )

    async def refused(self, carrier: str, message_id: str, reason: str) -> None:
        """The carrier will not send the message."""
        now = self._clock.now()
        async with self.store.write() as tx:
            row = await tx.message(message_id)
            if row is None or row.status not in (QUEUED, SUBMITTED):
                return
            await tx.update_message(message_id, status=FAILED, status_details=reason[:500], done_at=now,
                                    claimed_by=None, claim_until=None)  # fmt: skip
            self._report(tx, row, delivered=False, details=reason[:500], ok=0, failed=row.segments, now=now)

    async def receipt(self, carrier: str, carrier_id: str, delivered: bool, details: str) -> None:
        """A delivery receipt for one part; kept aside if that part is not recorded yet (a receipt
        may overtake the answer to its submission). A receipt seen before is ignored."""
        now = self._clock.now()
        async with self.store.write() as tx:
            await self._apply_receipt(tx, carrier, carrier_id, delivered, details, now)

    async def _apply_receipt(
        self, tx: SmsTx, carrier: str, carrier_id: str, delivered: bool, details: str, now: float
    ) -> None:
        part = await tx.carrier_id(carrier, carrier_id)
        if part is None:
            await tx.put_unmatched(carrier, carrier_id, delivered, details, now)
            return
        if part.outcome is not None:
            return
        await tx.set_outcome(carrier, carrier_id, DELIVERED if delivered else FAILED)
        row = await tx.message(part.message_id)
        if row is None or row.status != SUBMITTED:
            return
        ok = row.parts_delivered + delivered
        failed = row.parts_failed + (not delivered)
        left = max(0, row.parts_pending - 1)
        values: dict[str, Any] = {"parts_pending": left, "parts_delivered": ok, "parts_failed": failed}
        if left == 0:
            success = failed == 0
            values.update(status=DELIVERED if success else FAILED, done_at=now,
                          status_details=None if success else details[:500])  # fmt: skip
            parts = ok + failed
            seg_ok = row.segments if success else (ok if parts == row.segments else 0)
            self._report(tx, row, delivered=success, details="No error." if success else details[:500],
                         ok=seg_ok, failed=row.segments - seg_ok, now=now)  # fmt: skip
        await tx.update_message(row.id, **values)

    async def complete(self, message_id: str, delivered: bool, details: str) -> None:
        """The whole message reached its end (carriers that report per message, not per part)."""
        await self.complete_many([(message_id, delivered, details)])

    async def complete_many(self, outcomes: Sequence[tuple[str, bool, str]]) -> None:
        """``complete`` for several messages in one write unit."""
        now = self._clock.now()
        async with self.store.write() as tx:
            for message_id, delivered, details in outcomes:
                row = await tx.message(message_id)
                if row is None or row.status != SUBMITTED:
                    continue
                text = "No error." if delivered else details[:500]
                await tx.update_message(
                    message_id, status=DELIVERED if delivered else FAILED, done_at=now,
                    status_details=None if delivered else text,
                )  # fmt: skip
                ok = row.segments if delivered else 0
                self._report(
                    tx, row, delivered=delivered, details=text, ok=ok, failed=row.segments - ok, now=now
                )

    def _report(
        self, tx: SmsTx, row: Record, *, delivered: bool, details: str, ok: int, failed: int, now: float
    ) -> None:
        if row.delivery_report:
            event = ev.delivery_report(
                row.id, row.number, row.peer, delivered=delivered, details=details, segments_delivered=ok,
                segments_failed=failed, attempted_at=row.submitted_at or now, now=now, tag=row.tag,
            )  # fmt: skip
            tx.emit(event)

    async def submitted_before(self, carrier: str, before: float, limit: int) -> list[OutboundSms]:
        async with self.store.read() as tx:
            return [_outbound(r) for r in await tx.submitted_before(carrier, before, limit)]

    async def oldest_submitted(self, carrier: str) -> float | None:
        async with self.store.read() as tx:
            return await tx.oldest_submitted(carrier)

    # inbound ------------------------------------------------------------------------------------
    async def inbound(
        self,
        carrier: str,
        source: str,
        destination: str,
        text: str,
        part: tuple[int, int, int] | None = None,
    ) -> str | None:
        """A message from ``source`` to our ``destination``; ``part`` (reference, total, index) when
        it is one part of a longer one. Returns the stored message id once the message is whole,
        None while parts are missing or when ``destination`` takes no SMS here (dropped)."""
        now = self._clock.now()
        owned = await self._directory.lookup(destination)
        if owned is None or not owned.capabilities.sms.inbound:
            log.info(
                "inbound SMS to %s dropped: not a number of this resource that receives SMS", destination
            )
            return None
        text = text.replace("\x00", "")
        async with self.store.write() as tx:
            segments = segment(text).count if text else 1
            if part is not None and part[1] > 1:
                ref, total, index = part
                key = {
                    "carrier": carrier,
                    "source": source,
                    "destination": destination,
                    "ref": ref,
                    "total": total,
                }
                await tx.put_part(key, index, text, now)
                parts = await tx.parts(key)
                if len(parts) < total:
                    return None
                text, segments = "".join(p.text for p in parts), total
                await tx.drop_parts(key)
            message_id, replied = await self._received(tx, source, destination, text, segments, now)
        if replied:  # after the commit, so the carrier finds the reply
            self._dispatch.notify(self._dispatch.carrier_for(destination))
        return message_id

    async def _received(
        self, tx: SmsTx, source: str, destination: str, text: str, segments: int, now: float
    ) -> tuple[str, bool]:
        """Store an inbound message and its event, apply its keyword; returns its id and whether a
        reply was queued."""
        encoding = segment(text).encoding.value if text else "GSM-7"
        message_id = f"Incoming_{uuid.uuid4()}"
        await tx.insert_messages([{
            "id": message_id, "direction": "in", "number": destination, "peer": source, "body": text,
            "segments": segments, "encoding": encoding, "status": RECEIVED, "delivery_report": False,
            "carrier": self._dispatch.carrier_for(destination), "created_at": now, "done_at": now,
        }])  # fmt: skip
        tx.emit(ev.received(message_id, source, destination, text, segments, now))
        match = self._keywords.match(text)
        reply = ""
        if match is not None:
            if match.keyword is Keyword.STOP:
                await tx.opt_out(destination, source, "keyword", now)
            elif match.keyword is Keyword.START:
                await tx.opt_in(destination, source)
            reply = match.reply
        if reply:
            await self._queue_reply(tx, destination, source, reply, now)
        return message_id, bool(reply)

    # opt-out management ----------------------------------------------------------------------------
    async def optouts(self, action: str, sender: str, recipients: Sequence[str]) -> list[OptOutResult]:
        """``add``, ``remove`` or ``check`` recipients of ``sender`` (ACS's opt-out API)."""
        if not 1 <= len(recipients) <= self.settings.max_recipients:
            raise _invalid(f"Between 1 and {self.settings.max_recipients} recipients are allowed.")
        await self._sender_owned(sender)
        now = self._clock.now()
        valid = [r for r in recipients if isinstance(r, str) and len(r) <= 32 and is_e164(r)]
        out: list[OptOutResult] = []
        async with self.store.write() as tx:
            current = await tx.opted_out(sender, valid)
            for r in recipients:
                if r not in valid:
                    out.append(OptOutResult(str(r)[:32], 400, INVALID_TO))
                elif action == "add":
                    await tx.opt_out(sender, r, "api", now)
                    out.append(OptOutResult(r, 200))
                elif action == "remove":
                    await tx.opt_in(sender, r)
                    out.append(OptOutResult(r, 200))
                else:
                    out.append(OptOutResult(r, 200, opted_out=r in current))
        return out

    async def _sender_owned(self, sender: str) -> OwnedNumber:
        if not isinstance(sender, str) or not sender:
            raise _invalid("from is required.")
        parse_e164(sender)
        owned = await self._directory.lookup(sender)
        if owned is None:
            raise TelexError(ErrorCode.UNAUTHORIZED, "The from number is not a number of this resource.")
        return owned

    # the message log ------------------------------------------------------------------------------
    async def log(
        self, number: str, before: int | None, limit: int, *, peer: bool = False
    ) -> list[LoggedSms]:
        """Messages of our ``number`` (``peer``: with an outside number), newest first."""
        parse_e164(number)
        async with self.store.read() as tx:
            return [
                _logged(r)
                for r in await tx.log(number, before, min(limit, self.settings.max_page_size), peer=peer)
            ]

    async def message(self, message_id: str) -> LoggedSms | None:
        if len(message_id) > 64:
            return None
        async with self.store.read() as tx:
            row = await tx.message(message_id)
        return _logged(row) if row is not None else None

    # background work --------------------------------------------------------------------------------
    async def sweep(self) -> None:
        """Deliver long inbound messages whose last parts never came; forget old early receipts."""
        now = self._clock.now()
        replied = set()
        async with self.store.write() as tx:
            await tx.purge_unmatched(now - self.settings.unmatched_receipt_seconds)
            for key in await tx.stale_part_groups(now - self.settings.inbound_part_timeout_seconds, 50):
                parts = await tx.parts(key)
                await tx.drop_parts(key)
                text = "".join(p.text for p in parts)
                _, reply = await self._received(tx, key["source"], key["destination"], text, len(parts), now)
                if reply:
                    replied.add(self._dispatch.carrier_for(key["destination"]))
        for carrier in replied:
            self._dispatch.notify(carrier)

    async def run_sweeps(self) -> None:
        while True:
            await self._clock.sleep(self.settings.sweep_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("SMS sweep failed; the next one retries")
