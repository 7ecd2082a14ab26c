"""Realistic U8 seed data: 客户, 存货, 现存量, 销售订单 with lines (deterministic per seed).

Customers and sale orders go through the same rules as client calls; inventory and stock
are put directly (read-only in the OpenAPI served here). Stamps are spread over the 30
days before the seeding time. Word lists are shared with the YonBIP simulator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from erpbridge.sims.yonbip.seed import CITIES, MATERIALS, WAREHOUSES, WORDS, company_name
from erpbridge.sims.yonyou.records import DEPARTMENTS, PERSONS, SORTS, Records
from erpbridge.sims.yonyou.state import U8State

__all__ = ["SeedSize", "seed_state"]


@dataclass(frozen=True, slots=True)
class SeedSize:
    """How many records to make. Defaults suit the sandbox."""

    customers: int = 40
    inventories: int = 30
    orders: int = 60


def _address(rng: random.Random) -> str:
    return f"{rng.choice(CITIES)}{rng.choice(WORDS)}路{rng.randint(1, 999)}号"


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def seed_state(state: U8State, *, seed: int = 0, size: SeedSize | None = None) -> None:
    """Fill an empty state."""
    size = size or SeedSize()
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    real = state.clock
    clock = _Clock(real() - timedelta(days=30))
    step = timedelta(days=30) / max(1, size.customers + size.inventories + size.orders)
    state.clock = clock
    records = Records(state)
    try:
        with state.batch():
            for n in range(size.inventories):
                clock.now += step
                name, spec, unit = MATERIALS[n % len(MATERIALS)]
                code = f"0{n + 1:05d}"
                suffix = "" if n < len(MATERIALS) else f"-{n // len(MATERIALS)}"
                item = {
                    "code": code,
                    "name": name + suffix,
                    "specs": spec,
                    "sort_code": "01",
                    "unitname": unit,
                    "taxrate": 13.0,
                    "ts": state.now_text(),
                }
                state.put("inventory", code, item)
                for wh_code, wh_name in WAREHOUSES:
                    qty = rng.randint(0, 500)
                    key = f"{wh_code}|{code}|"
                    state.put(
                        "currentstock",
                        key,
                        {
                            "whcode": wh_code,
                            "whname": wh_name,
                            "invcode": code,
                            "invname": item["name"],
                            "batch": "",
                            "quantity": float(qty),
                            "availablequantity": float(max(0, qty - rng.randint(0, 50))),
                            "ts": state.now_text(),
                        },
                    )
            for n in range(size.customers):
                clock.now += step
                name = company_name(rng)
                records.customer_save(
                    {
                        "customer": {
                            "code": f"C{n + 1:04d}",
                            "name": name,
                            "abbrname": name.replace("有限公司", "")[-6:],
                            "sort_code": rng.choice(sorted(SORTS)),
                            "address": _address(rng),
                            "phone": f"0{rng.randint(10, 999)}-{rng.randint(1000000, 99999999)}",
                            "contact": rng.choice(["张伟", "李娜", "王芳", "刘洋"]),
                            "creditline": float(rng.choice([50000, 100000, 200000, 500000])),
                            "creditdays": rng.choice([30, 60, 90]),
                        }
                    },
                    is_new=True,
                )
            customers = state.rows("customer")
            inventories = state.rows("inventory")
            for _ in range(size.orders):
                clock.now += step
                entry = [
                    {
                        "inventorycode": rng.choice(inventories)["code"],
                        "quantity": rng.randint(1, 50),
                        "taxunitprice": rng.randrange(5000, 500000) / 100,
                        "taxrate": 13,
                        "bgift": 0,
                        "rowno": n + 1,
                    }
                    for n in range(rng.randint(1, 4))
                ]
                answer = records.order_add(
                    {
                        "saleorder": {
                            "businesstype": "普通销售",
                            "typecode": "1",
                            "custcode": rng.choice(customers)["code"],
                            "deptcode": rng.choice(sorted(DEPARTMENTS)),
                            "personcode": rng.choice(sorted(PERSONS)),
                            "date": clock.now.strftime("%Y-%m-%d"),
                            "entry": entry,
                        }
                    }
                )
                if rng.random() < 0.5 and isinstance(answer, dict):
                    records.order_verify({"saleorder": {"voucher_code": answer["id"]}})
    finally:
        state.clock = real
