"""Render preview rows for a terminal (rich): source and target side by side."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from erpbridge.mapping.functions import brief
from erpbridge.mapping.preview import PreviewRow

__all__ = ["preview_table"]


def preview_table(row: PreviewRow, *, title: str | None = None) -> Table:
    """One table per record: source fields on the left; target field, value, rule and
    problems on the right. Errors are red, schema problems yellow. The title (default
    ``record <index>``) ends with the record's status: ok, problems, error, or skipped
    (by an xref lookup with ``missing="skip"``, or by the flow's ``when:``)."""
    if row.skipped:
        status = 'skipped: a lookup with missing="skip" has no target'
    else:
        status = "ok" if row.ok and not row.problems else ("problems" if row.ok else "error")
    if not row.accepted:
        status += ", skipped by when:"
    table = Table(title=f"{title or f'record {row.index}'} ({status})", show_lines=False)
    for name in ("source field", "source value", "target field", "value", "rule", "problems"):
        table.add_column(name, overflow="fold")
    source_items = [(str(k), brief(v, 40)) for k, v in row.source.items()]
    height = max(len(source_items), len(row.fields))
    for i in range(height):
        left: Sequence[str] = source_items[i] if i < len(source_items) else ("", "")
        if i < len(row.fields):
            f = row.fields[i]
            value = "(left out)" if f.omitted else ("" if f.error else brief(f.value, 60))
            if f.skipped:
                value, problems = "(skipped)", Text(f.skipped, style="yellow")
            else:
                style = "red" if f.error else ("yellow" if f.problems else "")
                problems = Text("; ".join(f.problems), style=style)
            right: tuple[str | Text, ...] = (f.name, value, f.rule, problems)
        else:
            right = ("", "", "", "")
        table.add_row(*left, *right)
    return table
