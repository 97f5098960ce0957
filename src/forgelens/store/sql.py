"""The differences between the SQL dialects of our stores (DuckDB, PostgreSQL, ClickHouse), for
collection and analytics alike, in one place: column types and table DDL, the seed queries'
compatibility objects, placeholders, and the expressions the analytics ask for.

The analytics write a portable subset of the three (``FILTER``, window functions, ``LEAST``,
``||``, ``CASE``, correlated ``EXISTS`` in reads) and ask these helpers for the rest: UTC days
and weeks, epochs, regular expressions, JSON text, hashes, ordered string aggregation, medians,
work tables and the delete-then-insert that replaces a set of rows.

ClickHouse (``clickhouse://`` and ``chdb://``) runs with the session settings of
``store._clickhouse_client.SESSION_SETTINGS``: ``final = 1`` (reads see the newest ``_version``
of each key), ``join_use_nulls = 1`` (outer joins give NULLs, not zero values),
``union_default_mode = 'DISTINCT'`` (plain ``UNION``) and ``cast_keep_nullable = 1`` (``CAST``
of a NULL stays NULL). A "delete" there is a lightweight ``DELETE`` (it cannot correlate, so
key matches are written as tuple ``IN``), and the rows written after it carry this run's newer
``_version``; there are no transactions (see ``store.clickhouse``), and every analytics write is
idempotent, so a run cut short is repaired by the next one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime

from forgelens.logs import get_logger
from forgelens.store.base import Store
from forgelens.store.schema import SERIAL, TABLES, TableSpec

log = get_logger(__name__)
_QUALIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.")

# -- types and DDL ------------------------------------------------------------------------

TYPES: dict[str, dict[str, str]] = {
    "duckdb": {
        "text": "VARCHAR",
        "int": "INTEGER",
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "bool": "BOOLEAN",
        "ts": "TIMESTAMPTZ",
        "date": "DATE",
        "json": "JSON",
    },
    "postgres": {
        "text": "TEXT",
        "int": "INTEGER",
        "bigint": "BIGINT",
        "double": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "ts": "TIMESTAMPTZ",
        "date": "DATE",
        "json": "JSONB",
    },
    # Seed 000 is written for ClickHouse: millisecond DateTime64 (read in the session time zone,
    # which the ClickHouse store sets to UTC) and plain String for JSON (JSONExtract* read it).
    "clickhouse": {
        "text": "String",
        "int": "Int32",
        "bigint": "Int64",
        "double": "Float64",
        "bool": "Bool",
        "ts": "DateTime64(3)",
        "date": "Date32",
        "json": "String",
    },
}

# ClickHouse columns are NOT NULL unless wrapped in Nullable(...): these are the non-key columns
# that seed 000 marks REQUIRED (or gives a DEFAULT) and so stay plain.
CLICKHOUSE_PLAIN: dict[str, dict[str, str]] = {
    "git_collection_runs": {"started_at": "", "status": "", "settings": "", "data_source": "''"},
}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def column_type(dialect: str, logical: str) -> str:
    return TYPES[dialect][logical]


def clickhouse_columns(spec: TableSpec) -> list[tuple[str, str]]:
    """``(name, ClickHouse type [DEFAULT ...])`` of ``spec``: keys, REQUIRED seed columns and
    ``_version`` (UInt64, the ReplacingMergeTree version) are plain, the rest Nullable. A serial
    id is a hash of the natural key, so every version of a row keeps the same id."""
    plain = CLICKHOUSE_PLAIN.get(spec.name, {})
    keys = ", ".join(quote(k) for k in spec.key)
    cols: list[tuple[str, str]] = []
    for name, logical in spec.all_columns():
        if logical == SERIAL:
            cols.append((name, f"Int64 DEFAULT toInt64(bitShiftRight(sipHash64({keys}), 1))"))
        elif name == "_version":
            cols.append((name, "UInt64"))
        elif name in spec.key or name in plain:
            default = plain.get(name)
            typ = column_type("clickhouse", logical)
            cols.append((name, f"{typ} DEFAULT {default}" if default else typ))
        else:
            cols.append((name, f"Nullable({column_type('clickhouse', logical)})"))
    return cols


def clickhouse_engine(spec: TableSpec, *, replicated: bool = False) -> str:
    """``ENGINE = ReplacingMergeTree(_version) ORDER BY (natural key)``, or its replicated form
    (replica path from the server's ``{shard}``/``{replica}`` macros) for a cluster."""
    args = ["_version"] if spec.versioned else []
    engine = "ReplacingMergeTree"
    if replicated:
        engine = "Replicated" + engine
        args = ["'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'", *args]
    keys = ", ".join(quote(k) for k in spec.key)
    order = f"({keys})" if len(spec.key) > 1 else keys
    return f"ENGINE = {engine}({', '.join(args)}) ORDER BY {order}"


def add_column_sql(dialect: str, spec: TableSpec, name: str) -> str:
    """DDL that adds ``spec``'s column ``name`` to a table created before it existed
    (idempotent; the column is nullable, as every non-key column)."""
    typ = column_type(dialect, dict(spec.all_columns())[name])
    if dialect == "clickhouse":
        typ = f"Nullable({typ})"
    return f"ALTER TABLE {quote(spec.name)} ADD COLUMN IF NOT EXISTS {quote(name)} {typ}"


def create_table_sql(dialect: str, spec: TableSpec) -> list[str]:
    """DDL statements that create ``spec`` (idempotent)."""
    if dialect == "clickhouse":
        body = ",\n  ".join(f"{quote(n)} {t}" for n, t in clickhouse_columns(spec))
        return [
            f"CREATE TABLE IF NOT EXISTS {quote(spec.name)} (\n  {body}\n) "
            + clickhouse_engine(spec)
        ]
    stmts: list[str] = []
    cols: list[str] = []
    for name, logical in spec.all_columns():
        if logical == SERIAL:
            if dialect == "postgres":
                cols.append(f"{quote(name)} BIGINT GENERATED BY DEFAULT AS IDENTITY")
            else:
                seq = f"{spec.name}_{name}_seq"
                stmts.append(f"CREATE SEQUENCE IF NOT EXISTS {quote(seq)}")
                cols.append(f"{quote(name)} BIGINT DEFAULT nextval('{seq}')")
        else:
            not_null = " NOT NULL" if name in spec.key else ""
            cols.append(f"{quote(name)} {column_type(dialect, logical)}{not_null}")
    if _has_key_index(dialect, spec):
        cols.append(f"PRIMARY KEY ({', '.join(quote(k) for k in spec.key)})")
    stmts.append(
        f"CREATE TABLE IF NOT EXISTS {quote(spec.name)} (\n  " + ",\n  ".join(cols) + "\n)"
    )
    return stmts


def _has_key_index(dialect: str, spec: TableSpec) -> bool:
    if dialect == "clickhouse":
        return False  # the key is the ORDER BY of its parts, sorted at each insert
    return spec.key_index or dialect != "duckdb"


def key_indexed(store: Store, table: str) -> bool:
    """Whether ``table``'s key is a primary-key index in ``store``, which rows inserted in key
    order build with far less work (``TableSpec.key_index``)."""
    return _has_key_index(dialect(store), TABLES[table])


def drop_key_index_sql(dialect: str, spec: TableSpec) -> list[str]:
    """DDL that rebuilds a table created with a primary-key index that ``spec`` no longer has
    (``TableSpec.key_index``), its rows and ids kept, in key order. DuckDB only: it cannot drop
    a constraint, so the table is renamed, made again and refilled (a few seconds per million
    rows, once); other dialects keep their key as it is."""
    if dialect != "duckdb" or _has_key_index(dialect, spec):
        return []
    old = quote(f"{spec.name}__keyed")
    cols = ", ".join(quote(c) for c, _ in spec.all_columns())
    order = ", ".join(quote(k) for k in spec.key)
    return [
        f"DROP TABLE IF EXISTS {old}",
        f"ALTER TABLE {quote(spec.name)} RENAME TO {old}",
        *create_table_sql(dialect, spec),
        f"INSERT INTO {quote(spec.name)} ({cols}) SELECT {cols} FROM {old} ORDER BY {order}",
        f"DROP TABLE {old}",
    ]


# Seed 000's example queries use a second table name for the same ledger and ClickHouse's JSON
# functions; these make them run verbatim on every store.
SEED_COMPAT_SQL: dict[str, list[str]] = {
    "duckdb": [
        "CREATE OR REPLACE VIEW bitbucket_collection_runs AS SELECT * FROM git_collection_runs",
        "CREATE OR REPLACE MACRO JSONExtractString(j, k) AS json_extract_string(j, '$.' || k)",
        "CREATE OR REPLACE MACRO JSONExtractBool(j, k) AS "
        "CAST(json_extract(j, '$.' || k) AS BOOLEAN)",
    ],
    "postgres": [
        "CREATE OR REPLACE VIEW bitbucket_collection_runs AS SELECT * FROM git_collection_runs",
        "CREATE OR REPLACE FUNCTION JSONExtractString(j TEXT, k TEXT) RETURNS TEXT "
        "LANGUAGE SQL IMMUTABLE AS $$ SELECT (j::jsonb) ->> k $$",
        "CREATE OR REPLACE FUNCTION JSONExtractBool(j TEXT, k TEXT) RETURNS BOOLEAN "
        "LANGUAGE SQL IMMUTABLE AS $$ SELECT ((j::jsonb) ->> k)::boolean $$",
    ],
    # JSONExtract* are native; FINAL is applied by the store's session setting ``final = 1``.
    "clickhouse": [
        "CREATE OR REPLACE VIEW bitbucket_collection_runs AS SELECT * FROM git_collection_runs",
    ],
}


# Taken at the start of each migration's transaction, so concurrent migrators apply each once
# (PostgreSQL: an advisory lock released when the transaction ends). DuckDB serializes its
# one connection's transactions; ClickHouse has no locks (its DDL is idempotent).
MIGRATION_LOCK_SQL: dict[str, list[str]] = {
    "postgres": [f"SELECT pg_advisory_xact_lock({0x466C_4D69_6772})"],
}


def table_exists_sql(dialect: str) -> str:
    """A query whose one value is true when the table named by its one parameter exists in
    the store's database (or schema)."""
    if dialect == "postgres":
        return "SELECT to_regclass(?) IS NOT NULL"
    if dialect == "clickhouse":
        return (
            "SELECT count() > 0 FROM system.tables WHERE database = currentDatabase() AND name = ?"
        )
    return (
        "SELECT count(*) > 0 FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ?"
    )


def split_placeholders(sql: str, dialect: str) -> list[str]:
    """``sql`` cut at each ``?`` placeholder (n placeholders give n + 1 pieces).

    Queries are written once with DuckDB's ``?``; a ``?`` inside a quoted string or identifier
    stays (ClickHouse also quotes with backticks and escapes with backslashes). So write
    ``jsonb_exists(col, 'k')``, not PostgreSQL's ``col ? 'k'``, in parameterized SQL.
    """
    quotes, escapes = ("'\"`", True) if dialect == "clickhouse" else ("'\"", False)
    pieces: list[str] = []
    start = i = 0
    quote_char = ""
    while i < len(sql):
        ch = sql[i]
        if quote_char:
            if escapes and ch == "\\":
                i += 1  # the escaped character never ends the string
            elif ch == quote_char:
                quote_char = ""
        elif ch in quotes:
            quote_char = ch
        elif ch == "?":
            pieces.append(sql[start:i])
            start = i + 1
        i += 1
    pieces.append(sql[start:])
    return pieces


def pg_params(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and ``%`` as ``%%``)."""
    return "%s".join(p.replace("%", "%%") for p in split_placeholders(sql, "postgres"))


# Functions the seeds' queries use that a store lacks (migration 0061): PostgreSQL has no
# round(double precision, int).
FUNCTION_COMPAT_SQL: dict[str, list[str]] = {
    "postgres": [
        "CREATE OR REPLACE FUNCTION round(v DOUBLE PRECISION, digits INTEGER) RETURNS NUMERIC "
        "LANGUAGE SQL IMMUTABLE AS $$ SELECT round(v::numeric, digits) $$",
    ],
}


# -- expressions ------------------------------------------------------------------------


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
    if store.dialect.startswith("postgres"):
        return "postgres"
    return "clickhouse" if store.dialect == "clickhouse" else "duckdb"


def _is_ch(store: Store | None) -> bool:
    return store is not None and store.dialect == "clickhouse"


def _is_chdb(store: Store) -> bool:
    """Embedded ClickHouse: its memory is this process's."""
    return _is_ch(store) and str(getattr(store, "url", "")).startswith("chdb:")


def regex_match(store: Store, expr: str, pattern: str) -> str:
    """``expr`` matches the (RE2/POSIX-compatible) ``pattern``."""
    lit = literal(pattern, store)
    if dialect(store) == "postgres":
        return f"({expr} ~ {lit})"
    if _is_ch(store):  # ClickHouse's "." also matches a newline unless told (?-s)
        return f"match({expr}, {literal('(?-s)' + pattern, store)})"
    return f"regexp_matches({expr}, {lit})"


_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")


def contains_any(store: Store, expr: str, words: Iterable[str]) -> str:
    """``expr`` contains one of ``words`` (literal text): one regular expression, one pass
    over the text, where ``position`` per word reads it once per word (and PostgreSQL and
    DuckDB compute a repeated ``lower(...)`` each time). FALSE when ``words`` is empty."""
    alternatives = sorted({_REGEX_SPECIAL.sub(r"\\\1", w) for w in words})
    if not alternatives:
        return "FALSE"
    if "" in alternatives:
        return "TRUE"
    return regex_match(store, expr, "|".join(alternatives))


def regex_group(store: Store, expr: str, pattern: str) -> str:
    """The first capture group of ``pattern`` in ``expr``, NULL when it does not match."""
    lit = literal(pattern, store)
    if dialect(store) == "postgres":
        return f"substring({expr} from {lit})"
    if _is_ch(store):  # extract(): the first capture group, '' when there is no match
        return f"NULLIF(extract({expr}, {literal('(?-s)' + pattern, store)}), '')"
    return f"NULLIF(regexp_extract({expr}, {lit}, 1), '')"


def stable_bigint(store: Store, numeric_text: str, fallback_text: str) -> str:
    """``numeric_text`` as a bigint when it is 1 to 18 digits, else the first 15 hex digits of
    ``md5(fallback_text)`` read as a number: the same value on every backend (and by hand:
    ``int(hashlib.md5(text.encode()).hexdigest()[:15], 16)``)."""
    numeric = regex_match(store, f"COALESCE({numeric_text}, '')", "^[0-9]{1,18}$")
    number = f"CAST({numeric_text} AS BIGINT)"
    if dialect(store) == "postgres":
        digest = f"CAST(CAST('x' || substr(md5({fallback_text}), 1, 15) AS bit(60)) AS BIGINT)"
    elif _is_ch(store):
        digest = (
            f"toInt64(bitShiftRight(reinterpretAsUInt64(reverse(substring(MD5("
            f"{fallback_text}), 1, 8))), 4))"
        )
        number = f"toInt64OrZero({numeric_text})"  # both arms are evaluated there
    else:
        digest = f"CAST('0x' || substr(md5({fallback_text}), 1, 15) AS BIGINT)"
    return f"(CASE WHEN {numeric} THEN {number} ELSE {digest} END)"


# chDB: the bytes one sort, GROUP BY, DISTINCT or join (its right side) of a statement may hold
# before it spills to disk. ClickHouse's own thresholds are half the memory free when the
# statement starts: several of them in one statement, each taking half, exceed the machine.
CH_SPILL_BYTES = 2 * 1024**3


def tune_session(store: Store, memory_limit: str) -> None:
    """DuckDB: bound memory (spilling to disk beyond it) and drop insertion order. chDB: spill
    each sort, aggregation, DISTINCT and join beyond ``CH_SPILL_BYTES`` (a ClickHouse server
    keeps its own profile's settings)."""
    if _is_chdb(store):
        for name in (
            "max_bytes_before_external_group_by",
            "max_bytes_before_external_sort",
            "max_bytes_before_external_join",
            "max_bytes_before_external_distinct",
        ):
            store.execute(f"SET {name} = {CH_SPILL_BYTES}")
        return
    if dialect(store) == "duckdb" and memory_limit:
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit.strip()):
            from forgelens.errors import BadInput

            raise BadInput(f"memory_limit {memory_limit!r}: write e.g. 3GB or 512MB")
        store.execute(f"SET memory_limit = '{memory_limit.strip()}'")
        store.execute("SET preserve_insertion_order = false")


