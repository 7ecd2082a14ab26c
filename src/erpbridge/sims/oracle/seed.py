"""Seed data: customer accounts with credit profiles, items, on-hand, orders, requisitions.

Deterministic for a seed. Names mix Chinese and English companies (a Fusion pod serving a
China business unit next to Vision Operations). Stamps are spread over the 30 days before
the state's clock, so incremental reads have history to walk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from erpbridge.sims.oracle.model import RESOURCES
from erpbridge.sims.oracle.orders import order_exposure
from erpbridge.sims.oracle.query import format_stamp
from erpbridge.sims.oracle.rules import ORGANIZATIONS
from erpbridge.sims.oracle.state import OracleState, Row
from erpbridge.sims.oracle.wire import key_from_parts

__all__ = ["SeedSize", "seed_state"]

_COMPANIES = [
    "上海华润贸易有限公司",
    "北京金桥科技股份有限公司",
    "深圳前海智造有限公司",
    "杭州西湖电子有限公司",
    "广州南方医疗器械有限公司",
    "成都天府软件有限公司",
    "Computer Service and Rentals",
    "Vision Distribution Ltd",
    "Pinnacle Industrial Supply",
    "Blue Ridge Medical Inc",
    "Harbor Logistics GmbH",
    "Northwind Traders",
]
_PRODUCTS = [
    ("AS54888", "Standard Desktop 标准台式机", "Ea", 899.0),
    ("AS72111", "Laptop 笔记本电脑 14in", "Ea", 1299.0),
    ("CM-1001", "Industrial Sensor 工业传感器", "Ea", 245.5),
    ("CM-2040", "Hydraulic Pump 液压泵", "Ea", 3150.0),
    ("PK-0100", "Packing Carton 包装纸箱", "Box", 12.8),
    ("SV-3000", "On-site Service 现场服务", "Hr", 150.0),
    ("RM-0500", "Copper Wire 铜线 2.5mm", "M", 4.2),
    ("EL-7700", "Power Supply 电源模块 500W", "Ea", 86.0),
]
_SUBINVENTORIES = ["Stores", "FGI", "RIP"]


@dataclass(frozen=True, slots=True)
class SeedSize:
    """How many records to seed. Defaults suit the sandbox."""

    accounts: int = 24
    items: int = 40
    orders: int = 120
    requisitions: int = 20


def _put(state: OracleState, resource: str, key: str, row: Row) -> None:
    full: Row = {a.name: None for a in RESOURCES[resource].attrs}
    full.update(row)
    state.put(resource, key, full)


def _accounts(state: OracleState, rng: random.Random, size: SeedSize, stamp: object) -> list[Row]:
    accounts: list[Row] = []
    for i in range(size.accounts):
        base = _COMPANIES[i % len(_COMPANIES)]
        name = base if i < len(_COMPANIES) else f"{base} {i // len(_COMPANIES) + 1}"
        account_id = 300_100_004_000_001 + i
        row: Row = {
            "CustomerAccountId": account_id,
            "AccountNumber": f"{10000 + i}",
            "CustomerName": name,
            "PartyId": 300_100_003_000_001 + i,
            "PartyNumber": f"CDRM_{8000 + i}",
            "TaxpayerIdentificationNumber": f"91310000{rng.randrange(10**9, 10**10)}",
            "BillToSiteUseId": 300_100_005_000_001 + i,
            "AccountStatus": "A",
            "CreationDate": stamp,
            "LastUpdateDate": stamp,
        }
        _put(state, "receivablesCustomerAccountActivities", str(account_id), row)
        chinese = any("\u4e00" <= c <= "\u9fff" for c in name)
        party: Row = {
            "PartyId": row["PartyId"],
            "PartyNumber": row["PartyNumber"],
            "OrganizationName": name,
            "PartyUsageCode": "CUSTOMER",
            "TaxpayerIdentificationNumber": row["TaxpayerIdentificationNumber"],
            "City": "上海" if chinese else "Redwood Shores",
            "Country": "CN" if chinese else "US",
            "Status": "A",
            "CreationDate": stamp,
            "LastUpdateDate": stamp,
        }
        _put(state, "hubOrganizations", str(row["PartyNumber"]), party)
        limit = float(rng.choice([50_000, 100_000, 250_000, 500_000, 1_000_000]))
        credit: Row = {
            "CustomerAccountId": account_id,
            "AccountNumber": row["AccountNumber"],
            "CustomerName": name,
            "PartyId": row["PartyId"],
            "PartyNumber": row["PartyNumber"],
            "CurrencyCode": "CNY" if chinese else "USD",
            "OverallCreditLimit": limit,
            "OrderCreditLimit": limit / 5,
            "CreditHold": i % 11 == 10,
            "CreditExposure": 0.0,
            "AvailableCredit": limit,
            "CreationDate": stamp,
            "LastUpdateDate": stamp,
        }
        _put(state, "customerCreditProfiles", str(account_id), credit)
        accounts.append(row)
    return accounts


def _items(state: OracleState, rng: random.Random, size: SeedSize, stamp: object) -> list[Row]:
    items: list[Row] = []
    for i in range(size.items):
        number, description, uom, price = _PRODUCTS[i % len(_PRODUCTS)]
        if i >= len(_PRODUCTS):
            number = f"{number}-{i // len(_PRODUCTS)}"
        item_id = state.next_id("ItemId")
        row: Row = {
            "ItemId": item_id,
            "ItemNumber": number,
            "ItemDescription": description,
            "OrganizationCode": "M1",
            "OrganizationId": ORGANIZATIONS["M1"],
            "PrimaryUOMCode": uom,
            "ItemStatusCode": "Active",
            "ItemClass": "Root Item Class",
            "ListPrice": round(price * rng.uniform(0.9, 1.1), 2),
            "CreationDate": stamp,
            "LastUpdateDate": stamp,
        }
        _put(state, "itemsV2", str(item_id), row)
        items.append(row)
        for sub in rng.sample(_SUBINVENTORIES, 2):
            onhand: Row = {
                "OrganizationId": ORGANIZATIONS["M1"],
                "OrganizationCode": "M1",
                "InventoryItemId": item_id,
                "ItemNumber": number,
                "SubinventoryCode": sub,
                "LocatorId": None,
                "LotNumber": None,
                "SerialNumber": None,
                "PrimaryQuantity": float(rng.randrange(0, 500)),
                "PrimaryUOMCode": uom,
                "CreationDate": stamp,
                "LastUpdateDate": stamp,
            }
            _put(
                state,
                "onhandQuantityDetails",
                key_from_parts(RESOURCES["onhandQuantityDetails"], onhand),
                onhand,
            )
    return items


def _order(
    state: OracleState, rng: random.Random, n: int, account: Row, items: list[Row], stamp: str
) -> Row:
    lines: list[Row] = []
    for line_no, item in enumerate(rng.sample(items, rng.randint(1, min(4, len(items)))), 1):
        price = item["ListPrice"]
        lines.append(
            {
                "LineId": state.next_id("LineId"),
                "SourceTransactionLineId": str(line_no),
                "SourceTransactionLineNumber": str(line_no),
                "SourceTransactionScheduleId": str(line_no),
                "SourceScheduleNumber": "1",
                "TransactionCategoryCode": "ORDER",
                "ProductNumber": item["ItemNumber"],
                "ProductId": item["ItemId"],
                "ProductDescription": item["ItemDescription"],
                "OrderedQuantity": float(rng.randint(1, 20)),
                "OrderedUOMCode": item["PrimaryUOMCode"],
                "UnitListPrice": price,
                "UnitSellingPrice": price,
                "RequestedShipDate": stamp,
                "RequestedFulfillmentOrganizationCode": "M1",
                "StatusCode": "AWAIT_SHIP",
            }
        )
    submitted = rng.random() < 0.8
    return {
        "HeaderId": state.next_id("HeaderId"),
        "OrderNumber": str(state.next_id("OrderNumber")),
        "SourceTransactionSystem": "CRM",
        "SourceTransactionId": f"{10000 + n}",
        "SourceTransactionNumber": f"CRM-{10000 + n}",
        "SourceTransactionRevisionNumber": 1,
        "BusinessUnitName": "Vision Operations",
        "BusinessUnitId": 204,
        "BuyingPartyName": account["CustomerName"],
        "BuyingPartyId": account["PartyId"],
        "BuyingPartyNumber": account["PartyNumber"],
        "CustomerPONumber": f"PO-{rng.randrange(100000, 999999)}",
        "TransactionalCurrencyCode": "USD",
        "TransactionOn": stamp,
        "TransactionTypeCode": "STD",
        "RequestingBusinessUnitName": "Vision Operations",
        "SubmittedFlag": submitted,
        "FreezePriceFlag": False,
        "PreCreditCheckedFlag": False,
        "StatusCode": "OPEN" if submitted else "DOO_DRAFT",
        "CreationDate": stamp,
        "LastUpdateDate": stamp,
        "lines": lines,
        "billToCustomer": [
            {
                "BillToCustomerId": state.next_id("ChildId"),
                "CustomerAccountId": account["CustomerAccountId"],
                "SiteUseId": account["BillToSiteUseId"],
            }
        ],
        "shipToCustomer": [
            {
                "ShipToCustomerId": state.next_id("ChildId"),
                "PartyId": account["PartyId"],
                "SiteId": None,
            }
        ],
    }


def _requisition(
    state: OracleState, rng: random.Random, n: int, items: list[Row], stamp: str
) -> Row:
    item = rng.choice(items)
    quantity = float(rng.randint(1, 50))
    return {
        "RequisitionHeaderId": state.next_id("RequisitionHeaderId"),
        "Requisition": str(state.next_id("Requisition")),
        "RequisitioningBUId": 204,
        "RequisitioningBU": "Vision Operations",
        "PreparerId": 100_100_004_256_726,
        "PreparerEmail": "mary.brown@vision.example",
        "ExternallyManagedFlag": False,
        "Description": f"售后备件 After-sales parts #{n}",
        "DocumentStatus": rng.choice(["Incomplete", "Pending approval", "Approved"]),
        "CreationDate": stamp,
        "LastUpdateDate": stamp,
        "lines": [
            {
                "RequisitionLineId": state.next_id("RequisitionLineId"),
                "LineNumber": 1,
                "LineTypeCode": "Goods",
                "CategoryName": "Spare Parts",
                "ItemNumber": item["ItemNumber"],
                "ItemDescription": item["ItemDescription"],
                "Quantity": quantity,
                "UnitOfMeasure": item["PrimaryUOMCode"],
                "Price": item["ListPrice"],
                "CurrencyCode": "USD",
                "DestinationTypeCode": "INVENTORY",
                "DeliverToLocationCode": "V1- New York City",
                "RequesterEmail": "mary.brown@vision.example",
                "distributions": [{"DistributionNumber": 1, "Quantity": quantity}],
            }
        ],
    }


def seed_state(state: OracleState, *, seed: int = 0, size: SeedSize | None = None) -> None:
    """Fill an empty state with deterministic data."""
    size = size or SeedSize()
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    start = state.clock() - timedelta(days=30)
    with state.transaction():
        early = format_stamp(start)
        accounts = _accounts(state, rng, size, early)
        items = _items(state, rng, size, early)
        total = size.orders + size.requisitions
        for n in range(size.orders):
            stamp = format_stamp(start + timedelta(days=30) * (n + 1) / (total + 1))
            order = _order(state, rng, n, rng.choice(accounts), items, stamp)
            _put(state, "salesOrdersForOrderHub", str(order["HeaderId"]), order)
            account, value = order_exposure(order)
            profile = state.get("customerCreditProfiles", account)
            if profile is not None and value:
                profile["CreditExposure"] = round(float(str(profile["CreditExposure"])) + value, 2)
                limit = float(str(profile["OverallCreditLimit"]))
                profile["AvailableCredit"] = round(limit - float(str(profile["CreditExposure"])), 2)
        for n in range(size.requisitions):
            stamp = format_stamp(start + timedelta(days=30) * (size.orders + n + 1) / (total + 1))
            req = _requisition(state, rng, n, items, stamp)
            _put(state, "purchaseRequisitions", str(req["RequisitionHeaderId"]), req)
