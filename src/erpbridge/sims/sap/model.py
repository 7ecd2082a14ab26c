"""The entity model the SAP simulator serves: services, entity sets, properties, navigations.

One table drives everything: ``$metadata`` (metadata.py), JSON shapes (wire.py), query
checks (query.py) and the store (state.py). Names, keys and string lengths follow the
SAP API Business Hub pages of API_BUSINESS_PARTNER, API_SALES_ORDER_SRV, API_PRODUCT_SRV,
API_MATERIAL_STOCK_SRV and API_CRDTMBUSINESSPARTNER (/work/shared/reference/sap-s4hana-odata.md
§7); API_PURCHASEREQ_PROCESS_SRV follows the sources named at its definition. Each real
entity type has far more properties than here; we serve the subset a CRM integration uses.
The credit service names are UNSURE in the reference (see README.md).
API_MATERIAL_DOCUMENT_SRV (goods movements) is described in inventory_model.py; the
property and set classes live in entity.py.
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
from erpbridge.sims.sap.inventory_model import MATERIAL_DOCUMENT

__all__ = [
    "SERVICES",
    "EntitySetDef",
    "NavDef",
    "PropDef",
    "ServiceDef",
    "find_service",
]

_s, _date, _dec = string_prop, date_prop, decimal_prop
_RO, _KEY = READ_ONLY, KEY


BUSINESS_PARTNER = ServiceDef(
    "API_BUSINESS_PARTNER",
    (
        EntitySetDef(
            "A_BusinessPartner",
            "A_BusinessPartnerType",
            ("BusinessPartner",),
            (
                _s("BusinessPartner", 10, label="Business Partner", **_KEY),
                _s("Customer", 10, label="Customer", updatable=False),
                _s("Supplier", 10, label="Supplier", updatable=False),
                _s("BusinessPartnerCategory", 1, label="BP Category"),
                _s("BusinessPartnerGrouping", 4, label="Grouping"),
                _s("BusinessPartnerFullName", 81, label="Full Name"),
                _s("BusinessPartnerName", 81, label="Name", **_RO),
                _s("OrganizationBPName1", 40, label="Name 1"),
                _s("OrganizationBPName2", 40, label="Name 2"),
                _s("FirstName", 40, label="First Name"),
                _s("LastName", 40, label="Last Name"),
                _s("SearchTerm1", 20, label="Search Term 1"),
                _s("SearchTerm2", 20, label="Search Term 2"),
                _s("CorrespondenceLanguage", 2, label="Language"),
                _date("CreationDate", label="Created On", **_RO),
                _s("CreatedByUser", 12, label="Created By", **_RO),
                _date("LastChangeDate", label="Changed On", **_RO),
                PropDef("LastChangeTime", "Edm.Time", precision=0, label="Changed At", **_RO),
                PropDef("BusinessPartnerIsBlocked", "Edm.Boolean", label="Central Block"),
                PropDef("IsMarkedForArchiving", "Edm.Boolean", label="Archiving Flag"),
                _s("ETag", 26, label="Time Stamp", **_RO),
            ),
            (
                NavDef(
                    "to_BusinessPartnerAddress",
                    "A_BusinessPartnerAddress",
                    True,
                    (("BusinessPartner", "BusinessPartner"),),
                ),
                NavDef("to_Customer", "A_Customer", False, (("Customer", "Customer"),)),
            ),
            deletable=False,
            etag_prop="ETag",
            label="Business Partner",
        ),
        EntitySetDef(
            "A_BusinessPartnerAddress",
            "A_BusinessPartnerAddressType",
            ("BusinessPartner", "AddressID"),
            (
                _s("BusinessPartner", 10, label="Business Partner", **_KEY),
                _s("AddressID", 10, label="Address Number", **_KEY),
                _s("StreetName", 60, label="Street"),
                _s("HouseNumber", 10, label="House Number"),
                _s("PostalCode", 10, label="Postal Code"),
                _s("CityName", 40, label="City"),
                _s("Country", 3, label="Country/Region Key"),
                _s("Region", 3, label="Region"),
            ),
            label="Business Partner Address",
        ),
        EntitySetDef(
            "A_Customer",
            "A_CustomerType",
            ("Customer",),
            (
                _s("Customer", 10, label="Customer", **_KEY),
                _s("CustomerName", 80, label="Name of Customer", **_RO),
                _s("CustomerFullName", 220, label="Customer Full Name", **_RO),
                _s("CustomerAccountGroup", 4, label="Account Group"),
                _s("CustomerClassification", 2, label="Customer Classification"),
                _s("OrderIsBlockedForCustomer", 2, label="Order Block"),
                PropDef("PostingIsBlocked", "Edm.Boolean", label="Posting Block"),
                PropDef("DeletionIndicator", "Edm.Boolean", label="Deletion Flag"),
                _date("CreationDate", label="Created On", **_RO),
                _s("CreatedByUser", 12, label="Created By", **_RO),
            ),
            creatable=False,
            deletable=False,
            label="Customer",
        ),
    ),
)

SALES_ORDER = ServiceDef(
    "API_SALES_ORDER_SRV",
    (
        EntitySetDef(
            "A_SalesOrder",
            "A_SalesOrderType",
            ("SalesOrder",),
            (
                _s("SalesOrder", 10, label="Sales Order", **_KEY),
                _s("SalesOrderType", 4, label="Sales Document Type"),
                _s("SalesOrganization", 4, label="Sales Organization"),
                _s("DistributionChannel", 2, label="Distribution Channel"),
                _s("OrganizationDivision", 2, label="Division"),
                _s("SoldToParty", 10, label="Sold-To Party"),
                _s("PurchaseOrderByCustomer", 35, label="Customer Reference"),
                _date("CustomerPurchaseOrderDate", label="Customer Reference Date"),
                _date("SalesOrderDate", label="Document Date"),
                _date("RequestedDeliveryDate", label="Requested Delivery Date"),
                _date("CreationDate", label="Created On", **_RO),
                _s("CreatedByUser", 12, label="Created By", **_RO),
                _date("LastChangeDate", label="Changed On", **_RO),
                PropDef(
                    "LastChangeDateTime",
                    "Edm.DateTimeOffset",
                    precision=7,
                    label="Time Stamp",
                    **_RO,
                ),
                _dec("TotalNetAmount", 16, 3, label="Net Value", **_RO),
                _s("TransactionCurrency", 5, label="Document Currency"),
                _s("CustomerPaymentTerms", 4, label="Terms of Payment Key"),
                _s("IncotermsClassification", 3, label="Incoterms"),
                _s("ShippingCondition", 2, label="Shipping Conditions"),
                _s("HeaderBillingBlockReason", 2, label="Billing Block"),
                _s("DeliveryBlockReason", 2, label="Delivery Block"),
                _s("OverallSDProcessStatus", 1, label="Overall Status", **_RO),
                _s("TotalCreditCheckStatus", 1, label="Credit Status", **_RO),
                _s("OverallTotalDeliveryStatus", 1, label="Delivery Status", **_RO),
                _s("OverallOrdReltdBillgStatus", 1, label="Billing Status", **_RO),
                _s("OverallSDDocumentRejectionSts", 1, label="Rejection Status", **_RO),
            ),
            (NavDef("to_Item", "A_SalesOrderItem", True, (("SalesOrder", "SalesOrder"),)),),
            deletable=True,
            etag_prop="LastChangeDateTime",
            label="Sales Order",
        ),
        EntitySetDef(
            "A_SalesOrderItem",
            "A_SalesOrderItemType",
            ("SalesOrder", "SalesOrderItem"),
            (
                _s("SalesOrder", 10, label="Sales Order", **_KEY),
                _s("SalesOrderItem", 6, label="Sales Order Item", **_KEY),
                _s("SalesOrderItemCategory", 4, label="Item Category"),
                _s("SalesOrderItemText", 40, label="Item Description"),
                _s("PurchaseOrderByCustomer", 35, label="Customer Reference"),
                _s("Material", 40, label="Material"),
                _s("MaterialByCustomer", 35, label="Customer Material"),
                _dec("RequestedQuantity", 15, 3, label="Requested Quantity"),
                _s("RequestedQuantityUnit", 3, label="Unit of Measure"),
                _dec("NetAmount", 16, 3, label="Net Value", **_RO),
                _s("TransactionCurrency", 5, label="Document Currency", **_RO),
                _s("MaterialGroup", 9, label="Material Group", **_RO),
                _s("Plant", 4, label="Plant"),
                _s("StorageLocation", 4, label="Storage Location"),
                _s("SDProcessStatus", 1, label="Overall Status", **_RO),
                _s("DeliveryStatus", 1, label="Delivery Status", **_RO),
                _s("ItemBillingBlockReason", 2, label="Billing Block"),
                _s("SalesDocumentRjcnReason", 2, label="Reason for Rejection"),
                # UNSURE (reference §7 does not list it): ExternalItemID (External Item ID,
                # 40) is served by recent releases; it holds the CRM line's id.
                _s("ExternalItemID", 40, label="External Item ID"),
            ),
            (NavDef("to_SalesOrder", "A_SalesOrder", False, (("SalesOrder", "SalesOrder"),)),),
            label="Sales Order Item",
        ),
    ),
)

PRODUCT = ServiceDef(
    "API_PRODUCT_SRV",
    (
        EntitySetDef(
            "A_Product",
            "A_ProductType",
            ("Product",),
            (
                _s("Product", 40, label="Product", **_KEY),
                _s("ProductType", 4, label="Product Type"),
                _s("BaseUnit", 3, label="Base Unit of Measure"),
                _s("ProductGroup", 9, label="Product Group"),
                _dec("NetWeight", 13, 3, label="Net Weight"),
                _s("WeightUnit", 3, label="Weight Unit"),
                PropDef("IsMarkedForDeletion", "Edm.Boolean", label="Deletion Flag"),
                _date("CreationDate", label="Created On", **_RO),
                _date("LastChangeDate", label="Changed On", **_RO),
                # UNSURE (reference §7): LastChangeDateTime exists on recent releases only.
                PropDef(
                    "LastChangeDateTime",
                    "Edm.DateTimeOffset",
                    precision=7,
                    label="Time Stamp",
                    **_RO,
                ),
            ),
            (NavDef("to_Description", "A_ProductDescription", True, (("Product", "Product"),)),),
            deletable=False,
            label="Product",
        ),
        EntitySetDef(
            "A_ProductDescription",
            "A_ProductDescriptionType",
            ("Product", "Language"),
            (
                _s("Product", 40, label="Product", **_KEY),
                _s("Language", 2, label="Language Key", **_KEY),
                _s("ProductDescription", 40, label="Product Description"),
            ),
            label="Product Description",
        ),
    ),
)

MATERIAL_STOCK = ServiceDef(
    "API_MATERIAL_STOCK_SRV",
    (
        EntitySetDef(
            "A_MaterialStock",
            "A_MaterialStockType",
            ("Material",),
            (
                _s("Material", 40, label="Material", **_KEY),
                _s("MaterialBaseUnit", 3, label="Base Unit of Measure"),
            ),
            (
                NavDef(
                    "to_MatlStkInAcctMod",
                    "A_MatlStkInAcctMod",
                    True,
                    (("Material", "Material"),),
                ),
            ),
            creatable=False,
            updatable=False,
            deletable=False,
            label="Material Stock",
        ),
        EntitySetDef(
            "A_MatlStkInAcctMod",
            "A_MatlStkInAcctModType",
            (
                "Material",
                "Plant",
                "StorageLocation",
                "Batch",
                "Supplier",
                "Customer",
                "WBSElementInternalID",
                "SDDocument",
                "SDDocumentItem",
                "InventorySpecialStockType",
                "InventoryStockType",
            ),
            (
                _s("Material", 40, label="Material", **_KEY),
                _s("Plant", 4, label="Plant", **_KEY),
                _s("StorageLocation", 4, label="Storage Location", **_KEY),
                _s("Batch", 10, label="Batch", **_KEY),
                _s("Supplier", 10, label="Supplier", **_KEY),
                _s("Customer", 10, label="Customer", **_KEY),
                _s("WBSElementInternalID", 24, label="WBS Element", **_KEY),
                _s("SDDocument", 10, label="Sales Order", **_KEY),
                _s("SDDocumentItem", 6, label="Sales Order Item", **_KEY),
                _s("InventorySpecialStockType", 1, label="Special Stock Type", **_KEY),
                _s("InventoryStockType", 2, label="Stock Type", **_KEY),
                _s("MaterialBaseUnit", 3, label="Base Unit of Measure"),
                _dec("MatlWrhsStkQtyInMatlBaseUnit", 31, 14, label="Quantity"),
            ),
            creatable=False,
            updatable=False,
            deletable=False,
            label="Stock in Account Model",
        ),
    ),
)

# UNSURE (reference §7): entity-set and property names of the credit management API were
# not verified against the API hub; this follows the Cloud SDK javadoc's node names.
CREDIT = ServiceDef(
    "API_CRDTMBUSINESSPARTNER",
    (
        EntitySetDef(
            "A_CreditManagementAccount",
            "A_CreditManagementAccountType",
            ("BusinessPartner", "CreditSegment"),
            (
                _s("BusinessPartner", 10, label="Business Partner", **_KEY),
                _s("CreditSegment", 10, label="Credit Segment", **_KEY),
                _dec("CreditLimitAmount", 15, 2, label="Credit Limit"),
                _s("CreditSegmentCurrency", 5, label="Credit Segment Currency"),
                _dec("CreditExposureAmount", 15, 2, label="Credit Exposure", **_RO),
                PropDef("CreditAccountIsBlocked", "Edm.Boolean", label="Blocked in Credit Mgmt"),
                _s("CreditAccountBlockReason", 2, label="Block Reason"),
            ),
            creatable=False,
            deletable=False,
            label="Credit Management Account",
        ),
    ),
)

# API_PURCHASEREQ_PROCESS_SRV (Purchase Requisition, communication scenario SAP_COM_0102).
# Sure (SAP Cloud SDK VDM "purchase-requisition-service" typings on help.sap.com, SAP
# community blog "Purchase Requisition OData API" episodes 1-4): the entity sets
# A_PurchaseRequisitionHeader (+to_PurchaseReqnItem, deep insert) and
# A_PurchaseRequisitionItem; the header has only PurchaseRequisition,
# PurchaseRequisitionType, PurReqnDescription, SourceDetermination (and PurReqnDoOnlyValidation,
# not served) and no change stamp; the item's property names below and LastChangeDateTime
# on the item; header PATCH changes only PurReqnDescription; PurReqnReleaseStatus is set by
# the system. UNSURE: string lengths and Edm types not in those typings (taken from the
# EBAN fields behind them), ProcessingStatus as the API's name of EBAN-STATU, and the
# release status codes (see requisitions.py).
PURCHASE_REQUISITION = ServiceDef(
    "API_PURCHASEREQ_PROCESS_SRV",
    (
        EntitySetDef(
            "A_PurchaseRequisitionHeader",
            "A_PurchaseRequisitionHeaderType",
            ("PurchaseRequisition",),
            (
                _s(
                    "PurchaseRequisition", 10, label="Purchase Requisition", creatable=False, **_KEY
                ),
                _s("PurchaseRequisitionType", 4, label="Document Type", updatable=False),
                _s("PurReqnDescription", 40, label="Description"),
                PropDef("SourceDetermination", "Edm.Boolean", label="Source Determination"),
            ),
            (
                NavDef(
                    "to_PurchaseReqnItem",
                    "A_PurchaseRequisitionItem",
                    True,
                    (("PurchaseRequisition", "PurchaseRequisition"),),
                ),
            ),
            deletable=False,
            label="Purchase Requisition Header",
        ),
        EntitySetDef(
            "A_PurchaseRequisitionItem",
            "A_PurchaseRequisitionItemType",
            ("PurchaseRequisition", "PurchaseRequisitionItem"),
            (
                _s("PurchaseRequisition", 10, label="Purchase Requisition", **_KEY),
                _s("PurchaseRequisitionItem", 5, label="Item of Requisition", **_KEY),
                _s("PurchaseRequisitionType", 4, label="Document Type", **_RO),
                _s("PurchaseRequisitionItemText", 40, label="Short Text"),
                _s("AccountAssignmentCategory", 1, label="Account Assignment Category"),
                _s("Material", 40, label="Material"),
                _s("MaterialGroup", 9, label="Material Group"),
                _s("Plant", 4, label="Plant"),
                _s("CompanyCode", 4, label="Company Code", **_RO),
                _s("PurchasingOrganization", 4, label="Purchasing Organization"),
                _s("PurchasingGroup", 3, label="Purchasing Group"),
                _dec("RequestedQuantity", 13, 3, label="Quantity Requested"),
                _s("BaseUnit", 3, label="Unit of Measure"),
                _dec("PurchaseRequisitionPrice", 11, 2, label="Valuation Price"),
                _s("PurReqnItemCurrency", 5, label="Currency"),
                _dec("ItemNetAmount", 13, 2, label="Total Value", **_RO),
                _date("DeliveryDate", label="Delivery Date"),
                _s("RequisitionerName", 12, label="Requisitioner"),
                _s("RequirementTracking", 10, label="Requirement Tracking Number"),
                _s("PurReqnReleaseStatus", 2, label="Processing Status", **_RO),
                # UNSURE name (EBAN-STATU): N not edited, B PO created (SAP wiki).
                _s("ProcessingStatus", 1, label="Processing Status of Requisition", **_RO),
                _s("PurchasingDocument", 10, label="Purchase Order", **_RO),
                _s("PurchasingDocumentItem", 5, label="Purchase Order Item", **_RO),
                _s("IsDeleted", 1, label="Deletion Indicator", **_RO),
                PropDef("IsClosed", "Edm.Boolean", label="Closed", **_RO),
                _date("CreationDate", label="Created On", **_RO),
                _s("CreatedByUser", 12, label="Created By", **_RO),
                PropDef(
                    "LastChangeDateTime",
                    "Edm.DateTimeOffset",
                    precision=7,
                    label="Changed On",
                    **_RO,
                ),
            ),
            (
                NavDef(
                    "to_PurchaseReqn",
                    "A_PurchaseRequisitionHeader",
                    False,
                    (("PurchaseRequisition", "PurchaseRequisition"),),
                ),
            ),
            creatable=True,
            etag_prop="LastChangeDateTime",
            label="Purchase Requisition Item",
        ),
    ),
)

SERVICES: dict[str, ServiceDef] = {
    s.name: s
    for s in (
        BUSINESS_PARTNER,
        SALES_ORDER,
        PRODUCT,
        MATERIAL_STOCK,
        CREDIT,
        PURCHASE_REQUISITION,
        MATERIAL_DOCUMENT,
    )
}


def find_service(name: str) -> ServiceDef | None:
    """The service called ``name``; SAP matches service names case-insensitively."""
    return SERVICES.get(name) or next(
        (s for key, s in SERVICES.items() if key.lower() == name.lower()), None
    )
