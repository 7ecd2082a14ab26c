"""The xref ("this CRM id is that ERP id") and the echo hashes, read and written in batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from erpbridge.store.json_codec import dumps
from erpbridge.store.match import one_of, unnest_values
from erpbridge.store.schema import echo_hashes, xref, xref_keys

__all__ = [
    "EchoHash",
    "KeyRef",
    "Side",
    "XrefKey",
    "forget_pairs",
    "load_echo_hashes",
    "lookup_source_keys",
    "lookup_xrefs",
    "save_echo_hashes",
    "save_source_keys",
    "save_xrefs",
]

#: (entity, source connection, key field) of a lookup by natural key
KeyRef = tuple[str, str, str]

#: (entity, source connection, target connection)
XrefKey = tuple[str, str, str]

_CHUNK = 500
#: the length of xref_keys.key_value and source_id.
_KEY_CHARS = 255


def _upsert(
    conn: Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert ``rows``; a row whose ``keys`` exist replaces the ``update`` columns.

    On PostgreSQL one statement for all rows, their values as one JSON parameter unpacked
    by ``json_to_recordset`` (as engine/queue_json.py does for jobs): an executemany ran
    one INSERT per row, 12,500 of each of the xref and the echo hashes for 6,000 round
    trips, each parsed, bound and planned on its own (docs/performance.md).
    """
    if conn.dialect.name == "postgresql":
        names = list(rows[0])
        values = (
            sa.func.json_to_recordset(
                sa.cast(sa.bindparam("rows", dumps(rows), type_=sa.Text), postgresql.JSON)
            )
            .table_valued(*(sa.column(name, table.c[name].type) for name in names))
            .render_derived("v", with_types=True)
        )
        pg = postgresql.insert(table).from_select(names, sa.select(*values.c))
        conn.execute(
            pg.on_conflict_do_update(
                index_elements=list(keys), set_={name: pg.excluded[name] for name in update}
            )
        )
        return
    statement = sqlite.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in update},
    )
    conn.execute(statement, rows)


def _lookup(
    conn: Connection, key: XrefKey, ids: Iterable[str], *, by_target: bool
) -> dict[str, str]:
    entity, source_connection, target_connection = key
    known, wanted = (
        (xref.c.target_id, xref.c.source_id) if by_target else (xref.c.source_id, xref.c.target_id)
    )
    unique = sorted(set(ids))
    found: dict[str, str] = {}
    for start in range(0, len(unique), _CHUNK):
        rows = conn.execute(
            sa.select(known, wanted).where(
                xref.c.entity == entity,
                xref.c.source_connection == source_connection,
                xref.c.target_connection == target_connection,
                one_of(conn, known, unique[start : start + _CHUNK]),
            )
        )
        found.update({str(k): str(w) for k, w in rows})
    return found


def lookup_xrefs(conn: Connection, key: XrefKey, source_ids: Iterable[str]) -> dict[str, str]:
    """source id -> target id for the ids that have an xref (one query per 500 ids)."""
    return _lookup(conn, key, source_ids, by_target=False)


def lookup_reverse_xrefs(
    conn: Connection, key: XrefKey, target_ids: Iterable[str]
) -> dict[str, str]:
    """target id -> source id, for a flow running the other way on the same entity.

    ``key`` is (entity, source connection, target connection) of the *original* direction;
    a CRM -> ERP customer flow's xref answers the ERP -> CRM flow's question "which CRM
    account is this ERP customer?".
    """
    return _lookup(conn, key, target_ids, by_target=True)


def save_xrefs(conn: Connection, key: XrefKey, pairs: Mapping[str, str], now: datetime) -> None:
    """Record source id -> target id pairs (insert or update), in the caller's transaction."""
    if not pairs:
        return
    entity, source_connection, target_connection = key
    rows = [
        {
            "entity": entity,
            "source_connection": source_connection,
            "source_id": source_id,
            "target_connection": target_connection,
            "target_id": target_id,
            "created_at": now,
            "updated_at": now,
        }
        for source_id, target_id in sorted(pairs.items())
    ]
    _upsert(
        conn,
        xref,
        rows,
        ["entity", "source_connection", "source_id", "target_connection"],
        ["target_id", "updated_at"],
    )


