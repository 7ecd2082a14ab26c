"""The objects the connector knows: resource path, id, change stamp, natural keys, children.

Objects are named after their Fusion REST resources (``oracle:salesOrdersForOrderHub``).
Reference §2 and §2.3 give the keys; ``onhandQuantityDetails`` has an opaque hash key, so its
record id is taken from ``links[rel=self]`` (reference §1.3: "follow links[rel=self] rather
than build keys"). ``hubOrganizations`` lives under ``/crmRestApi`` and is keyed by its
PartyNumber. ``customerCreditProfiles`` is a stand-in, not an Oracle resource (§2, "Credit":
no confirmed REST resource [U]); a pod that exposes credit limits as a REST object (from
``ReceivablesCustomerProfileService`` or a BICC/BI extract) maps it with the connection's
``resources`` setting.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OBJECTS", "STAMP_FIELD", "ObjectSpec"]

STAMP_FIELD = "LastUpdateDate"


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """How to read and write one object.

    Attributes:
        resource: the default resource name in the path.
        id_field: the attribute holding the record id; None = the id is the last segment of
            the item's self link (opaque hash keys).
        natural_keys: attributes ``find`` is meant for (any queryable attribute works).
        children: child collections read with each record (``expand``).
        alt_key: the alternate key Oracle's ``Upsert-Mode`` matches on; empty = none.
        writable: has create/update through REST.
        family: the REST family in the path: ``fscmRestApi`` (ERP/SCM/procurement) or
            ``crmRestApi`` (trading community parties), reference §1.1.
        numeric_id: the id attribute holds a number (``get`` skips ids that are not).
        revisable: a change of an existing record is a revision (revisions.py).
    """

    resource: str
    id_field: str | None
    natural_keys: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    alt_key: tuple[str, ...] = ()
    writable: bool = False
    family: str = "fscmRestApi"
    numeric_id: bool = True
    revisable: bool = False


OBJECTS: dict[str, ObjectSpec] = {
    "salesOrdersForOrderHub": ObjectSpec(
        "salesOrdersForOrderHub",
        "HeaderId",
        ("SourceTransactionNumber", "SourceTransactionId", "OrderNumber"),
        ("lines", "billToCustomer", "shipToCustomer"),
        ("SourceTransactionSystem", "SourceTransactionId"),
        writable=True,
        revisable=True,
    ),
    "receivablesCustomerAccountActivities": ObjectSpec(
        "receivablesCustomerAccountActivities", "CustomerAccountId", ("AccountNumber",)
    ),
    "itemsV2": ObjectSpec(
        "itemsV2", "ItemId", ("ItemNumber",), (), ("ItemNumber", "OrganizationCode"), writable=True
    ),
    "onhandQuantityDetails": ObjectSpec("onhandQuantityDetails", None, ("ItemNumber",)),
    "purchaseRequisitions": ObjectSpec(
        "purchaseRequisitions", "RequisitionHeaderId", ("Requisition",), ("lines",), writable=True
    ),
    "customerCreditProfiles": ObjectSpec(
        "customerCreditProfiles", "CustomerAccountId", ("AccountNumber", "PartyNumber")
    ),
    # A party with its primary address (reference §2: creates no Receivables account). The
    # item key is the PartyNumber (Registry ID); SourceSystem + SourceSystemReferenceValue
    # register the CRM's id and make a resent create an update (Upsert-Mode).
    "hubOrganizations": ObjectSpec(
        "hubOrganizations",
        "PartyNumber",
        ("PartyNumber", "SourceSystemReferenceValue", "PartyId"),
        (),
        ("SourceSystem", "SourceSystemReferenceValue"),
        writable=True,
        family="crmRestApi",
        numeric_id=False,
    ),
}
