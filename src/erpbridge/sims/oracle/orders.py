"""Order Hub rules: lines against items, the buying party, statuses, revisions, credit exposure.

Reference §2.1/§2.3: a line's ProductNumber must be an item (ProductId and description are
filled from it, prices default from its list price); the buying party (id, number or name)
must be a customer account, whose bill-to becomes the order's when none is given; the order
is DOO_DRAFT until ``SubmittedFlag`` is true, then OPEN. The credit profile of the bill-to
account carries the value of its OPEN orders (cancelled lines left out), moved with every
order change.

Revisions (reference §6: "resend with higher SourceTransactionRevisionNumber to change an
order" [U semantics]; Oracle's order pages: the ``System:Id`` order key "always returns the
latest version", a revision can be made "only if it's in Processing status or Closed status"
and only the current version can be revised [C]). What the simulator does with a change of
an order it already has:

- a given ``SourceTransactionRevisionNumber`` must be higher than the order's (400 if not);
  a PATCH without one changes the order in place, as before;
- a closed or cancelled order can't be revised at all (400);
- a line that fulfilment has moved past ``AWAIT_SHIP`` (shipped, billed, closed) can't be
  changed or cancelled (400 naming the line); lines still awaiting shipment can, and new
  lines can be added;
- ``CanceledFlag: true`` on the header cancels the order (every line ``CANCELED``, header
  ``CANCELED``, its exposure released); on a line it cancels that line.

The message texts and codes (``DOO-SIM-…``) are the simulator's own [U]. Fusion keeps each
revision as a record of its own (older ones read-only, by HeaderId); the simulator keeps one
record per order that carries the latest revision [simplification].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from erpbridge.sims.oracle.errors import OracleError
from erpbridge.sims.oracle.state import VERSION_KEY, OracleState, Row

__all__ = ["FULFILLED", "OrderRules", "money", "order_exposure"]

#: line statuses past which a line can't be changed or cancelled, with what to call them.
FULFILLED = {"AWAIT_BILLING": "shipped", "BILLED": "billed", "CLOSED": "closed"}
#: line attributes a revision may not change once the line is fulfilled.
_LOCKED = ("ProductId", "OrderedQuantity", "UnitSellingPrice", "CanceledFlag")


def money(value: object) -> float:
    """A JSON number as float; anything else counts as 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def order_exposure(order: Mapping[str, object] | None) -> tuple[str, float]:
    """(bill-to account id, value of the order's lines) when OPEN, else ("", 0)."""
    if order is None or order.get("StatusCode") != "OPEN":
        return "", 0.0
    bill_to = cast(list[Row], order.get("billToCustomer") or [])
    account = str(bill_to[0].get("CustomerAccountId")) if bill_to else ""
    total = 0.0
    for line in cast(list[Row], order.get("lines") or []):
        if line.get("StatusCode") == "CANCELED":
            continue
        total += money(line.get("OrderedQuantity")) * money(line.get("UnitSellingPrice"))
    return account, round(total, 2)