def lookup_source_keys(conn: Connection, ref: KeyRef, values: Iterable[str]) -> dict[str, set[str]]:
    """key value -> the source ids known to hold it (more than one: the key is ambiguous)."""
    entity, source_connection, key_field = ref
    unique = sorted(set(values))
    found: dict[str, set[str]] = {}
    for start in range(0, len(unique), _CHUNK):
        rows = conn.execute(
            sa.select(xref_keys.c.key_value, xref_keys.c.source_id).where(
                xref_keys.c.entity == entity,
                xref_keys.c.source_connection == source_connection,
                xref_keys.c.key_field == key_field,
                one_of(conn, xref_keys.c.key_value, unique[start : start + _CHUNK]),
            )
        )
        for value, source_id in rows:
            found.setdefault(str(value), set()).add(str(source_id))
    return found


def save_source_keys(
    conn: Connection, ref: KeyRef, keys: Mapping[str, str | None], now: datetime
) -> None:
    """Remember source id -> its key value (insert or replace); None forgets the record's key."""
    entity, source_connection, key_field = ref
    gone = sorted(sid for sid, value in keys.items() if value in (None, ""))
    for start in range(0, len(gone), _CHUNK):
        conn.execute(
            xref_keys.delete().where(
                xref_keys.c.entity == entity,
                xref_keys.c.source_connection == source_connection,
                xref_keys.c.key_field == key_field,
                one_of(conn, xref_keys.c.source_id, gone[start : start + _CHUNK]),
            )
        )
    rows = [
        {
            "entity": entity,
            "source_connection": source_connection,
            "key_field": key_field,
            "source_id": source_id,
            "key_value": value,
            "updated_at": now,
        }
        for source_id, value in sorted(keys.items())
        # Longer keys than the column holds are not kept: they are found again each time.
        if value and len(value) <= _KEY_CHARS and len(source_id) <= _KEY_CHARS
    ]
    if not rows:
        return
    _upsert(
        conn,
        xref_keys,
        rows,
        ["entity", "source_connection", "key_field", "source_id"],
        ["key_value", "updated_at"],
    )


@dataclass(frozen=True, slots=True)
class EchoHash:
    """What one flow last wrote to one record.

    Attributes:
        hash: SHA-256 of the whole payload (``fields_hash``).
        fields: field name -> digest of the value written (``field_digests``); None for
            a row from before migration 0005, of which only the whole hash is known.
        version: the record's version after the write, when the system told it.
        flow: the flow that wrote ('' for a row from before migration 0005).
        written_at: when the write was committed (None until it is).
    """

    hash: str
    fields: Mapping[str, str | None]
    version: str | None = None
    flow: str = ""
    written_at: datetime | None = None


_ECHO_COLUMNS = ("record_id", "flow", "hash", "fields", "version", "written_at")


def _echo_statement(*, others: bool) -> sa.Select[Any]:
    """PostgreSQL's form of :func:`load_echo_hashes`: one probe of the primary key
    (connection, object, record id, flow) per record, whatever the planner knows. Planned
    from statistics, ``record_id = ANY`` without them read every echo hash of the object
    for each page (5 ms a page at 6,000 orders, growing with the records written)."""
    w = unnest_values("w", id=echo_hashes.c.record_id)
    where = [
        echo_hashes.c.connection == sa.bindparam("connection"),
        echo_hashes.c.object == sa.bindparam("object"),
        echo_hashes.c.record_id == w.c.id,
    ]
    if others:
        where.append(echo_hashes.c.flow != sa.bindparam("flow"))
    per_id = sa.select(*(echo_hashes.c[name] for name in _ECHO_COLUMNS)).where(*where).lateral("e")
    return sa.select(*(per_id.c[name] for name in _ECHO_COLUMNS)).select_from(
        w.join(per_id, sa.true())
    )


_PG_ECHOES = {others: _echo_statement(others=others) for others in (False, True)}


