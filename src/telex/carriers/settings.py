"""Settings of carriers (the ``[carriers]`` section): the simulated carrier, and SMPP carriers
each serving the number ranges it lists."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from telex.core.settings import StrictSettings

__all__ = ["CarriersSettings", "ReceiptRule", "SimulatedSettings", "SmppCarrierSettings"]


class ReceiptRule(StrictSettings):
    """A receipt the simulated carrier gives messages to numbers ending in ``suffix``."""

    suffix: str = Field(pattern=r"^[0-9]{1,15}$")
    delivered: bool = False
    details: str = "Unknown subscriber."


class SimulatedSettings(StrictSettings):
    """The default carrier: fictional numbers, and SMS that never leave this server."""

    # Countries whose numbers it sells (ISO 3166-1 codes); see docs/phone-numbers.md.
    countries: list[str] = Field(default_factory=lambda: ["US", "CA", "GB", "FR", "DE"])
    # How long after it was accepted a message's delivery report comes.
    delivery_delay_seconds: float = Field(default=1.0, ge=0, le=3600)
    # The share of messages that fail (decided from the message id, so a run is reproducible).
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    failure_details: str = "Message delivery failed (simulated)."
    # Receipts by recipient number; the first matching rule wins.
    receipts: list[ReceiptRule] = Field(default_factory=lambda: [ReceiptRule(suffix="0000")])
    # The handset API (/simulator/handsets/...): outside numbers that send and read SMS.
    handsets: bool = True

    @field_validator("countries")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if len(code) != 2 or not code.isalpha():
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
        return [c.upper() for c in value]


class SmppCarrierSettings(StrictSettings):
    """One SMSC reached over SMPP 3.4, and the numbers it serves."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    # Numbers bought from this carrier: "+14255550100", or a span "+14255550100-+14255550199".
    # They are sold through the phone-numbers API, and SMS from and to them use this carrier.
    numbers: list[str] = Field(min_length=1)
    # Further ranges routed here but not sold (numbers ported in): E.164 prefixes, "+1425555".
    prefixes: list[str] = Field(default_factory=list)
    host: str
    port: int = Field(ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(default="", max_length=8)
    password_file: Path | None = None
    system_type: str = Field(default="", max_length=12)
    bind: Literal["transceiver", "transmitter"] = "transceiver"
    window: int = Field(default=10, ge=1, le=1000)
    response_timeout: float = Field(default=10.0, gt=0)
    enquire_link_interval: float = Field(default=30.0, gt=0)
    throttle_backoff: float = Field(default=1.0, gt=0)
    throttle_backoff_max: float = Field(default=30.0, gt=0)
    concat: Literal["udh", "sar", "payload"] = "udh"
    # How the carrier writes message ids, when its receipts and responses disagree (hex vs decimal).
    message_id_format: Literal["as-is", "hex", "decimal"] = "as-is"
    reconnect_delay: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    poll_seconds: float = Field(default=1.0, gt=0)
    # A node holds the messages it is sending this long; if it dies, another node sends them.
    claim_seconds: float = Field(default=60.0, gt=0)

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        # Imported here: routing needs nothing from settings, but settings load before anything.
        from telex.carriers.routing import expand_numbers

        expand_numbers(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not (prefix.startswith("+") and prefix[1:].isdigit() and 2 <= len(prefix) <= 16):
                raise ValueError(f"{prefix!r} is not an E.164 prefix (+ and 1 to 15 digits)")
        return value

    def secret(self) -> str:
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return self.password


class CarriersSettings(StrictSettings):
    simulated: SimulatedSettings = SimulatedSettings()
    smpp: list[SmppCarrierSettings] = Field(default_factory=list)

    @field_validator("smpp")
    @classmethod
    def _unique(cls, value: list[SmppCarrierSettings]) -> list[SmppCarrierSettings]:
        names = [c.name for c in value]
        if len(set(names)) != len(names) or "simulated" in names:
            raise ValueError("carrier names must be unique and not 'simulated'")
        return value
