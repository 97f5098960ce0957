"""The one ``Store`` protocol every backend implements, and ``open_store`` to pick one by URL."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from forgelens.errors import BadInput
from forgelens.store.schema import TableSpec

DEFAULT_DB_URL = "duckdb:///forgelens.duckdb"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a store's SQL can do, for code that must choose between two ways of doing a thing.

    Code outside ``store/`` asks these, never ``store.dialect``; SQL that is only *spelled*
    differently is ``store.sql``'s business.
    """

    compare_and_set: bool
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING`` and ``UPDATE ... WHERE ... RETURNING``
    act atomically, so racing writers can each claim a row (a run id, a backfill chunk) and
    learn whether they got it."""

    update_from: bool
    """``UPDATE ... FROM`` another table, and correlated subqueries in ``UPDATE``/``DELETE``."""

    final_reads: bool
    """A write appends rows with a newer ``_version`` and every read sees only the newest row
    of each key (ClickHouse's ``ReplacingMergeTree`` read with ``FINAL``): writing a row again
    replaces it, and there is no primary-key index for the order of an insert to help."""

    transactions: bool
    """``transaction()`` commits its statements together or rolls them all back (ClickHouse:
    each insert is atomic on its own and nothing rolls back; writes there are idempotent)."""


ROW_STORE = Capabilities(
    compare_and_set=True, update_from=True, final_reads=False, transactions=True
)
"""DuckDB and PostgreSQL."""

VERSIONED_APPEND_STORE = Capabilities(
    compare_and_set=False, update_from=False, final_reads=True, transactions=False
)
"""ClickHouse (server and chDB)."""


def is_single_writer(url: str) -> bool:
    """True for store URLs naming an embedded DuckDB file, which one process writes at a time."""
    return url.startswith("duckdb:") or url.endswith(".duckdb") or "://" not in url


@runtime_checkable
class Store(Protocol):
    """What the engine, analytics and service may ask of a store.

    Writes are idempotent upserts keyed by each table's natural key; a row whose ``_version`` is
    older than the stored one is ignored. ``transaction()`` groups writes (data and the cursor
    that describes it commit together).
    """

    url: str
    dialect: str  # the SQL dialect, for ``store.sql`` (elsewhere ask ``capabilities``)
    capabilities: Capabilities

    def migrate(self) -> list[str]: ...

    def applied_migrations(self) -> list[str]: ...

    def upsert(
        self,
        table: str,
        rows: Sequence[Any] | pa.Table,
        *,
        version: int | None = None,
        source: str | None = None,
    ) -> int: ...

    def write_records(self, records: Sequence[Any], *, source: str | None = None) -> int: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def bulk_load(
        self, new_keys: Sequence[str] = (), *, fresh: Sequence[str] = ()
    ) -> AbstractContextManager[None]:
        """Settings for a long stream of small batch writes (a git collection), restored
        afterwards; ``new_keys``: tables whose batches never repeat a key for the whole load;
        ``fresh``: tables whose batches hold only keys that are neither stored nor repeated,
        whatever the table holds (the caller deleted the rows it writes again). A no-op where
        the store has nothing to tune."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table: ...

    def iter_batches(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
    ) -> Iterator[pa.RecordBatch]: ...

    def get_cursor(self, repository_id: str, entity: str) -> str | None: ...

    def set_cursor(
        self, repository_id: str, entity: str, cursor: str, run_id: str | None
    ) -> None: ...

    def table_spec(self, table: str) -> TableSpec: ...

    def close(self) -> None: ...


def duckdb_path(url: str) -> Path:
    """``duckdb:///rel/path``, ``duckdb:////abs/path`` or a bare path ending in ``.duckdb``."""
    if url.startswith("duckdb:///"):
        return Path(url[len("duckdb:///") :])
    if url.startswith("duckdb://"):
        raise BadInput(f"{url!r}: write duckdb:///relative/path or duckdb:////absolute/path")
    return Path(url)


def open_store(url: str | None = None, *, read_only: bool = False, migrate: bool = True) -> Store:
    """Open (and by default migrate) the store that ``url`` names.

    ``url`` defaults to ``FORGELENS_DATABASE_URL`` and then ``./forgelens.duckdb``.
    """
    url = url or os.environ.get("FORGELENS_DATABASE_URL") or DEFAULT_DB_URL
    store: Store
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        try:
            from forgelens.store.postgres import PostgresStore
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise BadInput(
                "PostgreSQL support is not installed: pip install 'forgelens[postgres]'"
            ) from exc
        store = PostgresStore(url, read_only=read_only)
    elif url.startswith(("clickhouse://", "chdb://")):
        try:
            from forgelens.store.clickhouse import open_clickhouse
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise BadInput(
                "ClickHouse support is not installed: pip install 'forgelens[clickhouse]'"
            ) from exc
        store = open_clickhouse(url)
    elif is_single_writer(url):
        from forgelens.store.duckdb import DuckDBStore

        store = DuckDBStore(duckdb_path(url), read_only=read_only)
    else:
        raise BadInput(
            f"unknown store URL {url!r}: use duckdb:///path, postgresql://..., "
            "clickhouse://... or chdb:///path"
        )
    if migrate and not read_only:
        store.migrate()
    return store
