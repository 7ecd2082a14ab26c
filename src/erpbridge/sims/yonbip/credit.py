"""Customer credit (信用) — a STAND-IN, NOT A YONYOU API (reference §B3: "not found [U]").

YonBIP keeps credit control (信用控制) in its sales domain, but no open-API document for
reading a customer's credit limit or exposure was found. The reference asks for "a
read-only creditLimit/creditUsed projection, labelled non-vendor"; this module is that
projection, served at :data:`CREDIT_API` — a path chosen by erpbridge, which a tenant
would have to publish itself (for instance as a YonBuilder custom API) for the
``credit`` object of the yonbip connector to work against a real YonBIP.

- ``POST /yonbip/erpbridge/credit/list`` (stand-in): ``pageIndex``, ``pageSize`` (≤ 500),
  ``simpleVOs`` on ``id``, ``customerId``, ``customerCode``, ``pubts``, ``queryOrders``;
  answers ``data: {pageIndex, pageSize, recordCount, pageCount, recordList}`` like the
  voucherorder list. A record: ``id``, ``customerId``, ``customerCode``, ``customerName``,
  ``creditLimit``, ``creditUsed``, ``creditAvailable`` (= limit − used), ``currency``,
  ``pubts``.
- ``creditUsed`` is the sum of ``payMoney`` of the customer's audited orders (status 1,
  delivered or not): it grows when an order is audited and falls when one is un-audited
  or deleted, and each such change moves the record's ``pubts`` (so incremental reads
  see it). Real credit control also counts receivables; the stand-in does not.
- The limit is set by a person in YonBIP; here through the simulator's control path
  ``POST /sim/credit`` (``{"customer": id or code, "creditLimit": n}``), never through
  the gateway: the projection stays read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from erpbridge.sims.yonbip.query import (
    page_of,
    parse_conditions,
    parse_orders,
    positive_int,
    stamp_floor,
)
from erpbridge.sims.yonbip.rules import lang_text
from erpbridge.sims.yonbip.state import BipState, Row
from erpbridge.sims.yonbip.wire import ApiError, Code

__all__ = ["CREDIT_API", "CREDIT_FIELDS", "CreditApi", "refresh_credit", "set_credit_limit"]

#: the stand-in's path (erpbridge's choice; not a vendor API).
CREDIT_API = "/yonbip/erpbridge/credit/list"
#: fields the list accepts in simpleVOs and queryOrders.
CREDIT_FIELDS = ("id", "customerId", "customerCode", "pubts")
#: order status that uses credit: 已审核 (audited; delivered orders stay audited).
_AUDITED = 1
_CENT = Decimal("0.01")


def _credit_of(state: BipState, customer_id: int) -> Row | None:
    return next(
        (r for r in state.rows("credit") if r.get("customerId") == customer_id),
        None,
    )


def _used(state: BipState, customer_id: int) -> Decimal:
    total = Decimal(0)
    for order in state.rows("voucherorder"):
        if order.get("agentId") == customer_id and order.get("status") == _AUDITED:
            total += Decimal(str(order.get("payMoney") or 0))
    return total.quantize(_CENT)


def _with_amounts(state: BipState, row: Row, limit: Decimal) -> Row:
    used = _used(state, int(str(row["customerId"])))
    return {
        **row,
        "creditLimit": float(limit),
        "creditUsed": float(used),
        "creditAvailable": float((limit - used).quantize(_CENT)),
    }


def refresh_credit(state: BipState, customer_id: object) -> None:
    """Recompute a customer's ``creditUsed`` after its orders changed; moves ``pubts``
    only when the amounts changed. Customers without a credit limit have no record."""
    if not isinstance(customer_id, int):
        return
    row = _credit_of(state, customer_id)
    if row is None:
        return
    fresh = _with_amounts(state, row, Decimal(str(row["creditLimit"])))
    if fresh != row:
        fresh["pubts"] = state.now_text()
        state.put("credit", fresh)


def set_credit_limit(state: BipState, body: Mapping[str, object]) -> Row:
    """Set (or create) a customer's credit limit, as a credit manager does in YonBIP.

    Raises:
        ApiError: 999 for an unknown customer or a limit that is not a number ≥ 0.
    """
    customer = state.resolve("merchant", body.get("customer"))
    if customer is None:
        raise ApiError(Code.BUSINESS, f"客户[customer]编码或ID[{body.get('customer')}]不存在")
    raw = body.get("creditLimit")
    try:
        limit = Decimal(str(raw)).quantize(_CENT)
    except (InvalidOperation, ValueError):
        raise ApiError(Code.BUSINESS, f"信用额度[creditLimit]应为数字，收到[{raw}]") from None
    if isinstance(raw, bool) or not limit.is_finite() or limit < 0 or limit >= 10**15:
        raise ApiError(Code.BUSINESS, f"信用额度[creditLimit]应为 0 到 10^15 的数字，收到[{raw}]")
    customer_id = int(str(customer["id"]))
    old = _credit_of(state, customer_id)
    row: Row = dict(old) if old else {"id": state.next_id(), "customerId": customer_id}
    row.update(
        {
            "customerCode": customer["code"],
            "customerName": lang_text(customer.get("name")),
            "currency": str(body.get("currency") or "CNY"),
            "pubts": state.now_text(),
        }
    )
    return state.put("credit", _with_amounts(state, row, limit))


class CreditApi:
    """The stand-in credit list over one state."""

    def __init__(self, state: BipState) -> None:
        self.state = state

    def list_page(self, body: Mapping[str, object]) -> object:
        """One page of credit records."""
        index = positive_int(body, "pageIndex", 1, 1_000_000)
        size = positive_int(body, "pageSize", 10, 500)
        tests = parse_conditions(body.get("simpleVOs"), CREDIT_FIELDS)
        orders = parse_orders(body.get("queryOrders"), CREDIT_FIELDS) or [("pubts", False)]
        rows = self.state.rows_from("credit", stamp_floor(tests))
        page = page_of(rows, tests, orders, index, size)
        return {
            "pageIndex": page.index,
            "pageSize": page.size,
            "recordCount": page.total,
            "pageCount": page.page_count,
            "recordList": page.rows,
        }
