"""Incremental runs write only what changed, and end exactly where a full recompute does."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from forgelens import records as R
from forgelens.store import Store
from tests.analytics.test_analyze import GH, T0, base_records, run

COMPARED = {
    "repo_prs": "repo_name, pr_number",
    "pr_facts": "repo_name, pr_number",
    "authors": "username",
    "author_metrics_daily": "username, repo_name, day",
    "author_metrics_window": "username, repo_name, window_days",
    "author_prs_window": "username, repo_name, window_days, pr_number",
    "author_file_ownership": "username, repo_name, window_days, file_path",
    "delivery_metrics_weekly": "repo_name, team, week_start",
    "review_policy_violations": "repo_name, pr_number",
    "review_policy_weekly": "repo_name, week_start",
}
SKIP = {"id", "updated_at", "_version", "_source"}


def rows(store: Any, table: str) -> list[dict[str, Any]]:
    """A table's rows in key order, without the columns that say when they were written."""
    out = []
    for r in store.query_dicts(f"SELECT * FROM {table} ORDER BY {COMPARED[table]}"):
        row = {k: v for k, v in r.items() if k not in SKIP}
        for k, v in row.items():
            if isinstance(v, str) and v[:1] in "[{":
                row[k] = json.loads(v)
            elif isinstance(v, float):
                row[k] = round(v, 9)
        out.append(row)
    return out


def pr(number: int, author: str, days: float, **kw: Any) -> R.PullRequest:
    at = T0 + timedelta(days=days)
    return R.PullRequest(
        repository_id=GH,
        number=number,
        title=kw.pop("title", f"Change {number}"),
        state="merged",
        created_at=at,
        updated_at=at,
        author=author,
        merged_at=at + timedelta(hours=2),
        base_ref="main",
        head_ref=f"branch{number}",
        forge_id=f"f{number}",
        **kw,
    )


def pr_file(number: int, path: str, lines: int) -> R.PrFile:
    return R.PrFile(
        repository_id=GH,
        pr_number=number,
        path=path,
        additions=lines,
        deletions=1,
        change_type="modified",
    )


def first_records() -> list[Any]:
    return [
        *base_records(),
        pr_file(1, "src/auth/login.py", 40),
        pr(4, "carol", 2),
        pr_file(4, "src/auth/login.py", 7),
        pr_file(4, "src/api.py", 30),
        pr(5, "bob", 2.1),
        pr_file(5, "src/api.py", 5),
    ]


def test_incremental_after_changes_equals_force_refresh(store: Store) -> None:
    """New PRs, a PR re-collected with another author (its old author's rows must go), a new
    person and a commit linking a new address to a known login: the incremental run's tables
    equal a force-refresh of the same data."""
    store.write_records(first_records())
    run(store)
    store.write_records(
        [
            pr(4, "bob", 2),  # re-collected: the author was wrong
            pr(6, "carol", 3),
            pr_file(6, "src/api.py", 11),
            pr(7, "dave", 3.5),  # someone new
            pr_file(7, "src/auth/login.py", 3),
            R.PrCommit(
                repository_id=GH,
                pr_number=6,
                sha="c6",
                author_email="carol@home.example",
                author_login="carol",
                author_name="Carol",
                authored_at=T0 + timedelta(days=3),
            ),
        ]
    )
    result = run(store)
    assert "full" not in result.modes
    incremental = {table: rows(store, table) for table in COMPARED}
    assert not [
        r
        for r in incremental["author_file_ownership"]
        if r["username"] == "carol" and r["file_path"] == "src/auth/login.py"
    ]  # PR 4 is bob's now
    run(store, force_refresh=True)
    for table in COMPARED:
        assert incremental[table] == rows(store, table), table


def test_rows_that_did_not_change_keep_their_version(store: Store) -> None:
    store.write_records(first_records())
    run(store)
    before = dict(
        store.query(
            "SELECT username || ' ' || file_path || ' ' || window_days, _version "
            "FROM author_file_ownership"
        )
    )
    store.write_records([pr(8, "bob", 2.5), pr_file(8, "src/api.py", 9)])
    run(store)
    after = dict(
        store.query(
            "SELECT username || ' ' || file_path || ' ' || window_days, _version "
            "FROM author_file_ownership"
        )
    )
    assert after.keys() == before.keys()
    changed = {k for k in after if after[k] != before[k]}
    # src/api.py's shares moved; nobody's share of src/auth/login.py did
    assert changed
    assert all(" src/api.py " in k for k in changed)
    assert all(before[k] == after[k] for k in after if "login.py" in k)
