"""Device registrations: a user manages only their own, the trusted service anyone's (HMAC);
devices are checked on the way in; a renewal keeps the id; a token moves with the device; the
oldest go past the limit; expired ones are ignored; providers that are off refuse; presence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from telex.app import Node, build_app
from telex.core.clock import SystemClock
from telex.presence import LocalPresence, open_presence
from telex.presence.redis import RedisPresence
from tests.conftest import make_settings
from tests.push.world import World, providers
from tests.support.signing import HmacSigner
from tests.support.users import User


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with providers(tmp_path) as w:
        yield w


@pytest.fixture
async def node(tmp_path: Path, world: World) -> AsyncIterator[Node]:
    settings = make_settings(
        tmp_path, push={**world.settings, "max_registrations_per_user": 3},
        outbound={"allow_http": True, "allowed": ["127.0.0.1"]},
    )  # fmt: skip
    n = await Node.open(settings, SystemClock())
    try:
        yield n
    finally:
        await n.close()


@pytest.fixture
async def http(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(node)), base_url="http://t"
    ) as c:
        yield c


async def user(node: Node) -> User:
    created = await node.identity.create_user(["chat"])
    assert created.token is not None
    return User(created.user, created.token.token)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"platform": "fcm"}, "token is required"),
        ({"platform": "fcm", "token": "has space"}, "token"),
        ({"platform": "apns", "token": "xyz" * 30}, "hexadecimal"),
        ({"platform": "apns", "token": "ab" * 32, "apnsPushType": "background"}, "apnsPushType"),
        ({"platform": "wns", "token": "https://evil.test/w/?token=1"}, "channel URI"),
        ({"platform": "webpush"}, "pushSubscription"),
        ({"platform": "webpush", "pushSubscription": {"endpoint": "https://evil.test/x",
                                                      "keys": {"p256dh": "AAAA", "auth": "AAAA"}}}, "p256dh"),
        ({"platform": "smoke-signal", "token": "x"}, "platform"),
        ({"platform": "fcm", "token": "t", "ttlSeconds": 5}, "ttlSeconds"),
    ],
)  # fmt: skip
async def test_bad_devices_are_refused(
    node: Node, http: httpx.AsyncClient, body: object, needle: str
) -> None:
    u = await user(node)
    r = await http.post("/push/registrations", json=body, headers=u.headers)
    assert r.status_code == 400 and needle in r.json()["error"]["message"], r.text


async def test_webpush_endpoint_must_be_a_push_service(
    node: Node, http: httpx.AsyncClient, world: World
) -> None:
    u = await user(node)
    sub = world.web_subscription("tok")
    for endpoint in ("https://169.254.169.254/x", "http://example.com/x", "https://127.0.0.1.evil.test/x"):
        r = await http.post("/push/registrations", json={"platform": "webpush",
                                                        "pushSubscription": {**sub, "endpoint": endpoint}},
                            headers=u.headers)  # fmt: skip
        assert r.status_code == 400 and "push service" in r.json()["error"]["message"]


async def test_own_registrations_and_the_trusted_services_view(node: Node, http: httpx.AsyncClient) -> None:
    alice, bob = await user(node), await user(node)
    r = await http.post("/push/registrations", json={"platform": "fcm", "token": "t-1", "ttlSeconds": 3600},
                        headers=alice.headers)  # fmt: skip
    assert r.status_code == 201
    first = r.json()
    assert first["platform"] == "fcm" and first["fcmTargetKind"] == "token" and "token" not in first
    again = await http.post(
        "/push/registrations", json={"platform": "fcm", "token": "t-1"}, headers=alice.headers
    )
    assert again.status_code == 200 and again.json()["id"] == first["id"]  # renewed, same id
    assert again.json()["expiresOn"] > first["expiresOn"]
    assert (await http.get("/push/registrations", headers=bob.headers)).json()["value"] == []
    gone = await http.delete(f"/push/registrations/{first['id']}", headers=bob.headers)
    assert gone.status_code == 404  # not bob's
    signer = HmacSigner(node.keyring.state.primary_key)
    listed = await http.get(f"/push/users/{alice.id}/registrations", auth=signer)
    assert [x["id"] for x in listed.json()["value"]] == [first["id"]]
    voip = {"platform": "apns", "token": "AB" * 32, "apnsPushType": "voip", "apnsEnvironment": "sandbox"}
    made = await http.post(f"/push/users/{bob.id}/registrations", json=voip, auth=signer)
    assert made.status_code == 201 and (made.json()["apnsPushType"], made.json()["apnsEnvironment"]) == (
        "voip", "sandbox")  # fmt: skip
    assert (await http.get("/push/registrations", headers=bob.headers)).json()["value"][0][
        "id"
    ] == made.json()["id"]
    assert (await http.get("/push/users/8:acs:nobody/registrations", auth=signer)).status_code == 404
    assert (await http.get(f"/push/users/{bob.id}/registrations")).status_code == 401
    assert (await http.delete(f"/push/users/{bob.id}/registrations", auth=signer)).status_code == 204
    assert (await http.get("/push/registrations", headers=bob.headers)).json()["value"] == []
    assert (await http.delete(f"/push/registrations/{first['id']}", headers=alice.headers)).status_code == 204
    assert (await http.get("/push/registrations")).status_code == 401


async def test_a_device_moves_between_users_and_old_ones_go(node: Node, http: httpx.AsyncClient) -> None:
    alice, bob = await user(node), await user(node)
    await http.post("/push/registrations", json={"platform": "fcm", "token": "shared"}, headers=alice.headers)
    await http.post("/push/registrations", json={"platform": "fcm", "token": "shared"}, headers=bob.headers)
    assert (await http.get("/push/registrations", headers=alice.headers)).json()["value"] == []
    for i in range(4):  # the limit is 3: the least recently registered goes
        await http.post(
            "/push/registrations", json={"platform": "fcm", "token": f"b-{i}"}, headers=bob.headers
        )
    assert len((await http.get("/push/registrations", headers=bob.headers)).json()["value"]) == 3
    assert node.push is not None
    kept = {r.token for r in await node.push.registrations(bob.id)}
    assert kept == {"b-1", "b-2", "b-3"}
    assert await node.push.store.sweep(node.clock.now() + 365 * 86400) == 3  # all expired by then


async def test_vapid_key_is_public_and_platforms_off_refuse(
    node: Node, http: httpx.AsyncClient, world: World, tmp_path: Path
) -> None:
    r = await http.get("/push/webpush/applicationServerKey")
    assert r.json() == {"applicationServerKey": world.vapid.public_key}
    bare = await Node.open(make_settings(tmp_path / "bare"), SystemClock())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(bare)), base_url="http://t"
        ) as c:
            assert (await c.get("/push/webpush/applicationServerKey")).status_code == 404
            u = await user(bare)
            r = await c.post("/push/registrations", json={"platform": "fcm", "token": "t"}, headers=u.headers)
            assert r.status_code == 400 and "not configured" in r.json()["error"]["message"]
        assert bare.notifier is None  # nothing to push with
    finally:
        await bare.close()


class _Hub:
    def __init__(self, *users: str) -> None:
        self.users = set(users)

    def has_connections(self, user: str) -> bool:
        return user in self.users

    def connected_users(self) -> list[str]:
        return sorted(self.users)


async def test_local_presence_is_the_hub() -> None:
    presence = open_presence("", _Hub("a"), 1.0)
    assert isinstance(presence, LocalPresence) and await presence.online(["a", "b"]) == {"a"}


async def test_redis_presence_across_nodes(redis_url: str) -> None:
    hub_a, hub_b = _Hub("alice"), _Hub("bob")
    a, b = RedisPresence(redis_url, hub_a, 0.5), RedisPresence(redis_url, hub_b, 0.5)
    try:
        await a.publish()
        await b.publish()
        assert await a.online(["alice", "bob", "carol"]) == {"alice", "bob"}
        assert await b.online(["alice", "bob", "carol"]) == {"alice", "bob"}
        hub_b.users.clear()  # bob disconnects from node b: gone at b's next refresh
        await b.publish()
        assert await a.online(["bob"]) == set()
        hub_b.users.add("bob")
        await b.publish()
        await b.close()  # node b shuts down: its members go with it
        assert await a.online(["bob"]) == set()
    finally:
        await a.close()
        await b.close()
    dead = RedisPresence("redis://127.0.0.1:1/0", _Hub("local"), 0.5)
    assert await dead.online(["local", "remote"]) == {"local"}  # Redis away: remote users look offline
    await dead.close()
