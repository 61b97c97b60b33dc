"""A DNS server on 127.0.0.1 whose answers the test sets, and a resolver that asks it over UDP.

The SSRF tests need names that resolve to forbidden addresses, and answers that change between
two lookups (DNS rebinding), without touching the machine's resolver: the outbound sender takes
any ``Resolver``, and this one speaks real DNS (dnspython messages) to a server the test owns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import cast

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

__all__ = ["DnsResolver", "DnsServer", "dns_server"]

Address = IPv4Address | IPv6Address


class DnsServer(asyncio.DatagramProtocol):
    """Answers A and AAAA from ``records``; unknown names get NXDOMAIN. ``queries`` logs every ask.
    Every answer has TTL 0, as a rebinding attacker's would."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.queries: list[tuple[str, str]] = []
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    def set(self, name: str, *addresses: str) -> None:
        self.records[name.lower().rstrip(".")] = list(addresses)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text().lower().rstrip(".")
            kind = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, kind))
            answers = self.records.get(name)
            if answers is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                continue
            wanted = 4 if kind == "A" else 6 if kind == "AAAA" else 0
            matching = [a for a in answers if ip_address(a).version == wanted]
            if matching:
                response.answer.append(dns.rrset.from_text(question.name, 0, "IN", kind, *matching))
        assert self._transport is not None
        self._transport.sendto(response.to_wire(), addr)


@asynccontextmanager
async def dns_server() -> AsyncIterator[DnsServer]:
    server = DnsServer()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: server, local_addr=("127.0.0.1", 0)
    )
    server.port = transport.get_extra_info("sockname")[1]
    try:
        yield server
    finally:
        transport.close()


class DnsResolver:
    """A ``telex.webhooks.Resolver`` that asks ``server`` for A and AAAA records.

    ``after_resolve`` runs after each lookup: a test flips the server's answer there to show that
    a connection goes to the address that was checked, not to a later answer.
    """

    def __init__(self, server: DnsServer, after_resolve: Callable[[str], None] | None = None) -> None:
        self._server = server
        self.after_resolve = after_resolve

    async def resolve(self, host: str, port: int) -> Sequence[Address]:
        found: list[Address] = []
        missing = 0
        for kind in ("A", "AAAA"):
            query = dns.message.make_query(host, kind)
            reply = await dns.asyncquery.udp(query, "127.0.0.1", port=self._server.port, timeout=2)
            if reply.rcode() == dns.rcode.NXDOMAIN:
                missing += 1
                continue
            for rrset in reply.answer:
                found.extend(ip_address(r.address) for r in rrset)
        if self.after_resolve is not None:
            self.after_resolve(host)
        if missing == 2:
            raise OSError(f"{host}: no such name")
        return found
