"""Realistic seed data: business partners with Chinese and English names, products, stock,
credit accounts and thousands of sales orders spread over past months.

Deterministic for a seed. Orders are created through :class:`Rules` so they carry the same
numbers, prices and statuses as orders created over the API, then older ones are moved
through business days so every status appears.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from erpbridge.sims.sap.rules import Rules
from erpbridge.sims.sap.state import Row, SapState

__all__ = ["SeedSize", "seed_state"]

_CN_ORGS = [
    "上海华东机电有限公司",
    "北京中科仪器股份有限公司",
    "深圳鹏程电子科技有限公司",
    "杭州西湖食品有限公司",
    "成都天府医疗器械有限公司",
    "武汉长江物流有限公司",
    "南京金陵化工有限公司",
    "广州珠江贸易有限公司",
    "苏州工业园区精密制造有限公司",
    "青岛海滨啤酒有限公司",
    "天津港湾重工有限公司",
    "重庆山城汽配有限公司",
]
_CN_CITIES = ["上海", "北京", "深圳", "杭州", "成都", "武汉", "南京", "广州", "苏州", "青岛"]
_CN_STREETS = ["南京西路", "长安街", "深南大道", "文三路", "人民南路", "解放大道"]
_EN_ORGS = [
    "Acme Industrial Supply",
    "Northwind Traders",
    "Contoso Manufacturing",
    "Globex Logistics",
    "Initech Components",
    "Umbrella Medical",
    "Stark Precision Tools",
    "Wayne Packaging",
    "Soylent Foods",
    "Hooli Electronics",
    "Vandelay Imports",
    "Wonka Confectionery",
]
_EN_CITIES = [
    ("Palo Alto", "US", "CA"),
    ("Chicago", "US", "IL"),
    ("London", "GB", ""),
    ("Hamburg", "DE", "HH"),
    ("Singapore", "SG", ""),
]
_SUFFIXES = ["", " II", " East", " West", " Holding", " Services"]
_CN_SURNAMES = "王李张刘陈杨黄赵吴周"
_CN_GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇"]
_EN_FIRST = ["James", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen"]
_EN_LAST = ["Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Moore", "Taylor"]
_PRODUCTS = [
    ("Pump", "水泵"),
    ("Valve", "阀门"),
    ("Bearing", "轴承"),
    ("Motor", "电机"),
    ("Sensor", "传感器"),
    ("Cable", "电缆"),
    ("Gearbox", "齿轮箱"),
    ("Filter", "过滤器"),
    ("Controller", "控制器"),
    ("Compressor", "压缩机"),
]
_PLANTS = ("1710", "1310")


@dataclass(frozen=True, slots=True)
class SeedSize:
    """How much data to make. Defaults: 300 partners, 200 products, 3000 orders."""

    partners: int = 300
    products: int = 200
    orders: int = 3000


def _partner(rng: random.Random, index: int) -> tuple[Row, Row]:
    chinese = index % 2 == 0
    organisation = index % 5 != 4
    if organisation:
        base = rng.choice(_CN_ORGS if chinese else _EN_ORGS)
        name = base if index < 24 else f"{base}{rng.choice(_SUFFIXES)}".strip()
        if chinese and index >= 24:
            name = f"{rng.choice(_CN_CITIES)}{base[2:]}"
        first, last = None, None
    else:
        if chinese:
            last, first = rng.choice(_CN_SURNAMES), rng.choice(_CN_GIVEN)
            name = f"{last}{first}"
        else:
            first, last = rng.choice(_EN_FIRST), rng.choice(_EN_LAST)
            name = f"{first} {last}"
    partner: Row = {
        "BusinessPartnerCategory": "2" if organisation else "1",
        "BusinessPartnerGrouping": "BP02",
        "OrganizationBPName1": name[:40] if organisation else None,
        "FirstName": first,
        "LastName": last,
        "BusinessPartnerFullName": name,
        "SearchTerm1": f"C{index + 1:05d}",
        "CorrespondenceLanguage": "ZH" if chinese else "EN",
    }
    if chinese:
        city = rng.choice(_CN_CITIES)
        address: Row = {
            "StreetName": rng.choice(_CN_STREETS),
            "HouseNumber": str(rng.randint(1, 999)),
            "PostalCode": f"{rng.randint(100000, 999999)}",
            "CityName": city,
            "Country": "CN",
            "Region": "",
        }
    else:
        city, country, region = rng.choice(_EN_CITIES)
        address = {
            "StreetName": f"{rng.randint(1, 400)} Market Street",
            "HouseNumber": str(rng.randint(1, 99)),
            "PostalCode": f"{rng.randint(10000, 99999)}",
            "CityName": city,
            "Country": country,
            "Region": region,
        }
    return partner, address


def _wire(row: Row) -> dict[str, object]:
    """Seed values are plain strings already; Decimal goes as a string like on the wire."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items() if v is not None}


