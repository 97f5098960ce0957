"""The server store: PostgreSQL through a psycopg 3 connection pool.

Bulk upserts of new rows (a first collection) COPY an Arrow batch (as CSV) straight into the
table under a savepoint; when a key already exists, the savepoint is rolled back and the batch
merges instead: COPY into a per-session temporary staging table, then
``INSERT ... SELECT DISTINCT ON (key) ... ORDER BY key ... ON CONFLICT (key) DO UPDATE ... WHERE
excluded._version >= tgt._version``: one statement, rows deduplicated (newest ``_version`` wins)
and taken in key order, so concurrent writers lock rows in the same order and never deadlock
each other; a deadlock or serialization failure caused by anything else is retried.

``transaction()`` pins one pooled connection to the calling thread until the outermost block
ends, so data and the cursor describing it commit together. Queries take DuckDB-style ``?``
placeholders (``store.sql.pg_params``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import errors as pg_errors
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from forgelens.store._arrow import writable_columns
from forgelens.store._common import StoreCommon, as_batch
from forgelens.store._pg import PgTarget, parse_url, rows_to_arrow, translate
from forgelens.store.base import ROW_STORE
from forgelens.store.schema import TableSpec
from forgelens.store.sql import column_type, create_table_sql, pg_params, quote

T = TypeVar("T")
q = quote

RETRIES = 5
DIRECT_MIN_ROWS = 1000  # smaller batches always merge
DIRECT_BACKOFF = 8  # batches of a table that merge directly after a direct COPY conflicted
COPY_CHUNK_ROWS = 50_000
_CSV = pacsv.WriteOptions(include_header=False)


class PostgresStore(StoreCommon):
    """A ``Store`` over a PostgreSQL database (or one schema of it). Thread-safe."""

    dialect = "postgres"
    capabilities = ROW_STORE

    def __init__(self, url: str, *, pool_size: int | None = None, read_only: bool = False) -> None:
        self._target: PgTarget = parse_url(url)
        self.read_only = read_only
        self.url = self._target.url
        self._local = threading.local()
        self._staged: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[str]] = (
            weakref.WeakKeyDictionary()
        )
        self._skip_direct: dict[str, int] = {}
        self._preflight()
        try:
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                self._target.conninfo,
                min_size=1,
                max_size=pool_size or self._target.pool_size,
                configure=self._configure,
                kwargs={"connect_timeout": 10},
                timeout=30,
                name="forgelens",
                open=True,
            )
        except (psycopg.Error, PoolTimeout) as exc:  # pragma: no cover - preflight caught it
            raise translate(exc, self._target) from exc

    # -- connections --------------------------------------------------------------------------
    def _preflight(self) -> None:
        """Connect once up front so a wrong URL fails now, with a clear message."""
        try:
            with psycopg.connect(self._target.conninfo, connect_timeout=10) as conn:
                if self._target.schema:
                    # another process may create it at the same moment
                    with contextlib.suppress(pg_errors.UniqueViolation):
                        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(self._target.schema)}")
        except psycopg.Error as exc:
            raise translate(exc, self._target) from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.adapters.register_loader("json", TextLoader)  # JSON reads as text, as on DuckDB
        conn.adapters.register_loader("jsonb", TextLoader)
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET temp_buffers = '64MB'")  # staging tables stay in memory
        if self.read_only:  # e.g. `forgelens query`: the server refuses every write
            conn.execute("SET default_transaction_read_only = on")
        if self._target.schema:
            conn.execute(f"SET search_path TO {q(self._target.schema)}")
        conn.commit()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """The thread's transaction connection, or a pooled one committed on exit."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        try:
            with self._pool.connection() as pooled:
                yield pooled
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self._target) from exc

    def _write(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``fn`` in the current transaction, or in its own one, retried on deadlock."""
        if getattr(self._local, "conn", None) is not None:
            try:
                return fn(self._local.conn)
            except psycopg.Error as exc:
                raise translate(exc, self._target) from exc
        for attempt in range(RETRIES):
            try:
                with self._pool.connection() as conn:
                    return fn(conn)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
                if attempt == RETRIES - 1:
                    raise translate(exc, self._target) from exc
                time.sleep(0.05 * 2**attempt)
            except (psycopg.Error, PoolTimeout) as exc:
                raise translate(exc, self._target) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:
            yield  # nested: the outermost block commits
            return
        try:
            with self._pool.connection() as conn:
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self._target) from exc

    def _cursor_run(
        self, conn: psycopg.Connection[Any], sql: str, params: Sequence[Any]
    ) -> psycopg.Cursor[Any]:
        cur = conn.cursor()
        try:
            if params:
                cur.execute(pg_params(sql), list(params))
            else:
                cur.execute(sql)
        except psycopg.Error as exc:
            raise translate(exc, self._target) from exc
        return cur

    # -- reads and plain statements -----------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._conn() as conn:
            self._cursor_run(conn, sql, params).close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn, self._cursor_run(conn, sql, params) as cur:
            return cur.fetchall() if cur.description else []

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._conn() as conn, self._cursor_run(conn, sql, params) as cur:
            if not cur.description:
                return []
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        with self._conn() as conn, self._cursor_run(conn, sql, params) as cur:
            return rows_to_arrow(cur.description, cur.fetchall() if cur.description else [])

    def iter_batches(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        """Stream a query's rows through a server-side cursor, ``batch_size`` rows at a time."""
        with self._conn() as conn:
            try:
                with conn.cursor(name=f"fl_{uuid.uuid4().hex[:12]}") as cur:
                    if params:
                        cur.execute(pg_params(sql), list(params))
                    else:
                        cur.execute(sql)
                    while rows := cur.fetchmany(batch_size):
                        yield from rows_to_arrow(cur.description, rows).to_batches()
            except psycopg.Error as exc:
                raise translate(exc, self._target) from exc

    def close(self) -> None:
        self._pool.close()

    # -- migrations ---------------------------------------------------------------------------
    def create_table(self, spec: TableSpec) -> None:
        for stmt in create_table_sql(self.dialect, spec):
            self.execute(stmt)

    # -- writes -------------------------------------------------------------------------------
    def upsert(
        self,
        table: str,
        rows: Sequence[Any] | pa.Table,
        *,
        version: int | None = None,
        source: str | None = None,
    ) -> int:
        spec = self.table_spec(table)
        batch = as_batch(spec, rows, version, source)
        if batch.num_rows == 0:
            return 0
        types = dict(writable_columns(spec))
        cols = batch.column_names
        batch = _clean_text(batch)
        stage = self._stage_name(spec, cols, types)
        self._write(lambda conn: self._merge(conn, spec, batch, cols, types, stage))
        return int(batch.num_rows)

    def _stage_name(self, spec: TableSpec, cols: list[str], types: dict[str, str]) -> str:
        shape = ",".join(f"{c}:{types[c]}" for c in cols)
        return f"_fl_stage_{spec.name}_{hashlib.sha1(shape.encode()).hexdigest()[:8]}"  # noqa: S324

    def _merge(
        self,
        conn: psycopg.Connection[Any],
        spec: TableSpec,
        batch: pa.Table,
        cols: list[str],
        types: dict[str, str],
        stage: str,
    ) -> None:
        if self._direct_copy(conn, spec.name, batch, cols):
            return
        staged = self._staged.setdefault(conn, set())
        if stage not in staged:
            defs = ", ".join(f"{q(c)} {column_type(self.dialect, types[c])}" for c in cols)
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {q(stage)} ({defs}) ON COMMIT DELETE ROWS"
            )
            staged.add(stage)
        try:
            self._copy_and_merge(conn, spec, batch, cols, stage)
        except BaseException:
            staged.discard(stage)  # a rolled-back transaction also undoes the CREATE
            raise

    def _copy_and_merge(
        self,
        conn: psycopg.Connection[Any],
        spec: TableSpec,
        batch: pa.Table,
        cols: list[str],
        stage: str,
    ) -> None:
        conn.execute(f"TRUNCATE {q(stage)}")
        _copy(conn, stage, batch, cols)
        conn.execute(_merge_sql(spec, cols, stage))

    def _direct_copy(
        self, conn: psycopg.Connection[Any], table: str, batch: pa.Table, cols: list[str]
    ) -> bool:
        """Optimistic path for batches of new rows (a first collection): COPY straight into the
        table under a savepoint. A conflict (an existing key, a key twice in the batch, a
        concurrent writer) rolls the savepoint back and returns False: the caller merges
        instead, and the next few batches of this table go straight to the merge."""
        skip = self._skip_direct.get(table, 0)
        if batch.num_rows < DIRECT_MIN_ROWS or skip > 0:
            self._skip_direct[table] = max(0, skip - 1)
            return False
        conn.execute("SAVEPOINT fl_direct_copy")
        try:
            _copy(conn, table, batch, cols)
        except (pg_errors.UniqueViolation, pg_errors.DeadlockDetected):
            conn.execute("ROLLBACK TO SAVEPOINT fl_direct_copy")
            self._skip_direct[table] = DIRECT_BACKOFF
            return False
        conn.execute("RELEASE SAVEPOINT fl_direct_copy")
        return True


