"""Human co-authors credited: a ``Co-authored-by`` trailer's address resolves through the
identity map to its person, and Engineer Lens shows the commits (and lines) of others that
credit them; generic addresses and assistants credit nobody."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze, reads
from forgelens.service.dashboards.views_lens import engineering_lens
from forgelens.store import Store
from forgelens.store._arrow import now_version
from tests.analytics.test_ai_attribution import GH, T0, commit, pr

END = date(2026, 3, 31)


def coauthor(sha: str, position: int, name: str, email: str) -> dict[str, Any]:
    return {"repository_id": GH, "sha": sha, "position": position, "name": name, "email": email}


def write(store: Store) -> None:
    c = {k: k * 40 for k in "abcdefgh"}
    late = commit(c["g"], "Late\n\nCo-authored-by: Bob <bob@x.org>")
    late.authored_at = T0 - timedelta(days=60)  # before the window
    merge = commit(c["f"], "Merge\n\nCo-authored-by: Bob <bob@x.org>")
    merge.is_merge = True
    store.write_records(
        [
            R.Repository(id=GH, source="github", full_name="octo/app", name="app"),
            # bob's login and address are one person; carol set no address of her own
            R.Person("github", "bob", "Bob", "bob@x.org"),
            R.Person("github", "carol", "Carol", "noreply@github.com"),
            pr(1, "bob"),
            pr(2, "carol"),
            commit(c["a"], "Pair\n\nCo-authored-by: Bob <bob@x.org>"),  # 1 line
            commit(c["b"], "Pair\n\nCo-authored-by: Bob B <1234+bob@users.noreply.github.com>"),
            commit(
                c["c"], "Mine\n\nCo-authored-by: Bob <bob@x.org>", name="Bob", email="bob@x.org"
            ),
            commit(c["d"], "Pair\n\nCo-authored-by: Somebody <noreply@github.com>"),
            commit(c["e"], "AI\n\nCo-authored-by: Claude <noreply@anthropic.com>"),
            merge,
            late,
        ]
    )
    store.upsert(
        "commit_coauthors",
        [
            coauthor(c["a"], 0, "Bob", "bob@x.org"),
            coauthor(c["b"], 0, "Bob B", "1234+bob@users.noreply.github.com"),
            coauthor(c["c"], 0, "Bob", "bob@x.org"),
            coauthor(c["d"], 0, "Somebody", "noreply@github.com"),
            coauthor(c["e"], 0, "Claude", "noreply@anthropic.com"),
            coauthor(c["f"], 0, "Bob", "BOB@x.org "),
            coauthor(c["g"], 0, "Bob", "bob@x.org"),
        ],
        version=now_version(),
        source="git",
    )


def check(store: Store) -> None:
    write(store)
    analyze(store, AnalyzeOptions(target="all", end_date=END))
    alias = dict(store.query("SELECT alias, username FROM analytics_identity_map"))
    assert alias["email:1234+bob@users.noreply.github.com"] == "bob"
    assert alias["email:noreply@github.com"] != "carol"  # a generic address joins nobody
    first = END - timedelta(days=29)
    # a (bob@x.org) and b (his noreply address); not c (his own), f (a merge), g (too old)
    assert reads.coauthored_commits(store, "bob", first, END) == (2, 2)
    assert reads.coauthored_commits(store, "bob", first, END, "octo/app") == (2, 2)
    assert reads.coauthored_commits(store, "bob", first, END, "octo/other") == (0, 0)
    assert reads.coauthored_commits(store, "carol", first, END) == (0, 0)
    view = engineering_lens(store, {"user": "bob", "window": "30"})
    card = next(c for c in view["cards"] if c["key"] == "coauthored_commits")
    assert card["value"] == 2


def test_coauthored(every_store: Store) -> None:
    check(every_store)
