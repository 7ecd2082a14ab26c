"""Goods movements: posting a material document changes the stock (API_MATERIAL_DOCUMENT_SRV).

``POST A_MaterialDocumentHeader`` with its items (deep insert of ``to_MaterialDocumentItem``)
posts one material document, all items or none, as ``BAPI_GOODSMVT_CREATE`` /
``MIGO`` do: each item's movement type says which stock goes up or down
(``A_MatlStkInAcctMod`` per material, plant, storage location, batch and stock type), the
header's ``GoodsMovementCode`` says which kind of transaction it is.

What is documented (SAP API Business Hub "Material Documents - Read, Create", the
service's ``$metadata``, SAP KBA 3027233's sample payload, the BAPI's GM_CODE values):
- goods movement codes ``01`` GR for purchase order, ``02`` GR for production order,
  ``03`` goods issue, ``04`` transfer posting, ``05`` other goods receipts, ``06``
  reversal of goods movements, ``07`` GR for subsequent adjustment of a subcontract order;
- movement types ``561`` initial entry of stock balances and ``501`` receipt without
  purchase order (into unrestricted-use stock), ``201`` goods issue for a cost center,
  ``261`` for an order, ``551`` scrapping, ``311`` transfer between storage locations of
  a plant, ``301`` between plants, ``321``/``322`` quality inspection ↔ unrestricted use,
  and each one's reversal type (+1: ``562``, ``502``, ``202``, ``262``, ``552``, ``312``, ``302``);
- an issue beyond the stock fails with message M7 021 "Deficit of SL Unrestricted-use
  <quantity> <unit> : <material> <plant> <storage location>" and nothing is posted;
- a transfer posting yields two document lines: the issuing one as sent and the receiving
  one, created automatically (``IsAutomaticallyCreated`` ``X``).

Modelled, not checked against a system (UNSURE, listed in README.md): the message codes
and texts other than M7/021 (``M3/305`` unknown material, ``M7/…`` others), which movement
types each goods movement code accepts, the number range (``49…`` for every document,
since the simulator has no purchase orders: movement type ``101`` is refused), item
numbers without leading zeros (``"1"``, ``"2"``), the plants and storage locations known,
no unit conversion (only the material's base unit) and no special stock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from decimal import Decimal

from erpbridge.sims.sap.entity import EntitySetDef
from erpbridge.sims.sap.errors import ODataError
from erpbridge.sims.sap.records import RecordRules, midnight, missing, nav_list
from erpbridge.sims.sap.state import Key, Row

__all__ = ["MOVEMENTS", "PLANTS", "GoodsMovements", "Movement"]

#: plant -> its storage locations (S/4HANA best-practice sample org; UNSURE for yours).
PLANTS: dict[str, tuple[str, ...]] = {
    "1710": ("171A", "171B", "171C"),
    "1310": ("131A", "131B"),
}
#: stock type codes (A_MatlStkInAcctMod.InventoryStockType) and their names in M7 021.
_STOCK_NAMES = {"01": "Unrestricted-use", "02": "Quality inspection", "07": "Blocked stock"}
#: the first number of the material document number range.
_FIRST_DOCUMENT = 4900000000


@dataclass(frozen=True, slots=True)
class Movement:
    """What one movement type does to the stock.

    Attributes:
        codes: goods movement codes it may be posted with.
        sign: +1 a receipt, -1 an issue, 0 a transfer posting.
        stock_type: the stock type received into or issued from (the issuing one of a
            transfer).
        to_stock_type: the receiving stock type of a transfer posting.
        transfer: ``sloc`` (to ``IssuingOrReceivingStorageLoc`` in the same plant),
            ``plant`` (to ``IssuingOrReceivingPlant``) or ``""`` (same place, other type).
        reverse: a reversal type moves the other way (312 back from the receiving side).
        needs: the account assignment fields the item must carry.
    """

    codes: frozenset[str]
    sign: int
    stock_type: str = "01"
    to_stock_type: str = "01"
    transfer: str | None = None
    reverse: bool = False
    needs: tuple[str, ...] = ()


def _m(codes: str, sign: int, **kw: object) -> Movement:
    return Movement(frozenset(codes.split()), sign, **kw)  # type: ignore[arg-type]  # Movement kwargs


MOVEMENTS: dict[str, Movement] = {
    "501": _m("05", +1),
    "502": _m("05 06", -1),
    "561": _m("05", +1),
    "562": _m("05 06", -1),
    "201": _m("03", -1, needs=("CostCenter",)),
    "202": _m("03 06", +1, needs=("CostCenter",)),
    "261": _m("03", -1, needs=("ManufacturingOrder",)),
    "262": _m("03 06", +1, needs=("ManufacturingOrder",)),
    "551": _m("03", -1, needs=("CostCenter",)),
    "552": _m("03 06", +1, needs=("CostCenter",)),
    "311": _m("04", 0, transfer="sloc", needs=("IssuingOrReceivingStorageLoc",)),
    "312": _m("04 06", 0, transfer="sloc", reverse=True, needs=("IssuingOrReceivingStorageLoc",)),
    "301": _m("04", 0, transfer="plant", needs=("IssuingOrReceivingPlant",)),
    "302": _m("04 06", 0, transfer="plant", reverse=True, needs=("IssuingOrReceivingPlant",)),
    "321": _m("04", 0, stock_type="02", to_stock_type="01", transfer=""),
    "322": _m("04 06", 0, stock_type="02", to_stock_type="01", transfer="", reverse=True),
}
_GOODS_MOVEMENT_CODES = {"01", "02", "03", "04", "05", "06", "07"}


def _error(code: str, message: str, target: str = "") -> ODataError:
    return ODataError(400, code, message, target=target)


def _amount(value: Decimal) -> str:
    """A quantity as SAP prints it in messages (no trailing zeros: ``8``, ``2.5``)."""
    text = f"{value.normalize():f}"
    return text


@dataclass(frozen=True, slots=True)
class _Place:
    plant: str
    sloc: str
    batch: str
    stock_type: str


class GoodsMovements(RecordRules):
    """Posts material documents and keeps ``A_MaterialStock``/``A_MatlStkInAcctMod`` in step."""

    def post(self, header_set: EntitySetDef, values: Row, navs: Mapping[str, object]) -> Row:
        """Post one material document (call inside ``state.transaction()``).

        Raises:
            ODataError: 400 with SAP's message; the caller's transaction undoes every change.
        """
        code = str(values.get("GoodsMovementCode") or "")
        if not code:
            raise missing(header_set, "GoodsMovementCode")
        if code not in _GOODS_MOVEMENT_CODES:
            raise _error(
                "M7/308",
                f"Goods movement code {code} is not defined (use 01-07)",
                "GoodsMovementCode",
            )
        raw_items = nav_list(navs.get("to_MaterialDocumentItem"), "to_MaterialDocumentItem")
        if not raw_items:
            raise _error("M7/022", "Document contains no items", "to_MaterialDocumentItem")
        now = self.state.clock()
        posting = values.get("PostingDate") or midnight(now)
        year = str(posting.year)  # type: ignore[union-attr]  # a datetime (decode_json)
        number = str(self._next_number())
        header = self._complete(
            header_set,
            {
                **values,
                "MaterialDocumentYear": year,
                "MaterialDocument": number,
                "PostingDate": posting,
                "DocumentDate": values.get("DocumentDate") or posting,
                "InventoryTransactionType": "WE" if code in ("01", "02", "07") else "WA",
                "CreationDate": midnight(now),
                "CreationTime": time(now.hour, now.minute, now.second),
                "CreatedByUser": "CC_ERPBRIDGE",
            },
        )
        self.state.put(header_set.name, header)
        item_set = self.state.sets["A_MaterialDocumentItem"]
        line = 0
        for position, raw in enumerate(raw_items, start=1):
            fields, _ = self._fields(item_set, raw, creating=True)
            for item in self._post_item(item_set, code, position, fields):
                line += 1
                item.update(
                    MaterialDocumentYear=year,
                    MaterialDocument=number,
                    MaterialDocumentItem=str(line),
                    MaterialDocumentLine=str(line),
                    GoodsMovementIsCancelled=False,
                )
                if item.get("IsAutomaticallyCreated") == "X":
                    item["MaterialDocumentParentLine"] = str(line - 1)
                self.state.put(item_set.name, self._complete(item_set, item))
        return header

    def _next_number(self) -> int:
        """The next material document number; after a restart, past the highest stored."""
        if "MaterialDocument" not in self.state.counters:
            stored = [
                int(str(r["MaterialDocument"]))
                for r in self.state.tables["A_MaterialDocumentHeader"].values()
                if str(r.get("MaterialDocument") or "").isdigit()
            ]
            self.state.counters["MaterialDocument"] = max([_FIRST_DOCUMENT - 1, *stored]) + 1
        return self.state.next_number("MaterialDocument", _FIRST_DOCUMENT)

    def _post_item(self, item_set: EntitySetDef, code: str, position: int, item: Row) -> list[Row]:
        """Check one item, move its stock; the document lines it makes (two for a transfer)."""
        kind = str(item.get("GoodsMovementType") or "")
        if not kind:
            raise missing(item_set, "GoodsMovementType")
        movement = MOVEMENTS.get(kind)
        if movement is None:
            raise _error(
                "M7/104",
                f"Movement type {kind} is not supported (item {position}); this system posts "
                f"{', '.join(sorted(MOVEMENTS))}",
                "GoodsMovementType",
            )
        if code not in movement.codes:
            raise _error(
                "M7/105",
                f"Movement type {kind} is not allowed with goods movement code {code} "
                f"(allowed: {', '.join(sorted(movement.codes))})",
                "GoodsMovementCode",
            )
        material, unit = self._material(item_set, item, position)
        quantity = item.get("QuantityInEntryUnit")
        if not isinstance(quantity, Decimal) or quantity <= 0:
            raise _error(
                "M7/017",
                f"Enter a quantity greater than zero in item {position}",
                "QuantityInEntryUnit",
            )
        for name in ("Plant", "StorageLocation", *movement.needs):
            if not item.get(name):
                raise missing(item_set, name)
        if item.get("InventorySpecialStockType"):
            raise _error(
                "M7/106",
                "Special stock (InventorySpecialStockType) is not supported by this system",
                "InventorySpecialStockType",
            )
        here = _Place(
            self._plant(str(item["Plant"])),
            str(item["StorageLocation"]),
            str(item.get("Batch") or ""),
            movement.stock_type,
        )
        self._storage_location(here.plant, here.sloc)
        item.update(
            MaterialBaseUnit=unit,
            EntryUnit=unit,
            QuantityInBaseUnit=quantity,
            InventoryStockType=movement.stock_type,
        )
        if movement.transfer is None:
            self._change(material, here, movement.sign * quantity, unit)
            return [item]
        there = self._receiving(item, here, movement)
        source, target = (there, here) if movement.reverse else (here, there)
        self._change(material, source, -quantity, unit)
        self._change(material, target, quantity, unit)
        counterpart = {
            **item,
            "Plant": there.plant,
            "StorageLocation": there.sloc,
            "InventoryStockType": there.stock_type,
            "IssuingOrReceivingPlant": here.plant,
            "IssuingOrReceivingStorageLoc": here.sloc,
            "IssuingOrReceivingStockType": here.stock_type,
            "IsAutomaticallyCreated": "X",
        }
        item.update(
            IssuingOrReceivingPlant=there.plant,
            IssuingOrReceivingStorageLoc=there.sloc,
            IssuingOrReceivingStockType=there.stock_type,
        )
        return [item, counterpart]

    def _receiving(self, item: Row, here: _Place, movement: Movement) -> _Place:
        """The receiving side of a transfer posting."""
        plant = here.plant
        sloc = str(item.get("IssuingOrReceivingStorageLoc") or here.sloc)
        if movement.transfer == "plant":
            plant = self._plant(str(item["IssuingOrReceivingPlant"]))
            if not item.get("IssuingOrReceivingStorageLoc"):
                raise _error(
                    "M7/018",
                    "Enter the receiving storage location (IssuingOrReceivingStorageLoc)",
                    "IssuingOrReceivingStorageLoc",
                )
        self._storage_location(plant, sloc)
        if movement.transfer == "sloc" and sloc == here.sloc:
            raise _error(
                "M7/059",
                f"Issuing and receiving storage location are the same ({sloc})",
                "IssuingOrReceivingStorageLoc",
            )
        return _Place(plant, sloc, here.batch, movement.to_stock_type)

    # --- master data checks ---------------------------------------------------------

    def _material(self, item_set: EntitySetDef, item: Row, position: int) -> tuple[str, str]:
        """(material, base unit); the entry unit must be the base unit (no conversion)."""
        material = str(item.get("Material") or "")
        if not material:
            raise missing(item_set, "Material")
        product = self.state.get("A_Product", (material,))
        if product is None:
            raise _error(
                "M3/305",
                f"The material {material} does not exist or is not activated",
                "Material",
            )
        unit = str(product.get("BaseUnit") or "PC")
        entry = str(item.get("EntryUnit") or unit)
        if entry != unit:
            raise _error(
                "M7/014",
                f"Unit of entry {entry} is not defined for material {material} "
                f"(item {position}; its base unit is {unit})",
                "EntryUnit",
            )
        return material, unit

    def _plant(self, plant: str) -> str:
        if plant not in PLANTS:
            raise _error("M7/010", f"Plant {plant} does not exist", "Plant")
        return plant

    def _storage_location(self, plant: str, sloc: str) -> None:
        if sloc not in PLANTS[plant]:
            raise _error(
                "M7/011",
                f"Storage location {sloc} does not exist in plant {plant}",
                "StorageLocation",
            )

    # --- stock ------------------------------------------------------------------------

    def _change(self, material: str, place: _Place, delta: Decimal, unit: str) -> None:
        """Add ``delta`` to one stock record; an issue beyond it is M7 021 (nothing posted)."""
        # Material, Plant, StorageLocation, Batch, Supplier, Customer, WBSElementInternalID,
        # SDDocument, SDDocumentItem, InventorySpecialStockType, InventoryStockType
        key: Key = (material, place.plant, place.sloc, place.batch, "", "", "", "", "", "")
        key += (place.stock_type,)
        stock = self.state.get("A_MatlStkInAcctMod", key)
        current = stock.get("MatlWrhsStkQtyInMatlBaseUnit") if stock else None
        have = current if isinstance(current, Decimal) else Decimal(0)
        if have + delta < 0:
            where = " ".join(p for p in (material, place.plant, place.sloc, place.batch) if p)
            kind = _STOCK_NAMES.get(place.stock_type, place.stock_type)
            raise _error(
                "M7/021",
                f"Deficit of SL {kind} {_amount(-(have + delta))} {unit} : {where}",
                "QuantityInEntryUnit",
            )
        stock_set = self.state.sets["A_MatlStkInAcctMod"]
        row: Row = dict(stock) if stock else dict(zip(stock_set.keys, key, strict=True))
        row.update(MaterialBaseUnit=unit, MatlWrhsStkQtyInMatlBaseUnit=have + delta)
        self.state.put(stock_set.name, self._complete(stock_set, row))
        if self.state.get("A_MaterialStock", (material,)) is None:
            self.state.put("A_MaterialStock", {"Material": material, "MaterialBaseUnit": unit})
