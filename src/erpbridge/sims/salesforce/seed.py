"""Realistic seed data for the simulated org, reproducible from a seed.

Full size: 300 accounts (Chinese and English names), 600 contacts, 250 products with
standard and custom price book entries, 3000 orders with 1-4 items each, 150 cases.
Stamps spread over the 25 days before seeding (inside the 30-day window of
``updated/``/``deleted/``), with deliberate ties: about one record in ten shares its
``SystemModstamp`` with the previous one, so readers must tie-break on Id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from erpbridge.sims.salesforce.ids import make_id
from erpbridge.sims.salesforce.schema import OBJECTS
from erpbridge.sims.salesforce.soql import format_datetime
from erpbridge.sims.salesforce.state import USER_ID, OrgState, Row

__all__ = ["SeedSize", "seed_org"]


@dataclass(frozen=True, slots=True)
class SeedSize:
    """How much to generate."""

    accounts: int = 300
    products: int = 250
    orders: int = 3000
    cases: int = 150

    @classmethod
    def small(cls) -> SeedSize:
        """A few dozen records: fast for tests."""
        return cls(accounts=12, products=10, orders=40, cases=6)


_CN_CITIES = ["上海", "北京", "深圳", "杭州", "苏州", "成都", "武汉", "南京", "广州", "天津"]
_CN_WORDS = ["华信", "中科", "恒通", "瑞丰", "金桥", "远航", "东方", "博源", "新元", "长城", "天宇"]
_CN_KINDS = ["精密机械", "电子科技", "贸易", "自动化设备", "新材料", "物流", "医疗器械"]
_EN_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Vandelay", "Stark", "Wayne", "Hooli"]
_EN_KINDS = ["GmbH", "Ltd", "Inc.", "AG", "Pte. Ltd.", "LLC"]
_SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"]
_GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "婷"]
_EN_FIRST = ["Anna", "Lukas", "Mia", "Noah", "Emma", "Liam", "Sophie", "Jonas"]
_EN_LAST = ["Schmidt", "Miller", "Smith", "Weber", "Brown", "Fischer", "Taylor"]
_PRODUCTS_CN = ["工业传感器", "伺服电机", "变频器", "液压泵", "控制柜", "减速机", "轴承组件"]
_PRODUCTS_EN = ["Hydraulic Pump", "Servo Drive", "PLC Module", "Gearbox", "Sensor Kit"]
_REGIONS = ["华东", "华北", "华南", "EMEA", "AMER"]
_INDUSTRIES = ["Manufacturing", "Retail", "Technology", "Energy", "Healthcare", "Other"]


class _Builder:
    def __init__(self, org: OrgState, rng: random.Random) -> None:
        self.org, self.rng = org, rng
        self.rows: list[tuple[str, Row]] = []

    def add(self, obj: str, values: Row) -> Row:
        o = OBJECTS[obj]
        row: Row = {f.name: f.default for f in o.fields.values()}
        row.update(values)
        row.update(
            Id=make_id(o.prefix, self.org.next_number(o.prefix)),
            IsDeleted=False,
            CreatedById=USER_ID,
            LastModifiedById=USER_ID,
        )
        if "OwnerId" in o.fields:
            row["OwnerId"] = USER_ID
        self.rows.append((obj, row))
        return row

    def stamp_all(self, now: datetime) -> None:
        """Spread stamps over the 25 days before ``now`` in creation order, with ties."""
        # one record in ten shares the previous record's stamp (weight 0)
        weights = [
            0.0 if self.rng.random() < 0.1 else self.rng.uniform(0.2, 1.8) for _ in self.rows
        ]
        total = sum(weights) or 1.0
        start, span = now - timedelta(days=25), timedelta(days=25) - timedelta(hours=1)
        running = 0.0
        for (_, row), weight in zip(self.rows, weights, strict=True):
            running += weight
            stamp = format_datetime(start + span * (running / total))
            row.update(CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp)

    def auto(self, obj: str, width: int) -> str:
        return str(self.org.next_number(f"auto:{obj}")).rjust(width, "0")


def _account_name(rng: random.Random, i: int) -> tuple[str, str]:
    if rng.random() < 0.6:
        city = rng.choice(_CN_CITIES)
        return f"{city}{rng.choice(_CN_WORDS)}{rng.choice(_CN_KINDS)}有限公司", city
    return f"{rng.choice(_EN_WORDS)} {rng.choice(_EN_KINDS)} #{i}", rng.choice(
        ["Berlin", "Munich", "London", "Singapore", "Chicago"]
    )


def seed_org(org: OrgState, *, seed: int, now: datetime, size: SeedSize | None = None) -> int:
    """Fill an empty org; returns the number of records written (one transaction)."""
    size = size or SeedSize()
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    b = _Builder(org, rng)
    standard = b.add("Pricebook2", {"Name": "Standard Price Book", "IsActive": True})
    standard["IsStandard"] = True
    custom = b.add("Pricebook2", {"Name": "China Distributors 2024", "IsActive": True})
    accounts: list[Row] = []
    contacts: list[Row] = []
    for i in range(size.accounts):
        name, city = _account_name(rng, i)
        accounts.append(
            b.add(
                "Account",
                {
                    "Name": name,
                    "AccountNumber": f"C{100000 + i}",
                    "Type": rng.choice(["Customer - Direct", "Customer - Channel", "Prospect"]),
                    "Industry": rng.choice(_INDUSTRIES),
                    "Phone": f"+86 21 {rng.randint(10000000, 99999999)}",
                    "BillingCity": city,
                    "BillingCountry": "CN" if "有限公司" in name else "DE",
                    "ERP_Customer_Id__c": str(17100000 + i) if rng.random() < 0.8 else None,
                    # Enterprise customers: 5-100 million CNY, so seeded orders pass a
                    # credit check; the credit-watch account below does not.
                    "Credit_Limit__c": float(rng.choice([50000, 100000, 250000, 1000000]) * 100),
                    "Region__c": rng.choice(_REGIONS),
                },
            )
        )
        for _ in range(2):
            cn = rng.random() < 0.6
            contacts.append(
                b.add(
                    "Contact",
                    {
                        "LastName": rng.choice(_SURNAMES) if cn else rng.choice(_EN_LAST),
                        "FirstName": rng.choice(_GIVEN) if cn else rng.choice(_EN_FIRST),
                        "AccountId": accounts[-1]["Id"],
                        "Email": f"contact{len(contacts)}@example.com",
                        "Title": rng.choice(["采购经理", "Buyer", "CFO", "工程师"]),
                    },
                )
            )
    entries: list[Row] = []
    for i in range(size.products):
        cn = rng.random() < 0.5
        base = rng.choice(_PRODUCTS_CN) if cn else rng.choice(_PRODUCTS_EN)
        product = b.add(
            "Product2",
            {
                "Name": f"{base} {rng.choice('ABCDX')}{100 + i}",
                "ProductCode": f"P-{i:05d}",
                "Family": rng.choice(["Hardware", "Spare Parts", "Service"]),
                "IsActive": True,
                "QuantityUnitOfMeasure": rng.choice(["EA", "PC", "件", "台"]),
                "ERP_Material__c": f"MAT-{i:05d}" if rng.random() < 0.8 else None,
            },
        )
        price = round(rng.uniform(20, 5000), 2)
        for book, factor in ((standard, 1.0), (custom, 0.9)):
            entries.append(
                b.add(
                    "PricebookEntry",
                    {
                        "Pricebook2Id": book["Id"],
                        "Product2Id": product["Id"],
                        "UnitPrice": round(price * factor, 2),
                        "IsActive": True,
                        "Name": product["Name"],
                        "ProductCode": product["ProductCode"],
                    },
                )
            )
    # One small customer without an ERP number (so SAP's credit never overwrites it) has a
    # 20,000 CNY limit: its activated orders are over credit (the sf-sap credit hold).
    watch = next((a for a in accounts if a["ERP_Customer_Id__c"] is None), None)
    if watch is not None:
        watch["Credit_Limit__c"] = 20000.0
    standard_entries = [e for e in entries if e["Pricebook2Id"] == standard["Id"]]
    for i in range(size.orders):
        account = rng.choice(accounts)
        activated = rng.random() < 0.5
        order = b.add(
            "Order",
            {
                "AccountId": account["Id"],
                "EffectiveDate": (now - timedelta(days=rng.randint(0, 60))).date().isoformat(),
                "Status": "Activated" if activated else "Draft",
                "Pricebook2Id": standard["Id"],
                "OrderNumber": b.auto("Order", 8),
                "PoNumber": f"PO-{2024000 + i}",
                "ERP_SalesOrder__c": str(5000000 + i) if activated and rng.random() < 0.6 else None,
                "Region__c": account["Region__c"],
            },
        )
        total = 0.0
        for entry in rng.sample(standard_entries, k=min(len(standard_entries), rng.randint(1, 4))):
            quantity = float(rng.randint(1, 50))
            line = round(quantity * float(entry["UnitPrice"]), 2)  # type: ignore[arg-type]  # float
            total += line
            b.add(
                "OrderItem",
                {
                    "OrderId": order["Id"],
                    "PricebookEntryId": entry["Id"],
                    "Product2Id": entry["Product2Id"],
                    "Quantity": quantity,
                    "UnitPrice": entry["UnitPrice"],
                    "ListPrice": entry["UnitPrice"],
                    "TotalPrice": line,
                    "OrderItemNumber": b.auto("OrderItem", 10),
                },
            )
        order["TotalAmount"] = round(total, 2)
    for _ in range(size.cases):
        contact = rng.choice(contacts)
        status = rng.choice(["New", "Working", "Escalated", "Closed"])
        b.add(
            "Case",
            {
                "CaseNumber": b.auto("Case", 8),
                "Subject": rng.choice(["设备故障，需要更换零件", "Pump leaking", "安装咨询"]),
                "Status": status,
                "IsClosed": status == "Closed",
                "Priority": rng.choice(["High", "Medium", "Low"]),
                "Origin": rng.choice(["Phone", "Email", "Web"]),
                "AccountId": contact["AccountId"],
                "ContactId": contact["Id"],
                "Parts_Needed__c": rng.random() < 0.4,
            },
        )
    b.stamp_all(now)
    org.load_seed(b.rows)
    return len(b.rows)
