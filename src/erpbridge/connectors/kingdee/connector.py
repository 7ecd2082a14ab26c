"""The spi operations for Kingdee K/3 Cloud over its WebAPI (DynamicFormService)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import timedelta

import httpx
import structlog

from erpbridge.connectors.kingdee.client import KingdeeClient, response_status
from erpbridge.connectors.kingdee.cursor import (
    after_filter,
    and_filters,
    from_server_text,
    quote,
    to_server_text,
)
from erpbridge.connectors.kingdee.describe import FormInfo, parse_business_info
from erpbridge.connectors.kingdee.errors import SYSTEM, classify_items
from erpbridge.connectors.kingdee.settings import KingdeeSettings
from erpbridge.connectors.kingdee.writer import Writer, chunks, errors_of
from erpbridge.spi.errors import ConnectorError, ValidationError
from erpbridge.spi.records import (
    ChangePage,
    CheckResult,
    Cursor,
    Record,
    WriteOp,
    WriteResult,
)
from erpbridge.spi.schema import Catalog, FieldType

__all__ = ["MAX_QUERY_ROWS", "KingdeeConnector"]

#: Kingdee documents Limit <= 2000 rows per ExecuteBillQuery.
MAX_QUERY_ROWS = 2000
#: ids or keys per ``IN (...)`` filter.
_IN_CHUNK = 200
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

_log = structlog.get_logger(__name__)

#: a JSON value (an alias, because the spi methods take a parameter called ``object``).
_Value = object


class KingdeeConnector:
    """One connection to a K/3 Cloud data centre.

    Args:
        settings: the connection.
        http: the HTTP client (the caller closes it).
        client: a ready wire client (tests); default: made from ``settings`` and ``http``.
    """

    system = SYSTEM

    def __init__(
        self,
        settings: KingdeeSettings,
        http: httpx.AsyncClient,
        client: KingdeeClient | None = None,
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.client = client or KingdeeClient(settings, http)
        self._forms: dict[str, FormInfo] = {}
        self._writer = Writer(self.client, settings, self.find)

    # --- check / describe -------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Authenticate, read the first form's metadata and one record. Never raises."""
        form = self.settings.forms[0] if self.settings.forms else "BD_Customer"
        try:
            info = await self._info(form)
            await self._query(info, [info.pk], None, order=None, limit=1)
        except ConnectorError as exc:
            return CheckResult(False, str(exc), {"error": type(exc).__name__})
        return CheckResult(True, "", {"auth": self.settings.auth, "acct_id": self.settings.acct_id})

    async def describe(self) -> Catalog:
        """Every configured form's fields, from QueryBusinessInfo."""
        objects = {}
        for form in self.settings.forms:
            info = await self._info(form)
            objects[info.schema.name] = info.schema
        return Catalog(objects)

    async def _info(self, form: str) -> FormInfo:
        cached = self._forms.get(form.lower())
        if cached is not None:
            return cached
        answer = await self.client.form_call(
            "QueryBusinessInfo", {"data": {"FormId": form}}, form=form
        )
        status = response_status(answer)
        if status is not None and status.get("IsSuccess") is False:
            raise classify_items(errors_of(status), status.get("MsgCode"), form=form)
        info = parse_business_info(form, answer)
        self._forms[form.lower()] = info
        return info

    # --- reading ----------------------------------------------------------------------

    async def _query(
        self,
        info: FormInfo,
        keys: Sequence[str],
        filter_string: str | None,
        *,
        order: str | None,
        limit: int,
    ) -> list[list[object]]:
        data: dict[str, _Value] = {
            "FormId": info.schema.name,
            "FieldKeys": ",".join(keys),
            "FilterString": filter_string or "",
            "OrderString": order or "",
            "TopRowCount": 0,
            "StartRow": 0,
            "Limit": limit,
        }
        answer = await self.client.form_call(
            "ExecuteBillQuery", {"data": data}, form=info.schema.name
        )
        return _rows_of(answer, len(keys), info.schema.name)

    def _header_keys(self, info: FormInfo) -> list[str]:
        keys = [info.pk]
        for f in info.header:
            if f.name == info.pk:
                continue
            keys.append(f"{f.name}.FNumber" if f.type is FieldType.REFERENCE else f.name)
        return keys

    async def _records(self, info: FormInfo, rows: list[list[object]]) -> list[Record]:
        keys = self._header_keys(info)
        heads: list[dict[str, _Value]] = []
        for row in rows:
            fields = {(k.split(".")[0]): v for k, v in zip(keys, row, strict=False)}
            heads.append(fields)
        if info.entries and heads:
            await self._attach_lines(info, heads)
        return [self._record(info, h) for h in heads]

    def _record(self, info: FormInfo, fields: dict[str, _Value]) -> Record:
        stamp_text = fields.get(info.stamp_key) if info.stamp_key else None
        stamp = from_server_text(stamp_text, self.settings.server_utc_offset_min)
        version = str(stamp_text) if stamp_text else _digest(fields)
        return Record(info.schema.name, str(fields[info.pk]), fields, version, stamp)

    async def _attach_lines(self, info: FormInfo, heads: list[dict[str, _Value]]) -> None:
        by_id = {h[info.pk]: h for h in heads}
        for entry in info.entries.values():
            keys = [info.pk, f"{entry.key}_{entry.id_key}"]
            keys += [
                f"{f.name}.FNumber" if f.type is FieldType.REFERENCE else f.name
                for f in entry.fields
            ]
            for head in heads:
                head[entry.key] = []
            for chunk in chunks(list(by_id), _IN_CHUNK):
                ids = ",".join(quote(i) for i in chunk)
                start = 0
                while True:
                    rows = await self._page(
                        info, keys, f"{info.pk} IN ({ids})", f"{info.pk} ASC", start
                    )
                    for row in rows:
                        if row[1] in (None, 0):
                            continue  # a bill without lines (left join row)
                        line = {entry.id_key: row[1]}
                        line.update(
                            {k.split(".")[0]: v for k, v in zip(keys[2:], row[2:], strict=False)}
                        )
                        lines = by_id[row[0]][entry.key]
                        if isinstance(lines, list):
                            lines.append(line)
                    if len(rows) < MAX_QUERY_ROWS:
                        break
                    start += MAX_QUERY_ROWS

    async def _page(
        self, info: FormInfo, keys: list[str], flt: str, order: str, start: int
    ) -> list[list[object]]:
        data: dict[str, _Value] = {
            "FormId": info.schema.name,
            "FieldKeys": ",".join(keys),
            "FilterString": flt,
            "OrderString": order,
            "TopRowCount": 0,
            "StartRow": start,
            "Limit": MAX_QUERY_ROWS,
        }
        answer = await self.client.form_call(
            "ExecuteBillQuery", {"data": data}, form=info.schema.name
        )
        return _rows_of(answer, len(keys), info.schema.name)

    async def read_changes(
        self,
        object: str,
        cursor: Cursor | None,
        page_size: int,
        fields: Collection[str] | None = None,
    ) -> AsyncIterator[ChangePage]:
        """Pages in (FModifyDate, id) order from ``cursor.read_from``, read by keyset.

        Forms without a modify stamp (``STK_Inventory``) are read whole, in id order,
        every time (a snapshot; versions are content digests); their pages carry no cursor.
        """
        info = _narrowed(await self._info(object), fields)
        limit = max(1, min(page_size, MAX_QUERY_ROWS))
        offset = self.settings.server_utc_offset_min
        keys = self._header_keys(info)
        stamp_key = info.stamp_key
        extra = self.settings.read_filters.get(info.schema.name)
        start = None
        if cursor is not None and stamp_key:
            start = f"{stamp_key} >= {quote(to_server_text(cursor.read_from, offset))}"
        order = f"{stamp_key} ASC, {info.pk} ASC" if stamp_key else f"{info.pk} ASC"
        current = cursor
        after: str | None = None
        while True:
            rows = await self._query(
                info, keys, and_filters(start, extra, after), order=order, limit=limit
            )
            records = await self._records(info, rows)
            for record in records:
                if record.stamp is not None:
                    current = (
                        current.advance(record.stamp, record.id)
                        if current is not None
                        else Cursor(record.stamp, record.id, self._overlap())
                    )
            has_more = len(rows) == limit
            yield ChangePage(records, current if stamp_key else None, has_more)
            if not has_more:
                return
            last = rows[-1]
            if stamp_key:
                after = after_filter(stamp_key, info.pk, str(last[keys.index(stamp_key)]), last[0])
            else:
                after = f"{info.pk} > {quote(last[0])}"

    def _overlap(self) -> timedelta:
        return timedelta(seconds=self.settings.overlap_s)

    async def get(
        self, object: str, ids: Sequence[str], fields: Collection[str] | None = None
    ) -> list[Record]:
        """The records with these internal ids; unknown ids are absent."""
        info = _narrowed(await self._info(object), fields)
        pk_field = info.header_field(info.pk)
        numeric = pk_field is None or pk_field.type is FieldType.INTEGER
        wanted = [int(i) if numeric else i for i in ids if not numeric or str(i).isdigit()]
        return await self._lookup(info, info.pk, wanted)

    async def find(self, object: str, key_field: str, values: Sequence[object]) -> list[Record]:
        """Records whose ``key_field`` is one of ``values``.

        ``key_field`` is a header field (``FNumber``, ``FBillNo``) or a reference path
        (``FCustId.FNumber``); a bare reference field compares its number.
        """
        info = await self._info(object)
        head = key_field.split(".")[0]
        if not _KEY.match(key_field) or info.header_field(head) is None:
            raise ValidationError(
                f"{key_field!r} 不是表单 {info.schema.name} 的表头字段",
                field=key_field,
                system=SYSTEM,
                object=info.schema.name,
            )
        ref = info.header_field(head)
        if ref is not None and ref.type is FieldType.REFERENCE and "." not in key_field:
            key_field = f"{key_field}.FNumber"
        return await self._lookup(info, key_field, [v for v in values if v is not None])

    async def _lookup(self, info: FormInfo, key: str, values: Sequence[object]) -> list[Record]:
        out: list[Record] = []
        keys = self._header_keys(info)
        for chunk in chunks(list(dict.fromkeys(values)), _IN_CHUNK):
            flt = f"{key} IN ({','.join(quote(v) for v in chunk)})"
            after: str | None = None
            while True:  # a key can match more than one page (bills of one customer)
                rows = await self._query(
                    info,
                    keys,
                    and_filters(flt, after),
                    order=f"{info.pk} ASC",
                    limit=MAX_QUERY_ROWS,
                )
                out += await self._records(info, rows)
                if len(rows) < MAX_QUERY_ROWS:
                    break
                after = f"{info.pk} > {quote(rows[-1][0])}"
        return out

    # --- writing ----------------------------------------------------------------------

    async def write(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """BatchSave creates and updates, Delete deletes; one result per op, in order.

        Upserts without a target id look their natural key up first (``find``); see
        writer.py for ``submit_and_audit`` and ``unaudit_to_update``.
        """
        info = await self._info(object)
        return await self._writer.write(info, ops)

    async def aclose(self) -> None:
        """Nothing to release: sessions expire on the server; the caller closes ``http``."""


def _narrowed(info: FormInfo, fields: Collection[str] | None) -> FormInfo:
    """``info`` with only the header fields and entries (单据体) ``fields`` asks for.

    The spi's hint: ``FieldKeys`` then lists those (plus the id and the modify stamp the
    record is made of), and an entry nobody asked for costs no query. Names are matched
    by key or label, in any case, as the form's own keys are. None keeps everything.
    """
    if fields is None:
        return info
    asked = {name.lower() for name in fields}

    def wanted(name: str, label: str = "") -> bool:
        return name.lower() in asked or (bool(label) and label.lower() in asked)

    keep = {info.pk.lower(), (info.stamp_key or "").lower()}
    header = tuple(f for f in info.header if f.name.lower() in keep or wanted(f.name, f.label))
    entries = {k: e for k, e in info.entries.items() if wanted(e.key, e.label)}
    return dataclasses.replace(info, header=header, entries=entries)


def _rows_of(answer: _Value, width: int, form: str) -> list[list[_Value]]:
    """The rows of an ExecuteBillQuery answer, each ``width`` values with a primary key.

    Raises:
        ConnectorError (classified): the answer is Kingdee's wrapped error.
        ConnectorError: anything else that is not such rows (quoted, shortened).
    """
    status = response_status(answer)
    if status is not None:
        raise classify_items(errors_of(status), status.get("MsgCode"), form=form)
    if isinstance(answer, list) and all(
        isinstance(r, list) and len(r) == width and isinstance(r[0], int | str) and r[0] != ""
        for r in answer
    ):
        return answer  # checked just above
    raise ConnectorError(
        f"ExecuteBillQuery 的回答不是 {width} 列、首列为内码的二维数组",
        system=SYSTEM,
        object=form,
        raw=json.dumps(answer, ensure_ascii=False)[:500],
    )


def _digest(fields: Mapping[str, _Value]) -> str:
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
