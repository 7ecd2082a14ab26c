"""Turn a loaded project into runnable flow plans: compile every mapping once.

Also the second half of ``erpbridge validate``: mapping problems (syntax, unknown
functions and names, bad tables) as located :class:`ConfigError` values, so the command
lists them with the project file's own problems.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from erpbridge.config import ConfigErrors, Project
from erpbridge.config.errors import did_you_mean, located
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.hold_plan import compile_hold, hold_schema_problems
from erpbridge.engine.recon_scope import compile_target_when
from erpbridge.engine.retry import RetryPolicy
from erpbridge.engine.source_fields import flow_source_fields
from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.check import check_mapping
from erpbridge.mapping.compiled import compile_mapping
from erpbridge.mapping.errors import MappingCompileError, Problem
from erpbridge.mapping.spec import MappingSpec
from erpbridge.mapping.tables import ValueTable, load_table
from erpbridge.mapping.types import SourcePos
from erpbridge.spi.errors import ConfigError
from erpbridge.spi.schema import Catalog

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "build_plans",
    "mapping_problems",
    "mapping_spec",
    "schema_problems",
]

DEFAULT_BATCH_SIZE = 100


def _tables(project: Project, errors: list[ConfigError]) -> dict[str, ValueTable]:
    out: dict[str, ValueTable] = {}
    for name, raw in project.spec.tables.items():
        try:
            out[name] = load_table(name, raw, project.base_dir, where=str(project.path))
        except ConfigError as exc:
            errors.append(located(exc.reason, project.marks, ("tables", name)))
    return out


def _positions(project: Project, flow: str) -> tuple[dict[str, SourcePos], SourcePos | None]:
    """Where each rule's text starts (after an opening quote) in the project file."""
    try:
        lines = project.path.read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        lines = []
    path = str(project.path)

    def pos(loc: tuple[str | int, ...]) -> SourcePos | None:
        mark = project.marks.values.get(loc)
        if mark is None:
            return None
        line, column = mark
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        quoted = column - 1 < len(text) and text[column - 1] in "'\""
        return SourcePos(path, line, column + (1 if quoted else 0))

    positions: dict[str, SourcePos] = {}
    base = ("flows", flow, "map")
    for loc in project.marks.values:
        if loc[: len(base)] == base and len(loc) > len(base):
            rest = [str(p) for p in loc[len(base) :]]
            found = pos(loc)
            if found is None:
                continue
            # map.Field -> "Field"; map.Field.expr -> "Field@expr"; map.Lines.map.X -> "Lines.X"
            parts: list[str] = []
            part = None
            index = 0
            while index < len(rest):
                step = rest[index]
                if step == "map" and parts:
                    index += 1
                    continue
                if (
                    index == len(rest) - 1
                    and parts
                    and step in ("expr", "const", "default", "when", "each", "required")
                ):
                    part = step
                else:
                    parts.append(step)
                index += 1
            key = ".".join(parts) + (f"@{part}" if part else "")
            positions[key] = found
    return positions, pos(("flows", flow, "when"))


def _key_entities(project: Project, flow: str) -> dict[str, str]:
    """entity -> source object, for the entities a flow keeps from ``flow``'s source
    connection: what ``xref.<entity>(key, by=...)`` can find there (engine/lookups.py)."""
    connection = project.spec.flows[flow].source.connection
    out: dict[str, str] = {}
    for name, other in project.spec.flows.items():
        if other.source.connection == connection:
            out.setdefault(other.entity or name, other.source.object)
    return out


def mapping_spec(
    project: Project,
    flow: str,
    tables: dict[str, ValueTable],
    catalogs: Mapping[str, Catalog] | None = None,
) -> MappingSpec:
    """The :class:`MappingSpec` of one flow of ``project``.

    With ``catalogs`` (connection -> ``describe()``), the ``by=`` of lookups by natural
    key is checked against the fields of the object the entity comes from.
    """
    spec = project.spec.flows[flow]
    positions, when_pos = _positions(project, flow)
    entities = {f.entity or name for name, f in project.spec.flows.items()}
    keyed = _key_entities(project, flow)
    key_fields: dict[str, list[str]] = {}
    catalog = (catalogs or {}).get(spec.source.connection)
    for entity, obj in keyed.items():
        schema = catalog.objects.get(obj) if catalog else None
        if schema is not None and not schema.is_open:
            key_fields[entity] = [f.name for f in schema.fields]
    return MappingSpec(
        flow=flow,
        rules=spec.map,
        when=spec.when,
        tables=tables,
        aliases=Aliases(project.spec.aliases),
        positions=positions,
        when_pos=when_pos,
        xref_entities=entities,
        xref_key_entities=set(keyed),
        xref_key_fields=key_fields,
    )


def _problem_error(project: Project, flow: str, problem: Problem) -> ConfigError:
    field = f"flows.{flow}.map.{problem.target_field}" if problem.target_field else f"flows.{flow}"
    if problem.target_field == "when":
        field = f"flows.{flow}.when"
    elif problem.target_field and problem.target_field.startswith("hold."):
        field = f"flows.{flow}.{problem.target_field}"
    if problem.pos is not None:
        return ConfigError(
            problem.message,
            path=problem.pos.path,
            line=problem.pos.line,
            column=problem.pos.column,
            field=field,
        )
    return located(problem.message, project.marks, ("flows", flow, "map"))