def seed_state(state: SapState, *, seed: int = 0, size: SeedSize | None = None) -> None:
    """Fill an empty state. Time runs from 120 days ago to now via a stepped clock."""
    size = size or SeedSize()
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    rules = Rules(state)
    real_clock = state.clock
    end = real_clock()
    start = end - timedelta(days=120)
    moment = [start]
    state.clock = lambda: moment[0]
    try:
        with state.transaction():
            partners = _seed_partners(state, rules, rng, size.partners)
            products = _seed_products(state, rng, size.products, moment)
            _seed_orders(state, rules, rng, size.orders, partners, products, moment, end)
    finally:
        state.clock = real_clock


def _seed_partners(state: SapState, rules: Rules, rng: random.Random, count: int) -> list[str]:
    bp_set = state.sets["A_BusinessPartner"]
    numbers: list[str] = []
    for index in range(count):
        partner, address = _partner(rng, index)
        payload = _wire(partner)
        payload["to_BusinessPartnerAddress"] = [_wire(address)]
        row = rules.create(bp_set, payload)
        number = str(row["BusinessPartner"])
        numbers.append(number)
        # 5-100 million CNY: the seeded order book stays within credit.
        limit = Decimal(rng.choice([50_000, 100_000, 250_000, 1_000_000]) * 100)
        state.put(
            "A_CreditManagementAccount",
            {
                "BusinessPartner": number,
                "CreditSegment": "1000",
                "CreditLimitAmount": limit,
                "CreditSegmentCurrency": "CNY",
                "CreditExposureAmount": Decimal(0),
                "CreditAccountIsBlocked": False,
                "CreditAccountBlockReason": "",
            },
        )
    return numbers


def _seed_products(
    state: SapState, rng: random.Random, count: int, moment: list[datetime]
) -> list[str]:
    numbers: list[str] = []
    for index in range(count):
        en, zh = _PRODUCTS[index % len(_PRODUCTS)]
        number = f"TG{index + 11:04d}"
        day = moment[0].replace(hour=0, minute=0, second=0, microsecond=0)
        state.put(
            "A_Product",
            {
                "Product": number,
                "ProductType": "FERT" if index % 3 else "HAWA",
                "BaseUnit": "PC",
                "ProductGroup": f"L00{index % 5 + 1}",
                "NetWeight": Decimal(rng.randint(1, 500)) / 10,
                "WeightUnit": "KG",
                "IsMarkedForDeletion": False,
                "CreationDate": day,
                "LastChangeDate": day,
                "LastChangeDateTime": moment[0],
            },
        )
        size = f"{(index // len(_PRODUCTS)) * 10 + 10}"
        for language, text in (("EN", f"{en} {size}"), ("ZH", f"{zh} {size}型")):
            state.put(
                "A_ProductDescription",
                {"Product": number, "Language": language, "ProductDescription": text},
            )
        state.put("A_MaterialStock", {"Material": number, "MaterialBaseUnit": "PC"})
        for plant in _PLANTS:
            for stock_type in ("01", "02"):
                state.put("A_MatlStkInAcctMod", _stock_row(number, plant, stock_type, rng))
        numbers.append(number)
    return numbers


def _stock_row(material: str, plant: str, stock_type: str, rng: random.Random) -> Row:
    quantity = rng.randint(500, 5000) if stock_type == "01" else rng.randint(0, 50)
    return {
        "Material": material,
        "Plant": plant,
        "StorageLocation": "171A" if plant == "1710" else "131A",
        "Batch": "",
        "Supplier": "",
        "Customer": "",
        "WBSElementInternalID": "",
        "SDDocument": "",
        "SDDocumentItem": "",
        "InventorySpecialStockType": "",
        "InventoryStockType": stock_type,
        "MaterialBaseUnit": "PC",
        "MatlWrhsStkQtyInMatlBaseUnit": Decimal(quantity),
    }


def _seed_orders(
    state: SapState,
    rules: Rules,
    rng: random.Random,
    count: int,
    partners: list[str],
    products: list[str],
    moment: list[datetime],
    end: datetime,
) -> None:
    order_set = state.sets["A_SalesOrder"]
    step = (end - moment[0]) / max(count, 1)
    days_done = 0
    for index in range(count):
        # Every 20th order shares its predecessor's stamp: the cursor's id tie-break matters.
        if index % 20:
            moment[0] = moment[0] + step * rng.uniform(0.5, 1.5)
            moment[0] = min(moment[0], end).replace(
                microsecond=moment[0].microsecond // 1000 * 1000
            )
        payload: dict[str, object] = {
            "SalesOrderType": "OR",
            "SalesOrganization": "1710",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "SoldToParty": rng.choice(partners),
            "PurchaseOrderByCustomer": f"PO-{2024000 + index}",
            "TransactionCurrency": "CNY",
            "to_Item": [
                {
                    "Material": rng.choice(products),
                    "RequestedQuantity": str(rng.randint(1, 20)),
                    "Plant": rng.choice(_PLANTS),
                }
                for _ in range(rng.randint(1, 4))
            ],
        }
        rules.create(order_set, payload)
        # A business day passes every ~count/100 orders: older orders end delivered/invoiced.
        day = int((moment[0] - (end - timedelta(days=120))) / timedelta(days=1))
        if day - days_done >= 10:
            days_done = day
            rules.tick()
