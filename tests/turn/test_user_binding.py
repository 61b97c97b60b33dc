"""TURN credentials bound to their user (item 8 of the hardening report: an allocation still
succeeded after ``revoke_tokens`` and after the user was deleted). The core, on a fake clock."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import httpx

from telex.app import Node
from telex.core.clock import SystemClock
from telex.turn.core import UserVerdict
from telex.turn.stun import Attr, Class, Method, encode_message, encode_uint, parse_message
from tests.conftest import make_settings
from tests.support.apiversions import versioned
from tests.support.procs import free_port
from tests.support.serve import running
from tests.turn.helpers import Harness, code_of, make_harness
from tests.turn.probe import Probe, code


class Directory:
    """The users the check knows: user id -> (generation, live); missing means not cached."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[int, bool]] = {}
        self.calls = 0

    def __call__(self, user_id: str, generation: int | None) -> UserVerdict:
        self.calls += 1
        state = self.known.get(user_id)
        if state is None:
            return UserVerdict.UNKNOWN
        return UserVerdict.LIVE if state[1] and state[0] == (generation or 0) else UserVerdict.REFUSED


def harness() -> tuple[Harness, Directory]:
    users = Directory()
    return make_harness(users=users), users


def test_a_revoked_or_deleted_user_can_neither_allocate_nor_keep_an_allocation() -> None:
    h, users = harness()
    users.known["alice"] = (0, True)
    c = h.client("alice", generation=0)
    assert code_of(c.allocate()) is None
    users.known["alice"] = (1, True)  # revoke_tokens: generation 1 from now on
    reply = c.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(600))])
    assert code_of(reply) == 401 and not reply.has(Attr.MESSAGE_INTEGRITY)
    assert not h.core.allocations  # the allocation went with the refusal
    assert code_of(h.client("alice", port=40001, generation=0).allocate()) == 401
    # A credential issued after the revocation carries the new generation and works.
    assert code_of(h.client("alice", port=40002, generation=1).allocate()) is None
    users.known["alice"] = (1, False)  # deleted
    assert code_of(h.client("alice", port=40003, generation=1).allocate()) == 401
    assert h.core.counters.users_refused == 3


def test_an_unknown_user_is_looked_up_once_then_answered() -> None:
    h, users = harness()
    a, b = h.client("bob", generation=0), h.client("bob", port=40001, generation=0)
    a.fetch_nonce()
    b.fetch_nonce()
    assert a.send(a.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))])) is None
    assert b.send(b.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))])) is None
    assert h.checks == ["bob"]  # parked, one lookup for both
    users.known["bob"] = (0, True)
    answers = h.core.user_checked("bob", h.clock.now())
    assert [key for key, _ in answers] == [a.key, b.key]
    for _, events in answers:
        [reply] = h.apply(events)
        assert parse_message(reply.data).cls == Class.SUCCESS  # type: ignore[union-attr]
    assert len(h.core.allocations) == 2


def test_a_failed_lookup_answers_500_and_never_loops() -> None:
    h, _users = harness()
    c = h.client("carol", generation=0)
    c.fetch_nonce()
    assert c.send(c.build(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))])) is None
    [(_, events)] = h.core.user_checked("carol", h.clock.now())  # still unknown: the store failed
    [reply] = h.apply(events)
    assert code_of(parse_message(reply.data)) == 500  # type: ignore[union-attr]
    assert h.checks == ["carol"] and not h.core.allocations


