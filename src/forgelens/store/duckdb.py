"""The embedded default store: one DuckDB file, no set-up."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from forgelens.errors import BadInput, StoreError, StoreLocked
from forgelens.store._common import StoreCommon, as_batch
from forgelens.store.base import ROW_STORE
from forgelens.store.schema import TableSpec
from forgelens.store.sql import create_table_sql, quote

_BULK_CHECKPOINT = "4MB"  # WAL size that triggers a checkpoint during bulk_load()
_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<prog>.*?) \(PID (?P<pid>\d+)\)")


def _translate(exc: duckdb.Error, path: Path) -> StoreError:
    text = str(exc)
    match = _LOCK_RE.search(text)
    if match or "Could not set lock" in text:
        who = f"process {match['pid']} ({match['prog']})" if match else "another process"
        return StoreLocked(
            f"the store {path} is in use by {who}. Wait for it to finish, stop it, or pass "
            "another --db; for several writers at once use PostgreSQL (--db postgresql://...)."
        )
    return StoreError(f"DuckDB store {path}: {text.splitlines()[0]}")


def _upsert_sql(
    table: str, spec: TableSpec, cols: list[str], *, new_keys: bool = False, fresh: bool = False
) -> tuple[str, str | None]:
    """(insert, update) statements that upsert the registered ``_fl_batch`` into ``table``.

    The batch is deduplicated on the key (the newest ``_version`` wins). The insert adds the
    rows whose key is new (an anti-join); the update, needed only when fewer rows were
    inserted than the batch holds, overwrites existing rows unless their ``_version`` is
    newer. A fresh collection thus only inserts, which is much cheaper in DuckDB than
    ``INSERT ... ON CONFLICT`` on a primary-key index. With ``new_keys`` (see ``bulk_load``)
    the insert skips the anti-join, which scans the whole table on every batch; with ``fresh``
    it also skips the deduplication (a sort of the batch): a plain insert.
    """
    q = quote
    col_list = ", ".join(q(c) for c in cols)
    if fresh:
        return f"INSERT INTO {q(table)} ({col_list}) SELECT {col_list} FROM _fl_batch", None
    keys = ", ".join(q(k) for k in spec.key)
    order = "_version DESC" if "_version" in cols else keys
    batch = f"(SELECT DISTINCT ON ({keys}) {col_list} FROM _fl_batch ORDER BY {keys}, {order}) AS b"
    match = " AND ".join(f"t.{q(k)} = b.{q(k)}" for k in spec.key)
    insert = f"INSERT INTO {q(table)} ({col_list}) SELECT {col_list} FROM {batch}"
    if not new_keys:
        insert += f" WHERE NOT EXISTS (SELECT 1 FROM {q(table)} AS t WHERE {match})"
    updates = ", ".join(f"{q(c)} = b.{q(c)}" for c in cols if c not in spec.key)
    if not updates:
        return insert, None
    newer = " AND b._version >= t._version" if "_version" in cols else ""
    return insert, f"UPDATE {q(table)} AS t SET {updates} FROM {batch} WHERE {match}{newer}"


class DuckDBStore(StoreCommon):
    """A ``Store`` over one DuckDB file. Thread-safe: one connection, one lock."""

    dialect = "duckdb"
    capabilities = ROW_STORE

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.url = f"duckdb:///{self.path}"
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise BadInput(f"no store at {self.path}: run `forgelens collect` first or pass --db")
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise _translate(exc, self.path) from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._new_keys: set[str] = set()  # tables bulk_load() fills with keys not stored yet
        self._fresh: set[str] = set()  # tables bulk_load() fills with keys not stored nor repeated

    # -- plumbing -----------------------------------------------------------------------------
    def _run(self, sql: str, params: Sequence[Any] = ()) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql, list(params))
        except duckdb.Error as exc:
            raise _translate(exc, self.path) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._run("BEGIN TRANSACTION")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._con.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._run("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            self._run(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._run(sql, params).fetchall()

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._run(sql, params)
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        with self._lock:
            try:  # a relation, not a DB-API result: duckdb 2 warns on the extra copy
                return self._con.sql(sql, params=list(params) or None).to_arrow_table()
            except duckdb.Error as exc:
                raise _translate(exc, self.path) from exc

    def iter_batches(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        with self._lock:
            try:
                rel = self._con.sql(sql, params=list(params) or None)
                reader: pa.RecordBatchReader = rel.to_arrow_reader(batch_size)
                yield from reader
            except duckdb.Error as exc:
                raise _translate(exc, self.path) from exc

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # -- migrations ---------------------------------------------------------------------------
    def create_table(self, spec: TableSpec) -> None:
        for stmt in create_table_sql(self.dialect, spec):
            self._run(stmt)

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
        cols = batch.column_names
        with self._lock, self.transaction():
            self._con.register("_fl_batch", batch)
            try:
                insert, update = _upsert_sql(
                    table,
                    spec,
                    cols,
                    new_keys=table in self._new_keys,
                    fresh=table in self._fresh,
                )
                inserted = self._run(insert).fetchone()
                if update and (inserted[0] if inserted else 0) < batch.num_rows:
                    self._run(update)  # some keys existed (or the batch repeats a key)
            finally:  # in a transaction a failed statement aborted, this fails too: say why
                with contextlib.suppress(duckdb.Error):
                    self._con.unregister("_fl_batch")
        return int(batch.num_rows)

    @contextmanager
    def bulk_load(
        self, new_keys: Sequence[str] = (), *, fresh: Sequence[str] = ()
    ) -> Iterator[None]:
        """Settings for a long stream of small batch writes (a git collection), restored
        afterwards. DuckDB only.

        ``new_keys`` names tables whose batches, for the whole load, never repeat a key (a git
        collection's ``commits`` and ``commit_files``). Such a table that is empty when the
        load starts gets plain inserts: no anti-join against the stored rows, which reads the
        whole table on every batch (quadratic in the history, and it keeps the table's blocks
        cached). A key repeated anyway fails on the primary key; nothing is overwritten.

        ``fresh`` names tables whose batches hold only keys that are neither stored nor repeated,
        whatever the table holds (``analyze dora`` deletes the links it writes again): plain
        inserts, without the anti-join nor the batch's deduplication (a sort: 2 of the 6 CPU
        seconds of inserting 1.9M ``deployment_commits`` rows). A key stored or repeated anyway
        fails on a keyed table's primary key (tables without one, ``TableSpec.key_index``, rely
        on their writer).

        One DuckDB thread, so the writes neither compete with the git processes for cores nor
        keep per-thread buffers (about 25 MB less peak RSS). A 4 MB WAL checkpoint threshold
        instead of 16 MB: committed rows stay uncompressed in memory until a checkpoint, and
        a checkpoint's working set grows with them (about 10 MB less peak RSS on 100,000
        commits, at the same speed)."""
        with self._lock:
            saved = self._run(
                "SELECT current_setting('threads'), current_setting('checkpoint_threshold')"
            ).fetchone()
            self._run("SET threads = 1")
            self._run(f"SET checkpoint_threshold = '{_BULK_CHECKPOINT}'")
            q = quote
            self._new_keys = {
                t for t in new_keys if not self._run(f"SELECT 1 FROM {q(t)} LIMIT 1").fetchall()
            }
            self._fresh = set(fresh)
        try:
            yield
        finally:
            with self._lock:
                self._new_keys = set()
                self._fresh = set()
                threads, threshold = saved if saved else (1, "16MiB")
                self._run(f"SET threads = {int(threads)}")
                self._run(f"SET checkpoint_threshold = '{threshold}'")