@contextmanager
def repository_scope(
    store: Store, repository_ids: list[str], repo_names: list[str]
) -> Iterator[None]:
    """Within it, on ClickHouse, every read of a table keyed by repository (a ``repository_id``
    or ``repo_name`` column) sees only these repositories' rows (``additional_table_filters``):
    the tables are sorted by repository, so a batch of analytics reads its own part of each,
    not the whole table, and no join builds on other repositories' rows. Elsewhere (and for an
    empty list) nothing changes: the batch's work tables pick its rows."""
    if not _is_ch(store) or not repository_ids:
        yield
        return
    database = store.target.database  # type: ignore[attr-defined]
    ids = ", ".join(literal(i, store) for i in repository_ids)
    names = ", ".join(literal(n, store) for n in repo_names)
    filters = []
    for name, spec in sorted(TABLES.items()):
        columns = {c for c, _t in spec.all_columns()}
        if "repository_id" in columns:
            filters.append((f"{database}.{name}", f"repository_id IN ({ids})"))
        elif "repo_name" in columns:
            filters.append((f"{database}.{name}", f"repo_name IN ({names})"))
    pairs = ", ".join(f"{literal(t, store)}: {literal(f, store)}" for t, f in filters)
    with store.setting("additional_table_filters", f"{{{pairs}}}", "{}"):  # type: ignore[attr-defined]
        yield


