from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from erpbridge.engine.intake import poll_flow
from erpbridge.engine.plans import build_plans
from erpbridge.engine.recon import ReconOptions, apply_repairs, plan_repairs, run_recon
from erpbridge.engine.recon_report import load_report, summary_line, write_csv, write_html
from tests.engine.conftest import Harness


async def _synced(harness: Harness, n: int = 10) -> None:
    for i in range(n):
        harness.crm.put("Account", f"A{i:03d}", {"AccountNumber": f"C{i:03d}", "Name": f"客户{i}"})
    await poll_flow(harness.store, harness.runtime, "customers", harness.clock)
    await harness.drain()


def _by_code(harness: Harness, code: str) -> str:
    return next(r.id for r in harness.erp.all("Customer") if r.fields["Code"] == code)


def _plant_differences(harness: Harness) -> None:
    changed = _by_code(harness, "C003")
    harness.erp.put("Customer", changed, {"Code": "C003", "Name": "被人改了"})  # field difference
    del harness.erp.records["Customer"][_by_code(harness, "C005")]  # missing in the ERP
    harness.erp.put("Customer", None, {"Code": "X99", "Name": "只在 ERP"})  # missing in the CRM
    harness.erp.put("Customer", None, {"Code": "C007", "Name": "客户7"})  # duplicate in the ERP
    harness.crm.put(
        "Account", "A900", {"AccountNumber": "C008", "Name": "客户8"}
    )  # duplicate in the CRM


async def test_recon_finds_exactly_the_planted_differences(harness: Harness) -> None:
    await _synced(harness)
    _plant_differences(harness)
    plan = build_plans(harness.project)["customers"]
    result = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    found = sorted((d.kind.value, d.key, d.field) for d in result.differences)
    assert found == [
        ("duplicate_source", "C008", None),
        ("duplicate_target", "C007", None),
        ("field", "C003", "Name"),
        ("missing_in_source", "X99", None),
        ("missing_in_target", "C005", None),
    ]
    assert result.state == "done" and result.matches == 6
    [field] = [d for d in result.differences if d.kind.value == "field"]
    assert (field.expected, field.actual, field.rule) == ("客户3", "被人改了", "source.Name")


async def test_repair_resyncs_from_the_owner_and_a_second_run_is_clean_there(
    harness: Harness,
) -> None:
    await _synced(harness)
    _plant_differences(harness)
    plan = build_plans(harness.project)["customers"]
    first = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    dry = plan_repairs(harness.store, first.run_id)
    assert sorted((r["key"], r["action"]) for r in dry) == [
        ("C003", "resync from source"),
        ("C005", "resync from source"),
        ("C007", "flag for a person"),
        ("C008", "flag for a person"),
        ("X99", "flag for a person"),
    ]
    assert harness.rows("select count(*) from jobs where trigger = 'recon'") == [
        (0,)
    ]  # dry run wrote nothing
    applied = apply_repairs(harness.store, plan, first.run_id, harness.clock)
    assert sum(1 for r in applied if r["job"]) == 2
    await harness.drain()
    second = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    assert sorted(d.key for d in second.differences) == ["C007", "C008", "X99"]


async def test_tolerance_and_amount_sums(harness: Harness) -> None:
    await _synced(harness, 3)
    plan = build_plans(harness.project)["customers"]
    harness.erp.put("Customer", _by_code(harness, "C001"), {"Code": "C001", "Name": "客户1"})
    options = ReconOptions(fields=["Name"], tolerances={"Name": Decimal("0.01")})
    result = await run_recon(harness.store, harness.runtime, plan, options, harness.clock)
    assert result.differences == [] and result.matches == 3


async def test_a_failing_side_fails_the_run_and_repairs_nothing(harness: Harness) -> None:
    await _synced(harness, 3)
    plan = build_plans(harness.project)["customers"]

    async def broken(*args: object, **kwargs: object) -> None:
        from erpbridge.spi import TransientError

        raise TransientError("503 Service Unavailable", system="erp")
        yield  # pragma: no cover - makes this an async generator

    harness.runtime.connector("erp").read_changes = broken  # type: ignore[method-assign]
    result = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    assert result.state == "failed" and "503 Service Unavailable" in str(result.error)
    assert plan_repairs(harness.store, result.run_id) == []
    assert harness.rows(f"select state from recon_runs where id = {result.run_id}") == [("failed",)]


async def test_reports_html_csv_json(harness: Harness, tmp_path: Path) -> None:
    await _synced(harness)
    _plant_differences(harness)
    plan = build_plans(harness.project)["customers"]
    result = await run_recon(harness.store, harness.runtime, plan, ReconOptions(), harness.clock)
    with harness.store.connect() as conn:
        report = load_report(conn, result.run_id)
    line = summary_line(report, "crm", "erp")
    assert (
        line.startswith("customers: 6 match, ")
        and "1 missing in erp" in line
        and "1 missing in crm" in line
    )
    write_html(tmp_path / "r.html", report, "crm", "erp")
    write_csv(tmp_path / "r.csv", report["differences"])
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<!doctype html>" in html and "被人改了" in html and "<script" not in html
    rows = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("id,kind,key,field") and len(rows) == 1 + len(report["differences"])


def test_dates_compare_across_wire_formats() -> None:
    from erpbridge.engine.recon import normalise

    assert (
        normalise("/Date(1791849600000)/")
        == normalise("2026-10-13T00:00:00+00:00")
        == normalise("2026-10-13")
    )
    assert normalise("2026-10-13T08:00:00+08:00") == normalise("2026-10-13T00:00:00Z")
    assert normalise(" 100.00 ") == normalise(100)
    assert normalise("2026-10-14") != normalise("2026-10-13")
