"""End to end: the sf-oracle template moving data between the Salesforce and Oracle simulators.

Records are made and changed through each system's own API (the connectors' writes, and
Oracle's ``/sim/tick`` business day), flows are driven with the engine, and every outcome is
read back through the systems' APIs.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from erpbridge.api.app import create_app
from erpbridge.engine.dead_letters import DeadLetterFilter, replay_dead_letters
from erpbridge.engine.held_jobs import list_held
from erpbridge.engine.hold_recheck import recheck_held
from erpbridge.engine.intake import sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.worker import Worker
from erpbridge.sims._common.faults import FaultConfig, FaultKind, FaultMiddleware
from erpbridge.sims._common.server import serve_app
from erpbridge.sims.oracle import ORACLE_FAULTS
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from tests.flows.harness import Bridge, close, running_template

pytestmark = pytest.mark.slow

SYSTEMS = ("salesforce", "oracle")
PRICE = 1280.5


async def _standard_price_book(bridge: Bridge) -> str:
    [book] = await bridge.find("salesforce", "Pricebook2", "Name", ["Standard Price Book"])
    return book.id


async def _product(bridge: Bridge, book: str, **fields: object) -> str:
    product = await bridge.create("salesforce", "Product2", {"IsActive": True, **fields})
    await bridge.create(
        "salesforce",
        "PricebookEntry",
        {"Pricebook2Id": book, "Product2Id": product, "UnitPrice": PRICE, "IsActive": True},
    )
    return product


async def _activated_order(
    bridge: Bridge, account: str, book: str, lines: list[tuple[str, float]]
) -> str:
    """A CRM order with ``lines`` (product id, quantity), then activated, as sales reps do."""
    order = await bridge.create(
        "salesforce",
        "Order",
        {
            "AccountId": account,
            "EffectiveDate": date.today().isoformat(),
            "Pricebook2Id": book,
            "Region__c": "华东",
            "PoNumber": "PO-E2E-1",
        },
    )
    for product, quantity in lines:
        [entry] = [
            e
            for e in await bridge.find("salesforce", "PricebookEntry", "Product2Id", [product])
            if e.fields["Pricebook2Id"] == book
        ]
        await bridge.create(
            "salesforce",
            "OrderItem",
            {
                "OrderId": order,
                "PricebookEntryId": entry.id,
                "Quantity": quantity,
                "UnitPrice": 990,
            },
        )
    await bridge.update("salesforce", "Order", order, {"Status": "Activated"})
    return order


async def _crm_records(bridge: Bridge, tag: str, unit: str = "台") -> dict[str, str]:
    """A new account, two new products, an activated order with two lines, a case needing parts."""
    book = await _standard_price_book(bridge)
    account = await bridge.create(
        "salesforce",
        "Account",
        {
            "Name": f"苏州 E2E 精密机械有限公司 {tag}",
            "AccountNumber": f"e2e-{tag}",
            "Type": "Customer - Direct",
            "BillingStreet": "星湖街 328 号",
            "BillingCity": "苏州",
            "BillingPostalCode": "215123",
            "BillingCountry": "中国",
            "Phone": "+86 512 6288 0000",
        },
    )
    hardware = await _product(
        bridge,
        book,
        Name=f"伺服电机 {tag}",
        ProductCode=f"P-{tag}-1",
        ERP_Material__c=f"E2E-{tag}-M1",
        Family="Hardware",
        QuantityUnitOfMeasure=unit,
    )
    spare = await _product(
        bridge, book, Name=f"Seal kit {tag}", ProductCode=f"p-{tag}-2", Family="Spare Parts"
    )
    order = await _activated_order(bridge, account, book, [(hardware, 3), (spare, 12)])
    case = await bridge.create(
        "salesforce",
        "Case",
        {
            "Subject": f"泵体漏油，需要更换密封件 {tag}",
            "AccountId": account,
            "Product__c": spare,
            "Parts_Needed__c": True,
            "Parts_Quantity__c": 4,
        },
    )
    return {
        "account": account,
        "hardware": hardware,
        "spare": spare,
        "order": order,
        "case": case,
        "case_number": str((await bridge.get("salesforce", "Case", case)).fields["CaseNumber"]),
    }


async def _party_of(bridge: Bridge, account: str) -> list[dict[str, object]]:
    found = await bridge.find("oracle", "hubOrganizations", "SourceSystemReferenceValue", [account])
    return [dict(r.fields, _id=r.id) for r in found]


async def _oracle_order_of(bridge: Bridge, order: str) -> list[dict[str, object]]:
    found = await bridge.find("oracle", "salesOrdersForOrderHub", "SourceTransactionId", [order])
    return [dict(r.fields, _id=r.id) for r in found]


async def _requisition_of(bridge: Bridge, case_number: str) -> list[dict[str, object]]:
    found = await bridge.find(
        "oracle", "purchaseRequisitions", "Description", [f"SF-{case_number}"]
    )
    return [dict(r.fields, _id=r.id) for r in found]


async def _sim_control(bridge: Bridge, path: str, body: object = None) -> dict[str, object]:
    """A simulator control call (``/sim/...``, not Oracle's API)."""
    entry = bridge.sims["oracle"].entry
    async with httpx.AsyncClient(
        base_url=str(entry["base_url"]),
        auth=(str(entry["username"]), str(entry["password"])),
        timeout=30,
    ) as http:
        answer = await http.post(path, json=body)
    answer.raise_for_status()
    return cast(dict[str, object], answer.json())


async def _tick(bridge: Bridge) -> None:
    """One Oracle business day: orders fulfilled a step, requisitions submitted/approved."""
    entry = bridge.sims["oracle"].entry
    async with httpx.AsyncClient(
        base_url=str(entry["base_url"]),
        auth=(str(entry["username"]), str(entry["password"])),
        timeout=30,
    ) as http:
        answer = await http.post("/sim/tick")
    answer.raise_for_status()


class _LoseFirstBatchAnswer:
    """Lets the first batch request (POST to a version root) take effect and answers it
    with Oracle's 502, as the fault middleware's lost reply does; other calls pass. (A
    path prefix cannot pick the batch: every resource path starts with its root.)"""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lost = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if (
            self.lost == 0
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and path.endswith("/resources/11.13.18.05/")
        ):
            self.lost += 1
            lose = FaultMiddleware(self.inner, responses=ORACLE_FAULTS)
            lose.force(FaultKind.LOST_REPLY)
            await lose(scope, receive, send)
            return
        await self.inner(scope, receive, send)


def _lines(order: dict[str, object]) -> list[dict[str, object]]:
    return cast(list[dict[str, object]], order["lines"])


async def test_customer_order_and_case_reach_oracle_and_status_comes_back(tmp_path: Path) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            started = datetime.now(UTC) - timedelta(seconds=2)
            tag = uuid.uuid4().hex[:6].upper()
            crm = await _crm_records(bridge, tag)
            # The order parks on its customer and products; the engine syncs them first.
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])
            await bridge.sync("requisitions-to-oracle", ids=[crm["case"]])

            [party] = await _party_of(bridge, crm["account"])
            assert party["OrganizationName"] == f"苏州 E2E 精密机械有限公司 {tag}"
            assert (party["City"], party["PostalCode"], party["Country"]) == (
                "苏州",
                "215123",
                "CN",
            )
            assert (party["SourceSystem"], party["PartyUsageCode"]) == ("SFDC", "CUSTOMER")
            [item] = await bridge.find("oracle", "itemsV2", "ItemNumber", [f"E2E-{tag}-M1"])
            assert (item.fields["PrimaryUOMCode"], item.fields["ItemClass"]) == (
                "Ea",
                "Finished Goods",
            )
            assert await bridge.find("oracle", "itemsV2", "ItemNumber", [f"P-{tag}-2"])

            [order] = await _oracle_order_of(bridge, crm["order"])
            crm_order = await bridge.get("salesforce", "Order", crm["order"])
            assert order["SourceTransactionNumber"] == crm_order.fields["OrderNumber"]
            assert (order["SourceTransactionSystem"], order["StatusCode"]) == ("SFDC", "OPEN")
            assert order["BuyingPartyNumber"] == party["PartyNumber"]
            assert order["BusinessUnitName"] == "China Operations 中国业务部"
            assert (order["TransactionalCurrencyCode"], order["CustomerPONumber"]) == (
                "CNY",
                "PO-E2E-1",
            )
            assert str(order["TransactionOn"]).startswith(
                (date.today() - timedelta(days=1)).isoformat() + "T16:00:00"
            )
            lines = sorted(
                (str(i["ProductNumber"]), Decimal(str(i["OrderedQuantity"])), i["UnitSellingPrice"])
                for i in _lines(order)
            )
            assert lines == [
                (f"E2E-{tag}-M1", Decimal(3), 990),
                (f"P-{tag}-2", Decimal(12), 990),
            ]
            [requisition] = await _requisition_of(bridge, crm["case_number"])
            [req_line] = cast(list[dict[str, object]], requisition["lines"])
            assert (req_line["ItemNumber"], req_line["Quantity"]) == (f"P-{tag}-2", 4)
            assert requisition["DocumentStatus"] == "Incomplete"

            # Reconciliation: what each mapping expects is what Oracle holds, field by field.
            for flow in (
                "customers-to-oracle",
                "products-to-oracle",
                "orders-to-oracle",
                "requisitions-to-oracle",
            ):
                assert await bridge.recon(flow, since=started) == [], flow
            report = await bridge.validate_online(tmp_path)
            assert (report["ok"], report["errors"]) == (True, [])
            assert {w["reason"].split(" field ")[0] for w in report["warnings"]} <= {
                "required target"
            }

            # Back to the CRM: the party number, the credit of the account Receivables
            # opened, the order number and status as the business days pass.
            await bridge.sync("customers-from-oracle", ids=[str(party["_id"])])
            account = await bridge.get("salesforce", "Account", crm["account"])
            assert account.fields["ERP_Customer_Id__c"] == party["PartyNumber"]
            [profile] = await bridge.find(
                "oracle", "customerCreditProfiles", "PartyNumber", [str(party["PartyNumber"])]
            )
            await bridge.sync("credit-from-oracle", ids=[profile.id])
            account = await bridge.get("salesforce", "Account", crm["account"])
            assert Decimal(str(account.fields["Credit_Limit__c"])) == Decimal(100000)
            assert Decimal(str(account.fields["Credit_Exposure__c"])) == Decimal(15 * 990)
            for expected in ("Awaiting shipping", "Awaiting billing", "Billed", "Closed"):
                if expected != "Awaiting shipping":
                    await _tick(bridge)
                await bridge.sync("orders-from-oracle", ids=[str(order["_id"])])
                crm_order = await bridge.get("salesforce", "Order", crm["order"])
                assert (
                    crm_order.fields["ERP_SalesOrder__c"],
                    crm_order.fields["ERP_Status__c"],
                ) == (order["OrderNumber"], expected)
            [spare_item] = await bridge.find("oracle", "itemsV2", "ItemNumber", [f"P-{tag}-2"])
            await bridge.sync("products-from-oracle", ids=[spare_item.id])
            spare = await bridge.get("salesforce", "Product2", crm["spare"])
            assert spare.fields["ERP_Material__c"] == f"P-{tag}-2"
            await bridge.sync("requisitions-from-oracle", ids=[str(requisition["_id"])])
            case = await bridge.get("salesforce", "Case", crm["case"])
            assert (
                case.fields["ERP_Requisition__c"],
                case.fields["ERP_Requisition_Status__c"],
            ) == (requisition["Requisition"], "Approved")

            # Our writes onto the CRM records, polled back, send nothing to Oracle again.
            for flow, record in (
                ("orders-to-oracle", crm["order"]),
                ("customers-to-oracle", crm["account"]),
                ("requisitions-to-oracle", crm["case"]),
                ("products-to-oracle", crm["spare"]),
            ):
                await bridge.sync(flow, ids=[record], trigger=Trigger.POLL)
                assert bridge.outcomes(flow)[-1][1] in ("echo", "unchanged"), flow

            # Exactly once: the same syncs again, and again from an empty store (no xref):
            # the natural keys find the records, nothing is created twice.
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])
            await bridge.sync("customers-to-oracle", ids=[crm["account"]])
            fresh = bridge.fork(tmp_path / "fresh.db")
            try:
                await fresh.sync("orders-to-oracle", ids=[crm["order"]])
                await fresh.sync("requisitions-to-oracle", ids=[crm["case"]])
                assert fresh.outcomes("customers-to-oracle") == [(crm["account"], "updated")]
                # Oracle holds this very order (closed by now): nothing is sent again.
                assert fresh.outcomes("orders-to-oracle")[-1] == (crm["order"], "unchanged")
                assert fresh.dead_letters() == []
            finally:
                await close(fresh)
                fresh.store.dispose()
            [order] = await _oracle_order_of(bridge, crm["order"])
            assert len(_lines(order)) == 2
            assert len(await _party_of(bridge, crm["account"])) == 1
            assert len(await bridge.find("oracle", "itemsV2", "ItemNumber", [f"E2E-{tag}-M1"])) == 1
            [requisition] = await _requisition_of(bridge, crm["case_number"])
            assert len(cast(list[object], requisition["lines"])) == 1
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def _sf_session(bridge: Bridge) -> tuple[str, str]:
    """(instance URL, access token) by the OAuth 2.0 username-password flow."""
    entry = bridge.sims["salesforce"].entry
    async with httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=str(entry["ca_file"])), timeout=30
    ) as http:
        answer = await http.post(
            f"{entry['base_url']}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": entry["client_id"],
                "client_secret": entry["client_secret"],
                "username": entry["username"],
                "password": entry["password"],
            },
        )
    answer.raise_for_status()
    token = answer.json()
    return str(token["instance_url"]), str(token["access_token"])