def hash64(store: Store, *exprs: str) -> str:
    """A 64-bit hash of text expressions (partition keys that sort fast)."""
    if dialect(store) == "postgres":
        return "hashtextextended(" + " || chr(31) || ".join(exprs) + ", 0)"
    if _is_ch(store):
        return f"cityHash64({', '.join(exprs)})"
    return f"hash({', '.join(exprs)})"


def ch_work_engine(store: Store) -> str:
    """The engine of ClickHouse work tables. chDB: compressed files on disk, written once, never
    merged (``Memory`` tables held 2.2 GB per million PRs in the process, mostly text: risk
    reasons, top risky files). A server keeps them in its memory."""
    return "Log" if _is_chdb(store) else "Memory"


def create_work_table(
    store: Store, name: str, select_sql: str, params: Iterable[object] = ()
) -> None:
    """A scratch table for one run (temporary where the backend makes that cheap)."""
    drop_work_table(store, name)
    if _is_ch(store):
        # A table of the database (a server has no session to keep TEMP ones). ClickHouse
        # names a selected column "t.col" when another joined table has a "col": name it
        # "col", as the other engines do.
        cols = store.query(f"DESCRIBE ({select_sql})", list(params))
        body = ", ".join(f"{quote(_QUALIFIER.sub('', str(c[0])))} {c[1]}" for c in cols)
        sql = (
            f"CREATE TABLE {quote(name)} ({body}) ENGINE = {ch_work_engine(store)} AS {select_sql}"
        )
    else:
        kind = "UNLOGGED TABLE" if dialect(store) == "postgres" else "TEMP TABLE"
        sql = f"CREATE {kind} {quote(name)} AS {select_sql}"
    run(store, sql, params, what=name)


