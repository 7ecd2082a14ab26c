"""What SAP does when records are created, changed, deleted, and as business days pass.

Copied behaviour (reference §4 and §7): sales-order numbers from an internal number range,
item numbers in steps of 10, net values priced from a price list, an unknown sold-to party
or material refused with SD's own messages, ``LastChangeDateTime`` bumped on every change,
a credit check against the business partner's credit account, and statuses that move as
days pass (:meth:`Rules.tick`: open orders are delivered, delivered ones invoiced).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime, time
from decimal import Decimal

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import EntitySetDef
from erpbridge.sims.sap.state import Key, Row, SapState
from erpbridge.sims.sap.wire import decode_json

__all__ = ["Rules", "price_of"]

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


def _midnight(stamp: datetime) -> datetime:
    return stamp.replace(hour=0, minute=0, second=0, microsecond=0)


class Rules:
    """Creates, updates and deletes records the way the real system does."""

    def __init__(self, state: SapState) -> None:
        self.state = state

    # --- generic ------------------------------------------------------------------

    def _fields(
        self, entity_set: EntitySetDef, payload: Mapping[str, object], *, creating: bool
    ) -> tuple[Row, dict[str, object]]:
        """Split a payload into checked property values and navigation payloads."""
        values: Row = {}
        navs: dict[str, object] = {}
        for name, raw in payload.items():
            if name == "__metadata":
                continue
            if name in entity_set.nav_by_name:
                navs[name] = raw
                continue
            prop = entity_set.prop_by_name.get(name)
            if prop is None:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/021",
                    f"Property '{name}' is invalid for entity type '{entity_set.type_name}'",
                    target=name,
                )
            # Gateway ignores values of fields the client may not set (sap:creatable="false").
            if creating and not prop.creatable:
                continue
            values[name] = decode_json(entity_set, prop, raw)
        return values, navs

    def create(self, entity_set: EntitySetDef, payload: Mapping[str, object]) -> Row:
        """Create a record (with deep-inserted children) and return it as stored.

        Raises:
            ODataError: 400/405 with SAP's message; nothing is kept then.
        """
        if not entity_set.creatable:
            raise ODataError(
                405,
                "/IWBEP/CM_MGW_RT/101",
                f"Method 'CREATE_ENTITY' not implemented for entity set '{entity_set.name}'",
            )
        values, navs = self._fields(entity_set, payload, creating=True)
        with self.state.transaction():
            if entity_set.name == "A_SalesOrder":
                return self._create_sales_order(entity_set, values, navs)
            if entity_set.name == "A_BusinessPartner":
                return self._create_business_partner(entity_set, values, navs)
            if entity_set.name == "A_SalesOrderItem":
                order = self.state.get("A_SalesOrder", (str(values.get("SalesOrder") or ""),))
                if order is None:
                    raise _not_found("A_SalesOrder", str(values.get("SalesOrder")))
                item = self._add_item(order, payload, self._item_count(order))
                self._reprice(order)
                return item
            for key in entity_set.keys:
                if not values.get(key):
                    raise _missing(entity_set, key)
            key_tuple = self.state.key_of(entity_set, values)
            if self.state.get(entity_set.name, key_tuple) is not None:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/025",
                    f"Entity '{entity_set.name}{key_tuple}' already exists",
                )
            row = self._complete(entity_set, values)
            self.state.put(entity_set.name, row)
            return row

    def update(
        self, entity_set: EntitySetDef, key: Key, payload: Mapping[str, object], *, replace: bool
    ) -> Row:
        """PATCH/MERGE (``replace=False``) or PUT (``replace=True``) one record.

        Raises:
            ODataError: 404 when missing, 400 for a refused value, 405 when not updatable.
        """
        if not entity_set.updatable:
            raise ODataError(
                405,
                "/IWBEP/CM_MGW_RT/101",
                f"Method 'UPDATE_ENTITY' not implemented for entity set '{entity_set.name}'",
            )
        current = self.state.get(entity_set.name, key)
        if current is None:
            raise _not_found(entity_set.name, key)
        values, navs = self._fields(entity_set, payload, creating=False)
        if navs:
            name = next(iter(navs))
            raise ODataError(
                400,
                "/IWBEP/CM_MGW_RT/021",
                f"Navigation property '{name}' cannot be changed by an update (deep update "
                "is not supported); change the related entities directly",
                target=name,
            )
        for name, value in values.items():
            prop = entity_set.prop_by_name[name]
            if not prop.updatable and value != current.get(name):
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/023",
                    f"Property '{name}' of '{entity_set.type_name}' cannot be changed",
                    target=name,
                )
        row = dict(current)
        if replace:
            for prop in entity_set.props:
                if prop.updatable and prop.name not in values:
                    row[prop.name] = None
        row.update(values)
        with self.state.transaction():
            row = self._complete(entity_set, row)
            self._touch(entity_set, row)
            self.state.put(entity_set.name, row)
            if entity_set.name == "A_SalesOrderItem":
                order = self.state.get("A_SalesOrder", (str(row["SalesOrder"]),))
                if order is not None:
                    self._reprice(order)
        return row

    def delete(self, entity_set: EntitySetDef, key: Key) -> None:
        """Delete one record (a sales order with its items).

        Raises:
            ODataError: 404 when missing, 405 when not deletable, 400 when SD refuses.
        """
        if not entity_set.deletable:
            raise ODataError(
                405,
                "/IWBEP/CM_MGW_RT/101",
                f"Method 'DELETE_ENTITY' not implemented for entity set '{entity_set.name}'",
            )
        current = self.state.get(entity_set.name, key)
        if current is None:
            raise _not_found(entity_set.name, key)
        with self.state.transaction():
            if entity_set.name == "A_SalesOrder":
                if current.get("OverallTotalDeliveryStatus") not in ("A", "", None):
                    raise ODataError(
                        400,
                        "V1/041",
                        f"Sales document {key[0]} cannot be deleted: subsequent documents exist",
                    )
                for item in self.state.related("A_SalesOrderItem", ("SalesOrder",), key):
                    self.state.remove("A_SalesOrderItem", (key[0], str(item["SalesOrderItem"])))
            self.state.remove(entity_set.name, key)

    def _complete(self, entity_set: EntitySetDef, row: Row) -> Row:
        """Fill every property (missing ones as null) so all records have one shape."""
        return {p.name: row.get(p.name) for p in entity_set.props}

    def _touch(self, entity_set: EntitySetDef, row: Row) -> None:
        now = self.state.clock()
        props = entity_set.prop_by_name
        if "LastChangeDateTime" in props:
            row["LastChangeDateTime"] = now
        if "LastChangeDate" in props:
            row["LastChangeDate"] = _midnight(now)
        if "LastChangeTime" in props:
            row["LastChangeTime"] = time(now.hour, now.minute, now.second)
        if "ETag" in props:
            row["ETag"] = now.strftime("%Y%m%d%H%M%S.") + f"{now.microsecond:06d}0"

    # --- business partners ----------------------------------------------------------

    def _create_business_partner(
        self, entity_set: EntitySetDef, values: Row, navs: dict[str, object]
    ) -> Row:
        category = values.get("BusinessPartnerCategory")
        if category not in ("1", "2"):
            raise ODataError(
                400,
                "R1/030",
                "Business partner category must be 1 (person) or 2 (organization)",
                target="BusinessPartnerCategory",
            )
        if category == "2" and not values.get("OrganizationBPName1"):
            raise _missing(entity_set, "OrganizationBPName1")
        if category == "1" and not values.get("LastName"):
            raise _missing(entity_set, "LastName")
        number = str(self.state.next_number("BusinessPartner", 17100001))
        now = self.state.clock()
        name = (
            str(values.get("OrganizationBPName1"))
            if category == "2"
            else f"{values.get('FirstName') or ''} {values.get('LastName')}".strip()
        )
        # Simplification (README.md): every new partner gets the customer role (FLCU01),
        # so its number is also a customer number usable as sold-to party.
        values.update(
            BusinessPartner=number,
            Customer=number,
            BusinessPartnerName=name,
            BusinessPartnerFullName=values.get("BusinessPartnerFullName") or name,
            CreationDate=_midnight(now),
            CreatedByUser="CC_ERPBRIDGE",
            BusinessPartnerIsBlocked=bool(values.get("BusinessPartnerIsBlocked")),
            IsMarkedForArchiving=bool(values.get("IsMarkedForArchiving")),
        )
        row = self._complete(entity_set, values)
        self._touch(entity_set, row)
        self.state.put("A_BusinessPartner", row)
        customer_set = self.state.sets["A_Customer"]
        self.state.put(
            "A_Customer",
            self._complete(
                customer_set,
                {
                    "Customer": number,
                    "CustomerName": name[:80],
                    "CustomerFullName": name,
                    "CustomerAccountGroup": "CUST",
                    "PostingIsBlocked": False,
                    "DeletionIndicator": False,
                    "CreationDate": _midnight(now),
                    "CreatedByUser": "CC_ERPBRIDGE",
                },
            ),
        )
        addresses = _nav_list(navs.get("to_BusinessPartnerAddress"), "to_BusinessPartnerAddress")
        address_set = self.state.sets["A_BusinessPartnerAddress"]
        for position, raw in enumerate(addresses, start=1):
            fields, _ = self._fields(address_set, raw, creating=True)
            fields.update(BusinessPartner=number, AddressID=str(position))
            self.state.put(address_set.name, self._complete(address_set, fields))
        return row

    # --- sales orders -----------------------------------------------------------------

    def _create_sales_order(
        self, entity_set: EntitySetDef, values: Row, navs: dict[str, object]
    ) -> Row:
        for name in _ORDER_REQUIRED:
            if not values.get(name):
                raise _missing(entity_set, name)
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
        items = _nav_list(navs.get("to_Item"), "to_Item")
        number = str(self.state.next_number("SalesOrder", 1000000))
        now = self.state.clock()
        values.update(
            SalesOrder=number,
            SalesOrderDate=values.get("SalesOrderDate") or _midnight(now),
            TransactionCurrency=values.get("TransactionCurrency") or "CNY",
            CreationDate=_midnight(now),
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
            raise _missing(item_set, "Material")
        product = self.state.get("A_Product", (material,))
        if product is None:
            raise ODataError(
                400,
                "V1/392",
                f"Material {material} is not defined for sales org.{order['SalesOrganization']}"
                f", distr.chan.{order['DistributionChannel']}, language EN",
                target="Material",
            )
        quantity = fields.get("RequestedQuantity")
        if not isinstance(quantity, Decimal) or quantity <= 0:
            raise ODataError(
                400,
                "V1/263",
                f"Enter a requested quantity greater than zero for material {material}",
                target="RequestedQuantity",
            )
        fields.update(
            SalesOrder=order["SalesOrder"],
            SalesOrderItem=str((position + 1) * 10),
            SalesOrderItemCategory=fields.get("SalesOrderItemCategory") or "TAN",
            RequestedQuantityUnit=fields.get("RequestedQuantityUnit") or product["BaseUnit"],
            NetAmount=(quantity * price_of(material)).quantize(Decimal("0.01")),
            TransactionCurrency=order["TransactionCurrency"],
            MaterialGroup=product.get("ProductGroup"),
            Plant=fields.get("Plant") or "1710",
            PurchaseOrderByCustomer=order.get("PurchaseOrderByCustomer"),
            SDProcessStatus="A",
            DeliveryStatus="A",
        )
        item = self._complete(item_set, fields)
        self.state.put(item_set.name, item)
        return item

    def _reprice(self, order: Row) -> None:
        items = self.state.related("A_SalesOrderItem", ("SalesOrder",), (str(order["SalesOrder"]),))
        total = sum(
            (i["NetAmount"] for i in items if isinstance(i["NetAmount"], Decimal)), Decimal(0)
        )
        order["TotalNetAmount"] = total
        self._touch(self.state.sets["A_SalesOrder"], order)
        self.state.put("A_SalesOrder", order)

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


def _nav_list(raw: object, name: str) -> list[Mapping[str, object]]:
    """A deep-insert payload: a bare list (pyodata) or ``{"results": [...]}`` (SAP UI5)."""
    if raw is None:
        return []
    if isinstance(raw, Mapping) and "results" in raw:
        raw = raw["results"]
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        raise ODataError(
            400,
            "/IWBEP/CM_MGW_RT/021",
            f"Navigation property '{name}' must hold a list of entities for a deep insert",
            target=name,
        )
    return raw


def _missing(entity_set: EntitySetDef, name: str) -> ODataError:
    return ODataError(
        400,
        "/IWBEP/CM_MGW_RT/024",
        f"Property '{name}' of '{entity_set.type_name}' is required but was not given",
        target=name,
    )


def _not_found(set_name: str, key: object) -> ODataError:
    return ODataError(
        404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{set_name}' {key}"
    )
