"""The Oracle Fusion resources the simulator serves: attributes, keys, children, access.

Field names follow the Oracle REST API reference pages cited in
/work/shared/reference/oracle-erp.md (§2, §2.1, §2.2, §2.3). Where the reference marks a
name unsure ([U]) the choice made here is noted beside it. Types are the ADF REST
``describe`` types: ``string``, ``integer``, ``number``, ``boolean``, ``datetime``, ``date``
and ``array`` (a nested list kept as given, e.g. requisition line distributions).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "API_PREFIX",
    "FAMILIES",
    "RESOURCES",
    "VERSIONS",
    "Attr",
    "ChildDef",
    "ResourceDef",
]

API_PREFIX = "/fscmRestApi/resources/"
#: the REST families served: ERP/SCM/procurement, and CX/trading community (parties), §1.1.
FAMILIES = ("fscmRestApi", "crmRestApi")
#: the REST API versions served; ``latest`` is an alias Oracle documents for the newest.
VERSIONS = ("11.13.18.05", "latest")


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute of a resource.

    Attributes:
        name: wire name.
        type: ADF describe type.
        read_only: computed by the server; a client value is refused on write.
        required: must be given on create.
        title: the label ``describe`` reports.
    """

    name: str
    type: str = "string"
    read_only: bool = False
    required: bool = False
    title: str = ""


@dataclass(frozen=True, slots=True)
class ChildDef:
    """A child collection (``/child/<name>``) of a resource item."""

    name: str
    key: str
    attrs: tuple[Attr, ...]
    title: str = ""
    #: attributes that identify a child record sent without its key (an upsert resend).
    alt_key: tuple[str, ...] = ()

    def attr(self, name: str) -> Attr | None:
        """The attribute called ``name``, or None."""
        for a in self.attrs:
            if a.name == name:
                return a
        return None


@dataclass(frozen=True, slots=True)
class ResourceDef:
    """A top-level resource (``/fscmRestApi/resources/<version>/<name>``).

    Attributes:
        name: the resource name in the path.
        key: the attribute holding the item key; None for resources whose key is an opaque
            hash of several attributes (``key_parts``), as ``onhandQuantityDetails`` has.
        key_parts: the attributes the opaque key is made from.
        alt_key: the alternate key ``Upsert-Mode`` and duplicate checks use.
        writable: POST/PATCH allowed; read-only resources answer 405.
        deletable: DELETE allowed.
        family: the REST family in the path (``/<family>/resources/<version>/``).
    """

    name: str
    title: str
    key: str | None
    attrs: tuple[Attr, ...]
    children: tuple[ChildDef, ...] = ()
    key_parts: tuple[str, ...] = ()
    alt_key: tuple[str, ...] = ()
    writable: bool = False
    deletable: bool = False
    family: str = "fscmRestApi"

    def attr(self, name: str) -> Attr | None:
        """The attribute called ``name``, or None."""
        for a in self.attrs:
            if a.name == name:
                return a
        return None

    def child(self, name: str) -> ChildDef | None:
        """The child collection called ``name``, or None."""
        for c in self.children:
            if c.name == name:
                return c
        return None


def _ro(name: str, type_: str = "string", title: str = "") -> Attr:
    return Attr(name, type_, read_only=True, title=title)


def _req(name: str, type_: str = "string", title: str = "") -> Attr:
    return Attr(name, type_, required=True, title=title)


_STAMPS = (_ro("CreationDate", "datetime", "Creation Date"), _ro("LastUpdateDate", "datetime"))

ORDER_LINES = ChildDef(
    "lines",
    "LineId",
    (
        _ro("LineId", "integer", "Line ID"),
        Attr("SourceTransactionLineId"),
        Attr("SourceTransactionLineNumber"),
        Attr("SourceTransactionScheduleId"),
        Attr("SourceScheduleNumber"),
        Attr("TransactionCategoryCode"),
        Attr("ProductNumber", title="Item"),
        Attr("ProductId", "integer"),
        _ro("ProductDescription"),
        Attr("OrderedQuantity", "number", title="Ordered Quantity"),
        Attr("OrderedUOMCode"),
        Attr("UnitListPrice", "number"),
        Attr("UnitSellingPrice", "number"),  # [U] name; reference §2.1
        Attr("RequestedShipDate", "datetime"),
        Attr("RequestedFulfillmentOrganizationCode"),
        # A revision cancels a line with CanceledFlag (BICC's LineCanceledFlag [C]; the REST
        # attribute name [U]); the reason code's lookup values are the pod's own [U].
        Attr("CanceledFlag", "boolean"),
        Attr("CancelReasonCode"),
        _ro("StatusCode"),
    ),
    "Order Lines",
    alt_key=("SourceTransactionLineId", "SourceTransactionScheduleId"),
)

