"""Materials (物料, ``product``) and on-hand stock (现存量), read-only here (reference §B3).

- ``POST /yonbip/digitalModel/product/listproductbycondition``: ``pageIndex``,
  ``pageSize`` (≤ 500 [U]), ``code``, ``beganTime``/``endTime`` on ``pubts``; answers
  ``data: {pageIndex, pageSize, recordCount, recordList}`` [U: shape as the other lists].
- ``POST /yonbip/scm/stock/QueryCurrentStocksByCondition``: optional ``org``,
  ``warehouse``, ``product`` (id or code), ``batchno``; ``data`` is a plain array of
  ``{org, warehouse, warehouse_name, product, productCode, batchno, currentqty,
  availableqty}`` [P].
"""

from __future__ import annotations

from collections.abc import Mapping

from erpbridge.sims.yonbip.query import field_test, page_of, positive_int, stamp_floor
from erpbridge.sims.yonbip.state import BipState, Row

__all__ = ["ProductApi"]


class ProductApi:
    """Material and stock handlers over one state."""

    def __init__(self, state: BipState) -> None:
        self.state = state

    def list_page(self, body: Mapping[str, object]) -> object:
        """One page of materials."""
        index = positive_int(body, "pageIndex", 1, 1_000_000)
        size = positive_int(body, "pageSize", 10, 500)
        tests = []
        if body.get("code") not in (None, ""):
            tests.append(field_test("code", "eq", str(body["code"])))
        if body.get("beganTime") not in (None, ""):
            tests.append(field_test("pubts", "egt", str(body["beganTime"])))
        if body.get("endTime") not in (None, ""):
            tests.append(field_test("pubts", "elt", str(body["endTime"])))
        rows = self.state.rows_from("product", stamp_floor(tests))
        page = page_of(rows, tests, [("pubts", False)], index, size)
        return {
            "pageIndex": page.index,
            "pageSize": page.size,
            "recordCount": page.total,
            "pageCount": page.page_count,
            "recordList": page.rows,
        }

    def current_stock(self, body: Mapping[str, object]) -> object:
        """Stock balances matching every given condition."""
        out: list[Row] = []
        product = body.get("product")
        for row in self.state.rows("stock"):
            if product not in (None, "") and str(product) not in (
                str(row.get("product")),
                str(row.get("productCode")),
            ):
                continue
            if body.get("warehouse") not in (None, "") and str(body["warehouse"]) != str(
                row.get("warehouse")
            ):
                continue
            if body.get("org") not in (None, "") and str(body["org"]) != str(row.get("org")):
                continue
            if body.get("batchno") not in (None, "") and str(body["batchno"]) != str(
                row.get("batchno")
            ):
                continue
            out.append({k: v for k, v in row.items() if k != "id"})
        return out