async def test_outbound_message_brings_a_new_account_to_oracle(tmp_path: Path) -> None:
    """Salesforce's outbound message (SOAP, to /hooks/salesforce) queues the account."""
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            entry = bridge.sims["salesforce"].entry
            receiver = bridge.fork_runtime()  # its own hub, as `erpbridge serve` would be
            with serve_app(create_app(receiver.hub)) as hub_server:
                instance, token = await _sf_session(bridge)
                async with httpx.AsyncClient(
                    base_url=instance,
                    verify=ssl.create_default_context(cafile=str(entry["ca_file"])),
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                ) as sf:
                    configured = await sf.put(
                        "/_sim/outbound",
                        json=[
                            {"url": f"{hub_server.base_url}/hooks/salesforce", "object": "Account"}
                        ],
                    )
                    configured.raise_for_status()
                    tag = uuid.uuid4().hex[:6].upper()
                    account = await bridge.create(
                        "salesforce",
                        "Account",
                        {"Name": f"Outbound E2E {tag}", "BillingCountry": "US"},
                    )
                    for _ in range(100):  # the message is delivered asynchronously
                        if bridge.open_jobs():
                            break
                        await asyncio.sleep(0.1)
            assert [f for f, _, _ in bridge.open_jobs()] == ["customers-to-oracle"]
            await bridge.drain()
            [party] = await _party_of(bridge, account)
            assert (party["OrganizationName"], party["Country"]) == (f"Outbound E2E {tag}", "US")
            assert bridge.outcomes("customers-to-oracle") == [(account, "created")]
        finally:
            await close(bridge)


