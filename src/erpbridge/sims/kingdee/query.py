"""ExecuteBillQuery / BillQuery and View: field keys, rows, order, paging, rendering.

ExecuteBillQuery answers an array of arrays, values in ``FieldKeys`` order, one row per
entry line when any key (in FieldKeys, FilterString or OrderString) is an entry field
(reference §2.3). Keys: ``FBillNo``; reference paths ``FCustId.FNumber`` / ``.FName``
(a bare reference key gives the internal id); entry row ids ``FSaleOrderEntry_FEntryID``;
the primary key (``FID``, ``FCUSTID``). Dates render as ``yyyy-MM-ddTHH:mm:ss[.ff]``.

Paging: ``TopRowCount`` (when > 0) cuts the whole result first, then ``StartRow`` /
``Limit`` (0 = no limit) take the page. How the real server combines TopRowCount with
StartRow/Limit is [UNSURE]; connectors should send TopRowCount 0.

A FilterString that bounds a header date field from below (a poll's ``FModifyDate >= '…'``)
reads only the records from that date on, through the state's sorted index of the field;
one that names primary keys (a page's lines: ``FID IN (…)``) reads only those records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from erpbridge.sims.kingdee.filter import (
    FilterError,
    Floor,
    Lookup,
    Resolver,
    UnknownFieldError,
    Value,
    parse_filter,
)
from erpbridge.sims.kingdee.forms import FORMS, EntryDef, FieldDef, FieldKind, FormDef
from erpbridge.sims.kingdee.state import KingdeeState, Row
from erpbridge.sims.kingdee.wire import BusinessError, MsgCode, lower_keys, render_stamp

__all__ = ["MAX_LIMIT", "BillQuery", "view_of"]

#: rows per page at most when a Limit is given (Kingdee documents Limit <= 2000;
#: whether a real server cuts or refuses a larger Limit is [UNSURE]: the simulator cuts).
MAX_LIMIT = 2000

Getter = Callable[[Row, Row | None], object]


@dataclass(frozen=True, slots=True)
class _Key:
    """A resolved query key: how to read its stored value, and its kind."""

    name: str
    kind: FieldKind
    entry: EntryDef | None
    get: Getter  # (header, entry row) -> stored value
    is_ref_id: bool = False
    #: the header field it reads as stored (an index of that field can narrow the records)
    field: str | None = None


def _entry_id_getter(id_key: str) -> Getter:
    return lambda h, e: None if e is None else e[id_key]


def _own_getter(fkey: str, *, in_entry: bool) -> Getter:
    if in_entry:
        return lambda h, e: None if e is None else e.get(fkey)
    return lambda h, e: h.get(fkey)


def _key(state: KingdeeState, form: FormDef, name: str) -> _Key | None:
    text = name.strip()
    lowered = text.lower()
    for entry in form.entries:
        if lowered == f"{entry.key.lower()}_{entry.id_key.lower()}":
            return _Key(text, FieldKind.INT, entry, _entry_id_getter(entry.id_key))
    head, _, tail = text.partition(".")
    loc = form.locate(head)
    if loc is None:
        return None
    own = _own_getter(loc.field.key, in_entry=loc.entry is not None)

    if not tail:
        if loc.field.kind is FieldKind.REF:
            return _Key(text, FieldKind.REF, loc.entry, own, is_ref_id=True)
        field = loc.field.key if loc.entry is None else None
        return _Key(text, loc.field.kind, loc.entry, own, field=field)
    if loc.field.kind is not FieldKind.REF:
        return None
    target = FORMS[(loc.field.ref or "").lower()]
    sub = target.locate(tail)
    if sub is None or sub.entry is not None:
        return None
    sub_key = sub.field.key

    def via(h: Row, e: Row | None) -> object:
        ref_id = own(h, e)
        if ref_id is None:
            return None
        ref = state.get(target, ref_id)
        return None if ref is None else ref.get(sub_key)

    kind = FieldKind.TEXT if sub.field.kind is FieldKind.REF else sub.field.kind
    return _Key(text, kind, loc.entry, via)


def _render(key: _Key, value: object) -> object:
    if key.is_ref_id:
        return 0 if value is None else value  # Kingdee stores 0 for an empty reference
    if key.kind in (FieldKind.DATE, FieldKind.DATETIME):
        return render_stamp(value)
    return value


def _sortable(value: object) -> tuple[int, object]:
    if value is None:
        return (0, 0)  # SQL Server sorts NULL first in ascending order
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, bool):
        return (1, int(value))
    return (1, value)


class BillQuery:
    """One ExecuteBillQuery call over a state.

    Raises (from :meth:`run`):
        BusinessError: unknown form (MsgCode 4), empty FieldKeys (8), unknown field (9),
            a FilterString outside the subset (4), bad paging values (4).
    """

    def __init__(self, state: KingdeeState) -> None:
        self.state = state

    def run(self, data: object) -> tuple[list[str], list[list[object]]]:
        """The FieldKeys as asked and the rows, paged."""
        if not isinstance(data, dict):
            raise BusinessError("data 应为JSON对象", "", MsgCode.BAD_REQUEST)
        args = lower_keys(data)
        form_id = args.get("formid")
        form = FORMS.get(str(form_id).lower()) if isinstance(form_id, str) else None
        if form is None:
            raise BusinessError(f"业务对象“{form_id}”不存在", "FormId", MsgCode.BAD_REQUEST)
        raw_keys = args.get("fieldkeys")
        if isinstance(raw_keys, list):
            raw_keys = ",".join(str(k) for k in raw_keys)
        names = [k.strip() for k in str(raw_keys or "").split(",") if k.strip()]
        if not names:
            raise BusinessError("FieldKeys 不能为空", "FieldKeys", MsgCode.EMPTY_KEYS)
        keys = [self._resolve(form, n) for n in names]
        cache: dict[str, _Key] = {k.name.lower(): k for k in keys}

        def typer(name: str) -> FieldKind | None:
            key = cache.get(name.lower()) or _key(self.state, form, name)
            if key is None:
                return None
            cache[name.lower()] = key
            return key.kind

        try:
            flt = parse_filter(args.get("filterstring"), typer)
        except UnknownFieldError as exc:
            raise BusinessError(exc.message, exc.key, MsgCode.UNKNOWN_FIELD) from None
        except FilterError as exc:
            raise BusinessError(
                f"过滤条件错误：{exc}", "FilterString", MsgCode.BAD_REQUEST
            ) from None
        order = self._order(form, args.get("orderstring"), cache)
        used = [*keys, *(cache[k] for k in flt.keys), *(k for k, _ in order)]
        entries = {k.entry.key for k in used if k.entry is not None}
        if len(entries) > 1:
            raise BusinessError(
                "一次查询只能包含一个单据体的字段", "FieldKeys", MsgCode.BAD_REQUEST
            )
        entry = form.entry(entries.pop()) if entries else None
        rows = self._rows(self._heads(form, flt.floor, flt.lookup, cache), entry)
        matched = [(h, e) for h, e in rows if flt.matches(_resolver(cache, h, e))]
        for key, descending in reversed(order):
            matched.sort(key=_sorter(key), reverse=descending)
        matched = self._page(args, matched)
        return names, [[_render(k, k.get(h, e)) for k in keys] for h, e in matched]

    def _resolve(self, form: FormDef, name: str) -> _Key:
        key = _key(self.state, form, name)
        if key is None:
            raise BusinessError(f"元数据中标识为{name}的字段不存在", name, MsgCode.UNKNOWN_FIELD)
        return key

    def _order(
        self, form: FormDef, text: object, cache: dict[str, _Key]
    ) -> list[tuple[_Key, bool]]:
        if text in (None, ""):
            return [(self._resolve(form, form.pk), False)]
        if not isinstance(text, str):
            raise BusinessError("OrderString 应为字符串", "OrderString", MsgCode.BAD_REQUEST)
        out: list[tuple[_Key, bool]] = []
        for part in text.split(","):
            words = part.split()
            if not words:
                continue
            if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
                raise BusinessError(
                    f"排序条件“{part.strip()}”不正确（应为 字段 [ASC|DESC]）",
                    "OrderString",
                    MsgCode.BAD_REQUEST,
                )
            key = cache.get(words[0].lower()) or self._resolve(form, words[0])
            cache[words[0].lower()] = key
            out.append((key, len(words) == 2 and words[1].upper() == "DESC"))
        return out

    def _heads(
        self,
        form: FormDef,
        floor: Floor | None,
        lookup: Lookup | None,
        cache: Mapping[str, _Key],
    ) -> list[Row]:
        """The records the filter can match, in internal-id order: those it names by
        primary key, those from the floor on when it bounds a header field, else every
        record."""
        if (
            lookup is not None
            and cache[lookup.key].field == form.pk
            and all(type(v) is int for v in lookup.values)  # as the ids are stored
        ):
            return self.state.rows_by_id(form, lookup.values)
        if floor is not None and (field := cache[floor.key].field) is not None:
            return self.state.rows_from(form, field, floor.value)
        return self.state.rows(form)

    def _rows(self, heads: list[Row], entry: EntryDef | None) -> list[tuple[Row, Row | None]]:
        out: list[tuple[Row, Row | None]] = []
        for head in heads:
            if entry is None:
                out.append((head, None))
                continue
            stored = head.get(entry.key)
            lines: list[Row] = stored if isinstance(stored, list) else []
            if not lines:
                out.append((head, None))  # a bill without lines still shows (left join)
            out.extend((head, line) for line in lines)
        return out

    def _page(
        self, args: Mapping[str, object], rows: list[tuple[Row, Row | None]]
    ) -> list[tuple[Row, Row | None]]:
        top, start, limit = (
            _int_arg(args, "toprowcount"),
            _int_arg(args, "startrow"),
            _int_arg(args, "limit"),
        )
        if top > 0:
            rows = rows[:top]
        if limit <= 0:
            return rows[start:]  # Limit 0: every row from StartRow on
        return rows[start : start + min(limit, MAX_LIMIT)]


def _resolver(cache: Mapping[str, _Key], head: Row, line: Row | None) -> Resolver:
    def resolve(name: str) -> Value:
        return cache[name.lower()].get(head, line)  # type: ignore[return-value]  # stored values

    return resolve


def _sorter(key: _Key) -> Callable[[tuple[Row, Row | None]], tuple[int, object]]:
    return lambda r: _sortable(key.get(r[0], r[1]))


def _int_arg(args: Mapping[str, object], name: str) -> int:
    value = args.get(name)
    if value in (None, ""):
        return 0
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if isinstance(value, bool) or number < 0:
        raise BusinessError(f"参数 {name} 应为非负整数，却是“{value}”", name, MsgCode.BAD_REQUEST)
    return number


# --- View -----------------------------------------------------------------------------


def _view_name(key: str) -> str:
    return key[1:] if key[:1] in ("F", "f") and len(key) > 1 else key


def _view_value(state: KingdeeState, field: FieldDef, value: object, lcid: int) -> object:
    if field.kind is FieldKind.REF:
        target = FORMS[(field.ref or "").lower()]
        ref = None if value is None else state.get(target, value)
        if ref is None:
            return None
        return {
            "Id": ref[target.pk],
            "Number": ref.get("FNumber"),
            "Name": [{"Key": lcid, "Value": ref.get("FName")}],
        }
    if field.kind in (FieldKind.DATE, FieldKind.DATETIME):
        return render_stamp(value)
    return value


def view_of(state: KingdeeState, form: FormDef, row: Row, lcid: int) -> dict[str, object]:
    """The View answer's object: keys without the leading F, references expanded.

    The exact casing and nesting of a real View answer is [UNSURE] (reference §2.2);
    sub-heads are one-row lists, entries lists with ``Id`` for the entry id.
    """
    out: dict[str, object] = {"Id": row[form.pk]}
    subs: dict[str, dict[str, object]] = {s: {} for s in form.subheads}
    for field in form.fields:
        if field.key == form.pk:
            continue
        value = _view_value(state, field, row.get(field.key), lcid)
        if field.subhead:
            subs[field.subhead][_view_name(field.key)] = value
        else:
            out[_view_name(field.key)] = value
    for name, values in subs.items():
        out[_view_name(name)] = [values]
    for entry in form.entries:
        lines = []
        stored = row.get(entry.key)
        for line in stored if isinstance(stored, list) else []:
            item: dict[str, object] = {"Id": line[entry.id_key]}
            for field in entry.fields:
                item[_view_name(field.key)] = _view_value(state, field, line.get(field.key), lcid)
            lines.append(item)
        out[_view_name(entry.key)] = lines
    return out