def recon_problems(project: Project, flow: str) -> list[ConfigError]:
    """Problems of a flow's ``recon:`` block: fields it names, its ``target_when``."""
    spec = project.spec.flows[flow]
    recon = spec.recon
    if recon is None:
        return []
    errors: list[ConfigError] = []
    mapped = list(spec.map)
    for part, names in (
        ("fields", recon.fields or []),
        ("tolerance", list(recon.tolerance)),
        ("amount_field", [recon.amount_field] if recon.amount_field else []),
    ):
        for name in names:
            if name not in mapped:
                errors.append(
                    located(
                        f"{name!r} is not a mapped target field of flow {flow!r}"
                        + did_you_mean(name, mapped),
                        project.marks,
                        ("flows", flow, "recon", part),
                    )
                )
    try:
        compile_target_when(flow, recon.target_when)
    except ConfigError as exc:
        errors.append(located(exc.reason, project.marks, ("flows", flow, "recon", "target_when")))
    return errors


def mapping_problems(
    project: Project, *, clock: Callable[[], datetime] | None = None
) -> list[ConfigError]:
    """Every mapping error of every flow, located in the project file."""
    errors: list[ConfigError] = []
    tables = _tables(project, errors)
    for flow in project.spec.flows:
        spec = mapping_spec(project, flow, tables)
        for problem in check_mapping(spec, clock=clock):
            if problem.severity == "error":
                errors.append(_problem_error(project, flow, problem))
        try:
            compile_hold(project, flow, tables)
        except MappingCompileError as exc:
            errors += [_problem_error(project, flow, p) for p in exc.problems]
        errors += recon_problems(project, flow)
    return errors


async def schema_problems(
    project: Project, catalogs: Mapping[str, Catalog]
) -> tuple[list[ConfigError], list[ConfigError]]:
    """(errors, warnings) of every mapping checked against the systems' own schemas.

    ``catalogs`` maps connection name -> its ``describe()``; objects the catalog does not
    have are errors with a did-you-mean; field problems come from ``check_mapping``.
    """
    errors: list[ConfigError] = []
    warnings: list[ConfigError] = []
    tables = _tables(project, errors)
    for flow, spec in project.spec.flows.items():
        schemas = []
        for side in ("source", "target"):
            end = getattr(spec, side)
            catalog = catalogs.get(end.connection)
            schema = catalog.objects.get(end.object) if catalog else None
            if catalog is not None and schema is None:
                hint = did_you_mean(end.object, list(catalog.objects))
                errors.append(
                    located(
                        f"{end.connection} has no object {end.object!r}{hint}",
                        project.marks,
                        ("flows", flow, side, "object"),
                        at_value=True,
                    )
                )
            schemas.append(schema)
        checked = mapping_spec(project, flow, tables, catalogs)
        for problem in check_mapping(checked, schemas[0], schemas[1]):
            (errors if problem.severity == "error" else warnings).append(
                _problem_error(project, flow, problem)
            )
        try:
            hold = compile_hold(project, flow, tables)
        except MappingCompileError:
            hold = None  # reported offline, by mapping_problems
        if hold is not None:
            errors += hold_schema_problems(project, flow, hold, catalogs)
    return errors, warnings


def build_plans(project: Project, *, flows: list[str] | None = None) -> dict[str, FlowPlan]:
    """Compile the enabled flows (or the ones named) into plans.

    Raises:
        ConfigErrors: a mapping or table that does not compile, located in the file.
    """
    errors: list[ConfigError] = []
    tables = _tables(project, errors)
    plans: dict[str, FlowPlan] = {}
    names = flows if flows is not None else [n for n, f in project.spec.flows.items() if f.enabled]
    for name in names:
        if name not in project.spec.flows:
            errors.append(ConfigError(f"unknown flow {name!r}", path=str(project.path)))
            continue
        spec = project.spec.flows[name]
        mapping = mapping_spec(project, name, tables)
        problems = [p for p in check_mapping(mapping) if p.severity == "error"]
        try:
            hold = compile_hold(project, name, tables)
        except MappingCompileError as exc:
            problems += exc.problems
        recon_errors = recon_problems(project, name)
        if problems or recon_errors:
            errors += [_problem_error(project, name, p) for p in problems] + recon_errors
            continue
        connection_limits = (
            project.connections[spec.target.connection].limits
            if spec.target.connection in project.connections
            else None
        )
        batch = (
            spec.target.batch_size
            or (connection_limits.batch_size if connection_limits else None)
            or DEFAULT_BATCH_SIZE
        )
        plans[name] = FlowPlan(
            name=name,
            spec=spec,
            mapper=compile_mapping(mapping),
            policy=RetryPolicy.from_spec(spec.retry),
            entity=spec.entity or name,
            batch_size=batch,
            hold=hold,
        )
    if errors:
        raise ConfigErrors(errors)
    return _with_source_fields(_with_key_fields(plans), Aliases(project.spec.aliases))


def _with_source_fields(plans: dict[str, FlowPlan], aliases: Aliases) -> dict[str, FlowPlan]:
    """Tell each flow which source fields it uses (after its key fields are known), and
    which of them its content digest covers (all but what only ``when:`` reads)."""
    return {
        name: replace(
            plan,
            source_fields=flow_source_fields(
                getattr(plan.mapper, "source_fields", None), plan.key_fields, plan.hold, aliases
            ),
            content_fields=flow_source_fields(
                getattr(plan.mapper, "rule_fields", None), plan.key_fields, plan.hold, aliases
            ),
        )
        for name, plan in plans.items()
    }


def _with_key_fields(plans: dict[str, FlowPlan]) -> dict[str, FlowPlan]:
    """Tell each flow which of its source fields other flows find its records by."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for plan in plans.values():
        for entity, key_field in getattr(plan.mapper, "key_lookups", ()):
            wanted.setdefault((entity, plan.source_connection), set()).add(key_field)
    return {
        name: replace(plan, key_fields=tuple(sorted(fields)))
        if (fields := wanted.get((plan.entity, plan.source_connection)))
        else plan
        for name, plan in plans.items()
    }
