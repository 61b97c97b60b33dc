"""Python bots on Telex Call Automation: ``BotApp`` (an ASGI app for callbacks and Event Grid
events, with signature checks) and ``BotCall`` (``await call.play(...)``,
``await call.recognize_dtmf(...)``, ``await call.transfer(...)``). See docs/bots.md."""

from telex.bots.app import BotApp, BotCall, CallEnded, IncomingCall, MediaFailed
from telex.bots.client import CallAutomation, CallAutomationError, parse_connection_string
from telex.bots.verify import CallbackVerifier, VerificationFailed, callback_secret

__all__ = [
    "BotApp",
    "BotCall",
    "CallAutomation",
    "CallAutomationError",
    "CallEnded",
    "CallbackVerifier",
    "IncomingCall",
    "MediaFailed",
    "VerificationFailed",
    "callback_secret",
    "parse_connection_string",
]
