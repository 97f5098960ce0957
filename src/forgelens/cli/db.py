"""``forgelens db``: schema migrations and status of a store."""

from __future__ import annotations

import typer

from forgelens.cli._common import DbOption, console, print_rows
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
