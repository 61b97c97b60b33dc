"""Settings of the PSTN voice gateway (the ``[sip]`` section): where it listens, and the SIP
trunks it reaches carriers through. The gateway runs only when at least one trunk is listed."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from telex.core.settings import StrictSettings

__all__ = ["SipSettings", "TrunkSettings"]

DigestAlgorithm = Literal["SHA-256", "MD5"]
_ALGORITHMS: tuple[DigestAlgorithm, ...] = ("SHA-256", "MD5")


def _secret(value: str, path: Path | None) -> str:
    return path.read_text().strip() if path is not None else value


class TrunkSettings(StrictSettings):
    """One carrier's SIP trunk: its address, the credentials both ways, what it may carry."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    # The carrier's SIP server (an IP address: the gateway does no DNS on the call path).
    host: str
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    # TLS (``transport = "tls"``, RFC 3261 §26.2, RFC 5922): the carrier's certificate must chain
    # to ``tls_ca_file`` (empty: the system's trust store) and name ``tls_server_name`` (sent as
    # SNI; empty: the certificate must name ``host``, the IP address). ``tls_cert_file`` and
    # ``tls_key_file`` are the client certificate a carrier wanting mutual TLS checks (empty: the
    # ``[sip]`` listener's certificate, if any).
    tls_ca_file: Path | None = None
    tls_server_name: str = ""
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Addresses (IPs or CIDR blocks) the carrier's calls come from; empty: ``host`` alone.
    # INVITEs from anywhere else are dropped without an answer.
    allowed_sources: list[str] = Field(default_factory=list)
    # Destinations this trunk may call: E.164 prefixes ("+1", "+44"); "+" allows every number.
    # A destination no trunk lists is refused before anything is sent (toll-fraud guard).
    prefixes: list[str] = Field(default_factory=lambda: ["+"])
    # We answer the carrier's 401/407 challenges with these (empty username: we have none).
    # ``realm`` empty: any realm the carrier names.
    username: str = ""
    password: str = ""
    password_file: Path | None = None
    realm: str = ""
    # The carrier answers our challenge with these (empty username: its INVITEs are not challenged;
    # ``allowed_sources`` still applies).
    inbound_username: str = ""
    inbound_password: str = ""
    inbound_password_file: Path | None = None
    # Toll-fraud limits: calls up at once over this trunk, and calls started per minute.
    max_calls: int = Field(default=100, ge=1, le=100_000)
    calls_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    # OPTIONS keep-alives: one every this many seconds (0: none; the trunk is always up), and the
    # trunk is down after this many in a row go unanswered or get a 5xx (up again on an answer).
    options_interval_seconds: float = Field(default=30, ge=0, le=3600)
    options_failures: int = Field(default=3, ge=1, le=100)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        ipaddress.ip_address(value)  # ValueError names the bad value
        return value

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            digits = prefix[1:]
            if not prefix.startswith("+") or (digits and not digits.isdigit()) or len(prefix) > 16:
                raise ValueError(f"{prefix!r} is not an E.164 prefix (+ and at most 15 digits)")
        return value

    @model_validator(mode="after")
    def _tls(self) -> TrunkSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(f"trunk {self.name}: tls_cert_file and tls_key_file go together")
        return self

    def secret(self) -> str:
        return _secret(self.password, self.password_file)

    def inbound_secret(self) -> str:
        return _secret(self.inbound_password, self.inbound_password_file)

    def sources(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(s, strict=False) for s in self.allowed_sources or [self.host]]


class SipSettings(StrictSettings):
    # The address SIP and RTP sockets bind to; empty: the node's ``host``.
    host: str = ""
    # The address carriers reach us at (Via, Contact, SDP); empty: ``host``. Behind NAT, the
    # public address the carrier allow-lists.
    advertised_host: str = ""
    udp_port: int = Field(default=5060, ge=0, le=65535)
    # 0: no TCP listener (requests larger than a datagram then cannot reach us).
    tcp_port: int = Field(default=5060, ge=0, le=65535)
    # SIP over TLS (RFC 3261 §26): 0: no TLS listener. Carriers connect with TLS from their
    # allowed addresses; ``tls_client_ca_file`` set: they must also present a certificate that
    # chains to it (mutual TLS).
    tls_port: int = Field(default=0, ge=0, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # The secret digest nonces are made with; empty: a random one per node (nonces are then good
    # only on the node that issued them: fine behind an edge that keeps a call on one node).
    # Shared, any node accepts any node's nonce; the replay check of a nonce's count stays per node.
    nonce_secret: str = ""
    nonce_secret_file: Path | None = None
    # RTP (even ports) and RTCP (the odd port above) for each call are taken from this range.
    rtp_port_min: int = Field(default=20000, ge=1024, le=65534)
    rtp_port_max: int = Field(default=40000, ge=1026, le=65535)
    # Calls the node bridges at once (each is an RTP endpoint and a WebRTC peer connection).
    max_calls: int = Field(default=50, ge=1, le=10_000)
    # Digest algorithms offered when a trunk's carrier must authenticate, in order (RFC 8760:
    # SHA-256 first; some carriers and sipp answer MD5 only, and pick the first challenge).
    digest_algorithms: list[DigestAlgorithm] = Field(default_factory=lambda: [*_ALGORITHMS], min_length=1)
    trunks: list[TrunkSettings] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return bool(self.trunks)

    @field_validator("trunks")
    @classmethod
    def _unique(cls, value: list[TrunkSettings]) -> list[TrunkSettings]:
        names = [t.name for t in value]
        if len(set(names)) != len(names):
            raise ValueError("trunk names must be unique")
        return value

    @model_validator(mode="after")
    def _ports(self) -> SipSettings:
        if self.rtp_port_max - self.rtp_port_min < 2:
            raise ValueError("rtp_port_max must be at least rtp_port_min + 2")
        if self.tls_port and (self.tls_cert_file is None or self.tls_key_file is None):
            raise ValueError("tls_port needs tls_cert_file and tls_key_file")
        tls = [t.name for t in self.trunks if t.transport == "tls"]
        if tls and not self.tls_port:
            # Our Contact over TLS names the TLS port: the carrier's BYE and re-INVITE come there.
            raise ValueError(f"trunks {', '.join(tls)} use TLS: set tls_port (and the certificate)")
        return self

    def nonce_key(self) -> bytes | None:
        """The shared digest nonce secret, or None (a random one per node)."""
        secret = _secret(self.nonce_secret, self.nonce_secret_file)
        return secret.encode() if secret else None
