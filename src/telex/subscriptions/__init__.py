"""Event subscriptions: the ACS event catalogue delivered to customers' webhooks.

What the composition root uses is exported here; the routes (``subscriptions.api``) import the
web layer and are wired by the composition root.

management API (HMAC) ─► SubscriptionService: create, validate (handshake), rotate, replay
backbone doorbell ─► DeliveryRunner (a lease per subscription) ─► Worker: log ─► render
                  ─► batch ─► sign ─► SSRF-safe POST ─► retry / dead letter ─► cursor
"""

from telex.subscriptions.model import DeliveryFilter, ProvisioningState, Subscription, SubscriptionSpec
from telex.subscriptions.runner import DeliveryRunner, PrometheusDeliveryMetrics
from telex.subscriptions.service import SubscriptionService
from telex.subscriptions.settings import EventsSettings
from telex.subscriptions.store import DeadLetter, SubscriptionStore

__all__ = [
    "DeadLetter",
    "DeliveryFilter",
    "DeliveryRunner",
    "EventsSettings",
    "PrometheusDeliveryMetrics",
    "ProvisioningState",
    "Subscription",
    "SubscriptionService",
    "SubscriptionSpec",
    "SubscriptionStore",
]
