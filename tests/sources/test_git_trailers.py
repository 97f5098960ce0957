"""The git miner stores each commit's ``Co-authored-by`` trailers in ``commit_coauthors``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forgelens.sources import git as gitsrc
from forgelens.store import Store
from tests.sources.test_git import collect, commit, repo_id

MESSAGES = [
    "Plain commit\n\nNo trailers here.",
    "Pair work\n\nCo-authored-by: Bea Builder <bea@example.com>\n"
    "Co-Authored-By: Claude <noreply@anthropic.com>",
    "Prose\n\nWe should read Co-authored-by: trailers one day.",
    "Quoted\n\n> Co-authored-by: Quinn Quote <quinn@example.com>",
    "Squash (#4)\n\n* one\n\nco-authored-by : Cursor Agent <CursorAgent@cursor.com>\n\n"
    "* two\n\nSigned-off-by: Ann Author <ann@example.com>\nCo-authored-by: Bea <bea@example.com>",
]


@pytest.fixture
def coauthored_repo(make_repo: Any) -> Path:
    repo = make_repo("coauthored")
    for n, message in enumerate(MESSAGES):
        commit(repo, message, n=n)
    return repo


@pytest.mark.parametrize("jobs", [1, 2])
def test_coauthors_stored_per_commit_in_order(
    store: Store, coauthored_repo: Path, tmp_path: Path, jobs: int
) -> None:
    collect(store, coauthored_repo, tmp_path, jobs=jobs, batch_size=2)
    rows = store.query(
        "SELECT c.message, k.position, k.name, k.email FROM commit_coauthors k "
        "JOIN commits c ON c.repository_id = k.repository_id AND c.sha = k.sha "
        "WHERE k.repository_id = ? ORDER BY c.authored_at, k.position",
        [repo_id(coauthored_repo)],
    )
    found = [(m.split("\n")[0], p, n, e) for m, p, n, e in rows]
    assert found == [
        ("Pair work", 0, "Bea Builder", "bea@example.com"),
        ("Pair work", 1, "Claude", "noreply@anthropic.com"),
        ("Squash (#4)", 0, "Cursor Agent", "cursoragent@cursor.com"),
        ("Squash (#4)", 1, "Bea", "bea@example.com"),
    ]


def test_mining_without_trailers_reads_none(coauthored_repo: Path, tmp_path: Path) -> None:
    repo = gitsrc.open_repo(str(coauthored_repo), tmp_path)
    with_t = [b.coauthor_columns().num_rows for b in gitsrc.mine(repo, gitsrc.MineOptions())]
    opts = gitsrc.MineOptions(trailers=False)
    without = [b.coauthor_columns().num_rows for b in gitsrc.mine(repo, opts)]
    assert sum(with_t) == 4
    assert sum(without) == 0
