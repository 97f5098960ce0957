"""The ClickHouse store: a server (``clickhouse://user:pass@host:8123/db``) or embedded chDB
(``chdb:///path``), for warehouse-scale data. Needs the ``[clickhouse]`` extra.

Every table is ``ReplacingMergeTree(_version) ORDER BY (natural key)``. An upsert is an
append-only insert of one Arrow block whose rows carry a newer ``_version``; ClickHouse keeps the
newest version of each key when it merges parts, and every read runs with ``final = 1`` so it sees
that newest version before the merge has happened (``FINAL``; see ``benchmarks/clickhouse.py``
for its cost against ``argMax``). ``optimize()`` forces the merge.

ClickHouse has no multi-statement transactions, so ``transaction()`` only groups writes for
readability: each insert is atomic on its own, and nothing is rolled back. That stays safe because
every write is idempotent — re-inserting a row with a newer ``_version`` replaces it, and an older
one never wins — and because the engine writes a batch's data before the cursor that describes
it: a crash in between leaves the cursor behind, and the next run writes the same rows again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pyarrow as pa

from forgelens.errors import StoreError
from forgelens.store._arrow import now_version, to_arrow, writable_columns
from forgelens.store._clickhouse_client import Backend, Target, bind, connect, parse_url
from forgelens.store._common import StoreCommon
from forgelens.store.base import VERSIONED_APPEND_STORE
from forgelens.store.schema import TABLES, TableSpec
from forgelens.store.sql import create_table_sql, quote


def open_clickhouse(url: str) -> ClickHouseStore:
    """Open the ClickHouse store ``url`` names (not migrated: ``open_store`` does that)."""
    return ClickHouseStore(parse_url(url))


def _utc(table: pa.Table) -> pa.Table:
    """Timestamps come back in the session zone (UTC); name it ``UTC`` like the other stores."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz not in (None, "UTC"):
            utc = pa.timestamp(field.type.unit, tz="UTC")
            table = table.set_column(i, field.name, table.column(i).cast(utc))
    return table


class ClickHouseStore(StoreCommon):
    """A ``Store`` over ClickHouse. Thread-safe as far as its client is."""

    dialect = "clickhouse"
    capabilities = VERSIONED_APPEND_STORE

    def __init__(self, target: Target) -> None:
        self.target = target
        self.url = target.url
        self._db: Backend = connect(target)

    # -- reads --------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._db.command(bind(sql, params))

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return _utc(self._db.arrow(bind(sql, params)))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        table = self.query_arrow(sql, params)
        return list(zip(*(col.to_pylist() for col in table.columns), strict=True))

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.query_arrow(sql, params).to_pylist()
        return rows

    def iter_batches(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        for block in self._db.stream(bind(sql, params), batch_size):
            yield from _utc(pa.Table.from_batches([block])).to_batches(max_chunksize=batch_size)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A no-op: see the module docstring for why ClickHouse writes need no transaction."""
        yield

    def setting(self, name: str, value: str, reset: str) -> AbstractContextManager[None]:
        """A ClickHouse setting (``value`` as SQL) for this store's statements within the block;
        ``reset`` after it."""
        return self._db.setting(name, value, reset)

    def close(self) -> None:
        self._db.close()

    def optimize(self, table: str | None = None) -> None:
        """Merge now (``OPTIMIZE ... FINAL``): one row per key on disk, not only in reads."""
        for name in [table] if table else sorted(TABLES):
            self._db.command(f"OPTIMIZE TABLE {quote(name)} FINAL")

    # -- migrations ---------------------------------------------------------------------------
    def create_table(self, spec: TableSpec) -> None:
        for stmt in create_table_sql(self.dialect, spec):
            self._db.command(stmt)

    # -- writes -------------------------------------------------------------------------------
    def upsert(
        self,
        table: str,
        rows: Sequence[Any] | pa.Table,
        *,
        version: int | None = None,
        source: str | None = None,
    ) -> int:
        """Append ``rows`` as one block with a newer ``_version`` (Arrow tables may carry their
        own). Columns an Arrow table leaves out keep their stored values, as on other stores."""
        spec = self.table_spec(table)
        if isinstance(rows, pa.Table):
            batch = rows
            if "_version" not in batch.column_names and spec.versioned:
                ver = pa.array([version or now_version()] * batch.num_rows, pa.int64())
                batch = batch.append_column("_version", ver)
        else:
            batch = to_arrow(spec, rows, version=version, source=source)
        if batch.num_rows == 0:
            return 0
        writable = [c for c, _ in writable_columns(spec)]
        batch = batch.select([c for c in writable if c in batch.column_names])
        for key in spec.key:
            if key not in batch.column_names or batch.column(key).null_count:
                raise StoreError(f"{table}: rows without {key!r} (part of its key) cannot be saved")
        missing = [c for c in writable if c not in batch.column_names]
        if missing:
            batch = self._with_stored(spec, batch, missing)
        self.upsert_arrow(table, batch)
        return int(batch.num_rows)

    def upsert_arrow(self, table: str, batch: pa.Table) -> None:
        """Insert one Arrow block as it is (column names must be the table's)."""
        self._db.insert(table, batch)

    def _with_stored(self, spec: TableSpec, batch: pa.Table, missing: list[str]) -> pa.Table:
        """Add ``missing`` columns to ``batch`` from the stored rows with the same keys."""
        keys = list(spec.key)
        q = quote
        values: list[Any] = list(zip(*(batch.column(k).to_pylist() for k in keys), strict=True))
        if len(keys) == 1:
            values = [v[0] for v in values]
        cols = ", ".join(q(c) for c in [*keys, *missing])
        stored = self.query_arrow(
            f"SELECT {cols} FROM {q(spec.name)} WHERE ({', '.join(q(k) for k in keys)}) IN ?",
            [values],
        )
        for k in keys:  # join keys must have the same Arrow types on both sides
            i = stored.schema.get_field_index(k)
            stored = stored.set_column(i, k, stored.column(k).cast(batch.schema.field(k).type))
        return batch.join(stored, keys=keys, join_type="left outer")


__all__ = ["ClickHouseStore", "open_clickhouse"]
