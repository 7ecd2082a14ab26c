"""Object-level rules of the simulated org (beyond single-field checks).

Copied behaviour (Salesforce Object Reference, Order/OrderItem/PricebookEntry pages);
wording marked UNSURE where we could not confirm Salesforce's exact text:

- Auto-numbers: ``Order.OrderNumber`` (8 digits), ``OrderItem.OrderItemNumber`` (10),
  ``Case.CaseNumber`` (8).
- PricebookEntry: ``Name``/``ProductCode`` come from the product; one entry per (price
  book, product); an entry in a custom price book needs a standard-price entry first.
- OrderItem: the order needs a price book, the entry must belong to it, and items of an
  order in the Activated status category (``Activated``, and the org's own ``Cancelled``)
  cannot be added, changed or removed; ``Product2Id``, ``ListPrice``
  and ``TotalPrice`` are derived; the order's ``TotalAmount`` follows and its
  ``SystemModstamp`` moves (a system update).
- Order: the price book cannot change while it has items; deleting an order deletes its
  items.
- Case: ``IsClosed`` follows ``Status``.
- Account: deleting one with orders fails (``DELETE_FAILED``); its contacts and cases are
  deleted with it.
- Pricebook2: the standard price book cannot be deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from erpbridge.sims.salesforce.errors import SfError
from erpbridge.sims.salesforce.schema import ObjectDef

if TYPE_CHECKING:
    from erpbridge.sims.salesforce.state import OrgState, Row

__all__ = ["ACTIVATED_CATEGORY", "after_delete", "after_save", "before_delete", "before_save"]

#: Order Status values in the Activated status category (StatusCode): items are locked.
ACTIVATED_CATEGORY = frozenset({"Activated", "Cancelled"})

_AUTONUMBER = {
    "Order": ("OrderNumber", 8),
    "OrderItem": ("OrderItemNumber", 10),
    "Case": ("CaseNumber", 8),
}


def _integrity(message: str, *fields: str) -> SfError:
    return SfError(400, "FIELD_INTEGRITY_EXCEPTION", message, list(fields))


def before_save(org: OrgState, o: ObjectDef, row: Row, old: Row | None) -> None:
    """Derive fields and enforce rules before ``row`` (new or changed) is stored."""
    if old is None and o.name in _AUTONUMBER:
        field, width = _AUTONUMBER[o.name]
        row[field] = str(org.next_number(f"auto:{o.name}")).rjust(width, "0")
    if o.name == "PricebookEntry":
        _check_entry(org, row, old)
    elif o.name == "OrderItem":
        _check_item(org, row, old)
    elif o.name == "Order" and old is not None and row["Pricebook2Id"] != old["Pricebook2Id"]:
        if _items(org, str(row["Id"])):
            raise _integrity(
                "You can't change the price book of an order that has products", "Pricebook2Id"
            )  # UNSURE of the exact wording
    elif o.name == "Case":
        row["IsClosed"] = row.get("Status") == "Closed"
    elif o.name == "Pricebook2" and old is None:
        row["IsStandard"] = False


def after_save(org: OrgState, o: ObjectDef, row: Row, old: Row | None) -> None:
    """Follow-up system updates after ``row`` was stored (order totals)."""
    if o.name == "OrderItem":
        _recompute_total(org, str(row["OrderId"]))


def before_delete(org: OrgState, o: ObjectDef, row: Row) -> None:
    """Refuse deletes Salesforce refuses."""
    if o.name == "Account":
        orders = [
            r
            for r in org.records["Order"].values()
            if r["AccountId"] == row["Id"] and not r["IsDeleted"]
        ]
        if orders:
            numbers = ", ".join(str(r["OrderNumber"]) for r in orders[:5])
            raise SfError(
                400,
                "DELETE_FAILED",
                f"Your attempt to delete {row['Name']} could not be completed because it is "
                f"associated with the following orders.: {numbers}",
            )  # UNSURE of the exact wording
    elif o.name == "OrderItem":
        order = org.live("Order", str(row["OrderId"]))
        if order is not None and order["Status"] in ACTIVATED_CATEGORY:
            raise _integrity("You can't remove products from an activated order")
    elif o.name == "Pricebook2" and row["IsStandard"]:
        raise SfError(400, "DELETE_FAILED", "You can't delete the standard price book")


def after_delete(org: OrgState, o: ObjectDef, row: Row) -> None:
    """Cascade deletes (children in master-detail or cascade relationships)."""
    rid = row["Id"]
    if o.name == "Order":
        for item in _items(org, str(rid)):
            org.mark_deleted("OrderItem", item)
    elif o.name == "OrderItem":
        _recompute_total(org, str(row["OrderId"]))
    elif o.name == "Account":
        for child in ("Contact", "Case"):
            for r in list(org.records[child].values()):
                if r["AccountId"] == rid and not r["IsDeleted"]:
                    org.mark_deleted(child, r)


def _items(org: OrgState, order_id: str) -> list[Row]:
    return org.children("OrderItem", "OrderId", order_id)


def _check_entry(org: OrgState, row: Row, old: Row | None) -> None:
    product = org.live("Product2", str(row["Product2Id"]))
    if product is not None:
        row["Name"] = product["Name"]
        row["ProductCode"] = product["ProductCode"]
    if old is not None:
        return
    book = org.live("Pricebook2", str(row["Pricebook2Id"]))
    same = [
        r
        for r in org.records["PricebookEntry"].values()
        if r["Product2Id"] == row["Product2Id"] and not r["IsDeleted"]
    ]
    if any(r["Pricebook2Id"] == row["Pricebook2Id"] for r in same):
        raise SfError(
            400, "DUPLICATE_VALUE", "This price definition already exists in this price book"
        )
    if book is not None and not book["IsStandard"]:
        standard = {
            r["Pricebook2Id"]
            for r in same
            if (b := org.live("Pricebook2", str(r["Pricebook2Id"]))) is not None and b["IsStandard"]
        }
        if not standard:
            raise _integrity(
                "This price definition cannot be inserted because it does not have a standard "
                "price defined",  # UNSURE of the exact wording
                "Pricebook2Id",
            )


def _check_item(org: OrgState, row: Row, old: Row | None) -> None:
    order = org.live("Order", str(row["OrderId"]))
    entry = org.live("PricebookEntry", str(row["PricebookEntryId"]))
    if order is None or entry is None:
        raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if order["Status"] in ACTIVATED_CATEGORY:
        verb = "add" if old is None else "change"
        raise _integrity(f"You can't {verb} products of an activated order", "OrderId")
    if order["Pricebook2Id"] is None:
        raise _integrity(
            "Price Book Not Set on Order: you must choose a price book before adding products",
            "OrderId",
        )  # UNSURE of the exact wording
    if entry["Pricebook2Id"] != order["Pricebook2Id"]:
        raise _integrity(
            "field integrity exception: PricebookEntryId (pricebook entry is in a different "
            "pricebook than the one assigned to the order)",
            "PricebookEntryId",
        )
    row["Product2Id"] = entry["Product2Id"]
    row["ListPrice"] = entry["UnitPrice"]
    row["TotalPrice"] = round(_number(row["Quantity"]) * _number(row["UnitPrice"]), 2)


def _recompute_total(org: OrgState, order_id: str) -> None:
    order = org.live("Order", order_id)
    if order is None:
        return
    total = round(sum(_number(r["TotalPrice"]) for r in _items(org, order_id)), 2)
    if order["TotalAmount"] != total:
        org.touch("Order", {**order, "TotalAmount": total})


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
