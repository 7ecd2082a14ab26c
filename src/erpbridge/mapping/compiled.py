"""The compiled mapping the engine calls: ``accepts``, ``xref_requests``, ``apply``.

Compiled once per mapping version (``compile_mapping``), then shared by every worker
and record. ``apply`` either returns the complete target record or raises a
:class:`~erpbridge.mapping.errors.FieldMappingError`; it never returns half a record and
never lets another exception out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import UTC, datetime

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.closures import skip_behind
from erpbridge.mapping.codegen import build_fast_apply
from erpbridge.mapping.errors import (
    FieldMappingError,
    MappingCompileError,
    MappingError,
    MissingReference,
    SkippedReference,
)
from erpbridge.mapping.functions import builtin_functions
from erpbridge.mapping.nodes import RUNTIME_ERRORS, Environment
from erpbridge.mapping.rules import OMIT, Analysis, FieldPlan, analyse
from erpbridge.mapping.spec import MappingSpec
from erpbridge.mapping.types import Record, XrefMap

__all__ = ["CompiledMapping", "analyse_spec", "compile_mapping", "read_fields"]

_NO_XREFS: XrefMap = {}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CompiledMapping:
    """A flow's mapping turned into closures.

    Attributes:
        flow: the flow's name.
        spec: that spec.
        fields: the compiled target fields, in rule order.
        entities: the xref entities the mapping looks up.
        key_lookups: (entity, key field) of every lookup by natural key
            (``xref.customer(source.Code, by="Code")``).
        source_fields: the top-level source fields the rules and ``when:`` read, with
            their aliases (lines by their list's name); None when an expression reads
            the record as a whole (bare ``source``), so any field may matter.
        rule_fields: the same for the rules alone, without what only ``when:`` reads.
        skip_lookups: lookup names (``product``, ``customer@Code``) used only with
            ``missing="skip"``: the engine queues no sync of the records they name.
    """

    __slots__ = (
        "_conditional",
        "_exprs",
        "_fast",
        "_plan",
        "_skips",
        "_version",
        "_when",
        "collectors",
        "entities",
        "fields",
        "flow",
        "key_lookups",
        "rule_fields",
        "skip_lookups",
        "source_fields",
        "spec",
    )

    def __init__(
        self,
        spec: MappingSpec,
        analysis: Analysis,
        entities: frozenset[str],
        *,
        fast: bool = True,
        key_lookups: frozenset[tuple[str, str]] = frozenset(),
        lookup_modes: Mapping[str, Set[str]] | None = None,
    ) -> None:
        self.spec = spec
        self.key_lookups = key_lookups
        modes = lookup_modes or {}
        self.skip_lookups = frozenset(n for n, m in modes.items() if set(m) == {"skip"})
        self._skips = any("skip" in m for m in modes.values())
        self.flow = spec.flow
        self._version = spec.version()
        self.fields: tuple[FieldPlan, ...] = tuple(analysis.fields)
        self.entities = entities
        self.collectors = analysis.collectors
        self._when = analysis.when
        self._plan = tuple((f.name, f.fn) for f in self.fields)
        self._conditional = any(f.conditional for f in self.fields)
        self._fast = build_fast_apply(self.flow, self.fields) if fast else None
        self._exprs = {f.name: f.expression for f in self.fields}
        self.source_fields = read_fields(analysis, spec.aliases)
        self.rule_fields = read_fields(analysis, spec.aliases, rules_only=True)

    def version(self) -> str:
        """:meth:`MappingSpec.version` of the spec this was compiled from (16 hex digits)."""
        return self._version

    @property
    def is_fast(self) -> bool:
        """True when ``apply`` runs generated code first (see codegen.py)."""
        return self._fast is not None

    @property
    def target_fields(self) -> tuple[str, ...]:
        """The top-level target field names, in rule order."""
        return tuple(f.name for f in self.fields)

    def accepts(self, source: Record) -> bool:
        """The flow's ``when:`` filter; True when the flow has none.

        Raises:
            FieldMappingError: the filter cannot be evaluated on this record (target
                field ``when``); the job goes to the dead letters.
        """
        if self._when is None:
            return True
        try:
            return bool(self._when(source, None, _NO_XREFS))
        except FieldMappingError as exc:
            exc.locate(self.flow, "when", self.spec.when)
            raise
        except RUNTIME_ERRORS as exc:
            raise FieldMappingError(
                str(exc), flow=self.flow, target_field="when", expression=self.spec.when
            ) from exc

    def xref_requests(self, source: Record) -> set[tuple[str, str]]:
        """Every (entity, source id) this record will look up, for one batch query.

        Never raises: a value that cannot be an id is left out, and ``apply`` reports it.
        The set may hold more than ``apply`` uses (both branches of a conditional).
        """
        out: set[tuple[str, str]] = set()
        for collect in self.collectors:
            collect(source, None, out)
        return out

    def xref_requests_many(self, sources: Sequence[Record]) -> set[tuple[str, str]]:
        """The union of :meth:`xref_requests` over a batch of records."""
        out: set[tuple[str, str]] = set()
        for source in sources:
            for collect in self.collectors:
                collect(source, None, out)
        return out

    def apply(self, source: Record, xrefs: XrefMap = _NO_XREFS) -> dict[str, object]:
        """Map one source record to a target record.

        Args:
            source: the source record's fields.
            xrefs: resolved lookups, (entity, source id) -> target id or None.

        Raises:
            SkippedReference: a lookup written ``missing="skip"`` has no target id: skip
                the record (also when another lookup waits: waiting would end in the skip).
            MissingReference: an xref has no target id yet (park the job).
            FieldMappingError: any other per-record problem (dead letter), naming the
                flow, the target field, the expression and the source value.
        """
        if self._fast is not None:
            try:  # the generated function (codegen.py); the closures below are the reference
                return self._fast(source, xrefs)
            except (MappingError, AttributeError, *RUNTIME_ERRORS):
                pass  # map again with the closures: they raise the precise error
        elif not self._conditional:
            try:  # one comprehension over the compiled fields
                return {name: fn(source, None, xrefs) for name, fn in self._plan}
            except (FieldMappingError, *RUNTIME_ERRORS):
                pass  # map again field by field to name the field that failed
        out: dict[str, object] = {}
        name = ""
        try:
            for name, fn in self._plan:
                value = fn(source, None, xrefs)
                if value is not OMIT:
                    out[name] = value
        except FieldMappingError as exc:
            exc.locate(self.flow, name, self._exprs.get(name))
            if self._skips and isinstance(exc, MissingReference):
                skipped = skip_behind(functools.partial(self._skip_in, source), xrefs, exc)
                if skipped is not None:
                    raise skipped from None
            raise
        except RUNTIME_ERRORS as exc:
            raise FieldMappingError(
                f"{type(exc).__name__}: {exc}",
                flow=self.flow,
                target_field=name,
                expression=self._exprs.get(name),
            ) from exc
        return out

    def _skip_in(self, source: Record, xrefs: XrefMap) -> None:
        """Map every field (for :func:`skip_behind`); a skip names its field."""
        name = ""
        try:
            for name, fn in self._plan:  # noqa: B007  # name is read in the except
                fn(source, None, xrefs)
        except SkippedReference as exc:
            exc.locate(self.flow, name, self._exprs.get(name))
            raise

    def apply_field(self, plan: FieldPlan, source: Record, xrefs: XrefMap) -> object:
        """One field's value (``OMIT`` when its ``when:`` is false); errors as ``apply``."""
        try:
            return plan.fn(source, None, xrefs)
        except FieldMappingError as exc:
            exc.locate(self.flow, plan.name, plan.expression)
            raise
        except RUNTIME_ERRORS as exc:
            raise FieldMappingError(
                f"{type(exc).__name__}: {exc}",
                flow=self.flow,
                target_field=plan.name,
                expression=plan.expression,
            ) from exc

    def __repr__(self) -> str:
        return (
            f"CompiledMapping({self.flow!r}, version={self._version!r}, fields={len(self.fields)})"
        )


def read_fields(
    analysis: Analysis, aliases: Aliases, *, rules_only: bool = False
) -> frozenset[str] | None:
    """The top-level source fields ``analysis`` found read, each with its aliases.

    A path's first step is the field: ``source.Account.Name`` reads ``Account``,
    ``each(source.OrderItems, .Quantity)`` reads ``OrderItems`` (lines come whole). None
    when the fields are not known statically: a bare ``source``, or a path into the record
    by position. ``rules_only``: what the rules read, not the flow's ``when:``.
    """
    if analysis.whole_source:
        return None
    names: set[str] = set()
    paths = analysis.paths[: analysis.rule_paths] if rules_only else analysis.paths
    for use in paths:
        ref = use.ref
        if ref.root != "source":
            continue  # .Field of a line: read from its list, which is a source path
        if not ref.steps or not isinstance(ref.steps[0], str):
            return None
        names.add(ref.steps[0])
        names.update(aliases.others(ref.steps[0]))
    return frozenset(names)


def analyse_spec(
    spec: MappingSpec, clock: Callable[[], datetime] | None = None
) -> tuple[Analysis, Environment]:
    """Compile every rule, collecting problems (used by compile and by check)."""
    env = Environment(
        functions=builtin_functions(),
        tables=spec.tables,
        aliases=spec.aliases,
        clock=clock or _utc_now,
        xref_entities=spec.xref_entities,
        xref_key_entities=spec.xref_key_entities,
        xref_key_fields=spec.xref_key_fields,
    )
    return analyse(spec, env), env


def compile_mapping(
    spec: MappingSpec, *, clock: Callable[[], datetime] | None = None, fast: bool = True
) -> CompiledMapping:
    """Compile a flow's mapping once; share the result across records and workers.

    Args:
        spec: the mapping.
        clock: what ``now()``/``today()`` read (default: the system clock, UTC). Tests
            and preview pass a fixed clock.
        fast: also generate the fast path for ``apply`` (codegen.py). Default True;
            False maps with the closures only (same results, slower).

    Raises:
        MappingCompileError: every error found, each with file, line and column.
    """
    analysis, env = analyse_spec(spec, clock)
    errors = [p for p in analysis.problems if p.severity == "error"]
    if errors:
        raise MappingCompileError(errors, flow=spec.flow)
    return CompiledMapping(
        spec,
        analysis,
        frozenset(env.entities_used),
        fast=fast,
        key_lookups=frozenset(env.key_lookups),
        lookup_modes=env.lookup_modes,
    )
