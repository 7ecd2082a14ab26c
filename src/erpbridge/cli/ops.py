"""Operations commands: ``erpbridge jobs [held|release|reject|prune]``, ``runs``, ``dlq …``."""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from rich.table import Table

from erpbridge.cli._common import (
    JSON_OPTION,
    PROJECT_OPTION,
    console,
    emit_json,
    err_console,
    fail,
    load_or_exit,
)
from erpbridge.config.model import parse_duration
from erpbridge.engine.dead_letters import (
    DeadLetterFilter,
    discard_dead_letters,
    edit_dead_letter,
    list_dead_letters,
    replay_dead_letters,
    show_dead_letter,
)
from erpbridge.engine.held_jobs import HeldAction, list_held, reject_held, release_held
from erpbridge.engine.retention import PruneResult, prune_jobs
from erpbridge.spi.errors import ConfigError
from erpbridge.store import open_store
from erpbridge.store.schema import attempts, jobs, runs

__all__ = ["audit_app", "dlq_app", "jobs_app", "jobs_cmd", "runs_cmd"]

dlq_app = typer.Typer(help="Dead letters: list, show, edit, replay, discard.", no_args_is_help=True)
jobs_app = typer.Typer(
    help="Jobs: list them (no subcommand); the held ones: held, release, reject; prune old ones.",
    invoke_without_command=True,
)


def _store(project: Path | None) -> sa.Engine:
    loaded = load_or_exit(project)
    try:
        return open_store(loaded.store_url())
    except ConfigError as exc:
        fail(exc.describe())


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


