"""Recon reports from the store: JSON for scripts, CSV for spreadsheets, HTML for people."""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from erpbridge.spi.errors import ConfigError
from erpbridge.store.schema import recon_differences, recon_runs

__all__ = ["HTML_ROW_LIMIT", "load_report", "summary_line", "write_csv", "write_html"]

#: the HTML file lists at most this many differences (the CSV has all of them).
HTML_ROW_LIMIT = 5000

_LABELS = {
    "missing_in_target": "missing in {target}",
    "missing_in_source": "missing in {source}",
    "field": "field differences",
    "duplicate_source": "duplicates in {source}",
    "duplicate_target": "duplicates in {target}",
    "unmappable": "not mappable",
    "bad_record": "unusable records in {target}",
}


def load_report(conn: sa.Connection, run_id: int, *, limit: int | None = None) -> dict[str, Any]:
    """A run and its differences as plain data.

    Raises:
        ConfigError: no such run.
    """
    run = conn.execute(sa.select(recon_runs).where(recon_runs.c.id == run_id)).first()
    if run is None:
        raise ConfigError(f"no recon run {run_id}")
    query = (
        sa.select(recon_differences)
        .where(recon_differences.c.run_id == run_id)
        .order_by(recon_differences.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    differences = []
    for row in conn.execute(query):
        source = row.source_value or {}
        differences.append(
            {
                "id": row.id,
                "kind": row.kind,
                "key": row.record_key,
                "field": row.field,
                "expected": source.get("value"),
                "actual": (row.target_value or {}).get("value"),
                "rule": row.rule,
                "source_id": source.get("source_id"),
                "amount": source.get("amount"),
                "accepted": row.accepted,
                "repair_job": row.repair_job_id,
            }
        )
    return {
        "run": {
            k: v.isoformat() if hasattr(v, "isoformat") else v
            for k, v in dict(run._mapping).items()
        },
        "differences": differences,
    }


def summary_line(report: dict[str, Any], source: str, target: str, currency: str = "¥") -> str:
    """``orders: 12,034 match, 3 missing in erp (¥45,200.00), 2 field differences (¥0.37)``."""
    run = report["run"]
    totals = run.get("totals") or {}
    parts = [f"{int(totals.get('match', 0)):,} match"]
    for kind, entry in (totals.get("kinds") or {}).items():
        label = _LABELS.get(kind, kind).format(source=source, target=target)
        amount = entry.get("amount")
        money = (
            f" ({currency}{float(amount):,.2f})"
            if amount not in (None, "0") and float(amount)
            else ""
        )
        parts.append(f"{entry['records']:,} {label}{money}")
    if run.get("state") == "failed":
        return f"{run['flow']}: FAILED — {run.get('error')}"
    if run.get("state") in ("cancelled", "cancelling", "running"):
        hint = (
            f"; go on with: erpbridge recon resume {run['id']}"
            if run["state"] == "cancelled"
            else ""
        )
        return f"{run['flow']}: run {run['id']} {str(run['state']).upper()}{hint}"
    return f"{run['flow']}: " + ", ".join(parts)


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


def write_csv(path: Path, differences: Sequence[dict[str, Any]]) -> None:
    """Every difference, one row each (UTF-8 with BOM so Excel shows Chinese correctly)."""
    columns = [
        "id",
        "kind",
        "key",
        "field",
        "expected",
        "actual",
        "rule",
        "source_id",
        "amount",
        "accepted",
        "repair_job",
    ]
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for diff in differences:
            writer.writerow([_cell(diff.get(c)) for c in columns])


_STYLE = (
    'body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;'
    "margin:2em;color:#222}h1{font-size:1.4em}"
    "table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}.num{text-align:right}.failed{color:#b00}.note{color:#666}"
    "td.expected{background:#eef8ee}td.actual{background:#fbeeee}"
)


def _row(*cells: str, numeric: Sequence[int] = ()) -> str:
    tds = "".join(
        f"<td class=num>{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells)
    )
    return f"<tr>{tds}</tr>"


def write_html(path: Path, report: dict[str, Any], source: str, target: str) -> None:
    """One self-contained HTML file: summary, totals per class and field, the differences."""
    run = report["run"]
    totals = run.get("totals") or {}
    esc = html.escape

    def label(kind: str) -> str:
        return esc(_LABELS.get(kind, kind).format(source=source, target=target))

    totals_rows = [_row("match", f"{int(totals.get('match', 0)):,}", "", "", numeric=(1,))]
    for kind, entry in (totals.get("kinds") or {}).items():
        amount = esc(str(entry.get("amount")))
        totals_rows.append(
            _row(
                label(kind),
                f"{entry['records']:,}",
                f"{entry['count']:,}",
                amount,
                numeric=(1, 2, 3),
            )
        )
    field_rows = [
        _row(esc(f), f"{n:,}", numeric=(1,)) for f, n in (totals.get("fields") or {}).items()
    ]
    diffs = report["differences"][:HTML_ROW_LIMIT]
    diff_rows = [
        "<tr>"
        + "".join(
            f"<td>{v}</td>"
            for v in (label(d["kind"]), esc(_cell(d["key"])), esc(_cell(d["field"])))
        )
        + f"<td class=expected>{esc(_cell(d['expected']))}</td>"
        + f"<td class=actual>{esc(_cell(d['actual']))}</td>"
        + f"<td>{esc(_cell(d['rule']))}</td><td>{'accepted' if d['accepted'] else ''}</td></tr>"
        for d in diffs
    ]
    more = len(report["differences"]) - len(diffs)
    parts = [
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>erpbridge recon {esc(str(run['flow']))} #{run['id']}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Reconciliation: {esc(str(run['flow']))} ({esc(source)} → {esc(target)})</h1>",
        f"<p>Run #{run['id']} · started {esc(str(run.get('started_at')))} · "
        f"finished {esc(str(run.get('finished_at')))} · state {esc(str(run.get('state')))}</p>",
    ]
    if run.get("state") == "failed":
        parts.append(f"<p class=failed>Run failed: {esc(str(run.get('error')))}</p>")
    parts += [
        f"<p><b>{esc(summary_line(report, source, target))}</b></p>",
        "<h2>Totals</h2><table><tr><th>class</th><th>records</th><th>differences</th>"
        "<th>amount</th></tr>",
        *totals_rows,
        "</table><h2>Differences per field</h2><table><tr><th>field</th><th>records</th></tr>",
        *field_rows,
        "</table><h2>Differences</h2><table><tr><th>class</th><th>key</th><th>field</th>"
        f"<th>expected ({esc(source)}, mapped)</th><th>actual ({esc(target)})</th>"
        "<th>rule</th><th></th></tr>",
        *diff_rows,
        "</table>",
    ]
    if more > 0:
        parts.append(
            f"<p class=note>{more:,} more differences are in the CSV and JSON reports.</p>"
        )
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
