"""Settings of the STUN/TURN server (the ``[turn]`` section of the config file).

Defaults are the safe production values: no loopback or private peers, bounded lifetimes and
quotas, a per-allocation bandwidth cap, rate-limited error responses. ``allow_loopback_peers``
exists only so tests can relay between two local peers (security.md §4); a test asserts it is off.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["TurnSettings"]


class TurnSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    port: int = Field(default=3478, ge=0, le=65535)
    # Shared secrets for TURN REST API credentials; the first one signs, all verify (rotation).
    secrets: tuple[str, ...] = ()
    realm: str = Field(default="telex", min_length=1, max_length=127)

    # Transports: UDP always; TCP (RFC 8656 §6.2 framing) unless disabled; TLS ("turns:") when a
    # certificate and key are configured.
    tcp: bool = True
    tls_port: int = Field(default=5349, ge=0, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # TCP/TLS connections without an allocation are closed after this many seconds.
    tcp_idle_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Addresses to listen on; empty means the ``host`` the server is started with.
    listen_addresses: tuple[str, ...] = ()
    # Local addresses relay sockets bind to; empty IPv4 means the listening IPv4 address, empty
    # IPv6 means IPv6 allocations are refused with 440.
    relay_address: str = ""
    relay_address_v6: str = ""
    # Addresses advertised in XOR-RELAYED-ADDRESS when the relay sits behind 1:1 NAT.
    external_address: str = ""
    external_address_v6: str = ""
    # Relay port range; RFC 8656 §7.2 says not to use ports below 1024.
    min_port: int = Field(default=49152, ge=1024, le=65535)
    max_port: int = Field(default=65535, ge=1024, le=65535)

    # Lifetimes (RFC 8656 §7.2 default 600 s; coturn's max-allocate-lifetime is 3600 s).
    default_lifetime: int = Field(default=600, ge=60, le=3600)
    max_lifetime: int = Field(default=3600, ge=60, le=86400)
    # Nonce validity (coturn stale-nonce); expired nonces get 438 with a fresh one.
    nonce_lifetime: int = Field(default=600, ge=1, le=86400)
    # REST credentials live at most this long: the relay-configuration API shortens a longer ttl
    # to it and this server refuses one expiring further ahead. Short because a credential
    # cannot be revoked in the relays that share the secret; the SDKs fetch fresh ones for new
    # connections, and an allocation's own refreshes outlive its credential. ACS allows up to
    # 48 h (172800), which this may be set to.
    max_credential_ttl: int = Field(default=300, ge=60, le=604800)

    # Quotas: allocations per user id (486) and in total (508).
    user_quota: int = Field(default=20, ge=1, le=100000)
    total_quota: int = Field(default=2000, ge=1, le=1000000)
    # Per-allocation relay bandwidth in bytes per second, both directions together; 0 = unlimited.
    max_bytes_per_second: int = Field(default=1_250_000, ge=0)
    # Error responses per second per source IP (amplification guard, security.md G7), and
    # Binding responses (which need no credentials, so a spoofed source could aim them).
    error_rate_per_source: float = Field(default=100.0, gt=0)
    binding_rate_per_source: float = Field(default=200.0, gt=0)

    # Relay UDP ChannelData in the C data path (telex.turn.native) when it is built; false, or
    # TELEX_TURN_NATIVE=0 in the environment, keeps every datagram in Python.
    native: bool = True

    # Accept RFC 5766 channel numbers 0x5000-0x7FFF (RFC 8656 allows only 0x4000-0x4FFF).
    rfc5766_channels: bool = False

    # Peer policy (security.md §1.4). Loopback peers are for tests only.
    allow_loopback_peers: bool = False
    denied_peers: tuple[str, ...] = ()

    # Other relays (e.g. coturn with use-auth-secret and the same secret) listed in the relay
    # configuration, as full URLs such as "turn:relay2.example.com:3478?transport=udp".
    external_urls: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> TurnSettings:
        if self.min_port > self.max_port:
            raise ValueError("min_port must not exceed max_port")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.default_lifetime > self.max_lifetime:
            raise ValueError("default_lifetime must not exceed max_lifetime")
        return self