def materialized(store: Store, name: str, select_sql: str) -> str:
    """``name`` computed once for the statement that follows: a ``WITH`` item
    (``name AS MATERIALIZED (...),``), or on ClickHouse, whose CTEs are inlined at each use, a
    work table ``_fl_cte_<name>`` made now (and ``""``); read it as ``materialized_name``."""
    if _is_ch(store):
        create_work_table(store, materialized_name(store, name), select_sql)
        return ""
    return f"{name} AS MATERIALIZED ({select_sql}),"


def materialized_name(store: Store, name: str) -> str:
    return f"_fl_cte_{name}" if _is_ch(store) else name


def drop_work_table(store: Store, name: str) -> None:
    store.execute(f"DROP TABLE IF EXISTS {quote(name)}")


def literal(value: object, store: Store | None = None) -> str:
    """A SQL literal for a value we built ourselves (text, numbers, dates, booleans, NULL).

    ClickHouse reads backslash escapes in string literals; the others take them verbatim."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    text = str(value).replace("'", "''")
    return "'" + (text.replace("\\", "\\\\") if _is_ch(store) else text) + "'"


def timestamp(store: Store, value: datetime) -> str:
    """A timestamp literal (``value`` is UTC-aware)."""
    if _is_ch(store):
        return f"toDateTime64({literal(value.isoformat(sep=' ')[:26])}, 6, 'UTC')"
    return f"CAST({literal(value.isoformat())} AS TIMESTAMP WITH TIME ZONE)"


def utc_day(expr: str, store: Store | None = None) -> str:
    if _is_ch(store):  # the ClickHouse session's time zone is UTC
        return f"toDate32({expr})"
    return f"CAST(({expr} AT TIME ZONE 'UTC') AS DATE)"


def utc_week(expr: str, store: Store | None = None) -> str:
    """The Monday (UTC) of the ISO week ``expr`` falls in."""
    if _is_ch(store):
        return f"toDate32(toMonday({expr}))"
    return f"CAST(date_trunc('week', {expr} AT TIME ZONE 'UTC') AS DATE)"


def epoch(expr: str, store: Store | None = None) -> str:
    if _is_ch(store):
        return f"(toUnixTimestamp64Micro({expr}) / 1000000.0)"
    return f"CAST(EXTRACT(EPOCH FROM {expr}) AS DOUBLE PRECISION)"


def epoch_ms(store: Store, expr: str) -> str:
    """Milliseconds since the epoch (exact) of a timestamp."""
    if dialect(store) == "postgres":
        return f"CAST(floor(EXTRACT(EPOCH FROM {expr}) * 1000) AS BIGINT)"
    if _is_ch(store):
        return f"toUnixTimestamp64Milli({expr})"
    return f"epoch_ms({expr})"


def range_frame(store: Store, ms: str, span_ms: int) -> str:
    """``ORDER BY`` a millisecond time ``ms`` with a frame of the ``span_ms`` before each row.

    ClickHouse bounds a RANGE offset to 32 bits (24 days of milliseconds), so there the order
    is by seconds (a double, exact to well under a millisecond at today's epoch)."""
    if _is_ch(store):
        if span_ms % 1000:
            raise ValueError(f"span {span_ms} ms is not whole seconds")
        return f"ORDER BY {ms} / 1000.0 RANGE BETWEEN {span_ms // 1000} PRECEDING AND CURRENT ROW"
    return f"ORDER BY {ms} RANGE BETWEEN {span_ms} PRECEDING AND CURRENT ROW"


def hours_between(start: str, end: str, store: Store | None = None) -> str:
    return f"(({epoch(end, store)} - {epoch(start, store)}) / 3600.0)"


def json_text(expr: str) -> str:
    """A JSON column as text (lower-cased, for pattern matching)."""
    return f"lower(CAST({expr} AS TEXT))"


def as_json(store: Store, expr: str) -> str:
    """Text holding JSON, typed for a JSON column."""
    if _is_ch(store):  # JSON columns are String there (seed 000)
        return f"CAST({expr} AS String)"
    return f"CAST({expr} AS {'JSONB' if dialect(store) == 'postgres' else 'JSON'})"


def json_str(expr: str, store: Store | None = None) -> str:
    """``expr`` (text) as a JSON string literal."""
    q, bs = literal('"', store), literal("\\", store)
    esc_bs, esc_q = literal("\\\\", store), literal('\\"', store)
    return f"({q} || replace(replace({expr}, {bs}, {esc_bs}), {q}, {esc_q}) || {q})"


def json_num(expr: str, store: Store | None = None) -> str:
    """``expr`` (a number) as a JSON number with three decimals."""
    return f"CAST({round_to(expr, 3, store)} AS VARCHAR)"


def round_to(expr: str, digits: int, store: Store | None = None) -> str:
    """``expr`` rounded to ``digits`` decimals, as DECIMAL(12, digits) (a double on ClickHouse,
    whose decimal casts truncate)."""
    if _is_ch(store):
        return f"round(toFloat64({expr}), {digits})"
    return f"CAST({expr} AS DECIMAL(12,{digits}))"


def concat_ws(store: Store, sep: str, items: list[str]) -> str:
    """``items`` joined by ``sep`` (a literal), skipping NULLs."""
    if _is_ch(store):  # concatWithSeparator is NULL when any item is
        return (
            f"arrayStringConcat(arrayFilter(x -> x IS NOT NULL, [{', '.join(items)}]), "
            f"{literal(sep, store)})"
        )
    return f"concat_ws({literal(sep, store)}, {', '.join(items)})"


def string_agg(store: Store, expr: str, sep: str, order: str) -> str:
    """The non-NULL values of ``expr`` joined by ``sep`` (a literal), ordered by ``order``."""
    if _is_ch(store):
        return (
            f"arrayStringConcat(arrayMap(t -> t.2, arraySort(groupArray(({order}, {expr})))), "
            f"{literal(sep, store)})"
        )
    return f"string_agg({expr}, {literal(sep, store)} ORDER BY {order})"


def bool_or(store: Store, cond: str) -> str:
    if _is_ch(store):
        return f"(max({cond}) = 1)"
    return f"bool_or({cond})"


def median(store: Store, expr: str) -> str:
    """The interpolated median (``percentile_cont(0.5)``) of the non-NULL values of ``expr``."""
    if _is_ch(store):
        return f"quantileExactInclusive(0.5)({expr})"
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {expr})"