async def test_stock_comes_to_the_crm_from_oracle(tmp_path: Path) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            # A seeded Oracle item with finished-goods stock in M1, and the CRM product
            # that names it by its ERP number.
            [stock] = [
                r
                for r in await bridge.find(
                    "oracle", "onhandQuantityDetails", "SubinventoryCode", ["FGI"]
                )
                if r.fields["OrganizationCode"] == "M1" and r.fields["PrimaryQuantity"]
            ][:1]
            number = str(stock.fields["ItemNumber"])
            book = await _standard_price_book(bridge)
            product = await _product(bridge, book, Name=f"Oracle item {number}", ProductCode=number)
            await bridge.update("salesforce", "Product2", product, {"ERP_Material__c": number})
            await bridge.sync("inventory-from-oracle", ids=[stock.id])
            crm_product = await bridge.get("salesforce", "Product2", product)
            assert Decimal(str(crm_product.fields["Stock_On_Hand__c"])) == Decimal(
                str(stock.fields["PrimaryQuantity"])
            )
            assert bridge.outcomes("inventory-from-oracle") == [(stock.id, "updated")]
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_order_round_trip_is_exactly_once_through_faults(tmp_path: Path) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            started = datetime.now(UTC) - timedelta(seconds=2)
            tag = uuid.uuid4().hex[:6].upper()
            crm = await _crm_records(bridge, tag)
            faults = FaultConfig(error_rate=0.1, throttle_rate=0.1, lost_reply_rate=0.1)
            bridge.sims["oracle"].app.configure(faults)  # type: ignore[attr-defined]
            bridge.sims["salesforce"].app.configure(  # type: ignore[attr-defined]
                FaultConfig(error_rate=0.1, lost_reply_rate=0.1, path_prefix="/services/data")
            )
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])
            await bridge.sync("requisitions-to-oracle", ids=[crm["case"]])
            bridge.sims["oracle"].app.configure(FaultConfig())  # type: ignore[attr-defined]
            [order] = await _oracle_order_of(bridge, crm["order"])
            [party] = await _party_of(bridge, crm["account"])
            await _tick(bridge)
            bridge.sims["oracle"].app.configure(faults)  # type: ignore[attr-defined]
            await bridge.sync("customers-from-oracle", ids=[str(party["_id"])])
            await bridge.sync("orders-from-oracle", ids=[str(order["_id"])])
            for sim in bridge.sims.values():
                sim.app.configure(FaultConfig())  # type: ignore[attr-defined]

            assert order["BuyingPartyNumber"] == party["PartyNumber"]
            assert len(_lines(order)) == 2
            assert len(await _oracle_order_of(bridge, crm["order"])) == 1
            assert len(await _requisition_of(bridge, crm["case_number"])) == 1
            assert len(await bridge.find("oracle", "itemsV2", "ItemNumber", [f"E2E-{tag}-M1"])) == 1
            crm_order = await bridge.get("salesforce", "Order", crm["order"])
            assert (crm_order.fields["ERP_SalesOrder__c"], crm_order.fields["ERP_Status__c"]) == (
                order["OrderNumber"],
                "Awaiting billing",
            )
            account = await bridge.get("salesforce", "Account", crm["account"])
            assert account.fields["ERP_Customer_Id__c"] == party["PartyNumber"]
            assert bridge.dead_letters() == []
            failed = bridge.failed_attempts()  # the faults did hit the writes
            assert failed.get("transient", 0) + failed.get("rate_limited", 0) >= 1, failed
            for flow in ("customers-to-oracle", "orders-to-oracle", "requisitions-to-oracle"):
                assert await bridge.recon(flow, since=started) == [], flow
        finally:
            await close(bridge)


