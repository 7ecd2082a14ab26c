from __future__ import annotations

from erpbridge.engine.plans import schema_problems
from erpbridge.spi import Catalog, Field, FieldType, ObjectSchema
from tests.engine.conftest import Harness


def _catalogs() -> dict[str, Catalog]:
    account = ObjectSchema("Account", [Field("AccountNumber"), Field("Name", label="客户名称")])
    order = ObjectSchema(
        "Order",
        [
            Field("OrderNumber"),
            Field("AccountId", FieldType.REFERENCE),
            Field("Status"),
            Field("Amount", FieldType.DECIMAL),
        ],
    )
    customer = ObjectSchema("Customer", [Field("Code"), Field("Name")])
    sales_order = ObjectSchema(
        "SalesOrder", [Field("PoNumber"), Field("Customer"), Field("Amount", FieldType.DECIMAL)]
    )
    return {
        "crm": Catalog({"Account": account, "Order": order}),
        "erp": Catalog({"Customer": customer, "SalesOrder": sales_order}),
    }


async def test_mappings_that_fit_the_schemas_have_no_errors(harness: Harness) -> None:
    errors, _ = await schema_problems(harness.project, _catalogs())
    assert errors == []


async def test_unknown_object_and_field_are_located_with_did_you_mean(harness: Harness) -> None:
    catalogs = _catalogs()
    catalogs["erp"] = Catalog(
        {
            "Customers": catalogs["erp"].objects["Customer"],
            "SalesOrder": ObjectSchema(
                "SalesOrder", [Field("PONumber"), Field("Customer"), Field("Amount")]
            ),
        }
    )
    errors, _ = await schema_problems(harness.project, catalogs)
    text = [e.describe() for e in errors]
    assert any("erp has no object 'Customer'; did you mean 'Customers'?" in t for t in text), text
    assert any(
        "flows.orders.map.PoNumber" in t and "did you mean 'PONumber'?" in t for t in text
    ), text
    assert all(e.line is not None for e in errors)
