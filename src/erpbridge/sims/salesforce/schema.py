"""The simulated org's objects and fields (what ``describe`` serves and writes obey).

Field lists follow the Salesforce Object Reference for the standard objects we sync
(Account, Contact, Product2, Pricebook2, PricebookEntry, Order, OrderItem, Case) plus the
custom fields (``__c``) and the custom object ``Product_Stock__c`` an erpbridge install
adds, flagged External ID + Unique where they carry the ERP key. A subset: real orgs have
many more standard fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CHILD_RELATIONSHIPS",
    "OBJECTS",
    "FieldDef",
    "ObjectDef",
    "child_relationship",
    "object_def",
]

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}

#: field types whose values are text.
TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "phone", "url", "email", "id", "reference"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of a simulated object.

    Attributes:
        name: API name.
        type: Salesforce field type (``string``, ``reference``, ``picklist``, ``currency`` ...).
        length: maximum length for text types (0 = not a text type).
        required: must be given on create (``nillable`` false, no default).
        createable / updateable: what the API may write; system fields are neither.
        external_id: flagged External ID (and Unique): usable in upsert and lookups.
        reference_to: the object a reference points at.
        relationship: name of the parent relationship (``Account`` for ``AccountId``).
        picklist: allowed values; restricted picklists refuse others.
        default: value set on create when the field is not given.
        label: human label.
    """

    name: str
    type: str
    length: int = 0
    required: bool = False
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    reference_to: str | None = None
    relationship: str | None = None
    picklist: tuple[str, ...] = ()
    default: object = None
    label: str = ""

    @property
    def is_custom(self) -> bool:
        """True for ``__c`` fields."""
        return self.name.endswith("__c")

    def describe(self) -> dict[str, object]:
        """The field as ``GET /sobjects/{T}/describe`` lists it."""
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "precision": 18 if self.type in ("currency", "double") else 0,
            "scale": 2 if self.type == "currency" else 0,
            "custom": self.is_custom,
            "externalId": self.external_id,
            "unique": self.external_id,
            "idLookup": self.external_id or self.type == "id",
            "nillable": not self.required and self.type not in ("id", "boolean"),
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.default is not None or not self.createable,
            "calculated": False,
            "autoNumber": False,
            "filterable": True,
            "sortable": self.type != "textarea",
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship,
            "restrictedPicklist": bool(self.picklist),
            "picklistValues": [
                {"active": True, "defaultValue": v == self.default, "label": v, "value": v}
                for v in self.picklist
            ],
        }


