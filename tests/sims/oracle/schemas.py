"""JSON Schemas of the documented Oracle REST shapes, written from the reference (not the sim).

Sources: reference §1.3 (collection envelope), §2.1 (salesOrdersForOrderHub), §2.2
(purchaseRequisitions), §2.3 (data model), §4 (batch), §5 (error details), §7 (samples).
"""

from __future__ import annotations

STAMP = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$",
}
NULLABLE_STAMP = {"anyOf": [STAMP, {"type": "null"}]}
LINKS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["rel", "href"],
        "properties": {
            "rel": {"enum": ["self", "canonical", "child", "parent", "lov", "enclosure"]},
            "href": {"type": "string", "pattern": "^https?://"},
            "name": {"type": "string"},
            "kind": {"enum": ["item", "collection", "describe", "other"]},
        },
    },
}


def nullable(kind: str) -> dict[str, object]:
    return {"type": [kind, "null"]}


def collection(item: dict[str, object]) -> dict[str, object]:
    """The collection envelope of §1.3 around ``item``."""
    return {
        "type": "object",
        "required": ["items", "count", "hasMore", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": item},
            "count": {"type": "integer", "minimum": 0},
            "hasMore": {"type": "boolean"},
            "limit": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
            "totalResults": {"type": "integer", "minimum": 0},
            "links": LINKS,
        },
    }


ORDER_LINE = {
    "type": "object",
    "required": ["LineId", "ProductNumber", "OrderedQuantity"],
    "properties": {
        "LineId": {"type": "integer"},
        "SourceTransactionLineId": nullable("string"),
        "SourceTransactionLineNumber": nullable("string"),
        "SourceTransactionScheduleId": nullable("string"),
        "SourceScheduleNumber": nullable("string"),
        "TransactionCategoryCode": nullable("string"),
        "ProductNumber": {"type": "string"},
        "ProductId": nullable("integer"),
        "OrderedQuantity": {"type": "number", "exclusiveMinimum": 0},
        "OrderedUOMCode": nullable("string"),
        "UnitListPrice": nullable("number"),
        "UnitSellingPrice": nullable("number"),
        "RequestedShipDate": NULLABLE_STAMP,
        "StatusCode": nullable("string"),
        "links": LINKS,
    },
}

SALES_ORDER = {
    "type": "object",
    "required": [
        "HeaderId",
        "OrderNumber",
        "SourceTransactionSystem",
        "SourceTransactionId",
        "SourceTransactionNumber",
        "StatusCode",
        "LastUpdateDate",
    ],
    "properties": {
        "HeaderId": {"type": "integer"},
        "OrderNumber": {"type": "string"},
        "SourceTransactionSystem": {"type": "string"},
        "SourceTransactionId": {"type": "string"},
        "SourceTransactionNumber": {"type": "string"},
        "SourceTransactionRevisionNumber": nullable("integer"),
        "BusinessUnitName": nullable("string"),
        "BuyingPartyName": nullable("string"),
        "BuyingPartyId": nullable("integer"),
        "BuyingPartyNumber": nullable("string"),
        "CustomerPONumber": nullable("string"),
        "TransactionalCurrencyCode": nullable("string"),
        "TransactionOn": NULLABLE_STAMP,
        "SubmittedFlag": nullable("boolean"),
        "FreezePriceFlag": nullable("boolean"),
        "PreCreditCheckedFlag": nullable("boolean"),
        "StatusCode": {"type": "string"},
        "CreationDate": STAMP,
        "LastUpdateDate": STAMP,
        "lines": {"anyOf": [{"type": "array", "items": ORDER_LINE}, collection(ORDER_LINE)]},
        "billToCustomer": {"anyOf": [{"type": "array"}, {"type": "object"}]},
        "shipToCustomer": {"anyOf": [{"type": "array"}, {"type": "object"}]},
        "links": LINKS,
    },
}

CUSTOMER_ACCOUNT = {
    "type": "object",
    "required": ["CustomerAccountId", "AccountNumber", "PartyId", "LastUpdateDate"],
    "properties": {
        "CustomerAccountId": {"type": "integer"},
        "AccountNumber": {"type": "string"},
        "CustomerName": {"type": "string"},
        "PartyId": {"type": "integer"},
        "PartyNumber": {"type": "string"},
        "LastUpdateDate": STAMP,
        "links": LINKS,
    },
}

