"""What MM purchasing does with purchase requisitions (API_PURCHASEREQ_PROCESS_SRV).

Copied behaviour (SAP community blog "Purchase Requisition OData API", episodes 1-4, and
the Cloud SDK typings; see model.py): a requisition is created with its items in one deep
insert (``to_PurchaseReqnItem``), numbered from an internal range, items numbered 00010,
00020, …; the header's description is the only header field a PATCH changes; items are
changed by PATCH on ``A_PurchaseRequisitionItem`` and added by POST on
``A_PurchaseRequisitionHeader('…')/to_PurchaseReqnItem``; ``LastChangeDateTime`` of an item
moves with every change of it; the release status is the system's, not the client's.

Modelled, UNSURE (README.md): the release status codes (``03`` in approval, ``05`` release
completed, ``08`` rejected; domain BANPR), the message numbers of the refusals (the texts
follow BAPI_REQUISITION_CREATE's documented messages ``ME/083 Please enter …`` and
``W5/002 No items exist``), that DELETE of an item sets its deletion indicator
(``IsDeleted`` X) instead of removing it, and the approver: nothing in the API releases
a requisition, so the simulator's business day (``POST /sim/tick``) and the sandbox
control ``POST /sim/requisitions/<number>/release|reject`` stand in for the person who
releases it in SAP (My Inbox) and the buyer who turns it into a purchase order
(``ProcessingStatus`` N -> B, ``PurchasingDocument`` set).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import EntitySetDef
from erpbridge.sims.sap.orders import price_of
from erpbridge.sims.sap.records import RecordRules, midnight, missing, nav_list, not_found
from erpbridge.sims.sap.state import Row

__all__ = [
    "PLANTS",
    "RELEASE_COMPLETED",
    "RELEASE_IN_APPROVAL",
    "RELEASE_REJECTED",
    "REQUISITION_SETS",
    "RequisitionRules",
]

HEADER = "A_PurchaseRequisitionHeader"
ITEM = "A_PurchaseRequisitionItem"
REQUISITION_SETS = frozenset({HEADER, ITEM})
#: document types the simulated system allows (standard "NB" only).
DOCUMENT_TYPES = frozenset({"NB"})
#: plants of the simulated system -> their company code.
PLANTS: dict[str, str] = {"1710": "1710", "1010": "1010", "1310": "1310"}
# PurReqnReleaseStatus (domain BANPR) — UNSURE codes, see the module docstring.
RELEASE_IN_APPROVAL = "03"
RELEASE_COMPLETED = "05"
RELEASE_REJECTED = "08"
# ProcessingStatus (EBAN-STATU): N not edited, B purchase order created (SAP wiki).
NOT_EDITED = "N"
PO_CREATED = "B"
#: item fields whose change resets the release (as a release strategy does) and that
#: cannot change any more once a purchase order exists.
_RELEVANT = ("Material", "RequestedQuantity", "Plant", "PurchaseRequisitionPrice")
_LABELS = {
    "Plant": "plant",
    "RequestedQuantity": "quantity requested",
    "DeliveryDate": "delivery date",
    "PurchaseRequisitionItemText": "short text",
    "MaterialGroup": "material group",
    "BaseUnit": "unit of measure",
}


def _please_enter(item: Row, name: str) -> ODataError:
    text = f"Please enter {_LABELS.get(name, name)}"
    if item.get("PurchaseRequisitionItem"):
        text += f" (item {item['PurchaseRequisitionItem']})"
    return ODataError(400, "ME/083", text, target=name)


class RequisitionRules(RecordRules):
    """Purchase requisitions: create with items, item changes and deletion, the release."""

    def create_requisition(
        self, entity_set: EntitySetDef, values: Row, navs: dict[str, object]
    ) -> Row:
        """A requisition header with its deep-inserted items (inside a transaction).

        Raises:
            ODataError: 400 naming the field when the requisition cannot be saved.
        """
        kind = values.get("PurchaseRequisitionType")
        if not kind:
            raise missing(entity_set, "PurchaseRequisitionType")
        if kind not in DOCUMENT_TYPES:
            raise ODataError(
                400,
                "ME/070",
                f"Document type {kind} not allowed with purchase requisitions",
                target="PurchaseRequisitionType",
            )
        items = nav_list(navs.get("to_PurchaseReqnItem"), "to_PurchaseReqnItem")
        if not items:
            raise ODataError(400, "W5/002", "No items exist (not possible to save)")
        values.update(
            PurchaseRequisition=str(self.state.next_number("PurchaseRequisition", 10000000)),
            SourceDetermination=bool(values.get("SourceDetermination")),
        )
        header = self._complete(entity_set, values)
        self.state.put(HEADER, header)
        for position, raw in enumerate(items):
            self.add_requisition_item(header, raw, position)
        return header

    def add_requisition_item(self, header: Row, raw: Mapping[str, object], position: int) -> Row:
        """One new item of ``header`` at ``position`` (0 = item 00010)."""
        item_set = self.state.sets[ITEM]
        fields, _ = self._fields(item_set, raw, creating=True)
        now = self.state.clock()
        fields.update(
            PurchaseRequisition=header["PurchaseRequisition"],
            PurchaseRequisitionItem=f"{(position + 1) * 10:05d}",
            PurchaseRequisitionType=header["PurchaseRequisitionType"],
            PurReqnReleaseStatus=RELEASE_IN_APPROVAL,
            ProcessingStatus=NOT_EDITED,
            IsDeleted="",
            IsClosed=False,
            CreationDate=midnight(now),
            CreatedByUser="CC_ERPBRIDGE",
        )
        item = self._complete(item_set, fields)
        self._check_requisition_item(item)
        self._touch(item_set, item)
        self.state.put(ITEM, item)
        return item

    def next_requisition_position(self, number: str) -> int:
        """The position of a new item of requisition ``number`` (after its last one)."""
        items = self.state.related(ITEM, ("PurchaseRequisition",), (number,))
        return max((int(str(i["PurchaseRequisitionItem"])) // 10 for i in items), default=0)

    def _check_requisition_item(self, item: Row) -> None:
        """Required fields, known plant and material, defaults from the material, value.

        Raises:
            ODataError: 400 with the field as target.
        """
        plant = str(item.get("Plant") or "")
        if not plant:
            raise _please_enter(item, "Plant")
        if plant not in PLANTS:
            raise ODataError(400, "ME/046", f"Plant {plant} does not exist", target="Plant")
        material = str(item.get("Material") or "")
        if material:
            product = self.state.get("A_Product", (material,))
            if product is None:
                raise ODataError(
                    400,
                    "M3/305",
                    f"Material {material} not maintained in plant {plant}",
                    target="Material",
                )
            item["BaseUnit"] = item.get("BaseUnit") or product.get("BaseUnit")
            item["MaterialGroup"] = item.get("MaterialGroup") or product.get("ProductGroup")
            item["PurchaseRequisitionItemText"] = (
                item.get("PurchaseRequisitionItemText") or (material[:40])
            )
            if not item.get("BaseUnit"):
                raise _please_enter(item, "BaseUnit")
        else:  # a text item: what to buy is described, the buyer sources it
            for name in ("PurchaseRequisitionItemText", "MaterialGroup", "BaseUnit"):
                if not item.get(name):
                    raise _please_enter(item, name)
        quantity = item.get("RequestedQuantity")
        if not isinstance(quantity, Decimal) or quantity <= 0:
            raise _please_enter(item, "RequestedQuantity")
        if item.get("DeliveryDate") is None:
            raise _please_enter(item, "DeliveryDate")
        price = item.get("PurchaseRequisitionPrice")
        if not isinstance(price, Decimal):
            price = price_of(material) if material else Decimal(0)
        item.update(
            CompanyCode=PLANTS[plant],
            PurchasingOrganization=item.get("PurchasingOrganization") or PLANTS[plant],
            PurchasingGroup=item.get("PurchasingGroup") or "001",
            PurReqnItemCurrency=item.get("PurReqnItemCurrency") or "CNY",
            PurchaseRequisitionPrice=price,
            ItemNetAmount=(quantity * price).quantize(Decimal("0.01")),
        )

    def check_requisition_item_change(self, current: Row, row: Row) -> None:
        """Refuse changes of a deleted or ordered item; a relevant change of a released
        item sends it back to approval (as a release strategy does).

        Raises:
            ODataError: 400 naming the item and the field.
        """
        label = f"Item {current['PurchaseRequisitionItem']} of purchase requisition "
        label += str(current["PurchaseRequisition"])
        if current.get("IsDeleted") == "X":
            raise ODataError(400, "ME/262", f"{label} is deleted and cannot be changed")
        changed = [n for n in _RELEVANT if (row.get(n) or None) != (current.get(n) or None)]
        if changed and current.get("ProcessingStatus") != NOT_EDITED:
            raise ODataError(
                400,
                "ME/164",
                f"{label} is already ordered (purchase order {current.get('PurchasingDocument')})"
                f"; {changed[0]} can no longer be changed",
                target=changed[0],
            )
        self._check_requisition_item(row)
        if changed and row.get("PurReqnReleaseStatus") != RELEASE_IN_APPROVAL:
            row["PurReqnReleaseStatus"] = RELEASE_IN_APPROVAL

    def delete_requisition_item(self, current: Row) -> None:
        """DELETE of an item sets its deletion indicator (inside a transaction).

        Raises:
            ODataError: 400 once a purchase order exists for the item.
        """
        if current.get("ProcessingStatus") != NOT_EDITED:
            raise ODataError(
                400,
                "ME/164",
                f"Item {current['PurchaseRequisitionItem']} of purchase requisition "
                f"{current['PurchaseRequisition']} cannot be deleted: purchase order "
                f"{current.get('PurchasingDocument')} exists",
            )
        row = {**current, "IsDeleted": "X"}
        self._touch(self.state.sets[ITEM], row)
        self.state.put(ITEM, row)

    # --- the approver and the buyer (simulator, not the API) -------------------------

    def decide_requisition(self, number: str, *, release: bool) -> int:
        """The approver releases (or rejects) every item of ``number`` awaiting approval.

        Returns:
            how many items changed.

        Raises:
            ODataError: 404 when there is no such requisition.
        """
        if self.state.get(HEADER, (number,)) is None:
            raise not_found(HEADER, number)
        changed = 0
        with self.state.transaction():
            for item in self.state.related(ITEM, ("PurchaseRequisition",), (number,)):
                if item.get("IsDeleted") == "X":
                    continue
                if item.get("PurReqnReleaseStatus") != RELEASE_IN_APPROVAL:
                    continue
                status = RELEASE_COMPLETED if release else RELEASE_REJECTED
                row = {**item, "PurReqnReleaseStatus": status}
                self._touch(self.state.sets[ITEM], row)
                self.state.put(ITEM, row)
                changed += 1
        return changed

    def tick_requisitions(self) -> int:
        """One business day: items awaiting approval are released; items released on an
        earlier day get a purchase order (one per requisition).

        Returns:
            how many items changed.
        """
        changed = 0
        item_set = self.state.sets[ITEM]
        with self.state.transaction():
            orders: dict[str, str] = {}
            for item in list(self.state.rows(ITEM)):
                if item.get("IsDeleted") == "X" or item.get("ProcessingStatus") != NOT_EDITED:
                    continue
                row = dict(item)
                status = row.get("PurReqnReleaseStatus")
                if status == RELEASE_IN_APPROVAL:
                    row["PurReqnReleaseStatus"] = RELEASE_COMPLETED
                elif status == RELEASE_COMPLETED:
                    number = str(row["PurchaseRequisition"])
                    if number not in orders:
                        orders[number] = str(self.state.next_number("PurchaseOrder", 4500000000))
                    row.update(
                        ProcessingStatus=PO_CREATED,
                        PurchasingDocument=orders[number],
                        PurchasingDocumentItem=row["PurchaseRequisitionItem"],
                    )
                else:
                    continue
                self._touch(item_set, row)
                self.state.put(ITEM, row)
                changed += 1
        return changed
