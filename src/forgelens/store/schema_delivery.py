"""Tables of delivery to production: deployments, the commits each one shipped, incidents,
change failures with their evidence, per-deployment DORA facts and the weekly / monthly DORA
metrics (every column defined in ``docs/metrics.md``, "DORA").

``deployments`` and ``incidents`` are source data (forges, the git tag rule, the CI-run rule,
the push API); the other tables are written by ``forgelens analyze dora``. ``repo_prs`` (seed
002) gains ``deployed_at`` and ``deployment_id``: when the PR's changes reached production.
"""

from __future__ import annotations

from dataclasses import replace

from forgelens.store.schema import TABLES, MigrationTarget, _spec, migration, register_table

DEPLOYMENTS = register_table(
    _spec(
        "deployments",
        ("repository_id", "deployment_id"),
        """
        repository_id text
        deployment_id text
        environment text
        environment_kind text
        sha text
        ref text
        status text
        created_at ts
        finished_at ts
        source text
        creator text
        transient_environment bool
        production_environment bool
        description text
        url text
        """,
    )
)

DEPLOYMENT_COMMITS = register_table(
    _spec(
        "deployment_commits",
        ("repository_id", "deployment_id", "sha"),
        """
        repository_id text
        deployment_id text
        sha text
        environment text
        committed_at ts
        deployed_at ts
        lead_time_hours double
        """,
        key_index=False,
    )
)

INCIDENTS = register_table(
    _spec(
        "incidents",
        ("repository_id", "incident_id"),
        """
        repository_id text
        incident_id text
        title text
        source text
        service text
        created_at ts
        resolved_at ts
        sha text
        deployment_id text
        url text
        """,
    )
)

CHANGE_FAILURES = register_table(
    _spec(
        "change_failures",
        ("repository_id", "deployment_id", "kind", "evidence_id"),
        """
        repository_id text
        deployment_id text
        kind text
        evidence_id text
        environment text
        detected_at ts
        link text
        evidence text
        updated_at ts
        """,
    )
)

DORA_DEPLOYMENTS = register_table(
    _spec(
        "dora_deployments",
        ("repository_id", "deployment_id"),
        """
        repository_id text
        deployment_id text
        repo_name text
        environment text
        environment_kind text
        sha text
        status text
        deployed_at ts
        counted bool
        duplicate_of text
        baseline bool
        changes int
        lead_time_hours_p50 double
        failed bool
        failure_kinds json
        unplanned bool
        unplanned_kinds json
        restored_at ts
        recovery_hours double
        updated_at ts
        """,
    )
)

_METRIC_COLUMNS = """
    repo_name text
    team text
    environment text
    {period} date
    environment_kind text
    deployments int
    deploy_days int
    terminal_deployments int
    failed_deployments int
    change_fail_rate double
    changes int
    lead_time_hours_p50 double
    lead_time_hours_p75 double
    prs_deployed int
    pr_lead_time_hours_p50 double
    recovered_failures int
    recovery_hours_p50 double
    unplanned_deployments int
    rework_rate double
    bucket_deployment_frequency text
    bucket_lead_time text
    bucket_change_fail_rate text
    bucket_recovery_time text
    bucket_rework_rate text
    updated_at ts
"""

DORA_METRICS_WEEKLY = register_table(
    _spec(
        "dora_metrics_weekly",
        ("repo_name", "team", "environment", "week_start"),
        _METRIC_COLUMNS.format(period="week_start"),
    )
)

DORA_METRICS_MONTHLY = register_table(
    _spec(
        "dora_metrics_monthly",
        ("repo_name", "team", "environment", "month_start"),
        _METRIC_COLUMNS.format(period="month_start"),
    )
)

DELIVERY_TABLES = (
    DEPLOYMENTS,
    DEPLOYMENT_COMMITS,
    INCIDENTS,
    CHANGE_FAILURES,
    DORA_DEPLOYMENTS,
    DORA_METRICS_WEEKLY,
    DORA_METRICS_MONTHLY,
)

# repo_prs (seed 002) columns added by this area
REPO_PRS_DELIVERY_COLUMNS = (("deployed_at", "ts"), ("deployment_id", "text"))
_repo_prs = TABLES["repo_prs"]
register_table(replace(_repo_prs, columns=(*_repo_prs.columns, *REPO_PRS_DELIVERY_COLUMNS)))


@migration("0070_delivery_tables")
def _delivery_tables(db: MigrationTarget) -> None:
    for spec in DELIVERY_TABLES:
        db.create_table(spec)


@migration("0071_repo_prs_deployed")
def _repo_prs_deployed(db: MigrationTarget) -> None:
    """``repo_prs.deployed_at`` and ``repo_prs.deployment_id``."""
    from forgelens.store.sql import add_column_sql

    for name, _ in REPO_PRS_DELIVERY_COLUMNS:
        db.execute(add_column_sql(db.dialect, TABLES["repo_prs"], name))


# What a forge's compare API answered for consecutive successful deployments of an environment
# (``engine/deploy_compare.py``): asked once per pair, truncation recorded, never asked again.
DEPLOYMENT_COMPARES = register_table(
    _spec(
        "deployment_compares",
        ("repository_id", "base_sha", "head_sha"),
        """
        repository_id text
        base_sha text
        head_sha text
        deployment_id text
        status text
        total_commits bigint
        listed_commits bigint
        truncated bool
        error text
        compared_at ts
        """,
    )
)


@migration("0075_deployment_compares")
def _deployment_compares(db: MigrationTarget) -> None:
    db.create_table(DEPLOYMENT_COMPARES)
