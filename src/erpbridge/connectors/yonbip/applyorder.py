"""Reading 请购单 (``applyorder``): its list by ``pubts`` and its detail by id.

- ``POST /yonbip/scm/applyorder/list`` (请购单列表查询) [U]: seen only in a community
  mirror of the API doc (reference §B3 says "list path [U]"). Body ``pageIndex``,
  ``pageSize``, ``isSum`` (true: one header per requisition), ``simpleVOs``,
  ``queryOrders``; answer ``data.recordList``. The doc names ``status code vouchdate
  operator org …`` as condition fields, not ``pubts`` [U], and the ops ``eq neq lt gt
  between in nin like …`` without ``egt``: "pubts >= start" is asked as "pubts > start
  − 1 s" (pubts has one-second resolution).
- ``GET /yonbip/scm/applyorder/detail?id=``: header plus ``applyOrders`` lines, one call
  per id (no batch detail is documented).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from erpbridge.connectors.yonbip.client import YonBipClient
from erpbridge.connectors.yonbip.cursor import from_server_text, to_server_text
from erpbridge.connectors.yonbip.errors import SYSTEM
from erpbridge.spi.errors import ConnectorError, NotFoundError

__all__ = ["DETAIL_API", "LIST_API", "applyorder_details", "applyorder_page"]

LIST_API = "/yonbip/scm/applyorder/list"
DETAIL_API = "/yonbip/scm/applyorder/detail"
_Row = dict[str, object]


async def applyorder_page(
    client: YonBipClient, start: str | None, index: int, size: int, offset_min: int
) -> list[_Row]:
    """One page of requisition headers changed from ``start``, in (pubts, id) order.

    The headers carry what the after-sales flow maps (code, status), so no detail call
    is made per record.

    Raises:
        ConnectorError: ``start`` is not a stamp, or an answer without
            ``data.recordList`` of records with ``id``.
    """
    body: dict[str, object] = {
        "pageIndex": index,
        "pageSize": size,
        "isSum": True,
        "queryOrders": [{"field": "pubts", "order": "asc"}, {"field": "id", "order": "asc"}],
    }
    if start:
        after = _second_before(start, offset_min)
        body["simpleVOs"] = [{"field": "pubts", "op": "gt", "value1": after}]
    answer = await client.call("POST", LIST_API, body=body, object="applyorder")
    rows = answer.data.get("recordList") if isinstance(answer.data, dict) else None
    if isinstance(rows, list) and all(isinstance(r, dict) and "id" in r for r in rows):
        return rows
    raise ConnectorError(
        "请购单列表的回答缺少 data.recordList（每条记录应有 id）",
        system=SYSTEM,
        object="applyorder",
        raw=json.dumps(answer.data, ensure_ascii=False)[:500],
    )


async def applyorder_details(client: YonBipClient, ids: Sequence[str]) -> list[_Row]:
    """``applyorder/detail`` per id; ids YonBIP no longer has are absent."""
    out: list[_Row] = []
    for ident in ids:
        try:
            answer = await client.call("GET", DETAIL_API, params={"id": ident}, object="applyorder")
        except NotFoundError:
            continue
        if isinstance(answer.data, dict) and "id" in answer.data:
            out.append(answer.data)
    return out


def _second_before(text: str, offset_min: int) -> str:
    stamp = from_server_text(text, offset_min)
    if stamp is None:
        raise ConnectorError(
            f"请购单的 pubts [{text}] 不是时间", system=SYSTEM, object="applyorder"
        )
    return to_server_text(stamp.replace(microsecond=0) - timedelta(seconds=1), offset_min)
