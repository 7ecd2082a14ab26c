"""Realistic seed data: 客户, 联系人, 销售订单 with order lines, 售后工单 with parts, 库存.

Deterministic for a seed. Records are created through :class:`JdyState` (so they carry the
same system fields as API-created ones) on a clock that walks forward from 90 days ago, so
``createTime``/``updateTime`` and the ObjectIds spread over past months.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from erpbridge.sims.jiandaoyun.state import JdyState
from erpbridge.sims.jiandaoyun.values import format_time, member
from erpbridge.sims.jiandaoyun.widgets import (
    CONTACT,
    CUSTOMER,
    INVENTORY,
    SALES_ORDER,
    SERVICE_TICKET,
)

__all__ = ["SeedSize", "seed_state"]

_COMPANIES = [
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
_PLACES = [
    ("上海市", "上海市", "静安区", "南京西路1266号"),
    ("北京市", "北京市", "海淀区", "中关村大街27号"),
    ("广东省", "深圳市", "南山区", "深南大道9988号"),
    ("浙江省", "杭州市", "西湖区", "文三路478号"),
    ("四川省", "成都市", "武侯区", "人民南路四段12号"),
    ("湖北省", "武汉市", "江汉区", "解放大道690号"),
]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "婷", "杰"]
_TITLES = ["采购经理", "财务总监", "总经理", "设备主管", "仓库主管"]
_MATERIALS = [
    ("M-1001", "伺服电机 750W"),
    ("M-1002", "变频器 2.2kW"),
    ("M-1003", "PLC 控制器"),
    ("M-1004", "光电传感器"),
    ("M-1005", "气缸 SC63x100"),
    ("M-1006", "直线导轨 HGR20"),
    ("M-1007", "减速机 1:20"),
    ("M-1008", "触摸屏 10寸"),
]
_INDUSTRIES = ["制造业", "食品", "医疗", "物流", "化工", "贸易"]
_OWNERS = ["zhangwei", "lina", "wangfang", "liuyang", "chenjing"]
_PROBLEMS = [
    "设备异响，需上门检修",
    "控制器报警 E07",
    "传感器无信号",
    "电机过热停机",
    "触摸屏无显示",
]


@dataclass(frozen=True, slots=True)
class SeedSize:
    """How many records to make. Default: a sandbox-sized data set."""

    customers: int = 40
    contacts_per_customer: int = 2
    orders: int = 150
    tickets: int = 30


class _WalkingClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(["", *_GIVEN])


def seed_state(state: JdyState, *, seed: int = 0, size: SeedSize | None = None) -> None:
    """Fill an empty state (no pushes are sent for seed data)."""
    size = size or SeedSize()
    rng = random.Random(seed)  # noqa: S311 - seed data, not crypto
    real_clock = state.clock
    clock = _WalkingClock(real_clock() - timedelta(days=90))
    state.clock = clock
    step = timedelta(days=89) / max(1, size.customers + size.orders + size.tickets + 2)
    try:
        codes = _customers(state, rng, size, clock, step)
        _inventory(state, rng, clock.now)
        for _ in range(size.orders):
            clock.now += step
            _order(state, rng, codes, clock.now)
        for n in range(size.tickets):
            clock.now += step
            _ticket(state, rng, codes, n, clock.now)
    finally:
        state.clock = real_clock


def _customers(
    state: JdyState, rng: random.Random, size: SeedSize, clock: _WalkingClock, step: timedelta
) -> list[str]:
    w = {x.label: x.name for x in CUSTOMER.widgets}
    c = {x.label: x.name for x in CONTACT.widgets}
    codes: list[str] = []
    for n in range(size.customers):
        clock.now += step
        code = f"C{n + 1:05d}"
        codes.append(code)
        company = _COMPANIES[n % len(_COMPANIES)]
        if n >= len(_COMPANIES):
            company = company.replace("有限公司", f"第{n // len(_COMPANIES) + 1}分公司")
        province, city, district, detail = rng.choice(_PLACES)
        fields: dict[str, object] = {
            w["客户编号"]: code,
            w["客户名称"]: company,
            w["统一社会信用代码"]: "91"
            + "".join(rng.choice("0123456789ABCDEFGH") for _ in range(16)),
            w["联系电话"]: {
                "phone": f"1{rng.randint(3, 9)}{rng.randint(0, 999999999):09d}",
                "verified": False,
            },
            w["地址"]: {"province": province, "city": city, "district": district, "detail": detail},
            w["客户经理"]: member(rng.choice(_OWNERS)),
            w["币种"]: rng.choice(["人民币", "人民币", "人民币", "美元"]),
            w["客户状态"]: "正常" if rng.random() > 0.1 else "冻结",
            # 5-50 million 元: the seeded orders are within credit (jdy-kingdee credit hold)
            w["信用额度"]: rng.choice([50_000, 100_000, 200_000, 500_000]) * 100,
            w["ERP编号"]: None,
            w["建档日期"]: format_time(clock.now),
            w["行业标签"]: rng.sample(_INDUSTRIES, rng.randint(1, 2)),
        }
        state.create(CUSTOMER, [fields], creator=rng.choice(_OWNERS), notify=False)
        contacts = [
            {
                c["姓名"]: _person(rng),
                c["客户编号"]: code,
                c["职务"]: rng.choice(_TITLES),
                c["手机"]: {
                    "phone": f"13{rng.randint(0, 999999999):09d}",
                    "verified": rng.random() > 0.5,
                },
                c["邮箱"]: f"contact{n + 1}.{k + 1}@example.cn",
                c["备注"]: "",
            }
            for k in range(size.contacts_per_customer)
        ]
        state.create(CONTACT, contacts, creator=rng.choice(_OWNERS), notify=False)
    return codes


def _order(state: JdyState, rng: random.Random, codes: list[str], now: datetime) -> None:
    w = {x.label: x.name for x in SALES_ORDER.widgets}
    lines_widget = SALES_ORDER.widgets[4]
    s = {x.label: x.name for x in lines_widget.items}
    lines: list[dict[str, object]] = []
    total = 0.0
    for mat_code, mat_name in rng.sample(_MATERIALS, rng.randint(1, 4)):
        qty = rng.randint(1, 50)
        price = float(rng.choice([120, 380, 860, 1250, 2999, 4580]))
        amount = round(qty * price, 2)
        total += amount
        lines.append(
            {
                "_id": state.new_id(),
                s["物料编码"]: mat_code,
                s["物料名称"]: mat_name,
                s["数量"]: qty,
                s["含税单价"]: price,
                s["税率"]: 0.13,
                s["金额"]: amount,
                s["交货日期"]: format_time(now + timedelta(days=rng.randint(7, 30))),
            }
        )
    status = rng.choice(["A", "B", "B", "C", "C", "C", None])
    fields: dict[str, object] = {
        w["订单编号"]: f"SO{now:%Y%m%d}{rng.randint(0, 9999):04d}",
        w["下单日期"]: format_time(now),
        w["客户编号"]: rng.choice(codes),
        w["币种"]: "人民币",
        w["订单明细"]: lines,
        w["订单总额"]: round(total, 2),
        w["销售员"]: member(rng.choice(_OWNERS)),
        w["ERP单号"]: f"XSDD{rng.randint(100000, 999999)}" if status else None,
        w["ERP状态"]: status,
        w["流水号"]: f"No.{rng.randint(1, 99999):05d}",
    }
    state.create(SALES_ORDER, [fields], creator=rng.choice(_OWNERS), flow_state=1, notify=False)


def _ticket(state: JdyState, rng: random.Random, codes: list[str], n: int, now: datetime) -> None:
    w = {x.label: x.name for x in SERVICE_TICKET.widgets}
    parts_widget = SERVICE_TICKET.widgets[6]
    s = {x.label: x.name for x in parts_widget.items}
    parts = [
        {"_id": state.new_id(), s["物料编码"]: code, s["数量"]: rng.randint(1, 3)}
        for code, _ in rng.sample(_MATERIALS, rng.randint(0, 2))
    ]
    fields: dict[str, object] = {
        w["工单编号"]: f"SR{n + 1:06d}",
        w["客户编号"]: rng.choice(codes),
        w["问题描述"]: rng.choice(_PROBLEMS),
        w["优先级"]: rng.choice(["高", "中", "低"]),
        w["处理人"]: member(rng.choice(_OWNERS)),
        w["报修时间"]: format_time(now),
        w["所需备件"]: parts,
        w["工单状态"]: rng.choice(["待处理", "处理中", "已完成"]),
        w["ERP采购申请号"]: None,
    }
    flow_state = rng.choice([0, 1])
    state.create(
        SERVICE_TICKET, [fields], creator=rng.choice(_OWNERS), flow_state=flow_state, notify=False
    )


def _inventory(state: JdyState, rng: random.Random, now: datetime) -> None:
    rows: list[dict[str, object]] = []
    for mat_code, _ in _MATERIALS:
        for warehouse in ("上海总仓", "深圳分仓"):
            on_hand = rng.randint(0, 500)
            rows.append(
                {
                    "mat_code": mat_code,
                    "warehouse": warehouse,
                    "on_hand": on_hand,
                    "available": max(0, on_hand - rng.randint(0, 50)),
                    "as_of": format_time(now),
                }
            )
    state.create(INVENTORY, rows, creator="integration", notify=False)
