"""End to end: the sf-sap template moving data between the Salesforce and SAP simulators.

Records are made and changed through each system's own API (the connectors' writes, and
SAP's ``/sim/tick`` business day), flows are driven with the engine, and every outcome is
read back through the systems' APIs.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import cast

import httpx
import pytest
import sqlalchemy as sa

from erpbridge.api.app import create_app
from erpbridge.engine.held_jobs import list_held
from erpbridge.engine.hold_recheck import recheck_held
from erpbridge.engine.intake import poll_flow, sync_flow
from erpbridge.engine.jobs import Trigger
from erpbridge.engine.recon import apply_repairs
from erpbridge.engine.worker import Worker
from erpbridge.sims._common.faults import FaultConfig, FaultKind
from erpbridge.sims._common.server import serve_app
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.store.schema import dead_letters
from tests.flows.harness import Bridge, close, planted_recon, running_template

pytestmark = pytest.mark.slow

SYSTEMS = ("salesforce", "sap")


async def _standard_price_book(bridge: Bridge) -> str:
    [book] = await bridge.find("salesforce", "Pricebook2", "Name", ["Standard Price Book"])
    return book.id


async def _product(bridge: Bridge, book: str, **fields: object) -> str:
    product = await bridge.create("salesforce", "Product2", {"IsActive": True, **fields})
    await bridge.create(
        "salesforce",
        "PricebookEntry",
        {"Pricebook2Id": book, "Product2Id": product, "UnitPrice": 1280.5, "IsActive": True},
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
                "UnitPrice": 1280.5,
            },
        )
    await bridge.update("salesforce", "Order", order, {"Status": "Activated"})
    return order


async def _new_customer_and_order(bridge: Bridge, tag: str) -> dict[str, str]:
    """A new account, two new products and an activated order with two lines."""
    book = await _standard_price_book(bridge)
    account = await bridge.create(
        "salesforce",
        "Account",
        {
            "Name": f"上海 E2E 精密机械有限公司 {tag}",
            "AccountNumber": f"e2e-{tag}",
            "Type": "Customer - Direct",
            "BillingStreet": "张江路 88 号",
            "BillingCity": "上海",
            "BillingPostalCode": "201203",
            "BillingCountry": "CN",
        },
    )
    hardware = await _product(
        bridge,
        book,
        Name=f"伺服电机 {tag}",
        ProductCode=f"P-{tag}-1",
        ERP_Material__c=f"E2E-{tag}-M1",
        Family="Hardware",
        QuantityUnitOfMeasure="台",
    )
    spare = await _product(
        bridge, book, Name=f"Seal kit {tag}", ProductCode=f"p-{tag}-2", Family="Spare Parts"
    )
    order = await _activated_order(bridge, account, book, [(hardware, 3), (spare, 12)])
    number = (await bridge.get("salesforce", "Order", order)).fields["OrderNumber"]
    return {
        "account": account,
        "hardware": hardware,
        "spare": spare,
        "order": order,
        "reference": f"SF-{number}",
    }


async def _sap_order_of(bridge: Bridge, crm: dict[str, str]) -> list[dict[str, object]]:
    """SAP sales orders whose customer reference is the CRM order's (SF-<OrderNumber>)."""
    found = await bridge.find("sap", "A_SalesOrder", "PurchaseOrderByCustomer", [crm["reference"]])
    return [dict(r.fields, _id=r.id) for r in found]


async def _tick(bridge: Bridge) -> None:
    """One SAP business day: open orders are delivered, delivered ones invoiced."""
    entry = bridge.sims["sap"].entry
    async with httpx.AsyncClient(
        base_url=str(entry["base_url"]),
        auth=(str(entry["username"]), str(entry["password"])),
        timeout=30,
    ) as http:
        answer = await http.post("/sim/tick")
    answer.raise_for_status()


