"""SMS: sending (ACS ``POST /sms``: repeatable, rate-limited, opt-out aware), delivery reports
and inbound messages as domain events, opt-out keywords and ACS's opt-out API, a message log
per number. Carriers (``telex.carriers``) drain its outbox and report back.

See docs/sms.md.

What other capabilities and the composition root may use is exported here; the routes
(``sms.api``) import the web layer and are wired by the composition root.
"""

from telex.sms.events import DELIVERY_REPORT, RECEIVED, SMS_TOPIC_PREFIX, sms_topic
from telex.sms.service import LoggedSms, OutboundSms, Recipient, SendResult, SmsService
from telex.sms.settings import OptOutLocale, SmsSettings
from telex.sms.webhooks import RENDERINGS as WEBHOOK_RENDERINGS

__all__ = [
    "DELIVERY_REPORT",
    "RECEIVED",
    "SMS_TOPIC_PREFIX",
    "WEBHOOK_RENDERINGS",
    "LoggedSms",
    "OptOutLocale",
    "OutboundSms",
    "Recipient",
    "SendResult",
    "SmsService",
    "SmsSettings",
    "sms_topic",
]
