"""The four cases of issue #16 where an incremental run (or the identity rules) went wrong, each
as a user met it; and the rules docs/metrics.md states for authors, generic addresses, deleted
PRs and ``pr_id``."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, timedelta
from typing import Any

from forgelens import records as R
from forgelens.store import Store
from tests.analytics.test_analyze import GH, T0, base_records, run
from tests.analytics.test_sync import pr, pr_file, rows

ANALYTICS = (
    "repo_prs",
    "author_metrics_daily",
    "author_metrics_window",
    "author_prs_window",
    "author_file_ownership",
    "authors",
)


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {t: sorted(rows(store, t), key=repr) for t in ANALYTICS}


def commit(number: int, sha: str, email: str, login: str | None = None) -> R.PrCommit:
    return R.PrCommit(
        repository_id=GH,
        pr_number=number,
        sha=sha,
        author_email=email,
        author_login=login,
        author_name=None,
        authored_at=T0,
    )


def test_authors_are_pr_authors_and_reviewers_not_commit_only_people(store: Store) -> None:
    """Case 1: an identity seen only in ``commits`` is no author (docs: PR authors and
    reviewers)."""
    store.write_records(
        [
            *base_records(),
            R.Commit(
                repository_id=GH,
                sha="c0",
                author_name="Nora",
                author_email="77+nora@users.noreply.github.com",
                authored_at=T0,
                committer_name="Nora",
                committer_email="77+nora@users.noreply.github.com",
                committed_at=T0,
                message="chore: tidy",
                additions=1,
                deletions=0,
                files_changed=1,
                is_merge=False,
            ),
        ]
    )
    run(store)
    authors = {u for (u,) in store.query("SELECT username FROM authors")}
    assert authors == {"alice", "asmith", "rita", "renovate[bot]"}


def test_a_renamed_person_leaves_no_author_row_behind(store: Store) -> None:
    """Case 2: a new login linked to a known email takes over that person's rows; the old
    username leaves ``authors`` (incrementally and after --force-refresh), and the map keeps
    the rename."""
    store.write_records([*first_records(), commit(10, "k1", "zed@corp.example", "zed")])
    run(store)
    assert "zed" in {u for (u,) in store.query("SELECT username FROM authors")}
    store.write_records(
        [
            pr(11, "azed", 3),  # a new login...
            commit(11, "k2", "zed@corp.example", "azed"),  # ...with zed's address
        ]
    )
    run(store)
    incremental = snapshot(store)
    names = {r["username"] for r in incremental["authors"]}
    assert "zed" not in names
    assert "azed" in names
    assert {r["username"] for r in incremental["author_metrics_daily"]} >= {"azed"}
    assert "zed" not in {r["username"] for r in incremental["author_metrics_daily"]}
    history = dict(
        store.query(
            "SELECT alias, CAST(previous_usernames AS VARCHAR) FROM analytics_identity_map "
            "WHERE alias = 'login:github:zed'"
        )
    )
    assert "zed" in history["login:github:zed"]
    run(store, force_refresh=True)
    assert snapshot(store) == incremental


def first_records() -> list[Any]:
    return [*base_records(), pr(10, "zed", 1), pr_file(10, "src/z.py", 9)]


def test_a_label_on_a_linked_issue_reclassifies_its_pr(store: Store) -> None:
    """Case 3: the issue a PR closes is labelled later: the PR becomes a feature and its
    author's ``features_merged`` counts it in the next incremental run."""
    issue = R.Issue(
        repository_id=GH,
        number=5004,
        title="Export",
        state="open",
        created_at=T0,
        updated_at=T0,
    )
    store.write_records(
        [*base_records(), issue, pr(12, "carol", 1, title="Work", body="Closes #5004")]
    )
    run(store)
    assert store.query("SELECT feature_rule FROM repo_prs WHERE pr_number = 12") == [("none",)]
    store.write_records([dataclasses.replace(issue, labels=["enhancement"])])
    run(store)
    assert store.query("SELECT feature_rule FROM repo_prs WHERE pr_number = 12") == [
        ("linked_issue",)
    ]
    feats = store.query(
        "SELECT sum(features_merged) FROM author_metrics_daily WHERE username = 'carol'"
    )
    assert feats == [(1,)]
    incremental = snapshot(store)
    run(store, force_refresh=True)
    assert snapshot(store) == incremental


