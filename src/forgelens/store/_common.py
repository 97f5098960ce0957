"""What every store backend shares: ``StoreCommon`` (the ``Store`` methods written once over a
backend's own ``upsert``, ``query`` and ``transaction``) and small helpers."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from forgelens.errors import StoreError
from forgelens.store import _migrate
from forgelens.store._arrow import to_arrow, writable_columns
from forgelens.store.base import Store
from forgelens.store.schema import TABLES, TableSpec


class StoreCommon:
    """The ``Store`` methods every backend does alike, mixed into each backend's class."""

    def table_spec(self, table: str) -> TableSpec:
        try:
            return TABLES[table]
        except KeyError:
            raise StoreError(f"unknown table {table!r}") from None

    def applied_migrations(self: _migrate.Migratable) -> list[str]:
        return _migrate.applied_migrations(self)

    def migrate(self: _migrate.Migratable) -> list[str]:
        """Apply the pending migrations (``store._migrate``); return the names applied."""
        return _migrate.migrate(self)

    def write_records(self: Store, records: Sequence[Any], *, source: str | None = None) -> int:
        """Upsert records of any tables, one table after another in name order, in one
        transaction."""
        with self.transaction():
            return sum(self.upsert(t, rows, source=source) for t, rows in group_by_table(records))

    def get_cursor(self: Store, repository_id: str, entity: str) -> str | None:
        rows = self.query(CURSOR_SQL, [repository_id, entity])
        return rows[0][0] if rows else None

    def set_cursor(
        self: Store, repository_id: str, entity: str, cursor: str, run_id: str | None
    ) -> None:
        self.upsert("collection_cursors", [cursor_row(repository_id, entity, cursor, run_id)])

    def bulk_load(
        self, new_keys: Sequence[str] = (), *, fresh: Sequence[str] = ()
    ) -> AbstractContextManager[None]:
        """Settings for a long stream of batch writes; none on this store (see DuckDB's)."""
        return nullcontext()


def group_by_table(records: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """Records grouped by their ``TABLE``, tables in name order.

    A fixed table order means concurrent writers take row locks in the same order.
    """
    by_table: dict[str, list[Any]] = {}
    for rec in records:
        by_table.setdefault(rec.TABLE, []).append(rec)
    return sorted(by_table.items())


def cursor_row(repository_id: str, entity: str, cursor: str, run_id: str | None) -> dict[str, Any]:
    """The ``collection_cursors`` row that ``set_cursor`` writes."""
    return {
        "repository_id": repository_id,
        "entity": entity,
        "cursor": cursor,
        "run_id": run_id,
        "updated_at": datetime.now(UTC),
    }


CURSOR_SQL = "SELECT cursor FROM collection_cursors WHERE repository_id = ? AND entity = ?"


def as_batch(
    spec: TableSpec, rows: Sequence[Any] | pa.Table, version: int | None, source: str | None
) -> pa.Table:
    """What an ``upsert`` writes: ``rows`` as an Arrow table with only ``spec``'s writable
    columns (an Arrow table passes through and may leave columns out: those keep their stored
    values)."""
    batch = (
        rows if isinstance(rows, pa.Table) else to_arrow(spec, rows, version=version, source=source)
    )
    writable = [c for c, _ in writable_columns(spec)]
    return batch.select([c for c in writable if c in batch.column_names])
