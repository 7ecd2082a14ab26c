"""Realistic seed data: 客户, 物料, 销售订单 with lines, 即时库存, 信用额度, 采购申请.

Deterministic for a seed. Customers, materials, sales orders and requisitions go through
the same Save/Submit/Audit rules as client calls (so the seed obeys the simulator's own
checks); the read-only forms (organisations, units, stock balances, credit) are put
directly. Stamps are spread over the 30 days before the seeding time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from erpbridge.sims.kingdee.forms import FORMS, FormDef
from erpbridge.sims.kingdee.rules import Rules, SaveOptions, StatusOp
from erpbridge.sims.kingdee.state import KingdeeState, Row

__all__ = ["SeedSize", "seed_state"]


@dataclass(frozen=True, slots=True)
class SeedSize:
    """How many records to make. Defaults suit the sandbox."""

    customers: int = 40
    materials: int = 30
    orders: int = 60
    requisitions: int = 15


_BASIC: dict[str, list[tuple[str, str]]] = {
    "ORG_Organizations": [("100", "蓝海机械总公司"), ("101", "蓝海机械上海分公司")],
    "BD_Currency": [("PRE001", "人民币"), ("PRE002", "香港元"), ("PRE007", "美元")],
    "BD_UNIT": [("Pcs", "个"), ("kg", "千克"), ("Box", "箱"), ("Set", "套"), ("m", "米")],
    "BD_STOCK": [("CK001", "成品仓"), ("CK002", "原材料仓"), ("CK003", "华东仓")],
    "BD_Department": [("BM001", "销售部"), ("BM002", "采购部"), ("BM003", "售后服务部")],
    "V_BD_SALESMAN": [("XSY001", "张伟"), ("XSY002", "李娜"), ("XSY003", "王芳")],
    "BD_Empinfo": [("YG001", "刘洋"), ("YG002", "陈静"), ("YG003", "赵磊")],
    "BD_Supplier": [("VEN00001", "苏州精工零部件有限公司"), ("VEN00002", "宁波恒达轴承有限公司")],
    "BOS_BillType": [("XSDD01_SYS", "标准销售订单"), ("CGSQD01_SYS", "标准采购申请")],
}
_CITIES = ["深圳市", "上海", "北京", "广州市", "杭州", "成都", "武汉", "苏州", "南京", "东莞市"]
_WORDS = ["华强", "恒通", "鼎盛", "宏远", "新锐", "金桥", "瑞丰", "天诚", "东方", "博远", "嘉禾"]
_TRADES = ["电子科技", "机电设备", "自动化", "贸易", "精密机械", "智能装备"]
_PROVINCES = {"深圳市": "广东省", "广州市": "广东省", "东莞市": "广东省", "杭州": "浙江省"}
_MATERIALS = [
    ("伺服电机", "750W 220V"),
    ("减速机", "NMRV040 速比1:30"),
    ("变频器", "2.2kW 380V"),
    ("PLC控制器", "32点 晶体管输出"),
    ("触摸屏", "7寸 TFT"),
    ("直线导轨", "HGH20CA 长度1000mm"),
    ("滚珠丝杠", "SFU1605 长度500mm"),
    ("气缸", "SC50x100"),
    ("电磁阀", "4V210-08 DC24V"),
    ("接近开关", "M12 NPN常开"),
]


def _put_basic(state: KingdeeState, form: FormDef, number: str, name: str) -> None:
    row: Row = {
        form.pk: state.next_id(form.form_id),
        "FNumber": number,
        "FName": name,
        "FDocumentStatus": "C",
        "FForbidStatus": "A",
        "FCreateDate": state.now_text(),
        "FModifyDate": state.now_text(),
        "FAuditDate": state.now_text(),
    }
    state.put(form, row)


def seed_state(state: KingdeeState, *, seed: int = 0, size: SeedSize | None = None) -> None:
    """Fill an empty state with a reproducible company."""
    size = size or SeedSize()
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    real_clock = state.clock
    start = real_clock() - timedelta(days=30)
    total = size.customers + size.orders + size.materials + size.requisitions + 50
    step = timedelta(days=30) / (12 * total)  # about 7 stamps per record; never past now
    tick = [start]
    end = start + timedelta(days=30)

    def clock() -> datetime:
        tick[0] = min(tick[0] + step, end)
        return tick[0]

    state.clock = clock
    try:
        with state.batch():  # one SQLite transaction: much faster
            for form_id, items in _BASIC.items():
                for number, name in items:
                    _put_basic(state, FORMS[form_id.lower()], number, name)
            rules = Rules(state)
            customers = _customers(rules, rng, size.customers)
            materials = _materials(rules, rng, size.materials)
            _orders(rules, rng, size.orders, customers, materials)
            _requisitions(rules, rng, size.requisitions, materials)
            _inventory(state, rng, materials)
            _credit(state, rng, customers)
            state.persist_counters()
    finally:
        state.clock = real_clock


def _audit(rules: Rules, form: FormDef, number: str, to: str) -> None:
    steps = {"A": [], "B": [StatusOp.SUBMIT], "C": [StatusOp.SUBMIT, StatusOp.AUDIT]}[to]
    for op in steps:
        rules.change_status(form, op, rules.targets(form, {"numbers": [number]}))


def _customers(rules: Rules, rng: random.Random, count: int) -> list[str]:
    form = FORMS["bd_customer"]
    numbers = []
    for i in range(count):
        city = _CITIES[i % len(_CITIES)]
        name = f"{city}{rng.choice(_WORDS)}{rng.choice(_TRADES)}有限公司"
        model = {
            "FNumber": f"CUST{i + 1:05d}",
            "FName": name if i < len(_CITIES) * 3 else f"{name}（{i + 1}）",
            "FShortName": name.removeprefix(city)[:4],
            "FCreateOrgId": {"FNumber": "100"},
            "FUseOrgId": {"FNumber": "100"},
            "FTEL": f"0{rng.randint(10, 999)}-{rng.randint(2000_0000, 8999_9999)}",
            "FADDRESS": f"{_PROVINCES.get(city, '')}{city}高新区科技路{rng.randint(1, 300)}号",
            "FCOUNTRY": "中国",
            "FPROVINCIAL": _PROVINCES.get(city, city),
            "FTRADINGCURRID": {"FNumber": "PRE001"},
            "FSELLER": {"FNumber": rng.choice(["XSY001", "XSY002", "XSY003"])},
            "FTaxRegisterCode": f"91{rng.randint(10**15, 10**16 - 1)}X",
        }
        row, _ = rules.save(form, model, SaveOptions())
        number = str(row["FNumber"])
        _audit(rules, form, number, "C" if i % 7 else "A")
        numbers.append(number)
    return numbers


def _materials(rules: Rules, rng: random.Random, count: int) -> list[str]:
    form = FORMS["bd_material"]
    numbers = []
    for i in range(count):
        name, spec = _MATERIALS[i % len(_MATERIALS)]
        model = {
            "FNumber": f"WL{i + 1:05d}",
            "FName": name,
            "FSpecification": spec if i < len(_MATERIALS) else f"{spec} 型{i // len(_MATERIALS)}",
            "FCreateOrgId": {"FNumber": "100"},
            "FUseOrgId": {"FNumber": "100"},
            "SubHeadEntity": {
                "FBaseUnitId": {"FNumber": "Pcs" if i % 5 else "Set"},
                "FErpClsID": "1" if i % 3 else "2",
                "FTaxRateId": 13,
            },
        }
        row, _ = rules.save(form, model, SaveOptions())
        _audit(rules, form, str(row["FNumber"]), "C")
        numbers.append(str(row["FNumber"]))
    return numbers


def _orders(
    rules: Rules, rng: random.Random, count: int, customers: list[str], materials: list[str]
) -> None:
    form = FORMS["sal_saleorder"]
    for i in range(count):
        day = datetime(2026, 10, 1) + timedelta(days=i % 50)
        lines = [
            {
                "FMaterialId": {"FNumber": rng.choice(materials)},
                "FUnitID": {"FNumber": "Pcs"},
                "FQty": rng.randint(1, 50),
                "FTaxPrice": rng.choice([113, 226, 339, 565, 1130, 2260]),
                "FEntryTaxRate": 13,
                "FDeliveryDate": (day + timedelta(days=7)).strftime("%Y-%m-%d"),
            }
            for _ in range(rng.randint(1, 4))
        ]
        model = {
            "FBillTypeID": {"FNUMBER": "XSDD01_SYS"},
            "FDate": day.strftime("%Y-%m-%d"),
            "FSaleOrgId": {"FNumber": "100"},
            "FCustId": {"FNumber": rng.choice(customers)},
            "FSalerId": {"FNumber": rng.choice(["XSY001", "XSY002", "XSY003"])},
            "FSaleDeptId": {"FNumber": "BM001"},
            "FNote": rng.choice(["", "加急", "分批发货", "客户自提"]),
            "FSaleOrderFinance": {"FSettleCurrId": {"FNumber": "PRE001"}, "FIsIncludedTax": True},
            "FSaleOrderEntry": lines,
        }
        row, _ = rules.save(form, model, SaveOptions())
        _audit(rules, form, str(row["FBillNo"]), rng.choice("ABCC"))


def _requisitions(rules: Rules, rng: random.Random, count: int, materials: list[str]) -> None:
    form = FORMS["pur_requisition"]
    for i in range(count):
        day = datetime(2026, 10, 5) + timedelta(days=i * 2)
        model = {
            "FApplicationDate": day.strftime("%Y-%m-%d"),
            "FApplicationOrgId": {"FNumber": "100"},
            "FApplicantId": {"FNumber": rng.choice(["YG001", "YG002", "YG003"])},
            "FApplicationDeptId": {"FNumber": "BM003"},
            "FCurrencyId": {"FNumber": "PRE001"},
            "FNote": "售后维修备件申请",
            "FEntity": [
                {
                    "FMaterialId": {"FNumber": rng.choice(materials)},
                    "FUnitId": {"FNumber": "Pcs"},
                    "FReqQty": rng.randint(1, 20),
                    "FArrivalDate": (day + timedelta(days=10)).strftime("%Y-%m-%d"),
                    "FPurchaseOrgId": {"FNumber": "100"},
                    "FSuggestSupplierId": {"FNumber": rng.choice(["VEN00001", "VEN00002"])},
                }
            ],
        }
        row, _ = rules.save(form, model, SaveOptions())
        _audit(rules, form, str(row["FBillNo"]), rng.choice("ABC"))


def _ref(state: KingdeeState, form_id: str, number: str) -> object:
    form = FORMS[form_id.lower()]
    row = state.by_number(form, number)
    return None if row is None else row[form.pk]


def _inventory(state: KingdeeState, rng: random.Random, materials: list[str]) -> None:
    form = FORMS["stk_inventory"]
    for m, material in enumerate(materials):
        for stock in ("CK001", "CK003")[: 1 + m % 2]:
            qty = float(rng.randint(0, 500))
            locked = float(min(qty, rng.randint(0, 40)))
            row: Row = {
                "FID": f"{rng.getrandbits(128):032x}",
                "FStockOrgId": _ref(state, "ORG_Organizations", "100"),
                "FStockId": _ref(state, "BD_STOCK", stock),
                "FMaterialId": _ref(state, "BD_MATERIAL", material),
                "FLot": "",
                "FStockUnitId": _ref(state, "BD_UNIT", "Pcs"),
                "FBaseUnitId": _ref(state, "BD_UNIT", "Pcs"),
                "FQty": qty,
                "FBaseQty": qty,
                "FBaseAvbQty": qty - locked,
                "FBaseLockQty": locked,
            }
            state.put(form, row)


def _credit(state: KingdeeState, rng: random.Random, customers: list[str]) -> None:
    form = FORMS["cre_custcreditprofile"]
    for i, customer in enumerate(customers):
        limit = float(rng.choice([50_000, 100_000, 200_000, 500_000, 1_000_000]))
        used = float(round(limit * rng.random() * 0.9, 2))
        now = state.now_text()
        row: Row = {
            "FID": state.next_id(form.form_id),
            "FNumber": f"XYDA{i + 1:05d}",
            "FCustomerId": _ref(state, "BD_Customer", customer),
            "FCreditOrgId": _ref(state, "ORG_Organizations", "100"),
            "FCurrencyId": _ref(state, "BD_Currency", "PRE001"),
            "FCreditAmount": limit,
            "FUsedAmount": used,
            "FAvailableAmount": round(limit - used, 2),
            "FCreditDays": rng.choice([30, 60, 90]),
            "FDocumentStatus": "C",
            "FForbidStatus": "A",
            "FCreateDate": now,
            "FModifyDate": now,
            "FAuditDate": now,
        }
        state.put(form, row)
