"""What every analytics phase is given: the store, the settings and this run's constants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from forgelens.analytics.config import AnalyticsConfig
from forgelens.store import Store
from forgelens.store import sql as _sql

# Scratch tables of one run (dropped at the end).
DIRTY = "_fl_dirty"  # PRs to (re)compute: repository_id, repo_name, number
DIRTY_DAYS = "_fl_dirty_days"  # (repo_name, day) whose daily rows are recomputed
DIRTY_WEEKS = "_fl_dirty_weeks"  # (repo_name, week_start) whose weekly rows are recomputed
NEW_ROWS = "_fl_new_rows"  # recomputed rows a write compares with the stored ones (_sync)
REPOS = "_fl_repos"  # repositories analysed, with their mode
SNAP_DATES = "_fl_snap_dates"  # (repo_name, end_date, whole, first_day) snapshots rebuilt
SNAP_WINDOWS = "_fl_snap_windows"  # (end_date, window_days, start_day) of those end dates
SNAP_AUTHORS = "_fl_snap_authors"  # (repo_name, end_date, username|NULL=all) rows to rebuild
SNAP_FILES = "_fl_snap_files"  # (repo_name, end_date, path|NULL=all) ownership rows to rebuild
PR = "_fl_pr"  # one row per dirty PR: base facts; pk = its integer key in the tables below
REV = "_fl_rev"  # review facts per dirty PR
PATHS = "_fl_paths"  # path classes
FILES = "_fl_files"  # dirty PRs' files with their history
FSCORE = "_fl_fscore"  # no longer made; dropped in case an older version left it
PRFILE = "_fl_prfile"  # per dirty PR file aggregates
RISK = "_fl_risk"  # per dirty PR risk, features, summary
DFILES = "_fl_cte_dfiles"  # ClickHouse: prs.build_files' materialized dirty files
CANDIDATES = "_fl_cte_c"  # ClickHouse: review_policy's materialized candidate PRs

WORK_TABLES = (
    DIRTY,
    DIRTY_DAYS,
    DIRTY_WEEKS,
    NEW_ROWS,
    REPOS,
    SNAP_DATES,
    SNAP_WINDOWS,
    SNAP_AUTHORS,
    SNAP_FILES,
    PR,
    REV,
    PATHS,
    FILES,
    FSCORE,
    PRFILE,
    RISK,
    DFILES,
    CANDIDATES,
)


@dataclass
class Ctx:
    store: Store
    config: AnalyticsConfig
    version: int  # _version of every row this run writes
    now: datetime
    end_date: date  # the last day (UTC) of the window snapshots
    rules_digest: str = ""  # the AI rules' (analytics/ai_rules.yaml and --ai-rules)

    def settings_hash(self) -> str:
        """The settings every analytics row depends on: the config and the AI rules (which
        decide agent PRs' owners and AI reviews). A change means every repository is
        recomputed, so a PR whose AI evidence new rules take away is recomputed too."""
        return f"{self.config.config_hash()}:{self.rules_digest[:16]}"

    def lit(self, value: object) -> str:
        return _sql.literal(value, self.store)

    def work(self, name: str, select_sql: str) -> None:
        _sql.create_work_table(self.store, name, select_sql)

    def count(self, table: str) -> int:
        return int(self.store.query(f"SELECT count(*) FROM {table}")[0][0])

    def stamp(self) -> str:
        """The ``updated_at, _version, _source`` values of a write."""
        return f"{_sql.timestamp(self.store, self.now)}, {self.version}, 'analytics'"
