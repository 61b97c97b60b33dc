"""Chat service: the rules of ACS chat over the store and the event backbone.

    route ─► ChatService.op(principal, …) ─► ChatStore.write(): guard ─► rows ─► tx.emit(event)
                                              └─ unit ends: events appended ─► group commit ─► published
Every method takes the verified ``Principal`` of the caller (any chat-scoped user token) and
raises ``TelexError``: ``Forbidden`` (403) when the token's scope does not allow the operation,
the uniform ``NotFound`` (404) when the caller is not a current member of the thread, 400 for
invalid input, 429 (with ``retry_after``) over a rate limit. A write returns only after its
transaction (change and events together) has committed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from telex.chat import events as ev
from telex.chat.guard import Action, require_member, require_scope
from telex.chat.models import (
    InvalidParticipant,
    Message,
    MessageType,
    Page,
    Participant,
    ParticipantSpec,
    ReadReceipt,
    Thread,
    ThreadId,
    ThreadItem,
)
from telex.chat.ratelimit import RateLimiter
from telex.chat.repository import ChatStore, ChatTx, Record, message_from_row
from telex.chat.sanitize import sanitize_html
from telex.chat.settings import ChatSettings
from telex.core.clock import Clock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId
from telex.events.backbone import Backbone
from telex.identity import Principal

__all__ = ["ChatService", "ThreadChanges", "check_metadata", "check_retention"]


def _bad(message: str) -> TelexError:
    return TelexError(ErrorCode.BAD_REQUEST, message)


def _message_not_found() -> TelexError:
    return TelexError(ErrorCode.NOT_FOUND, "The chat message does not exist.")


@dataclass
class _Numbers:
    """The thread's message counters while a transaction adds messages."""

    seq: int
    ms: int

    def next(self, now: float) -> tuple[int, str]:
        self.seq += 1
        self.ms = max(int(now * 1000), self.ms + 1)
        return self.seq, str(self.ms)


def _encode_token(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


_MAX_SEQ = 2**53


def _decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad("Invalid continuation token.") from exc


def _is_time(value: object, optional: bool = True) -> bool:
    if value is None:
        return optional
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e11


def _spec_key(spec: ParticipantSpec) -> list[Any]:
    key: list[Any] = [spec.raw_id, spec.display_name, spec.share_history_time]
    return [*key, spec.metadata] if spec.metadata else key


def _json_or_none(text: str | None) -> dict[str, str] | None:
    return json.loads(text) if text else None


def _participant(row: Record) -> Participant:
    return Participant(
        UserId(row.user_id), row.display_name, row.share_history_time, _json_or_none(row.metadata)
    )


def _thread(row: Record) -> Thread:
    return Thread(
        ThreadId(row.id), row.topic, UserId(row.created_by), row.created_at, row.deleted_at,
        _json_or_none(row.metadata), row.retention_days,
    )  # fmt: skip


# ACS's limits (chat concepts): metadata of a thread or a participant totals at most 1 KB; a
# retention policy deletes a thread 30 to 90 days after its creation.
METADATA_MAX_BYTES = 1024
RETENTION_DAYS = (30, 90)


def check_metadata(metadata: dict[str, str] | None, what: str) -> None:
    """Raise 400 if ``metadata`` is over ACS's size limit (keys and values, UTF-8)."""
    if metadata and sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items()) > METADATA_MAX_BYTES:
        raise _bad(f"The {what} metadata exceeds {METADATA_MAX_BYTES} bytes.")


def check_retention(days: int | None) -> None:
    if days is not None and not RETENTION_DAYS[0] <= days <= RETENTION_DAYS[1]:
        raise _bad(f"deleteThreadAfterDays must be between {RETENTION_DAYS[0]} and {RETENTION_DAYS[1]}.")


@dataclass(frozen=True, slots=True)
class ThreadChanges:
    """What an update of a thread's properties changes (None: leave it as it is)."""

    topic: str | None = None
    # Merge-patch of the metadata: a None value removes that name.
    metadata: dict[str, str | None] | None = None
    # The new retention policy: ``(days,)``, or ``(None,)`` for none; None leaves it.
    retention: tuple[int | None] | None = None


