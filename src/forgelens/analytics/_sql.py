"""The few SQL differences between DuckDB and PostgreSQL the analytics need, in one place.

Everything else the analytics write is a portable subset of both: ``CAST(ts AT TIME ZONE 'UTC'
AS DATE)`` for UTC days, ``EXTRACT(EPOCH FROM ts)``, ``date_trunc('week', ...)``, window
functions with numeric ``RANGE`` frames, ``percentile_cont ... WITHIN GROUP``, ``FILTER``,
``string_agg(... ORDER BY ...)``, ``INSERT ... SELECT ... ON CONFLICT``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import date

from forgelens.logs import get_logger
from forgelens.store import Store
from forgelens.store._dialect import quote

log = get_logger(__name__)


def run(store: Store, sql: str, params: Iterable[object] = (), *, what: str = "") -> None:
    """Execute one statement, logging its duration (``LOG_LEVEL=DEBUG``)."""
    started, cpu = time.perf_counter(), time.process_time()
    store.execute(sql, list(params))
    log.debug(
        "analytics sql",
        what=what,
        seconds=round(time.perf_counter() - started, 3),
        cpu=round(time.process_time() - cpu, 3),
    )


def dialect(store: Store) -> str:
    return "postgres" if store.dialect.startswith("postgres") else "duckdb"


def regex_match(store: Store, expr: str, pattern: str) -> str:
    """``expr`` matches the (RE2/POSIX-compatible) ``pattern``."""
    lit = literal(pattern)
    if dialect(store) == "postgres":
        return f"({expr} ~ {lit})"
    return f"regexp_matches({expr}, {lit})"


def regex_group(store: Store, expr: str, pattern: str) -> str:
    """The first capture group of ``pattern`` in ``expr``, NULL when it does not match."""
    lit = literal(pattern)
    if dialect(store) == "postgres":
        return f"substring({expr} from {lit})"
    return f"NULLIF(regexp_extract({expr}, {lit}, 1), '')"


def stable_bigint(store: Store, numeric_text: str, fallback_text: str) -> str:
    """``numeric_text`` as a bigint when all digits, else a stable hash of ``fallback_text``."""
    if dialect(store) == "postgres":
        return (
            f"(CASE WHEN {numeric_text} ~ '^[0-9]{{1,18}}$' THEN CAST({numeric_text} AS BIGINT) "
            f"ELSE hashtextextended({fallback_text}, 0) END)"
        )
    return (
        f"COALESCE(TRY_CAST({numeric_text} AS BIGINT), "
        f"CAST(hash({fallback_text}) % 9223372036854775807 AS BIGINT))"
    )


def tune_session(store: Store, memory_limit: str) -> None:
    """DuckDB: bound memory (spilling to disk beyond it) and drop insertion order."""
    if dialect(store) == "duckdb" and memory_limit:
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit.strip()):
            from forgelens.errors import BadInput

            raise BadInput(f"memory_limit {memory_limit!r}: write e.g. 3GB or 512MB")
        store.execute(f"SET memory_limit = '{memory_limit.strip()}'")
        store.execute("SET preserve_insertion_order = false")


def hash64(store: Store, *exprs: str) -> str:
    """A 64-bit hash of text expressions (partition keys that sort fast)."""
    if dialect(store) == "postgres":
        return "hashtextextended(" + " || chr(31) || ".join(exprs) + ", 0)"
    return f"hash({', '.join(exprs)})"


def create_work_table(
    store: Store, name: str, select_sql: str, params: Iterable[object] = ()
) -> None:
    """A scratch table for one run (temporary where the backend makes that cheap)."""
    drop_work_table(store, name)
    kind = "UNLOGGED TABLE" if dialect(store) == "postgres" else "TEMP TABLE"
    run(store, f"CREATE {kind} {quote(name)} AS {select_sql}", params, what=name)


def drop_work_table(store: Store, name: str) -> None:
    store.execute(f"DROP TABLE IF EXISTS {quote(name)}")


def literal(value: object) -> str:
    """A SQL literal for a value we built ourselves (text, numbers, dates, booleans, NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    return "'" + str(value).replace("'", "''") + "'"


def utc_day(expr: str) -> str:
    return f"CAST(({expr} AT TIME ZONE 'UTC') AS DATE)"


def utc_week(expr: str) -> str:
    """The Monday (UTC) of the ISO week ``expr`` falls in."""
    return f"CAST(date_trunc('week', {expr} AT TIME ZONE 'UTC') AS DATE)"


def epoch(expr: str) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {expr}) AS DOUBLE PRECISION)"


def epoch_ms(store: Store, expr: str) -> str:
    """Milliseconds since the epoch (exact) of a timestamp."""
    if dialect(store) == "postgres":
        return f"CAST(floor(EXTRACT(EPOCH FROM {expr}) * 1000) AS BIGINT)"
    return f"epoch_ms({expr})"


def hours_between(start: str, end: str) -> str:
    return f"(({epoch(end)} - {epoch(start)}) / 3600.0)"


def json_text(expr: str) -> str:
    """A JSON column as text (lower-cased, for pattern matching)."""
    return f"lower(CAST({expr} AS TEXT))"


def as_json(store: Store, expr: str) -> str:
    """Text holding JSON, typed for a JSON column."""
    return f"CAST({expr} AS {'JSONB' if dialect(store) == 'postgres' else 'JSON'})"


def json_str(expr: str) -> str:
    """``expr`` (text) as a JSON string literal."""
    return "('\"' || replace(replace(" + expr + ", '\\', '\\\\'), '\"', '\\\"') || '\"')"


def json_num(expr: str) -> str:
    """``expr`` (a number) as a JSON number with three decimals."""
    return f"CAST(CAST({expr} AS DECIMAL(12,3)) AS VARCHAR)"


def insert_select(
    store: Store, table: str, columns: list[str], select_sql: str, params: Iterable[object] = ()
) -> None:
    """Plain ``INSERT ... SELECT`` for rows whose keys were just deleted in the same
    transaction (together an upsert, without the cost of ``ON CONFLICT``)."""
    cols = ", ".join(quote(c) for c in columns)
    run(store, f"INSERT INTO {quote(table)} ({cols}) {select_sql}", params, what=table)


def replace_select(
    store: Store, table: str, columns: list[str], select_sql: str, match: str
) -> None:
    """Upsert by delete-then-insert (cheaper than ``ON CONFLICT`` for large batches).

    ``match`` is a condition on ``{t}`` (the target table) selecting exactly the keys that
    ``select_sql`` produces or must drop; run it inside a transaction.
    """
    run(store, f"DELETE FROM {quote(table)} WHERE {match.format(t=quote(table))}", what=table)
    insert_select(store, table, columns, select_sql)


def glob_regex(globs: Iterable[str]) -> str:
    """One anchored regular expression matching any of ``globs`` against a whole path.

    ``**/`` is any number of directories (also none), ``**`` anything, ``*`` anything but ``/``,
    ``?`` one character but ``/``. A glob without ``/`` matches a file name in any directory.
    """
    parts: list[str] = []
    for glob in globs:
        g = glob if "/" in glob else "**/" + glob
        out: list[str] = []
        i = 0
        while i < len(g):
            if g.startswith("**/", i):
                out.append("(.*/)?")
                i += 3
            elif g.startswith("**", i):
                out.append(".*")
                i += 2
            elif g[i] == "*":
                out.append("[^/]*")
                i += 1
            elif g[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(g[i]) if g[i] not in "/-" else g[i])
                i += 1
        parts.append("".join(out))
    if not parts:
        return "^$.^"
    return "^(" + "|".join(parts) + ")$"
