"""Voice, video and data calls: the state machine (``machine``), storage (``repository``), the
service that authorizes and records every change (``service``) and the domain events
(``events``). Media never passes through here: clients connect to each other over WebRTC,
relayed by Telex TURN; this capability carries their signaling. See docs/calling.md.

What other capabilities and the composition root may use is exported here; the routes
(``calling.api``) import the web layer and are wired by the composition root.
"""

from telex.calling.events import CALL_TOPIC_PREFIX, CallEvent, call_payload
from telex.calling.machine import Call, EffectKind, EndReason, Leg, LegState
from telex.calling.repository import CallStore, CallTx, SaveHook
from telex.calling.service import CALL_SCOPES, CallingService, Joined, OnSaving, PhoneDialer
from telex.calling.settings import CallingSettings
from telex.calling.webhooks import RENDERINGS as WEBHOOK_RENDERINGS

__all__ = [
    "CALL_SCOPES",
    "CALL_TOPIC_PREFIX",
    "WEBHOOK_RENDERINGS",
    "Call",
    "CallEvent",
    "CallStore",
    "CallTx",
    "CallingService",
    "CallingSettings",
    "EffectKind",
    "EndReason",
    "Joined",
    "Leg",
    "LegState",
    "OnSaving",
    "PhoneDialer",
    "SaveHook",
    "call_payload",
]
