"""The one migration loop every store runs: the named migrations of ``schema.MIGRATIONS``, in
name order, each in its own transaction (where the engine has them), each recorded in
``schema_migrations`` in that same transaction.

Several processes may migrate one store at once (workers starting together): a migration is
applied under the store's migration lock (PostgreSQL: an advisory lock held until the
transaction ends) and skipped when the table already records it. DuckDB serializes the
transactions of its one connection. ClickHouse has neither transactions nor locks: a migration
cut short, or run twice, is simply run again, which is safe because every DDL statement is
``IF NOT EXISTS`` / ``OR REPLACE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from forgelens.store.schema import MIGRATIONS, TableSpec
from forgelens.store.sql import MIGRATION_LOCK_SQL, table_exists_sql

SCHEMA_MIGRATIONS = TableSpec(
    "schema_migrations", (("name", "text"), ("applied_at", "ts")), ("name",), versioned=False
)


class Migratable(Protocol):
    dialect: str

    def create_table(self, spec: TableSpec) -> None: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> AbstractContextManager[None]: ...


def applied_migrations(db: Migratable) -> list[str]:
    """The names recorded in ``schema_migrations``, in order (none before the first migrate)."""
    if not db.query(table_exists_sql(db.dialect), [SCHEMA_MIGRATIONS.name])[0][0]:
        return []
    return [r[0] for r in db.query("SELECT name FROM schema_migrations ORDER BY name")]


def migrate(db: Migratable) -> list[str]:
    """Apply the pending migrations; return the names this call applied."""
    applied: list[str] = []
    done = set(applied_migrations(db))  # the common case, nothing pending: no lock taken
    for name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if name in done:
            continue
        with db.transaction():
            for stmt in MIGRATION_LOCK_SQL.get(db.dialect, []):
                db.execute(stmt)
            db.create_table(SCHEMA_MIGRATIONS)
            if db.query("SELECT 1 FROM schema_migrations WHERE name = ?", [name]):
                continue  # another process applied it meanwhile
            fn(db)
            db.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                [name, datetime.now(UTC)],
            )
        applied.append(name)
    return applied
