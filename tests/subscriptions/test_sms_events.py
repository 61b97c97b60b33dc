"""SMS events reach webhook subscriptions: a text from a handset to one of the resource's numbers
arrives as Event Grid's ``SMSReceived``, and a sent message's delivery report as
``SMSDeliveryReportReceived``, each once, in ACS's shape."""

from __future__ import annotations

import httpx

from telex.app import Node
from telex.numbers.model import AssignmentType, Capabilities, Capability, NumberType
from telex.numbers.service import SearchRequest
from tests.subscriptions.conftest import Receiver, subscribe

RECEIVED = "Microsoft.Communication.SMSReceived"
REPORT = "Microsoft.Communication.SMSDeliveryReportReceived"
HANDSET = "+14255550123"  # outside the inventory: a phone out there


async def own_number(node: Node) -> str:
    assert node.telephony is not None
    numbers = node.telephony.numbers
    both = Capability.INBOUND_OUTBOUND
    request = SearchRequest(
        "US", NumberType.GEOGRAPHIC, AssignmentType.APPLICATION, Capabilities(both, both), "425", 1
    )
    _, search_id = await numbers.begin_search(request)
    await numbers.drain()
    (number,) = (await numbers.search_result(search_id)).numbers
    await numbers.begin_purchase(search_id, False)
    await numbers.drain()
    return number


async def test_sms_received_and_delivery_report_reach_the_endpoint(
    node: Node, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(api, "sms-hook", receiver.url, filter={"includedEventTypes": [RECEIVED, REPORT]})
    number = await own_number(node)

    texted = await api.post(f"/simulator/handsets/{HANDSET}/messages", json={"to": number, "message": "hi"})
    assert texted.status_code in (200, 201, 202), texted.text
    sent = await api.post(
        "/sms?api-version=2021-03-07",
        json={
            "from": number,
            "smsRecipients": [{"to": HANDSET}],
            "message": "hello back",
            "smsSendOptions": {"enableDeliveryReport": True, "tag": "t-1"},
        },
    )
    assert sent.status_code == 202, sent.text
    await receiver.wait_for(lambda: bool(receiver.events(RECEIVED)) and bool(receiver.events(REPORT)))

    (received,) = receiver.events(RECEIVED)
    digits = number.lstrip("+")
    assert received["subject"] == f"/phonenumber/{digits}"
    assert received["data"]["from"] == HANDSET and received["data"]["to"] == number
    assert received["data"]["message"] == "hi"
    (report,) = receiver.events(REPORT)
    assert report["subject"] == f"/phonenumber/{digits}"
    assert report["data"]["deliveryStatus"] == "Delivered" and report["data"]["tag"] == "t-1"
    assert report["data"]["messageId"] == sent.json()["value"][0]["messageId"]
