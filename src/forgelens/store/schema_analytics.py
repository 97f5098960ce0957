"""Tables of the analytics area beyond seed 002's: per-PR facts, delivery metrics, review policy,
the identity map, the summary cache and the incremental-analysis state.

Seed 002's tables (``authors``, ``author_metrics_*``, ``author_file_ownership``,
``author_prs_window``, ``repo_prs``) are declared in ``schema.py``; every column here is defined
in ``docs/metrics.md``.
"""

from __future__ import annotations

from forgelens.store.schema import TABLES, MigrationTarget, _spec, migration, register_table

ANALYTICS_STATE = register_table(
    _spec(
        "analytics_state",
        ("repo_name", "target"),
        """
        repo_name text
        target text
        repository_id text
        watermark bigint
        end_date date
        config_hash text
        analyzed_at ts
        """,
    )
)

ANALYTICS_IDENTITY_MAP = register_table(
    _spec(
        "analytics_identity_map",
        ("alias",),
        """
        alias text
        username text
        is_bot bool
        display_name text
        avatar_url text
        previous_usernames json
        renamed_at ts
        """,
    )
)

PR_FACTS = register_table(
    _spec(
        "pr_facts",
        ("repo_name", "pr_number"),
        """
        repo_name text
        pr_number int
        repository_id text
        pr_id bigint
        username text
        counted bool
        created_at ts
        merged_at ts
        is_merged bool
        created_day date
        merged_day date
        merged_week date
        lines_changed bigint
        base_ref text
        first_commit_at ts
        first_review_at ts
        last_review_at ts
        reviewed bool
        review_rounds int
        approvals int
        self_approved bool
        risk_score double
        high_risk bool
        low_ownership bool
        is_feature bool
        content_hash text
        linked_issue text
        n_files int
        """,
    )
)

# Every end date a repository's window snapshots were made for (kept by --force-refresh, which
# rebuilds each of them; late data rebuilds those whose windows it falls in).
ANALYTICS_SNAPSHOTS = register_table(
    _spec(
        "analytics_snapshots",
        ("repo_name", "end_date"),
        """
        repo_name text
        end_date date
        """,
    )
)

PR_SUMMARY_CACHE = register_table(
    _spec(
        "pr_summary_cache",
        ("content_hash", "model"),
        """
        content_hash text
        model text
        summary text
        created_at ts
        """,
    )
)

DELIVERY_METRICS_WEEKLY = register_table(
    _spec(
        "delivery_metrics_weekly",
        ("repo_name", "team", "week_start"),
        """
        repo_name text
        team text
        week_start date
        prs_opened int
        prs_merged int
        cycle_time_hours_p50 double
        cycle_time_hours_avg double
        coding_hours_p50 double
        pickup_hours_p50 double
        review_hours_p50 double
        merge_hours_p50 double
        time_to_first_review_hours_p50 double
        review_rounds_avg double
        merged_without_review int
        merged_without_review_rate double
        updated_at ts
        """,
    )
)

REVIEW_POLICY_VIOLATIONS = register_table(
    _spec(
        "review_policy_violations",
        ("repo_name", "pr_number"),
        """
        repo_name text
        pr_number int
        week_start date
        base_ref text
        author text
        merged_at ts
        required_approvals int
        approvals int
        fewer_approvals bool
        self_approved bool
        failing_checks json
        updated_at ts
        """,
    )
)

REVIEW_POLICY_WEEKLY = register_table(
    _spec(
        "review_policy_weekly",
        ("repo_name", "week_start"),
        """
        repo_name text
        week_start date
        prs_merged_protected int
        violations int
        fewer_approvals int
        self_approved int
        failing_checks int
        updated_at ts
        """,
    )
)

ANALYTICS_TABLES = (
    ANALYTICS_STATE,
    ANALYTICS_IDENTITY_MAP,
    PR_FACTS,
    PR_SUMMARY_CACHE,
    DELIVERY_METRICS_WEEKLY,
    REVIEW_POLICY_VIOLATIONS,
    REVIEW_POLICY_WEEKLY,
)


@migration("0050_analytics_tables")
def _analytics_tables(db: MigrationTarget) -> None:
    for spec in ANALYTICS_TABLES:
        db.create_table(spec)


@migration("0051_analytics_incremental_rules")
def _analytics_incremental_rules(db: MigrationTarget) -> None:
    """Issue #16: authors as a projection of the identity map (display name, avatar, renames
    kept per alias), each PR's linked issue (its label changes rescope the PR) and file count
    (a file dropped since rescopes the PRs that followed it), and the end dates
    of window snapshots (rebuilt by late data and --force-refresh), filled from the snapshots
    already stored."""
    from forgelens.store.sql import add_column_sql

    for column in ("display_name", "avatar_url", "previous_usernames", "renamed_at"):
        db.execute(add_column_sql(db.dialect, ANALYTICS_IDENTITY_MAP, column))
    for column in ("linked_issue", "n_files"):
        db.execute(add_column_sql(db.dialect, PR_FACTS, column))
    db.create_table(ANALYTICS_SNAPSHOTS)
    dates = " UNION ".join(
        f"SELECT DISTINCT repo_name, end_date FROM {t} WHERE window_days > 0"
        for t in ("author_metrics_window", "author_file_ownership")
    )
    db.execute(
        "INSERT INTO analytics_snapshots (repo_name, end_date, _version, _source) "
        f"SELECT repo_name, end_date, 0, 'analytics' FROM ({dates}) q"
    )


# The window snapshots (every row of an end date written at once, by one writer that keeps the
# key unique) without DuckDB's primary-key index: a daily run inserts ~800,000 of their rows on
# the 1M-PR benchmark, and the index cost more than the rows, at the insert and the checkpoint.
SNAPSHOT_TABLES = ("author_metrics_window", "author_file_ownership", "author_prs_window")


@migration("0095_snapshots_without_key_index")
def _snapshots_without_key_index(db: MigrationTarget) -> None:
    """DuckDB: the snapshot tables made again without their primary-key index (rows kept)."""
    _drop_key_indexes(db, SNAPSHOT_TABLES)


# Tables written whole or by their one writer, which keeps the key unique (an anti-join on
# DuckDB, whose primary-key index cost more than the rows: the repo_prs write of a full run on
# 1M PRs ran on one thread, merging each thread's rows into the index under one lock; 1.9M
# deployment_commits links; ai_impact_weekly's 790,000 rows).
WRITTEN_WHOLE_TABLES = ("repo_prs", "deployment_commits", "ai_impact_weekly")


@migration("0096_written_tables_without_key_index")
def _written_tables_without_key_index(db: MigrationTarget) -> None:
    """DuckDB: these tables made again without their primary-key index (rows and ids kept)."""
    _drop_key_indexes(db, WRITTEN_WHOLE_TABLES)


def _drop_key_indexes(db: MigrationTarget, names: tuple[str, ...]) -> None:
    """Each table ``names`` lists made again as its spec says, without the primary-key index
    it was created with (DuckDB; other dialects keep their key: ``drop_key_index_sql``)."""
    from forgelens.store.sql import drop_key_index_sql

    for name in names:
        for stmt in drop_key_index_sql(db.dialect, TABLES[name]):
            db.execute(stmt)