def test_an_allocation_outlives_its_credential_but_not_its_user() -> None:
    """Credentials are short (minutes): an allocation's own refreshes keep working after its
    credential expires, while a new allocation with that credential is refused."""
    h, users = harness()
    users.known["dave"] = (0, True)
    c = h.client("dave", generation=0)
    assert code_of(c.allocate(lifetime=3600)) is None
    h.clock.advance(3601 + 60)  # the credential (valid 3600 s) has expired; the allocation not
    c.nonce = None  # a fresh nonce (the old one is stale)
    for _ in range(3):
        assert code_of(c.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(3600))])) is None
        assert code_of(c.permission("8.8.8.8")) is None
        h.clock.advance(1800)
        c.nonce = None
    other = h.client("dave", port=40009)
    other.set_credentials(c.username, c.password)
    assert code_of(other.allocate()) == 401  # expired for new allocations
    users.known["dave"] = (0, False)
    assert code_of(c.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(3600))])) == 401
    assert not h.core.allocations


def test_no_user_check_without_a_directory() -> None:
    h = make_harness()
    assert code_of(h.client("erin", generation=3).allocate()) is None


def test_unauthenticated_401_is_at_most_twice_the_smallest_allocate() -> None:
    """Item 10: a 28-byte Allocate (REQUESTED-TRANSPORT only) got a 60-byte 401 (2.14x)."""
    h = make_harness()
    request = encode_message(
        Method.ALLOCATE, Class.REQUEST, os.urandom(12), [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))]
    )
    assert len(request) == 28
    [reply] = h.apply(h.core.handle_client(request, ("udp", ("203.0.113.5", 5000), ("127.0.0.1", 3478)), 0.0))
    assert len(reply.data) <= 56  # type: ignore[union-attr]
    assert code_of(parse_message(reply.data)) == 401  # type: ignore[union-attr]


def test_binding_is_rate_limited_per_source() -> None:
    h = make_harness(binding_rate_per_source=10.0)
    key = ("udp", ("203.0.113.7", 5000), ("127.0.0.1", 3478))
    answered = 0
    for _ in range(50):
        request = encode_message(Method.BINDING, Class.REQUEST, os.urandom(12), [])
        answered += len(h.core.handle_client(request, key, h.clock.now()))
    assert answered == 10
    other = ("udp", ("203.0.113.8", 5000), ("127.0.0.1", 3478))
    binding = encode_message(Method.BINDING, Class.REQUEST, os.urandom(12), [])
    assert h.core.handle_client(binding, other, h.clock.now())  # another source is unaffected
    h.clock.advance(1)
    assert h.core.handle_client(binding, key, h.clock.now())  # and the budget refills


async def test_a_node_refuses_the_credentials_of_a_revoked_or_deleted_user(tmp_path: Path) -> None:
    """Through ``telex``'s own wiring: relay credentials from the REST API, the node's TURN server,
    the token verifier's cache. After revoke_tokens (then delete_user) the same credential gets 401
    at once (this node revoked it), for a new allocation and for the existing one's refresh."""
    settings = make_settings(tmp_path, turn={"port": free_port(socket.SOCK_DGRAM), "tcp": False})
    node = await Node.open(settings, SystemClock())
    try:
        async with running(node, turn=True) as url, httpx.AsyncClient(base_url=url) as http:
            assert node.turn is not None
            server = ("127.0.0.1", node.turn.udp_port)
            for action in ("revoke", "delete"):
                user = await node.identity.create_user(["voip"])
                assert user.token is not None
                auth = {"Authorization": f"Bearer {user.token.token}"}
                relay = versioned("/networkTraversal/:issueRelayConfiguration")
                r = await http.post(relay, json={}, headers=auth)
                ice = r.json()["iceServers"][0]
                held = Probe(server, ice["username"], ice["credential"])
                assert code(await asyncio.to_thread(held.allocate)) is None
                if action == "revoke":
                    await node.identity.revoke_tokens(user.user)
                else:
                    await node.identity.delete_user(user.user)
                fresh = Probe(server, ice["username"], ice["credential"])
                assert code(await asyncio.to_thread(fresh.allocate)) == 401
                assert code(await asyncio.to_thread(held.refresh, 600)) == 401
                held.close()
                fresh.close()
            assert not node.turn.core.allocations
    finally:
        await node.close()