ITEM = {
    "type": "object",
    "required": ["ItemNumber", "OrganizationCode", "LastUpdateDate"],
    "properties": {
        "ItemNumber": {"type": "string"},
        "ItemDescription": nullable("string"),
        "OrganizationId": {"type": "integer"},
        "OrganizationCode": {"type": "string"},
        "PrimaryUOMCode": nullable("string"),
        "ItemStatusCode": nullable("string"),
        "LastUpdateDate": STAMP,
        "links": LINKS,
    },
}

ON_HAND = {
    "type": "object",
    "required": ["OrganizationId", "InventoryItemId", "ItemNumber", "SubinventoryCode"],
    "properties": {
        "OrganizationId": {"type": "integer"},
        "OrganizationCode": {"type": "string"},
        "InventoryItemId": {"type": "integer"},
        "ItemNumber": {"type": "string"},
        "SubinventoryCode": {"type": "string"},
        "LocatorId": nullable("integer"),
        "LotNumber": nullable("string"),
        "SerialNumber": nullable("string"),
        "PrimaryQuantity": {"type": "number"},
        "PrimaryUOMCode": {"type": "string"},
        "links": LINKS,
    },
}

REQUISITION_LINE = {
    "type": "object",
    "required": ["RequisitionLineId", "LineNumber", "Quantity"],
    "properties": {
        "RequisitionLineId": {"type": "integer"},
        "LineNumber": {"type": "integer"},
        "LineTypeCode": nullable("string"),
        "ItemDescription": nullable("string"),
        "Quantity": {"type": "number"},
        "UnitOfMeasure": nullable("string"),
        "Price": nullable("number"),
        "CurrencyCode": nullable("string"),
        "distributions": {"type": ["array", "null"]},
    },
}

REQUISITION = {
    "type": "object",
    "required": ["RequisitionHeaderId", "Requisition", "RequisitioningBUId", "DocumentStatus"],
    "properties": {
        "RequisitionHeaderId": {"type": "integer"},
        "Requisition": {"type": "string"},
        "RequisitioningBUId": {"type": "integer"},
        "PreparerId": nullable("integer"),
        "ExternallyManagedFlag": nullable("boolean"),
        "Description": nullable("string"),
        "DocumentStatus": {"type": "string"},
        "LastUpdateDate": STAMP,
        "lines": {
            "anyOf": [{"type": "array", "items": REQUISITION_LINE}, collection(REQUISITION_LINE)]
        },
        "links": LINKS,
    },
}

CREDIT = {
    "type": "object",
    "required": ["CustomerAccountId", "CurrencyCode", "OverallCreditLimit"],
    "properties": {
        "CustomerAccountId": {"type": "integer"},
        "CurrencyCode": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "OverallCreditLimit": {"type": "number"},
        "OrderCreditLimit": nullable("number"),
        "CreditHold": {"type": "boolean"},
        "LastUpdateDate": STAMP,
    },
}

ERROR = {
    "type": "object",
    "required": ["title", "status", "o:errorDetails"],
    "properties": {
        "title": {"type": "string"},
        "status": {"type": "string", "pattern": r"^[1-5]\d\d$"},
        "o:errorDetails": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["detail"],
                "properties": {
                    "detail": {"type": "string", "minLength": 1},
                    "o:errorCode": {"type": "string"},
                    "o:errorPath": {"type": "string"},
                },
            },
        },
    },
}

BATCH_RESPONSE = {
    "type": "object",
    "required": ["parts"],
    "properties": {
        "parts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "path", "operation"],
                "properties": {
                    "id": {"type": "string"},
                    "path": {"type": "string", "pattern": "^/"},
                    "operation": {"enum": ["get", "create", "update", "replace", "delete"]},
                    "preconditionSucceeded": {"type": "boolean"},
                    "payload": {"type": ["object", "null"]},
                },
            },
        }
    },
}

BY_RESOURCE = {
    "salesOrdersForOrderHub": SALES_ORDER,
    "receivablesCustomerAccountActivities": CUSTOMER_ACCOUNT,
    "itemsV2": ITEM,
    "onhandQuantityDetails": ON_HAND,
    "purchaseRequisitions": REQUISITION,
    "customerCreditProfiles": CREDIT,
}