def load_echo_hashes(
    conn: Connection,
    connection: str,
    object_name: str,
    record_ids: Iterable[str],
    *,
    other_than: str | None = None,
) -> dict[str, list[EchoHash]]:
    """record id -> what each flow (but ``other_than``) last wrote to it (one query per
    500 records)."""
    ids = sorted(set(record_ids))
    found: dict[str, list[EchoHash]] = {}
    others = echo_hashes.c.flow != other_than if other_than is not None else sa.true()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                _PG_ECHOES[other_than is not None],
                {"connection": connection, "object": object_name, "w_id": chunk}
                | ({"flow": other_than} if other_than is not None else {}),
            )
        else:
            rows = conn.execute(
                sa.select(*(echo_hashes.c[name] for name in _ECHO_COLUMNS)).where(
                    echo_hashes.c.connection == connection,
                    echo_hashes.c.object == object_name,
                    echo_hashes.c.record_id.in_(chunk),
                    others,
                )
            )
        for row in rows:
            fields = row.fields
            if not isinstance(fields, dict):  # a field list, as written before 0005
                fields = dict.fromkeys(fields or ())
            echo = EchoHash(str(row.hash), fields, row.version, str(row.flow), row.written_at)
            found.setdefault(str(row.record_id), []).append(echo)
    return found


def save_echo_hashes(
    conn: Connection,
    connection: str,
    object_name: str,
    flow: str,
    hashes: Mapping[str, EchoHash],
    now: datetime,
) -> None:
    """Remember what ``flow`` wrote to these records (insert or replace its rows)."""
    if not hashes:
        return
    rows = [
        {
            "connection": connection,
            "object": object_name,
            "record_id": record_id,
            "flow": flow,
            "hash": echo.hash,
            "fields": dict(echo.fields),
            "version": echo.version,
            "written_at": now,
        }
        for record_id, echo in sorted(hashes.items())
    ]
    _upsert(
        conn,
        echo_hashes,
        rows,
        ["connection", "object", "record_id", "flow"],
        ["hash", "fields", "version", "written_at"],
    )


#: (connection, object) of one side of a flow
Side = tuple[str, str]


def forget_pairs(
    conn: Connection,
    entity: str,
    sides: tuple[Side, Side],
    pairs: Mapping[str, str],
    *,
    source_gone: bool,
) -> None:
    """Forget pairs of records whose target record no longer exists, in the caller's
    transaction.

    ``sides`` are the (connection, object) of the source and of the target; ``pairs`` is
    source id -> target id. Forgotten: the xref rows of ``entity`` that link the two
    records in either direction (the flow's own and the other direction's of a two-way
    entity); the target record's natural keys (``xref_keys``) and every flow's echo
    hashes on it; and, when ``source_gone`` (the source record was deleted too), the same
    for the source record.
    """
    (source_connection, source_object), (target_connection, target_object) = sides
    items = sorted(pairs.items())
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        source_ids = sorted({source_id for source_id, _ in chunk})
        target_ids = sorted({target_id for _, target_id in chunk})
        conn.execute(
            xref.delete().where(
                xref.c.entity == entity,
                sa.or_(
                    *(
                        sa.and_(
                            xref.c.source_connection == here,
                            xref.c.target_connection == there,
                            sa.or_(
                                one_of(conn, xref.c.source_id, mine),
                                one_of(conn, xref.c.target_id, theirs),
                            ),
                        )
                        for here, there, mine, theirs in (
                            (source_connection, target_connection, source_ids, target_ids),
                            (target_connection, source_connection, target_ids, source_ids),
                        )
                    )
                ),
            )
        )
        gone = [(target_connection, target_object, target_ids)]
        if source_gone:
            gone.append((source_connection, source_object, source_ids))
        for connection, object_name, ids in gone:
            conn.execute(
                xref_keys.delete().where(
                    xref_keys.c.entity == entity,
                    xref_keys.c.source_connection == connection,
                    one_of(conn, xref_keys.c.source_id, ids),
                )
            )
            conn.execute(
                echo_hashes.delete().where(
                    echo_hashes.c.connection == connection,
                    echo_hashes.c.object == object_name,
                    one_of(conn, echo_hashes.c.record_id, ids),
                )
            )
