"""Run-time meaning of the operators: comparisons, arithmetic, truth.

Rules, chosen so that a wrong mapping fails loudly instead of writing a strange value:

* numbers are ``int`` and ``Decimal``; a float from a record joins as its shortest text;
* ``+`` adds numbers or joins two texts; text + number is an error (use ``concat()``);
* ``- * / // %`` take numbers only; ``/`` always gives a Decimal; nothing repeats text;
* ``==`` never converts: ``"1" == 1`` is false; ordering a null is false, ordering text
  against a number is an error;
* ``and``/``or``/``not`` give booleans.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

from erpbridge.mapping.errors import FieldMappingError
from erpbridge.mapping.functions import brief

__all__ = ["ARITHMETIC", "ORDERING", "contains", "equals", "negate"]

_MAX_INT = 10**60  # a product beyond this is a mapping bug, not an amount


def _num(value: object) -> int | Decimal | None:
    """The value as a number if it is one (float through its text), else None."""
    t = type(value)
    if t is int or t is Decimal:
        return value  # type: ignore[return-value]  # checked by type
    if t is float:
        return Decimal(repr(value))
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return value
    return None


def equals(a: object, b: object) -> bool:
    """Equality without conversions between text, numbers and booleans."""
    ta, tb = type(a), type(b)
    if ta is tb:
        return a == b
    if ta is bool or tb is bool:
        return False
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return na == nb
    return a == b if not (isinstance(a, str) or isinstance(b, str)) else False


def _ordering(op: Callable[[Any, Any], Any], sym: str) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        if a is None or b is None:
            return False
        ta, tb = type(a), type(b)
        if ta is tb and ta is not bool:
            try:
                return bool(op(a, b))
            except TypeError:
                pass
        else:
            na, nb = _num(a), _num(b)
            if na is not None and nb is not None and ta is not bool and tb is not bool:
                return bool(op(na, nb))
        raise FieldMappingError(f"cannot compare {brief(a)} {sym} {brief(b)}")

    return compare


ORDERING: Mapping[type, Callable[[object, object], bool]] = {
    ast.Lt: _ordering(operator.lt, "<"),
    ast.LtE: _ordering(operator.le, "<="),
    ast.Gt: _ordering(operator.gt, ">"),
    ast.GtE: _ordering(operator.ge, ">="),
}


def contains(item: object, container: object) -> bool:
    """``item in container`` for a list, a text or a record."""
    if container is None:
        return False
    if isinstance(container, str):
        if not isinstance(item, str):
            raise FieldMappingError(f"cannot look for {brief(item)} in text {brief(container)}")
        return item in container
    if isinstance(container, list | tuple):
        return any(equals(item, c) for c in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    raise FieldMappingError(f"{brief(container)} is not a list, text or record")


def _checked(result: object) -> object:
    if type(result) is int and not -_MAX_INT < result < _MAX_INT:
        raise FieldMappingError("number too large")
    return result


def _numbers(a: object, b: object, sym: str) -> tuple[int | Decimal, int | Decimal]:
    na, nb = _num(a), _num(b)
    if na is None or nb is None or type(a) is bool or type(b) is bool:
        hint = ""
        if isinstance(a, str) or isinstance(b, str):
            hint = "; convert text with number()" if sym != "+" else "; use concat() for text"
        raise FieldMappingError(f"cannot compute {brief(a)} {sym} {brief(b)}{hint}")
    return na, nb


def _add(a: object, b: object) -> object:
    ta = type(a)
    if ta is type(b) and (ta is int or ta is Decimal or ta is str):
        return _checked(a + b)  # type: ignore[operator]  # same numeric or text type
    na, nb = _numbers(a, b, "+")
    return _checked(na + nb)


def _arith(op: Callable[[object, object], object], sym: str) -> Callable[[object, object], object]:
    def compute(a: object, b: object) -> object:
        na, nb = _numbers(a, b, sym)
        try:
            return _checked(op(na, nb))
        except (ZeroDivisionError, DivisionByZero):
            raise FieldMappingError(f"division by zero: {brief(a)} {sym} {brief(b)}") from None
        except (InvalidOperation, OverflowError):
            raise FieldMappingError(f"cannot compute {brief(a)} {sym} {brief(b)}") from None

    return compute


def _divide(a: object, b: object) -> object:
    return Decimal(a) / Decimal(b)  # type: ignore[arg-type]  # _arith checked the types


ARITHMETIC: Mapping[type, Callable[[object, object], object]] = {
    ast.Add: _add,
    ast.Sub: _arith(operator.sub, "-"),
    ast.Mult: _arith(operator.mul, "*"),
    ast.Div: _arith(_divide, "/"),
    ast.FloorDiv: _arith(operator.floordiv, "//"),
    ast.Mod: _arith(operator.mod, "%"),
}


def negate(value: object) -> object:
    """Unary minus of a number."""
    number = _num(value)
    if number is None or type(value) is bool:
        raise FieldMappingError(f"cannot negate {brief(value)}")
    return -number
