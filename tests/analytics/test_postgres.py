"""The analytics SQL is portable: the same data analysed on real PostgreSQL and on DuckDB gives
the same tables. PostgreSQL is reached through a minimal adapter (the project's PostgreSQL store
is built elsewhere); each run uses a schema of its own."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store
from forgelens.store._common import CURSOR_SQL, cursor_row
from forgelens.store._dialect import create_table_sql, pg_params, quote
from forgelens.store.schema import TABLES, TableSpec
from tests.analytics.test_analyze import GH, T0, base_records
from tests.analytics.test_sync import COMPARED, pr, pr_file, rows
from tests.conftest import require_service

psycopg = pytest.importorskip("psycopg")


class PgAdapter:
    """Just enough of the ``Store`` protocol for the analytics, on psycopg."""

    dialect = "postgres"
    url = "postgresql://test"

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._depth = 0

    def _sql(self, sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any] | None]:
        return (pg_params(sql), list(params)) if params else (sql, None)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        q, p = self._sql(sql, params)
        self.conn.execute(q, p)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        q, p = self._sql(sql, params)
        return list(self.conn.execute(q, p).fetchall())

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        q, p = self._sql(sql, params)
        cur = self.conn.execute(q, p)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        q, p = self._sql(sql, params)
        cur = self.conn.execute(q, p)
        names = [d.name for d in cur.description]
        data = cur.fetchall()
        return pa.table({n: [r[i] for r in data] for i, n in enumerate(names)})

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def table_spec(self, table: str) -> TableSpec:
        return TABLES[table]

    def upsert(self, table: str, rows: Sequence[Any] | pa.Table, **kw: Any) -> int:
        if isinstance(rows, pa.Table):
            rows = rows.to_pylist()
        spec = TABLES[table]
        cols = [c for c, t in spec.all_columns() if t != "serial"]
        for row in rows:
            data = row if isinstance(row, dict) else dataclasses.asdict(row)
            values = []
            for c, t in spec.all_columns():
                if t == "serial":
                    continue
                v = data.get(c, kw.get("version", 1) if c == "_version" else None)
                values.append(json.dumps(v) if t == "json" and v is not None else v)
            keys = ", ".join(quote(k) for k in spec.key)
            sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in cols if c not in spec.key)
            self.conn.execute(
                f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in cols)}) VALUES "
                f"({', '.join(['%s'] * len(cols))}) ON CONFLICT ({keys}) DO UPDATE SET {sets}",
                values,
            )
        return len(rows)

    def write_records(self, records: Sequence[Any], **kw: Any) -> int:
        for rec in records:
            self.upsert(rec.TABLE, [rec], version=kw.get("version", 1))
        return len(records)

    def get_cursor(self, repository_id: str, entity: str) -> str | None:
        found = self.query(CURSOR_SQL, [repository_id, entity])
        return str(found[0][0]) if found else None

    def set_cursor(self, repository_id: str, entity: str, cursor: str, run_id: str | None) -> None:
        self.upsert("collection_cursors", [cursor_row(repository_id, entity, cursor, run_id)])


@pytest.fixture
def pg() -> Iterator[PgAdapter]:
    try:
        conn = psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", str(exc))
    schema = f"fl_analytics_{uuid.uuid4().hex[:10]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path TO {schema}")
    for spec in TABLES.values():
        for stmt in create_table_sql("postgres", spec):
            conn.execute(stmt)
    try:
        yield PgAdapter(conn)
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


def dataset() -> list[Any]:
    recs = base_records()
    recs += [
        R.PrFile(
            repository_id=GH,
            pr_number=1,
            path="src/auth/login.py",
            additions=40,
            deletions=3,
            change_type="modified",
        ),
        R.PrFile(
            repository_id=GH,
            pr_number=1,
            path="tests/test_login.py",
            additions=9,
            deletions=0,
            change_type="added",
        ),
        R.PullRequest(
            repository_id=GH,
            number=4,
            title="Revert login",
            state="merged",
            created_at=T0 + timedelta(days=3),
            updated_at=T0,
            author="carol",
            merged_at=T0 + timedelta(days=4),
            base_ref="main",
            head_ref="fix/x",
            labels=["bug"],
            body="Fixes #1. Undo the login change\n",
            forge_id="x9",
        ),
        R.PrFile(
            repository_id=GH,
            pr_number=4,
            path="src/auth/login.py",
            additions=3,
            deletions=40,
            change_type="modified",
        ),
        R.Review(
            repository_id=GH,
            pr_number=4,
            review_id="9",
            author="carol",
            state="APPROVED",
            submitted_at=T0 + timedelta(days=3, hours=1),
        ),
        R.BranchProtection(
            repository_id=GH, branch="main", required_approvals=1, required_checks=["ci"]
        ),
        R.CiRun(
            repository_id=GH,
            run_id="r1",
            name="ci",
            status="completed",
            conclusion="failure",
            created_at=T0 + timedelta(days=3),
            head_branch="fix/x",
        ),
        R.Issue(
            repository_id=GH,
            number=1,
            title="login",
            state="open",
            created_at=T0,
            updated_at=T0,
            labels=["enhancement"],
        ),
        R.TeamMember(source="github", org="octo", team_slug="web", login="carol"),
    ]
    return recs


def later_records() -> list[Any]:
    """A PR opened after the first analysis: it changes ownership, daily and window rows."""
    return [pr(5, "carol", 5, title="feat: login audit"), pr_file(5, "src/auth/login.py", 12)]


def test_postgres_and_duckdb_agree(pg: PgAdapter, store: Store) -> None:
    recs = dataset()
    opts = AnalyzeOptions(end_date=date(2026, 3, 31))
    for target in (pg, store):
        target.write_records(recs)
        analyze(target, opts)  # type: ignore[arg-type]
    for table in COMPARED:
        assert rows(pg, table) == rows(store, table), table
    assert rows(store, "review_policy_violations")  # the data exercises the policy
    # An incremental run (only the changed rows written) agrees as well.
    before = rows(store, "author_file_ownership")
    pg.write_records(later_records(), version=2)
    store.write_records(later_records())
    for target in (pg, store):
        assert set(analyze(target, opts).modes) == {"incremental", "skip"}  # type: ignore[arg-type]
    for table in COMPARED:
        assert rows(pg, table) == rows(store, table), table
    assert rows(store, "author_file_ownership") != before
