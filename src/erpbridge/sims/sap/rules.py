"""What SAP does when records are created, changed and deleted (the entry point of the rules).

:class:`Rules` dispatches by entity set: sales orders and items to :class:`OrderRules`
(orders.py), purchase requisitions to :class:`RequisitionRules` (requisitions.py),
material documents to :class:`GoodsMovements` (material_documents.py),
business partners here, everything else by the generic checks of
:class:`RecordRules` (records.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.material_documents import GoodsMovements
from erpbridge.sims.sap.model import EntitySetDef
from erpbridge.sims.sap.orders import OrderRules, price_of
from erpbridge.sims.sap.records import midnight, missing, nav_list, not_found
from erpbridge.sims.sap.requisitions import RequisitionRules
from erpbridge.sims.sap.state import Key, Row

__all__ = ["Rules", "price_of"]


class Rules(OrderRules, RequisitionRules):
    """Creates, updates and deletes records the way the real system does."""

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
            if entity_set.name == "A_PurchaseRequisitionHeader":
                return self.create_requisition(entity_set, values, navs)
            if entity_set.name == "A_PurchaseRequisitionItem":
                number = str(values.get("PurchaseRequisition") or "")
                header = self.state.get("A_PurchaseRequisitionHeader", (number,))
                if header is None:
                    raise not_found("A_PurchaseRequisitionHeader", number)
                return self.add_requisition_item(
                    header, payload, self.next_requisition_position(number)
                )
            if entity_set.name == "A_MaterialDocumentHeader":  # material_documents.py
                return GoodsMovements(self.state).post(entity_set, values, navs)
            if entity_set.name == "A_SalesOrderItem":
                order = self.state.get("A_SalesOrder", (str(values.get("SalesOrder") or ""),))
                if order is None:
                    raise not_found("A_SalesOrder", str(values.get("SalesOrder")))
                order = dict(order)  # stored rows change only through put() (undo log)
                item = self._add_item(order, payload, self._item_count(order))
                self._reprice(order)
                return item
            for key in entity_set.keys:
                if not values.get(key):
                    raise missing(entity_set, key)
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
            raise not_found(entity_set.name, key)
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
        for name in list(values):
            if entity_set.prop_by_name[name].updatable:
                continue
            if name in entity_set.keys and values[name] != current.get(name):
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/023",
                    f"Key property '{name}' of '{entity_set.type_name}' cannot be changed",
                    target=name,
                )
            # Gateway ignores read-only values sent back on update (clients often send the
            # whole entity); UNSURE whether every API does, see README.md.
            del values[name]
        row = dict(current)
        if replace:
            for prop in entity_set.props:
                if prop.updatable and prop.name not in values:
                    row[prop.name] = None
        row.update(values)
        with self.state.transaction():
            row = self._complete(entity_set, row)
            self._touch(entity_set, row)
            order = None
            if entity_set.name == "A_PurchaseRequisitionItem":
                self.check_requisition_item_change(current, row)
            if entity_set.name == "A_SalesOrderItem":
                self.check_item_change(current, row)
                order = self.state.get("A_SalesOrder", (str(row["SalesOrder"]),))
                if order is not None:
                    self._price_item(order, row)
            self.state.put(entity_set.name, row)
            if order is not None:
                # a copy: stored rows change only through put(), so the undo log sees them
                self._reprice(dict(order))
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
            raise not_found(entity_set.name, key)
        with self.state.transaction():
            if entity_set.name == "A_PurchaseRequisitionItem":
                self.delete_requisition_item(current)
                return
            if entity_set.name == "A_SalesOrder":
                if current.get("OverallTotalDeliveryStatus") not in ("A", "", None):
                    raise ODataError(
                        400,
                        "V1/041",
                        f"Sales document {key[0]} cannot be deleted: subsequent documents exist",
                    )
                for item in self.state.related("A_SalesOrderItem", ("SalesOrder",), key):
                    self.state.remove("A_SalesOrderItem", (key[0], str(item["SalesOrderItem"])))
            if entity_set.name == "A_SalesOrderItem":
                self.check_item_delete(current)
            self.state.remove(entity_set.name, key)
            if entity_set.name == "A_SalesOrderItem":
                order = self.state.get("A_SalesOrder", (key[0],))
                if order is not None:
                    self._reprice(dict(order))  # the order's value follows its items

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
            raise missing(entity_set, "OrganizationBPName1")
        if category == "1" and not values.get("LastName"):
            raise missing(entity_set, "LastName")
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
            CreationDate=midnight(now),
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
                    "CreationDate": midnight(now),
                    "CreatedByUser": "CC_ERPBRIDGE",
                },
            ),
        )
        addresses = nav_list(navs.get("to_BusinessPartnerAddress"), "to_BusinessPartnerAddress")
        address_set = self.state.sets["A_BusinessPartnerAddress"]
        for position, raw in enumerate(addresses, start=1):
            fields, _ = self._fields(address_set, raw, creating=True)
            fields.update(BusinessPartner=number, AddressID=str(position))
            self.state.put(address_set.name, self._complete(address_set, fields))
        return row
