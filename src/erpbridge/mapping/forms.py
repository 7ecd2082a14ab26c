"""Argument binding, ``xref.<entity>(id)`` and the special forms of the language.

``each``, ``coalesce``, ``default``, ``exists``, ``is_blank`` and ``table`` are compiled
here rather than built from the registry: they evaluate their arguments lazily, read
absent fields as null (``coalesce``, ``default``, ``exists``, ``is_blank``), or need the
project's value tables.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from erpbridge.mapping.closures import each_closure, each_collectors, xref_closure, xref_collector
from erpbridge.mapping.codegen import emit_apply, emit_coalesce, emit_each, emit_lookup
from erpbridge.mapping.errors import FieldMappingError
from erpbridge.mapping.functions import REQUIRED, FunctionSpec, brief
from erpbridge.mapping.functions.core import is_blank
from erpbridge.mapping.nodes import (
    NOT_CONST,
    Compiled,
    ExpressionCompileError,
    PathRef,
    did_you_mean,
    gather,
    kind_of,
)
from erpbridge.mapping.tables import NO_DEFAULT, table_key
from erpbridge.mapping.types import Record, XrefMap, keyed_entity
from erpbridge.spi.schema import FieldType

if TYPE_CHECKING:
    from erpbridge.mapping.compiler import ExpressionCompiler

__all__ = [
    "FORMS",
    "MAX_EACH_DEPTH",
    "MISSING_MODES",
    "bind_arguments",
    "check_nested_lines",
    "compile_xref",
]


def bind_arguments(spec: FunctionSpec, node: ast.Call) -> dict[str, ast.expr | list[ast.expr]]:
    """Match the call's arguments to the function's parameters."""
    bound: dict[str, ast.expr | list[ast.expr]] = {}
    params = list(spec.params)
    positional = [p for p in params]
    i = 0
    for arg in node.args:
        if i >= len(positional):
            raise ExpressionCompileError(
                f"{spec.name}() takes at most {len(positional)} arguments: {spec.signature()}",
                arg,
            )
        param = positional[i]
        if param.variadic:
            bucket = bound.setdefault(param.name, [])
            assert isinstance(bucket, list)  # noqa: S101  # set just above
            bucket.append(arg)
        else:
            bound[param.name] = arg
            i += 1
    names = {p.name for p in params if not p.variadic}
    for kw in node.keywords:
        if kw.arg is None:
            raise ExpressionCompileError("** is not allowed", kw)
        name = kw.arg[:-1] if kw.arg.endswith("_") and keyword.iskeyword(kw.arg[:-1]) else kw.arg
        if name not in names:
            raise ExpressionCompileError(
                f"{spec.name}() has no parameter {name!r}: {spec.signature()}"
                + did_you_mean(name, names),
                kw,
            )
        if name in bound:
            raise ExpressionCompileError(f"{spec.name}(): {name} is given twice", kw)
        bound[name] = kw.value
    for p in params:
        if p.default is REQUIRED and not p.variadic and p.name not in bound:
            raise ExpressionCompileError(f"{spec.name}() needs {p.name}: {spec.signature()}", node)
    return bound


#: what ``xref.<entity>(id, missing=...)`` does when the xref has no pair for the id.
MISSING_MODES = ("wait", "null", "skip")


def compile_xref(c: ExpressionCompiler, node: ast.Call, func: ast.Attribute) -> Compiled:
    """``xref.<entity>(id, missing="wait")`` or ``xref.<entity>(key, by="Field")``.

    ``missing`` says what a lookup without a pair does: ``"wait"`` (the default) parks the
    job until the referenced record is synced, ``"null"`` gives null (``optional=true`` is
    the same), ``"skip"`` skips the record (inside ``each``, the line). ``returns="key"``
    (with ``by=``) gives the key itself once the referenced record is synced, for targets
    that refer to records by that same code.
    """
    entity = c.text(func)[len("xref") :].strip().lstrip(".").strip()
    if not c.allow_xref:
        raise ExpressionCompileError("the flow's when: cannot use xref lookups", node)
    if c.xref_arg_depth:
        raise ExpressionCompileError("an xref id cannot itself come from an xref lookup", node)
    known = c.env.xref_entities
    if known is not None and entity not in known:
        raise ExpressionCompileError(
            f"unknown xref entity {entity!r}" + did_you_mean(entity, known), func
        )
    if len(node.args) != 1:
        raise ExpressionCompileError(
            f"xref.{entity}() takes one id: xref.{entity}(source.Id), "
            f'or one key: xref.{entity}(source.Code, by="Code")',
            node,
        )
    missing: str | None = None
    gives_key = False
    key_field: str | None = None
    for kw in node.keywords:
        if kw.arg in ("optional", "missing"):
            if missing is not None:
                raise ExpressionCompileError(
                    f"xref.{entity}(): give missing= or optional=, not both "
                    '(optional=true is missing="null")',
                    kw,
                )
            missing = _missing_mode(c, entity, kw)
        elif kw.arg == "by":
            key_field = _key_field(c, entity, kw.value)
        elif kw.arg == "returns":
            returns = c.const_value(kw.value, f"xref.{entity}(): returns")
            if returns not in ("id", "key"):
                raise ExpressionCompileError('returns must be "id" or "key"', kw.value)
            gives_key = returns == "key"
        else:
            raise ExpressionCompileError(
                f'xref.{entity}() has only missing="wait"|"null"|"skip", optional=true|false, '
                'by="<key field>" and returns="id"|"key"',
                kw,
            )
    if gives_key and key_field is None:
        raise ExpressionCompileError('returns="key" needs by="<key field>"', node)
    c.xref_arg_depth += 1
    try:
        arg = c.node(node.args[0])
    finally:
        c.xref_arg_depth -= 1
    c.env.entities_used.add(entity)
    if key_field is not None:
        c.env.key_lookups.add((entity, key_field))
    name = keyed_entity(entity, key_field)
    mode = missing or "wait"
    c.env.lookup_modes.setdefault(name, set()).add(mode)
    c.env.skip_lookups += mode == "skip"
    lookup = xref_closure(name, arg.fn, c.text(node.args[0]), mode, arg.field, gives_key)
    return Compiled(
        lookup,
        FieldType.STRING if gives_key else FieldType.REFERENCE,
        collectors=(*arg.collectors, xref_collector(name, arg.fn)),
        emit=None if gives_key else emit_lookup(name, arg, lookup, xref=True),
    )


def _missing_mode(c: ExpressionCompiler, entity: str, kw: ast.keyword) -> str:
    """``missing="wait"|"null"|"skip"``, or ``optional=true|false`` (``"null"``/``"wait"``)."""
    if kw.arg == "optional":
        value = c.const_value(kw.value, "optional")
        if not isinstance(value, bool):
            raise ExpressionCompileError("optional must be true or false", kw.value)
        return "null" if value else "wait"
    value = c.const_value(kw.value, f"xref.{entity}(): missing")
    if value not in MISSING_MODES:
        hint = did_you_mean(value, MISSING_MODES) if isinstance(value, str) else ""
        raise ExpressionCompileError(
            f'xref.{entity}(): missing must be "wait", "null" or "skip", not {brief(value)}{hint}',
            kw.value,
        )
    return str(value)


def _key_field(c: ExpressionCompiler, entity: str, node: ast.expr) -> str:
    """The ``by=`` of a lookup by natural key: a field of the record the entity comes from."""
    value = c.const_value(node, f"xref.{entity}(): by")
    if not isinstance(value, str) or not value.strip():
        raise ExpressionCompileError(
            f'by must name the key field of the {entity} record, e.g. by="CustomerCode"', node
        )
    findable = c.env.xref_key_entities
    if findable is not None and entity not in findable:
        raise ExpressionCompileError(
            f"xref.{entity}(..., by=...) finds the {entity} by its key in this flow's source "
            f"system, but no flow keeps {entity} from that connection: add one (entity: "
            f"{entity}), or look it up by id",
            node,
        )
    fields = (c.env.xref_key_fields or {}).get(entity)
    if fields is not None and value not in fields:
        raise ExpressionCompileError(
            f"the {entity} record has no field {value!r} to find it by"
            + did_you_mean(value, fields),
            node,
        )
    return value


def soft_node(c: ExpressionCompiler, node: ast.expr) -> Compiled:
    c.soft_depth += 1
    try:
        return c.node(node)
    finally:
        c.soft_depth -= 1


def form_coalesce(
    c: ExpressionCompiler, spec: FunctionSpec, node: ast.Call, args: Mapping[str, object]
) -> Compiled:
    parts = [soft_node(c, a) for a in args.get("values", [])]  # type: ignore[attr-defined]
    fns = [p.fn for p in parts]

    def coalesce(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        for fn in fns:
            value = fn(s, l, x)
            if not is_blank(value):
                return value
        return None

    kinds = {p.kind for p in parts if not (p.is_const and p.const is None)}
    kind = kinds.pop() if len(kinds) == 1 else FieldType.UNKNOWN
    return Compiled(coalesce, kind, collectors=gather(parts), emit=emit_coalesce(parts))


def form_default(
    c: ExpressionCompiler, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
) -> Compiled:
    value, fallback = soft_node(c, args["value"]), c.node(args["fallback"])
    vf, ff = value.fn, fallback.fn

    def default(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        v = vf(s, l, x)
        return ff(s, l, x) if v is None or v == "" or is_blank(v) else v

    kind = value.kind if value.kind == fallback.kind else FieldType.UNKNOWN
    return Compiled(
        default,
        kind,
        collectors=gather((value, fallback)),
        emit=emit_coalesce((value, fallback), last_is_fallback=True),
    )


def form_exists(
    c: ExpressionCompiler, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
) -> Compiled:
    value = soft_node(c, args["value"])
    vf = value.fn
    return Compiled(
        lambda s, ln, x: vf(s, ln, x) is not None,
        FieldType.BOOLEAN,
        collectors=value.collectors,
        emit=lambda e, line: f"(({e.code(value, line)}) is not None)",
    )


def form_is_blank(
    c: ExpressionCompiler, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
) -> Compiled:
    value = soft_node(c, args["value"])
    vf = value.fn
    return Compiled(
        lambda s, ln, x: is_blank(vf(s, ln, x)),
        FieldType.BOOLEAN,
        collectors=value.collectors,
        emit=emit_apply(is_blank, [value]),
    )


def form_table(
    c: ExpressionCompiler, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
) -> Compiled:
    name = c.const_value(args["name"], "table(): the table name")
    if not isinstance(name, str):
        raise ExpressionCompileError("table(): the table name must be text", args["name"])
    table = c.env.tables.get(name)
    if table is None:
        known = ", ".join(sorted(c.env.tables)) or "none defined"
        hint = did_you_mean(name, c.env.tables) or f" (tables: {known})"
        raise ExpressionCompileError(f"unknown table {name!r}{hint}", args["name"])
    reverse = c.const_value(args["reverse"], "reverse") if "reverse" in args else False
    if not isinstance(reverse, bool):
        raise ExpressionCompileError("reverse must be true or false", args["reverse"])
    has_default = "default" in args
    call_default = c.const_value(args["default"], "default") if has_default else None
    if table.strict and has_default:
        raise ExpressionCompileError(
            f"table {name!r} is strict: a default is not allowed", args["default"]
        )
    try:
        values: Mapping[str, object] = table.reversed_values() if reverse else table.values
    except ValueError as exc:
        raise ExpressionCompileError(str(exc), node) from None
    fallback = (
        call_default
        if has_default
        else (None if table.default is NO_DEFAULT or reverse else table.default)
    )
    key = c.node(args["key"])
    kf, key_text, strict, missing = key.fn, c.text(args["key"]), table.strict, NOT_CONST

    def lookup(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        k = kf(s, l, x)
        if k is None:
            return None
        found = values.get(k if type(k) is str else table_key(k), missing)
        if found is missing:
            if strict:
                raise FieldMappingError(
                    f"table(): {brief(k)} is not in table {name!r} ({key_text})",
                    value=k,
                    source=key_text,
                )
            return fallback
        return found

    kinds = {kind_of(v) for v in values.values()}
    kind = kinds.pop() if len(kinds) == 1 else FieldType.UNKNOWN
    return c.fold(Compiled(lookup, kind, emit=emit_lookup(values, key, lookup, xref=False)), key)


#: each() inside each() at most this deep (order -> lines -> schedule lines -> ...).
MAX_EACH_DEPTH = 4


def check_nested_lines(depth: int, origin: PathRef | None, node: ast.AST | None) -> None:
    """Refuse an each() whose run time is not bounded by the record's size.

    Inside each(), a nested each() must walk a list of the current line (``.Schedule``):
    walking ``source.Lines`` again for every line would multiply the work per record.

    Raises:
        ExpressionCompileError: too deep, or a nested list that is not the line's own.
    """
    if depth == 0:
        return
    if depth >= MAX_EACH_DEPTH:
        raise ExpressionCompileError(f"each() is nested more than {MAX_EACH_DEPTH} deep", node)
    if origin is None or origin.root != "line":
        raise ExpressionCompileError(
            "inside each(), a nested each() walks a list of the current line (.Field); "
            "compute totals over source lists outside the lines",
            node,
        )


def form_each(
    c: ExpressionCompiler, spec: FunctionSpec, node: ast.Call, args: Mapping[str, ast.expr]
) -> Compiled:
    lines_node = args["lines"]
    lines = c.node(lines_node)
    origin = (
        c.paths[-1] if c.paths and isinstance(lines_node, ast.Attribute | ast.Subscript) else None
    )
    check_nested_lines(len(c.line_origins), origin, lines_node)
    c.line_origins.append(origin)
    skips = c.env.skip_lookups
    try:
        item = c.node(args["item"])
        when = c.node(args["when"]) if "when" in args else None
    finally:
        c.line_origins.pop()
    walk = each_closure(
        lines.fn,
        item.fn,
        when.fn if when else None,
        c.text(lines_node),
        has_skips=c.env.skip_lookups > skips,
    )
    return Compiled(
        walk,
        FieldType.LINES,
        collectors=(*lines.collectors, *each_collectors(lines.fn, item, when)),
        emit=emit_each(walk, lines, item, when),
    )


#: special forms by name: (compiler, spec, call node, bound arguments) -> Compiled.
FORMS: Mapping[str, Callable[..., Compiled]] = {
    "coalesce": form_coalesce,
    "default": form_default,
    "exists": form_exists,
    "is_blank": form_is_blank,
    "table": form_table,
    "each": form_each,
}
