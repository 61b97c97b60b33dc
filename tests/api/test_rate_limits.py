"""Rate limits added by the hardening pass: call invitations (item 9), wrong HMAC signatures per
source (item 9), identity operations at ACS's numbers, and the demo's sign-ins, rooms and
Origin check (item 12). Counts are bounded; time is a fake clock where a window must pass."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

import httpx
import pytest

from telex.app import Node, build_app
from telex.core.clock import FakeClock
from telex.core.errors import ErrorCode, TelexError
from telex.core.ids import UserId
from telex.identity import Principal, Scope
from tests.conftest import make_settings
from tests.support.signing import HmacSigner


async def _node(tmp_path: Path, clock: FakeClock, **settings: object) -> Node:
    return await Node.open(make_settings(tmp_path, **settings), clock)


def _client(node: Node, **kw: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(node)), base_url="http://t", **kw)  # type: ignore[arg-type]


async def test_call_invitations_are_limited_per_callee_and_per_caller(tmp_path: Path) -> None:
    """497 invitations to one victim in 5 s used to ring; now 10 a minute reach a callee (and a
    caller places 30), the rest get 429 with Retry-After, and the window moves on."""
    clock = FakeClock(time.time())
    node = await _node(tmp_path, clock)
    try:
        signer = HmacSigner(node.keyring.state.primary_key)
        async with _client(node, auth=signer) as admin, _client(node) as api:
            tokens = []
            for _ in range(5):
                body = (await admin.post("/identities", json={"createTokenWithScopes": ["voip"]})).json()
                tokens.append((body["identity"]["id"], body["accessToken"]["token"]))
            (victim, _), (caller, token) = tokens[0], tokens[1]
            auth = {"Authorization": f"Bearer {token}"}
            codes = []
            for _ in range(40):
                r = await api.post("/calling/calls", json={"targets": [{"rawId": victim}]}, headers=auth)
                codes.append(r.status_code)
            assert codes.count(201) == 10 and codes.count(429) == 30
            assert int(r.headers["retry-after"]) >= 1
            # Other callees still ring, until the caller's own budget (30) is spent.
            others = [t[0] for t in tokens[2:]]
            placed = 0
            for i in range(40):
                target = others[i % 3]
                r = await api.post("/calling/calls", json={"targets": [{"rawId": target}]}, headers=auth)
                placed += r.status_code == 201
            assert placed == 20  # 30 per caller, 10 spent on the victim
            clock.advance(61)
            r = await api.post("/calling/calls", json={"targets": [{"rawId": victim}]}, headers=auth)
            assert r.status_code == 201
            assert caller
    finally:
        await node.close()


async def test_wrong_hmac_signatures_are_throttled_per_source(tmp_path: Path) -> None:
    """Wrong keys were tried at 667/s, each answered and logged: now 30 failures a minute from
    one address, then 429 without checking; the right key from there waits too, others do not."""
    clock = FakeClock(time.time())
    node = await _node(tmp_path, clock)
    try:
        wrong = HmacSigner(base64.b64decode(base64.b64encode(b"w" * 32)))
        right = HmacSigner(node.keyring.state.primary_key)
        app = build_app(node)  # one app, as a node serves (the count is the app's)

        def client(auth: HmacSigner, address: str = "127.0.0.1") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 1234))
            return httpx.AsyncClient(transport=transport, base_url="http://t", auth=auth)

        async with client(wrong) as attacker:
            codes = [(await attacker.post("/identities")).status_code for _ in range(100)]
        assert codes[:30] == [401] * 30 and set(codes[30:]) == {429}
        async with client(right) as legit:
            assert (await legit.post("/identities")).status_code == 429  # same address
        async with client(right, "10.1.2.3") as other:
            assert (await other.post("/identities")).status_code == 201
        clock.advance(61)
        async with client(right) as legit:
            assert (await legit.post("/identities")).status_code == 201
    finally:
        await node.close()


async def test_identity_operations_follow_acs_limits(tmp_path: Path) -> None:
    clock = FakeClock(time.time())
    node = await _node(tmp_path, clock, identity={"issue_per_30s": 20, "revoke_per_30s": 5})
    try:
        async with _client(node, auth=HmacSigner(node.keyring.state.primary_key)) as admin:
            created = [await admin.post("/identities") for _ in range(25)]
            assert [r.status_code for r in created].count(201) == 20
            assert created[-1].status_code == 429 and "retry-after" in created[-1].headers
            user = created[0].json()["identity"]["id"]
            revokes = [
                (await admin.post(f"/identities/{user}/:revokeAccessTokens")).status_code for _ in range(7)
            ]
            assert revokes == [204] * 5 + [429] * 2
            clock.advance(31)
            assert (await admin.post("/identities")).status_code == 201
    finally:
        await node.close()


async def test_demo_sign_ins_rooms_and_origin(tmp_path: Path) -> None:
    clock = FakeClock(time.time())
    demo = {"enabled": True, "sign_ins_per_ip_per_minute": 3, "rooms_per_visitor_per_minute": 4}
    node = await _node(tmp_path, clock, demo=demo, chat={"threads_per_user_per_10s": 2})
    try:
        async with _client(node) as browser:
            codes = [
                (await browser.post("/demo/api/session", json={"displayName": "ann"})).status_code
                for _ in range(5)
            ]
            assert codes == [200, 200, 200, 429, 429]
            # Rooms: each visitor has its own budget; chat's thread limit (2 per 10 s here) counts
            # per visitor too, no longer on the shared service user.
            rooms = [(await browser.post(f"/demo/api/rooms/{uuid.uuid4()}")).status_code for _ in range(3)]
            assert rooms == [200, 200, 429]
            transport = httpx.ASGITransport(app=build_app(node), client=("10.9.9.9", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as second:
                assert (await second.post("/demo/api/session", json={"displayName": "bo"})).status_code == 200
                assert (await second.post(f"/demo/api/rooms/{uuid.uuid4()}")).status_code == 200
            # Another origin (another port of the same host counts) is refused, with the cookie.
            for headers in (
                {"Origin": "http://t:9999"},
                {"Origin": "null"},
                {"Sec-Fetch-Site": "same-site"},
                {"Sec-Fetch-Site": "cross-site"},
            ):
                r = await browser.post(f"/demo/api/rooms/{uuid.uuid4()}", headers=headers)
                assert r.status_code == 403, headers
                r = await browser.post("/demo/api/token", headers=headers)
                assert r.status_code == 403, headers
            r = await browser.post(
                "/demo/api/token", headers={"Origin": "http://t", "Sec-Fetch-Site": "same-origin"}
            )
            assert r.status_code == 200
    finally:
        await node.close()


async def test_trusted_callers_and_phone_numbers_have_no_invitation_limit(tmp_path: Path) -> None:
    """Call Automation and the PSTN gateway place calls as the resource: a dialler bot, or a busy
    number's inbound line, must not stop after 30 (or 10) invitations a minute. Users called by
    them still get their own per-callee limit."""
    clock = FakeClock(time.time())
    node = await _node(tmp_path, clock)
    try:
        bot = Principal(UserId("8:acs:bot"), frozenset({Scope.VOIP}), 0, 2**31 - 1, 0, "automation")
        line = "4:+14255550100"
        for n in range(40):
            caller = Principal(UserId(f"4:+1425555{n:04d}"), frozenset({Scope.VOIP}), 0, 2**31 - 1, 0, "pstn")
            await node.calling.start_call(caller, [line], phone=True, trusted=True)
            await node.calling.start_call(bot, [f"4:+1206555{n:04d}"], phone=True, trusted=True)
        user = (await node.identity.create_user(["voip"])).user
        for _ in range(10):
            await node.calling.start_call(bot, [user], trusted=True)
        with pytest.raises(TelexError) as refused:
            await node.calling.start_call(bot, [user], trusted=True)
        assert refused.value.code is ErrorCode.TOO_MANY_REQUESTS
    finally:
        await node.close()
