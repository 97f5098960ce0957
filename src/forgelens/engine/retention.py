"""Data retention (seed 001 "configurable data retention policies").

A policy names, per table, how long rows are kept; older rows are deleted, or, for a
``table.column`` entry, only that column is blanked (anonymized) and the row stays:

    FORGELENS_RETENTION="pr_comments.body=365d,issue_comments.body=365d,audit_log=730d"

``apply_retention(store, policy)`` returns a report (table, column, action, cutoff, rows) and
changes nothing with ``dry_run``. The analytics tables (Engineer Lens aggregates of seed 002)
are never touched unless ``include_aggregates`` is given: they are what a report still needs
after the raw rows are gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from forgelens.errors import BadInput
from forgelens.store import Store, now_version

# The column that dates a row, per table a policy may name.
TIME_COLUMNS: dict[str, str] = {
    "audit_log": "occurred_at",
    "webhook_deliveries": "received_at",
    "service_jobs": "enqueued_at",
    "git_collection_runs": "started_at",
    "commits": "committed_at",
    "pull_requests": "created_at",
    "pr_reviews": "submitted_at",
    "pr_comments": "created_at",
    "issues": "created_at",
    "issue_comments": "created_at",
    "ci_runs": "created_at",
    "pipeline_runs": "started_at",
    "author_metrics_daily": "day",
    "author_metrics_window": "end_date",
    "author_file_ownership": "end_date",
    "author_prs_window": "end_date",
    "repo_prs": "created_at",
}
_AGE = re.compile(r"^\s*(\d+)\s*([dwy])\s*$")
AGGREGATES = frozenset(
    {
        "authors",
        "author_metrics_daily",
        "author_metrics_window",
        "author_file_ownership",
        "author_prs_window",
        "repo_prs",
    }
)


@dataclass(frozen=True, slots=True)
class Rule:
    table: str
    column: str | None  # None: delete rows; else blank this column
    keep: timedelta

    @property
    def action(self) -> str:
        return "delete" if self.column is None else "anonymize"


def parse_policy(text: str) -> list[Rule]:
    """``table=365d`` (delete) or ``table.column=365d`` (anonymize), comma-separated; ages in
    days, weeks or years (``365d``, ``52w``, ``2y``)."""
    rules: list[Rule] = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, sep, age = item.partition("=")
        if not sep:
            raise BadInput(f"retention entry {item!r}: write table=365d or table.column=365d")
        table, _, column = name.strip().partition(".")
        if table not in TIME_COLUMNS:
            known = ", ".join(sorted(TIME_COLUMNS))
            raise BadInput(f"retention: no policy possible for table {table!r}; use one of {known}")
        match = _AGE.match(age)
        if not match or int(match[1]) <= 0:
            raise BadInput(f"retention entry {item!r}: write the age as 365d, 52w or 2y")
        keep = timedelta(days=int(match[1]) * {"d": 1, "w": 7, "y": 365}[match[2]])
        rules.append(Rule(table, column or None, keep))
    return rules


def apply_retention(
    store: Store,
    rules: list[Rule],
    *,
    dry_run: bool = False,
    include_aggregates: bool = False,
    now: datetime | None = None,
) -> list[dict[str, object]]:
    """Delete or anonymize what ``rules`` say is too old; return what was (or would be) done."""
    now = now or datetime.now(UTC)
    report: list[dict[str, object]] = []
    for rule in rules:
        spec = store.table_spec(rule.table)
        if rule.column is not None and rule.column not in spec.column_names:
            raise BadInput(f"retention: {rule.table} has no column {rule.column!r}")
        if rule.column is not None and rule.column in spec.key:
            raise BadInput(f"retention: {rule.table}.{rule.column} is part of the key; delete rows")
        when = TIME_COLUMNS[rule.table]
        cutoff = now - rule.keep
        entry: dict[str, object] = {
            "table": rule.table,
            "column": rule.column or "",
            "action": rule.action,
            "cutoff": cutoff.isoformat(timespec="seconds"),
            "rows": 0,
        }
        if rule.table in AGGREGATES and not include_aggregates:
            entry["action"] = "skipped (aggregate; pass --include-aggregates)"
            report.append(entry)
            continue
        extra = f" AND {rule.column} IS NOT NULL" if rule.column else ""
        where = f"WHERE {when} < ?{extra}"
        param = cutoff.date() if when in ("day", "end_date") else cutoff
        rows = int(store.query(f"SELECT count(*) FROM {rule.table} {where}", [param])[0][0])
        entry["rows"] = rows
        if rows and not dry_run:
            with store.transaction():
                if rule.column is None:
                    store.execute(f"DELETE FROM {rule.table} {where}", [param])
                else:
                    store.execute(
                        f"UPDATE {rule.table} SET {rule.column} = NULL, _version = ? {where}",
                        [now_version(), param],
                    )
        report.append(entry)
    return report