def _plain(value: object) -> object:
    """Compare values as Order Hub does: a missing flag is false, 3 equals 3.0."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


class OrderRules:
    """The order-specific steps :class:`~erpbridge.sims.oracle.rules.Rules` runs."""

    def __init__(self, state: OracleState) -> None:
        self.state = state

    def line(self, row: Row, path: str) -> Row:
        """Check one order line against the items and fill what Order Hub derives.

        The item is named by ``ProductId`` (the inventory item id) or ``ProductNumber``
        (reference §2.1 lists both); it must be an item of the master organization M1
        whose status lets it be ordered (Active).
        """
        if row.get("CanceledFlag") is True:
            row["StatusCode"] = "CANCELED"
            return row
        item: Row | None
        if row.get("ProductId") is not None:
            item = self.state.get("itemsV2", str(row["ProductId"]))
            shown, attr = str(row["ProductId"]), "ProductId"
        else:
            number = str(row.get("ProductNumber") or "")
            key = self.state.by_alt_key("itemsV2", (number, "M1"))
            item = self.state.get("itemsV2", key) if key else None
            shown, attr = number or "(none)", "ProductNumber"
        if item is None or item.get("OrganizationCode") != "M1":
            raise OracleError(
                400, f"The item {shown} isn't valid.", "DOO-SIM-ITEM", f"{path}/{attr}"
            )
        if item.get("ItemStatusCode") != "Active":
            raise OracleError(
                400,
                f"The item {item['ItemNumber']} can't be ordered: its item status is "
                f"{item.get('ItemStatusCode')}, which doesn't allow customer orders.",
                "DOO-SIM-ITEM-STATUS",
                f"{path}/{attr}",
            )
        row["ProductNumber"] = item["ItemNumber"]
        if money(row.get("OrderedQuantity")) <= 0:
            raise OracleError(
                400,
                "The ordered quantity must be greater than zero.",
                "DOO-SIM-QTY",
                f"{path}/OrderedQuantity",
            )
        row["ProductId"] = item["ItemId"]
        row["ProductDescription"] = item.get("ItemDescription")
        row.setdefault("OrderedUOMCode", item.get("PrimaryUOMCode"))
        if row.get("UnitListPrice") is None:
            row["UnitListPrice"] = item.get("ListPrice")
        if row.get("UnitSellingPrice") is None:
            row["UnitSellingPrice"] = row.get("UnitListPrice")
        row.setdefault("TransactionCategoryCode", "ORDER")
        if row.get("StatusCode") in (None, "CANCELED"):
            row["StatusCode"] = "AWAIT_SHIP"  # fulfilment moves it on (days.py)
        return row

    def _buying_party(self, row: Row) -> Row:
        accounts = self.state.tables["receivablesCustomerAccountActivities"].values()
        for account in accounts:
            if row.get("BuyingPartyId") is not None and account["PartyId"] == row["BuyingPartyId"]:
                return account
            if row.get("BuyingPartyNumber") and account["PartyNumber"] == row["BuyingPartyNumber"]:
                return account
            if (
                row.get("BuyingPartyId") is None
                and not row.get("BuyingPartyNumber")
                and row.get("BuyingPartyName")
                and account["CustomerName"] == row["BuyingPartyName"]
            ):
                return account
        shown = (
            row.get("BuyingPartyNumber") or row.get("BuyingPartyId") or row.get("BuyingPartyName")
        )
        attr = "BuyingPartyNumber" if row.get("BuyingPartyNumber") else "BuyingPartyName"
        if self._is_party(row):
            raise OracleError(
                400,
                f"The buying party {shown} has no active customer account, so the order "
                "can't be billed. Create the party's customer account in Receivables first.",
                "DOO-SIM-NO-ACCOUNT",
                f"/{attr}",
            )
        raise OracleError(
            400,
            f"The value of the attribute BuyingParty ({shown or 'none'}) isn't valid.",
            "DOO-SIM-PARTY",
            f"/{attr}",
        )

    def _is_party(self, row: Row) -> bool:
        """A trading community party (hubOrganizations) matches the order's buying party."""
        if row.get("BuyingPartyNumber"):
            return self.state.get("hubOrganizations", str(row["BuyingPartyNumber"])) is not None
        if row.get("BuyingPartyId") is not None:
            return bool(self.state.lookup("hubOrganizations", "PartyId", [row["BuyingPartyId"]]))
        return False

    def finish(self, row: Row) -> None:
        """Resolve the buying party, default the bill-to, check lines, set the status."""
        account = self._buying_party(row)
        row["BuyingPartyId"] = account["PartyId"]
        row["BuyingPartyNumber"] = account["PartyNumber"]
        row["BuyingPartyName"] = account["CustomerName"]
        if not row.get("billToCustomer"):
            row["billToCustomer"] = [
                {
                    "BillToCustomerId": self.state.next_id("ChildId"),
                    "CustomerAccountId": account["CustomerAccountId"],
                    "SiteUseId": account.get("BillToSiteUseId"),
                }
            ]
        submitted = row.get("SubmittedFlag") is True
        if submitted and not row.get("lines"):
            raise OracleError(
                400, "A submitted order needs at least one line.", "DOO-SIM-LINES", "/lines"
            )
        if row.get("StatusCode") in (None, "DOO_DRAFT"):
            row["StatusCode"] = "OPEN" if submitted else "DOO_DRAFT"

    def move_exposure(self, old: Row | None, new: Row | None) -> None:
        """Move the credit exposure from the order as it was to the order as it is."""
        before = order_exposure(old)
        after = order_exposure(new)
        if before == after:
            return
        for account, delta in ((before[0], -before[1]), (after[0], after[1])):
            profile = self.state.get("customerCreditProfiles", account) if account else None
            if profile is None or delta == 0:
                continue
            row = {k: v for k, v in profile.items() if k != VERSION_KEY}
            exposure = round(money(row.get("CreditExposure")) + delta, 2)
            row["CreditExposure"] = exposure
            row["AvailableCredit"] = round(money(row.get("OverallCreditLimit")) - exposure, 2)
            row["LastUpdateDate"] = self.state.now()
            self.state.put("customerCreditProfiles", account, row)

    def revise(self, old: Row, row: Row, given: Mapping[str, object]) -> None:
        """Check a change of an existing order (``row``, merged) against ``old``; cancel.

        Args:
            old: the order as stored.
            row: the order with the change merged in (lines already checked).
            given: the header attributes the request carried.

        Raises:
            OracleError: 400 when Order Management does not allow the change (module doc).
        """
        number = old.get("OrderNumber")
        status = old.get("StatusCode")
        if status in ("CLOSED", "CANCELED"):
            word = "closed" if status == "CLOSED" else "canceled"
            raise OracleError(
                400,
                f"You can't revise sales order {number} because it's {word}.",
                "DOO-SIM-REVISE-CLOSED",
                "/",
            )
        revision = given.get("SourceTransactionRevisionNumber")
        current = old.get("SourceTransactionRevisionNumber")
        if isinstance(revision, int) and isinstance(current, int) and revision <= current:
            raise OracleError(
                400,
                f"The revision {revision} of sales order {number} isn't later than its "
                f"current revision {current}.",
                "DOO-SIM-REVISION",
                "/SourceTransactionRevisionNumber",
            )
        self._check_fulfilled_lines(old, row)
        if row.get("CanceledFlag") is True:
            row["StatusCode"] = "CANCELED"
            reason = row.get("CancelReasonCode")
            row["lines"] = [  # copies: the stored order's lines must stay as they were
                {
                    **line,
                    "CanceledFlag": True,
                    "StatusCode": "CANCELED",
                    "CancelReasonCode": line.get("CancelReasonCode") or reason,
                }
                for line in cast(list[Row], row.get("lines") or [])
            ]

    @staticmethod
    def _check_fulfilled_lines(old: Row, row: Row) -> None:
        number = old.get("OrderNumber")
        cancelling = row.get("CanceledFlag") is True and old.get("CanceledFlag") is not True
        new_lines = {
            str(line.get("LineId")): (index, line)
            for index, line in enumerate(cast(list[Row], row.get("lines") or []))
        }
        for line in cast(list[Row], old.get("lines") or []):
            word = FULFILLED.get(str(line.get("StatusCode")))
            if word is None:
                continue
            shown = line.get("SourceTransactionLineNumber") or line.get("LineId")
            if cancelling:
                raise OracleError(
                    400,
                    f"You can't cancel sales order {number} because its line {shown} is "
                    f"already {word}.",
                    "DOO-SIM-CANCEL-FULFILLED",
                    "/CanceledFlag",
                )
            index, new = new_lines.get(str(line.get("LineId")), (-1, {}))
            changed = [a for a in _LOCKED if _plain(new.get(a)) != _plain(line.get(a))]
            if changed:
                raise OracleError(
                    400,
                    f"You can't change line {shown} of sales order {number} because it's "
                    f"already {word}.",
                    "DOO-SIM-LINE-FULFILLED",
                    f"/lines/{index}/{changed[0]}" if index >= 0 else "/lines",
                )

    def set_credit_limit(self, account: str, limit: float) -> Row:
        """Change the overall credit limit of an account's profile (a Receivables clerk).

        Raises:
            OracleError: 404 when the account has no credit profile.
        """
        profile = self.state.get("customerCreditProfiles", account)
        if profile is None:
            raise OracleError(404, f"The customer account {account} has no credit profile.")
        row = {k: v for k, v in profile.items() if k != VERSION_KEY}
        row["OverallCreditLimit"] = round(limit, 2)
        row["AvailableCredit"] = round(limit - money(row.get("CreditExposure")), 2)
        row["LastUpdateDate"] = self.state.now()
        with self.state.transaction():
            self.state.put("customerCreditProfiles", account, row)
        return row
