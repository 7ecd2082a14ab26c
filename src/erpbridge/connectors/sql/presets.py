"""Presets: the objects of known ERP databases, so a connection needs only a URL.

``u8``: old Yonyou U8 on SQL Server (``UFDATA_<account>_<year>``), tables and columns as
in the shared reference (yonyou.md §A7). Ids are the business codes (``cSOCode``,
``cCusCode``, ``cInvCode``), which is what U8's own import tools and the staging table key
on; ``SO_SOMain.ID`` stays a field and carries the order's lines from ``SO_SODetails``.
Changes are read by the modification time U8 keeps (``dmodifysystime``, ``dModifyDate``);
``CurrentStock`` has none, so it is read whole each time, or through change capture.
Yonyou does not support writing into these tables (they bypass U8's business rules), so
the preset defaults to staging writes (see ``settings.DIRECT_WRITE_WARNING``).
"""

from __future__ import annotations

from erpbridge.connectors.sql.settings import LinesSettings, ObjectSettings, SqlSettings

__all__ = ["PRESETS", "U8_OBJECTS", "objects_of"]

U8_OBJECTS: dict[str, ObjectSettings] = {
    "SO_SOMain": ObjectSettings(
        id_column="cSOCode",
        stamp_column="dmodifysystime",
        natural_keys=("cSOCode", "ID"),
        lines={
            "SO_SODetails": LinesSettings(
                table="SO_SODetails", parent_column="ID", parent_key="ID", order_by="iRowNo"
            )
        },
    ),
    "SO_SODetails": ObjectSettings(id_column="iSOsID", natural_keys=("iSOsID",)),
    "Customer": ObjectSettings(
        id_column="cCusCode", stamp_column="dModifyDate", natural_keys=("cCusCode",)
    ),
    "Inventory": ObjectSettings(id_column="cInvCode", natural_keys=("cInvCode",)),
    "CurrentStock": ObjectSettings(id_column="AutoID", read_only=True),
}

#: preset name -> its objects.
PRESETS: dict[str, dict[str, ObjectSettings]] = {"u8": U8_OBJECTS}


def objects_of(settings: SqlSettings) -> dict[str, ObjectSettings]:
    """The connection's objects: the preset's, overridden entry by entry by ``objects``."""
    merged = dict(PRESETS.get(settings.preset or "", {}))
    merged.update(settings.objects)
    return merged