class ChatService:
    def __init__(
        self, store: ChatStore, backbone: Backbone, clock: Clock, settings: ChatSettings, limiter: RateLimiter
    ) -> None:
        self._store = store
        self._backbone = backbone
        self._clock = clock
        self._cfg = settings
        self._limiter = limiter

    @property
    def store(self) -> ChatStore:
        return self._store

    # threads -----------------------------------------------------------------------------------
    async def create_thread(
        self,
        principal: Principal,
        topic: str,
        specs: list[ParticipantSpec],
        request_id: str | None,
        metadata: dict[str, str] | None = None,
        retention_days: int | None = None,
        *,
        rate_key: str | None = None,
    ) -> tuple[Thread, list[InvalidParticipant]]:
        """Create a thread with the caller and ``specs`` as members (``chat`` scope only).

        The same ``request_id`` from the same user returns the thread it created (400 if the body
        differs). Ids that are not live users of this resource come back as invalid participants.
        ``metadata`` (at most 1 KB) and ``retention_days`` (30-90) are api-version 2025-03-15's.
        ``rate_key``: count the creation against this key's limit instead of the caller's (a
        trusted in-process service creating threads on behalf of many visitors: the demo).
        """
        require_scope(principal, Action.MANAGE_THREAD)
        self._check_batch(specs)
        check_metadata(metadata, "thread")
        check_retention(retention_days)
        for spec in specs:
            check_metadata(spec.metadata, "participant")
        user = principal.user_id
        key = f"{user} {request_id}" if request_id else None
        extra = [metadata, retention_days] if metadata or retention_days is not None else []
        digest = hashlib.sha256(
            json.dumps([topic, [_spec_key(s) for s in specs], *extra]).encode()
        ).hexdigest()
        if key is not None:
            async with self._store.read() as tx:
                existing = await tx.thread_by_request_key(key)
            if existing is not None:
                return self._replayed(existing, digest), []
        self._limiter.hit(f"thread:{rate_key or user}", [(self._cfg.threads_per_user_per_10s, 10.0)])
        now = self._clock.now()
        thread_id = ThreadId(f"19:{uuid.uuid4().hex}@thread.v2")
        async with self._store.write() as tx:
            if key is not None and (existing := await tx.thread_by_request_key(key)) is not None:
                return self._replayed(existing, digest), []
            valid, invalid = await self._validate(tx, specs)
            mine = next((s for s in specs if s.raw_id == user), None)
            creator_name = mine.display_name if mine else None
            members = {user: Participant(user, creator_name, None, mine.metadata if mine else None)}
            for p in valid:
                members.setdefault(p.user_id, p)
            if len(members) > self._cfg.max_participants:
                raise _bad(f"A thread has at most {self._cfg.max_participants} participants.")
            parts = list(members.values())
            tx.emit(
                ev.thread_created(thread_id, topic, parts, user, creator_name, now, metadata, retention_days)
            )
            numbers = _Numbers(0, 0)
            seq, mid = numbers.next(now)
            await tx.insert_thread(
                id=thread_id, topic=topic, created_by=user, created_at=now, last_message_at=now,
                last_seq=numbers.seq, last_message_ms=numbers.ms, member_count=len(parts),
                request_key=key, request_hash=digest, metadata=json.dumps(metadata) if metadata else None,
                retention_days=retention_days,
            )  # fmt: skip
            await tx.insert_message(
                thread_id=thread_id, seq=seq, id=mid, type=MessageType.PARTICIPANT_ADDED.value,
                participants=parts, initiator_id=user, created_at=now, version=mid,
            )  # fmt: skip
            await tx.insert_memberships([self._membership_row(thread_id, p, now, 1) for p in parts])
            for p in parts:
                tx.join(thread_id, p.user_id)
        return Thread(thread_id, topic, user, now, None, metadata or None, retention_days), invalid

    def _replayed(self, row: Record, digest: str) -> Thread:
        if row.request_hash != digest:
            raise _bad("The repeatability-request-id was already used with a different request.")
        return _thread(row)

    async def list_threads(
        self, principal: Principal, since: float | None, page_size: int, token: str | None
    ) -> Page[ThreadItem]:
        """Threads the caller is a member of, most recently active first."""
        require_scope(principal, Action.READ)
        after = None
        if token is not None:
            raw = _decode_token(token)
            shaped = isinstance(raw, list) and len(raw) == 3
            if not (shaped and _is_time(raw[0], False) and isinstance(raw[1], str) and _is_time(raw[2])):
                raise _bad("Invalid continuation token.")
            after, since = (float(raw[0]), raw[1]), raw[2]
        async with self._store.read() as tx:
            rows = await tx.list_threads(principal.user_id, since, after, page_size + 1)
        items = [
            ThreadItem(ThreadId(r.id), r.topic, r.last_message_at, r.deleted_at) for r in rows[:page_size]
        ]
        nxt = None
        if len(rows) > page_size:
            last = rows[page_size - 1]
            nxt = _encode_token([last.last_message_at, last.id, since])
        return Page(items, nxt)

    async def get_thread(self, principal: Principal, thread_id: str) -> Thread:
        async with self._store.read() as tx:
            await require_member(tx, principal, thread_id, Action.READ)
            row = await tx.thread(thread_id)
        assert row is not None
        return dataclasses.replace(_thread(row), deleted_at=None)

    async def update_topic(self, principal: Principal, thread_id: str, topic: str) -> None:
        """Change the topic (``chat`` scope); adds a ``topicUpdated`` message."""
        await self.update_thread(principal, thread_id, ThreadChanges(topic=topic))

    async def update_thread(self, principal: Principal, thread_id: str, changes: ThreadChanges) -> None:
        """Change the topic, metadata or retention policy (``chat`` scope). A new topic adds a
        ``topicUpdated`` message; any change emits ``chatThreadPropertiesUpdated``."""
        if changes.retention is not None:
            check_retention(changes.retention[0])
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, Action.MANAGE_THREAD)
            thread = await tx.thread(thread_id)
            assert thread is not None
            values: dict[str, Any] = {}
            metadata = _json_or_none(thread.metadata)
            if changes.metadata is not None:
                merged = dict(metadata or {})
                for k, v in changes.metadata.items():
                    if v is None:
                        merged.pop(k, None)
                    else:
                        merged[k] = v
                check_metadata(merged, "thread")
                metadata = merged or None
                values["metadata"] = json.dumps(metadata) if metadata else None
            retention = thread.retention_days
            if changes.retention is not None:
                retention = values["retention_days"] = changes.retention[0]
            topic = thread.topic
            version = str(max(int(now * 1000), thread.last_message_ms + 1))
            if changes.topic is not None:
                topic = changes.topic
                numbers = _Numbers(thread.last_seq, thread.last_message_ms)
                seq, version = numbers.next(now)
                await tx.insert_message(
                    thread_id=thread_id, seq=seq, id=version, type=MessageType.TOPIC_UPDATED.value,
                    content=topic, initiator_id=principal.user_id, created_at=now, version=version,
                )  # fmt: skip
                values.update(
                    topic=topic, last_seq=numbers.seq, last_message_ms=numbers.ms, last_message_at=now
                )
            if not values:
                return
            await tx.update_thread(thread_id, **values)
            tx.emit(
                ev.thread_updated(
                    thread_id, topic, version, principal.user_id, me.display_name, now, metadata, retention
                )
            )

    async def delete_thread(self, principal: Principal, thread_id: str) -> None:
        """Delete the thread for everyone (``chat`` scope); afterwards it is 404 for all."""
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, Action.MANAGE_THREAD)
            await tx.update_thread(thread_id, deleted_at=now)
            tx.emit(ev.thread_deleted(thread_id, principal.user_id, me.display_name, now))

    # messages ----------------------------------------------------------------------------------
    def _content(self, content: str, type_: MessageType) -> str:
        if len(content.encode()) > self._cfg.max_content_bytes:
            raise _bad(f"The message content exceeds {self._cfg.max_content_bytes} bytes.")
        return sanitize_html(content) if type_ is MessageType.HTML else content

    def _metadata(self, metadata: dict[str, str | None] | None) -> dict[str, str] | None:
        """``metadata`` without its null values, within the limits (400 naming the one exceeded)."""
        if metadata is None:
            return None
        kept = {k: v for k, v in metadata.items() if v is not None}
        cfg = self._cfg
        if len(kept) > cfg.max_metadata_keys:
            raise _bad(f"Message metadata has at most {cfg.max_metadata_keys} keys.")
        total = 0
        for key, value in kept.items():
            key_bytes, value_bytes = len(key.encode()), len(value.encode())
            if not key or key_bytes > cfg.max_metadata_key_bytes:
                raise _bad(f"A metadata key has 1 to {cfg.max_metadata_key_bytes} bytes.")
            if value_bytes > cfg.max_metadata_value_bytes:
                raise _bad(f"A metadata value has at most {cfg.max_metadata_value_bytes} bytes.")
            total += key_bytes + value_bytes
        if total > cfg.max_metadata_bytes:
            raise _bad(f"Message metadata has at most {cfg.max_metadata_bytes} bytes in all.")
        return kept

    def _message_rate(self, thread_id: str) -> None:
        self._limiter.hit(
            f"messages:{thread_id}",
            [(self._cfg.messages_per_thread_per_10s, 10.0), (self._cfg.messages_per_thread_per_minute, 60.0)],
        )

    async def send_message(
        self,
        principal: Principal,
        thread_id: str,
        content: str,
        type_: MessageType = MessageType.TEXT,
        display_name: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Send a ``text`` or ``html`` message (HTML is sanitised); returns the message id."""
        if type_.is_system:
            raise _bad("Only text and html messages can be sent.")
        content = self._content(content, type_)
        metadata = self._metadata(dict(metadata)) if metadata is not None else None
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, Action.WRITE)
            self._message_rate(thread_id)
            numbers = _Numbers(me.last_seq, me.last_message_ms)
            seq, mid = numbers.next(now)
            name = display_name if display_name is not None else me.display_name
            message = Message(
                id=mid, type=type_, sequence_id=seq, version=mid, created_at=now, sender_id=principal.user_id,
                sender_display_name=name, content=content, metadata=metadata,
            )  # fmt: skip
            await tx.insert_message(
                thread_id=thread_id, seq=seq, id=mid, type=type_.value, sender_id=principal.user_id,
                sender_display_name=name, content=content, metadata=metadata, created_at=now, version=mid,
            )  # fmt: skip
            await tx.bump_thread(thread_id, seq, numbers.ms, now)
            tx.emit(ev.message_received(thread_id, message, principal.user_id, now))
        return mid

    async def get_message(self, principal: Principal, thread_id: str, message_id: str) -> Message:
        async with self._store.read() as tx:
            me = await require_member(tx, principal, thread_id, Action.READ)
            row = await tx.message(thread_id, message_id, me.visible_from_seq)
        if row is None:
            raise _message_not_found()
        return message_from_row(row)

    async def list_messages(
        self, principal: Principal, thread_id: str, since: float | None, page_size: int, token: str | None
    ) -> Page[Message]:
        """Messages the caller may see (from its ``shareHistoryTime`` on), newest first."""
        before = None
        if token is not None:
            raw = _decode_token(token)
            shaped = isinstance(raw, list) and len(raw) == 2 and type(raw[0]) is int
            if not (shaped and 0 <= raw[0] < _MAX_SEQ and _is_time(raw[1])):
                raise _bad("Invalid continuation token.")
            before, since = raw
        async with self._store.read() as tx:
            me = await require_member(tx, principal, thread_id, Action.READ)
            rows = await tx.list_messages(thread_id, me.visible_from_seq, before, since, page_size + 1)
        items = [message_from_row(r) for r in rows[:page_size]]
        nxt = _encode_token([items[-1].sequence_id, since]) if len(rows) > page_size else None
        return Page(items, nxt)

    async def update_message(
        self,
        principal: Principal,
        thread_id: str,
        message_id: str,
        content: str | None,
        metadata: dict[str, str | None] | None,
    ) -> None:
        """Edit the caller's own message (403 for anyone else's or a system message). Metadata, when
        given, replaces the message's (as ACS does; keys with a null value are left out)."""
        replacement = self._metadata(metadata)
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, Action.WRITE)
            row = await tx.message(thread_id, message_id, me.visible_from_seq)
            if row is None or row.deleted_at is not None:
                raise _message_not_found()
            old = message_from_row(row)
            if old.type.is_system or old.sender_id != principal.user_id:
                raise TelexError(ErrorCode.FORBIDDEN, "Only the sender can edit a message.")
            self._message_rate(thread_id)
            new_content = self._content(content, old.type) if content is not None else old.content
            merged = replacement if replacement is not None else dict(old.metadata or {})
            version = str(max(int(now * 1000), int(old.version) + 1))
            await tx.update_message(
                thread_id,
                old.sequence_id,
                content=new_content,
                metadata=merged,
                edited_at=now,
                version=version,
            )
            new = dataclasses.replace(
                old, version=version, content=new_content, metadata=merged, edited_at=now
            )
            tx.emit(ev.message_edited(thread_id, new, principal.user_id, now))

    async def delete_message(self, principal: Principal, thread_id: str, message_id: str) -> None:
        """Delete the caller's own message (its content is erased; deleting twice is a no-op)."""
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, Action.WRITE)
            row = await tx.message(thread_id, message_id, me.visible_from_seq)
            if row is None:
                raise _message_not_found()
            old = message_from_row(row)
            if old.type.is_system or old.sender_id != principal.user_id:
                raise TelexError(ErrorCode.FORBIDDEN, "Only the sender can delete a message.")
            if old.deleted_at is not None:
                return
            self._message_rate(thread_id)
            version = str(max(int(now * 1000), int(old.version) + 1))
            await tx.update_message(thread_id, old.sequence_id, content=None, deleted_at=now, version=version)
            gone = dataclasses.replace(old, version=version, content=None, metadata=None, deleted_at=now)
            tx.emit(ev.message_deleted(thread_id, gone, principal.user_id, now))

    # participants ------------------------------------------------------------------------------
    def _check_batch(self, specs: list[ParticipantSpec]) -> None:
        if len(specs) > self._cfg.max_participants_per_batch:
            raise _bad(f"At most {self._cfg.max_participants_per_batch} participants per request.")

    async def _validate(
        self, tx: ChatTx, specs: list[ParticipantSpec]
    ) -> tuple[list[Participant], list[InvalidParticipant]]:
        live = await tx.existing_users(s.raw_id for s in specs)
        valid: dict[str, Participant] = {}
        invalid = []
        for s in specs:
            if s.raw_id in live:
                valid.setdefault(
                    s.raw_id, Participant(UserId(s.raw_id), s.display_name, s.share_history_time, s.metadata)
                )
            else:
                invalid.append(InvalidParticipant(s.raw_id, "NotFound", "The participant does not exist."))
        return list(valid.values()), invalid

    @staticmethod
    def _membership_row(thread_id: str, p: Participant, now: float, from_seq: int) -> dict[str, Any]:
        return {
            "thread_id": thread_id,
            "user_id": p.user_id,
            "display_name": p.display_name,
            "share_history_time": p.share_history_time,
            "added_at": now,
            "visible_from_seq": from_seq,
            "metadata": json.dumps(p.metadata) if p.metadata else None,
        }

    async def list_participants(
        self, principal: Principal, thread_id: str, page_size: int, skip: int
    ) -> Page[Participant]:
        async with self._store.read() as tx:
            await require_member(tx, principal, thread_id, Action.READ)
            rows = await tx.list_members(thread_id, skip, page_size + 1)
        items = [_participant(r) for r in rows[:page_size]]
        return Page(items, str(skip + page_size) if len(rows) > page_size else None)

    async def add_participants(
        self, principal: Principal, thread_id: str, specs: list[ParticipantSpec]
    ) -> list[InvalidParticipant]:
        """Add members (``chat`` or ``chat.join``). Each sees history from its ``shareHistoryTime``
        (absent: from now on). Current members are left as they are."""
        require_scope(principal, Action.MANAGE_PARTICIPANTS)
        self._check_batch(specs)
        for spec in specs:
            check_metadata(spec.metadata, "participant")
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, Action.MANAGE_PARTICIPANTS)
            valid, invalid = await self._validate(tx, specs)
            current = {r.user_id for r in await tx.members(thread_id, [p.user_id for p in valid])}
            new = [p for p in valid if p.user_id not in current]
            if not new:
                return invalid
            thread = await tx.thread(thread_id)
            assert thread is not None
            if thread.member_count + len(new) > self._cfg.max_participants:
                raise _bad(f"A thread has at most {self._cfg.max_participants} participants.")
            numbers = _Numbers(thread.last_seq, thread.last_message_ms)
            seq, mid = numbers.next(now)
            await tx.insert_message(
                thread_id=thread_id, seq=seq, id=mid, type=MessageType.PARTICIPANT_ADDED.value,
                participants=new, initiator_id=principal.user_id, created_at=now, version=mid,
            )  # fmt: skip
            await tx.update_thread(
                thread_id, last_seq=seq, last_message_ms=numbers.ms, last_message_at=now,
                member_count=thread.member_count + len(new),
            )  # fmt: skip
            tx.emit(ev.participants_added(thread_id, mid, new, principal.user_id, me.display_name, now))
            rows = []
            for p in new:
                start = seq
                if p.share_history_time is not None:
                    first = await tx.first_seq_since(thread_id, p.share_history_time)
                    start = min(first, seq) if first is not None else seq
                rows.append(self._membership_row(thread_id, p, now, start))
                tx.join(thread_id, p.user_id)
            await tx.insert_memberships(rows)
        return invalid

    async def remove_participant(self, principal: Principal, thread_id: str, raw_id: str) -> None:
        """Remove a member: oneself with any chat scope, others with ``chat`` or ``chat.join``.
        Removing someone who is not a member is a no-op. The removed member's visibility ends at
        the ``participantRemoved`` message and the ``participantsRemoved`` event."""
        action = Action.WRITE if raw_id == principal.user_id else Action.MANAGE_PARTICIPANTS
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, action)
            target = await tx.membership(thread_id, raw_id)
            if target is None:
                return
            thread = await tx.thread(thread_id)
            assert thread is not None
            gone = _participant(target)
            numbers = _Numbers(thread.last_seq, thread.last_message_ms)
            seq, mid = numbers.next(now)
            await tx.insert_message(
                thread_id=thread_id, seq=seq, id=mid, type=MessageType.PARTICIPANT_REMOVED.value,
                participants=[gone], initiator_id=principal.user_id, created_at=now, version=mid,
            )  # fmt: skip
            await tx.update_thread(
                thread_id, last_seq=seq, last_message_ms=numbers.ms, last_message_at=now,
                member_count=thread.member_count - 1,
            )  # fmt: skip
            tx.emit(ev.participants_removed(thread_id, mid, [gone], principal.user_id, me.display_name, now))
            await tx.end_membership(target.id, seq)
            tx.leave(thread_id, gone.user_id)

    # signals -----------------------------------------------------------------------------------
    async def send_typing(self, principal: Principal, thread_id: str, display_name: str | None) -> None:
        """Tell the other members the caller is typing (dropped above the signals limit).

        Typing is ephemeral: it reaches the members connected now, on every node, and is never
        stored, so it takes no write unit and is never replayed on resume."""
        now = self._clock.now()
        async with self._store.read() as tx:
            me = await require_member(tx, principal, thread_id, Action.WRITE)
        self._limiter.hit(f"typing:{principal.user_id}", [(self._cfg.typing_per_user_per_10s, 10.0)])
        if me.member_count > self._cfg.signals_max_participants:
            return
        name = display_name if display_name is not None else (me.display_name or "")
        await self._backbone.ephemeral(ev.typing(thread_id, principal.user_id, name, now))

    async def send_read_receipt(self, principal: Principal, thread_id: str, message_id: str) -> None:
        """Record that the caller read up to ``message_id`` (kept only if newer than before)."""
        now = self._clock.now()
        async with self._store.write() as tx:
            me = await require_member(tx, principal, thread_id, Action.WRITE)
            row = await tx.message(thread_id, message_id, me.visible_from_seq)
            if row is None:
                raise _message_not_found()
            if me.member_count > self._cfg.signals_max_participants:
                return
            old = await tx.receipt(thread_id, principal.user_id)
            if old is not None and old.seq >= row.seq:
                return
            await tx.put_receipt(thread_id, principal.user_id, message_id, row.seq, now)
            tx.emit(ev.read_receipt(thread_id, message_id, principal.user_id, me.display_name, now))

    async def list_read_receipts(
        self, principal: Principal, thread_id: str, page_size: int, skip: int
    ) -> Page[ReadReceipt]:
        async with self._store.read() as tx:
            me = await require_member(tx, principal, thread_id, Action.READ)
            thread = await tx.thread(thread_id)
            assert thread is not None
            if thread.member_count > self._cfg.signals_max_participants:
                return Page()  # receipts are off in large threads, as in ACS
            rows = await tx.list_receipts(thread_id, me.visible_from_seq, skip, page_size + 1)
        return Page(rows[:page_size], str(skip + page_size) if len(rows) > page_size else None)