async def test_customer_products_and_order_reach_sap_with_lines_and_status_comes_back(
    tmp_path: Path,
) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            started = datetime.now(UTC) - timedelta(seconds=2)
            tag = uuid.uuid4().hex[:6].upper()
            crm = await _new_customer_and_order(bridge, tag)
            await bridge.sync("products-to-sap", ids=[crm["hardware"], crm["spare"]])
            # The order parks on its customer; the engine syncs the account through
            # customers-to-sap (depends_on) and then writes the order.
            await bridge.sync("orders-to-sap", ids=[crm["order"]])
            await bridge.sync("customer-addresses-to-sap", ids=[crm["account"]])

            [partner] = await bridge.find("sap", "A_BusinessPartner", "SearchTerm1", [f"E2E-{tag}"])
            assert partner.fields["OrganizationBPName1"] == f"上海 E2E 精密机械有限公司 {tag}"
            assert partner.fields["BusinessPartnerCategory"] == "2"
            assert partner.fields["CorrespondenceLanguage"] == "ZH"
            [address] = cast(list[dict[str, object]], partner.fields["to_BusinessPartnerAddress"])
            assert (address["CityName"], address["PostalCode"], address["Country"]) == (
                "上海",
                "201203",
                "CN",
            )
            [material] = await bridge.find("sap", "A_Product", "Product", [f"E2E-{tag}-M1"])
            assert (material.fields["ProductType"], material.fields["BaseUnit"]) == ("FERT", "PC")
            assert await bridge.find("sap", "A_Product", "Product", [f"P-{tag}-2"])

            [order] = await _sap_order_of(bridge, crm)
            assert order["SoldToParty"] == partner.id
            assert order["SalesOrganization"] == "1710"
            assert order["TransactionCurrency"] == "CNY"
            lines = sorted(
                (str(i["Material"]), Decimal(str(i["RequestedQuantity"])))
                for i in order["to_Item"]  # type: ignore[attr-defined]
            )
            assert lines == [(f"E2E-{tag}-M1", Decimal(3)), (f"P-{tag}-2", Decimal(12))]

            # Reconciliation: what each mapping expects is what SAP holds, field by field.
            for flow in ("customers-to-sap", "products-to-sap", "orders-to-sap"):
                assert await bridge.recon(flow, since=started) == [], flow
            # Every mapped field exists in both systems' describe(); the only warnings are
            # fields required on create that update-only flows leave alone.
            report = await bridge.validate_online(tmp_path)
            assert (report["ok"], report["errors"]) == (True, [])
            assert {w["reason"].split(" field ")[0] for w in report["warnings"]} <= {
                "required target"
            }

            # Back to the CRM: SAP's numbers, then status as the business days pass.
            await bridge.sync("customers-from-sap", ids=[partner.id])
            account = await bridge.get("salesforce", "Account", crm["account"])
            assert account.fields["ERP_Customer_Id__c"] == partner.id
            # SAP's order number and status reach the CRM order at once, then as SAP works.
            for expected in ("Open", "Delivered", "Invoiced"):
                if expected != "Open":
                    await _tick(bridge)
                await bridge.sync("orders-from-sap", ids=[str(order["_id"])])
                crm_order = await bridge.get("salesforce", "Order", crm["order"])
                assert (
                    crm_order.fields["ERP_SalesOrder__c"],
                    crm_order.fields["ERP_Status__c"],
                ) == (
                    order["_id"],
                    expected,
                )

            # Our write onto the CRM order, polled back, sends nothing to SAP again.
            await bridge.sync("orders-to-sap", ids=[crm["order"]], trigger=Trigger.POLL)
            assert bridge.outcomes("orders-to-sap")[-1][1] in ("echo", "unchanged")

            # Exactly once: the same syncs again, and again from an empty store (no xref):
            # the natural keys find the records, nothing is created twice.
            await bridge.sync("orders-to-sap", ids=[crm["order"]])
            await bridge.sync("customers-to-sap", ids=[crm["account"]])
            fresh = bridge.fork(tmp_path / "fresh.db")
            try:
                await fresh.sync("products-to-sap", ids=[crm["hardware"], crm["spare"]])
                await fresh.sync("customers-to-sap", ids=[crm["account"]])
                assert fresh.outcomes("customers-to-sap") == [(crm["account"], "updated")]
                assert fresh.dead_letters() == []
            finally:
                await close(fresh)
                fresh.store.dispose()
            assert len(await _sap_order_of(bridge, crm)) == 1
            assert (
                len(await bridge.find("sap", "A_BusinessPartner", "SearchTerm1", [f"E2E-{tag}"]))
                == 1
            )
            assert len(await bridge.find("sap", "A_Product", "Product", [f"E2E-{tag}-M1"])) == 1
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


async def test_outbound_message_brings_a_new_account_to_sap(tmp_path: Path) -> None:
    """Salesforce's outbound message (SOAP, to /hooks/salesforce) queues the account."""
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            entry = bridge.sims["salesforce"].entry
            # The receiver is its own hub, as `erpbridge serve` would be: its connectors
            # live on the server thread's event loop (and end with it).
            receiver = bridge.fork_runtime()
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
                        {"Name": f"Outbound E2E {tag}", "AccountNumber": f"OB-{tag}"},
                    )
                    for _ in range(100):  # the message is delivered asynchronously
                        if bridge.open_jobs():
                            break
                        await asyncio.sleep(0.1)
            assert sorted(f for f, _, _ in bridge.open_jobs()) == [
                "customer-addresses-to-sap",
                "customers-to-sap",
            ]
            await bridge.drain()
            [partner] = await bridge.find("sap", "A_BusinessPartner", "SearchTerm1", [f"OB-{tag}"])
            assert partner.fields["OrganizationBPName1"] == f"Outbound E2E {tag}"
            assert bridge.outcomes("customers-to-sap") == [(account, "created")]
            assert bridge.outcomes("customer-addresses-to-sap") == [(account, "filtered")]
        finally:
            await close(bridge)


async def test_stock_and_credit_come_to_the_crm_from_sap(tmp_path: Path) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            # A CRM product linked to SAP material TG0011 by its ERP number.
            book = await _standard_price_book(bridge)
            product = await _product(
                bridge, book, Name="Servo motor TG0011", ProductCode="P-TG0011"
            )
            await bridge.update("salesforce", "Product2", product, {"ERP_Material__c": "TG0011"})
            await bridge.sync("inventory-from-sap", ids=["TG0011"])
            stock = await bridge.get("sap", "A_MaterialStock", "TG0011")
            unrestricted = sum(
                (
                    Decimal(str(s["MatlWrhsStkQtyInMatlBaseUnit"]))
                    for s in cast(list[dict[str, object]], stock.fields["to_MatlStkInAcctMod"])
                    if s["InventoryStockType"] == "01"
                ),
                Decimal(0),
            )
            assert unrestricted > 0
            crm_product = await bridge.get("salesforce", "Product2", product)
            assert Decimal(str(crm_product.fields["Stock_On_Hand__c"])) == unrestricted

            # Credit: a seeded account that SAP knows as business partner 17100005.
            [account] = await bridge.find(
                "salesforce", "Account", "ERP_Customer_Id__c", ["17100005"]
            )
            [credit] = await bridge.find(
                "sap", "A_CreditManagementAccount", "BusinessPartner", ["17100005"]
            )
            await bridge.sync("credit-from-sap", ids=[credit.id])
            account = await bridge.get("salesforce", "Account", account.id)
            assert Decimal(str(account.fields["Credit_Limit__c"])) == Decimal(
                str(credit.fields["CreditLimitAmount"])
            )
            assert Decimal(str(account.fields["Credit_Exposure__c"])) == Decimal(
                str(credit.fields["CreditExposureAmount"])
            )
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_order_round_trip_is_exactly_once_through_faults(tmp_path: Path) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            crm = await _new_customer_and_order(bridge, tag)
            # Both fail, throttle and lose answers to writes they applied.
            bridge.sims["sap"].app.configure(  # type: ignore[attr-defined]
                FaultConfig(
                    error_rate=0.1, throttle_rate=0.1, lost_reply_rate=0.1, path_prefix="/sap/opu"
                )
            )
            bridge.sims["salesforce"].app.configure(  # type: ignore[attr-defined]
                FaultConfig(error_rate=0.1, lost_reply_rate=0.1, path_prefix="/services/data")
            )
            await bridge.sync("products-to-sap", ids=[crm["hardware"], crm["spare"]])
            await bridge.sync("orders-to-sap", ids=[crm["order"]])
            await bridge.sync("orders-to-sap", ids=[crm["order"]])
            bridge.sims["sap"].app.configure(FaultConfig())  # type: ignore[attr-defined]
            [order] = await _sap_order_of(bridge, crm)
            bridge.sims["sap"].app.configure(  # type: ignore[attr-defined]
                FaultConfig(
                    error_rate=0.1, throttle_rate=0.1, lost_reply_rate=0.1, path_prefix="/sap/opu"
                )
            )
            await bridge.sync("customers-from-sap", ids=[str(order["SoldToParty"])])
            await _tick(bridge)
            await bridge.sync("orders-from-sap", ids=[str(order["_id"])])
            for sim in bridge.sims.values():
                sim.app.configure(FaultConfig())  # type: ignore[attr-defined]

            [partner] = await bridge.find("sap", "A_BusinessPartner", "SearchTerm1", [f"E2E-{tag}"])
            assert order["SoldToParty"] == partner.id
            assert len(order["to_Item"]) == 2  # type: ignore[arg-type]
            assert len(await _sap_order_of(bridge, crm)) == 1
            assert len(await bridge.find("sap", "A_Product", "Product", [f"E2E-{tag}-M1"])) == 1
            crm_order = await bridge.get("salesforce", "Order", crm["order"])
            assert (crm_order.fields["ERP_SalesOrder__c"], crm_order.fields["ERP_Status__c"]) == (
                order["_id"],
                "Delivered",
            )
            account = await bridge.get("salesforce", "Account", crm["account"])
            assert account.fields["ERP_Customer_Id__c"] == partner.id
            assert bridge.dead_letters() == []
            failed = bridge.failed_attempts()  # the faults did hit the writes
            assert failed.get("transient", 0) + failed.get("rate_limited", 0) >= 1, failed
        finally:
            await close(bridge)


