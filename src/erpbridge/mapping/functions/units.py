"""Quantity units: mass, length, volume and count, with the Chinese names ERPs use.

``unit(2.5, from="吨", to="kg")``; both units must measure the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from erpbridge.mapping.functions._base import Example, FunctionSpec, Impl, Param
from erpbridge.mapping.functions.numbers import quantize, rounding_mode, scale_of, to_decimal
from erpbridge.spi.schema import FieldType

__all__ = ["FUNCTIONS", "UNITS"]

# Quantity units: factor to the base unit of the dimension (kg, m, L, pcs).
UNITS: Mapping[str, tuple[str, Decimal]] = {
    "kg": ("mass", Decimal(1)),
    "公斤": ("mass", Decimal(1)),
    "千克": ("mass", Decimal(1)),
    "g": ("mass", Decimal("0.001")),
    "克": ("mass", Decimal("0.001")),
    "mg": ("mass", Decimal("0.000001")),
    "t": ("mass", Decimal(1000)),
    "吨": ("mass", Decimal(1000)),
    "斤": ("mass", Decimal("0.5")),
    "lb": ("mass", Decimal("0.45359237")),
    "m": ("length", Decimal(1)),
    "米": ("length", Decimal(1)),
    "km": ("length", Decimal(1000)),
    "公里": ("length", Decimal(1000)),
    "cm": ("length", Decimal("0.01")),
    "厘米": ("length", Decimal("0.01")),
    "mm": ("length", Decimal("0.001")),
    "毫米": ("length", Decimal("0.001")),
    "L": ("volume", Decimal(1)),
    "升": ("volume", Decimal(1)),
    "mL": ("volume", Decimal("0.001")),
    "毫升": ("volume", Decimal("0.001")),
    "m3": ("volume", Decimal(1000)),
    "立方米": ("volume", Decimal(1000)),
    "pcs": ("count", Decimal(1)),
    "个": ("count", Decimal(1)),
    "dozen": ("count", Decimal(12)),
    "打": ("count", Decimal(12)),
}


def _unit(name: object) -> tuple[str, Decimal]:
    found = UNITS.get(str(name))
    if found is None:
        raise ValueError(f"unknown unit {name!r}; known: {', '.join(UNITS)}")
    return found


def _build_unit(from_: object, to: object, scale: object, rounding: object) -> Impl:
    (dim_from, f_from), (dim_to, f_to) = _unit(from_), _unit(to)
    if dim_from != dim_to:
        raise ValueError(f"cannot convert {dim_from} ({from_}) to {dim_to} ({to})")
    factor, places, mode = f_from / f_to, scale_of(scale), rounding_mode(rounding)

    def unit(value: object) -> Decimal:
        result = to_decimal(value) * factor
        return result.normalize() if places is None else quantize(result, places, mode)

    return unit


_NUMERIC = frozenset(
    {FieldType.INTEGER, FieldType.DECIMAL, FieldType.STRING, FieldType.TEXT, FieldType.UNKNOWN}
)
_R = Param("rounding", "half_up", const=True)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "unit",
        "numbers",
        "Convert a quantity between units of one dimension (kg/g/t/斤, m/cm/mm, L/mL, 个/打).",
        (
            Param("value", kinds=_NUMERIC),
            Param("from", const=True),
            Param("to", const=True),
            Param("scale", None, const=True),
            _R,
        ),
        FieldType.DECIMAL,
        _build_unit,
        (
            Example('unit(2.5, from="吨", to="kg")', "2500"),
            Example('unit(3, from="斤", to="kg")', "1.5"),
            Example('unit(1, from="lb", to="kg", scale=3)', "0.454"),
        ),
        notes="Units: " + ", ".join(f"`{u}`" for u in UNITS) + ".",
    ),
)