async def test_crm_rename_after_erp_write_back_reaches_oracle(tmp_path: Path) -> None:
    """Ownership both ways: Oracle's number on the account does not hide a later CRM rename."""
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            crm = await _crm_records(bridge, tag)
            await bridge.sync("customers-to-oracle", ids=[crm["account"]])
            [party] = await _party_of(bridge, crm["account"])
            await bridge.sync("customers-from-oracle", ids=[str(party["_id"])])
            await bridge.update(
                "salesforce", "Account", crm["account"], {"Name": f"新名称 E2E {tag}"}
            )
            await bridge.sync("customers-to-oracle", ids=[crm["account"]], trigger=Trigger.POLL)
            assert bridge.outcomes("customers-to-oracle")[-1] == (crm["account"], "updated")
            [party] = await _party_of(bridge, crm["account"])
            assert party["OrganizationName"] == f"新名称 E2E {tag}"
            # Our rename of the party, polled back, maps to the number the account has.
            await bridge.sync(
                "customers-from-oracle", ids=[str(party["_id"])], trigger=Trigger.POLL
            )
            assert bridge.outcomes("customers-from-oracle")[-1] == (str(party["_id"]), "unchanged")
            # Receivables shows the party's new name on its customer account.
            [account] = await bridge.find(
                "oracle",
                "receivablesCustomerAccountActivities",
                "PartyNumber",
                [str(party["PartyNumber"])],
            )
            assert account.fields["CustomerName"] == f"新名称 E2E {tag}"
        finally:
            await close(bridge)


