"""Model values: defaults, coercion of Save values, reference lookup, computed amounts.

Save values arrive as JSON: numbers or numeric text, dates as ``yyyy-MM-dd[ HH:mm:ss]``
text, booleans as ``true``/``"true"``/1, references as ``{"FNumber": ..}`` (``FNUMBER``,
an internal id under the target's key/``FID``/``Id``, or a unique ``FName`` also work).
"""

from __future__ import annotations

from datetime import datetime

from erpbridge.sims.kingdee.filter import normalize_stamp, parse_stamp
from erpbridge.sims.kingdee.forms import FORMS, FieldDef, FieldKind, FormDef
from erpbridge.sims.kingdee.state import KingdeeState, Row
from erpbridge.sims.kingdee.wire import lower_keys

__all__ = ["as_pk", "coerce_value", "compute", "default_of", "is_empty"]


def default_of(field: FieldDef) -> object:
    if field.kind is FieldKind.TEXT:
        return ""
    if field.kind is FieldKind.BOOL:
        return False
    if field.kind is FieldKind.DECIMAL:
        return 0.0
    if field.kind is FieldKind.INT:
        return 0
    return None


def is_empty(value: object) -> bool:
    return value is None or value == "" or value == 0


def as_pk(value: object) -> object:
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def coerce_value(state: KingdeeState, field: FieldDef, value: object) -> object:
    """Turn a Model value into the stored value, or raise ValueError with the reason."""
    kind = field.kind
    if value is None:
        return default_of(field)
    if kind is FieldKind.REF:
        return _resolve_ref(state, field, value)
    if isinstance(value, dict | list):
        raise ValueError("的值应为简单值，不能是对象或数组")
    if kind is FieldKind.TEXT:
        return str(value)
    if kind in (FieldKind.DECIMAL, FieldKind.INT):
        if isinstance(value, bool):
            raise ValueError(f"的值“{value}”不是有效的数值")
        try:
            number = float(str(value).replace(",", "")) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(f"的值“{value}”不是有效的数值") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"的值“{value}”不是有效的数值")
        return int(number) if kind is FieldKind.INT else round(number, 10)
    if kind is FieldKind.BOOL:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise ValueError(f"的值“{value}”不是有效的布尔值")
    if kind in (FieldKind.DATE, FieldKind.DATETIME):
        stamp = parse_stamp(str(value)) if isinstance(value, str) else None
        if stamp is None:
            raise ValueError(
                f"的值“{value}”不是有效的日期（应为 yyyy-MM-dd 或 yyyy-MM-dd HH:mm:ss）"
            )
        if kind is FieldKind.DATE:
            stamp = datetime(stamp.year, stamp.month, stamp.day)
        return normalize_stamp(stamp)
    return str(value)


def _resolve_ref(state: KingdeeState, field: FieldDef, value: object) -> object:
    target = FORMS[(field.ref or "").lower()]
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = {"FNumber": value}  # a bare number is taken as the code (tolerant)
    if not isinstance(value, dict):
        raise ValueError('的值应为 {"FNumber": "编码"}')
    keys = lower_keys(value)
    if not keys or all(v in (None, "") for v in keys.values()):
        return None
    number = keys.get("fnumber")
    if number not in (None, ""):
        row = state.by_number(target, str(number))
        if row is None:
            raise ValueError(f"的值“{number}”在{target.label}中不存在")
        return row[target.pk]
    for id_key in (target.pk.lower(), "fid", "id"):
        if keys.get(id_key) not in (None, "", 0):
            row = state.get(target, as_pk(keys[id_key]))
            if row is None:
                raise ValueError(f"的内码“{keys[id_key]}”在{target.label}中不存在")
            return row[target.pk]
    if keys.get("fname") not in (None, ""):
        matches = [r for r in state.rows(target) if r.get("FName") == keys["fname"]]
        if len(matches) == 1:
            return matches[0][target.pk]
        raise ValueError(f"按名称“{keys['fname']}”找不到唯一的{target.label}")
    raise ValueError('的值应为 {"FNumber": "编码"}')


def compute(form: FormDef, row: Row) -> None:
    """Amounts the server computes (sales order lines and totals, available credit)."""
    if form.form_id == "SAL_SaleOrder":
        total = tax_total = net_total = 0.0
        for line in row.get("FSaleOrderEntry") or []:  # type: ignore[attr-defined]
            qty = float(line.get("FQty") or 0)
            rate = float(line.get("FEntryTaxRate") or 0)
            tax_price = float(line.get("FTaxPrice") or 0)
            price = float(line.get("FPrice") or 0)
            if tax_price:
                price = round(tax_price / (1 + rate / 100), 6)
            else:
                tax_price = round(price * (1 + rate / 100), 6)
            line["FPrice"], line["FTaxPrice"] = price, tax_price
            line["FAllAmount"] = round(qty * tax_price, 2)
            line["FAmount"] = round(line["FAllAmount"] / (1 + rate / 100), 2)
            line["FEntryTaxAmount"] = round(line["FAllAmount"] - line["FAmount"], 2)
            total += line["FAllAmount"]
            net_total += line["FAmount"]
            tax_total += line["FEntryTaxAmount"]
        row["FBillAllAmount"] = round(total, 2)
        row["FBillAmount"] = round(net_total, 2)
        row["FBillTaxAmount"] = round(tax_total, 2)
        if not row.get("FExchangeRate"):
            row["FExchangeRate"] = 1.0
    elif form.form_id == "CRE_CustCreditProfile":
        limit = float(row.get("FCreditAmount") or 0)  # type: ignore[arg-type]
        used = float(row.get("FUsedAmount") or 0)  # type: ignore[arg-type]
        row["FAvailableAmount"] = round(limit - used, 2)