@jobs_app.callback()
def jobs_cmd(
    ctx: typer.Context,
    project: Path | None = PROJECT_OPTION,
    flow: str | None = typer.Option(None, "--flow", help="Only this flow."),
    state: str | None = typer.Option(
        None, "--state", help="queued, running, parked, held, done, dead, superseded."
    ),
    record: str | None = typer.Option(None, "--record", help="Only this source record id."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = JSON_OPTION,
) -> None:
    """List jobs, newest first (``erpbridge jobs held`` lists the held ones).

    ``reason`` is the last attempt's message: why a job was skipped (``filtered``: the
    flow's when:, or an xref lookup with missing="skip" that has no target), is parked,
    or failed.
    """
    if ctx.invoked_subcommand is not None:
        return
    store = _store(project)
    last_attempt = (
        sa.select(attempts.c.error_message)
        .where(attempts.c.job_id == jobs.c.id)
        .order_by(attempts.c.number.desc())
        .limit(1)
        .correlate(jobs)
        .scalar_subquery()
    )
    query = (
        sa.select(
            jobs.c.id,
            jobs.c.flow,
            jobs.c.source_id,
            jobs.c.source_version,
            jobs.c.trigger,
            jobs.c.state,
            jobs.c.outcome,
            jobs.c.attempts,
            jobs.c.target_id,
            jobs.c.next_attempt_at,
            jobs.c.updated_at,
            last_attempt.label("reason"),
        )
        .order_by(jobs.c.id.desc())
        .limit(limit)
    )
    if flow:
        query = query.where(jobs.c.flow == flow)
    if state:
        query = query.where(jobs.c.state == state)
    if record:
        query = query.where(jobs.c.source_id == record)
    with store.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        held = conn.execute(
            sa.select(sa.func.count()).where(
                jobs.c.state == "held", jobs.c.flow == flow if flow else sa.true()
            )
        ).scalar_one()
    if as_json:
        emit_json(rows)
        return
    _table(
        "Jobs",
        rows,
        [
            "id",
            "flow",
            "source_id",
            "trigger",
            "state",
            "outcome",
            "attempts",
            "target_id",
            "updated_at",
            "reason",
        ],
    )
    if held:
        console.print(f"{held} job(s) held for a person: erpbridge jobs held")


@jobs_app.command("held")
def jobs_held(
    project: Path | None = PROJECT_OPTION,
    flow: str | None = typer.Option(None, "--flow", help="Only this flow."),
    limit: int = typer.Option(1000, "--limit", min=1, max=100000),
    as_json: bool = JSON_OPTION,
) -> None:
    """Jobs held by their flow's hold: check, oldest first, with the reason."""
    store = _store(project)
    with store.connect() as conn:
        rows = list_held(conn, flow=flow, limit=limit)
    if as_json:
        emit_json(rows)
        return
    _table(
        "Held jobs",
        rows,
        ["id", "flow", "source_id", "held_at", "hold_reason", "recheck_at"],
    )
    if rows:
        console.print("release: erpbridge jobs release ID…   reject: erpbridge jobs reject ID…")


def _decide(
    action: Callable[..., list[HeldAction]],
    ids: list[int],
    project: Path | None,
    note: str,
    as_json: bool,
) -> None:
    """Release or reject held jobs in one transaction, then print what was decided."""
    with _store(project).begin() as conn:
        done = action(conn, ids, actor=_actor(), now=datetime.now(UTC), note=note)
    _decided(done, as_json)


def _decided(done: list[HeldAction], as_json: bool) -> None:
    if as_json:
        emit_json([dataclasses.asdict(item) for item in done])
    else:
        for item in done:
            what = f"{item.flow} {item.source_id}" if item.flow else "?"
            console.print(f"job {item.job_id} ({what}): {item.action}")
    if any(item.action.startswith("refused") for item in done):
        raise typer.Exit(1)


@jobs_app.command("release")
def jobs_release(
    ids: list[int] = typer.Argument(..., help="Held job ids."),
    project: Path | None = PROJECT_OPTION,
    note: str = typer.Option("", "--note", help="Why (kept in the audit log)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write held jobs regardless of the check (audited); the flag on the record is cleared."""
    _decide(release_held, ids, project, note, as_json)


@jobs_app.command("reject")
def jobs_reject(
    ids: list[int] = typer.Argument(..., help="Held job ids."),
    project: Path | None = PROJECT_OPTION,
    note: str = typer.Option("", "--note", help="Why (kept in the audit log)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """End held jobs without writing (audited); the flag stays on the record."""
    _decide(reject_held, ids, project, note, as_json)


def _older_than(text: str) -> timedelta:
    """``--older-than``: a positive age with its unit (``30d``, ``12h``, ``90m``)."""
    where = f"--older-than {text!r}"
    if text.strip().replace(".", "", 1).isdigit():
        fail(f"{where}: give a unit, e.g. {text.strip()}d for days (s, m, h, d)")
    try:
        age = parse_duration(text)
    except ValueError:
        fail(f"{where}: not an age; use a number with a unit: 30d, 12h, 90m")
    if age <= timedelta(0):
        fail(f"{where}: the age must be more than 0")
    return age


@jobs_app.command("prune")
def jobs_prune(
    project: Path | None = PROJECT_OPTION,
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        help="Prune jobs that finished longer ago than this (30d, 12h). "
        "Default: the project's store.retention.jobs_days.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete finished jobs past the retention, with their attempts and resolved dead letters.

    Kept: open jobs, jobs of open dead letters, and per record its newest job and its
    newest done job (the stale check reads it). Batches of 5,000 jobs, each its own
    transaction, so a running hub keeps working. Audited as ``jobs.prune``.
    """
    age = _older_than(older_than) if older_than is not None else None
    loaded = load_or_exit(project)
    if age is None:
        age = loaded.spec.store.retention.jobs_age
        if age is None:
            fail(
                "store.retention.jobs_days is 0 or null (keep forever): "
                "give --older-than (e.g. --older-than 30d) to prune by hand"
            )
    try:
        store = open_store(loaded.store_url())
    except ConfigError as exc:
        fail(exc.describe())
    verb = "would prune" if dry_run else "pruned"
    with err_console.status("pruning finished jobs…") as status:

        def show(sofar: PruneResult) -> None:
            status.update(f"{verb} {sofar.jobs} job(s) so far…")

        try:
            result = prune_jobs(
                store,
                older_than=age,
                now=datetime.now(UTC),
                dry_run=dry_run,
                progress=show,
                actor=_actor(),
            )
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            fail(f"the store failed during the prune ({reason}); batches done so far stay done")
        finally:
            store.dispose()
    if as_json:
        emit_json({**dataclasses.asdict(result), "cutoff": result.cutoff.isoformat()})
        return
    console.print(
        f"{verb} {result.jobs} job(s), {result.attempts} attempt(s) and "
        f"{result.dead_letters} dead letter(s) that finished before "
        f"{result.cutoff:%Y-%m-%d %H:%M:%S} UTC"
        + (" (dry run: nothing deleted)" if dry_run else "")
    )


def runs_cmd(
    project: Path | None = PROJECT_OPTION,
    flow: str | None = typer.Option(None, "--flow", help="Only this flow."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = JSON_OPTION,
) -> None:
    """Trigger runs per flow (read, queued, known, filtered, duration) and jobs by outcome."""
    store = _store(project)
    query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
    if flow:
        query = query.where(runs.c.flow == flow)
    with store.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        outcomes: dict[tuple[str, str], int] = {
            (str(f), str(o or s)): int(str(n))
            for f, s, o, n in conn.execute(
                sa.select(jobs.c.flow, jobs.c.state, jobs.c.outcome, sa.func.count()).group_by(
                    jobs.c.flow, jobs.c.state, jobs.c.outcome
                )
            )
        }
    for row in rows:
        started, finished = row["started_at"], row["finished_at"]
        row["duration_s"] = (
            round((finished - started).total_seconds(), 3) if started and finished else None
        )
    if as_json:
        emit_json(
            {
                "runs": rows,
                "outcomes": [
                    {"flow": f, "outcome": o, "jobs": n} for (f, o), n in sorted(outcomes.items())
                ],
            }
        )
        return
    _table(
        "Runs",
        rows,
        [
            "id",
            "flow",
            "trigger",
            "started_at",
            "duration_s",
            "read",
            "queued",
            "duplicates",
            "filtered",
            "error",
        ],
    )
    summary = Table(title="Jobs by outcome")
    for column in ("flow", "outcome", "jobs"):
        summary.add_column(column)
    for (f, o), n in sorted(outcomes.items()):
        if not flow or f == flow:
            summary.add_row(f, o, str(n))
    console.print(summary)


def _filter(
    ids: list[int] | None,
    flow: str | None,
    error_class: str | None,
    record: str | None,
    state: str | None = "open",
) -> DeadLetterFilter:
    return DeadLetterFilter(
        ids=ids or (), flow=flow, state=state, error_class=error_class, source_id=record
    )


@dlq_app.command("list")
def dlq_list(
    project: Path | None = PROJECT_OPTION,
    flow: str | None = typer.Option(None, "--flow"),
    error_class: str | None = typer.Option(
        None, "--class", help="validation, mapping, dependency, auth, transient …"
    ),
    state: str = typer.Option("open", "--state", help="open, replayed, discarded, or all."),
    record: str | None = typer.Option(None, "--record"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List dead letters (open ones by default)."""
    store = _store(project)
    with store.connect() as conn:
        rows = list_dead_letters(
            conn, _filter(None, flow, error_class, record, None if state == "all" else state)
        )
    if as_json:
        emit_json(rows)
        return
    _table(
        "Dead letters",
        rows,
        ["id", "flow", "source_id", "error_class", "error_message", "hint", "state", "created_at"],
    )


@dlq_app.command("show")
def dlq_show(
    dead_letter_id: int = typer.Argument(...),
    project: Path | None = PROJECT_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One dead letter: error, the target's own text, snapshot, payload, every attempt."""
    store = _store(project)
    with store.connect() as conn:
        try:
            row = show_dead_letter(conn, dead_letter_id)
        except ConfigError as exc:
            fail(exc.describe())
    if as_json:
        emit_json(row)
        return
    for key in (
        "id",
        "flow",
        "source_id",
        "state",
        "error_class",
        "error_message",
        "error_raw",
        "hint",
        "created_at",
    ):
        console.print(f"[bold]{key}[/]: {row.get(key)}", markup=True, highlight=False)
    console.print("[bold]source snapshot[/]:", markup=True)
    console.print(
        json.dumps(row.get("source_snapshot"), ensure_ascii=False, indent=2), markup=False
    )
    console.print("[bold]mapped payload[/]:", markup=True)
    console.print(json.dumps(row.get("mapped_payload"), ensure_ascii=False, indent=2), markup=False)
    _table(
        "Attempts",
        row["attempts"],
        ["number", "worker", "started_at", "outcome", "error_class", "error_message"],
    )


@dlq_app.command("replay")
def dlq_replay(
    ids: list[int] = typer.Argument(None, help="Dead letter ids (or use filters)."),
    project: Path | None = PROJECT_OPTION,
    flow: str | None = typer.Option(None, "--flow"),
    error_class: str | None = typer.Option(None, "--class"),
    record: str | None = typer.Option(None, "--record"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be queued; change nothing."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Queue open dead letters again (edited payloads are written as edited)."""
    if not ids and not (flow or error_class or record):
        fail("name dead letter ids or a filter (--flow, --class, --record)")
    loaded = load_or_exit(project)
    store = _store(project)
    with store.begin() as conn:
        plans = replay_dead_letters(
            conn,
            _filter(ids, flow, error_class, record),
            list(loaded.spec.flows),
            dry_run=dry_run,
            actor=_actor(),
            now=datetime.now(UTC),
        )
    rows = [
        {
            "dead_letter": p.dead_letter_id,
            "flow": p.flow,
            "record": p.source_id,
            "action": p.action,
            "job": p.job_id,
        }
        for p in plans
    ]
    if as_json:
        emit_json(rows)
    else:
        _table(
            "Replay" + (" (dry run)" if dry_run else ""),
            rows,
            ["dead_letter", "flow", "record", "action", "job"],
        )
    if any(p.action.startswith("refused") for p in plans):
        raise typer.Exit(1)


@dlq_app.command("discard")
def dlq_discard(
    ids: list[int] = typer.Argument(None),
    project: Path | None = PROJECT_OPTION,
    flow: str | None = typer.Option(None, "--flow"),
    error_class: str | None = typer.Option(None, "--class"),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Mark open dead letters as discarded (kept for the record, never replayed)."""
    if not ids and not (flow or error_class):
        fail("name dead letter ids or a filter (--flow, --class)")
    store = _store(project)
    with store.begin() as conn:
        count = discard_dead_letters(
            conn,
            _filter(ids, flow, error_class, None),
            actor=_actor(),
            now=datetime.now(UTC),
            reason=reason,
        )
    console.print(f"discarded {count}")


@dlq_app.command("edit")
def dlq_edit(
    dead_letter_id: int = typer.Argument(...),
    project: Path | None = PROJECT_OPTION,
    target: str = typer.Option(
        "payload", "--target", help="payload (what is written) or snapshot (the source record)."
    ),
    sets: list[str] = typer.Option(
        None, "--set", help="path=value; value is JSON when it parses, else text. Repeatable."
    ),
    document: Path | None = typer.Option(
        None, "--file", help="Replace the whole document with this JSON file."
    ),
) -> None:
    """Edit a dead letter's payload or source snapshot before replaying it."""
    changes: dict[str, Any] = {}
    for item in sets or []:
        path, sep, value = item.partition("=")
        if not sep or not path:
            fail(f"--set {item!r}: use path=value")
        try:
            changes[path] = json.loads(value)
        except json.JSONDecodeError:
            changes[path] = value
    replacement = None
    if document is not None:
        try:
            replacement = json.loads(document.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            fail(f"{document}: {exc}")
    if not changes and replacement is None:
        fail("nothing to change: give --set path=value or --file")
    store = _store(project)
    with store.begin() as conn:
        try:
            edited = edit_dead_letter(
                conn,
                dead_letter_id,
                target=target,
                sets=changes,
                document=replacement,
                actor=_actor(),
                now=datetime.now(UTC),
            )
        except ConfigError as exc:
            fail(exc.describe())
    console.print(json.dumps(edited, ensure_ascii=False, indent=2), markup=False)


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(project: Path | None = PROJECT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Recompute the audit chain; exit 1 if any entry was edited, removed or reordered."""
    from erpbridge.store.audit import verify_audit_log

    store = _store(project)
    with store.connect() as conn:
        ok, count, reason = verify_audit_log(conn)
    if as_json:
        emit_json({"ok": ok, "entries": count, "reason": reason})
    else:
        console.print(f"audit log: {count} entries checked: {reason}")
    if not ok:
        raise typer.Exit(1)