async def test_lost_answer_to_order_create_makes_no_duplicate(tmp_path: Path) -> None:
    """The retry finds the order by its key (and Upsert-Mode would match it too)."""
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            crm = await _crm_records(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.sync("products-to-oracle", ids=[crm["hardware"], crm["spare"]])
            await bridge.sync("customers-to-oracle", ids=[crm["account"]])
            middleware = bridge.sims["oracle"].app
            loser = _LoseFirstBatchAnswer(middleware.app)  # type: ignore[attr-defined]
            middleware.app = loser  # type: ignore[attr-defined]
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])
            assert loser.lost == 1
            [order] = await _oracle_order_of(bridge, crm["order"])
            assert len(_lines(order)) == 2
            assert bridge.dead_letters() == []
            assert bridge.failed_attempts() == {"transient": 1}
            # The retry finds the order Oracle made with this very content: nothing to send.
            assert bridge.outcomes("orders-to-oracle") == [(crm["order"], "unchanged")]
        finally:
            await close(bridge)


async def test_order_with_new_customer_and_products_syncs_its_dependencies(
    tmp_path: Path,
) -> None:
    """Only the order is queued: the engine syncs its customer and both products first."""
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            crm = await _crm_records(bridge, uuid.uuid4().hex[:6].upper())
            await sync_flow(
                bridge.store, bridge.runtime, "orders-to-oracle", bridge.clock, ids=[crm["order"]]
            )
            for _ in range(20):  # two minutes of worker rounds: plenty for three dependencies
                await Worker(
                    bridge.store, bridge.runtime, bridge.plans, clock=bridge.clock
                ).run_once()
                bridge.clock.advance(6.0)
            assert len(await _oracle_order_of(bridge, crm["order"])) == 1
        finally:
            await close(bridge)