SALES_ORDERS = ResourceDef(
    "salesOrdersForOrderHub",
    "Sales Orders for Order Hub",
    "HeaderId",
    (
        _ro("HeaderId", "integer", "Order ID"),
        _ro("OrderNumber", title="Order"),
        _req("SourceTransactionSystem", title="Source Transaction System"),
        _req("SourceTransactionId", title="Source Transaction ID"),
        _req("SourceTransactionNumber", title="Source Transaction Number"),
        Attr("SourceTransactionRevisionNumber", "integer"),
        # Cancelling the whole order in a revision [U: named in third-party clients of this
        # resource, not in the reference]; see orders.py.
        Attr("CanceledFlag", "boolean"),
        Attr("CancelReasonCode"),
        Attr("BusinessUnitName"),
        Attr("BusinessUnitId", "integer"),
        Attr("BuyingPartyName", title="Customer"),
        Attr("BuyingPartyId", "integer"),
        Attr("BuyingPartyNumber"),
        Attr("BuyingPartyContactName"),
        Attr("CustomerPONumber", title="Purchase Order"),
        Attr("TransactionalCurrencyCode"),
        Attr("TransactionOn", "datetime", title="Ordered Date"),
        Attr("TransactionTypeCode"),
        Attr("RequestedShipDate", "datetime"),
        Attr("RequestingBusinessUnitName"),
        Attr("SubmittedFlag", "boolean"),
        Attr("FreezePriceFlag", "boolean"),
        Attr("PreCreditCheckedFlag", "boolean"),
        _ro("StatusCode", title="Status"),
        *_STAMPS,
    ),
    children=(
        ORDER_LINES,
        ChildDef(
            "billToCustomer",
            "BillToCustomerId",  # [U] the real child key is an opaque hash
            (
                _ro("BillToCustomerId", "integer"),
                Attr("CustomerAccountId", "integer"),
                Attr("SiteUseId", "integer"),
            ),
            "Bill-to Customers",
        ),
        ChildDef(
            "shipToCustomer",
            "ShipToCustomerId",  # [U] as above
            (
                _ro("ShipToCustomerId", "integer"),
                Attr("PartyId", "integer"),
                Attr("SiteId", "integer"),
            ),
            "Ship-to Customers",
        ),
    ),
    alt_key=("SourceTransactionSystem", "SourceTransactionId"),
    writable=True,
    deletable=True,
)

# The AR customer account: Fusion's writable account APIs are SOAP/FBDI (reference §2); the
# fscm REST resource for AR accounts is this read-only one ("POST action not supported").
# Its item path is ``{AccountId}``; the attribute names here follow reference §2.3 [U].
CUSTOMER_ACCOUNTS = ResourceDef(
    "receivablesCustomerAccountActivities",
    "Receivables Customer Account Activities",
    "CustomerAccountId",
    (
        _ro("CustomerAccountId", "integer", "Customer Account ID"),
        _ro("AccountNumber", title="Account Number"),
        _ro("CustomerName", title="Customer Name"),
        _ro("PartyId", "integer"),
        _ro("PartyNumber"),
        _ro("TaxpayerIdentificationNumber"),
        _ro("BillToSiteUseId", "integer"),
        _ro("AccountStatus"),
        *_STAMPS,
    ),
)

ITEMS = ResourceDef(
    "itemsV2",  # [U] exact name and fields; reference §2
    "Items Version 2",
    "ItemId",
    (
        _ro("ItemId", "integer", "Item ID"),
        _req("ItemNumber", title="Item"),
        Attr("ItemDescription", title="Description"),
        Attr("LongDescription"),
        _req("OrganizationCode", title="Organization"),
        _ro("OrganizationId", "integer"),
        Attr("PrimaryUOMCode", title="Primary Unit of Measure"),
        Attr("ItemStatusCode"),
        Attr("ItemClass"),
        Attr("ListPrice", "number"),  # [U] list price lives in price lists in Fusion
        *_STAMPS,
    ),
    alt_key=("ItemNumber", "OrganizationCode"),
    writable=True,
)

