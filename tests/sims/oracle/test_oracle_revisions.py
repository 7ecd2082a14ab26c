"""Order Hub revisions and cancellation in the simulator, with plain httpx (orders.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.sims.oracle.conftest import ORDERS, ROOT, new_order


async def _account(client: httpx.AsyncClient) -> dict[str, object]:
    page = await client.get(f"{ROOT}/receivablesCustomerAccountActivities", params={"limit": "1"})
    return dict(page.json()["items"][0])


async def _order(client: httpx.AsyncClient, source_id: str) -> dict[str, object]:
    answer = await client.get(
        f"{ORDERS}/CRM:{source_id}", params={"onlyData": "true", "expand": "lines"}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _lines(order: dict[str, object]) -> list[dict[str, object]]:
    lines = order["lines"]
    return list(lines["items"] if isinstance(lines, dict) else lines)  # type: ignore[arg-type]


async def _exposure(client: httpx.AsyncClient, account: dict[str, object]) -> float:
    url = f"{ROOT}/customerCreditProfiles/{account['CustomerAccountId']}"
    return float((await client.get(url)).json()["CreditExposure"])


async def _created(client: httpx.AsyncClient, source_id: str) -> dict[str, object]:
    account = await _account(client)
    body = new_order(str(account["CustomerName"]), source_id, SourceTransactionRevisionNumber=1)
    answer = await client.post(ORDERS, json=body)
    assert answer.status_code == 201, answer.text
    return await _order(client, source_id)


def _line(line_id: str, quantity: float, **extra: object) -> dict[str, object]:
    return {
        "SourceTransactionLineId": line_id,
        "SourceTransactionLineNumber": line_id,
        "SourceTransactionScheduleId": line_id,
        "SourceScheduleNumber": "1",
        "ProductNumber": "AS54888",
        "OrderedQuantity": quantity,
        **extra,
    }


async def test_revision_changes_a_line_adds_one_and_moves_the_exposure(
    fusion: httpx.AsyncClient,
) -> None:
    before = await _created(fusion, "R-1")
    account = await _account(fusion)
    exposure = await _exposure(fusion, account)
    price = float(_lines(before)[0]["UnitSellingPrice"])  # type: ignore[arg-type]

    answer = await fusion.patch(
        f"{ORDERS}/CRM:R-1",
        json={"SourceTransactionRevisionNumber": 2, "lines": [_line("1", 7), _line("2", 1)]},
    )

    assert answer.status_code == 200, answer.text
    after = await _order(fusion, "R-1")
    assert (after["HeaderId"], after["SourceTransactionRevisionNumber"]) == (before["HeaderId"], 2)
    assert sorted(
        (str(li["SourceTransactionLineId"]), li["OrderedQuantity"]) for li in _lines(after)
    ) == [
        ("1", 7),
        ("2", 1),
    ]
    assert await _exposure(fusion, account) == pytest.approx(exposure + 3 * price)


@pytest.mark.parametrize("revision", [1, 0])
async def test_revision_not_later_than_the_current_one_is_refused(
    fusion: httpx.AsyncClient, revision: int
) -> None:
    before = await _created(fusion, f"R-2-{revision}")
    answer = await fusion.patch(
        f"{ORDERS}/CRM:R-2-{revision}",
        json={"SourceTransactionRevisionNumber": revision, "lines": [_line("1", 9)]},
    )
    assert answer.status_code == 400
    [detail] = answer.json()["o:errorDetails"]
    assert detail["o:errorPath"] == "/SourceTransactionRevisionNumber"
    assert "isn't later than its current revision 1" in detail["detail"]
    assert await _order(fusion, f"R-2-{revision}") == before


async def test_cancelled_order_cancels_its_lines_releases_exposure_and_stays_cancelled(
    fusion: httpx.AsyncClient,
) -> None:
    account = await _account(fusion)
    exposure = await _exposure(fusion, account)
    await _created(fusion, "R-3")
    answer = await fusion.patch(
        f"{ORDERS}/CRM:R-3",
        json={
            "SourceTransactionRevisionNumber": 2,
            "CanceledFlag": True,
            "CancelReasonCode": "CUST_REQ",
        },
    )
    assert answer.status_code == 200, answer.text
    order = await _order(fusion, "R-3")
    assert order["StatusCode"] == "CANCELED"
    assert {
        (li["StatusCode"], li["CanceledFlag"], li["CancelReasonCode"]) for li in _lines(order)
    } == {("CANCELED", True, "CUST_REQ")}
    assert await _exposure(fusion, account) == pytest.approx(exposure)

    again = await fusion.patch(
        f"{ORDERS}/CRM:R-3", json={"SourceTransactionRevisionNumber": 3, "lines": [_line("1", 2)]}
    )
    assert again.status_code == 400
    assert "because it's canceled" in again.json()["o:errorDetails"][0]["detail"]
    await fusion.post("/sim/tick")
    assert (await _order(fusion, "R-3"))["StatusCode"] == "CANCELED"


async def test_cancelled_line_stays_while_the_rest_is_fulfilled(fusion: httpx.AsyncClient) -> None:
    await _created(fusion, "R-4")
    await fusion.patch(
        f"{ORDERS}/CRM:R-4", json={"SourceTransactionRevisionNumber": 2, "lines": [_line("2", 2)]}
    )
    answer = await fusion.patch(
        f"{ORDERS}/CRM:R-4",
        json={"SourceTransactionRevisionNumber": 3, "lines": [_line("1", 5, CanceledFlag=True)]},
    )
    assert answer.status_code == 200, answer.text
    for _ in range(3):
        await fusion.post("/sim/tick")
    order = await _order(fusion, "R-4")
    assert order["StatusCode"] == "CLOSED"
    assert sorted(
        (str(li["SourceTransactionLineId"]), li["StatusCode"]) for li in _lines(order)
    ) == [
        ("1", "CANCELED"),
        ("2", "CLOSED"),
    ]


async def test_shipped_line_cannot_be_changed_or_the_order_cancelled(
    fusion: httpx.AsyncClient,
) -> None:
    await _created(fusion, "R-5")
    await fusion.post("/sim/tick")  # shipped: AWAIT_BILLING
    shipped = await _order(fusion, "R-5")
    assert _lines(shipped)[0]["StatusCode"] == "AWAIT_BILLING"

    change = await fusion.patch(
        f"{ORDERS}/CRM:R-5", json={"SourceTransactionRevisionNumber": 2, "lines": [_line("1", 2)]}
    )
    cancel = await fusion.patch(
        f"{ORDERS}/CRM:R-5", json={"SourceTransactionRevisionNumber": 2, "CanceledFlag": True}
    )

    assert (change.status_code, cancel.status_code) == (400, 400)
    [detail] = change.json()["o:errorDetails"]
    assert detail["detail"].startswith("You can't change line 1 of sales order")
    assert detail["detail"].endswith("because it's already shipped.")
    assert detail["o:errorPath"] == "/lines/0/OrderedQuantity"
    [detail] = cancel.json()["o:errorDetails"]
    assert "because its line 1 is already shipped" in detail["detail"]
    assert await _order(fusion, "R-5") == shipped  # nothing written


async def test_shipped_order_takes_a_new_line_and_header_changes(fusion: httpx.AsyncClient) -> None:
    await _created(fusion, "R-6")
    await fusion.post("/sim/tick")
    answer = await fusion.patch(
        f"{ORDERS}/CRM:R-6",
        json={
            "SourceTransactionRevisionNumber": 2,
            "CustomerPONumber": "PO-2",
            "lines": [_line("1", 5), _line("2", 1)],
        },
    )
    assert answer.status_code == 200, answer.text
    order = await _order(fusion, "R-6")
    assert order["CustomerPONumber"] == "PO-2"
    assert sorted(str(li["StatusCode"]) for li in _lines(order)) == ["AWAIT_BILLING", "AWAIT_SHIP"]


async def test_closed_order_cannot_be_revised(fusion: httpx.AsyncClient) -> None:
    await _created(fusion, "R-7")
    for _ in range(3):
        await fusion.post("/sim/tick")
    assert (await _order(fusion, "R-7"))["StatusCode"] == "CLOSED"
    answer = await fusion.patch(
        f"{ORDERS}/CRM:R-7", json={"SourceTransactionRevisionNumber": 2, "CustomerPONumber": "X"}
    )
    assert answer.status_code == 400
    assert "because it's closed" in answer.json()["o:errorDetails"][0]["detail"]


async def test_credit_control_sets_the_limit_and_available_credit(
    fusion: httpx.AsyncClient,
) -> None:
    account = await _account(fusion)
    answer = await fusion.post(
        "/sim/credit",
        json={"CustomerAccountId": account["CustomerAccountId"], "OverallCreditLimit": 12345.5},
    )
    assert answer.status_code == 200, answer.text
    url = f"{ROOT}/customerCreditProfiles/{account['CustomerAccountId']}"
    profile = (await fusion.get(url)).json()
    assert profile["OverallCreditLimit"] == 12345.5
    assert profile["AvailableCredit"] == pytest.approx(12345.5 - profile["CreditExposure"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"CustomerAccountId": 1}, 400),
        ({"CustomerAccountId": 1, "OverallCreditLimit": "many"}, 400),
        ({"CustomerAccountId": 1, "OverallCreditLimit": -1}, 400),
        ({"CustomerAccountId": 1, "OverallCreditLimit": 5}, 404),
    ],
)
async def test_bad_credit_control_call_is_refused(
    fusion: httpx.AsyncClient, body: dict[str, object], status: int
) -> None:
    answer = await fusion.post("/sim/credit", json=body)
    assert answer.status_code == status
