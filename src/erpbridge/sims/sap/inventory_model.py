"""API_MATERIAL_DOCUMENT_SRV: material documents (goods movements), as model.py describes services.

Names, keys, lengths and the settable/read-only split follow the service's ``$metadata``
as an S/4HANA on-premise system serves it (API version 1, communication scenario
SAP_COM_0108 in the cloud) and the SAP Cloud SDK's ``MaterialDocumentService`` javadoc:

- ``A_MaterialDocumentHeader`` (key ``MaterialDocumentYear`` + ``MaterialDocument``):
  creatable only (``sap:updatable``/``sap:deletable`` false); items come with it by deep
  insert through ``to_MaterialDocumentItem``.
- ``A_MaterialDocumentItem`` (key + ``MaterialDocumentItem``): read-only as an entity set
  (``sap:creatable="false"``), written only inside the header's deep insert.

The real item type has about 80 properties; this is the subset a goods movement for stock
needs (material, plant, storage location, batch, movement type, quantity and unit,
account assignment to a cost center or an order, the receiving side of a transfer). The
``Cancel``/``CancelItem`` function imports are not served (see README.md).
"""

from __future__ import annotations

from erpbridge.sims.sap.entity import (
    KEY,
    READ_ONLY,
    EntitySetDef,
    NavDef,
    PropDef,
    ServiceDef,
    date_prop,
    decimal_prop,
    string_prop,
)

__all__ = ["MATERIAL_DOCUMENT"]

_HEADER_KEY = (
    ("MaterialDocumentYear", "MaterialDocumentYear"),
    ("MaterialDocument", "MaterialDocument"),
)

MATERIAL_DOCUMENT = ServiceDef(
    "API_MATERIAL_DOCUMENT_SRV",
    (
        EntitySetDef(
            "A_MaterialDocumentHeader",
            "A_MaterialDocumentHeaderType",
            ("MaterialDocumentYear", "MaterialDocument"),
            (
                string_prop("MaterialDocumentYear", 4, label="Material Document Year", **KEY),
                string_prop("MaterialDocument", 10, label="Material Document", **KEY),
                string_prop(
                    "InventoryTransactionType", 2, label="Trans. / Event Type", **READ_ONLY
                ),
                date_prop("DocumentDate", label="Document Date"),
                date_prop("PostingDate", label="Posting Date"),
                date_prop("CreationDate", label="Entry Date", **READ_ONLY),
                PropDef(
                    "CreationTime", "Edm.Time", precision=0, label="Time of Entry", **READ_ONLY
                ),
                string_prop("CreatedByUser", 12, label="User Name", **READ_ONLY),
                string_prop("MaterialDocumentHeaderText", 25, label="Document Header Text"),
                string_prop("ReferenceDocument", 16, label="Reference"),
                string_prop("GoodsMovementCode", 2, label="Goods Movement Code"),
            ),
            (NavDef("to_MaterialDocumentItem", "A_MaterialDocumentItem", True, _HEADER_KEY),),
            updatable=False,
            deletable=False,
            label="Document Header",
        ),
        EntitySetDef(
            "A_MaterialDocumentItem",
            "A_MaterialDocumentItemType",
            ("MaterialDocumentYear", "MaterialDocument", "MaterialDocumentItem"),
            (
                string_prop("MaterialDocumentYear", 4, label="Material Document Year", **KEY),
                string_prop("MaterialDocument", 10, label="Material Document", **KEY),
                string_prop("MaterialDocumentItem", 4, label="Material Document Item", **KEY),
                string_prop("Material", 40, label="Material"),
                string_prop("Plant", 4, label="Plant"),
                string_prop("StorageLocation", 4, label="Storage Location"),
                string_prop("Batch", 10, label="Batch"),
                string_prop("GoodsMovementType", 3, label="Movement Type"),
                string_prop("InventoryStockType", 2, label="Stock Type"),
                string_prop("InventorySpecialStockType", 1, label="Special Stock Type"),
                string_prop("Supplier", 10, label="Supplier"),
                string_prop("Customer", 10, label="Customer"),
                string_prop("PurchaseOrder", 10, label="Purchase order"),
                string_prop("PurchaseOrderItem", 5, label="Purchase Order Item"),
                string_prop("ManufacturingOrder", 12, label="Manufacturing Order"),
                string_prop("GoodsMovementRefDocType", 1, label="Reference Doc. Type"),
                string_prop("GoodsMovementReasonCode", 4, label="Reason for Movement"),
                string_prop("CostCenter", 10, label="Cost Center"),
                string_prop("GLAccount", 10, label="G/L Account"),
                # UNSURE: the real type lets clients send base-unit fields too; here SAP
                # derives them from the entry (only the base unit is accepted, no conversion).
                string_prop("MaterialBaseUnit", 3, label="Base Unit of Measure", **READ_ONLY),
                decimal_prop("QuantityInBaseUnit", 13, 3, label="Quantity", **READ_ONLY),
                string_prop("EntryUnit", 3, label="Unit of Entry"),
                decimal_prop("QuantityInEntryUnit", 13, 3, label="Qty in unit of entry"),
                string_prop("IssuingOrReceivingPlant", 4, label="Rec/Iss Plant"),
                string_prop("IssuingOrReceivingStorageLoc", 4, label="Receiving stor. loc."),
                string_prop("IssuingOrReceivingStockType", 2, label="Transfer Stock Type"),
                string_prop("MaterialDocumentItemText", 50, label="Text"),
                string_prop("IsAutomaticallyCreated", 1, label="Automat. Created", **READ_ONLY),
                string_prop("MaterialDocumentLine", 6, label="Line ID", **READ_ONLY),
                string_prop("MaterialDocumentParentLine", 6, label="Parent line ID", **READ_ONLY),
                PropDef(
                    "GoodsMovementIsCancelled",
                    "Edm.Boolean",
                    label="Is Item Cancelled",
                    **READ_ONLY,
                ),
            ),
            (
                NavDef(
                    "to_MaterialDocumentHeader",
                    "A_MaterialDocumentHeader",
                    False,
                    _HEADER_KEY,
                ),
            ),
            creatable=False,
            updatable=False,
            deletable=False,
            label="Document Items",
        ),
    ),
)
