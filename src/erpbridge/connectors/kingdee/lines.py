"""Line-level updates: the entry rows (分录) of an update, matched to the bill's rows.

K/3 Cloud updates a bill's entry with one ``Save`` (reference §2.1, §6): a row that
carries its ``FEntryID`` is that row changed, a row without one is added, and with
``IsDeleteEntry`` true a row the model leaves out is deleted. So an update of a bill
whose lines the CRM changed reads the bill first and sends:

- the CRM lines matched to a 金蝶 row, with that row's ``FEntryID`` (quantity, price …
  changed in place; the row keeps its id, its links and what went out against it);
- the CRM lines matched to no row, without ``FEntryID`` (added);
- the rows no CRM line matches any more left out (deleted).

Matching, like SAP's (connectors/sap/lines.py), needs a field on the entry that carries the
CRM line id: the connection's ``line_references`` names it per form and entry (K/3 Cloud
has no standard one; a tenant adds a 二开 text field such as ``F_XXX_CrmEntryId``):

1. by that reference (the mapping sets it to the CRM line's id; a saved row keeps it);
2. a line whose reference no row has yet is matched to a row *without* a reference and
   the same ``FMaterialId``, in row order (bills saved before references were mapped);
   the save writes the reference, so from then on rule 1 holds;
3. a line matched by neither is added.

A row with a reference no line carries any more was a CRM line that is gone: it is left
out (deleted), and so is a second row carrying a reference another row answers for. A
row without a reference that no line matched is 金蝶's own (added there) and is kept.

A removed row something already went out against (``FStockOutQty`` > 0, 已出库) cannot
be deleted (金蝶 refuses). With the connection's ``close_removed_lines`` it is closed
instead (行关闭, ``ExcuteOperation`` ``YLMRPClose`` with ``PkEntryIds``: an opNumber
from community copies of Kingdee's operation list, not the reference — UNSURE) and kept;
without it the row is left out, 金蝶's refusal is the result, and the dead letter says
what a person can do (close the row in 金蝶 or book a return). A removed row that is
closed already is kept as it is.

Concurrency: K/3 Cloud has no conditional save. A row deleted in 金蝶 since the read
makes its ``FEntryID`` unknown, which 金蝶 refuses; that refusal is a conflict, so the
retry reads the bill again. A row added in 金蝶 between the read and the save (without
a reference) would be deleted by that save: the window is one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from erpbridge.connectors.kingdee.describe import EntryInfo, FormInfo
from erpbridge.connectors.kingdee.errors import SYSTEM
from erpbridge.spi.errors import ValidationError

__all__ = [
    "CLOSE_FIELD",
    "MATCH_FIELD",
    "OUT_FIELD",
    "EntryPlan",
    "delivered_hint",
    "plan_entry",
]

#: 累计出库数量: what went out against the row (销售出库单).
OUT_FIELD = "FStockOutQty"
#: 业务关闭 of the row: A open, B closed.
CLOSE_FIELD = "FMrpCloseStatus"
#: rule 2 matches rows without a reference by this field.
MATCH_FIELD = "FMaterialId"

Row = dict[str, object]


@dataclass(slots=True)
class EntryPlan:
    """The rows to send for one entry, and what the update does to rows that went out."""

    rows: list[Row]
    #: FEntryIDs to close (行关闭) before the save (``close_removed_lines``).
    close: list[object] = field(default_factory=list)
    #: rows that went out which the save deletes or changes: (seq, material, qty out).
    delivered: list[tuple[int, str, str]] = field(default_factory=list)


def _blank(value: object) -> bool:
    return value is None or value == ""


def _number(value: object) -> str:
    """A reference as its number: ``{"FNumber": "M1"}`` (a wire value) or ``"M1"`` (read)."""
    if isinstance(value, Mapping):
        value = next((v for k, v in value.items() if str(k).lower() == "fnumber"), None)
    return "" if value is None else str(value)


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if not _blank(value) else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _check_references(
    info: FormInfo, entry: EntryInfo, reference: str, lines: Sequence[Row]
) -> None:
    """Each line needs its own reference, or rows could not be told apart.

    Raises:
        ValidationError: two lines carry the same reference (names both lines).
    """
    seen: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        ref = line.get(reference)
        if _blank(ref):
            continue
        if str(ref) in seen:
            raise ValidationError(
                f"{entry.key} 第{seen[str(ref)]}行和第{n}行的 {reference} 相同（{ref!r}）；"
                "每个 CRM 行需要自己的标识（映射为该行的 id）",
                field=f"{entry.key}.{reference}",
                system=SYSTEM,
                object=info.schema.name,
            )
        seen[str(ref)] = n


def _match(
    reference: str, lines: Sequence[Row], rows: Sequence[Mapping[str, object]]
) -> tuple[dict[int, Mapping[str, object]], list[Mapping[str, object]], list[Mapping[str, object]]]:
    """(line index -> matched row, rows to remove, 金蝶's own rows to keep)."""
    by_reference: dict[str, list[Mapping[str, object]]] = {}
    for row in rows:
        if not _blank(row.get(reference)):
            by_reference.setdefault(str(row[reference]), []).append(row)
    matched: dict[int, Mapping[str, object]] = {}
    for n, line in enumerate(lines):
        ref = line.get(reference)
        if not _blank(ref) and by_reference.get(str(ref)):
            matched[n] = by_reference[str(ref)].pop(0)
    free: dict[str, list[Mapping[str, object]]] = {}
    for row in rows:
        if _blank(row.get(reference)):
            free.setdefault(_number(row.get(MATCH_FIELD)), []).append(row)
    for n, line in enumerate(lines):
        candidates = free.get(_number(line.get(MATCH_FIELD)))
        if n not in matched and candidates:
            matched[n] = candidates.pop(0)
    removed = [row for rest in by_reference.values() for row in rest]
    own = [row for rest in free.values() for row in rest]
    return matched, removed, own


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def plan_entry(
    info: FormInfo,
    entry: EntryInfo,
    reference: str,
    lines: Sequence[Row],
    current: Sequence[Mapping[str, object]],
    *,
    close_removed: bool,
) -> EntryPlan:
    """The rows of ``entry`` to save so that the bill's rows become ``lines``.

    Args:
        lines: the mapped lines as Save rows (wire values), without ``FEntryID``.
        current: the bill's rows as read (``FEntryID``, the reference, ``FMaterialId``
            as its number, ``FStockOutQty``, ``FMrpCloseStatus``).
        close_removed: close (行关闭) removed rows that went out instead of deleting them.

    Raises:
        ValidationError: two lines carry the same reference.
    """
    _check_references(info, entry, reference, lines)
    seq = {id(row): n for n, row in enumerate(current, start=1)}
    matched, removed, own = _match(reference, lines, current)
    plan = EntryPlan(rows=[])
    for n, line in enumerate(lines):
        row = matched.get(n)
        if row is None:
            plan.rows.append(dict(line))
            continue
        plan.rows.append({entry.id_key: row[entry.id_key], **line})
        shipped = _decimal(row.get(OUT_FIELD))
        if shipped > 0 and _decimal(line.get("FQty", row.get("FQty"))) != _decimal(row.get("FQty")):
            plan.delivered.append((seq[id(row)], _number(row.get(MATCH_FIELD)), _text(shipped)))
    for row in own:
        plan.rows.append({entry.id_key: row[entry.id_key]})  # 金蝶's own row: kept as it is
    for row in removed:
        shipped = _decimal(row.get(OUT_FIELD))
        if shipped <= 0:
            continue  # left out: deleted
        if str(row.get(CLOSE_FIELD) or "") == "B":
            plan.rows.append({entry.id_key: row[entry.id_key]})  # closed already: kept
        elif close_removed:
            plan.close.append(row[entry.id_key])
            plan.rows.append({entry.id_key: row[entry.id_key]})
        else:
            plan.delivered.append((seq[id(row)], _number(row.get(MATCH_FIELD)), _text(shipped)))
    return plan


def delivered_hint(info: FormInfo, number: str, delivered: Sequence[tuple[int, str, str]]) -> str:
    """What a person can do when 金蝶 refused to delete or change rows that went out."""
    label = info.schema.label or info.schema.name
    rows = "、".join(
        f"第{seq}行（物料 {material}）已出库 {qty}" for seq, material, qty in delivered
    )
    return (
        f"金蝶{label} {number} 的{rows}，不能删除或改小：请在金蝶中对该行做行关闭"
        "（业务关闭），或做销售退货；处理后放弃这条死信"
    )