async def test_product_oracle_refuses_is_one_dead_letter_with_oracles_message(
    tmp_path: Path,
) -> None:
    """A unit of measure Oracle does not have: the item is refused, in Oracle's words; the
    order naming it waits for it, then is a dead letter naming the product."""
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            crm = await _crm_records(bridge, uuid.uuid4().hex[:6].upper(), unit="Pallet")
            await bridge.sync("products-to-oracle", ids=[crm["hardware"], crm["spare"]])
            [(flow, record, message)] = bridge.dead_letters()
            assert (flow, record) == ("products-to-oracle", crm["hardware"])
            assert "'Pallet' of the attribute PrimaryUOMCode isn't valid" in message
            [hint] = bridge.dead_letter_hints()
            assert "PrimaryUOMCode" in hint
            assert bridge.outcomes("products-to-oracle") == [(crm["spare"], "created")]

            await sync_flow(
                bridge.store, bridge.runtime, "orders-to-oracle", bridge.clock, ids=[crm["order"]]
            )
            worker = Worker(bridge.store, bridge.runtime, bridge.plans, clock=bridge.clock)
            for _ in range(5):
                await worker.run_once()
                bridge.clock.advance(6.0)
            assert [f for f, _, state in bridge.open_jobs() if state == "parked"] == [
                "orders-to-oracle"
            ]
            bridge.clock.advance(31 * 60)  # past the flow's dependency_timeout (30m)
            await bridge.drain()
            # Still one dead letter for the product (its failure is not repeated), and one
            # for the order whose hint carries the product's: Oracle's words reach the order.
            dead = bridge.dead_letters()
            assert [(f, r) for f, r, _ in dead] == [
                ("products-to-oracle", crm["hardware"]),
                ("orders-to-oracle", crm["order"]),
            ]
            order_hint = bridge.dead_letter_hints()[1]
            assert f"{crm['hardware']!r} is a dead letter in products-to-oracle" in order_hint
            assert "PrimaryUOMCode isn't valid" in order_hint
            assert await _oracle_order_of(bridge, crm["order"]) == []
        finally:
            await close(bridge)


async def test_order_oracle_rejects_is_one_dead_letter_with_oracles_message(
    tmp_path: Path,
) -> None:
    """An item made inactive in Oracle: Order Hub refuses the order, nothing is half-written."""
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            crm = await _crm_records(bridge, tag)
            await bridge.sync("products-to-oracle", ids=[crm["hardware"], crm["spare"]])
            [item] = await bridge.find("oracle", "itemsV2", "ItemNumber", [f"E2E-{tag}-M1"])
            await bridge.update("oracle", "itemsV2", item.id, {"ItemStatusCode": "Inactive"})
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])
            [(flow, record, message)] = bridge.dead_letters()
            assert (flow, record) == ("orders-to-oracle", crm["order"])
            assert f"The item E2E-{tag}-M1 can't be ordered" in message
            [hint] = bridge.dead_letter_hints()
            assert "ProductId" in hint and "replay" in hint
            assert await _oracle_order_of(bridge, crm["order"]) == []
        finally:
            await close(bridge)


async def test_account_with_a_country_oracle_does_not_know_is_one_dead_letter(
    tmp_path: Path,
) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            account = await bridge.create(
                "salesforce", "Account", {"Name": "Nowhere Ltd", "BillingCountry": "Atlantis"}
            )
            await bridge.sync("customers-to-oracle", ids=[account])
            [(flow, record, message)] = bridge.dead_letters()
            assert (flow, record) == ("customers-to-oracle", account)
            assert "'ATLANTIS' of the attribute Country isn't valid" in message
            assert "'Country'" in bridge.dead_letter_hints()[0]
            assert await _party_of(bridge, account) == []
        finally:
            await close(bridge)


async def test_order_for_a_party_without_receivables_account_waits_for_a_person(
    tmp_path: Path,
) -> None:
    """A real pod's gap: REST makes the party, not its account. Order Hub refuses the order
    in its own words; once Receivables opens the account, a replay brings the order in."""
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            await _sim_control(bridge, "/sim/receivables", {"auto_accounts": False})
            crm = await _crm_records(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])
            [(flow, record, message)] = bridge.dead_letters()
            assert (flow, record) == ("orders-to-oracle", crm["order"])
            assert "has no active customer account" in message
            assert "'BuyingPartyNumber'" in bridge.dead_letter_hints()[0]
            assert await _oracle_order_of(bridge, crm["order"]) == []

            opened = await _sim_control(bridge, "/sim/receivables", {"open_accounts": True})
            assert opened["opened"] == 1
            with bridge.store.begin() as conn:
                replay_dead_letters(
                    conn,
                    DeadLetterFilter(flow="orders-to-oracle"),
                    list(bridge.plans),
                    dry_run=False,
                    actor="ops",
                    now=bridge.clock.now(),
                )
            await bridge.drain()
            assert bridge.dead_letters() == []
            [order] = await _oracle_order_of(bridge, crm["order"])
            assert (order["StatusCode"], len(_lines(order))) == ("OPEN", 2)
        finally:
            await close(bridge)


# --- changes and cancellation after Oracle has the order (flow 2) ----------------------------


async def _order_in_oracle(bridge: Bridge, tag: str) -> tuple[dict[str, str], dict[str, object]]:
    """A new CRM order synced to Oracle, and Oracle's number written back onto it."""
    crm = await _crm_records(bridge, tag)
    await bridge.sync("orders-to-oracle", ids=[crm["order"]])
    [order] = await _oracle_order_of(bridge, crm["order"])
    await bridge.sync("orders-from-oracle", ids=[str(order["_id"])])
    return crm, order


