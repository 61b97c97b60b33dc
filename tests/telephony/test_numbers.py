"""Phone numbers through the API of an in-process node on a fake clock: long-running operations
and their states, search holds, concurrent purchases, idempotent release, capability updates,
reservations, operator information, and bad input answered with ACS errors."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from telex.numbers.model import Capability
from telex.numbers.operations import OperationStatus
from tests.telephony.phone import Phone, phone_node

pytestmark = pytest.mark.timeout(60)

CAPS = {"calling": "inbound+outbound", "sms": "inbound+outbound"}
SEARCH = {
    "phoneNumberType": "geographic",
    "assignmentType": "application",
    "capabilities": CAPS,
    "areaCode": "425",
}


@pytest.fixture
async def phone(tmp_path: Path) -> Any:
    async with phone_node(tmp_path) as p:
        yield p


async def search(phone: Phone, quantity: int = 2, **extra: Any) -> tuple[httpx.Response, dict[str, Any]]:
    r = await phone.api.post(
        "/availablePhoneNumbers/countries/US/:search?api-version=2025-06-01",
        json={**SEARCH, "quantity": quantity, **extra},
    )
    assert r.status_code == 202, r.text
    await phone.settle()
    op = (await phone.api.get(r.headers["Operation-Location"])).json()
    return r, op


async def purchase(phone: Phone, search_id: str) -> dict[str, Any]:
    r = await phone.api.post("/availablePhoneNumbers/:purchase", json={"searchId": search_id})
    assert r.status_code == 202, r.text
    await phone.settle()
    return dict((await phone.api.get(r.headers["Operation-Location"])).json())


async def test_search_is_a_long_running_operation(phone: Phone) -> None:
    r, op = await search(phone)
    search_id = r.headers["search-id"]
    assert r.content == b""
    assert r.headers["operation-id"] == f"search_{search_id}"
    assert (
        r.headers["Operation-Location"]
        == f"/phoneNumbers/operations/search_{search_id}?api-version=2025-06-01"
    )
    assert r.headers["Location"] == f"/availablePhoneNumbers/searchResults/{search_id}?api-version=2025-06-01"
    assert r.headers["retry-after-ms"] == "500" and "Retry-After" not in r.headers
    assert (
        op["status"] == "succeeded" and op["operationType"] == "search" and op["id"] == f"search_{search_id}"
    )
    assert op["resourceLocation"] == f"/availablePhoneNumbers/searchResults/{search_id}"
    result = (await phone.api.get(r.headers["Location"])).json()
    assert result["phoneNumbers"] == ["+14255550100", "+14255550101"]
    assert result["cost"] == {"amount": 1.0, "currencyCode": "USD", "billingFrequency": "monthly"}
    assert result["searchExpiresBy"].endswith("Z") and result["error"] == "NoError"


async def test_operation_states_and_a_runner_that_died(phone: Phone) -> None:
    numbers = phone.tel.numbers
    numbers.schedule = lambda op_id: None  # type: ignore[method-assign]  # nothing runs by itself
    r = await phone.api.post("/availablePhoneNumbers/countries/US/:search", json=SEARCH)
    location = r.headers["Operation-Location"]
    polled = await phone.api.get(location)
    assert polled.json()["status"] == "notStarted" and polled.headers["retry-after-ms"] == "500"
    work = numbers._work  # a runner that dies after claiming: the work never commits

    async def die(*_: object) -> None:
        raise RuntimeError("killed")

    original = dict(work)
    work.update({kind: die for kind in work})  # type: ignore[misc]
    with pytest.raises(RuntimeError):
        await numbers.run_operation(r.headers["operation-id"])
    work.update(original)
    assert (await phone.api.get(location)).json()["status"] == "running"
    await numbers.sweep()  # the lease has not lapsed: nobody else takes it
    assert (await phone.api.get(location)).json()["status"] == "running"
    phone.clock.advance(numbers.settings.operation_lease_seconds + 1)
    await numbers.sweep()
    done = await phone.api.get(location)
    assert done.json()["status"] == "succeeded" and "retry-after-ms" not in done.headers


async def test_a_search_holds_its_numbers_for_15_minutes(phone: Phone) -> None:
    first, _ = await search(phone)
    second, _ = await search(phone)
    a = (await phone.api.get(first.headers["Location"])).json()["phoneNumbers"]
    b = (await phone.api.get(second.headers["Location"])).json()["phoneNumbers"]
    assert not set(a) & set(b)
    phone.clock.advance(15 * 60 + 1)
    third, _ = await search(phone)
    assert (await phone.api.get(third.headers["Location"])).json()["phoneNumbers"] == a
    # The first search expired: buying it fails, buying the newer one of the same numbers works.
    late, fresh = await asyncio.gather(
        purchase(phone, first.headers["search-id"]), purchase(phone, third.headers["search-id"])
    )
    assert late["status"] == "failed" and late["error"]["code"] == "SearchExpired"
    assert fresh["status"] == "succeeded"
    owned = (await phone.api.get("/phoneNumbers")).json()["phoneNumbers"]
    assert sorted(n["phoneNumber"] for n in owned) == a


async def test_two_concurrent_purchases_of_one_search_exactly_one_wins(phone: Phone) -> None:
    r, _ = await search(phone, quantity=3)
    results = await asyncio.gather(*(purchase(phone, r.headers["search-id"]) for _ in range(5)))
    statuses = sorted(op["status"] for op in results)
    assert statuses == ["failed"] * 4 + ["succeeded"]
    assert {op["error"]["code"] for op in results if op["status"] == "failed"} == {"SearchAlreadyPurchased"}
    assert len((await phone.api.get("/phoneNumbers")).json()["phoneNumbers"]) == 3


async def test_no_numbers_left_fails_the_search(phone: Phone) -> None:
    _, op = await search(phone, quantity=100)
    assert op["status"] == "succeeded"
    _, op = await search(phone, quantity=1)
    assert op["status"] == "failed" and op["error"]["code"] == "NoNumbersAvailable"


async def test_release_is_idempotent_and_frees_the_number(phone: Phone) -> None:
    [number] = await phone.own(1)
    path = "/phoneNumbers/" + number.replace("+", "%2B")
    for _ in range(2):
        r = await phone.api.delete(path)
        assert r.status_code == 202 and r.headers["release-id"] and "Location" not in r.headers
        await phone.settle()
        op = (await phone.api.get(r.headers["Operation-Location"])).json()
        assert op["status"] == "succeeded" and op["operationType"] == "releasePhoneNumber"
        assert "resourceLocation" not in op
    assert (await phone.api.get(path)).status_code == 404
    assert (await phone.api.get("/phoneNumbers")).json()["phoneNumbers"] == []
    never = await phone.api.delete("/phoneNumbers/%2B14255550199")
    assert never.status_code == 404 and never.json()["error"]["code"] == "NotFound"
    assert await phone.own(1) == [number]  # back in the inventory


async def test_update_capabilities(phone: Phone) -> None:
    [number] = await phone.own(1)
    r = await phone.api.patch(
        f"/phoneNumbers/{number}/capabilities", json={"sms": "outbound"},
        headers={"content-type": "application/merge-patch+json"},
    )  # fmt: skip
    assert r.status_code == 202 and r.headers["capabilities-id"]
    assert r.headers["Location"].startswith("/phoneNumbers/%2B14255550100?")
    await phone.settle()
    op = (await phone.api.get(r.headers["Operation-Location"])).json()
    assert op["status"] == "succeeded" and op["operationType"] == "updatePhoneNumberCapabilities"
    got = (await phone.api.get(r.headers["Location"])).json()
    assert got["capabilities"] == {"calling": "inbound+outbound", "sms": "outbound"}
    assert (
        got["id"] == "14255550100" and got["countryCode"] == "US" and got["assignmentType"] == "application"
    )
    empty = await phone.api.patch(f"/phoneNumbers/{number}/capabilities", json={})
    assert empty.status_code == 400
    bad = await phone.api.patch(f"/phoneNumbers/{number}/capabilities", json={"sms": "sideways"})
    assert bad.status_code == 400
    other = await phone.api.patch("/phoneNumbers/+14255550150/capabilities", json={"sms": "none"})
    assert other.status_code == 404


async def test_cancelling_a_search_gives_its_numbers_back(phone: Phone) -> None:
    r, _ = await search(phone)
    cancel = await phone.api.delete(f"/phoneNumbers/operations/{r.headers['operation-id']}")
    assert cancel.status_code == 204
    assert (await phone.api.get(r.headers["Operation-Location"])).status_code == 404
    assert (await phone.api.get(r.headers["Location"])).status_code == 404
    again, _ = await search(phone)
    assert (await phone.api.get(again.headers["Location"])).json()["phoneNumbers"][0] == "+14255550100"
    assert (await phone.api.delete("/phoneNumbers/operations/search_nope")).status_code == 404


async def test_lists_page_with_next_links(phone: Phone) -> None:
    countries = await phone.api.get("/availablePhoneNumbers/countries?skip=0&maxPageSize=2")
    page = countries.json()
    assert [c["countryCode"] for c in page["countries"]] == ["CA", "DE"]
    seen = [c["countryCode"] for c in page["countries"]]
    while page.get("nextLink"):
        page = (await phone.api.get(page["nextLink"])).json()
        seen += [c["countryCode"] for c in page["countries"]]
    assert seen == ["CA", "DE", "FR", "GB", "US"]
    codes = (await phone.api.get(
        "/availablePhoneNumbers/countries/US/areaCodes?phoneNumberType=geographic&maxPageSize=5"
    )).json()  # fmt: skip
    assert len(codes["areaCodes"]) == 5 and "phoneNumberType=geographic" in codes["nextLink"]
    rest = (await phone.api.get(codes["nextLink"])).json()
    assert [c["areaCode"] for c in rest["areaCodes"]] == ["617", "512", "305"] and "nextLink" not in rest
    localities = (
        await phone.api.get("/availablePhoneNumbers/countries/US/localities?administrativeDivision=WA")
    ).json()
    washington = {"localizedName": "Washington", "abbreviatedName": "WA"}
    assert localities["phoneNumberLocalities"][0] == {
        "localizedName": "Seattle",
        "administrativeDivision": washington,
    }
    offerings = (
        await phone.api.get("/availablePhoneNumbers/countries/US/offerings?phoneNumberType=tollFree")
    ).json()
    assert {o["assignmentType"] for o in offerings["phoneNumberOfferings"]} == {"person", "application"}
    owned = await phone.own(3)
    page = (await phone.api.get("/phoneNumbers?skip=0&top=2")).json()
    assert [n["phoneNumber"] for n in page["phoneNumbers"]] == owned[:2] and page[
        "nextLink"
    ] == "/phoneNumbers?skip=2&top=2"


@pytest.mark.parametrize(
    ("method", "path", "json", "status"),
    [
        ("GET", "/availablePhoneNumbers/countries/ZZ/areaCodes?phoneNumberType=geographic", None, 404),
        ("GET", "/availablePhoneNumbers/countries/U1/offerings", None, 400),
        ("GET", "/availablePhoneNumbers/countries/US/areaCodes?phoneNumberType=landline", None, 400),
        ("GET", "/availablePhoneNumbers/countries?maxPageSize=0", None, 400),
        ("POST", "/availablePhoneNumbers/countries/US/:search", {**SEARCH, "quantity": 0}, 400),
        ("POST", "/availablePhoneNumbers/countries/US/:search", {"phoneNumberType": "geographic"}, 400),
        (
            "POST",
            "/availablePhoneNumbers/countries/CA/:search",
            {**SEARCH, "phoneNumberType": "tollFree"},
            400,
        ),
        ("POST", "/availablePhoneNumbers/countries/XX/:search", SEARCH, 404),
        ("POST", "/availablePhoneNumbers/:purchase", {}, 400),
        ("POST", "/availablePhoneNumbers/:purchase", {"searchId": str(uuid.uuid4())}, 404),
        ("GET", "/availablePhoneNumbers/searchResults/nope", None, 404),
        ("GET", "/phoneNumbers/123", None, 400),
        ("GET", "/phoneNumbers/+1425555010", None, 400),
        ("GET", "/phoneNumbers/%2B14255550100", None, 404),
        ("DELETE", "/phoneNumbers/not-a-number", None, 400),
        ("GET", "/phoneNumbers/operations/x", None, 404),
        ("GET", "/phoneNumbers?top=0", None, 400),
        ("POST", "/operatorInformation/:search", {"phoneNumbers": ["+1425"]}, 400),
        ("POST", "/operatorInformation/:search", {"phoneNumbers": []}, 400),
        ("GET", "/availablePhoneNumbers/reservations/not-a-uuid", None, 400),
        ("GET", f"/availablePhoneNumbers/reservations/{uuid.uuid4()}", None, 404),
    ],
)
async def test_bad_input_is_a_clear_acs_error(
    phone: Phone, method: str, path: str, json: Any, status: int
) -> None:
    r = await phone.api.request(method, path, json=json)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] and error["message"]


async def test_reservations(phone: Phone) -> None:
    browse = await phone.api.post("/availablePhoneNumbers/countries/US/:browse", json={
        "phoneNumberType": "geographic", "phoneNumberPrefixes": ["1206"],
    })  # fmt: skip
    offered = browse.json()["phoneNumbers"]
    assert len(offered) == 20 and all(n["phoneNumber"].startswith("+1206") for n in offered)
    assert {n["status"] for n in offered} == {"available"}
    pick = offered[:2]
    rid = str(uuid.uuid4())
    path = f"/availablePhoneNumbers/reservations/{rid}"
    spec = {
        n["id"]: {k: n[k] for k in ("countryCode", "capabilities", "phoneNumberType", "assignmentType")}
        for n in pick
    }
    made = await phone.api.patch(
        path, json={"phoneNumbers": spec}, headers={"content-type": "application/merge-patch+json"}
    )
    assert made.status_code == 201, made.text
    view = made.json()
    assert view["status"] == "active" and set(view["phoneNumbers"]) == set(spec)
    assert {n["status"] for n in view["phoneNumbers"].values()} == {"reserved"}
    # A held number cannot be reserved twice; one that does not exist is refused per number.
    other = f"/availablePhoneNumbers/reservations/{uuid.uuid4()}"
    clash = await phone.api.patch(
        other, json={"phoneNumbers": {pick[0]["id"]: spec[pick[0]["id"]], "19995550100": {}}}
    )
    assert clash.status_code == 207
    errors = {k: v["error"]["code"] for k, v in clash.json()["phoneNumbers"].items()}
    assert errors == {pick[0]["id"]: "PhoneNumberNotAvailable", "19995550100": "InvalidPhoneNumber"}
    # … and a search does not find reserved numbers.
    r, _ = await search(phone, quantity=2, areaCode="206")
    assert not {"+" + n["id"] for n in pick} & set(
        (await phone.api.get(r.headers["Location"])).json()["phoneNumbers"]
    )
    listed = (await phone.api.get("/availablePhoneNumbers/reservations?maxPageSize=1")).json()
    assert len(listed["reservations"]) == 1 and "phoneNumbers" not in listed["reservations"][0]
    assert "skipToken=" in listed["nextLink"]
    bought = await phone.api.post(f"{path}/:purchase", json={"agreeToNotResell": False})
    assert bought.status_code == 202 and bought.headers["reservation-purchase-id"]
    await phone.settle()
    op = (await phone.api.get(bought.headers["Operation-Location"])).json()
    assert op["status"] == "succeeded" and op["operationType"] == "reservationPurchase"
    done = (await phone.api.get(path)).json()
    assert done["status"] == "completed" and {n["status"] for n in done["phoneNumbers"].values()} == {
        "purchased"
    }
    owned = {n["phoneNumber"] for n in (await phone.api.get("/phoneNumbers")).json()["phoneNumbers"]}
    assert {"+" + n["id"] for n in pick} <= owned
    assert (await phone.api.delete(path)).status_code == 409
    assert (await phone.api.delete(other)).status_code == 204
    assert (await phone.api.delete(other)).status_code == 404


async def test_an_expired_reservation_cannot_be_bought_or_changed(phone: Phone) -> None:
    rid = str(uuid.uuid4())
    path = f"/availablePhoneNumbers/reservations/{rid}"
    made = await phone.api.patch(
        path, json={"phoneNumbers": {"14255550150": {"phoneNumberType": "geographic"}}}
    )
    assert made.status_code == 201
    phone.clock.advance(15 * 60 + 1)
    assert (await phone.api.get(path)).json()["status"] == "expired"
    assert (await phone.api.post(f"{path}/:purchase", json={})).status_code == 400
    assert (await phone.api.patch(path, json={"phoneNumbers": {}})).status_code == 409


async def test_operator_information(phone: Phone) -> None:
    options = {"includeAdditionalOperatorDetails": True}
    r = await phone.api.post(
        "/operatorInformation/:search",
        json={"phoneNumbers": ["+14255550100", "+447400123456"], "options": options},
    )
    us, gb = r.json()["values"]
    assert us["isoCountryCode"] == "US" and us["numberType"] == "geographic"
    assert us["nationalFormat"] == "(425) 555-0100" and us["internationalFormat"] == "+1 425-555-0100"
    assert gb["numberType"] == "mobile" and gb["operatorDetails"]["name"] == "Three"


async def test_the_directory_answers_for_owned_numbers_only(phone: Phone) -> None:
    [number] = await phone.own(1, calling=Capability.INBOUND)
    owned = await phone.tel.numbers.lookup(number)
    assert owned is not None and owned.capabilities.sms.outbound
    assert await phone.tel.numbers.calling(number) is Capability.INBOUND  # the voice gateway's question
    assert await phone.tel.numbers.calling("+14255550199") is Capability.NONE
    assert await phone.tel.numbers.lookup("+14255550199") is None
    op = await phone.tel.numbers.begin_release(number)
    await phone.settle()
    assert (await phone.tel.numbers.operation(op.id)).status is OperationStatus.SUCCEEDED
    assert await phone.tel.numbers.lookup(number) is None
    assert await phone.tel.numbers.calling(number) is Capability.NONE
