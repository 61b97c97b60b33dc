"""Push notifications to devices whose app is not connected: the provider clients.

    PushKind.CALL ─► FCM data/HIGH · APNs voip · WNS raw · Web Push Urgency high   (ring now)
    PushKind.CHAT ─► FCM notification · APNs alert · WNS toast · Web Push normal    (show later)
    every client ─► PushResult(outcome: DELIVERED | GONE | RETRY | DROPPED | MISCONFIGURED)

The push consumer (which users to push, when, and the device registry) is built on these.
"""

from telex.push.apns import (
    ApnsClient,
    ApnsKey,
    ApnsNotification,
    background_notification,
    call_notification,
    chat_notification,
)
from telex.push.fcm import FcmClient, ServiceAccount, TargetKind, build_message
from telex.push.result import Outcome, PushKind, PushResult, backoff
from telex.push.webpush import (
    Urgency,
    VapidKey,
    WebPushClient,
    WebPushMessage,
    WebPushSubscription,
    endpoint_allowed,
)
from telex.push.wns import WnsClient, WnsCredentials, channel_allowed, toast_xml

__all__ = [
    "ApnsClient",
    "ApnsKey",
    "ApnsNotification",
    "FcmClient",
    "Outcome",
    "PushKind",
    "PushResult",
    "ServiceAccount",
    "TargetKind",
    "Urgency",
    "VapidKey",
    "WebPushClient",
    "WebPushMessage",
    "WebPushSubscription",
    "WnsClient",
    "WnsCredentials",
    "background_notification",
    "backoff",
    "build_message",
    "call_notification",
    "channel_allowed",
    "chat_notification",
    "endpoint_allowed",
    "toast_xml",
]
