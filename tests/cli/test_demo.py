"""`erpbridge demo` end to end: simulators, hub, real HTTP, summary checked through the target."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from erpbridge.cli import _common
from erpbridge.cli.main import app
from erpbridge.store.schema import jobs

pytestmark = pytest.mark.slow


def test_demo_moves_data_and_verifies_it_in_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)
    monkeypatch.setattr(_common.console, "width", 200)
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    customers = re.search(r"(\d+) records salesforce:Account → sap:A_BusinessPartner", out)
    orders = re.search(
        r"(\d+) records salesforce:Order → sap:A_SalesOrder; (\d+) skipped by when:", out
    )
    assert customers and int(customers.group(1)) >= 200
    assert orders and int(orders.group(1)) > 100 and int(orders.group(2)) > 100
    for flow in ("customers-to-sap", "orders-to-sap"):
        read_back = re.search(rf"{flow}: (\d+) of (\d+) sampled records read back", out)
        assert read_back and read_back.group(1) == read_back.group(2), out
    # After-sales: the seeded cases needing parts and the demo's own (with a part) become
    # requisitions, and their numbers and statuses come back onto the cases.
    assert "3 service cases needing parts created" in out
    to_sap = re.search(r"(\d+) records salesforce:Case → sap:A_PurchaseRequisitionHeader", out)
    back = re.search(r"(\d+) records sap:A_PurchaseRequisitionHeader → salesforce:Case", out)
    assert to_sap and back and int(to_sap.group(1)) == int(back.group(1)) > 3, out
    assert "dead letter(s) in" not in out
    # Stock per warehouse: only for materials the CRM has; SAP's own are skipped by the
    # product lookup (missing="skip"), none is written with an empty product.
    stock = re.search(
        r"(\d+) records sap:A_MatlStkInAcctMod → salesforce:Product_Stock__c; "
        r"(\d+) skipped by when:; (\d+) skipped by an xref lookup \(missing=\"skip\"\)",
        out,
    )
    assert stock, out
    store = sa.create_engine(f"sqlite:///{tmp_path / 'erpbridge.db'}")
    with store.connect() as conn:
        payloads = conn.execute(
            sa.select(jobs.c.source_id, jobs.c.mapped_payload).where(
                jobs.c.flow == "stock-by-warehouse-from-sap",
                jobs.c.outcome.in_(("created", "updated", "unchanged")),
            )
        ).all()
    store.dispose()
    assert int(stock.group(1)) == len({source for source, _ in payloads}) > 0
    assert all(payload["Product__c"] for _, payload in payloads)
    assert int(stock.group(3)) > 0
    read_back = re.search(r"stock-by-warehouse-from-sap: (\d+) of (\d+) sampled records", out)
    assert read_back and read_back.group(1) == read_back.group(2), out
    # The seeded credit-watch account's activated orders are held, and the summary says how
    # to release them.
    assert "3 held for credit in orders-to-sap (e.g. over credit: order " in out
    assert "erpbridge jobs release ID" in out
    assert (tmp_path / "erpbridge.db").is_file() and (tmp_path / ".env").is_file()


def test_demo_of_jdy_yonbip_holds_the_credit_watch_orders_and_brings_requisitions_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)
    monkeypatch.setattr(_common.console, "width", 200)
    result = CliRunner().invoke(app, ["demo", "--template", "jdy-yonbip", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    customers = re.search(r"(\d+) records jdy:6405f3a1c2b4d50007a10001 → bip:merchant", out)
    orders = re.search(r"(\d+) records jdy:6405f3a1c2b4d50007a10003 → bip:voucherorder", out)
    back = re.search(r"(\d+) records bip:voucherorder → jdy:6405f3a1c2b4d50007a10003", out)
    assert customers and int(customers.group(1)) >= 30
    assert orders and int(orders.group(1)) >= 100
    assert back and back.group(1) == orders.group(1)
    for flow in (
        "customers-to-yonbip",
        "orders-to-yonbip",
        "orders-from-yonbip",
        "requisitions-to-yonbip",
        "requisitions-from-yonbip",
    ):
        read_back = re.search(rf"{flow}: (\d+) of (\d+) sampled records read back", out)
        assert read_back and read_back.group(1) == read_back.group(2), out
    assert "dead letter(s) in" not in out
    # Credit control set a 50,000 元 limit in YonBIP for 客户 C00002; the credit sync brought
    # it to 简道云 before the orders were checked, so C00002's three orders are held.
    assert "credit control set 客户 C00002's limit in YonBIP to 50,000 元" in out
    assert "1 records bip:credit → jdy:6405f3a1c2b4d50007a10001" in out
    assert (
        "3 held for credit in orders-to-yonbip (e.g. 超出可用信用额度: 订单 61370.00 元, "
        "可用 50000.00 元), not sent"
    ) in out
    assert "erpbridge jobs release ID" in out and "信用审批 通过" in out
    # 请购单 status came back by YonBIP's events, POSTed to the demo hub's /hooks/bip.
    assert re.search(r"subscribed to http://127\.0\.0\.1:\d+/hooks/bip", out), out
    to_bip = re.search(r"(\d+) records jdy:6405f3a1c2b4d50007a10004 → bip:applyorder", out)
    from_bip = re.search(r"(\d+) records bip:applyorder → jdy:6405f3a1c2b4d50007a10004", out)
    assert to_bip and from_bip and int(to_bip.group(1)) == int(from_bip.group(1)) >= 10, out
    store = sa.create_engine(f"sqlite:///{tmp_path / 'erpbridge.db'}")
    with store.connect() as conn:
        triggers = conn.execute(
            sa.select(jobs.c.trigger, jobs.c.source_version)
            .where(jobs.c.flow == "requisitions-from-yonbip")
            .distinct()
        ).all()
    store.dispose()
    # Events drove it; the catch-up poll of the 请购单 list may have read the same changes
    # (written once: the flow's read-back above) and nothing else.
    assert any(t == "webhook" and v.startswith("event:") for t, v in triggers), triggers
    assert all(t in ("webhook", "poll") for t, _ in triggers), triggers


def test_demo_of_sf_oracle_holds_the_credit_watch_orders_and_sends_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERPBRIDGE_DB_URL", raising=False)
    monkeypatch.setattr(_common.console, "width", 200)
    result = CliRunner().invoke(app, ["demo", "--template", "sf-oracle", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    orders = re.search(r"(\d+) records salesforce:Order → oracle:salesOrdersForOrderHub", out)
    assert orders and int(orders.group(1)) > 100
    read_back = re.search(r"orders-to-oracle: (\d+) of (\d+) sampled records read back", out)
    assert read_back and read_back.group(1) == read_back.group(2), out
    assert "dead letter(s) in" not in out
    # The seeded credit-watch account (limit 20,000 CNY in Salesforce): its 3 activated
    # orders are held, not sent to Oracle.
    assert "3 held for credit in orders-to-oracle (e.g. over credit: order " in out
    assert "erpbridge jobs release ID" in out
