"""The mapping language (issue 5): declarative field mapping and format conversion.

Compile a flow's ``map:`` once per version, then map records with closures::

    spec = MappingSpec(flow="orders-to-sap", rules=raw_map, when=raw_when,
                       tables=load_tables(raw_tables, base_dir), positions=positions)
    mapping = compile_mapping(spec)           # MappingCompileError lists every error
    if mapping.accepts(record.fields):
        wanted = mapping.xref_requests(record.fields)   # resolve a batch in one query
        target = mapping.apply(record.fields, xrefs)    # MissingReference -> park the job
                                                        # SkippedReference -> skip the record

``check_mapping`` returns every problem (for ``erpbridge validate``) and ``preview``
maps sample records field by field without raising. docs/mapping.md is the reference.
"""

from erpbridge.mapping.aliases import Aliases
from erpbridge.mapping.check import check_mapping, kinds_compatible
from erpbridge.mapping.compiled import CompiledMapping, compile_mapping
from erpbridge.mapping.errors import (
    FieldMappingError,
    MappingCompileError,
    MappingError,
    MissingReference,
    Problem,
    Severity,
    SkippedReference,
)
from erpbridge.mapping.functions import FunctionSpec, builtin_functions
from erpbridge.mapping.positions import (
    expression_start,
    rule_positions,
    yaml_positions,
    yaml_value_pos,
)
from erpbridge.mapping.preview import PreviewField, PreviewRow, check_value, jsonable, preview
from erpbridge.mapping.render import preview_table
from erpbridge.mapping.rules import OMIT, FieldPlan
from erpbridge.mapping.spec import LANGUAGE_VERSION, MappingSpec
from erpbridge.mapping.tables import NO_DEFAULT, ValueTable, load_table, load_tables
from erpbridge.mapping.types import Record, SourcePos, XrefMap

__all__ = [
    "LANGUAGE_VERSION",
    "NO_DEFAULT",
    "OMIT",
    "Aliases",
    "CompiledMapping",
    "FieldMappingError",
    "FieldPlan",
    "FunctionSpec",
    "MappingCompileError",
    "MappingError",
    "MappingSpec",
    "MissingReference",
    "PreviewField",
    "PreviewRow",
    "Problem",
    "Record",
    "Severity",
    "SkippedReference",
    "SourcePos",
    "ValueTable",
    "XrefMap",
    "builtin_functions",
    "check_mapping",
    "check_value",
    "compile_mapping",
    "expression_start",
    "jsonable",
    "kinds_compatible",
    "load_table",
    "load_tables",
    "preview",
    "preview_table",
    "rule_positions",
    "yaml_positions",
    "yaml_value_pos",
]