async def _crm_lines(bridge: Bridge, order: str) -> dict[str, str]:
    """Product id -> OrderItem id of a CRM order."""
    items = await bridge.find("salesforce", "OrderItem", "OrderId", [order])
    return {str(i.fields["Product2Id"]): i.id for i in items}


def _oracle_lines(order: dict[str, object]) -> dict[str, tuple[Decimal, str]]:
    """CRM line id -> (quantity, Oracle line status)."""
    return {
        str(line["SourceTransactionLineId"]): (
            Decimal(str(line["OrderedQuantity"])),
            str(line["StatusCode"]),
        )
        for line in _lines(order)
    }


async def test_changed_crm_order_becomes_an_oracle_revision(tmp_path: Path) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            crm, order = await _order_in_oracle(bridge, tag)
            lines = await _crm_lines(bridge, crm["order"])
            hardware, spare = lines[crm["hardware"]], lines[crm["spare"]]
            # The sales rep reopens the order, changes one line, removes one, adds one.
            book = await _standard_price_book(bridge)
            extra = await _product(
                bridge, book, Name=f"编码器 {tag}", ProductCode=f"P-{tag}-3", Family="Hardware"
            )
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Draft"})
            await bridge.update("salesforce", "OrderItem", hardware, {"Quantity": 5})
            [gone] = await bridge.connector("salesforce").write(
                "OrderItem", [WriteOp(WriteMode.DELETE, {}, target_id=spare)]
            )
            assert gone.outcome is WriteOutcome.DELETED, gone.error
            [entry] = await bridge.find("salesforce", "PricebookEntry", "Product2Id", [extra])
            added = await bridge.create(
                "salesforce",
                "OrderItem",
                {
                    "OrderId": crm["order"],
                    "PricebookEntryId": entry.id,
                    "Quantity": 2,
                    "UnitPrice": 99.5,
                },
            )
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Activated"})
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])  # the new product first

            [after] = await _oracle_order_of(bridge, crm["order"])
            assert (after["_id"], after["OrderNumber"]) == (order["_id"], order["OrderNumber"])
            assert after["SourceTransactionRevisionNumber"] == 2
            assert _oracle_lines(after) == {
                hardware: (Decimal(5), "AWAIT_SHIP"),
                spare: (Decimal(12), "CANCELED"),
                added: (Decimal(2), "AWAIT_SHIP"),
            }
            # The same order again (a poll of the write-back): no new revision.
            await bridge.sync("orders-to-oracle", ids=[crm["order"]], trigger=Trigger.POLL)
            [again] = await _oracle_order_of(bridge, crm["order"])
            assert again["SourceTransactionRevisionNumber"] == 2
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_cancelled_crm_order_cancels_the_oracle_order(tmp_path: Path) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            crm, order = await _order_in_oracle(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Cancelled"})
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])

            [cancelled] = await _oracle_order_of(bridge, crm["order"])
            assert (cancelled["StatusCode"], cancelled["CanceledFlag"]) == ("CANCELED", True)
            assert cancelled["CancelReasonCode"] == "CUST_REQUEST"
            assert {status for _, status in _oracle_lines(cancelled).values()} == {"CANCELED"}
            account = int(
                cast(list[dict[str, Any]], cancelled["billToCustomer"])[0]["CustomerAccountId"]
            )
            profile = await bridge.get("oracle", "customerCreditProfiles", str(account))
            assert Decimal(str(profile.fields["CreditExposure"])) == 0  # released
            await _tick(bridge)  # nothing is shipped from a cancelled order
            await bridge.sync("orders-from-oracle", ids=[str(order["_id"])])
            crm_order = await bridge.get("salesforce", "Order", crm["order"])
            assert crm_order.fields["ERP_Status__c"] == "Cancelled"
            await bridge.sync("orders-to-oracle", ids=[crm["order"]], trigger=Trigger.POLL)
            assert bridge.outcomes("orders-to-oracle")[-1][1] in ("echo", "unchanged")

            # An order cancelled before it ever reached Oracle is not created there.
            other = await _crm_records(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.update("salesforce", "Order", other["order"], {"Status": "Cancelled"})
            await bridge.sync("orders-to-oracle", ids=[other["order"]])
            assert bridge.outcomes("orders-to-oracle")[-1] == (other["order"], "filtered")
            assert await _oracle_order_of(bridge, other["order"]) == []
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_cancel_after_shipping_is_one_clear_dead_letter(tmp_path: Path) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            crm, order = await _order_in_oracle(bridge, uuid.uuid4().hex[:6].upper())
            await _tick(bridge)  # Oracle ships the order
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Cancelled"})
            await bridge.sync("orders-to-oracle", ids=[crm["order"]])

            [(flow, source_id, message)] = bridge.dead_letters()
            assert (flow, source_id) == ("orders-to-oracle", crm["order"])
            assert f"You can't cancel sales order {order['OrderNumber']}" in message  # Oracle's
            assert "is already shipped" in message
            [hint] = bridge.dead_letter_hints()
            assert hint.startswith(
                f"Oracle order {order['OrderNumber']} is already shipped, so Oracle refuses to "
                "cancel it; cancel what is left in Oracle Order Management or create a return"
            )
            assert bridge.failed_attempts() == {"validation": 1}  # no retries of a refusal
            [after] = await _oracle_order_of(bridge, crm["order"])
            assert after["StatusCode"] == "OPEN"
            assert {status for _, status in _oracle_lines(after).values()} == {"AWAIT_BILLING"}
        finally:
            await close(bridge)


# --- credit hold (flow 3) ----------------------------------------------------------------------


def _held(bridge: Bridge) -> list[tuple[str, str]]:
    with bridge.store.connect() as conn:
        return [(str(r["source_id"]), str(r["hold_reason"])) for r in list_held(conn)]


async def test_order_over_credit_is_held_flagged_then_released_by_approval_and_by_credit(
    tmp_path: Path,
) -> None:
    with running_template("sf-oracle", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            # The account's first order: no credit limit in the CRM yet, so not checked.
            crm, _ = await _order_in_oracle(bridge, tag)
            [party] = await _party_of(bridge, crm["account"])
            await bridge.sync("customers-from-oracle", ids=[str(party["_id"])])
            [profile] = await bridge.find(
                "oracle", "customerCreditProfiles", "PartyNumber", [str(party["PartyNumber"])]
            )
            exposure = Decimal(str(profile.fields["CreditExposure"]))
            assert exposure == 15 * 990
            # Credit control in Oracle cuts the limit to what the account uses plus 1,000.
            await _sim_control(
                bridge, "/sim/credit",
                {"CustomerAccountId": int(profile.id), "OverallCreditLimit": float(exposure + 1000)},
            )  # fmt: skip
            await bridge.sync("credit-from-oracle", ids=[profile.id])
            book = await _standard_price_book(bridge)
            within = await _activated_order(bridge, crm["account"], book, [(crm["hardware"], 1)])
            first = await _activated_order(bridge, crm["account"], book, [(crm["hardware"], 3)])
            second = await _activated_order(bridge, crm["account"], book, [(crm["hardware"], 3)])
            await bridge.sync("orders-to-oracle", ids=[within, first, second])

            # 990 CNY is within the 1,000 available: straight to Oracle, no flag.
            assert len(await _oracle_order_of(bridge, within)) == 1
            assert not (await bridge.get("salesforce", "Order", within)).fields["Credit_Hold__c"]
            # 2,970 CNY each is over it: held, flagged on the CRM order, not in Oracle.
            for order in (first, second):
                assert await _oracle_order_of(bridge, order) == []
                fields = (await bridge.get("salesforce", "Order", order)).fields
                assert fields["Credit_Hold__c"] is True
                assert fields["Credit_Hold_Reason__c"] == (
                    "over credit: order 2970.00 CNY, available 1000.00 CNY"
                )
            assert sorted(s for s, _ in _held(bridge)) == sorted([first, second])

            # Credit control approves the first order in Salesforce: it goes to Oracle once.
            await bridge.update("salesforce", "Order", first, {"Credit_Approved__c": True})
            await bridge.sync("orders-to-oracle", ids=[first], trigger=Trigger.POLL)
            await bridge.sync("orders-to-oracle", ids=[first], trigger=Trigger.POLL)
            assert len(await _oracle_order_of(bridge, first)) == 1
            fields = (await bridge.get("salesforce", "Order", first)).fields
            assert (fields["Credit_Hold__c"], fields["Credit_Hold_Reason__c"]) == (False, None)
            assert [s for s, _ in _held(bridge)] == [second]

            # Oracle raises the credit limit; the recheck lets the second order through.
            await _sim_control(
                bridge, "/sim/credit",
                {"CustomerAccountId": int(profile.id), "OverallCreditLimit": 1_000_000},
            )  # fmt: skip
            await bridge.sync("credit-from-oracle", ids=[profile.id])
            checked = await recheck_held(
                bridge.store, bridge.runtime, bridge.plans, bridge.clock, due_only=False
            )
            assert (checked.released, checked.held) == (1, 0), _held(bridge)
            await bridge.drain()
            assert len(await _oracle_order_of(bridge, second)) == 1
            fields = (await bridge.get("salesforce", "Order", second)).fields
            assert (fields["Credit_Hold__c"], fields["Credit_Hold_Reason__c"]) == (False, None)
            assert _held(bridge) == []
            assert len(await _oracle_order_of(bridge, first)) == 1
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)
