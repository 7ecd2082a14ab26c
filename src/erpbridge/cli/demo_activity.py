"""What ``erpbridge demo`` does inside the systems between its two rounds, per template.

After the first round the CRM's records are in the ERP. A real ERP now works on them:
goods arrive, are issued, move between warehouses. The demo does some of that through the
ERP's own API (the connector's ``write()``, so over the simulator's real protocol), and
the ERP -> CRM flows of the second round carry it back to the CRM.

- ``sf-sap``: goods movements (SAP ``API_MATERIAL_DOCUMENT_SRV``) for the materials the
  CRM's products became (products-to-sap's xref): an initial stock entry (561) in two
  plants, a transfer to a second storage location (311) for every fourth material and a
  goods issue to a cost center (201) for every fifth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import sqlalchemy as sa

from erpbridge.engine.hub import Hub
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome
from erpbridge.store.schema import xref

__all__ = ["ACTIVITIES", "post_sap_goods_movements"]

#: materials that get goods movements (the whole demo catalogue fits).
MAX_MATERIALS = 500


def _crm_materials(hub: Hub, crm: str, erp: str) -> list[str]:
    """ERP material numbers of the products the CRM sent (products-to-sap's xref)."""
    with hub.store.connect() as conn:
        rows = conn.execute(
            sa.select(xref.c.target_id)
            .where(
                xref.c.entity == "product",
                xref.c.source_connection == crm,
                xref.c.target_connection == erp,
            )
            .order_by(xref.c.target_id)
            .limit(MAX_MATERIALS)
        )
        return [str(r[0]) for r in rows]


def _item(material: str, movement: str, plant: str, sloc: str, qty: int) -> dict[str, object]:
    return {
        "Material": material,
        "Plant": plant,
        "StorageLocation": sloc,
        "GoodsMovementType": movement,
        "QuantityInEntryUnit": Decimal(qty),
    }


def _documents(index: int, material: str) -> list[dict[str, object]]:
    """The material documents the demo posts for one material (deterministic quantities)."""
    received = 40 + (index * 37) % 460
    documents: list[dict[str, object]] = [
        {
            "GoodsMovementCode": "05",  # other goods receipts
            "MaterialDocumentHeaderText": "erpbridge demo: stock",
            "to_MaterialDocumentItem": [
                _item(material, "561", "1710", "171A", received),
                _item(material, "561", "1310", "131A", received // 3 + 5),
            ],
        }
    ]
    if index % 4 == 0:
        moved = _item(material, "311", "1710", "171A", received // 4)
        moved["IssuingOrReceivingStorageLoc"] = "171B"
        documents.append(
            {
                "GoodsMovementCode": "04",  # transfer posting
                "MaterialDocumentHeaderText": "erpbridge demo: to 171B",
                "to_MaterialDocumentItem": [moved],
            }
        )
    if index % 5 == 0:
        issued = _item(material, "201", "1710", "171A", 10)
        issued["CostCenter"] = "17101101"
        documents.append(
            {
                "GoodsMovementCode": "03",  # goods issue
                "MaterialDocumentHeaderText": "erpbridge demo: issue",
                "to_MaterialDocumentItem": [issued],
            }
        )
    return documents


async def post_sap_goods_movements(hub: Hub) -> list[str]:
    """Post goods movements in SAP for the materials the CRM's products became."""
    materials = _crm_materials(hub, "salesforce", "sap")
    if not materials:
        return ["no CRM products in SAP yet: no goods movements posted"]
    ops = [
        WriteOp(mode=WriteMode.CREATE, fields=document)
        for index, material in enumerate(materials)
        for document in _documents(index, material)
    ]
    sap = hub.runtime.connector("sap")
    results = await hub.runtime.guard("sap").call(
        lambda: sap.write("A_MaterialDocumentHeader", ops)
    )
    posted = sum(1 for r in results if r.outcome is WriteOutcome.CREATED)
    lines = [
        f"{posted} goods movements posted through sap:A_MaterialDocumentHeader "
        f"(API_MATERIAL_DOCUMENT_SRV) for {len(materials)} materials from CRM products"
    ]
    failed = [r for r in results if r.outcome is WriteOutcome.FAILED]
    if failed:
        lines.append(f"{len(failed)} goods movements refused by SAP, e.g. {failed[0].error}")
    return lines


#: template -> what the demo does in its systems between the rounds.
ACTIVITIES: dict[str, Callable[[Hub], Awaitable[list[str]]]] = {
    "sf-sap": post_sap_goods_movements,
}