async def test_crm_rename_after_erp_write_back_reaches_sap(tmp_path: Path) -> None:
    """Ownership both ways: SAP's number on the account does not hide a later CRM rename."""
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            crm = await _new_customer_and_order(bridge, tag)
            await bridge.sync("customers-to-sap", ids=[crm["account"]])
            [partner] = await bridge.find("sap", "A_BusinessPartner", "SearchTerm1", [f"E2E-{tag}"])
            await bridge.sync("customers-from-sap", ids=[partner.id])
            await bridge.update(
                "salesforce", "Account", crm["account"], {"Name": f"新名称 E2E {tag}"}
            )
            await bridge.sync("customers-to-sap", ids=[crm["account"]])
            assert bridge.outcomes("customers-to-sap")[-1] == (crm["account"], "updated")
            partner = await bridge.get("sap", "A_BusinessPartner", partner.id)
            assert partner.fields["OrganizationBPName1"] == f"新名称 E2E {tag}"
        finally:
            await close(bridge)


async def test_lost_answer_to_order_create_makes_no_dead_letter(tmp_path: Path) -> None:
    """The retry finds the order by its key and updates its header (SAP has no deep update)."""
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            crm = await _new_customer_and_order(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.sync("products-to-sap", ids=[crm["hardware"], crm["spare"]])
            await bridge.sync("customers-to-sap", ids=[crm["account"]])
            app = bridge.sims["sap"].app
            app.configure(  # type: ignore[attr-defined]
                FaultConfig(path_prefix="/sap/opu/odata/sap/API_SALES_ORDER_SRV/$batch")
            )
            app.force(FaultKind.LOST_REPLY)  # type: ignore[attr-defined]
            await bridge.sync("orders-to-sap", ids=[crm["order"]])
            assert len(await _sap_order_of(bridge, crm)) == 1
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_order_already_in_sap_is_found_by_key_without_a_dead_letter(tmp_path: Path) -> None:
    """An empty store (restored backup) re-syncs an order SAP has: found by key, no duplicate."""
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            crm = await _new_customer_and_order(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.sync("products-to-sap", ids=[crm["hardware"], crm["spare"]])
            await bridge.sync("orders-to-sap", ids=[crm["order"]])
            fresh = bridge.fork(tmp_path / "fresh.db")  # e.g. a store restored from backup
            try:
                await fresh.sync("products-to-sap", ids=[crm["hardware"], crm["spare"]])
                await fresh.sync("orders-to-sap", ids=[crm["order"]])
                dead = fresh.dead_letters()
            finally:
                await close(fresh)
                fresh.store.dispose()
            assert len(await _sap_order_of(bridge, crm)) == 1
            assert dead == []
        finally:
            await close(bridge)


async def test_order_with_new_customer_and_new_products_syncs_its_dependencies(
    tmp_path: Path,
) -> None:
    """Only the order is synced: the engine syncs its customer and both products first."""
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            crm = await _new_customer_and_order(bridge, uuid.uuid4().hex[:6].upper())
            await sync_flow(
                bridge.store, bridge.runtime, "orders-to-sap", bridge.clock, ids=[crm["order"]]
            )
            for _ in range(20):  # two minutes of worker rounds: plenty for three dependencies
                await Worker(
                    bridge.store, bridge.runtime, bridge.plans, clock=bridge.clock
                ).run_once()
                bridge.clock.advance(6.0)
            assert len(await _sap_order_of(bridge, crm)) == 1
        finally:
            await close(bridge)


def _sap_items(order: dict[str, object]) -> dict[str, tuple[str, str, Decimal, str]]:
    """ExternalItemID (the CRM line) -> (item number, material, quantity, rejection)."""
    return {
        str(i["ExternalItemID"]): (
            str(i["SalesOrderItem"]),
            str(i["Material"]),
            Decimal(str(i["RequestedQuantity"])),
            str(i.get("SalesDocumentRjcnReason") or ""),
        )
        for i in cast(list[dict[str, object]], order["to_Item"])
    }


async def _crm_lines(bridge: Bridge, order: str) -> dict[str, str]:
    """Product2Id -> OrderItem id of the CRM order's lines."""
    items = await bridge.find("salesforce", "OrderItem", "OrderId", [order])
    return {str(i.fields["Product2Id"]): i.id for i in items}


async def _order_in_sap(bridge: Bridge, tag: str) -> tuple[dict[str, str], dict[str, object]]:
    """A new CRM order synced to SAP, and SAP's number written back onto it."""
    crm = await _new_customer_and_order(bridge, tag)
    await bridge.sync("products-to-sap", ids=[crm["hardware"], crm["spare"]])
    await bridge.sync("orders-to-sap", ids=[crm["order"]])
    [order] = await _sap_order_of(bridge, crm)
    await bridge.sync("orders-from-sap", ids=[str(order["_id"])])
    return crm, order


async def test_changed_crm_lines_change_exactly_those_sap_items(tmp_path: Path) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            started = datetime.now(UTC) - timedelta(seconds=2)
            tag = uuid.uuid4().hex[:6].upper()
            crm, order = await _order_in_sap(bridge, tag)
            lines = await _crm_lines(bridge, crm["order"])
            hardware, spare = lines[crm["hardware"]], lines[crm["spare"]]
            assert set(_sap_items(order)) == {hardware, spare}
            # The sales rep reopens the order (Salesforce locks the lines of an activated
            # order), changes one line, removes one, adds one, and activates it again.
            book = await _standard_price_book(bridge)
            extra = await _product(
                bridge, book, Name=f"Encoder {tag}", ProductCode=f"P-{tag}-3", Family="Hardware"
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
            # The new product is synced first (depends_on), then the order's lines.
            await bridge.sync("orders-to-sap", ids=[crm["order"]])

            [after] = await _sap_order_of(bridge, crm)
            assert after["_id"] == order["_id"]
            assert _sap_items(after) == {
                hardware: ("10", f"E2E-{tag}-M1", Decimal(5), ""),
                added: ("30", f"P-{tag}-3", Decimal(2), ""),
            }
            assert await bridge.recon("orders-to-sap", since=started) == []
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_cancelled_crm_order_rejects_its_sap_items(tmp_path: Path) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            crm, order = await _order_in_sap(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Cancelled"})
            await bridge.sync("orders-to-sap", ids=[crm["order"]])

            [cancelled] = await _sap_order_of(bridge, crm)
            assert {r for *_, r in _sap_items(cancelled).values()} == {"Z1"}
            assert cancelled["OverallSDDocumentRejectionSts"] == "C"
            assert cancelled["TotalNetAmount"] == 0
            await _tick(bridge)  # nothing is delivered from a rejected order
            await bridge.sync("orders-from-sap", ids=[str(order["_id"])])
            [still] = await _sap_order_of(bridge, crm)
            assert still["OverallTotalDeliveryStatus"] == "A"
            crm_order = await bridge.get("salesforce", "Order", crm["order"])
            assert crm_order.fields["ERP_Status__c"] == "Rejected"

            # An order cancelled before it ever reached SAP is not created there.
            other = await _new_customer_and_order(bridge, uuid.uuid4().hex[:6].upper())
            await bridge.update("salesforce", "Order", other["order"], {"Status": "Cancelled"})
            await bridge.sync("orders-to-sap", ids=[other["order"]])
            assert bridge.outcomes("orders-to-sap")[-1] == (other["order"], "filtered")
            assert await _sap_order_of(bridge, other) == []
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_cancel_after_delivery_is_one_clear_dead_letter(tmp_path: Path) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            crm, order = await _order_in_sap(bridge, uuid.uuid4().hex[:6].upper())
            await _tick(bridge)  # SAP delivers the order
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Cancelled"})
            await bridge.sync("orders-to-sap", ids=[crm["order"]])

            [(flow, source_id, message)] = bridge.dead_letters()
            assert (flow, source_id) == ("orders-to-sap", crm["order"])
            assert "has already been delivered" in message  # SAP's own text
            with bridge.store.connect() as conn:
                [hint] = conn.execute(sa.select(dead_letters.c.hint)).scalars().all()
            assert hint.startswith(
                f"SAP order {order['_id']} is already delivered; cancel it in SAP or create a "
                "return"
            )
            assert bridge.failed_attempts() == {"validation": 1}  # no retries of a refusal
            [after] = await _sap_order_of(bridge, crm)
            assert {r for *_, r in _sap_items(after).values()} == {""}  # nothing rejected
        finally:
            await close(bridge)


async def test_line_change_whose_answer_is_lost_is_applied_once(tmp_path: Path) -> None:
    """SAP applies the changeset, the answer is lost; the retry re-reads and adds nothing."""
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            crm, _ = await _order_in_sap(bridge, tag)
            lines = await _crm_lines(bridge, crm["order"])
            book = await _standard_price_book(bridge)
            extra = await _product(
                bridge, book, Name=f"Cable {tag}", ProductCode=f"P-{tag}-4", Family="Spare Parts"
            )
            await bridge.sync("products-to-sap", ids=[extra])
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Draft"})
            [entry] = await bridge.find("salesforce", "PricebookEntry", "Product2Id", [extra])
            added = await bridge.create(
                "salesforce",
                "OrderItem",
                {
                    "OrderId": crm["order"],
                    "PricebookEntryId": entry.id,
                    "Quantity": 7,
                    "UnitPrice": 12.5,
                },
            )
            await bridge.update("salesforce", "Order", crm["order"], {"Status": "Activated"})
            app = bridge.sims["sap"].app
            app.configure(  # type: ignore[attr-defined]
                FaultConfig(path_prefix="/sap/opu/odata/sap/API_SALES_ORDER_SRV/$batch")
            )
            app.force(FaultKind.LOST_REPLY)  # type: ignore[attr-defined]
            await bridge.sync("orders-to-sap", ids=[crm["order"]])
            app.configure(FaultConfig())  # type: ignore[attr-defined]

            [after] = await _sap_order_of(bridge, crm)
            assert set(_sap_items(after)) == {lines[crm["hardware"]], lines[crm["spare"]], added}
            assert _sap_items(after)[added][1:3] == (f"P-{tag}-4", Decimal(7))
            assert bridge.failed_attempts() == {"transient": 1}
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_order_over_credit_is_held_flagged_then_released_by_approval_and_by_credit(
    tmp_path: Path,
) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            # A seeded account that SAP knows as business partner 17100007: its credit
            # limit in SAP is cut to what it already uses plus 1,000 CNY.
            [account] = await bridge.find(
                "salesforce", "Account", "ERP_Customer_Id__c", ["17100007"]
            )
            [credit] = await bridge.find(
                "sap", "A_CreditManagementAccount", "BusinessPartner", ["17100007"]
            )
            exposure = Decimal(str(credit.fields["CreditExposureAmount"]))
            await bridge.update(
                "sap", "A_CreditManagementAccount", credit.id,
                {"CreditLimitAmount": str(exposure + 1000)},
            )  # fmt: skip
            await bridge.sync("credit-from-sap", ids=[credit.id])
            book = await _standard_price_book(bridge)
            tag = uuid.uuid4().hex[:6].upper()
            product = await _product(
                bridge, book, Name=f"伺服电机 {tag}", ProductCode=f"P-{tag}",
                ERP_Material__c=f"HOLD-{tag}", Family="Hardware", QuantityUnitOfMeasure="台",
            )  # fmt: skip
            await bridge.sync("products-to-sap", ids=[product])
            # Two orders of 3 x 1280.50 = 3841.50 CNY each, over the 1,000 available.
            first = await _activated_order(bridge, account.id, book, [(product, 3)])
            second = await _activated_order(bridge, account.id, book, [(product, 3)])
            refs = {}
            for order in (first, second):
                number = (await bridge.get("salesforce", "Order", order)).fields["OrderNumber"]
                refs[order] = {"reference": f"SF-{number}"}
            await bridge.sync("orders-to-sap", ids=[first, second])

            for order in (first, second):
                assert await _sap_order_of(bridge, refs[order]) == []
                fields = (await bridge.get("salesforce", "Order", order)).fields
                assert fields["Credit_Hold__c"] is True
                assert fields["Credit_Hold_Reason__c"] == (
                    "over credit: order 3841.50 CNY, available 1000.00 CNY"
                )
            assert sorted(s for s, st in _held(bridge)) == sorted([first, second])

            # Credit control approves the first order in Salesforce: it goes to SAP once
            # and its flag is cleared; the order's later versions send nothing again.
            await bridge.update("salesforce", "Order", first, {"Credit_Approved__c": True})
            await bridge.sync("orders-to-sap", ids=[first], trigger=Trigger.POLL)
            await bridge.sync("orders-to-sap", ids=[first], trigger=Trigger.POLL)
            [sap_order] = await _sap_order_of(bridge, refs[first])
            fields = (await bridge.get("salesforce", "Order", first)).fields
            assert (fields["Credit_Hold__c"], fields["Credit_Hold_Reason__c"]) == (False, None)
            assert [s for s, _ in _held(bridge)] == [second]

            # SAP raises the credit limit; the recheck releases the second order.
            await bridge.update(
                "sap", "A_CreditManagementAccount", credit.id,
                {"CreditLimitAmount": str(exposure + 1_000_000)},
            )  # fmt: skip
            await bridge.sync("credit-from-sap", ids=[credit.id])
            checked = await recheck_held(
                bridge.store, bridge.runtime, bridge.plans, bridge.clock, due_only=False
            )
            assert (checked.released, checked.held) == (1, 0), _held(bridge)
            await bridge.drain()
            assert len(await _sap_order_of(bridge, refs[second])) == 1
            fields = (await bridge.get("salesforce", "Order", second)).fields
            assert (fields["Credit_Hold__c"], fields["Credit_Hold_Reason__c"]) == (False, None)
            assert _held(bridge) == []
            assert len(await _sap_order_of(bridge, refs[first])) == 1
            assert sap_order["SoldToParty"]
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


def _held(bridge: Bridge) -> list[tuple[str, str]]:
    with bridge.store.connect() as conn:
        return [(str(r["source_id"]), str(r["hold_reason"])) for r in list_held(conn)]


async def test_recon_finds_exactly_the_planted_differences_and_repair_fixes_them(
    tmp_path: Path,
) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            started = datetime.now(UTC) - timedelta(seconds=2)
            tag = uuid.uuid4().hex[:6].upper()

            async def account(n: int, name: str) -> str:
                fields = {"Name": name, "AccountNumber": f"rc-{tag}-{n}", "BillingCountry": "CN"}
                return await bridge.create("salesforce", "Account", fields)

            synced = [await account(n, f"对账客户 {tag} {n}") for n in range(4)]
            await bridge.sync("customers-to-sap", ids=synced)
            # Planted: a name changed in SAP, an account never synced, a second CRM account
            # with an existing account number.
            [partner] = await bridge.find(
                "sap", "A_BusinessPartner", "SearchTerm1", [f"RC-{tag}-1"]
            )
            await bridge.update(
                "sap", "A_BusinessPartner", partner.id, {"OrganizationBPName1": "在 SAP 里改过"}
            )
            await account(9, f"对账客户 {tag} 9")
            await account(2, f"对账客户 {tag} 2 again")

            found, run_id = await planted_recon(bridge, "customers-to-sap", started)
            assert found == [
                ("duplicate_source", f"RC-{tag}-2", None),
                ("field", f"RC-{tag}-1", "OrganizationBPName1"),
                ("missing_in_target", f"RC-{tag}-9", None),
            ]
            repairs = apply_repairs(
                bridge.store, bridge.plans["customers-to-sap"], run_id, bridge.clock
            )
            assert sorted((r["key"], bool(r["job"])) for r in repairs) == [
                (f"RC-{tag}-1", True),
                (f"RC-{tag}-2", False),  # a duplicate is for a person
                (f"RC-{tag}-9", True),
            ]
            await bridge.drain()
            found, _ = await planted_recon(bridge, "customers-to-sap", started)
            assert found == [("duplicate_source", f"RC-{tag}-2", None)]
        finally:
            await close(bridge)


# --- after-sales: cases needing parts -> purchase requisitions ---------------------------


async def _case_needing_parts(
    bridge: Bridge, tag: str, product: str | None, quantity: float | None
) -> tuple[str, str]:
    """A Case that needs parts, made through Salesforce's API: (id, CaseNumber)."""
    case = await bridge.create(
        "salesforce",
        "Case",
        {
            "Subject": f"泵体漏水，需要更换密封件 {tag}",
            "Priority": "High",
            "Origin": "Phone",
            "Status": "Working",
            "Parts_Needed__c": True,
            "Parts_Quantity__c": quantity,
            "Product__c": product,
        },
    )
    return case, str((await bridge.get("salesforce", "Case", case)).fields["CaseNumber"])


async def _requisitions_of(bridge: Bridge, case_number: str) -> list[dict[str, object]]:
    """SAP requisitions whose description is the case's reference, read with plain HTTP
    from API_PURCHASEREQ_PROCESS_SRV (not through the connector)."""
    entry = bridge.sims["sap"].entry
    async with httpx.AsyncClient(
        base_url=f"{entry['base_url']}/sap/opu/odata/sap/API_PURCHASEREQ_PROCESS_SRV/",
        auth=(str(entry["username"]), str(entry["password"])),
        headers={"Accept": "application/json"},
        timeout=30,
    ) as http:
        answer = await http.get(
            "A_PurchaseRequisitionHeader",
            params={
                "$filter": f"PurReqnDescription eq 'SF-{case_number}'",
                "$expand": "to_PurchaseReqnItem",
            },
        )
    answer.raise_for_status()
    return cast(list[dict[str, object]], answer.json()["d"]["results"])


async def _sap_control(bridge: Bridge, path: str) -> None:
    entry = bridge.sims["sap"].entry
    async with httpx.AsyncClient(
        base_url=str(entry["base_url"]),
        auth=(str(entry["username"]), str(entry["password"])),
        timeout=30,
    ) as http:
        (await http.post(path)).raise_for_status()


def _odata_day(value: object) -> date:
    ms = int(str(value).removeprefix("/Date(").removesuffix(")/"))
    return datetime.fromtimestamp(ms / 1000, UTC).date()


async def test_case_needing_parts_becomes_one_requisition_and_its_status_comes_back(
    tmp_path: Path,
) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            started = datetime.now(UTC) - timedelta(seconds=2)
            tag = uuid.uuid4().hex[:6].upper()
            book = await _standard_price_book(bridge)
            part = await _product(
                bridge,
                book,
                Name=f"密封件套装 {tag}",
                ProductCode=f"sk-{tag}",
                Family="Spare Parts",
                QuantityUnitOfMeasure="件",
            )
            case, number = await _case_needing_parts(bridge, tag, part, 3)
            text_case, text_number = await _case_needing_parts(bridge, tag, None, None)
            # The case parks on its part; the engine syncs the product first (depends_on).
            await bridge.sync("requisitions-to-sap", ids=[case, text_case])

            [requisition] = await _requisitions_of(bridge, number)
            [item] = cast(dict[str, list[dict[str, object]]], requisition["to_PurchaseReqnItem"])[
                "results"
            ]
            created = (await bridge.get("salesforce", "Case", case)).fields["CreatedDate"]
            assert requisition["PurchaseRequisitionType"] == "NB"
            assert (item["Material"], item["RequirementTracking"]) == (f"SK-{tag}", number)
            assert (Decimal(str(item["RequestedQuantity"])), item["BaseUnit"]) == (3, "PC")
            assert (item["Plant"], item["PurchasingGroup"], item["MaterialGroup"]) == (
                "1710",
                "001",
                "L002",
            )
            assert (
                item["PurchaseRequisitionItemText"]
                == f"Case {number}: 泵体漏水，需要更换密封件 {tag}"[:40]
            )
            # High priority: two days after the case was opened (parts_lead_days).
            assert _odata_day(item["DeliveryDate"]) == (
                datetime.fromisoformat(str(created).replace("+0000", "+00:00")).date()
                + timedelta(days=2)
            )
            assert (item["PurReqnReleaseStatus"], item["ProcessingStatus"]) == ("03", "N")
            [text_requisition] = await _requisitions_of(bridge, text_number)
            [text_item] = cast(
                dict[str, list[dict[str, object]]], text_requisition["to_PurchaseReqnItem"]
            )["results"]
            assert not text_item["Material"]
            assert (text_item["MaterialGroup"], text_item["BaseUnit"]) == ("L002", "PC")
            assert Decimal(str(text_item["RequestedQuantity"])) == 1
            assert await bridge.recon("requisitions-to-sap", since=started) == []

            # Back to the case, read incrementally (items changed since the start): the
            # number, then the status as the approver releases it and the buyer orders it.
            statuses = []
            for step in (
                None,
                f"/sim/requisitions/{requisition['PurchaseRequisition']}/release",
                "/sim/tick",
            ):
                if step:
                    await _sap_control(bridge, step)
                await bridge.sync("requisitions-from-sap", since=started)
                fields = (await bridge.get("salesforce", "Case", case)).fields
                statuses.append((fields["ERP_Requisition__c"], fields["ERP_Requisition_Status__c"]))
            assert statuses == [
                (requisition["PurchaseRequisition"], "In approval"),
                (requisition["PurchaseRequisition"], "Released"),
                (requisition["PurchaseRequisition"], "Ordered"),
            ]
            text_fields = (await bridge.get("salesforce", "Case", text_case)).fields
            assert text_fields["ERP_Requisition__c"] == text_requisition["PurchaseRequisition"]

            # Our write-back, polled again, sends nothing to SAP; the same sync again, and
            # again from an empty store (no xref), finds the requisition by its reference.
            await bridge.sync("requisitions-to-sap", ids=[case], trigger=Trigger.POLL)
            assert bridge.outcomes("requisitions-to-sap")[-1][1] in ("echo", "unchanged")
            await bridge.sync("requisitions-to-sap", ids=[case])
            fresh = bridge.fork(tmp_path / "fresh.db")
            try:
                await fresh.sync("requisitions-to-sap", ids=[case])
                assert fresh.outcomes("requisitions-to-sap")[-1] == (case, "updated")
                assert fresh.dead_letters() == []
            finally:
                await close(fresh)
                fresh.store.dispose()
            [again] = await _requisitions_of(bridge, number)
            assert len(cast(dict[str, list[object]], again["to_PurchaseReqnItem"])["results"]) == 1
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_case_with_a_part_sap_has_no_material_for_is_one_clear_dead_letter(
    tmp_path: Path,
) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            tag = uuid.uuid4().hex[:6].upper()
            book = await _standard_price_book(bridge)
            # An inactive product: products-to-sap never makes it a material.
            part = await _product(bridge, book, Name=f"Old valve {tag}", ProductCode=f"ov-{tag}")
            await bridge.update("salesforce", "Product2", part, {"IsActive": False})
            case, number = await _case_needing_parts(bridge, tag, part, 2)
            await sync_flow(
                bridge.store, bridge.runtime, "requisitions-to-sap", bridge.clock, ids=[case]
            )
            worker = Worker(bridge.store, bridge.runtime, bridge.plans, clock=bridge.clock)
            for _ in range(5):
                await worker.run_once()
                bridge.clock.advance(6.0)
            # It waits for the material (products-to-sap skips inactive products) ...
            assert bridge.open_jobs() == [("requisitions-to-sap", case, "parked")]
            bridge.clock.advance(31 * 60)  # ... past the flow's dependency_timeout (30m)
            await bridge.drain()

            [(flow, source_id, message)] = bridge.dead_letters()
            assert (flow, source_id) == ("requisitions-to-sap", case)
            # where (the item's Material, the product) and why (never synced), not a crash
            assert f"to_PurchaseReqnItem.Material: xref.product('{part}')" in message
            assert bridge.dead_letter_hints() == [
                f"the referenced product '{part}' never synced; sync it, then replay"
            ]
            assert await _requisitions_of(bridge, number) == []
        finally:
            await close(bridge)


async def _post_goods_movement(bridge: Bridge, code: str, *items: dict[str, object]) -> str:
    """A material document posted through SAP's own API (API_MATERIAL_DOCUMENT_SRV)."""
    return await bridge.create(
        "sap",
        "A_MaterialDocumentHeader",
        {"GoodsMovementCode": code, "to_MaterialDocumentItem": list(items)},
    )


async def _soql(bridge: Bridge, soql: str) -> list[dict[str, object]]:
    """Every record a SOQL query gives, through Salesforce's REST API (``nextRecordsUrl``)."""
    instance, token = await _sf_session(bridge)
    entry = bridge.sims["salesforce"].entry
    records: list[dict[str, object]] = []
    async with httpx.AsyncClient(
        base_url=instance,
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(entry["ca_file"])),
        timeout=30,
    ) as http:
        answer = await http.get("/services/data/v59.0/query", params={"q": soql})
        while True:
            answer.raise_for_status()
            body = answer.json()
            records += body["records"]
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return records
            answer = await http.get(str(body["nextRecordsUrl"]))


async def _sap_stock_for_sale(bridge: Bridge) -> list[dict[str, object]]:
    """Every SAP stock record the flow's when: takes (unrestricted, no special stock),
    read through SAP's own API."""
    sap = bridge.connector("sap")
    out: list[dict[str, object]] = []
    async for page in sap.read_changes("A_MatlStkInAcctMod", None, 500):
        out += [
            dict(r.fields)
            for r in page.records
            if r.fields["InventoryStockType"] == "01" and not r.fields["InventorySpecialStockType"]
        ]
    return out


def _stock_key(fields: dict[str, object]) -> str:
    parts = (fields["Material"], fields["Plant"], fields["StorageLocation"], fields["Batch"])
    return "/".join(str(p) for p in parts if p)


async def _product_synced_to_sap(bridge: Bridge, name: str) -> tuple[str, str]:
    """A new CRM product without an ERP number, synced to SAP: (its id, SAP's material,
    which is its product code)."""
    tag = uuid.uuid4().hex[:6].upper()
    book = await _standard_price_book(bridge)
    code = f"P-{tag}"
    product = await _product(
        bridge, book, Name=f"{name} {tag}", ProductCode=code, Family="Hardware"
    )
    await bridge.sync("products-to-sap", ids=[product])
    return product, code


async def _crm_stock(bridge: Bridge, material: str) -> dict[str, dict[str, object]]:
    """ERP_Stock_Key__c -> fields of the material's Product_Stock__c records in Salesforce."""
    found = await bridge.find("salesforce", "Product_Stock__c", "ERP_Material__c", [material])
    return {str(r.fields["ERP_Stock_Key__c"]): dict(r.fields) for r in found}


async def test_goods_movements_in_sap_arrive_as_stock_per_product_and_warehouse(
    tmp_path: Path,
) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            flow = "stock-by-warehouse-from-sap"
            product, material = await _product_synced_to_sap(bridge, "伺服驱动器")
            await _post_goods_movement(
                bridge,
                "05",
                {"Material": material, "Plant": "1710", "StorageLocation": "171A",
                 "GoodsMovementType": "561", "QuantityInEntryUnit": Decimal(120)},
                {"Material": material, "Plant": "1310", "StorageLocation": "131A",
                 "GoodsMovementType": "561", "QuantityInEntryUnit": Decimal(30)},
            )  # fmt: skip

            # The scheduled read of all stock (no change stamp in SAP): every record once.
            await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
            await bridge.drain()
            first = len(bridge.outcomes(flow))
            stock = await _crm_stock(bridge, material)
            assert {k: (v["Product__c"], v["Plant__c"], v["Storage_Location__c"],
                        v["Unrestricted_Stock__c"], v["Unit__c"]) for k, v in stock.items()} == {
                f"{material}/1710/171A": (product, "1710", "171A", 120, "PC"),
                f"{material}/1310/131A": (product, "1310", "131A", 30, "PC"),
            }  # fmt: skip

            # Later movements: an issue and a transfer to another storage location. The
            # next read queues only the two stock records that changed (incremental).
            await _post_goods_movement(
                bridge,
                "03",
                {"Material": material, "Plant": "1710", "StorageLocation": "171A",
                 "GoodsMovementType": "201", "CostCenter": "17101101",
                 "QuantityInEntryUnit": Decimal(20)},
            )  # fmt: skip
            await _post_goods_movement(
                bridge,
                "04",
                {"Material": material, "Plant": "1710", "StorageLocation": "171A",
                 "IssuingOrReceivingStorageLoc": "171B", "GoodsMovementType": "311",
                 "QuantityInEntryUnit": Decimal(15)},
            )  # fmt: skip
            await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
            await bridge.drain()
            assert len(bridge.outcomes(flow)) == first + 2
            stock = await _crm_stock(bridge, material)
            assert {k: v["Unrestricted_Stock__c"] for k, v in stock.items()} == {
                f"{material}/1710/171A": 85,
                f"{material}/1710/171B": 15,
                f"{material}/1310/131A": 30,
            }
            # The product's total over all warehouses (flow inventory-from-sap) follows.
            await bridge.sync("inventory-from-sap", ids=[material])
            crm_product = await bridge.get("salesforce", "Product2", product)
            assert crm_product.fields["Stock_On_Hand__c"] == 130

            # Exactly once: the same read again, and from an empty store (no xref): once
            # the product is linked again (products-to-sap finds the material by its
            # number), the external id finds the records, nothing is created twice.
            await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
            await bridge.drain()
            assert len(bridge.outcomes(flow)) == first + 2
            fresh = bridge.fork(tmp_path / "fresh.db")
            try:
                ids = [
                    r.id
                    for r in await fresh.find("sap", "A_MatlStkInAcctMod", "Material", [material])
                ]
                await fresh.sync(flow, ids=ids)  # no xref yet: skipped, nothing written
                assert {o for _, o in fresh.outcomes(flow)} == {"filtered"}
                await fresh.sync("products-to-sap", ids=[product])
                await fresh.sync(flow, ids=ids)  # the same versions, mapped again
                written = [o for _, o in fresh.outcomes(flow) if o != "filtered"]
                assert written and set(written) <= {"updated", "unchanged"}
            finally:
                await close(fresh)
                fresh.store.dispose()
            assert len(await _crm_stock(bridge, material)) == 3
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_stock_that_returns_to_an_earlier_level_reaches_the_crm_again(
    tmp_path: Path,
) -> None:
    """SAP's stock has no change stamp: its versions are content digests. 120 → 100 → 120
    gives the versions A, B, A; the second A must be written again (engine/returned.py)."""
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            flow = "stock-by-warehouse-from-sap"
            _, material = await _product_synced_to_sap(bridge, "编码器")
            key = f"{material}/1710/171A"
            levels = []
            for code, movement in (
                ("05", {"GoodsMovementType": "561", "QuantityInEntryUnit": Decimal(120)}),
                ("03", {"GoodsMovementType": "201", "CostCenter": "17101101",
                        "QuantityInEntryUnit": Decimal(20)}),
                ("05", {"GoodsMovementType": "561", "QuantityInEntryUnit": Decimal(20)}),
            ):  # fmt: skip
                await _post_goods_movement(
                    bridge,
                    code,
                    {"Material": material, "Plant": "1710", "StorageLocation": "171A", **movement},
                )
                await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
                await bridge.drain()
                levels.append((await _crm_stock(bridge, material))[key]["Unrestricted_Stock__c"])
            assert levels == [120, 100, 120]
            # Read again unchanged: nothing more is queued for it.
            written = len(bridge.outcomes(flow))
            await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
            await bridge.drain()
            assert len(bridge.outcomes(flow)) == written
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)


async def test_stock_per_warehouse_reaches_the_crm_only_for_materials_it_has(
    tmp_path: Path,
) -> None:
    with running_template("sf-sap", tmp_path, SYSTEMS) as bridge:
        try:
            flow = "stock-by-warehouse-from-sap"
            product, material = await _product_synced_to_sap(bridge, "伺服电机")
            await _post_goods_movement(
                bridge,
                "05",
                {"Material": material, "Plant": "1710", "StorageLocation": "171A",
                 "GoodsMovementType": "561", "QuantityInEntryUnit": Decimal(40)},
            )  # fmt: skip

            await poll_flow(bridge.store, bridge.runtime, flow, bridge.clock)
            await bridge.drain()

            # Through Salesforce's REST API: every Product Stock record names the CRM
            # product of its material; SAP's own materials have none.
            rows = await _soql(
                bridge,
                "SELECT Id, ERP_Stock_Key__c, ERP_Material__c, Product__c FROM Product_Stock__c",
            )
            assert {r["ERP_Stock_Key__c"]: r["Product__c"] for r in rows} == {
                f"{material}/1710/171A": product
            }
            for_sale = await _sap_stock_for_sale(bridge)
            others = [s for s in for_sale if s["Material"] != material]
            assert len(others) > 100  # SAP's own seeded materials, none of them in the CRM
            outcomes = bridge.outcomes(flow)
            assert sum(1 for _, o in outcomes if o == "created") == 1
            with bridge.store.connect() as conn:
                reasons = conn.execute(
                    sa.text(
                        "select a.error_class, count(*) from attempts a join jobs j "
                        "on j.id = a.job_id where j.flow = :flow and j.outcome = 'filtered' "
                        "group by a.error_class"
                    ),
                    {"flow": flow},
                ).all()
            assert dict(reasons)["xref"] == len(others)
            assert bridge.open_jobs() == [] and bridge.dead_letters() == []

            # The CRM takes one of SAP's own materials on as a product: the next scheduled
            # read brings its stock, with the same SAP versions as before.
            other = str(others[0]["Material"])
            book = await _standard_price_book(bridge)
            taken = await _product(
                bridge, book, Name=f"SAP 物料 {other}", ProductCode=other, Family="Hardware"
            )
            await bridge.sync("products-to-sap", ids=[taken])
            await bridge.sync(flow, trigger=Trigger.SCHEDULE)
            rows = await _soql(bridge, "SELECT ERP_Stock_Key__c, Product__c FROM Product_Stock__c")
            expected = {_stock_key(s): taken for s in others if s["Material"] == other}
            assert {r["ERP_Stock_Key__c"]: r["Product__c"] for r in rows} == {
                f"{material}/1710/171A": product,
                **expected,
            }
            assert bridge.dead_letters() == []
        finally:
            await close(bridge)