def exact_avg(expr: str, digits: int) -> str:
    """The average of ``expr``, whose values have at most ``digits`` decimals, the same in
    whatever order the rows are added up: scaled to whole numbers, whose sum a double holds
    exactly (a sum of fractions differs in its last bit from one order to another)."""
    scale = 10**digits
    return f"(avg(round(({expr}) * {scale})) / {scale})"


def md5_hex(store: Store, expr: str) -> str:
    return f"lower(hex(MD5({expr})))" if _is_ch(store) else f"md5({expr})"


def unit_sep(store: Store) -> str:
    """The ASCII unit separator (char 31) as an expression."""
    return "char(31)" if _is_ch(store) else "chr(31)"


def key_in(store: Store, outer: list[str], source: str, inner: list[str], where: str = "") -> str:
    """(``outer``) is among the (``inner``) columns of ``source`` rows (``where``: an extra
    condition on them). An ``EXISTS`` where it may correlate, a tuple ``IN`` on ClickHouse
    (its ``DELETE`` cannot correlate, and ``IN`` builds one hash set)."""
    if _is_ch(store):
        cond = f" WHERE {where}" if where else ""
        lhs = outer[0] if len(outer) == 1 else f"({', '.join(outer)})"
        return f"{lhs} IN (SELECT {', '.join(f'_k.{i}' for i in inner)} FROM {source} _k{cond})"
    match = " AND ".join(f"_k.{i} = {o}" for o, i in zip(outer, inner, strict=True))
    extra = f" AND {where}" if where else ""
    return f"EXISTS (SELECT 1 FROM {source} _k WHERE {match}{extra})"


