"""One business day in the simulated pod (``POST /sim/tick``; a simulator control, not Oracle's).

What people and scheduled processes in Fusion do between two polls, so status flows back:

- Order Management fulfils open orders a step a day: lines ``AWAIT_SHIP`` (Awaiting
  Shipping) → ``AWAIT_BILLING`` (shipped, Awaiting Billing) → ``BILLED`` → ``CLOSED``, and the
  header is ``CLOSED`` when every line is (its credit exposure is released); cancelled
  lines (``CANCELED``) stay as they are;
- procurement works requisitions: ``Incomplete`` is submitted (``Pending approval``), a
  pending one is ``Approved``.

The status codes are Fusion's fulfilment line statuses; the order of the steps is the
simulator's simplification (no partial shipments, no holds).
"""

from __future__ import annotations

from typing import cast

from erpbridge.sims.oracle.rules import Rules
from erpbridge.sims.oracle.state import VERSION_KEY, Row

__all__ = ["LINE_STEPS", "REQUISITION_STEPS", "run_business_day"]

LINE_STEPS = {"AWAIT_SHIP": "AWAIT_BILLING", "AWAIT_BILLING": "BILLED", "BILLED": "CLOSED"}
REQUISITION_STEPS = {"Incomplete": "Pending approval", "Pending approval": "Approved"}


def _step_order(rules: Rules, key: str, order: Row) -> bool:
    if order.get("StatusCode") != "OPEN":
        return False
    row = {k: v for k, v in order.items() if k != VERSION_KEY}
    lines = [dict(line) for line in cast(list[Row], row.get("lines") or [])]
    for line in lines:
        line["StatusCode"] = LINE_STEPS.get(str(line.get("StatusCode")), line.get("StatusCode"))
    row["lines"] = lines
    done = [line for line in lines if line["StatusCode"] != "CANCELED"]  # cancelled stay so
    if done and all(line["StatusCode"] == "CLOSED" for line in done):
        row["StatusCode"] = "CLOSED"
    row["LastUpdateDate"] = rules.state.now()
    rules.state.put("salesOrdersForOrderHub", key, row)
    rules.orders.move_exposure(order, row)
    return True


def _step_requisition(rules: Rules, key: str, requisition: Row) -> bool:
    status = str(requisition.get("DocumentStatus"))
    if status not in REQUISITION_STEPS:
        return False
    row = {k: v for k, v in requisition.items() if k != VERSION_KEY}
    row["DocumentStatus"] = REQUISITION_STEPS[status]
    row["LastUpdateDate"] = rules.state.now()
    rules.state.put("purchaseRequisitions", key, row)
    return True


def run_business_day(rules: Rules) -> dict[str, int]:
    """Move every open order and requisition one step; returns how many of each moved."""
    moved = {"orders": 0, "requisitions": 0}
    with rules.state.transaction():
        for key, order in rules.state.rows("salesOrdersForOrderHub"):
            moved["orders"] += _step_order(rules, key, order)
        for key, requisition in rules.state.rows("purchaseRequisitions"):
            moved["requisitions"] += _step_requisition(rules, key, requisition)
    return moved
