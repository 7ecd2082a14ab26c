"""What a recon run compares: its options, where they come from, and how they are kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from erpbridge.config.model import ReconSpec
from erpbridge.engine.flow import FlowPlan
from erpbridge.spi.schema import FieldType

__all__ = [
    "ReconOptions",
    "compared_fields",
    "options_from_params",
    "params_of",
    "recon_options",
]

_NESTED = frozenset({FieldType.LINES, FieldType.OBJECT})


@dataclass(frozen=True, slots=True)
class ReconOptions:
    """What a run compares.

    Attributes:
        since: only source records changed since then (None: everything).
        fields: target fields to compare (None: every mapped field except the key and
            nested lines).
        tolerances: field -> allowed absolute difference for numbers (``amount=0.01``).
        amount_field: a target field whose values are summed per class in the totals.
        page_size: records per read page. Default 500.
        target_scope: ``all`` (default) or ``xref``: only target records that have an
            xref of this flow's entity (records that came from the source through it).
        target_when: an expression over the target record (``target.Field``); only
            target records for which it is true are compared. None: every record.
        parallel: read the source side in a second process while this one reads the
            target (where the platform can fork). Default True.
        trigger: who started the run (``manual``, ``schedule``), kept with its params.
        work_dir: where the run's partition files go (default: the system's temp folder).
        cancel_check_s: how often the store is asked whether the run was cancelled.
            Default 1 s.
    """

    since: datetime | None = None
    fields: Sequence[str] | None = None
    tolerances: Mapping[str, Decimal] = field(default_factory=dict)
    amount_field: str | None = None
    page_size: int = 500
    target_scope: str = "all"
    target_when: str | None = None
    parallel: bool = True
    trigger: str = "manual"
    work_dir: Path | None = None
    cancel_check_s: float = 1.0


def recon_options(
    recon: ReconSpec | None, now: datetime, *, trigger: str = "manual"
) -> ReconOptions:
    """The options a flow's ``recon:`` block gives (the defaults without one)."""
    if recon is None:
        return ReconOptions(trigger=trigger)
    return ReconOptions(
        since=now - recon.since if recon.since else None,
        fields=list(recon.fields) if recon.fields else None,
        tolerances=dict(recon.tolerance),
        amount_field=recon.amount_field,
        target_scope=recon.scope,
        target_when=recon.target_when,
        trigger=trigger,
    )


def params_of(options: ReconOptions, key_field: str | None, folder: Path) -> dict[str, Any]:
    """What a run keeps of its options in ``recon_runs.params`` (enough to resume it)."""
    return {
        "since": options.since.isoformat() if options.since else None,
        "fields": list(options.fields) if options.fields else None,
        "tolerances": {k: str(v) for k, v in options.tolerances.items()},
        "amount_field": options.amount_field,
        "key": key_field,
        "page_size": options.page_size,
        "target_scope": options.target_scope,
        "target_when": options.target_when,
        "trigger": options.trigger,
        "work_dir": str(folder),
    }


def options_from_params(params: Mapping[str, Any]) -> ReconOptions:
    """The options a stored run was started with (see :func:`params_of`)."""
    since = params.get("since")
    return ReconOptions(
        since=datetime.fromisoformat(since) if since else None,
        fields=params.get("fields"),
        tolerances={k: Decimal(v) for k, v in (params.get("tolerances") or {}).items()},
        amount_field=params.get("amount_field"),
        page_size=int(params.get("page_size") or 500),
        target_scope=params.get("target_scope") or "all",
        target_when=params.get("target_when"),
        trigger=params.get("trigger") or "manual",
    )


def compared_fields(plan: FlowPlan, options: ReconOptions, key_field: str) -> tuple[str, ...]:
    """The target fields a run compares, in the mapping's order."""
    if options.fields:
        return tuple(options.fields)
    compiled = getattr(plan.mapper, "fields", None)
    if compiled:
        return tuple(f.name for f in compiled if f.name != key_field and f.kind not in _NESTED)
    return tuple(name for name in plan.spec.map if name != key_field)