def test_a_file_dropped_from_a_merged_pr_loses_its_ownership_row(store: Store) -> None:
    """Case 4: a merged PR re-collected without one of its files: that file's ownership row
    (100 % to the PR's author) is deleted by the incremental run."""
    store.write_records(
        [*base_records(), pr(13, "carol", 1), pr_file(13, "a.py", 5), pr_file(13, "b.py", 5)]
    )
    run(store)
    store.execute("DELETE FROM pr_files WHERE pr_number = 13 AND path = 'b.py'")
    store.write_records([pr(13, "carol", 1)])  # the re-collection writes the PR again
    run(store)
    files = {r["file_path"] for r in rows(store, "author_file_ownership")}
    assert "b.py" not in files
    assert "a.py" in files
    incremental = snapshot(store)
    run(store, force_refresh=True)
    assert snapshot(store) == incremental


def test_generic_addresses_never_merge_two_people(store: Store, tmp_path: Any) -> None:
    """Two people committing as dev@localhost stay two authors; identities.yml can still
    merge through such an address."""
    store.write_records(
        [
            *base_records(),
            pr(14, "carol", 1),
            pr(15, "dave", 1),
            commit(14, "g1", "dev@localhost", "carol"),
            commit(15, "g2", "dev@localhost", "dave"),
            commit(15, "g3", "", "dave"),
            commit(14, "g4", "build@box.localhost", "carol"),
        ]
    )
    run(store)
    names = {u for (u,) in store.query("SELECT username FROM authors")}
    assert {"carol", "dave"} <= names
    ident = tmp_path / "identities.yml"
    ident.write_text("people:\n  team-dev:\n    emails: [dev@localhost]\n    logins: [carol]\n")
    run(store, identities_file=ident)
    mapping = dict(store.query("SELECT alias, username FROM analytics_identity_map"))
    assert mapping["email:dev@localhost"] == mapping["login:github:carol"] == "team-dev"
    assert mapping["login:github:dave"] == "dave"


def test_deleted_prs_leave_every_table_in_the_next_incremental_run(store: Store) -> None:
    store.write_records([*base_records(), pr(16, "carol", 1), pr_file(16, "c.py", 4)])
    run(store)
    assert store.query("SELECT count(*) FROM repo_prs WHERE pr_number = 16") == [(1,)]
    gone = dataclasses.replace(pr(16, "carol", 1), deleted_at=T0 + timedelta(days=5))
    store.write_records([gone])
    run(store)
    assert store.query("SELECT count(*) FROM repo_prs WHERE pr_number = 16") == [(0,)]
    assert "carol" not in {r["username"] for r in rows(store, "author_metrics_daily")}
    assert "carol" not in {r["username"] for r in rows(store, "authors")}
    incremental = snapshot(store)
    run(store, force_refresh=True)
    assert snapshot(store) == incremental


def test_pr_id_is_the_forge_id_or_the_documented_md5(store: Store) -> None:
    """``pr_id``: a numeric forge id as is; else the first 15 hex digits of
    md5('<repository_id>#<number>') — what a user computes by hand, on every backend."""
    store.write_records([*base_records(), pr(17, "carol", 1)])  # forge_id 'f17'
    run(store)
    ids = dict(store.query("SELECT pr_number, pr_id FROM pr_facts"))
    assert ids[1] == 501
    expected = int(hashlib.md5(f"{GH}#17".encode()).hexdigest()[:15], 16)
    assert ids[17] == expected


def test_late_data_rebuilds_earlier_snapshots(store: Store) -> None:
    """Data arriving for days an earlier end date covers rebuilds that end date's snapshot
    too, as a full recompute does."""
    store.write_records(first_records())
    run(store, end_date=date(2026, 3, 20))
    run(store, end_date=date(2026, 3, 31))
    store.write_records([pr(18, "carol", 2), pr_file(18, "src/z.py", 3)])  # 12 March
    run(store, end_date=date(2026, 3, 31))
    early = store.query(
        "SELECT count(*) FROM author_metrics_window WHERE username = 'carol' "
        "AND end_date = CAST('2026-03-20' AS DATE)"
    )
    assert early == [(3,)]  # the 14-, 30- and 90-day windows hold 12 and 13 March
    incremental = snapshot(store)
    run(store, end_date=date(2026, 3, 31), force_refresh=True)
    assert snapshot(store) == incremental
