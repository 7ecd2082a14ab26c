"""The run-time closures compiled expressions are made of.

Each is built once per mapping version and called once per record: field readers,
calls of built-ins that name the argument at fault, xref lookups and their collectors,
and ``each`` over a record's own lines (the only loop of the language).
"""

from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.errors import (
    FieldMappingError,
    MappingError,
    MissingReference,
    SkippedReference,
)
from erpbridge.mapping.functions import FunctionError, FunctionSpec, brief
from erpbridge.mapping.nodes import (
    EMPTY_XREFS,
    RUNTIME_ERRORS,
    Collector,
    Compiled,
    PathRef,
)
from erpbridge.mapping.operators import contains, equals
from erpbridge.mapping.types import (
    MAX_LINES_PER_LIST,
    Evaluator,
    Record,
    XrefMap,
    keyed_entity,
    split_keyed_entity,
)

__all__ = [
    "call_closure",
    "each_closure",
    "each_collectors",
    "is_none",
    "is_not_none",
    "membership",
    "negated",
    "not_equals",
    "path_getter",
    "skip_behind",
    "xref_closure",
    "xref_collector",
    "xref_id",
]


def path_getter(
    root: str, steps: tuple[str | int, ...], aliases: Aliases, text: str, soft: bool
) -> Evaluator:
    """A reader for ``source.A.B`` / ``.A``; absent fields are errors unless ``soft``."""
    alts = tuple(aliases.others(s) if isinstance(s, str) else () for s in steps)
    from_line = root == "line"

    def missing(i: int) -> object:
        if soft:
            return None
        shown = text if i == len(steps) - 1 else _prefix_text(root, steps[: i + 1])
        hint = " (wrap it in default(...) if it may be absent)" if i == len(steps) - 1 else ""
        raise FieldMappingError(f"{shown} is missing from the record{hint}", source=shown)

    def step(current: object, i: int) -> object:
        key = steps[i]
        if isinstance(current, Mapping):
            try:
                return current[key]
            except KeyError:
                for other in alts[i]:
                    if other in current:
                        return current[other]
                return missing(i)
        if isinstance(current, list | tuple) and type(key) is int:
            try:
                return current[key]
            except IndexError:
                return missing(i)
        shown = _prefix_text(root, steps[:i])
        raise FieldMappingError(
            f"{shown} is {brief(current)}, not a record with field {key!r}", source=shown
        )

    if len(steps) == 1 and not from_line:
        key0 = steps[0]

        def get_one(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                return s[key0]  # type: ignore[index]  # int keys fail as KeyError too
            except KeyError:
                return step(s, 0)

        return get_one
    if len(steps) == 1:
        key0 = steps[0]

        def get_line(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                return l[key0]  # type: ignore[index]  # l is a Mapping inside each
            except (KeyError, TypeError):
                return step(l, 0)

        return get_line

    def get_path(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        current: object = l if from_line else s
        for i in range(len(steps)):
            if current is None:
                return None  # source.Account.Name with a null Account
            current = step(current, i)
        return current

    return get_path


def _prefix_text(root: str, steps: Sequence[str | int]) -> str:
    return PathRef(root, tuple(steps), None, 0).text()


def is_none(a: object, b: object) -> bool:
    return a is None


def is_not_none(a: object, b: object) -> bool:
    return a is not None


def not_equals(a: object, b: object) -> bool:
    return not equals(a, b)


def membership(right: Compiled) -> Callable[[object, object], bool]:
    if (
        right.is_const
        and isinstance(right.const, list)
        and all(type(v) is str for v in right.const)
    ):
        members = frozenset(right.const)
        return lambda a, b: a in members if type(a) is str else contains(a, b)
    return contains


def negated(test: Callable[[object, object], bool]) -> Callable[[object, object], bool]:
    return lambda a, b: not test(a, b)


def call_closure(
    spec: FunctionSpec,
    impl: Callable[..., object],
    fns: Sequence[Evaluator],
    texts: Sequence[str],
    literal: Sequence[bool],
    field: tuple[bool, str] | None = None,
) -> Evaluator:
    """A call of a built-in with its run-time arguments; errors name the argument."""
    name, passes = spec.name, spec.null_passes and bool(fns)

    def fail(exc: Exception, values: Sequence[object]) -> FieldMappingError:
        if isinstance(exc, FunctionError):
            i = exc.arg if 0 <= exc.arg < len(values) else 0
            where = f" ({texts[i]})" if texts and texts[i] and not literal[i] else ""
            return FieldMappingError(
                f"{name}(): {exc.reason}{where}",
                value=values[i] if values else None,
                source=texts[i] if texts else None,
            )
        return FieldMappingError(f"{name}(): {exc}", value=values[0] if values else None)

    if len(fns) == 0:

        def call0(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                return impl()
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, ()) from None

        return call0
    if len(fns) == 1 and field is not None:
        # the argument is source.X or .X: read it here, one Python call fewer; the full
        # reader still handles aliases, soft reads and the error for an absent field
        f0, (from_line, key) = fns[0], field

        def call1_field(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            try:
                v = l[key] if from_line else s[key]  # type: ignore[index]  # l set in each
            except (KeyError, TypeError):
                v = f0(s, l, x)
            if v is None and passes:
                return None
            try:
                return impl(v)
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, (v,)) from None

        return call1_field
    if len(fns) == 1:
        f0 = fns[0]

        def call1(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            v = f0(s, l, x)
            if v is None and passes:
                return None
            try:
                return impl(v)
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, (v,)) from None

        return call1
    if len(fns) == 2:
        f0, f1 = fns

        def call2(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
            v0 = f0(s, l, x)
            if v0 is None and passes:
                return None
            v1 = f1(s, l, x)
            try:
                return impl(v0, v1)
            except (FunctionError, *RUNTIME_ERRORS) as exc:
                raise fail(exc, (v0, v1)) from None

        return call2

    def calln(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        values = [f(s, l, x) for f in fns]
        if values[0] is None and passes:
            return None
        try:
            return impl(*values)
        except (FunctionError, *RUNTIME_ERRORS) as exc:
            raise fail(exc, values) from None

    return calln


def xref_id(value: object) -> str:
    """The text form of a source id (ints and whole Decimals as digits)."""
    if type(value) is str:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, Decimal) or not value.is_finite() or abs(value.adjusted()) > 40:
        raise FieldMappingError(f"{brief(value)} is not an id")
    if value == value.to_integral_value():
        return str(int(value))
    raise FieldMappingError(f"{brief(value)} is not an id")


def xref_closure(
    entity: str,
    arg: Evaluator,
    text: str,
    missing: str,
    field: tuple[bool, str] | None,
    gives_key: bool = False,
) -> Evaluator:
    """The lookup: the target id of ``(entity, value)``, or the value itself with
    ``gives_key`` (a key the target also uses). Without a pair, ``missing`` decides:
    ``"wait"`` raises MissingReference (park the job), ``"null"`` gives null, ``"skip"``
    raises SkippedReference (skip the record, or the line inside ``each``)."""
    from_line, key = field if field is not None else (False, "")
    optional, skip = missing == "null", missing == "skip"

    def xref(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        if field is None:
            v = arg(s, l, x)
        else:
            try:
                v = l[key] if from_line else s[key]  # type: ignore[index]  # l set in each
            except (KeyError, TypeError):
                v = arg(s, l, x)
        if v is None:
            return None
        sid = v if type(v) is str else xref_id(v)
        target = x.get((entity, sid))
        if target is None:
            if optional:
                return None
            plain, key_field = split_keyed_entity(entity)
            if skip:
                raise SkippedReference(plain, sid, source=text, key_field=key_field)
            raise MissingReference(plain, sid, source=text, key_field=key_field)
        return sid if gives_key else target

    return xref


def xref_collector(entity: str, arg: Evaluator) -> Collector:
    def collect(s: Record, l: Record | None, out: set[tuple[str, str]]) -> None:  # noqa: E741
        try:
            v = arg(s, l, EMPTY_XREFS)
            if v is not None:
                out.add((entity, xref_id(v)))
        except (MappingError, *RUNTIME_ERRORS):
            return  # apply() reports the same problem with its full context

    return collect


#: at most this many waiting lookups are stood in for while looking for a skip behind them.
_MAX_PROBES = 64


def skip_behind(
    run: Callable[[XrefMap], object], xrefs: XrefMap, first: MissingReference
) -> SkippedReference | None:
    """The skip a lookup with ``missing="skip"`` would give once the waiting ones were there.

    A record (or line) that waits for one reference but also misses a lookup written
    ``missing="skip"`` is skipped now: waiting could only end in that skip. ``run`` maps
    again with the xrefs it is given; every pair that raised MissingReference gets a
    stand-in target id (its source id) until a skip shows (returned), the mapping goes
    through or fails another way (None: the record waits, as it would without a skip).
    """
    stand_ins: dict[tuple[str, str], str | None] = {}
    probe = ChainMap(stand_ins, xrefs)  # type: ignore[arg-type]  # read-only use
    missing = first
    for _ in range(_MAX_PROBES):
        pair = (keyed_entity(missing.entity, missing.key_field), missing.source_id)
        if pair in stand_ins:
            return None
        stand_ins[pair] = missing.source_id
        try:
            run(probe)
        except SkippedReference as skipped:
            return skipped
        except MissingReference as again:
            missing = again
            continue
        except (MappingError, *RUNTIME_ERRORS):
            return None
        return None
    return None


def each_closure(
    lines_fn: Evaluator,
    item_fn: Evaluator,
    when_fn: Evaluator | None,
    lines_text: str,
    *,
    has_skips: bool = False,
) -> Evaluator:
    """Map every line of a record's own list (the only loop the language has).

    A line whose lookup written ``missing="skip"`` misses is left out, like a line whose
    ``when=`` is false (``has_skips``: the item or filter has such a lookup, so a line
    that waits for another reference is checked for one too).
    """

    def line_of(s: Record, line: Record, x: XrefMap) -> object:
        if when_fn is not None and not when_fn(s, line, x):
            return None
        return item_fn(s, line, x)

    def each(s: Record, l: Record | None, x: XrefMap) -> object:  # noqa: E741
        lines = lines_fn(s, l, x)
        if lines is None:
            return []
        if type(lines) is not list and not isinstance(lines, list | tuple):
            raise FieldMappingError(
                f"each(): {brief(lines)} is not a list of lines ({lines_text})",
                value=lines,
                source=lines_text,
            )
        if len(lines) > MAX_LINES_PER_LIST:
            raise FieldMappingError(f"each(): more than {MAX_LINES_PER_LIST} lines ({lines_text})")
        out = []
        i = 0
        try:
            for i, line in enumerate(lines):  # noqa: B007  # i is read in the except
                if type(line) is not dict and not isinstance(line, Mapping):
                    raise FieldMappingError(
                        f"each(): line is {brief(line)}, not a record ({lines_text})"
                    )
                try:
                    if when_fn is not None and not when_fn(s, line, x):
                        continue
                    out.append(item_fn(s, line, x))
                except SkippedReference:
                    continue  # a lookup with missing="skip" missed: this line is left out
                except MissingReference as waiting:
                    if has_skips and skip_behind(functools.partial(line_of, s, line), x, waiting):
                        continue
                    raise
        except FieldMappingError as exc:
            exc.nest(f"[{i}]")
            raise
        return out

    return each


def each_collectors(
    lines_fn: Evaluator, item: Compiled, when: Compiled | None
) -> tuple[Collector, ...]:
    inner = item.collectors + (when.collectors if when else ())
    if not inner:
        return ()

    def collect(s: Record, l: Record | None, out: set[tuple[str, str]]) -> None:  # noqa: E741
        try:
            lines = lines_fn(s, l, EMPTY_XREFS)
        except (MappingError, *RUNTIME_ERRORS):
            return
        if not isinstance(lines, list | tuple):
            return
        for line in lines[:MAX_LINES_PER_LIST]:
            if isinstance(line, Mapping):
                for c in inner:
                    c(s, line, out)

    return (collect,)
