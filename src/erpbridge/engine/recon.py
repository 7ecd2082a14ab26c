"""Reconciliation: read both sides of a flow, map the source side, join, classify, repair.

A run reads the source object (streaming, paged) and maps every record through the
flow's compiled mapping — the same code the workers run, with xrefs from the store — so
"expected" means exactly what a sync would write. It reads the target object (optionally
only the part in the run's target scope), joins both on the flow's natural key
(``target.key``), and classifies every key: ``match``, ``missing_in_target``,
``missing_in_source``, ``field`` (one difference per field, both values and the rule that
produced the expected one), ``duplicate_source`` / ``duplicate_target``, ``unmappable``
(the mapping refused the source record) and ``bad_record`` (a target record without a
key). Totals per class and per field, with amount sums when an amount field is named,
are kept in the store with every difference.

How it is fast and stays small: each side keeps one entry per record (key, id, the
compared values as read) in hash partitions on disk, the source side read by a second
process while this one reads the target (:mod:`erpbridge.engine.recon_process`); the
partitions are joined one at a time, and only pairs whose values differ as read are
normalised and compared field by field (:mod:`erpbridge.engine.recon_compare`).

A side that fails marks the run failed with the reason; a cancelled run is marked
``cancelled``; nothing is repaired from either. A cancelled run can be resumed: a side
that was read to its end is not read again.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from erpbridge.engine.clock import Clock
from erpbridge.engine.flow import FlowPlan
from erpbridge.engine.recon_compare import Difference, DifferenceKind, PartitionJoin, normalise
from erpbridge.engine.recon_index import SOURCE, TARGET
from erpbridge.engine.recon_options import (
    ReconOptions,
    compared_fields,
    options_from_params,
    params_of,
    recon_options,
)
from erpbridge.engine.recon_process import SideFailed, join_partitions, load_done, read_sides
from erpbridge.engine.recon_repair import apply_repairs, note_repairs, plan_repairs
from erpbridge.engine.recon_scope import compile_target_when
from erpbridge.engine.recon_side import Progress, ReadStopped, SideTask
from erpbridge.engine.runtime import Runtime
from erpbridge.spi.errors import ConfigError
from erpbridge.store.schema import recon_differences, recon_runs

__all__ = [
    "Difference",
    "DifferenceKind",
    "ReconOptions",
    "ReconResult",
    "apply_repairs",
    "cancel_recon",
    "normalise",
    "note_repairs",
    "plan_repairs",
    "recon_options",
    "resume_recon",
    "run_recon",
]


@dataclass(slots=True)
class ReconResult:
    """What a run found."""

    run_id: int
    flow: str
    state: str
    matches: int = 0
    differences: list[Difference] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    repairs: list[dict[str, Any]] = field(default_factory=list)
    read: dict[str, int] = field(default_factory=dict)
    without_key: int = 0


class _StopCheck:
    """True once someone asked to cancel the run (read from the store once a second)."""

    def __init__(self, store: sa.Engine, run_id: int, every_s: float) -> None:
        self.store, self.run_id, self.every_s = store, run_id, every_s
        self._checked = -every_s
        self.is_stopped = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.is_stopped and now - self._checked >= self.every_s:
            self._checked = now
            with self.store.connect() as conn:
                state = conn.execute(
                    sa.select(recon_runs.c.state).where(recon_runs.c.id == self.run_id)
                ).scalar_one_or_none()
            self.is_stopped = state == "cancelling"
        return self.is_stopped


async def run_recon(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    options: ReconOptions,
    clock: Clock,
    *,
    progress: Progress | None = None,
) -> ReconResult:
    """Run one reconciliation of ``plan``'s flow and store it (see the module docstring).

    A cancelled run (``cancel_recon``, or the task cancelled: Ctrl-C) is stored as
    ``cancelled`` with its work folder kept for :func:`resume_recon`.
    """
    key_field = plan.spec.target.key
    parent = options.work_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"erpbridge-recon-{plan.name}-", dir=parent))
    with store.begin() as conn:
        run_id = int(
            conn.execute(
                recon_runs.insert()
                .values(
                    flow=plan.name,
                    state="running",
                    params=params_of(options, key_field, folder),
                    started_at=clock.now(),
                )
                .returning(recon_runs.c.id)
            ).scalar_one()
        )
    return await _execute(store, runtime, plan, options, clock, run_id, folder, progress)


async def resume_recon(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    run_id: int,
    clock: Clock,
    *,
    progress: Progress | None = None,
    cancel_check_s: float = 1.0,
) -> ReconResult:
    """Go on with a cancelled run: a side read to its end before is not read again.

    Raises:
        ConfigError: no such run, not of this flow, or not cancelled.
    """
    with store.begin() as conn:
        run = conn.execute(sa.select(recon_runs).where(recon_runs.c.id == run_id)).first()
        if run is None or run.flow != plan.name:
            raise ConfigError(f"no recon run {run_id} of flow {plan.name!r}")
        if run.state != "cancelled":
            raise ConfigError(f"recon run {run_id} is {run.state}; only a cancelled run resumes")
        conn.execute(
            recon_runs.update()
            .where(recon_runs.c.id == run_id)
            .values(state="running", error=None, finished_at=None)
        )
    params = dict(run.params or {})
    folder = _work_folder(params.get("work_dir"))
    options = replace(options_from_params(params), cancel_check_s=cancel_check_s)
    return await _execute(store, runtime, plan, options, clock, run_id, folder, progress)


def _work_folder(path: str | None) -> Path:
    """The run's work folder (made anew, empty, when it is gone)."""
    folder = Path(path) if path else Path(tempfile.mkdtemp(prefix="erpbridge-recon-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cancel_recon(store: sa.Engine, run_id: int) -> str | None:
    """Ask a running run to stop (it then marks itself cancelled); returns its state before.

    A run that is not running is left as it is.
    """
    with store.begin() as conn:
        state = conn.execute(
            sa.select(recon_runs.c.state).where(recon_runs.c.id == run_id)
        ).scalar_one_or_none()
        if state == "running":
            conn.execute(
                recon_runs.update()
                .where(recon_runs.c.id == run_id, recon_runs.c.state == "running")
                .values(state="cancelling")
            )
    return None if state is None else str(state)


async def _execute(
    store: sa.Engine,
    runtime: Runtime,
    plan: FlowPlan,
    options: ReconOptions,
    clock: Clock,
    run_id: int,
    folder: Path,
    progress: Progress | None,
) -> ReconResult:
    result = ReconResult(run_id=run_id, flow=plan.name, state="running")
    key_field = plan.spec.target.key
    if not key_field:
        return _finish(
            store, result, clock, folder, error="the flow has no target key to join on (target.key)"
        )
    try:
        target_when = compile_target_when(plan.name, options.target_when)
    except ConfigError as exc:
        return _finish(store, result, clock, folder, error=exc.describe())
    if options.target_scope not in ("all", "xref"):
        error = f"target scope {options.target_scope!r}: use all or xref"
        return _finish(store, result, clock, folder, error=error)
    names = compared_fields(plan, options, key_field)
    task = SideTask(
        side=SOURCE,
        names=names,
        key_field=key_field,
        amount_field=options.amount_field,
        since=options.since,
        page_size=options.page_size,
        target_scope=options.target_scope,
        target_when=target_when,
    )
    done = {s: r for s in (SOURCE, TARGET) if (r := load_done(folder, s)) is not None}
    tasks = {s: replace(task, side=s) for s in (SOURCE, TARGET) if s not in done}
    stop = _StopCheck(store, run_id, options.cancel_check_s)
    joining = False
    try:
        sides = await read_sides(
            store,
            runtime,
            plan,
            tasks,
            folder,
            parallel=options.parallel,
            progress=progress,
            should_stop=stop,
        )
        sides.update(done)
        joining = True
        differences, result.matches = await _join(store, plan, options, names, folder, stop)
    except SideFailed as exc:
        return _finish(store, result, clock, folder, error=f"{exc}; nothing compared or repaired")
    except (ReadStopped, asyncio.CancelledError, KeyboardInterrupt):
        if joining:  # the partitions joined so far are gone: a resume reads both sides again
            shutil.rmtree(folder, ignore_errors=True)
        _finish(store, result, clock, folder, cancelled=True)
        if stop.is_stopped:
            return result
        raise
    result.read = {side: r.read for side, r in sides.items()}
    result.without_key = sides[TARGET].without_key
    problems = [p for side in (SOURCE, TARGET) for p in sides[side].problems]
    result.differences = problems + differences
    return _finish(store, result, clock, folder)


async def _join(
    store: sa.Engine,
    plan: FlowPlan,
    options: ReconOptions,
    names: Sequence[str],
    folder: Path,
    should_stop: Callable[[], bool],
) -> tuple[list[Difference], int]:
    """Join the partitions of both sides; (differences ordered by key, matches)."""
    rules = {name: str(plan.spec.map.get(name)) for name in plan.spec.map}
    join = PartitionJoin(
        names,
        rules,
        options.tolerances,
        options.amount_field,
        since_filtered=options.since is not None,
    )
    await join_partitions(store, folder, join, parallel=options.parallel, should_stop=should_stop)
    join.differences.sort(key=lambda d: (d.key, d.kind.value, d.field or ""))
    return join.differences, join.matches


def _totals(result: ReconResult) -> dict[str, Any]:
    by_kind: dict[str, dict[str, Any]] = {}
    by_field: dict[str, int] = defaultdict(int)
    for diff in result.differences:
        entry = by_kind.setdefault(
            diff.kind.value, {"count": 0, "keys": set(), "amount": Decimal(0)}
        )
        entry["count"] += 1
        entry["keys"].add(diff.key)
        if diff.amount is not None:
            entry["amount"] += diff.amount
        if diff.kind is DifferenceKind.FIELD and diff.field:
            by_field[diff.field] += 1
    return {
        "match": result.matches,
        "read": dict(result.read),
        "target_without_key": result.without_key,
        "kinds": {
            k: {"count": v["count"], "records": len(v["keys"]), "amount": format(v["amount"], "f")}
            for k, v in sorted(by_kind.items())
        },
        "fields": dict(sorted(by_field.items())),
    }


def _finish(
    store: sa.Engine,
    result: ReconResult,
    clock: Clock,
    folder: Path,
    error: str | None = None,
    *,
    cancelled: bool = False,
) -> ReconResult:
    result.error = error
    result.state = "cancelled" if cancelled else "failed" if error else "done"
    result.totals = _totals(result) if result.state == "done" else {}
    if not cancelled:  # a cancelled run keeps its work folder for resume
        shutil.rmtree(folder, ignore_errors=True)
    with store.begin() as conn:
        if result.state == "done" and result.differences:
            conn.execute(
                recon_differences.insert(),
                [
                    {
                        "run_id": result.run_id,
                        "kind": d.kind.value,
                        "record_key": d.key[:255],
                        "field": d.field,
                        "source_value": {
                            "value": d.expected,
                            "source_id": d.source_id,
                            "amount": str(d.amount) if d.amount is not None else None,
                        },
                        "target_value": {"value": d.actual},
                        "rule": d.rule,
                    }
                    for d in result.differences
                ],
            )
        conn.execute(
            recon_runs.update()
            .where(recon_runs.c.id == result.run_id)
            .values(
                state=result.state,
                totals=result.totals,
                error=error,
                finished_at=None if cancelled else clock.now(),
            )
        )
    return result
