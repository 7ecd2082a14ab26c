"""Line-level updates of sales orders: rows matched by the CRM line id (lines.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from erpbridge.connectors.kingdee import KingdeeConnector
from erpbridge.sims.kingdee import KingdeeState
from erpbridge.sims.kingdee.entries import stock_out
from erpbridge.sims.kingdee.forms import FORMS
from erpbridge.spi import ConflictError, ValidationError, WriteMode, WriteOp, WriteOutcome
from erpbridge.spi.records import Record, WriteResult

from .conftest import ConnectorFactory

FORM = "SAL_SaleOrder"
REF = "F_EB_CrmEntryId"
LINE_SETTINGS: dict[str, object] = {
    "line_references": {"sal_saleorder": {"fsaleorderentry": REF}},  # any case
    "submit_and_audit": True,
    "unaudit_to_update": True,
}


def _line(material: str, qty: float, ref: str | None = None) -> dict[str, object]:
    line: dict[str, object] = {
        "FMaterialId": material,
        "FUnitID": "Pcs",
        "FQty": qty,
        "FTaxPrice": 113,
        "FEntryTaxRate": 13,
    }
    if ref is not None:
        line[REF] = ref
    return line


def _order(number: str, lines: Sequence[dict[str, object]]) -> dict[str, object]:
    return {
        "FBillNo": number,
        "FDate": "2026-11-02",
        "FSaleOrgId": "100",
        "FCustId": "CUST00001",
        "FSalerId": "XSY001",
        "FSaleOrderEntry": list(lines),
    }


async def _write(kingdee: KingdeeConnector, op: WriteOp) -> WriteResult:
    [result] = await kingdee.write(FORM, [op])
    return result


async def _create(kingdee: KingdeeConnector, number: str, *lines: dict[str, object]) -> str:
    result = await _write(kingdee, WriteOp(WriteMode.CREATE, _order(number, lines)))
    assert result.outcome is WriteOutcome.CREATED and result.target_id, result.error
    return result.target_id


async def _update(kingdee: KingdeeConnector, fid: str, *lines: dict[str, object]) -> WriteResult:
    return await _write(kingdee, WriteOp(WriteMode.UPDATE, _order("", lines), target_id=fid))


def _bill(state: KingdeeState, fid: str) -> dict[str, object]:
    return state.tables[FORM][int(fid)]


def _rows(state: KingdeeState, fid: str) -> list[dict[str, object]]:
    return list(_bill(state, fid)["FSaleOrderEntry"])  # type: ignore[call-overload]


def _ship(state: KingdeeState, fid: str, entry_id: object, qty: float) -> None:
    number = _bill(state, fid)["FBillNo"]
    stock_out(state, FORMS["sal_saleorder"], {"BillNo": number, "EntryId": entry_id, "Qty": qty})


async def test_lines_keep_their_rows_new_lines_are_added_and_removed_ones_deleted(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS)
    fid = await _create(kingdee, "SOL1", _line("WL00001", 3, "L1"), _line("WL00002", 4, "L2"))
    first = _rows(sim_state, fid)[0]["FEntryID"]

    result = await _update(kingdee, fid, _line("WL00001", 5, "L1"), _line("WL00003", 2, "L3"))

    assert result.outcome is WriteOutcome.UPDATED, result.error
    rows = [
        (r["FEntryID"] == first, r["F_EB_CrmEntryId"], r["FQty"]) for r in _rows(sim_state, fid)
    ]
    assert rows == [(True, "L1", 5.0), (False, "L3", 2.0)]
    assert _bill(sim_state, fid)["FDocumentStatus"] == "C"  # un-audited, saved, audited again


async def test_a_row_added_in_kingdee_without_a_reference_is_kept(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS)
    fid = await _create(kingdee, "SOL2", _line("WL00001", 3, "L1"))
    added = await _write(  # a 金蝶 user adds a row (no CRM line id)
        connect(unaudit_to_update=True, submit_and_audit=True),
        WriteOp(
            WriteMode.UPDATE,
            {
                "FSaleOrderEntry": [
                    {"FEntryID": _rows(sim_state, fid)[0]["FEntryID"]},
                    _line("WL00005", 1),
                ]
            },
            target_id=fid,
        ),
    )
    assert added.outcome is WriteOutcome.UPDATED, added.error

    result = await _update(kingdee, fid, _line("WL00001", 6, "L1"))

    assert result.outcome is WriteOutcome.UPDATED, result.error
    rows = [(r["FMaterialId"], r["FQty"], r[REF]) for r in _rows(sim_state, fid)]
    assert sorted(rows, key=str) == sorted(
        [(_id(sim_state, "WL00001"), 6.0, "L1"), (_id(sim_state, "WL00005"), 1.0, "")], key=str
    )


def _id(state: KingdeeState, material: str) -> object:
    row = state.by_number(FORMS["bd_material"], material)
    assert row is not None
    return row["FMATERIALID"]


async def test_rows_saved_without_references_are_matched_by_material_and_get_them(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS)
    fid = await _create(kingdee, "SOL3", _line("WL00001", 3), _line("WL00002", 4))
    before = [r["FEntryID"] for r in _rows(sim_state, fid)]

    result = await _update(kingdee, fid, _line("WL00002", 8, "L2"), _line("WL00001", 3, "L1"))

    assert result.outcome is WriteOutcome.UPDATED, result.error
    rows = {r[REF]: (r["FEntryID"], r["FQty"]) for r in _rows(sim_state, fid)}
    assert rows == {"L1": (before[0], 3.0), "L2": (before[1], 8.0)}


async def test_two_lines_with_one_reference_are_refused_naming_both(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS)
    fid = await _create(kingdee, "SOL4", _line("WL00001", 3, "L1"))
    stamp = _bill(sim_state, fid)["FModifyDate"]

    result = await _update(kingdee, fid, _line("WL00001", 3, "L1"), _line("WL00002", 1, "L1"))

    assert isinstance(result.error, ValidationError)
    assert "第1行和第2行" in result.error.message and result.error.field == f"FSaleOrderEntry.{REF}"
    assert _bill(sim_state, fid)["FModifyDate"] == stamp  # nothing was sent


async def test_a_removed_line_that_went_out_is_refused_with_kingdees_text_and_a_hint(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS)
    fid = await _create(kingdee, "SOL5", _line("WL00001", 3, "L1"), _line("WL00002", 4, "L2"))
    _ship(sim_state, fid, _rows(sim_state, fid)[0]["FEntryID"], 2)

    result = await _update(kingdee, fid, _line("WL00002", 4, "L2"))

    assert result.outcome is WriteOutcome.FAILED and isinstance(result.error, ValidationError)
    assert "已出库2，存在下游单据" in result.error.message  # 金蝶's own refusal
    assert result.error.hint is not None
    assert "SOL5 的第1行（物料 WL00001）已出库 2，" in result.error.hint
    assert "行关闭" in result.error.hint and "销售退货" in result.error.hint
    assert [r[REF] for r in _rows(sim_state, fid)] == ["L1", "L2"]
    assert _bill(sim_state, fid)["FDocumentStatus"] == "C"  # audited again


async def test_with_close_removed_lines_a_removed_line_that_went_out_is_closed_and_kept(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS, close_removed_lines=True)
    fid = await _create(kingdee, "SOL6", _line("WL00001", 3, "L1"), _line("WL00002", 4, "L2"))
    _ship(sim_state, fid, _rows(sim_state, fid)[0]["FEntryID"], 2)

    first = await _update(kingdee, fid, _line("WL00002", 5, "L2"))
    again = await _update(kingdee, fid, _line("WL00002", 5, "L2"))

    assert (first.outcome, again.outcome) == (WriteOutcome.UPDATED, WriteOutcome.UPDATED)
    rows = sorted((r[REF], r["FQty"], r["FMrpCloseStatus"]) for r in _rows(sim_state, fid))
    assert rows == [("L1", 3.0, "B"), ("L2", 5.0, "A")]  # closed once, the second time kept
    assert _bill(sim_state, fid)["FDocumentStatus"] == "C"


async def test_a_removed_line_not_yet_shipped_of_a_partly_shipped_order_is_deleted(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS)
    fid = await _create(kingdee, "SOL7", _line("WL00001", 3, "L1"), _line("WL00002", 4, "L2"))
    _ship(sim_state, fid, _rows(sim_state, fid)[0]["FEntryID"], 3)

    result = await _update(kingdee, fid, _line("WL00001", 3, "L1"))

    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert [(r[REF], r["FStockOutQty"]) for r in _rows(sim_state, fid)] == [("L1", 3.0)]


async def test_a_row_deleted_in_kingdee_after_the_read_is_a_conflict(
    connect: ConnectorFactory, sim_state: KingdeeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    kingdee = connect(**LINE_SETTINGS)
    fid = await _create(kingdee, "SOL8", _line("WL00001", 3, "L1"), _line("WL00002", 4, "L2"))
    read = kingdee.find

    async def read_then_someone_deletes_a_row(
        obj: str, key: str, values: Sequence[object]
    ) -> list[Record]:
        found = await read(obj, key, values)
        bill = sim_state.copy_of(_bill(sim_state, fid))
        bill["FSaleOrderEntry"] = _rows(sim_state, fid)[1:]
        sim_state.put(FORMS["sal_saleorder"], bill)
        return found

    monkeypatch.setattr(kingdee._writer, "find", read_then_someone_deletes_a_row)

    result = await _update(kingdee, fid, _line("WL00001", 9, "L1"), _line("WL00002", 4, "L2"))

    assert isinstance(result.error, ConflictError)  # retried: the retry reads again
    assert "在读取之后变了" in result.error.message and "不存在" in result.error.message


async def test_without_line_references_the_lines_replace_the_rows(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(submit_and_audit=True, unaudit_to_update=True)
    fid = await _create(kingdee, "SOL9", _line("WL00001", 3, "L1"))
    first = _rows(sim_state, fid)[0]["FEntryID"]

    result = await _update(kingdee, fid, _line("WL00001", 4, "L1"))

    assert result.outcome is WriteOutcome.UPDATED, result.error
    assert [(r["FEntryID"] == first, r["FQty"]) for r in _rows(sim_state, fid)] == [(False, 4.0)]


async def test_a_refused_row_close_is_a_dead_letter_with_kingdees_text_and_nothing_saved(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    kingdee = connect(**LINE_SETTINGS, close_removed_lines=True)
    fid = await _create(kingdee, "SOLA", _line("WL00001", 3, "L1"), _line("WL00002", 4, "L2"))
    _ship(sim_state, fid, _rows(sim_state, fid)[0]["FEntryID"], 1)
    bill = sim_state.copy_of(_bill(sim_state, fid))
    bill["FDocumentStatus"] = "D"  # un-audited in 金蝶 after shipping: rows cannot be closed
    sim_state.put(FORMS["sal_saleorder"], bill)

    result = await _update(kingdee, fid, _line("WL00002", 9, "L2"))

    assert result.outcome is WriteOutcome.FAILED and result.error is not None
    assert "未审核" in result.error.message and "行关闭" in result.error.message
    assert result.error.hint is not None and "行关闭也被拒绝" in result.error.hint
    assert [(r[REF], r["FQty"]) for r in _rows(sim_state, fid)] == [("L1", 3.0), ("L2", 4.0)]


async def test_a_refused_unaudit_is_named_in_the_dead_letter(
    connect: ConnectorFactory, sim_state: KingdeeState
) -> None:
    bill = next(r for r in sim_state.tables[FORM].values() if r["FDocumentStatus"] == "B")

    result = await _write(
        connect(**LINE_SETTINGS),
        WriteOp(WriteMode.UPDATE, {"FNote": "改"}, target_id=str(bill["FID"])),
    )

    assert isinstance(result.error, ValidationError)
    assert "不允许修改" in result.error.message  # the save's refusal
    assert "反审核失败" in result.error.message and "不能反审核" in result.error.message
