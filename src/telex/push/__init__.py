"""Push notifications to devices whose app is not connected.

devices ─► registration API ─► PushRegistrationService ─► push_registrations (with a TTL)
log ─► PushNotifier (one node, a lease): incomingCall / ring stopped / chat message
    ─► offline recipients (presence) ─► Providers ─► FCM · APNs · WNS · Web Push clients
PushKind.CALL ─► FCM data/HIGH · APNs voip · WNS raw · Web Push Urgency high   (ring now)
PushKind.CHAT ─► FCM notification · APNs alert · WNS toast · Web Push normal    (show later)
every client ─► PushResult(outcome: DELIVERED | GONE | RETRY | DROPPED | MISCONFIGURED)
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
from telex.push.notifier import PushNotifier
from telex.push.providers import Notification, NotificationKind, Providers
from telex.push.registry import DeviceSpec, Platform, Registration
from telex.push.result import Outcome, PushKind, PushResult, backoff
from telex.push.service import PushRegistrationService
from telex.push.settings import PushSettings
from telex.push.store import RegistrationStore
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
    "DeviceSpec",
    "FcmClient",
    "Notification",
    "NotificationKind",
    "Outcome",
    "Platform",
    "Providers",
    "PushKind",
    "PushNotifier",
    "PushRegistrationService",
    "PushResult",
    "PushSettings",
    "Registration",
    "RegistrationStore",
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
