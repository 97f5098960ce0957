"""Table definitions and the migration registry.

Record tables are derived from ``forgelens.records`` (one source of truth for column names and
types); the others (run bookkeeping, cursors, analytics) are declared here. Column types are
logical (``text``, ``bigint``, ``ts``, ``json`` ...) and turned into a dialect's DDL by
``forgelens.store.sql``. Every table also has ``_version`` (epoch ms of the write; a write
with an older version never overwrites a newer row) and ``_source``.

Migrations are named functions in ``MIGRATIONS``, applied in name order (``0001_...``) by the one
loop of ``store._migrate`` on every store, each recorded in ``schema_migrations`` and run in its
own transaction (where the engine has them). Never edit a released migration:
add one. Each area keeps its tables and migrations in its own module (``schema_<area>.py``),
imported at the bottom of this file so that every store sees every table.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Protocol

from forgelens import records

SERIAL = "serial"  # auto-generated bigint id


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    versioned: bool = True
    # False: the key is not enforced by a primary-key index on DuckDB, whose index costs more
    # than the rows on a bulk insert (a daily run's new window snapshots): the writer keeps the
    # key unique (analytics/_sync.py). PostgreSQL keeps the index (its upserts need it);
    # ClickHouse has none either way (the key is the ORDER BY).
    key_index: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def all_columns(self) -> tuple[tuple[str, str], ...]:
        if not self.versioned:
            return self.columns
        return (*self.columns, ("_version", "bigint"), ("_source", "text"))


_PY_TO_LOGICAL: dict[Any, str] = {
    str: "text",
    int: "bigint",
    float: "double",
    bool: "bool",
    datetime: "ts",
    date: "date",
}


def _logical(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _logical(args[0])
    if origin in (list, dict) or tp in (list, dict):
        return "json"
    return _PY_TO_LOGICAL[tp]


RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "repositories": ("source", "full_name"),
    "people": ("source", "login"),
    "commits": ("repository_id", "sha"),
    "commit_files": ("repository_id", "sha", "path"),
    "pull_requests": ("repository_id", "number"),
    "pr_reviews": ("repository_id", "pr_number", "review_id"),
    "pr_comments": ("repository_id", "pr_number", "comment_id"),
    "pr_files": ("repository_id", "pr_number", "path"),
    "pr_commits": ("repository_id", "pr_number", "sha"),
    "issues": ("repository_id", "number"),
    "issue_comments": ("repository_id", "issue_number", "comment_id"),
    "teams": ("source", "org", "slug"),
    "team_members": ("source", "org", "team_slug", "login"),
    "branch_protections": ("repository_id", "branch"),
    "ci_runs": ("repository_id", "run_id"),
    "contributors": ("repository_id", "login"),
}


def record_spec(cls: type[Any]) -> TableSpec:
    hints = typing.get_type_hints(cls)
    cols = tuple((f.name, _logical(hints[f.name])) for f in fields(cls))
    return TableSpec(cls.TABLE, cols, RECORD_KEYS[cls.TABLE])


def _spec(
    name: str, key: tuple[str, ...], cols: str, versioned: bool = True, key_index: bool = True
) -> TableSpec:
    parsed = tuple(
        (n, t) for n, t in (line.split() for line in cols.strip().splitlines() if line.strip())
    )
    return TableSpec(name, parsed, key, versioned, key_index)


GIT_COLLECTION_RUNS = _spec(
    "git_collection_runs",
    ("run_id",),
    """
    id serial
    run_id text
    started_at ts
    completed_at ts
    status text
    repos_processed bigint
    commits_collected bigint
    prs_collected bigint
    api_calls bigint
    errors bigint
    settings text
    data_source text
    failure_reason text
    heartbeat_at ts
    pid bigint
    hostname text
    process_started text
    """,
)

COLLECTION_CURSORS = _spec(
    "collection_cursors",
    ("repository_id", "entity"),
    """
    repository_id text
    entity text
    cursor text
    run_id text
    updated_at ts
    """,
)

IDENTITIES = _spec(
    "identities",
    ("source", "login"),
    """
    source text
    login text
    identity text
    is_bot bool
    """,
)

AUTHORS = _spec(
    "authors",
    ("username",),
    """
    id serial
    username text
    display_name text
    avatar_url text
    is_bot bool
    """,
)

AUTHOR_METRICS_DAILY = _spec(
    "author_metrics_daily",
    ("username", "repo_name", "day"),
    """
    id serial
    username text
    repo_name text
    day date
    prs_submitted int
    prs_merged int
    lines_changed int
    high_risk_prs int
    features_merged int
    updated_at ts
    """,
)

AUTHOR_METRICS_WINDOW = _spec(
    "author_metrics_window",
    ("username", "repo_name", "window_days", "end_date"),
    """
    id serial
    username text
    repo_name text
    window_days int
    end_date date
    prs_submitted int
    prs_merged int
    high_risk_prs int
    high_risk_rate double
    lines_changed int
    ownership_low_risk_prs int
    updated_at ts
    """,
    key_index=False,
)

AUTHOR_FILE_OWNERSHIP = _spec(
    "author_file_ownership",
    ("username", "repo_name", "window_days", "end_date", "file_path"),
    """
    id serial
    username text
    repo_name text
    window_days int
    end_date date
    file_path text
    ownership_pct double
    lines_owned int
    total_lines int
    updated_at ts
    """,
    key_index=False,
)

AUTHOR_PRS_WINDOW = _spec(
    "author_prs_window",
    ("username", "repo_name", "window_days", "end_date", "pr_id"),
    """
    id serial
    username text
    repo_name text
    window_days int
    end_date date
    pr_id bigint
    pr_number int
    title text
    pr_summary text
    risk_score double
    high_risk bool
    is_merged bool
    merged_at ts
    created_at ts
    updated_at ts
    """,
    key_index=False,
)

REPO_PRS = _spec(
    "repo_prs",
    ("repo_name", "pr_number"),
    """
    id serial
    repo_name text
    pr_number int
    title text
    pr_summary text
    author text
    created_at ts
    merged_at ts
    is_merged bool
    additions int
    deletions int
    changed_files int
    labels_full json
    feature_rule text
    feature_confidence double
    risk_score double
    high_risk bool
    risk_reasons json
    top_risky_files json
    updated_at ts
    """,
    key_index=False,
)

CORE_TABLES: tuple[TableSpec, ...] = (
    *(record_spec(cls) for cls in records.RECORD_TYPES),
    GIT_COLLECTION_RUNS,
    COLLECTION_CURSORS,
    IDENTITIES,
    AUTHORS,
    AUTHOR_METRICS_DAILY,
    AUTHOR_METRICS_WINDOW,
    AUTHOR_FILE_OWNERSHIP,
    AUTHOR_PRS_WINDOW,
    REPO_PRS,
)

TABLES: dict[str, TableSpec] = {t.name: t for t in CORE_TABLES}


def register_table(spec: TableSpec) -> TableSpec:
    """Make a table known to the store (upserts look specs up here). Used by later modules."""
    TABLES[spec.name] = spec
    return spec


class MigrationTarget(Protocol):
    dialect: str

    def create_table(self, spec: TableSpec) -> None: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...


Migration = Callable[[MigrationTarget], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(name: str) -> Callable[[Migration], Migration]:
    def wrap(fn: Migration) -> Migration:
        if any(n == name for n, _ in MIGRATIONS):
            raise ValueError(f"migration {name} registered twice")
        MIGRATIONS.append((name, fn))
        return fn

    return wrap


@migration("0001_core_tables")
def _core_tables(db: MigrationTarget) -> None:
    for spec in CORE_TABLES:
        db.create_table(spec)


@migration("0002_seed_query_compat")
def _seed_query_compat(db: MigrationTarget) -> None:
    from forgelens.store.sql import SEED_COMPAT_SQL

    for stmt in SEED_COMPAT_SQL.get(db.dialect, []):
        db.execute(stmt)


@migration("0003_run_process_started")
def _run_process_started(db: MigrationTarget) -> None:
    """A run's owner is its host, PID and the process's start time (PIDs are reused)."""
    from forgelens.store.sql import add_column_sql

    db.execute(add_column_sql(db.dialect, GIT_COLLECTION_RUNS, "process_started"))


# Areas with tables of their own (imported for their registrations).
from forgelens.store import schema_ai as _schema_ai  # noqa: E402,F401
from forgelens.store import schema_analytics as _schema_analytics  # noqa: E402,F401
from forgelens.store import schema_backfill as _schema_backfill  # noqa: E402,F401
from forgelens.store import schema_delivery as _schema_delivery  # noqa: E402,F401
from forgelens.store import schema_forge as _schema_forge  # noqa: E402,F401
from forgelens.store import schema_pipeline as _schema_pipeline  # noqa: E402,F401
from forgelens.store import schema_service as _schema_service  # noqa: E402,F401
from forgelens.store import schema_sinks as _schema_sinks  # noqa: E402,F401
