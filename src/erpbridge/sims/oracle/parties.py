"""Trading community parties (``hubOrganizations``) and the Receivables account behind them.

Reference §2: ``hubOrganizations`` creates a party with its primary address, *not* a
Receivables customer account or site (those come from the SOAP ``CustomerAccountService``,
FBDI Customer Import or a person in Receivables). Orders bill a customer account, so a party
alone cannot buy. The sandbox stands in for the Receivables clerk: with ``auto_accounts``
(the sandbox default) a party created with ``PartyUsageCode`` CUSTOMER gets an active
customer account, a bill-to site use and a credit profile at once. That step is the
simulator's, not Oracle's REST behaviour; ``auto_accounts=False`` shows a real pod's gap
(orders for the new party are refused until someone creates its account).
"""

from __future__ import annotations

from erpbridge.sims.oracle.errors import OracleError
from erpbridge.sims.oracle.model import RESOURCES
from erpbridge.sims.oracle.state import VERSION_KEY, OracleState, Row

__all__ = ["NEW_CUSTOMER_CREDIT_LIMIT", "PartyRules"]

#: the credit limit the sandbox's credit manager gives a new customer (in its currency).
NEW_CUSTOMER_CREDIT_LIMIT = 100_000.0


def _full(resource: str, row: Row) -> Row:
    full: Row = {a.name: None for a in RESOURCES[resource].attrs}
    full.update(row)
    return full


class PartyRules:
    """Creates parties and, in the sandbox, their customer accounts."""

    def __init__(self, state: OracleState, *, auto_accounts: bool = True) -> None:
        self.state = state
        self.auto_accounts = auto_accounts

    def create(self, head: Row) -> str:
        """A new party from the checked attributes ``head``; returns its PartyNumber."""
        self.check(head)
        row = _full("hubOrganizations", head)
        row["PartyId"] = self.state.next_id("PartyId")
        row["PartyNumber"] = f"CDRM_{self.state.next_id('PartyNumber')}"
        row["Status"] = "A"
        now = self.state.now()
        row["CreationDate"] = now
        row["LastUpdateDate"] = now
        key = str(row["PartyNumber"])
        self.state.put("hubOrganizations", key, row)
        if self.auto_accounts and row.get("PartyUsageCode") == "CUSTOMER":
            self._open_account(row, now)
        return key

    @staticmethod
    def check(row: Row) -> None:
        """Refuse a country that is not a two-letter territory code."""
        country = str(row.get("Country") or "")
        if country and (len(country) != 2 or not country.isalpha() or not country.isupper()):
            raise OracleError(
                400,
                f"The value {country!r} of the attribute Country isn't valid "
                "(a two-letter ISO territory code such as CN or US).",
                "HZ-SIM-COUNTRY",
                "/Country",
            )

    def open_missing_accounts(self) -> int:
        """The clerk catches up: every CUSTOMER party without an account gets one."""
        opened = 0
        with self.state.transaction():
            for _, party in self.state.rows("hubOrganizations"):
                if party.get("PartyUsageCode") != "CUSTOMER":
                    continue
                accounts = self.state.lookup(
                    "receivablesCustomerAccountActivities", "PartyId", [party.get("PartyId")]
                )
                if not accounts:
                    self._open_account(party, self.state.now())
                    opened += 1
        return opened

    def changed(self, old: Row, party: Row) -> None:
        """After an update: a new name shows on the accounts; a party that became a
        CUSTOMER gets its account (sandbox stand-in, as on create)."""
        if old.get("OrganizationName") != party.get("OrganizationName"):
            self._rename(party)
        has_account = self.state.lookup(
            "receivablesCustomerAccountActivities", "PartyId", [party.get("PartyId")]
        )
        if self.auto_accounts and party.get("PartyUsageCode") == "CUSTOMER" and not has_account:
            self._open_account(party, self.state.now())

    def _rename(self, party: Row) -> None:
        name = party.get("OrganizationName")
        for resource in ("receivablesCustomerAccountActivities", "customerCreditProfiles"):
            for key, found in self.state.lookup(resource, "PartyId", [party.get("PartyId")]):
                if found.get("CustomerName") == name:
                    continue
                row = {k: v for k, v in found.items() if k != VERSION_KEY}
                row["CustomerName"] = name
                row["LastUpdateDate"] = self.state.now()
                self.state.put(resource, key, row)

    def _open_account(self, party: Row, now: str) -> None:
        """What the Receivables clerk does for a new customer (the sandbox's stand-in)."""
        account_id = self.state.next_id("CustomerAccountId")
        number = str(self.state.next_id("AccountNumber"))
        account: Row = {
            "CustomerAccountId": account_id,
            "AccountNumber": number,
            "CustomerName": party["OrganizationName"],
            "PartyId": party["PartyId"],
            "PartyNumber": party["PartyNumber"],
            "TaxpayerIdentificationNumber": party.get("TaxpayerIdentificationNumber"),
            "BillToSiteUseId": self.state.next_id("SiteUseId"),
            "AccountStatus": "A",
            "CreationDate": now,
            "LastUpdateDate": now,
        }
        self.state.put(
            "receivablesCustomerAccountActivities",
            str(account_id),
            _full("receivablesCustomerAccountActivities", account),
        )
        credit: Row = {
            "CustomerAccountId": account_id,
            "AccountNumber": number,
            "CustomerName": party["OrganizationName"],
            "PartyId": party["PartyId"],
            "PartyNumber": party["PartyNumber"],
            "CurrencyCode": "USD" if party.get("Country") not in (None, "CN") else "CNY",
            "OverallCreditLimit": NEW_CUSTOMER_CREDIT_LIMIT,
            "OrderCreditLimit": NEW_CUSTOMER_CREDIT_LIMIT / 5,
            "CreditHold": False,
            "CreditExposure": 0.0,
            "AvailableCredit": NEW_CUSTOMER_CREDIT_LIMIT,
            "CreationDate": now,
            "LastUpdateDate": now,
        }
        self.state.put(
            "customerCreditProfiles", str(account_id), _full("customerCreditProfiles", credit)
        )
