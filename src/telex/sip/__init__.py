"""The sans-I/O SIP core (RFC 3261 subset) for the PSTN gateway; see docs/sip.md."""

__all__: list[str] = []
