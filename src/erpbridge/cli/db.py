"""``erpbridge db``: create, migrate and inspect the store."""

from __future__ import annotations

from pathlib import Path

import typer

from erpbridge.cli._common import (
    JSON_OPTION,
    PROJECT_OPTION,
    console,
    emit_json,
    fail,
    load_or_exit,
)
from erpbridge.config import DB_URL_ENV
from erpbridge.spi.errors import ConfigError
from erpbridge.store import (
    create_store_engine,
    current_revision,
    downgrade,
    head_revision,
    redact_url,
    upgrade,
)

app = typer.Typer(help="Create, migrate and inspect the store.", no_args_is_help=True)

URL_OPTION = typer.Option(
    None, "--url", help=f"Database URL (default: ${DB_URL_ENV}, else the project's store)."
)


def _url(url: str | None, project: Path | None) -> str:
    if url:
        return url
    import os

    if os.environ.get(DB_URL_ENV):
        return os.environ[DB_URL_ENV]
    return load_or_exit(project).store_url()


@app.command("upgrade")
def upgrade_cmd(
    revision: str = typer.Argument("head", help="Target revision (default: newest)."),
    url: str | None = URL_OPTION,
    project: Path | None = PROJECT_OPTION,
) -> None:
    """Create the store or migrate it to the newest schema."""
    target = _url(url, project)
    try:
        engine = create_store_engine(target)
        before = current_revision(engine)
        upgrade(engine, revision)
        after = current_revision(engine)
    except ConfigError as exc:
        fail(exc.describe())
    console.print(f"store {redact_url(target)}: {before or 'empty'} → {after}")


@app.command("downgrade")
def downgrade_cmd(
    revision: str = typer.Argument(
        ..., help="Revision to go down to ('-1' for one step, 'base' for empty)."
    ),
    url: str | None = URL_OPTION,
    project: Path | None = PROJECT_OPTION,
) -> None:
    """Migrate the store down (for rolling back a release)."""
    target = _url(url, project)
    try:
        engine = create_store_engine(target)
        downgrade(engine, revision)
        after = current_revision(engine)
    except ConfigError as exc:
        fail(exc.describe())
    console.print(f"store {redact_url(target)}: now at {after or 'empty'}")


@app.command("current")
def current_cmd(
    url: str | None = URL_OPTION, project: Path | None = PROJECT_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Show the store's schema revision and the newest one this version ships."""
    target = _url(url, project)
    try:
        revision = current_revision(create_store_engine(target))
    except ConfigError as exc:
        fail(exc.describe())
    head = head_revision()
    if as_json:
        emit_json(
            {
                "url": redact_url(target),
                "current": revision,
                "head": head,
                "up_to_date": revision == head,
            }
        )
        return
    state = (
        "up to date"
        if revision == head
        else f"behind (newest is {head}; run `erpbridge db upgrade`)"
    )
    console.print(f"store {redact_url(target)}: {revision or 'empty'} — {state}")
