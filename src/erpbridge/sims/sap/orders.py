"""What SD does with sales orders: numbers, items, pricing, credit check, business days.

Copied behaviour (reference §4 and §7): sales-order numbers from an internal number range,
item numbers in steps of 10, net values priced from a price list, an unknown sold-to party
or material refused with SD's own messages (``V1/302``, ``V1/392``), ``LastChangeDateTime``
bumped on every change, a credit check against the partner's credit account, and statuses
that move as days pass (:meth:`OrderRules.tick`: open orders are delivered, delivered ones
invoiced).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from decimal import Decimal

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import EntitySetDef
from erpbridge.sims.sap.records import RecordRules, midnight, missing, nav_list
from erpbridge.sims.sap.state import Row

__all__ = ["OrderRules", "price_of"]

_ORDER_REQUIRED = (
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SoldToParty",
)


def price_of(material: str) -> Decimal:
    """The simulated list price of a material (stable, derived from its number)."""
    return Decimal(10 + zlib.crc32(material.encode()) % 990) + Decimal("0.50")


class OrderRules(RecordRules):
    """Sales orders and their items, credit exposure, and the business day."""

    def _create_sales_order(
        self, entity_set: EntitySetDef, values: Row, navs: dict[str, object]
    ) -> Row:
        for name in _ORDER_REQUIRED:
            if not values.get(name):
                raise missing(entity_set, name)
        sold_to = str(values["SoldToParty"])
        if self.state.get("A_Customer", (sold_to,)) is None:
            raise ODataError(
                400,
                "V1/302",
                f"Sold-to party {sold_to} not defined for sales area "
                f"{values['SalesOrganization']}/{values['DistributionChannel']}/"
                f"{values['OrganizationDivision']}",
                target="SoldToParty",
            )
        items = nav_list(navs.get("to_Item"), "to_Item")
        number = str(self.state.next_number("SalesOrder", 1000000))
        now = self.state.clock()
        values.update(
            SalesOrder=number,
            SalesOrderDate=values.get("SalesOrderDate") or midnight(now),
            TransactionCurrency=values.get("TransactionCurrency") or "CNY",
            CreationDate=midnight(now),
            CreatedByUser="CC_ERPBRIDGE",
            OverallSDProcessStatus="A",
            OverallTotalDeliveryStatus="A",
            OverallOrdReltdBillgStatus="A",
            OverallSDDocumentRejectionSts="A",
            TotalNetAmount=Decimal("0"),
        )
        order = self._complete(entity_set, values)
        self._touch(entity_set, order)
        self.state.put(entity_set.name, order)
        for position, raw in enumerate(items):
            self._add_item(order, raw, position)
        self._reprice(order)
        self._credit_check(order)
        return order

    def _item_count(self, order: Row) -> int:
        """Positions used so far (item numbers go in steps of 10, gaps after deletes)."""
        items = self.state.related("A_SalesOrderItem", ("SalesOrder",), (str(order["SalesOrder"]),))
        return max((int(str(i["SalesOrderItem"])) // 10 for i in items), default=0)

    def _add_item(self, order: Row, raw: Mapping[str, object], position: int) -> Row:
        item_set = self.state.sets["A_SalesOrderItem"]
        fields, _ = self._fields(item_set, raw, creating=True)
        material = str(fields.get("Material") or "")
        if not material:
            raise missing(item_set, "Material")
        product = self.state.get("A_Product", (material,))
        if product is None:
            raise ODataError(
                400,
                "V1/392",
                f"Material {material} is not defined for sales org.{order['SalesOrganization']}"
                f", distr.chan.{order['DistributionChannel']}, language EN",
                target="Material",
            )
        fields.update(
            SalesOrder=order["SalesOrder"],
            SalesOrderItem=str((position + 1) * 10),
            SalesOrderItemCategory=fields.get("SalesOrderItemCategory") or "TAN",
            RequestedQuantityUnit=fields.get("RequestedQuantityUnit") or product["BaseUnit"],
            TransactionCurrency=order["TransactionCurrency"],
            MaterialGroup=product.get("ProductGroup"),
            Plant=fields.get("Plant") or "1710",
            PurchaseOrderByCustomer=order.get("PurchaseOrderByCustomer"),
            SDProcessStatus="A",
            DeliveryStatus="A",
        )
        item = self._complete(item_set, fields)
        self._price_item(order, item)
        self.state.put(item_set.name, item)
        return item

    def _price_item(self, order: Row, item: Row) -> None:
        """Check material and quantity and set the item's net value (qty x list price)."""
        item_set = self.state.sets["A_SalesOrderItem"]
        material = str(item.get("Material") or "")
        if not material:
            raise missing(item_set, "Material")
        if self.state.get("A_Product", (material,)) is None:
            raise ODataError(
                400,
                "V1/392",
                f"Material {material} is not defined for sales org.{order['SalesOrganization']}"
                f", distr.chan.{order['DistributionChannel']}, language EN",
                target="Material",
            )
        quantity = item.get("RequestedQuantity")
        if not isinstance(quantity, Decimal) or quantity <= 0:
            raise ODataError(
                400,
                "V1/263",
                f"Enter a requested quantity greater than zero for material {material}",
                target="RequestedQuantity",
            )
        item["NetAmount"] = (quantity * price_of(material)).quantize(Decimal("0.01"))

    def _reprice(self, order: Row) -> None:
        """Net value of the items not rejected, and the rejection status (A none, B some,
        C all; a wholly rejected order is completed, OverallSDProcessStatus C)."""
        items = self.state.related("A_SalesOrderItem", ("SalesOrder",), (str(order["SalesOrder"]),))
        kept = [i for i in items if not i.get("SalesDocumentRjcnReason")]
        total = sum(
            (i["NetAmount"] for i in kept if isinstance(i["NetAmount"], Decimal)), Decimal(0)
        )
        order["TotalNetAmount"] = total
        if items and not kept:
            order.update(OverallSDDocumentRejectionSts="C", OverallSDProcessStatus="C")
        else:
            order["OverallSDDocumentRejectionSts"] = "B" if len(kept) < len(items) else "A"
            if order.get("OverallSDProcessStatus") == "C" and (
                order.get("OverallOrdReltdBillgStatus") != "C"
            ):
                order["OverallSDProcessStatus"] = (
                    "B" if order.get("OverallTotalDeliveryStatus") == "C" else "A"
                )
        self._touch(self.state.sets["A_SalesOrder"], order)
        self.state.put("A_SalesOrder", order)

    def check_item_change(self, current: Row, changed: Row) -> None:
        """SD refuses to change what a delivery already took (quantity, material, plant,
        reason for rejection) once the item is delivered; texts may still change.

        Raises:
            ODataError: 400 naming the item, the order and the field (modelled text).
        """
        if current.get("DeliveryStatus") not in ("B", "C"):
            return
        for name in ("Material", "RequestedQuantity", "Plant", "SalesDocumentRjcnReason"):
            if (changed.get(name) or None) != (current.get(name) or None):
                raise ODataError(
                    400,
                    "V1/044",
                    f"Item {int(str(current['SalesOrderItem'])):06d} of sales document "
                    f"{current['SalesOrder']} has already been delivered; "
                    f"{name} can no longer be changed",
                    target=name,
                )

    def check_item_delete(self, current: Row) -> None:
        """An item with a delivery (a subsequent document) cannot be deleted.

        Raises:
            ODataError: 400 naming the item and the order (modelled text).
        """
        if current.get("DeliveryStatus") in ("B", "C"):
            raise ODataError(
                400,
                "V1/043",
                f"Item {int(str(current['SalesOrderItem'])):06d} of sales document "
                f"{current['SalesOrder']} cannot be deleted: subsequent documents exist",
            )

    def _credit_check(self, order: Row) -> None:
        """Set TotalCreditCheckStatus: A passed, B failed (UNSURE codes, reference §7)."""
        partner = str(order["SoldToParty"])
        accounts = self.state.related("A_CreditManagementAccount", ("BusinessPartner",), (partner,))
        if not accounts:
            order["TotalCreditCheckStatus"] = ""
            return
        limit = accounts[0].get("CreditLimitAmount")
        failed = isinstance(limit, Decimal) and self.exposure_of(partner) > limit
        order["TotalCreditCheckStatus"] = "B" if failed else "A"
        self.state.put("A_SalesOrder", order)
        self._refresh_exposure(partner)

    def _refresh_exposure(self, partner: str) -> None:
        for account in self.state.related(
            "A_CreditManagementAccount", ("BusinessPartner",), (partner,)
        ):
            exposure = self.exposure_of(partner)
            if account.get("CreditExposureAmount") != exposure:
                self.state.put(
                    "A_CreditManagementAccount", {**account, "CreditExposureAmount": exposure}
                )

    def exposure_of(self, partner: str) -> Decimal:
        """Open order value of a partner: orders not yet invoiced and not credit-blocked.

        (A blocked order uses no credit until it is released; UNSURE how a given release
        counts it.)
        """
        total = Decimal(0)
        for row in self.state.related("A_SalesOrder", ("SoldToParty",), (partner,)):
            if row.get("TotalCreditCheckStatus") == "B":
                continue
            if row.get("OverallOrdReltdBillgStatus") != "C" and isinstance(
                row.get("TotalNetAmount"), Decimal
            ):
                total += row["TotalNetAmount"]  # type: ignore[operator]  # checked above
        return total

    # --- the business day ----------------------------------------------------------------

    def tick(self) -> int:
        """One business day passes: delivered orders are invoiced, open ones delivered.

        Orders blocked by the credit check (``TotalCreditCheckStatus`` B) or with a
        delivery block stay as they are. Stock of delivered materials goes down.

        Returns:
            how many orders changed.
        """
        changed = 0
        invoiced: set[str] = set()
        order_set = self.state.sets["A_SalesOrder"]
        with self.state.transaction():
            for order in list(self.state.tables["A_SalesOrder"].values()):
                key = (str(order["SalesOrder"]),)
                items = self.state.related("A_SalesOrderItem", ("SalesOrder",), key)
                row = dict(order)
                if row.get("OverallTotalDeliveryStatus") == "C":
                    if row.get("OverallOrdReltdBillgStatus") == "C":
                        continue
                    if row.get("HeaderBillingBlockReason"):
                        continue
                    row.update(OverallOrdReltdBillgStatus="C", OverallSDProcessStatus="C")
                    item_status = {"SDProcessStatus": "C"}
                    invoiced.add(str(row.get("SoldToParty")))
                else:
                    if row.get("TotalCreditCheckStatus") == "B" or row.get("DeliveryBlockReason"):
                        continue
                    if row.get("OverallSDDocumentRejectionSts") == "C":
                        continue  # every item rejected: nothing to deliver
                    # rejected items are not copied into the delivery
                    items = [i for i in items if not i.get("SalesDocumentRjcnReason")]
                    row.update(OverallTotalDeliveryStatus="C", OverallSDProcessStatus="B")
                    item_status = {"SDProcessStatus": "B", "DeliveryStatus": "C"}
                    for item in items:
                        self._issue_stock(item)
                for item in items:
                    self.state.put("A_SalesOrderItem", {**item, **item_status})
                self._touch(order_set, row)
                self.state.put("A_SalesOrder", row)
                changed += 1
            for partner in sorted(invoiced):
                self._refresh_exposure(partner)
        return changed

    def _issue_stock(self, item: Row) -> None:
        material, plant = str(item.get("Material")), str(item.get("Plant") or "")
        for stock in self.state.related(
            "A_MatlStkInAcctMod", ("Material", "Plant"), (material, plant)
        ):
            if stock.get("InventoryStockType") != "01":
                continue
            quantity = stock.get("MatlWrhsStkQtyInMatlBaseUnit")
            wanted = item.get("RequestedQuantity")
            if isinstance(quantity, Decimal) and isinstance(wanted, Decimal):
                self.state.put(
                    "A_MatlStkInAcctMod",
                    {**stock, "MatlWrhsStkQtyInMatlBaseUnit": max(quantity - wanted, Decimal(0))},
                )
            return
