"""Data retention: delete or anonymize what is older than the policy, keep aggregates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from forgelens.engine.retention import apply_retention, parse_policy
from forgelens.errors import BadInput
from forgelens.records import Comment
from forgelens.store import Store

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def comment(n: int, age_days: int) -> Comment:
    return Comment("github:o/r", 1, str(n), "ann", f"body {n}", NOW - timedelta(days=age_days))


def seed(store: Store) -> None:
    store.write_records([comment(1, 10), comment(2, 400), comment(3, 800)])
    store.upsert(
        "audit_log",
        [
            {
                "event_id": f"e{n}",
                "occurred_at": NOW - timedelta(days=age),
                "action": "x",
                "outcome": "ok",
            }
            for n, age in enumerate((1, 800, 900))
        ],
    )
    store.upsert(
        "author_metrics_daily",
        [{"username": "ann", "repo_name": "o/r", "day": date(2020, 1, 1), "prs_submitted": 1}],
    )


def test_bodies_are_anonymized_and_old_audit_rows_deleted(store: Store) -> None:
    seed(store)
    rules = parse_policy("pr_comments.body=365d, audit_log=2y, author_metrics_daily=30d")
    report = apply_retention(store, rules, now=NOW)
    assert [(r["table"], r["column"], r["action"], r["rows"]) for r in report] == [
        ("pr_comments", "body", "anonymize", 2),
        ("audit_log", "", "delete", 2),
        ("author_metrics_daily", "", "skipped (aggregate; pass --include-aggregates)", 0),
    ]
    assert store.query("SELECT comment_id, body FROM pr_comments ORDER BY comment_id") == [
        ("1", "body 1"),
        ("2", None),
        ("3", None),
    ]
    assert store.query("SELECT event_id FROM audit_log") == [("e0",)]
    assert store.query("SELECT count(*) FROM author_metrics_daily")[0][0] == 1
    again = apply_retention(store, rules, now=NOW)
    assert [r["rows"] for r in again] == [0, 0, 0]  # idempotent


def test_dry_run_changes_nothing_and_aggregates_need_consent(store: Store) -> None:
    seed(store)
    rules = parse_policy("audit_log=365d,author_metrics_daily=30d")
    report = apply_retention(store, rules, now=NOW, dry_run=True)
    assert [r["rows"] for r in report] == [2, 0]
    assert store.query("SELECT count(*) FROM audit_log")[0][0] == 3
    told = apply_retention(store, rules, now=NOW, include_aggregates=True)
    assert [r["rows"] for r in told] == [2, 1]
    assert store.query("SELECT count(*) FROM author_metrics_daily")[0][0] == 0


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("nosuch=30d", "no policy possible for table 'nosuch'"),
        ("audit_log", "write table=365d"),
        ("audit_log=30", "365d, 52w or 2y"),
        ("audit_log=0d", "365d, 52w or 2y"),
    ],
)
def test_bad_policies_say_what_to_write(policy: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_policy(policy)


def test_unknown_or_key_columns_are_refused(store: Store) -> None:
    with pytest.raises(BadInput, match="no column"):
        apply_retention(store, parse_policy("pr_comments.nope=1d"), now=NOW)
    with pytest.raises(BadInput, match="part of the key"):
        apply_retention(store, parse_policy("pr_comments.comment_id=1d"), now=NOW)
