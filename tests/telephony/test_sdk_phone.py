"""The official azure-communication-phonenumbers and azure-communication-sms SDKs against a live
``telex serve``, every operation: numbers search → purchase → list → update → release with the
LRO pollers (sync over HTTPS from the connection string, async over HTTP), browse and
reservations, operator information; SMS single, batch, repeatability, delivery reports."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from email.utils import format_datetime

import pytest
from azure.communication.phonenumbers import (
    AvailablePhoneNumber,
    PhoneNumberAssignmentType,
    PhoneNumberCapabilities,
    PhoneNumberCapabilityType,
    PhoneNumbersClient,
    PhoneNumberType,
)
from azure.communication.phonenumbers.aio import PhoneNumbersClient as AsyncPhoneNumbersClient
from azure.communication.sms import SmsClient
from azure.communication.sms._generated.models import SendMessageRequest, SmsRecipient, SmsSendOptions
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from tests.support.live import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BOTH = PhoneNumberCapabilityType.INBOUND_OUTBOUND
CAPS = PhoneNumberCapabilities(calling=BOTH, sms=BOTH)
FAST = {"polling_interval": 0.05}
ENV = {
    "TELEX_NUMBERS__RETRY_AFTER_MS": "50",
    "TELEX_CARRIERS__SIMULATED__DELIVERY_DELAY_SECONDS": "0.05",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("phone") / "data", env=ENV) as server:
        yield server


def events(live: LiveServer, type_: str) -> list[dict[str, object]]:
    with sqlite3.connect(f"file:{live.data_dir / 'telex.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT payload FROM events WHERE type = ? ORDER BY position", (type_,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def wait_until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_numbers_and_sms_with_the_sync_sdks(live: LiveServer) -> None:
    numbers = PhoneNumbersClient.from_connection_string(
        live.connection_string, connection_verify=str(live.ca)
    )
    assert [c.country_code for c in numbers.list_available_countries()] == ["CA", "DE", "FR", "GB", "US"]
    codes = [a.area_code for a in numbers.list_available_area_codes("US", PhoneNumberType.GEOGRAPHIC)]
    assert "425" in codes and "206" in codes
    toll_free = [a.area_code for a in numbers.list_available_area_codes("US", PhoneNumberType.TOLL_FREE)]
    assert "800" in toll_free
    localities = list(numbers.list_available_localities("US", administrative_division="WA"))
    assert {x.localized_name for x in localities} == {"Seattle", "Redmond"}
    assert localities[0].administrative_division.abbreviated_name == "WA"
    offerings = list(numbers.list_available_offerings("US", phone_number_type="tollFree"))
    assert {o.assignment_type for o in offerings} == {"person", "application"}
    assert offerings[0].cost.amount == 2.0

    geographic, application = PhoneNumberType.GEOGRAPHIC, PhoneNumberAssignmentType.APPLICATION
    search = numbers.begin_search_available_phone_numbers(
        "US", geographic, application, CAPS, area_code="206", quantity=3, **FAST
    ).result()
    assert len(search.phone_numbers) == 3 and search.search_expires_by > dt.datetime.now(dt.UTC)
    assert search.cost.currency_code == "USD" and search.phone_number_type == "geographic"
    numbers.begin_purchase_phone_numbers(search.search_id, agree_to_not_resell=True, **FAST).result()
    owned = {n.phone_number for n in numbers.list_purchased_phone_numbers()}
    assert set(search.phone_numbers) <= owned
    a, b, c = search.phone_numbers
    got = numbers.get_purchased_phone_number(a)
    assert got.country_code == "US" and got.capabilities.sms == BOTH and got.purchase_date is not None
    updated = numbers.begin_update_phone_number_capabilities(
        c, sms=PhoneNumberCapabilityType.NONE, **FAST
    ).result()
    assert updated.capabilities.sms == "none" and updated.phone_number == c
    with pytest.raises(ResourceNotFoundError):
        numbers.get_purchased_phone_number("+12065550199")

    sms = SmsClient.from_connection_string(live.connection_string, connection_verify=str(live.ca))
    [one] = sms.send(from_=a, to=b, message="hello from the SDK", enable_delivery_report=True, tag="sdk")
    assert one.successful and one.http_status_code == 202 and one.message_id
    batch = sms.send(from_=a, to=[b, "+12065550123", "+1206555012345"], message="batch é ✓")
    assert [r.http_status_code for r in batch] == [202, 202, 400]
    assert batch[2].error_message == "Invalid To phone number format." and not batch[2].successful
    with pytest.raises(ClientAuthenticationError) as refused:
        sms.send(from_=c, to=b, message="c has no SMS any more")
    assert refused.value.status_code == 401

    # Repeatability through the SDK's own request model: the same ids twice, one message.
    request = SendMessageRequest(
        from_property=a,
        sms_recipients=[
            SmsRecipient(
                to="+12065550124",
                repeatability_request_id=str(uuid.uuid4()),
                repeatability_first_sent=format_datetime(dt.datetime.now(dt.UTC), usegmt=True),
            )
        ],
        message="only once",
        sms_send_options=SmsSendOptions(enable_delivery_report=False),
    )
    first = sms._sms_service_client.sms.send(request)
    again = sms._sms_service_client.sms.send(request)
    assert first.value[0].message_id == again.value[0].message_id
    assert first.value[0].repeatability_result == again.value[0].repeatability_result == "accepted"

    wait_until(
        lambda: any(
            e["messageId"] == one.message_id
            for e in events(live, "Microsoft.Communication.SMSDeliveryReportReceived")
        )
    )
    [report] = [
        e
        for e in events(live, "Microsoft.Communication.SMSDeliveryReportReceived")
        if e["messageId"] == one.message_id
    ]
    assert report["deliveryStatus"] == "Delivered" and report["tag"] == "sdk" and report["to"] == b
    wait_until(lambda: len(events(live, "Microsoft.Communication.SMSReceived")) >= 2)
    received = [e for e in events(live, "Microsoft.Communication.SMSReceived") if e["to"] == b]
    assert {e["message"] for e in received} == {"hello from the SDK", "batch é ✓"}

    # browse, reserve, buy the reservation, operator information
    browsed = numbers.browse_available_phone_numbers(
        country_code="US", phone_number_type=PhoneNumberType.TOLL_FREE, phone_number_prefixes=["1800"]
    )
    pick: AvailablePhoneNumber = browsed.phone_numbers[0]
    assert pick.phone_number.startswith("+1800") and pick.status == "available"
    rid = str(uuid.uuid4())
    reservation = numbers.create_or_update_reservation(reservation_id=rid, numbers_to_add=[pick])
    assert reservation.status == "active" and reservation.phone_numbers[pick.id].status == "reserved"
    assert numbers.get_reservation(rid).id == rid
    assert rid in {r.id for r in numbers.list_reservations()}
    numbers.begin_purchase_reservation(rid, **FAST).result()
    assert numbers.get_reservation(rid).status == "completed"
    assert numbers.get_purchased_phone_number(pick.phone_number).phone_number_type == "tollFree"
    other = str(uuid.uuid4())
    numbers.create_or_update_reservation(reservation_id=other, numbers_to_add=[browsed.phone_numbers[1]])
    numbers.delete_reservation(other)
    with pytest.raises(ResourceNotFoundError):
        numbers.get_reservation(other)
    info = numbers.search_operator_information([a, "+447400123456"])
    assert [i.number_type for i in info.values] == ["geographic", "mobile"]

    # release, twice; the released number can no longer send
    numbers.begin_release_phone_number(a, **FAST).result()
    numbers.begin_release_phone_number(a, **FAST).result()
    assert a not in {n.phone_number for n in numbers.list_purchased_phone_numbers()}
    with pytest.raises(ClientAuthenticationError):
        sms.send(from_=a, to=b, message="gone")


def test_a_failed_search_raises_with_its_error(live: LiveServer) -> None:
    numbers = PhoneNumbersClient(live.http_url, AzureKeyCredential(live.access_key))
    poller = numbers.begin_search_available_phone_numbers(
        "GB", PhoneNumberType.MOBILE, PhoneNumberAssignmentType.PERSON, CAPS, area_code="999", **FAST
    )
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error is not None and info.value.error.code == "NoNumbersAvailable"


async def test_numbers_with_the_async_sdk(live: LiveServer) -> None:
    async with AsyncPhoneNumbersClient(live.http_url, AzureKeyCredential(live.access_key)) as numbers:
        poller = await numbers.begin_search_available_phone_numbers(
            "FR", PhoneNumberType.GEOGRAPHIC, PhoneNumberAssignmentType.PERSON, CAPS, quantity=1, **FAST
        )
        search = await poller.result()
        await (await numbers.begin_purchase_phone_numbers(search.search_id, **FAST)).result()
        [number] = search.phone_numbers
        assert number.startswith("+33")
        assert (await numbers.get_purchased_phone_number(number)).country_code == "FR"
        await (await numbers.begin_release_phone_number(number, **FAST)).result()
        with pytest.raises(ResourceNotFoundError):
            await numbers.get_purchased_phone_number(number)