def _copy(conn: psycopg.Connection[Any], table: str, batch: pa.Table, cols: list[str]) -> None:
    """COPY an Arrow table into ``table`` as CSV, streamed in chunks."""
    col_list = ", ".join(q(c) for c in cols)
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {q(table)} ({col_list}) FROM STDIN (FORMAT csv)") as copy,
    ):
        for chunk in batch.to_batches(max_chunksize=COPY_CHUNK_ROWS):
            buf = io.BytesIO()
            pacsv.write_csv(chunk, buf, _CSV)
            copy.write(buf.getbuffer())


def _merge_sql(spec: TableSpec, cols: list[str], stage: str) -> str:
    col_list = ", ".join(q(c) for c in cols)
    keys = ", ".join(q(k) for k in spec.key)
    order = f"{keys}, {q('_version')} DESC" if "_version" in cols else keys
    updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols if c not in spec.key)
    if not updates:
        conflict = "DO NOTHING"
    elif "_version" in cols:
        conflict = f"DO UPDATE SET {updates} WHERE excluded._version >= tgt._version"
    else:
        conflict = f"DO UPDATE SET {updates}"
    return (
        f"INSERT INTO {q(spec.name)} AS tgt ({col_list}) "
        f"SELECT DISTINCT ON ({keys}) {col_list} FROM {q(stage)} ORDER BY {order} "
        f"ON CONFLICT ({keys}) {conflict}"
    )


def _clean_text(batch: pa.Table) -> pa.Table:
    """PostgreSQL text cannot hold NUL characters (git data sometimes does): drop them."""
    for i, field in enumerate(batch.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = batch.column(i)
            if pc.any(pc.match_substring(column, "\x00")).as_py():
                batch = batch.set_column(i, field, pc.replace_substring(column, "\x00", ""))
    return batch
