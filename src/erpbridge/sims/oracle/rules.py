"""Writes and their business rules: validation, numbering, defaults, statuses, credit exposure.

What Order Hub, Product Hub and Self Service Procurement do on a write, as far as a client
can see it (reference §2.1-§2.3, §5, §6):

- every attribute is checked against the resource: unknown -> 400, read-only -> 400, wrong
  JSON type -> 400, a required one missing on create -> 400, each naming the JSON path;
- orders: the alternate key (SourceTransactionSystem, SourceTransactionId) is unique (a
  duplicate create is 409; with ``Upsert-Mode: true`` it updates instead); the buying party
  and bill-to account must exist; each line's ProductNumber must be an item; HeaderId,
  OrderNumber, LineId are assigned; StatusCode is DOO_DRAFT until SubmittedFlag is true,
  then OPEN; LastUpdateDate moves on every change;
- the credit profile of each bill-to account carries the exposure of its OPEN orders
  (quantity x selling price), updated with the order, so a credit read sees it at once.
"""

from __future__ import annotations

from typing import cast

from erpbridge.sims.oracle.errors import OracleError
from erpbridge.sims.oracle.model import RESOURCES, Attr, ChildDef, ResourceDef
from erpbridge.sims.oracle.orders import OrderRules, money
from erpbridge.sims.oracle.parties import PartyRules
from erpbridge.sims.oracle.query import format_stamp, parse_stamp
from erpbridge.sims.oracle.state import VERSION_KEY, OracleState, Row

__all__ = ["BUSINESS_UNITS", "ORGANIZATIONS", "UNITS_OF_MEASURE", "Rules"]

#: inventory organizations: code -> id.
ORGANIZATIONS = {"M1": 207, "SH1": 1001, "BJ1": 1002}
#: the pod's units of measure (codes): an item's primary unit must be one of them.
UNITS_OF_MEASURE = ("Ea", "Box", "Hr", "M", "Kg", "L", "Set", "Pr", "Dz")
#: requisitioning business units: id -> name.
BUSINESS_UNITS = {204: "Vision Operations", 1011: "China Operations 中国业务部"}
_MAX_TEXT = 2000


def _check_value(attr: Attr, value: object, path: str) -> object:
    """``value`` for ``attr`` in stored form (datetimes normalised), or a 400."""
    if value is None:
        return None
    kind = attr.type
    ok = {
        "string": isinstance(value, str) and len(value) <= _MAX_TEXT,
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "datetime": isinstance(value, str),
        "array": isinstance(value, list),
    }.get(kind, False)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if not ok:
        shown = str(value)[:60]
        raise OracleError(
            400, f"The value {shown!r} of the attribute {attr.name} isn't a valid {kind}.", "", path
        )
    if kind == "datetime":
        try:
            return format_stamp(parse_stamp(cast(str, value)))
        except ValueError as exc:
            raise OracleError(400, f"The attribute {attr.name}: {exc}.", "", path) from None
    return value


def _fields(
    attrs: tuple[Attr, ...], payload: object, path: str, children: tuple[ChildDef, ...] = ()
) -> Row:
    """The checked attribute values of ``payload`` (children left out)."""
    if not isinstance(payload, dict):
        raise OracleError(400, "The request payload isn't a JSON object.", "", path or "/")
    known = {a.name: a for a in attrs}
    child_names = {c.name for c in children}
    out: Row = {}
    for name, value in payload.items():
        if name in child_names or name == "links":
            continue
        attr = known.get(name)
        where = f"{path}/{name}"
        if attr is None:
            raise OracleError(
                400, f"The attribute {name} isn't valid for this resource.", "", where
            )
        if attr.read_only:
            raise OracleError(400, f"The attribute {name} is read-only.", "", where)
        out[name] = _check_value(attr, value, where)
    return out


