"""``forgelens db``: schema migrations, status, and copying one store into another."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from forgelens.cli._common import DbOption, RichProgress, console, print_rows
from forgelens.engine.db_copy import copy_store
from forgelens.store import open_store
from forgelens.store.schema import MIGRATIONS, TABLES

app = typer.Typer(help="Create and inspect the store's schema.", no_args_is_help=True)


@app.command("migrate")
def migrate(db: DbOption = None) -> None:
    """Apply pending migrations. Example: forgelens db migrate --db postgresql://localhost/test"""
    store = open_store(db, migrate=False)
    applied = store.migrate()
    console.print(
        f"{store.url}: applied {len(applied)} migration(s)"
        + (": " + ", ".join(applied) if applied else "")
    )


@app.command("status")
def status(db: DbOption = None) -> None:
    """List migrations (applied or pending) and tables. Example: forgelens db status"""
    store = open_store(db, migrate=False)
    done = set(store.applied_migrations())
    print_rows([{"migration": n, "applied": n in done} for n, _ in MIGRATIONS], title="migrations")
    console.print(f"{len(TABLES)} tables known; store {store.url}")


@app.command("copy")
def copy(
    from_url: Annotated[
        str, typer.Option("--from", help="Store to read, e.g. duckdb:///forgelens.duckdb.")
    ],
    to_url: Annotated[
        str, typer.Option("--to", help="Store to write (migrated first), e.g. postgresql://...")
    ],
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Only this table (repeatable).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per batch and transaction.")] = 50_000,
    restart: Annotated[
        bool, typer.Option(help="Forget earlier progress and copy the tables whole again.")
    ] = False,
) -> None:
    """Copy every table from one store to another; resumable, verified by row counts.

    Example: forgelens db copy --from duckdb:///forgelens.duckdb --to postgresql://localhost/fl
    """
    source = open_store(from_url, read_only=True)  # read as is: no migration, no lock
    try:
        dest = open_store(to_url)
        progress = RichProgress("rows")
        try:
            results = copy_store(
                source,
                dest,
                tables=table or (),
                batch_size=batch_size,
                restart=restart,
                progress=progress,
            )
        finally:
            progress.close()
            dest.close()
    finally:
        source.close()
    print_rows([asdict(r) for r in results], title=f"{source.url} -> {dest.url}")
