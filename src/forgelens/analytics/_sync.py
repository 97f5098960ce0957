"""Writing a recomputed set of rows by changing only the rows that differ.

An incremental run recomputes every row of a scope (say, the ownership rows of the files its new
PRs touch), and most come out as they were. Deleting the whole scope and inserting it again
makes the store rewrite each of those rows, their primary-key index entries and, on DuckDB, the
row groups holding them at the next checkpoint: on the 1M-PR benchmark that was 1.3 s of an
incremental run for 50,000 ownership rows of which 18,000 had changed. ``write_changed`` instead
deletes the rows of the scope the recompute no longer gives, updates the rows whose values
changed and inserts the new ones. Rows whose values did not change keep their ``updated_at``
and ``_version`` (they say when the values last changed, which a downstream sync relies on).

ClickHouse has neither ``UPDATE ... FROM`` nor a correlated ``NOT EXISTS``: there the rows
that are new or whose values changed are inserted again with this run's newer ``_version``
(the ReplacingMergeTree keeps the newest per key, and the session's ``FINAL`` reads see only
it), and the rows of the scope no longer produced are deleted by a tuple ``NOT IN`` of their
keys (``_sql.key_in``). Unchanged rows are not written either.
"""

from __future__ import annotations

from forgelens.analytics._ctx import NEW_ROWS, Ctx
from forgelens.store import sql as _sql

STAMP = ("updated_at", "_version", "_source")


def write_changed(
    ctx: Ctx, table: str, keys: list[str], values: list[str], select_sql: str, scope: str
) -> None:
    """Make the rows of ``table`` within ``scope`` exactly those ``select_sql`` gives.

    ``select_sql`` yields the columns ``keys + values + STAMP`` in that order, only for keys
    within ``scope``: a condition on the rows of ``table`` (columns qualified by the table's
    name). The ``STAMP`` columns are ``ctx.stamp()``. Run inside a transaction.
    """
    store = ctx.store
    cols = [*keys, *values, *STAMP]
    if not store.query(f"SELECT 1 FROM {table} WHERE {scope} LIMIT 1"):
        # Nothing to compare with (a new end date: whole snapshots). Rows in key order build
        # a primary-key index with far less work, at the insert and at the commit's
        # checkpoint (DuckDB: 515,000 ownership rows 2.1 s -> 1.4 s). The snapshot tables have
        # none on DuckDB (the sort was then 0.3 of 0.9 CPU s computing those rows), ClickHouse
        # none anywhere (it sorts by its ORDER BY key).
        if _sql.key_indexed(store, table):
            order = ", ".join(str(i) for i in range(1, len(keys) + 1))
            select_sql = f"SELECT * FROM ({select_sql}) q ORDER BY {order}"
        _sql.insert_select(store, table, cols, select_sql)
        return
    if store.capabilities.final_reads:
        _write_changed_ch(ctx, table, keys, values, select_sql, scope)
        return
    ctx.work(NEW_ROWS, f"SELECT * FROM ({select_sql}) q ({', '.join(cols)})")
    same_key = " AND ".join(f"n.{k} = {table}.{k}" for k in keys)
    _sql.run(
        store,
        f"DELETE FROM {table} WHERE {scope} "
        f"AND NOT EXISTS (SELECT 1 FROM {NEW_ROWS} n WHERE {same_key})",
        what=f"{table} gone",
    )
    changed = " OR ".join(f"n.{v} IS DISTINCT FROM {table}.{v}" for v in values)
    _sql.run(
        store,
        f"UPDATE {table} SET {', '.join(f'{c} = n.{c}' for c in (*values, *STAMP))} "
        f"FROM {NEW_ROWS} n WHERE {same_key} AND ({changed})",
        what=f"{table} changed",
    )
    _sql.run(
        store,
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(f'n.{c}' for c in cols)} "
        f"FROM {NEW_ROWS} n WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {same_key})",
        what=f"{table} new",
    )
    _sql.drop_work_table(store, NEW_ROWS)


def _write_changed_ch(
    ctx: Ctx, table: str, keys: list[str], values: list[str], select_sql: str, scope: str
) -> None:
    """``write_changed`` on ClickHouse: insert the new and changed rows (a newer ``_version``
    supersedes the stored row of the key), delete the keys of the scope no longer produced."""
    store = ctx.store
    cols = [*keys, *values, *STAMP]
    names = ", ".join(cols)
    # The work table has the target's column types, so values compare exactly as stored.
    _sql.drop_work_table(store, NEW_ROWS)
    _sql.run(
        store,
        f"CREATE TABLE {NEW_ROWS} AS {table} ENGINE = {_sql.ch_work_engine(store)}",
        what=NEW_ROWS,
    )
    _sql.insert_select(store, NEW_ROWS, cols, select_sql)
    gone = _sql.key_in(store, [f"{table}.{k}" for k in keys], NEW_ROWS, keys)
    _sql.run(store, f"DELETE FROM {table} WHERE {scope} AND NOT ({gone})", what=f"{table} gone")
    # A row is written unless the same key already holds the same values (NULL equal to NULL).
    same = ", ".join([*keys, *values])
    _sql.run(
        store,
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {NEW_ROWS} "
        f"WHERE ({same}) NOT IN (SELECT {same} FROM {table} WHERE {scope}) "
        "SETTINGS transform_null_in = 1",
        what=f"{table} changed or new",
    )
    _sql.drop_work_table(store, NEW_ROWS)
