"""Notification sockets are capped per user and per client address, as ``/realtime``'s are
(issue 16, item 6: 4,000 sockets from one address with one token used to be accepted)."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets

from telex.app import Node
from telex.core.clock import SystemClock
from tests.chat.conftest import OPEN_LIMITS, users_of
from tests.conftest import make_settings
from tests.notifications.client import NotificationClient
from tests.support.serve import running


async def _node(tmp_path: Path, **notifications: int) -> Node:
    settings = make_settings(tmp_path, chat=OPEN_LIMITS, notifications=notifications)
    return await Node.open(settings, SystemClock())


async def test_sockets_per_user_are_capped(tmp_path: Path) -> None:
    node = await _node(tmp_path, max_sockets_per_user=2)
    try:
        async with running(node) as url:
            user = await users_of(node)("chat")
            first, second, third = (NotificationClient(url, user.token) for _ in range(3))
            await first.connect()
            await second.connect()
            with pytest.raises(websockets.ConnectionClosed):
                await third.connect()  # refused: the disconnect packet, then the close
            counted = {"socket": "notifications", "reason": "user"}
            assert node.registry.get_sample_value("telex_socket_refused_total", counted) == 1.0
            await first.close()
            fourth = NotificationClient(url, user.token)
            for _ in range(50):  # the server counts the first one down when it sees it go
                try:
                    await fourth.connect()
                    break
                except websockets.ConnectionClosed:
                    fourth = NotificationClient(url, user.token)
            else:
                pytest.fail("a socket closed never made room for another")
            other = NotificationClient(url, (await users_of(node)("chat")).token)
            await other.connect()  # another user is not counted with the first
            for client in (second, fourth, other):
                await client.close()
    finally:
        await node.close()


async def test_sockets_per_address_are_capped(tmp_path: Path) -> None:
    node = await _node(tmp_path, max_sockets_per_ip=2)
    try:
        async with running(node) as url:
            make = users_of(node)
            clients = [NotificationClient(url, (await make("chat")).token) for _ in range(3)]
            await clients[0].connect()
            await clients[1].connect()
            with pytest.raises(websockets.InvalidStatus) as refused:
                await clients[2].connect()
            assert refused.value.response.status_code == 503
            counted = {"socket": "notifications", "reason": "address"}
            assert node.registry.get_sample_value("telex_socket_refused_total", counted) == 1.0
            for client in clients[:2]:
                await client.close()
    finally:
        await node.close()
