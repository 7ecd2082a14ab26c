"""Contract tests: the real simple-salesforce library, unchanged, against the simulator.

The library always builds https:// URLs on a fixed login host, so the simulator serves
HTTPS with its own CA and the library's login host is routed to it through the requests
session the library accepts (``session=``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from erpbridge.sims._common.server import RunningSimulator
from erpbridge.sims.salesforce.app import SalesforceSim
from erpbridge.sims.salesforce.auth import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
)


@pytest.fixture
def sf(sf_session: requests.Session) -> Salesforce:
    return Salesforce(
        username=USERNAME,
        password=PASSWORD,
        security_token=SECURITY_TOKEN,
        session=sf_session,
        version="59.0",
    )


def _key() -> str:
    return uuid.uuid4().hex[:12].upper()


def test_soap_login_gives_a_session_on_the_simulator_instance(sf: Salesforce) -> None:
    assert sf.sf_instance.startswith("127.0.0.1:")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] >= 300


def test_oauth_password_flow_gives_a_working_session(sf_session: requests.Session) -> None:
    sf = Salesforce(
        username=USERNAME,
        password=PASSWORD,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        session=sf_session,
    )
    assert sf.Account.describe()["name"] == "Account"


def test_wrong_password_raises_the_librarys_authentication_failed_on_soap(
    sf_session: requests.Session,
) -> None:
    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        Salesforce(
            username=USERNAME, password="wrong", security_token=SECURITY_TOKEN, session=sf_session
        )


def test_wrong_password_raises_the_librarys_authentication_failed_on_oauth(
    sf_session: requests.Session,
) -> None:
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid_grant"):
        Salesforce(
            username=USERNAME,
            password="wrong",
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
            session=sf_session,
        )


def test_account_create_get_update_delete_round_trip(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "杭州测试有限公司", "BillingCity": "杭州"})
    record_id = created["id"]
    sf.Account.update(record_id, {"Phone": "+86 571 1234"})
    fetched = sf.Account.get(record_id)
    status = sf.Account.delete(record_id)
    assert created["success"] is True
    assert (fetched["Name"], fetched["Phone"]) == ("杭州测试有限公司", "+86 571 1234")
    assert status == 204
    with pytest.raises(SalesforceResourceNotFound, match="ENTITY_IS_DELETED"):
        sf.Account.get(record_id)


def test_upsert_by_external_id_creates_then_updates(sf: Salesforce) -> None:
    key = _key()
    first = sf.Account.upsert(f"ERP_Customer_Id__c/{key}", {"Name": "Upsert GmbH"})
    second = sf.Account.upsert(f"ERP_Customer_Id__c/{key}", {"Name": "Upsert AG"})
    record = sf.Account.get_by_custom_id("ERP_Customer_Id__c", key)
    assert (first, second) == (201, 200)
    assert record["Name"] == "Upsert AG"


def test_describe_names_external_id_fields(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["ERP_Customer_Id__c"]["externalId"] is True
    assert fields["Name"]["nillable"] is False
    assert "Order" in {o["name"] for o in sf.describe()["sobjects"]}


def test_query_all_follows_next_records_url_over_several_pages(sf: Salesforce) -> None:
    result = sf.query_all(
        "SELECT Id, OrderNumber, Account.Name FROM Order ORDER BY OrderNumber LIMIT 900",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    numbers = [r["OrderNumber"] for r in result["records"]]
    assert len(numbers) == 900
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 900
    assert all(r["Account"]["Name"] for r in result["records"])


def test_query_all_include_deleted_sees_the_recycle_bin(sf: Salesforce) -> None:
    name = f"Deleted {_key()}"
    record_id = sf.Contact.create({"LastName": name})["id"]
    sf.Contact.delete(record_id)
    soql = f"SELECT Id, IsDeleted FROM Contact WHERE LastName = '{name}'"
    live = sf.query_all(soql)
    everything = sf.query_all(soql, include_deleted=True)
    assert live["totalSize"] == 0
    assert [(r["Id"], r["IsDeleted"]) for r in everything["records"]] == [(record_id, True)]


def test_malformed_query_raises_malformed_request_with_the_error_code(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest, match="MALFORMED_QUERY"):
        sf.query("SELECT Id FROM Account WHERE")


def test_invalid_field_in_create_raises_malformed_request(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        sf.Account.create({"Name": "x", "NoSuchField__c": 1})


def test_unknown_external_id_raises_resource_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get_by_custom_id("ERP_Customer_Id__c", "NOPE-" + _key())


def test_library_logs_in_again_after_the_session_expires(
    sf: Salesforce, sf_sim: SalesforceSim
) -> None:
    old_session = sf.session_id
    sf_sim.sessions.revoke_all()
    result = sf.query("SELECT COUNT() FROM Product2")
    assert result["totalSize"] >= 250
    assert sf.session_id != old_session


def test_collections_create_through_restful(sf: Salesforce) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "Collection A"},
            {"attributes": {"type": "Account"}},
        ],
    }
    results = sf.restful("composite/sobjects", method="POST", json=body)
    assert results[0]["success"] is True
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"


def test_updated_and_deleted_list_recent_changes(sf: Salesforce) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    kept = sf.Account.create({"Name": "Updated Ltd"})["id"]
    gone = sf.Account.create({"Name": "Deleted Ltd"})["id"]
    sf.Account.delete(gone)
    end = datetime.now(UTC) + timedelta(minutes=1)
    updated = sf.Account.updated(start, end)
    deleted = sf.Account.deleted(start, end)
    assert kept in updated["ids"]
    assert gone in [d["id"] for d in deleted["deletedRecords"]]


def test_api_usage_comes_from_sforce_limit_info(sf: Salesforce) -> None:
    sf.query("SELECT COUNT() FROM Case")
    usage = sf.api_usage["api-usage"]
    assert 0 < usage.used <= usage.total == 15000  # type: ignore[union-attr]


def test_duplicate_external_id_match_is_refused_as_duplicate_value(sf: Salesforce) -> None:
    key = _key()
    sf.Product2.create({"Name": "Dup A", "ERP_Material__c": key})
    with pytest.raises(SalesforceMalformedRequest, match="DUPLICATE_VALUE"):
        sf.Product2.create({"Name": "Dup B", "ERP_Material__c": key})


def test_bulk2_insert_then_upsert_by_external_id(sf: Salesforce) -> None:
    key = _key()
    records = [
        {"Name": f"Bulk {key} {i}", "ERP_Customer_Id__c": f"{key}-{i}", "Phone": "+86"}
        for i in range(5)
    ]
    inserted = sf.bulk2.Account.insert(records=records, wait=0)
    updated = sf.bulk2.Account.upsert(
        records=[{"ERP_Customer_Id__c": f"{key}-0", "Name": "Renamed"}],
        external_id_field="ERP_Customer_Id__c",
        wait=0,
    )
    assert inserted[0]["numberRecordsProcessed"] == 5
    assert inserted[0]["numberRecordsFailed"] == 0
    assert updated[0]["numberRecordsProcessed"] == 1
    assert sf.Account.get_by_custom_id("ERP_Customer_Id__c", f"{key}-0")["Name"] == "Renamed"


def test_bulk2_failed_rows_are_reported_with_their_error(sf: Salesforce) -> None:
    result = sf.bulk2.Contact.insert(
        records=[{"LastName": "ok"}, {"FirstName": "no last name"}], wait=0
    )
    failed = sf.bulk2.Contact.get_failed_records(result[0]["job_id"])
    assert result[0]["numberRecordsFailed"] == 1
    assert "REQUIRED_FIELD_MISSING" in failed


def test_bulk2_query_pages_with_the_locator(sf: Salesforce) -> None:
    pages = list(
        sf.bulk2.Order.query(
            "SELECT Id, OrderNumber, Account.Name FROM Order", max_records=1000, wait=0
        )
    )
    lines = [line for page in pages for line in page.splitlines()[1:]]
    assert len(pages) == 3
    assert pages[0].splitlines()[0] == '"Id","OrderNumber","Account.Name"' or pages[0].startswith(
        "Id,"
    )
    assert len(lines) == 3000


def test_limits_and_metadata_resources(sf: Salesforce) -> None:
    limits = sf.limits()
    metadata = sf.Product2.metadata()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert metadata["objectDescribe"]["keyPrefix"] == "01t"


def test_collections_upsert_by_external_id_through_restful(sf: Salesforce) -> None:
    key = _key()
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Product2"}, "ERP_Material__c": f"{key}-1", "Name": "One"},
            {"attributes": {"type": "Product2"}, "ERP_Material__c": f"{key}-2", "Name": "Two"},
        ],
    }
    first = sf.restful("composite/sobjects/Product2/ERP_Material__c", method="PATCH", json=body)
    again = sf.restful("composite/sobjects/Product2/ERP_Material__c", method="PATCH", json=body)
    assert [r["created"] for r in first] == [True, True]
    assert [r["created"] for r in again] == [False, False]
    assert [r["id"] for r in first] == [r["id"] for r in again]


def test_query_with_child_subquery_returns_nested_records(sf: Salesforce) -> None:
    result = sf.query(
        "SELECT Id, OrderNumber, (SELECT Id, Quantity FROM OrderItems) FROM Order "
        "ORDER BY OrderNumber LIMIT 5"
    )
    nested = [r["OrderItems"] for r in result["records"]]
    assert all(n is None or n["totalSize"] == len(n["records"]) for n in nested)
    assert any(n and n["records"] for n in nested)


def test_bulk_v1_insert_and_upsert_give_per_record_results(sf: Salesforce) -> None:
    key = _key()
    inserted = sf.bulk.Contact.insert(
        [{"LastName": f"Bulk1 {key}", "ERP_Contact_Id__c": f"{key}-1"}, {"FirstName": "no last"}]
    )
    upserted = sf.bulk.Contact.upsert(
        [{"ERP_Contact_Id__c": f"{key}-1", "Title": "Buyer"}], "ERP_Contact_Id__c"
    )
    assert [r["success"] for r in inserted] == [True, False]
    assert inserted[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert upserted[0]["created"] is False
    assert upserted[0]["id"] == inserted[0]["id"]


def test_bulk_v1_query_returns_records(sf: Salesforce) -> None:
    records = sf.bulk.Product2.query(
        "SELECT Id, ProductCode FROM Product2 WHERE IsActive = true", wait=0
    )
    assert len(records) >= 250
    assert all(r["ProductCode"] is None or r["ProductCode"].startswith("P-") for r in records[:250])


def test_jwt_bearer_login_with_the_connected_app_key(
    sf_session: requests.Session, sf_server: RunningSimulator
) -> None:
    sf = Salesforce(
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        privatekey_file=str(sf_server.entry["private_key_file"]),
        session=sf_session,
    )
    assert sf.query("SELECT COUNT() FROM Pricebook2")["totalSize"] >= 2


def test_jwt_signed_with_another_key_is_refused(
    sf_session: requests.Session, tmp_path: Path
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "other.key"
    key_file.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid_grant"):
        Salesforce(
            username=USERNAME,
            consumer_key=CONSUMER_KEY,
            privatekey_file=str(key_file),
            session=sf_session,
        )
