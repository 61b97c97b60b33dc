"""Settings of SMS (the ``[sms]`` section)."""

from __future__ import annotations

from pydantic import Field

from telex.core.settings import StrictSettings

__all__ = ["OptOutLocale", "SmsSettings"]


class OptOutLocale(StrictSettings):
    """Keywords of one language, matched against a whole inbound message (trimmed, any case), and
    the replies sent back (an empty reply sends nothing)."""

    stop: list[str] = Field(default_factory=list)
    start: list[str] = Field(default_factory=list)
    help: list[str] = Field(default_factory=list)
    stop_reply: str = ""
    start_reply: str = ""
    help_reply: str = ""


# Common US carrier keywords (CTIA) and their French and Spanish counterparts
# (push-events-sms.md §6.7).
_LOCALES = {
    "en": OptOutLocale(
        stop=["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT-OUT", "REMOVE"],
        start=["START", "UNSTOP", "YES"],
        help=["HELP", "INFO"],
        stop_reply="You have been unsubscribed and will receive no more messages from this number. "
        "Reply START to subscribe again.",
        start_reply="You have been subscribed again. Reply STOP to unsubscribe.",
        help_reply="Reply STOP to unsubscribe, START to subscribe again.",
    ),
    "fr": OptOutLocale(stop=["ARRET", "ARRÊT"], start=["DEBUT", "DÉBUT"], help=["AIDE"]),
    "es": OptOutLocale(stop=["ALTO", "PARAR", "BAJA"], start=["ALTA", "INICIO"], help=["AYUDA"]),
}


class SmsSettings(StrictSettings):
    """Limits of the SMS API (acs-wire.md §3.3, §4) and opt-out keywords."""

    max_recipients: int = Field(default=100, ge=1, le=1000)
    # Characters of one message (the SDK's model documents 2048 and does not enforce it).
    max_message_length: int = Field(default=2048, ge=1, le=65_535)
    max_tag_length: int = Field(default=1024, ge=0, le=65_535)
    # Repeatable requests: a repeat within this window of its first sending gets the first
    # result; an older ``repeatabilityFirstSent`` is 412 (security.md G18, ACS: 5 minutes).
    repeatability_window_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)
    # Messages per minute per sending number, by number type (ACS service limits: 200 for toll
    # free; the others the same by default). 0 turns a limit off. Per node.
    per_minute_toll_free: int = Field(default=200, ge=0)
    per_minute_geographic: int = Field(default=200, ge=0)
    per_minute_mobile: int = Field(default=200, ge=0)
    # STOP/START/HELP handling of inbound messages, one keyword set per language.
    opt_out_enabled: bool = True
    opt_out: dict[str, OptOutLocale] = Field(default_factory=lambda: dict(_LOCALES))
    # An incomplete long inbound message is delivered with the parts that arrived after this long.
    inbound_part_timeout_seconds: float = Field(default=120.0, gt=0, le=24 * 3600)
    # A receipt for a part not yet recorded as sent is kept this long waiting for it.
    unmatched_receipt_seconds: float = Field(default=600.0, gt=0, le=7 * 24 * 3600)
    # The message log: most messages one page returns.
    max_page_size: int = Field(default=200, ge=1, le=1000)
    # Background work (parts, early receipts, the outbox of a node that died) runs this often.
    sweep_seconds: float = Field(default=5.0, gt=0, le=600)
