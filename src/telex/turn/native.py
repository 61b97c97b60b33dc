"""The native data path: the C relay (``telex.turn._native``) and the core's state mirrored into it.

    TurnCore ─ decides ─► Allocation.permissions / .channels / rate ─┐
                                                                     │ after every core call:
    TurnServer.apply ─► core.take_relay_changes() ─► NativePath.sync ┘ install / remove entries
    OpenRelay ─► NativePath.attach (relay fd, client, bucket)    CloseRelay ─► NativePath.detach

    C thread: epoll ─► recvmmsg ─► ChannelData client ↔ peer ─► sendmmsg
                 └─► anything it does not know ─► queue ─► notify fd ─► NativePath.drain ─► Python

The C thread relays ChannelData on UDP (client → bound peer, permitted peer → client) on its own,
without the GIL; STUN, Send and Data indications, unknown clients or channels and peers without a
permission come back to the asyncio adapter, which handles them exactly as the pure-Python path
does. The bandwidth bucket of an attached allocation lives in C (``Allocation.meter``) so that both
paths spend one budget.

Turned off by ``[turn] native = false`` or ``TELEX_TURN_NATIVE=0``; without the compiled
extension (no C compiler at install time, or not Linux) the pure-Python path runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial

from telex.turn.allocation import Address, Allocation

try:  # built by setuptools from _native.c; optional
    from telex.turn import _native
except ImportError:  # pragma: no cover - exercised on machines without a compiler
    _native = None  # type: ignore[assignment]

__all__ = ["NativePath", "Punt", "native_available", "native_wanted"]

ENV_SWITCH = "TELEX_TURN_NATIVE"
LISTENER, RELAY = 0, 1  # where a datagram left to Python came from
# (kind, listener index or allocation handle, source host, source port, datagram)
Punt = tuple[int, int, str, int, bytes]


def native_available() -> bool:
    """Whether the C extension was built and imports."""
    return _native is not None


def native_wanted(enabled: bool) -> bool:
    """The native path runs when the setting allows it, the environment does not switch it off
    (``TELEX_TURN_NATIVE=0``), and the extension is there."""
    switch = os.environ.get(ENV_SWITCH, "1").strip().lower()
    return enabled and switch not in {"0", "false", "no", "off"} and native_available()


@dataclass(slots=True)
class _Mirror:
    """What the C tables hold for one allocation, to diff against the core's state."""

    handle: int
    permissions: set[str] = field(default_factory=set)
    channels: dict[int, Address] = field(default_factory=dict)


class NativePath:
    """One C relay thread for a ``TurnServer``: its listeners and the allocations it relays."""

    def __init__(self, max_allocations: int, max_entries: int = 1 << 18) -> None:
        assert _native is not None
        self._relay = _native.Relay(os.urandom(16), max_allocations, max_entries)
        self._mirrors: dict[int, _Mirror] = {}  # id(allocation) -> mirror
        self.started = False

    @property
    def notify_fd(self) -> int:
        return self._relay.notify_fd()

    def add_listener(self, fd: int) -> int:
        return self._relay.add_listener(fd)

    def start(self) -> None:
        self._relay.start()
        self.started = True

    def stop(self) -> None:
        """Stop and join the thread; the tables stay readable (counters) until garbage."""
        self._relay.stop()

    def drain(self) -> list[Punt]:
        return self._relay.drain()

    # ---------------------------------------------------------------- allocations

    def attach(self, alloc: Allocation, relay_fd: int, listener: int, client: Address) -> int | None:
        """Relay ``alloc``'s datagrams in C; its handle, or None (tables full: Python relays it)."""
        handle = self._relay.add_allocation(relay_fd, listener, client[0], client[1], alloc.rate, alloc.burst)
        if handle is None:
            return None
        self._mirrors[id(alloc)] = _Mirror(handle)
        if alloc.rate > 0:
            alloc.meter = partial(self._relay.charge, handle)
        self.sync(alloc)
        return handle

    def detach(self, alloc: Allocation) -> None:
        mirror = self._mirrors.pop(id(alloc), None)
        if mirror is None:
            return
        relay, handle = self._relay, mirror.handle
        for number, peer in mirror.channels.items():
            relay.bind(handle, number, peer[0], peer[1], False)
        for ip in mirror.permissions:
            relay.permit(handle, ip, False)
        relay.remove_allocation(handle)
        alloc.meter = None

    def sync(self, alloc: Allocation) -> None:
        """Make the C tables say what the core says about ``alloc``'s permissions and channels.
        An entry C could not take is left out: its datagrams then come to Python."""
        mirror = self._mirrors.get(id(alloc))
        if mirror is None:
            return
        relay, handle = self._relay, mirror.handle
        wanted = alloc.permissions.keys()
        for ip in mirror.permissions - wanted:
            relay.permit(handle, ip, False)
            mirror.permissions.discard(ip)
        for ip in wanted - mirror.permissions:
            if relay.permit(handle, ip, True):
                mirror.permissions.add(ip)
        for number, peer in list(mirror.channels.items()):
            if alloc.channels.get(number) != peer:
                relay.bind(handle, number, peer[0], peer[1], False)
                del mirror.channels[number]
        for number, peer in alloc.channels.items():
            if number not in mirror.channels and relay.bind(handle, number, peer[0], peer[1], True):
                mirror.channels[number] = peer

    def counters(self, alloc: Allocation) -> tuple[int, int, int, int, int] | None:
        """``alloc``'s datagrams and bytes relayed in C (to peer, to client) and dropped."""
        mirror = self._mirrors.get(id(alloc))
        return self._relay.counters(mirror.handle) if mirror is not None else None

    def totals(self) -> tuple[int, int, int, int, int, int, int, int]:
        """packets/bytes to peer, packets/bytes to client, dropped, send errors, datagrams left to
        Python, and datagrams dropped because Python's queue was full."""
        return self._relay.totals()