def values(store: Store, columns: list[str], rows: list[list[str]]) -> str:
    """A ``SELECT`` of literal ``rows`` (SQL expressions) named ``columns`` (``rows`` not
    empty): a ``VALUES`` list, or on ClickHouse, which has no column list for it, a
    ``UNION ALL`` of one-row ``SELECT``s."""
    if _is_ch(store):
        return " UNION ALL ".join(
            "SELECT " + ", ".join(f"{v} AS {c}" for v, c in zip(row, columns, strict=True))
            for row in rows
        )
    body = ", ".join(f"({', '.join(row)})" for row in rows)
    return f"SELECT * FROM (VALUES {body}) v ({', '.join(columns)})"


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
    ``select_sql`` produces or must drop; run it inside a transaction (ClickHouse: the rows
    written carry a newer ``_version``, so a repeat of a half-done replace converges).
    """
    run(store, f"DELETE FROM {quote(table)} WHERE {match.format(t=quote(table))}", what=table)
    insert_select(store, table, columns, select_sql)


def update(store: Store, table: str, assign: str, where: str, params: Iterable[object]) -> None:
    """``UPDATE table SET assign WHERE where`` for a few rows (not a key column). ClickHouse:
    a synchronous ``ALTER TABLE ... UPDATE`` mutation (its ``WHERE`` may not correlate)."""
    if _is_ch(store):
        sql = (
            f"ALTER TABLE {quote(table)} UPDATE {assign} WHERE {where} SETTINGS mutations_sync = 2"
        )
    else:
        sql = f"UPDATE {quote(table)} SET {assign} WHERE {where}"
    run(store, sql, params, what=f"update {table}")


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


def json_escaped(text: str) -> str:
    """``text`` escaped as ``json_str`` escapes it in SQL, for text known when the SQL is built."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def first_items(
    store: Store, group: str, item: str, keys: list[str], n: int, sep: str, where: str
) -> tuple[str, str]:
    """The first ``n`` values of ``item`` by ascending ``keys`` (unique within a ``group``) among
    the group's rows where ``where`` holds, joined by ``sep`` (a literal).

    Returns ``(rank, aggregate)``: ``rank`` is a column the grouped rows must carry (``""`` when
    none is needed) and ``aggregate`` the expression over the group. ClickHouse sorts each
    group's small array (its window functions sort every row, slower); the others number the
    rows with ``row_number()`` and pick the numbered items with ``max(CASE)`` (their ordered
    aggregates are slower on a million groups)."""
    if _is_ch(store):
        picked = f"groupArrayIf(({', '.join(keys)}, {item}), {where})"
        return "", (
            f"arrayStringConcat(arraySlice(arrayMap(x -> x.{len(keys) + 1}, "
            f"arraySort({picked})), 1, {n}), {literal(sep, store)})"
        )
    rank = f"row_number() OVER (PARTITION BY {group} ORDER BY {', '.join(keys)}) AS _fl_rn"
    items = [f"max(CASE WHEN _fl_rn = {i} AND {where} THEN {item} END)" for i in range(1, n + 1)]
    return rank, concat_ws(store, sep, items) if items else "''"
