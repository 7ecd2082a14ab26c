"""The ``credit`` object: a STAND-IN, not a Yonyou API (reference §B3: none documented).

Read from ``settings.credit_api`` (default erpbridge's ``/yonbip/erpbridge/credit/list``,
served by the simulator; a tenant publishes its own list of this shape, see
docs/connectors/yonyou.md): ``POST`` with ``pageIndex``, ``pageSize``, ``simpleVOs`` and
``queryOrders`` like the voucherorder list, answering ``data.recordList``.
"""

from __future__ import annotations

import json

from erpbridge.connectors.yonbip.client import YonBipClient
from erpbridge.connectors.yonbip.errors import SYSTEM
from erpbridge.spi.errors import ConnectorError

__all__ = ["credit_page", "credit_where"]

_Row = dict[str, object]
_PAGE = 500


async def credit_page(
    client: YonBipClient, api: str, conditions: list[dict[str, object]], index: int, size: int
) -> list[_Row]:
    """One page in (pubts, id) order.

    Raises:
        ConnectorError: an answer without ``data.recordList`` of records with ``id``.
    """
    body: dict[str, object] = {
        "pageIndex": index,
        "pageSize": size,
        "queryOrders": [{"field": "pubts", "order": "asc"}, {"field": "id", "order": "asc"}],
    }
    if conditions:
        body["simpleVOs"] = conditions
    answer = await client.call("POST", api, body=body, object="credit")
    rows = answer.data.get("recordList") if isinstance(answer.data, dict) else None
    if isinstance(rows, list) and all(isinstance(r, dict) and "id" in r for r in rows):
        return rows
    raise ConnectorError(
        "信用列表的回答缺少 data.recordList（每条记录应有 id）",
        system=SYSTEM,
        object="credit",
        raw=json.dumps(answer.data, ensure_ascii=False, default=str)[:500],
    )


async def credit_where(
    client: YonBipClient, api: str, field: str, values: list[object]
) -> list[_Row]:
    """Every record whose ``field`` is one of ``values`` (``in``, 100 values a query)."""
    out: list[_Row] = []
    for chunk in (values[i : i + 100] for i in range(0, len(values), 100)):
        index = 1
        while True:
            condition: dict[str, object] = {"field": field, "op": "in", "value1": chunk}
            rows = await credit_page(client, api, [condition], index, _PAGE)
            out += rows
            if len(rows) < _PAGE:
                break
            index += 1
    return out