ON_HAND = ResourceDef(
    "onhandQuantityDetails",
    "On-Hand Quantity Details",
    None,
    (
        _ro("OrganizationId", "integer"),
        _ro("OrganizationCode"),
        _ro("InventoryItemId", "integer"),
        _ro("ItemNumber"),
        _ro("SubinventoryCode"),
        _ro("LocatorId", "integer"),
        _ro("LotNumber"),
        _ro("SerialNumber"),
        _ro("PrimaryQuantity", "number"),  # [U] name; reference §2.3
        _ro("PrimaryUOMCode"),
        *_STAMPS,
    ),
    key_parts=(
        "OrganizationId",
        "InventoryItemId",
        "SubinventoryCode",
        "LocatorId",
        "LotNumber",
        "SerialNumber",
    ),
)

REQUISITION_LINES = ChildDef(
    "lines",
    "RequisitionLineId",
    (
        _ro("RequisitionLineId", "integer"),
        Attr("LineNumber", "integer"),
        Attr("LineTypeCode"),
        Attr("CategoryName"),
        Attr("ItemId", "integer"),
        Attr("ItemNumber"),
        Attr("ItemDescription"),
        Attr("Quantity", "number"),
        Attr("UnitOfMeasure"),
        Attr("Price", "number"),
        Attr("CurrencyCode"),
        Attr("DestinationTypeCode"),
        Attr("DeliverToLocationCode"),
        Attr("RequesterEmail"),
        Attr("distributions", "array"),
    ),
    "Lines",
    # a line resent without its RequisitionLineId (an upsert resend) is matched on its number
    alt_key=("LineNumber",),
)

REQUISITIONS = ResourceDef(
    "purchaseRequisitions",
    "Purchase Requisitions",
    "RequisitionHeaderId",
    (
        _ro("RequisitionHeaderId", "integer"),
        _ro("Requisition", title="Requisition"),
        _req("RequisitioningBUId", "integer"),
        Attr("RequisitioningBU"),
        Attr("PreparerId", "integer"),
        Attr("PreparerEmail"),
        Attr("ExternallyManagedFlag", "boolean"),
        Attr("Description"),
        Attr("Justification"),
        _ro("DocumentStatus"),  # Incomplete / Pending approval / Approved [U]
        *_STAMPS,
    ),
    children=(REQUISITION_LINES,),
    writable=True,
    deletable=True,
)

# No confirmed REST resource for credit limits (reference §2, "Credit" row [U]). The
# simulator serves this read-only resource, modelled on HZ_CUST_PROFILE_AMTS_F; exposure is
# the open orders' value billed to the account. The connector names it in one table.
CREDIT_PROFILES = ResourceDef(
    "customerCreditProfiles",
    "Customer Credit Profiles",
    "CustomerAccountId",
    (
        _ro("CustomerAccountId", "integer"),
        _ro("AccountNumber"),
        _ro("CustomerName"),
        _ro("PartyId", "integer"),
        _ro("PartyNumber"),
        _ro("CurrencyCode"),
        _ro("OverallCreditLimit", "number"),
        _ro("OrderCreditLimit", "number"),
        _ro("CreditHold", "boolean"),
        _ro("CreditExposure", "number"),
        _ro("AvailableCredit", "number"),
        *_STAMPS,
    ),
)

# Trading community organization parties (crmRestApi, reference §2 "Customer (party)"): a
# party with its primary address, not a Receivables account [C via community Q&A]. Item key
# PartyNumber (the Registry ID). The primary address attributes are flattened on the party
# and SourceSystem + SourceSystemReferenceValue register the external id [U: flattening and
# whether the reference is queryable]; the pair is unique per party.
HUB_ORGANIZATIONS = ResourceDef(
    "hubOrganizations",
    "Hub Organizations",
    "PartyNumber",
    (
        _ro("PartyId", "integer", "Party ID"),
        _ro("PartyNumber", title="Registry ID"),
        _req("OrganizationName", title="Name"),
        Attr("PartyUsageCode"),
        Attr("SourceSystem"),
        Attr("SourceSystemReferenceValue"),
        Attr("TaxpayerIdentificationNumber"),
        Attr("URL"),
        Attr("PhoneNumber"),
        Attr("Address1", title="Address Line 1"),
        Attr("Address2"),
        Attr("City"),
        Attr("State"),
        Attr("Province"),
        Attr("PostalCode"),
        Attr("Country", title="Country"),
        _ro("Status"),
        *_STAMPS,
    ),
    alt_key=("SourceSystem", "SourceSystemReferenceValue"),
    writable=True,
    family="crmRestApi",
)

RESOURCES: dict[str, ResourceDef] = {
    r.name: r
    for r in (
        SALES_ORDERS,
        CUSTOMER_ACCOUNTS,
        ITEMS,
        ON_HAND,
        REQUISITIONS,
        CREDIT_PROFILES,
        HUB_ORGANIZATIONS,
    )
}
