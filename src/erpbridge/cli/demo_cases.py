"""The demo's own service cases: a few open Salesforce cases that need a spare part.

The seeded cases that need parts name no part, so their requisitions are text items; these
name one (a seeded spare part the CRM sells), so the demo also shows a requisition item
with an SAP material, resolved through the product xref. They are made through
Salesforce's API, as a service agent would.
"""

from __future__ import annotations

from erpbridge.engine.runtime import Runtime
from erpbridge.spi.records import WriteMode, WriteOp, WriteOutcome

__all__ = ["CASES_WITH_PARTS", "create_cases_needing_parts"]

#: cases the demo makes (quantities 1, 2, 3 …).
CASES_WITH_PARTS = 3
_SUBJECTS = (
    "设备异响，需要更换轴承",
    "Pump seal leaking, replace seal kit",
    "控制板故障，需更换备件",
)


async def create_cases_needing_parts(runtime: Runtime, connection: str = "salesforce") -> int:
    """Create :data:`CASES_WITH_PARTS` open cases needing a spare part; returns how many.

    Raises:
        ConnectorError: Salesforce refused the read or the writes.
    """
    crm = runtime.connector(connection)
    parts = sorted(await crm.find("Product2", "Family", ["Spare Parts"]), key=lambda p: p.id)
    parts = [p for p in parts if p.fields.get("IsActive") and p.fields.get("ProductCode")]
    ops = [
        WriteOp(
            mode=WriteMode.CREATE,
            fields={
                "Subject": _SUBJECTS[n % len(_SUBJECTS)],
                "Status": "Working",
                "Priority": ("High", "Medium", "Low")[n % 3],
                "Origin": "Phone",
                "Parts_Needed__c": True,
                "Parts_Quantity__c": n + 1,
                "Product__c": part.id,
            },
        )
        for n, part in enumerate(parts[:CASES_WITH_PARTS])
    ]
    results = await crm.write("Case", ops) if ops else []
    return sum(1 for r in results if r.outcome is WriteOutcome.CREATED)
