"""Payloads into records: checked values, one record shape, change stamps, SAP's messages.

:class:`RecordRules` is the base of the simulator's business rules (orders.py, rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time

from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.model import EntitySetDef
from erpbridge.sims.sap.state import Row, SapState
from erpbridge.sims.sap.wire import decode_json

__all__ = ["RecordRules", "midnight", "missing", "nav_list", "not_found"]


def midnight(stamp: datetime) -> datetime:
    """The day of ``stamp`` at 00:00 (SAP's date-only fields)."""
    return stamp.replace(hour=0, minute=0, second=0, microsecond=0)


class RecordRules:
    """What every entity set shares: payload checks, completion and change stamps."""

    def __init__(self, state: SapState) -> None:
        self.state = state

    def _fields(
        self, entity_set: EntitySetDef, payload: Mapping[str, object], *, creating: bool
    ) -> tuple[Row, dict[str, object]]:
        """Split a payload into checked property values and navigation payloads."""
        values: Row = {}
        navs: dict[str, object] = {}
        for name, raw in payload.items():
            if name == "__metadata":
                continue
            if name in entity_set.nav_by_name:
                navs[name] = raw
                continue
            prop = entity_set.prop_by_name.get(name)
            if prop is None:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/021",
                    f"Property '{name}' is invalid for entity type '{entity_set.type_name}'",
                    target=name,
                )
            # Gateway ignores values of fields the client may not set (sap:creatable="false").
            if creating and not prop.creatable:
                continue
            values[name] = decode_json(entity_set, prop, raw)
        return values, navs

    def _complete(self, entity_set: EntitySetDef, row: Row) -> Row:
        """Fill every property (missing ones as null) so all records have one shape."""
        return {p.name: row.get(p.name) for p in entity_set.props}

    def _touch(self, entity_set: EntitySetDef, row: Row) -> None:
        now = self.state.clock()
        props = entity_set.prop_by_name
        if "LastChangeDateTime" in props:
            row["LastChangeDateTime"] = now
        if "LastChangeDate" in props:
            row["LastChangeDate"] = midnight(now)
        if "LastChangeTime" in props:
            row["LastChangeTime"] = time(now.hour, now.minute, now.second)
        if "ETag" in props:
            row["ETag"] = now.strftime("%Y%m%d%H%M%S.") + f"{now.microsecond:06d}0"


def nav_list(raw: object, name: str) -> list[Mapping[str, object]]:
    """A deep-insert payload: a bare list (pyodata) or ``{"results": [...]}`` (SAP UI5)."""
    if raw is None:
        return []
    if isinstance(raw, Mapping) and "results" in raw:
        raw = raw["results"]
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        raise ODataError(
            400,
            "/IWBEP/CM_MGW_RT/021",
            f"Navigation property '{name}' must hold a list of entities for a deep insert",
            target=name,
        )
    return raw


def missing(entity_set: EntitySetDef, name: str) -> ODataError:
    """400: a required property was not given."""
    return ODataError(
        400,
        "/IWBEP/CM_MGW_RT/024",
        f"Property '{name}' of '{entity_set.type_name}' is required but was not given",
        target=name,
    )


def not_found(set_name: str, key: object) -> ODataError:
    """404: no such entity."""
    return ODataError(
        404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{set_name}' {key}"
    )