def _required(attrs: tuple[Attr, ...], row: Row, path: str) -> None:
    for attr in attrs:
        if attr.required and row.get(attr.name) in (None, ""):
            raise OracleError(
                400, f"The attribute {attr.name} is required.", "", f"{path}/{attr.name}"
            )


class Rules:
    """Creates, updates and deletes records with the rules above."""

    def __init__(self, state: OracleState, *, auto_accounts: bool = True) -> None:
        self.state = state
        self.orders = OrderRules(state)
        self.parties = PartyRules(state, auto_accounts=auto_accounts)

    # --- generic ------------------------------------------------------------------------

    def create(self, resource: ResourceDef, payload: object, *, upsert: bool) -> tuple[str, bool]:
        """Create (or, with ``upsert`` and an alternate-key match, update) one record.

        Returns:
            (key, created).
        """
        if not resource.writable:
            raise OracleError(405, f"POST action not supported on {resource.name}.")
        head = _fields(resource.attrs, payload, "", resource.children)
        if resource.alt_key:
            alt = tuple(str(head.get(a) or "") for a in resource.alt_key)
            existing = self.state.by_alt_key(resource.name, alt)
            if existing is not None:
                if upsert:
                    self.update(resource, existing, payload)
                    return existing, False
                shown = ", ".join(f"{a}={v}" for a, v in zip(resource.alt_key, alt, strict=True))
                raise OracleError(
                    409, f"A record with {shown} already exists.", "DOO-SIM-DUPLICATE"
                )
        _required(resource.attrs, head, "")
        payload = cast(dict[str, object], payload)  # a dict: checked by _fields
        with self.state.transaction():
            return getattr(self, f"_create_{resource.name}")(head, payload), True

    def update(
        self, resource: ResourceDef, key: str, payload: object, *, replace: bool = False
    ) -> None:
        """Change one record (PATCH merges; ``replace`` clears what the payload leaves out)."""
        if not resource.writable:
            raise OracleError(405, f"PATCH action not supported on {resource.name}.")
        old = self.state.get(resource.name, key)
        if old is None:
            raise OracleError(404, f"The resource {resource.name}/{key} doesn't exist.")
        head = _fields(resource.attrs, payload, "", resource.children)
        row = {k: v for k, v in old.items() if k != VERSION_KEY}
        if replace:
            for attr in resource.attrs:
                if not attr.read_only and attr.name not in head:
                    row[attr.name] = None
            _required(resource.attrs, {**row, **head}, "")
        row.update(head)
        payload = cast(dict[str, object], payload)  # a dict: checked by _fields
        with self.state.transaction():
            for child in resource.children:
                if child.name in payload:
                    row[child.name] = self._merge_children(
                        resource,
                        child,
                        cast(list[Row], row.get(child.name) or []),
                        payload[child.name],
                        replace=replace,
                    )
            if resource.name == "salesOrdersForOrderHub":
                self.orders.revise(old, row, head)
            self._finish(resource, key, old, row)

    def delete(self, resource: ResourceDef, key: str) -> None:
        """Delete one record."""
        if not resource.deletable:
            raise OracleError(405, f"DELETE action not supported on {resource.name}.")
        old = self.state.get(resource.name, key)
        if old is None:
            raise OracleError(404, f"The resource {resource.name}/{key} doesn't exist.")
        with self.state.transaction():
            self.state.remove(resource.name, key)
            if resource.name == "salesOrdersForOrderHub":
                self.orders.move_exposure(old, None)

    def create_child(
        self, resource: ResourceDef, key: str, child: ChildDef, payload: object
    ) -> str:
        """Add one child record (POST on ``/child/<name>``); returns its key."""
        before = self.state.get(resource.name, key)
        if before is None:
            raise OracleError(404, f"The resource {resource.name}/{key} doesn't exist.")
        count = len(cast(list[Row], before.get(child.name) or []))
        self.update(resource, key, {child.name: [payload]})
        after = cast(list[Row], (self.state.get(resource.name, key) or {}).get(child.name) or [])
        return str(after[count].get(child.key)) if len(after) > count else ""

    # --- children -----------------------------------------------------------------------

    def _merge_children(
        self,
        resource: ResourceDef,
        child: ChildDef,
        current: list[Row],
        given: object,
        *,
        replace: bool,
    ) -> list[Row]:
        if not isinstance(given, list):
            raise OracleError(400, f"The child {child.name} must be a list.", "", f"/{child.name}")
        rows = [] if replace else [dict(r) for r in current]
        for index, item in enumerate(given):
            path = f"/{child.name}/{index}"
            if isinstance(item, dict) and item.get(child.key) is not None:
                wanted = str(item[child.key])
                match = next((r for r in rows if str(r.get(child.key)) == wanted), None)
                if match is None:
                    raise OracleError(
                        404, f"The {child.name} record {wanted} doesn't exist.", "", path
                    )
                rest = {k: v for k, v in item.items() if k != child.key}
                match.update(_fields(child.attrs, rest, path))
                continue
            match = self._child_by_alt_key(child, rows, item)
            if match is not None:
                match.update(_fields(child.attrs, item, path))
                continue
            new = _fields(child.attrs, item, path)
            counter = child.key if child.key in ("LineId", "RequisitionLineId") else "ChildId"
            new[child.key] = self.state.next_id(counter)
            rows.append(new)
        return [
            self._check_child(resource, child, r, f"/{child.name}/{i}") for i, r in enumerate(rows)
        ]

    @staticmethod
    def _child_by_alt_key(child: ChildDef, rows: list[Row], item: object) -> Row | None:
        if not child.alt_key or not isinstance(item, dict):
            return None
        wanted = tuple(item.get(a) for a in child.alt_key)
        if all(v is None for v in wanted):
            return None
        return next((r for r in rows if tuple(r.get(a) for a in child.alt_key) == wanted), None)

    def _check_child(self, resource: ResourceDef, child: ChildDef, row: Row, path: str) -> Row:
        if resource.name == "salesOrdersForOrderHub" and child.name == "lines":
            return self.orders.line(row, path)
        if resource.name == "salesOrdersForOrderHub" and child.name == "billToCustomer":
            account = str(row.get("CustomerAccountId") or "")
            if self.state.get("receivablesCustomerAccountActivities", account) is None:
                raise OracleError(
                    400,
                    f"The customer account {account or '(none)'} isn't valid.",
                    "DOO-SIM-BILLTO",
                    f"{path}/CustomerAccountId",
                )
        if resource.name == "purchaseRequisitions":
            row.setdefault("LineNumber", int(path.rsplit("/", 1)[1]) + 1)
            self._requisition_item(row, path)
            if money(row.get("Quantity")) <= 0:
                raise OracleError(
                    400, "The quantity must be greater than zero.", "", f"{path}/Quantity"
                )
        return row

    def _requisition_item(self, row: Row, path: str) -> None:
        """A line naming ``ItemId`` gets the item's number, description, unit and price."""
        if row.get("ItemId") is None:
            return
        item = self.state.get("itemsV2", str(row["ItemId"]))
        if item is None:
            raise OracleError(
                400,
                f"The value {row['ItemId']} of the attribute ItemId isn't valid.",
                "POR-SIM-ITEM",
                f"{path}/ItemId",
            )
        row["ItemNumber"] = item["ItemNumber"]
        row.setdefault("ItemDescription", item.get("ItemDescription"))
        if row.get("UnitOfMeasure") is None:
            row["UnitOfMeasure"] = item.get("PrimaryUOMCode")
        if row.get("Price") is None:
            row["Price"] = item.get("ListPrice")

    # --- per resource -------------------------------------------------------------------

    def _stamp_new(self, row: Row) -> None:
        now = self.state.now()
        row["CreationDate"] = now
        row["LastUpdateDate"] = now

    def _create_salesOrdersForOrderHub(self, head: Row, payload: dict[str, object]) -> str:  # noqa: N802
        resource = RESOURCES["salesOrdersForOrderHub"]
        row: Row = {a.name: None for a in resource.attrs}
        row.update(head)
        row["HeaderId"] = self.state.next_id("HeaderId")
        row["OrderNumber"] = str(self.state.next_id("OrderNumber"))
        self._stamp_new(row)
        for child in resource.children:
            row[child.name] = self._merge_children(
                resource, child, [], payload.get(child.name) or [], replace=True
            )
        key = str(row["HeaderId"])
        self._finish(resource, key, None, row)
        return key

    def _finish(self, resource: ResourceDef, key: str, old: Row | None, row: Row) -> None:
        """Derive, stamp and store ``row``; for orders, move the credit exposure."""
        if resource.name == "salesOrdersForOrderHub":
            self.orders.finish(row)
        elif resource.name == "itemsV2":
            self._finish_item(row)
        elif resource.name == "hubOrganizations":
            self.parties.check(row)
        row["LastUpdateDate"] = self.state.now()
        self.state.put(resource.name, key, row)
        if resource.name == "salesOrdersForOrderHub":
            self.orders.move_exposure(old, row)
        elif resource.name == "hubOrganizations" and old is not None:
            self.parties.changed(old, row)

    def _finish_item(self, row: Row) -> None:
        code = str(row.get("OrganizationCode") or "")
        if code not in ORGANIZATIONS:
            known = ", ".join(ORGANIZATIONS)
            raise OracleError(
                400,
                f"The organization {code or '(none)'} isn't valid (known: {known}).",
                "EGP-SIM-ORG",
                "/OrganizationCode",
            )
        row["OrganizationId"] = ORGANIZATIONS[code]
        uom = row.get("PrimaryUOMCode")
        if uom is not None and uom not in UNITS_OF_MEASURE:
            raise OracleError(
                400,
                f"The value {str(uom)[:30]!r} of the attribute PrimaryUOMCode isn't valid "
                f"(units of measure: {', '.join(UNITS_OF_MEASURE)}).",
                "EGP-SIM-UOM",
                "/PrimaryUOMCode",
            )
        if row.get("ItemStatusCode") is None:
            row["ItemStatusCode"] = "Active"

    def _create_itemsV2(self, head: Row, payload: dict[str, object]) -> str:  # noqa: N802
        row: Row = {a.name: None for a in RESOURCES["itemsV2"].attrs}
        row.update(head)
        row["ItemId"] = self.state.next_id("ItemId")
        self._stamp_new(row)
        key = str(row["ItemId"])
        self._finish(RESOURCES["itemsV2"], key, None, row)
        return key

    def _create_hubOrganizations(self, head: Row, payload: dict[str, object]) -> str:  # noqa: N802
        return self.parties.create(head)

    def _create_purchaseRequisitions(self, head: Row, payload: dict[str, object]) -> str:  # noqa: N802
        resource = RESOURCES["purchaseRequisitions"]
        bu = head.get("RequisitioningBUId")
        if bu not in BUSINESS_UNITS:
            raise OracleError(
                400,
                f"The requisitioning business unit {bu} isn't valid.",
                "POR-SIM-BU",
                "/RequisitioningBUId",
            )
        row: Row = {a.name: None for a in resource.attrs}
        row.update(head)
        row["RequisitioningBU"] = BUSINESS_UNITS[bu]
        row["RequisitionHeaderId"] = self.state.next_id("RequisitionHeaderId")
        row["Requisition"] = str(self.state.next_id("Requisition"))
        row["DocumentStatus"] = "Incomplete"
        self._stamp_new(row)
        child = resource.children[0]
        row["lines"] = self._merge_children(
            resource, child, [], payload.get("lines") or [], replace=True
        )
        key = str(row["RequisitionHeaderId"])
        self._finish(resource, key, None, row)
        return key
