"""The analytics SQL is portable: the same data analysed on real PostgreSQL and on DuckDB gives
the same tables. Each run uses a PostgreSQL schema of its own (the ``pg_url`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store, open_store
from tests.analytics.test_analyze import GH, T0, base_records
from tests.analytics.test_sync import COMPARED, pr, pr_file, rows

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def pg(pg_url: str) -> Iterator[Store]:
    s = open_store(pg_url)
    yield s
    s.close()


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


def test_postgres_and_duckdb_agree(pg: Store, store: Store) -> None:
    recs = dataset()
    opts = AnalyzeOptions(end_date=date(2026, 3, 31))
    for target in (pg, store):
        target.write_records(recs)
        analyze(target, opts)
    for table in COMPARED:
        assert rows(pg, table) == rows(store, table), table
    assert rows(store, "review_policy_violations")  # the data exercises the policy
    # An incremental run (only the changed rows written) agrees as well.
    before = rows(store, "author_file_ownership")
    pg.write_records(later_records())
    store.write_records(later_records())
    for target in (pg, store):
        assert set(analyze(target, opts).modes) == {"incremental", "skip"}
    for table in COMPARED:
        assert rows(pg, table) == rows(store, table), table
    assert rows(store, "author_file_ownership") != before
