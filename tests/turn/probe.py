"""A small raw STUN/TURN probe over real sockets (UDP), for Telex and coturn alike.

aioice normalises peer addresses and binds channels by itself, so it cannot send the adversarial
encodings of security.md T-11; this probe builds every message by hand (security.md §1.7).
"""

from __future__ import annotations

import os
import socket
from ipaddress import ip_address

from telex.turn.stun import (
    Attr,
    Class,
    Message,
    Method,
    decode_error_code,
    encode_message,
    encode_uint,
    encode_xor_address,
    long_term_key,
    parse_message,
)

__all__ = ["Probe"]


class Probe:
    def __init__(
        self, server: tuple[str, int], username: str, password: str, timeout: float = 2.0, local: str = ""
    ) -> None:
        """``local``: the address to send from (default: the server's, for loopback servers)."""
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.bind((local or server[0], 0))
        self.server = server
        self.username, self.password = username, password
        self.realm: str | None = None
        self.nonce: bytes | None = None

    def close(self) -> None:
        self.sock.close()

    def exchange(self, data: bytes, tries: int = 3) -> Message | None:
        tid = data[8:20]
        for _ in range(tries):
            self.sock.sendto(data, self.server)
            try:
                while True:
                    reply, _ = self.sock.recvfrom(65535)
                    if reply[8:20] == tid:
                        return parse_message(reply)
            except TimeoutError:
                continue
        return None

    def request(self, method: int, attrs: list[tuple[int, bytes]], *, auth: bool = True) -> Message | None:
        tid = os.urandom(12)
        if not auth:
            return self.exchange(encode_message(method, Class.REQUEST, tid, attrs))
        if self.nonce is None:
            self._challenge()
        assert self.realm is not None and self.nonce is not None
        key = long_term_key(self.username, self.realm, self.password)
        full = [
            *attrs,
            (Attr.USERNAME, self.username.encode()),
            (Attr.REALM, self.realm.encode()),
            (Attr.NONCE, self.nonce),
        ]
        reply = self.exchange(
            encode_message(method, Class.REQUEST, tid, full, integrity_key=key, fingerprint=True)
        )
        if reply is not None and code(reply) == 438:
            self.nonce = reply.get(Attr.NONCE)
            return self.request(method, attrs)
        return reply

    def _challenge(self) -> None:
        reply = self.request(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))], auth=False)
        assert reply is not None and code(reply) == 401, reply
        self.realm = (reply.get(Attr.REALM) or b"").decode()
        self.nonce = reply.get(Attr.NONCE)

    def allocate(self, *, ipv6: bool = False) -> Message | None:
        attrs = [(Attr.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))]
        if ipv6:
            attrs.append((Attr.REQUESTED_ADDRESS_FAMILY, bytes([2, 0, 0, 0])))
        return self.request(Method.ALLOCATE, attrs)

    def create_permission(self, peer: str) -> Message | None:
        return self._with_peer(Method.CREATE_PERMISSION, peer, 9, [])

    def channel_bind(self, number: int, peer: str, port: int) -> Message | None:
        return self._with_peer(
            Method.CHANNEL_BIND, peer, port, [(Attr.CHANNEL_NUMBER, encode_uint(number << 16))]
        )

    def _with_peer(self, method: int, peer: str, port: int, attrs: list[tuple[int, bytes]]) -> Message | None:
        # The XOR-PEER-ADDRESS depends on the transaction id, so build the request here.
        if self.nonce is None:
            self._challenge()
        assert self.realm is not None and self.nonce is not None
        tid = os.urandom(12)
        full = [
            *attrs,
            (Attr.XOR_PEER_ADDRESS, encode_xor_address(ip_address(peer), port, tid)),
            (Attr.USERNAME, self.username.encode()),
            (Attr.REALM, self.realm.encode()),
            (Attr.NONCE, self.nonce),
        ]
        key = long_term_key(self.username, self.realm, self.password)
        return self.exchange(
            encode_message(method, Class.REQUEST, tid, full, integrity_key=key, fingerprint=True)
        )

    def refresh(self, lifetime: int) -> Message | None:
        return self.request(Method.REFRESH, [(Attr.LIFETIME, encode_uint(lifetime))])


def code(msg: Message) -> int | None:
    return decode_error_code(msg.get(Attr.ERROR_CODE)) if msg.cls == Class.ERROR else None