@dataclass(frozen=True, slots=True)
class ObjectDef:
    """One simulated sObject type."""

    name: str
    prefix: str
    label: str
    label_plural: str
    fields: Mapping[str, FieldDef]

    @property
    def external_ids(self) -> list[str]:
        """Names of the External ID fields."""
        return [f.name for f in self.fields.values() if f.external_id]

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship is ``name`` (case-insensitive)."""
        for f in self.fields.values():
            if f.relationship and f.relationship.lower() == name.lower():
                return f
        return None

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name``; Salesforce field names are case-insensitive."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        for f in self.fields.values():
            if f.name.lower() == lowered:
                return f
        return None


def _s(name: str, length: int = 255, **kw: object) -> FieldDef:
    return FieldDef(name, "string", length, **kw)  # type: ignore[arg-type]  # FieldDef kwargs


def _ref(name: str, to: str, **kw: object) -> FieldDef:
    rel = name[:-2] if name.endswith("Id") else name.replace("__c", "__r")
    return FieldDef(name, "reference", 18, reference_to=to, relationship=rel, **kw)  # type: ignore[arg-type]  # FieldDef kwargs


def _pick(name: str, values: tuple[str, ...], **kw: object) -> FieldDef:
    return FieldDef(name, "picklist", 255, picklist=values, **kw)  # type: ignore[arg-type]  # FieldDef kwargs


def _ro(name: str, type_: str, length: int = 0, **kw: object) -> FieldDef:
    return FieldDef(name, type_, length, createable=False, updateable=False, **kw)  # type: ignore[arg-type]  # FieldDef kwargs


def _system_fields() -> list[FieldDef]:
    return [
        FieldDef("Id", "id", 18, createable=False, updateable=False, label="Record ID"),
        _ro("IsDeleted", "boolean", label="Deleted"),
        _ro("CreatedDate", "datetime"),
        FieldDef(
            "CreatedById",
            "reference",
            18,
            createable=False,
            updateable=False,
            reference_to="User",
            relationship="CreatedBy",
        ),
        _ro("LastModifiedDate", "datetime"),
        FieldDef(
            "LastModifiedById",
            "reference",
            18,
            createable=False,
            updateable=False,
            reference_to="User",
            relationship="LastModifiedBy",
        ),
        _ro("SystemModstamp", "datetime", label="System Modstamp"),
    ]


def _obj(name: str, prefix: str, label: str, plural: str, fields: list[FieldDef]) -> ObjectDef:
    all_fields = _system_fields() + fields
    return ObjectDef(name, prefix, label, plural, {f.name: f for f in all_fields})


_OWNER = FieldDef("OwnerId", "reference", 18, reference_to="User", relationship="Owner")
_ADDRESS = ("Street", "City", "State", "PostalCode", "Country")

OBJECTS: dict[str, ObjectDef] = {
    o.name: o
    for o in [
        _obj(
            "Account",
            "001",
            "Account",
            "Accounts",
            [
                _s("Name", required=True, label="Account Name"),
                _s("AccountNumber", 40),
                _pick(
                    "Type",
                    ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"),
                ),
                _pick(
                    "Industry",
                    ("Manufacturing", "Retail", "Technology", "Energy", "Healthcare", "Other"),
                ),
                FieldDef("Phone", "phone", 40),
                FieldDef("Website", "url", 255),
                FieldDef("AnnualRevenue", "currency"),
                FieldDef("NumberOfEmployees", "int"),
                *[_s(f"Billing{p}", 255 if p == "Street" else 80) for p in _ADDRESS],
                *[_s(f"Shipping{p}", 255 if p == "Street" else 80) for p in _ADDRESS],
                _OWNER,
                _s("ERP_Customer_Id__c", 20, external_id=True, label="ERP Customer Id"),
                FieldDef("Credit_Limit__c", "currency", label="Credit Limit"),
                FieldDef("Credit_Exposure__c", "currency", label="Credit Exposure"),
                _pick("Region__c", ("华东", "华北", "华南", "EMEA", "AMER")),
            ],
        ),
        _obj(
            "Contact",
            "003",
            "Contact",
            "Contacts",
            [
                _s("LastName", 80, required=True),
                _s("FirstName", 40),
                _ref("AccountId", "Account"),
                FieldDef("Email", "email", 80),
                FieldDef("Phone", "phone", 40),
                FieldDef("MobilePhone", "phone", 40),
                _s("Title", 128),
                *[_s(f"Mailing{p}", 255 if p == "Street" else 80) for p in _ADDRESS],
                _OWNER,
                _s("ERP_Contact_Id__c", 20, external_id=True, label="ERP Contact Id"),
            ],
        ),
        _obj(
            "Product2",
            "01t",
            "Product",
            "Products",
            [
                _s("Name", required=True, label="Product Name"),
                _s("ProductCode"),
                FieldDef("Description", "textarea", 4000),
                _pick("Family", ("Hardware", "Software", "Service", "Spare Parts")),
                FieldDef("IsActive", "boolean", default=False),
                _s("QuantityUnitOfMeasure"),
                _s("ERP_Material__c", 40, external_id=True, label="ERP Material"),
                FieldDef("Stock_On_Hand__c", "double", label="Stock On Hand"),
            ],
        ),
        _obj(
            "Pricebook2",
            "01s",
            "Price Book",
            "Price Books",
            [
                _s("Name", required=True, label="Price Book Name"),
                FieldDef("IsActive", "boolean", default=False),
                _ro("IsStandard", "boolean"),
                FieldDef("Description", "textarea", 255),
            ],
        ),
        _obj(
            "PricebookEntry",
            "01u",
            "Price Book Entry",
            "Price Book Entries",
            [
                _ref("Pricebook2Id", "Pricebook2", required=True, updateable=False),
                _ref("Product2Id", "Product2", required=True, updateable=False),
                FieldDef("UnitPrice", "currency", required=True),
                FieldDef("IsActive", "boolean", default=False),
                FieldDef("UseStandardPrice", "boolean", default=False),
                _ro("Name", "string", 255),
                _ro("ProductCode", "string", 255),
            ],
        ),
        _obj(
            "Order",
            "801",
            "Order",
            "Orders",
            [
                _ref("AccountId", "Account", required=True),
                FieldDef("EffectiveDate", "date", required=True, label="Order Start Date"),
                # "Cancelled" is an org's own Status value (Setup: Order Status picklist), in
                # the Activated status category: its items stay locked (objects.py).
                _pick(
                    "Status", ("Draft", "Activated", "Cancelled"), required=True, default="Draft"
                ),
                _ref("Pricebook2Id", "Pricebook2"),
                _ro("OrderNumber", "string", 30),
                _ro("TotalAmount", "currency"),
                _s("PoNumber", 80),
                _s("Type", 255),
                _s("Description", 4000),
                *[_s(f"Billing{p}", 255 if p == "Street" else 80) for p in _ADDRESS],
                _OWNER,
                _s("ERP_SalesOrder__c", 20, external_id=True, label="ERP Sales Order"),
                _s("ERP_Status__c", 40, label="ERP Status"),
                FieldDef("Credit_Hold__c", "boolean", default=False, label="Credit Hold"),
                _s("Credit_Hold_Reason__c", 255, label="Credit Hold Reason"),
                FieldDef("Credit_Approved__c", "boolean", default=False, label="Credit Approved"),
                _pick("Region__c", ("华东", "华北", "华南", "EMEA", "AMER")),
            ],
        ),
        _obj(
            "OrderItem",
            "802",
            "Order Product",
            "Order Products",
            [
                _ref("OrderId", "Order", required=True, updateable=False),
                _ref("PricebookEntryId", "PricebookEntry", required=True, updateable=False),
                _ro(
                    "Product2Id", "reference", 18, reference_to="Product2", relationship="Product2"
                ),
                FieldDef("Quantity", "double", required=True),
                FieldDef("UnitPrice", "currency", required=True),
                _ro("ListPrice", "currency"),
                _ro("TotalPrice", "currency"),
                FieldDef("ServiceDate", "date"),
                _s("Description", 255),
                _ro("OrderItemNumber", "string", 30),
                _s("ERP_Item__c", 20, label="ERP Item"),
            ],
        ),
        _obj(
            "Case",
            "500",
            "Case",
            "Cases",
            [
                _ro("CaseNumber", "string", 30),
                _s("Subject"),
                FieldDef("Description", "textarea", 32000),
                _pick("Status", ("New", "Working", "Escalated", "Closed"), default="New"),
                _pick("Priority", ("High", "Medium", "Low"), default="Medium"),
                _pick("Origin", ("Phone", "Email", "Web")),
                _ro("IsClosed", "boolean"),
                _ref("AccountId", "Account"),
                _ref("ContactId", "Contact"),
                _ref("Product__c", "Product2", label="Product"),
                FieldDef("Parts_Needed__c", "boolean", default=False, label="Parts Needed"),
                FieldDef("Parts_Quantity__c", "double", label="Parts Quantity"),
                _s("ERP_Requisition__c", 20, external_id=True, label="ERP Requisition"),
                _s("ERP_Requisition_Status__c", 40, label="ERP Requisition Status"),
                _OWNER,
            ],
        ),
        # A custom object an erpbridge install adds (template sf-sap, flow 4): ERP stock per
        # material and warehouse (plant / storage location), child of the product.
        _obj(
            "Product_Stock__c",
            "a01",
            "Product Stock",
            "Product Stocks",
            [
                _s("Name", 80, required=True, label="Product Stock Name"),
                _s("ERP_Stock_Key__c", 80, external_id=True, label="ERP Stock Key"),
                _ref("Product__c", "Product2", label="Product"),
                _s("ERP_Material__c", 40, label="ERP Material"),
                _s("Plant__c", 4, label="Plant"),
                _s("Storage_Location__c", 4, label="Storage Location"),
                _s("Batch__c", 10, label="Batch"),
                FieldDef("Unrestricted_Stock__c", "double", label="Unrestricted Stock"),
                _s("Unit__c", 3, label="Unit"),
                _OWNER,
            ],
        ),
    ]
}

#: key prefix -> object name.
PREFIXES = {o.prefix: o.name for o in OBJECTS.values()}


def object_def(name: str) -> ObjectDef | None:
    """The object called ``name`` (case-insensitive, like Salesforce), or None."""
    found = OBJECTS.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    for o in OBJECTS.values():
        if o.name.lower() == lowered:
            return o
    return None


#: child relationship names on the parent: (child object, its reference field) -> name.
CHILD_RELATIONSHIPS = {
    ("Contact", "AccountId"): "Contacts",
    ("Order", "AccountId"): "Orders",
    ("Case", "AccountId"): "Cases",
    ("Case", "ContactId"): "Cases",
    ("OrderItem", "OrderId"): "OrderItems",
    ("PricebookEntry", "Product2Id"): "PricebookEntries",
    ("PricebookEntry", "Pricebook2Id"): "PricebookEntries",
    ("OrderItem", "PricebookEntryId"): "OrderItems",
    ("Order", "Pricebook2Id"): "Orders",
    ("Product_Stock__c", "Product__c"): "Product_Stocks__r",
}


def child_relationship(parent: str, name: str) -> tuple[str, ObjectDef, FieldDef] | None:
    """(canonical name, child object, child's reference field) of ``parent``'s relationship."""
    for (child_name, field_name), rel in CHILD_RELATIONSHIPS.items():
        child = OBJECTS[child_name]
        link = child.fields[field_name]
        if rel.lower() == name.lower() and link.reference_to == parent:
            return rel, child, link
    return None
