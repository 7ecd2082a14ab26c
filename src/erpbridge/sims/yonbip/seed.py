"""Realistic seed data: 客户, 物料, 销售订单 with lines, 现存量, credit limits (the stand-in
of credit.py); deterministic per seed.

Customers and orders go through the same save rules as client calls, so the seed obeys
the simulator's own checks; materials and stock are put directly (read-only here).
Stamps are spread over the 30 days before the seeding time. The word lists are shared
with the U8 simulator (``sims/yonyou``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from erpbridge.sims.yonbip.credit import set_credit_limit
from erpbridge.sims.yonbip.merchant import CLASSES, MerchantApi
from erpbridge.sims.yonbip.orders import OrderApi
from erpbridge.sims.yonbip.state import BipState

__all__ = [
    "CITIES",
    "MATERIALS",
    "TRADES",
    "WAREHOUSES",
    "WORDS",
    "SeedSize",
    "company_name",
    "seed_state",
]

CITIES = ["深圳市", "上海", "北京", "广州市", "杭州", "成都", "武汉", "苏州", "南京", "东莞市"]
WORDS = ["华强", "恒通", "鼎盛", "宏远", "新锐", "金桥", "瑞丰", "天诚", "东方", "博远", "嘉禾"]
TRADES = ["电子科技", "机电设备", "自动化", "贸易", "精密机械", "智能装备"]
MATERIALS = [
    ("伺服电机", "750W 220V", "台"),
    ("减速机", "NMRV040 速比1:30", "台"),
    ("变频器", "2.2kW 380V", "台"),
    ("PLC控制器", "32点 晶体管输出", "个"),
    ("触摸屏", "7寸 TFT", "个"),
    ("直线导轨", "HGH20CA 长度1000mm", "根"),
    ("滚珠丝杠", "SFU1605 长度500mm", "根"),
    ("气缸", "SC50x100", "个"),
    ("电磁阀", "4V210-08 DC24V", "个"),
    ("接近开关", "M12 NPN常开", "个"),
]
WAREHOUSES = [("CK01", "成品仓"), ("CK02", "华东仓"), ("CK03", "华南仓")]


@dataclass(frozen=True, slots=True)
class SeedSize:
    """How many records to make. Defaults suit the sandbox."""

    customers: int = 40
    materials: int = 30
    orders: int = 60


def company_name(rng: random.Random) -> str:
    """A plausible Chinese company name (``深圳市华强电子科技有限公司``)."""
    return f"{rng.choice(CITIES)}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司"


class _SeedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def seed_state(state: BipState, *, seed: int = 0, size: SeedSize | None = None) -> None:
    """Fill an empty state with customers, materials, stock and orders."""
    size = size or SeedSize()
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    real_clock = state.clock
    end = real_clock()
    clock = _SeedClock(end - timedelta(days=30))
    state.clock = clock
    step = timedelta(days=30) / max(1, size.customers + size.materials + size.orders)
    try:
        with state.batch():
            _materials(state, rng, size, clock, step)
            merchants = MerchantApi(state)
            for n in range(size.customers):
                clock.now += step
                merchants.save_one(
                    {
                        "code": f"KH{n + 1:04d}",
                        "name": {"zh_CN": company_name(rng)},
                        "createOrgCode": "991",
                        "customerClassCode": rng.choice(sorted(CLASSES)),
                        "creditCode": f"91{rng.randrange(10**15, 10**16)}X",
                        "contactName": rng.choice(["张伟", "李娜", "王芳", "刘洋", "陈静"]),
                        "contactTel": f"13{rng.randrange(10**8, 10**9)}",
                        "address": _address(rng),
                    }
                )
            _orders(state, rng, size, clock, step)
            _credit_limits(state, rng)
    finally:
        state.clock = real_clock


def _address(rng: random.Random) -> str:
    return f"{rng.choice(CITIES)}{rng.choice(WORDS)}路{rng.randint(1, 999)}号"


def _materials(
    state: BipState, rng: random.Random, size: SeedSize, clock: _SeedClock, step: timedelta
) -> None:
    for n in range(size.materials):
        clock.now += step
        name, spec, unit = MATERIALS[n % len(MATERIALS)]
        product = {
            "id": state.next_id(),
            "code": f"WL{n + 1:05d}",
            "name": {"zh_CN": name if n < len(MATERIALS) else f"{name}-{n // len(MATERIALS)}"},
            "modelDescription": spec,
            "unitCode": unit,
            "manageClassCode": "0101",
            "pubts": state.now_text(),
        }
        state.put("product", product)
        for wh_code, wh_name in WAREHOUSES:
            qty = rng.randint(0, 500)
            state.put(
                "stock",
                {
                    "id": state.next_id(),
                    "org": "991",
                    "warehouse": wh_code,
                    "warehouse_name": wh_name,
                    "product": product["id"],
                    "productCode": product["code"],
                    "batchno": "",
                    "currentqty": qty,
                    "availableqty": max(0, qty - rng.randint(0, 50)),
                },
            )


def _orders(
    state: BipState, rng: random.Random, size: SeedSize, clock: _SeedClock, step: timedelta
) -> None:
    orders = OrderApi(state)
    customers = state.rows("merchant")
    products = state.rows("product")
    for _ in range(size.orders):
        clock.now += step
        lines = []
        for _ in range(rng.randint(1, 4)):
            qty = rng.randint(1, 50)
            price = Decimal(rng.randrange(5000, 500000)) / 100
            lines.append(
                {
                    "_status": "Insert",
                    "productId": rng.choice(products)["code"],
                    "qty": qty,
                    "oriTaxUnitPrice": float(price),
                    "oriSum": float(price * qty),
                    "taxId": "VAT13",
                    "stockOrgId": "991",
                }
            )
        total = sum(Decimal(str(x["oriSum"])) for x in lines)
        saved = orders.single_save(
            {
                "data": {
                    "_status": "Insert",
                    "salesOrgId": "991",
                    "transactionTypeId": "SO01",
                    "vouchdate": clock.now.strftime("%Y-%m-%d 00:00:00"),
                    "agentId": rng.choice(customers)["code"],
                    "payMoney": float(total),
                    "orderPrices!currency": "CNY",
                    "orderPrices!natCurrency": "CNY",
                    "orderPrices!exchRate": 1,
                    "orderDetails": lines,
                }
            },
            "seed",
        )
        if rng.random() < 0.5 and isinstance(saved[2], dict):
            orders.audit({"data": [{"id": saved[2]["id"]}]}, audit=True)


def _credit_limits(state: BipState, rng: random.Random) -> None:
    """Credit limits (the stand-in projection, credit.py) for every other customer: what
    its audited orders use, rounded up, plus 50 000 to 500 000 元 of headroom."""
    for n, customer in enumerate(state.rows("merchant")):
        if n % 2:
            continue
        used = sum(
            Decimal(str(o.get("payMoney") or 0))
            for o in state.rows("voucherorder")
            if o.get("agentId") == customer["id"] and o.get("status") == 1
        )
        limit = (int(used) // 10_000 + 1) * 10_000 + rng.randrange(5, 50) * 10_000
        set_credit_limit(state, {"customer": customer["id"], "creditLimit": limit})
