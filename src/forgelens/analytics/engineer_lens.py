"""Engineer Lens (seed 002): daily rollups and 7/14/30/90-day window snapshots per author.

Days are UTC dates. A PR counts on the day it was opened (``prs_submitted``) and on the day it
was merged (``prs_merged``, ``lines_changed``, ``high_risk_prs``, ``features_merged``). Only
counted authors appear: not bots (unless ``include_bots``), not deleted users (``ghost``).
A window of ``w`` days ending on ``end_date`` covers ``end_date - w + 1 .. end_date``.
"""

from __future__ import annotations

from dataclasses import dataclass

from forgelens.analytics._ctx import DIRTY_DAYS, SNAP_AUTHORS, SNAP_DATES, SNAP_WINDOWS, Ctx
from forgelens.analytics._sync import write_changed
from forgelens.analytics.scope import in_dirty_period
from forgelens.store import sql as _sql

DAILY_KEYS = ["username", "repo_name", "day"]
DAILY_VALUES = ["prs_submitted", "prs_merged", "lines_changed", "high_risk_prs", "features_merged"]
WINDOW_KEYS = ["username", "repo_name", "window_days", "end_date"]
WINDOW_VALUES = [
    "prs_submitted",
    "prs_merged",
    "high_risk_prs",
    "high_risk_rate",
    "lines_changed",
    "ownership_low_risk_prs",
]
PRS_VALUES = [
    "pr_number",
    "title",
    "pr_summary",
    "risk_score",
    "high_risk",
    "is_merged",
    "merged_at",
    "created_at",
    "ai_agent",
]
F8 = "DOUBLE PRECISION"


def _events(source: str, day_filter: str) -> str:
    """One row per (PR, day it counts on) with the per-day increments."""
    return f"""
        SELECT f.username, f.repo_name, f.created_day AS day, 1 AS submitted, 0 AS merged,
            0 AS lines, 0 AS risky, 0 AS feats, 0 AS own_low_risk
        FROM {source} WHERE f.counted AND {day_filter.format(day="f.created_day")}
        UNION ALL
        SELECT f.username, f.repo_name, f.merged_day, 0, 1, f.lines_changed,
            CASE WHEN f.high_risk THEN 1 ELSE 0 END, CASE WHEN f.is_feature THEN 1 ELSE 0 END,
            CASE WHEN NOT f.high_risk AND NOT f.low_ownership THEN 1 ELSE 0 END
        FROM {source} WHERE f.counted AND f.is_merged AND {day_filter.format(day="f.merged_day")}
    """


def write_daily(ctx: Ctx) -> int:
    """Recompute ``author_metrics_daily`` for every dirty (repository, day)."""
    store = ctx.store
    t = "author_metrics_daily"
    dirty = in_dirty_period(ctx, "f.repo_name", "{day}", DIRTY_DAYS, "day")
    events = _events("pr_facts f", dirty)  # its one brace is the {day} placeholder
    with store.transaction():
        write_changed(
            ctx,
            t,
            DAILY_KEYS,
            DAILY_VALUES,
            f"""
            SELECT username, repo_name, day, sum(submitted), sum(merged), sum(lines),
                sum(risky), sum(feats), {ctx.stamp()}
            FROM ({events}) e GROUP BY username, repo_name, day
            """,
            _sql.key_in(store, [f"{t}.repo_name", f"{t}.day"], DIRTY_DAYS, ["repo_name", "day"]),
        )
    return ctx.count(DIRTY_DAYS)


@dataclass(frozen=True)
class SnapshotPart:
    """The snapshot rows one write rebuilds: every row at the end dates rebuilt whole
    (``whole``), or the rows of the authors / files named at the other end dates.

    The two are written apart: a new end date's snapshots (hundreds of thousands of rows on a
    daily run) then find nothing stored in their scope and are inserted in key order, while
    the few rows the recomputed PRs change at the earlier end dates are compared with those
    stored (``write_changed``). One scope over both compared all of them, row by row."""

    whole: bool
    first: str  # the first and last day of its windows (literals)
    last: str
    first_end: str  # its first end date (a literal; ``last`` is the last)
    windows: str  # its (end_date, window_days, start_day) rows, a subquery

    def rows(self, ctx: Ctx, scope: str, repo: str, end_date: str, col: str, value: str) -> str:
        """(``repo``, ``end_date``, ``value``) is among the rows ``scope`` rebuilds in it."""
        keys = ["repo_name", "end_date"]
        if self.whole:
            return _sql.key_in(ctx.store, [repo, end_date], scope, keys, f"_k.{col} IS NULL")
        return _sql.key_in(ctx.store, [repo, end_date, value], scope, [*keys, col])

    def named(self, ctx: Ctx, scope: str, repo: str, col: str, value: str) -> str:
        """A condition implied by ``rows``, on (``repo``, ``value``) alone, to apply before the
        join with the windows (TRUE for a whole part)."""
        if self.whole:
            return "TRUE"
        return _sql.key_in(ctx.store, [repo, value], scope, ["repo_name", col])

    def table_scope(self, ctx: Ctx, table: str, scope: str, col: str, row_col: str) -> str:
        """The rows of ``table`` (windows, not ``--blame``'s) it rebuilds."""
        mine = self.rows(
            ctx, scope, f"{table}.repo_name", f"{table}.end_date", col, f"{table}.{row_col}"
        )
        # The end dates' bounds first: the stored rows of the other end dates (a row group
        # per ~120,000 rows, each end date's inserted together) are skipped unread.
        return (
            f"{table}.end_date >= {self.first_end} AND {table}.end_date <= {self.last} "
            f"AND {table}.window_days > 0 AND {mine}"
        )


def snapshot_parts(ctx: Ctx) -> list[SnapshotPart]:
    """The parts of this run's snapshots that have rows to rebuild, whole part first."""
    parts = []
    for whole in (True, False):
        cond = "" if whole else "NOT "
        windows = (
            f"(SELECT * FROM {SNAP_WINDOWS} WHERE end_date IN "
            f"(SELECT end_date FROM {SNAP_DATES} WHERE {cond}whole))"
        )
        first, last, first_end = ctx.store.query(
            f"SELECT min(start_day), max(end_date), min(end_date) FROM {windows} q"
        )[0]
        if first is not None:
            lit = ctx.lit
            parts.append(SnapshotPart(whole, lit(first), lit(last), lit(first_end), windows))
    return parts


def write_windows(ctx: Ctx) -> None:
    """``author_metrics_window`` and ``author_prs_window`` at every end date and for every
    author ``_fl_snap_authors`` names."""
    with ctx.store.transaction():
        for part in snapshot_parts(ctx):
            _write_window_part(ctx, part)


def _write_window_part(ctx: Ctx, part: SnapshotPart) -> None:
    day_filter = f"{{day}} >= {part.first} AND {{day}} <= {part.last}"
    named = part.named(ctx, SNAP_AUTHORS, "f.repo_name", "username", "f.username")
    events = _events("pr_facts f", f"{day_filter} AND {named}")
    mine = part.rows(ctx, SNAP_AUTHORS, "e.repo_name", "w.end_date", "username", "e.username")
    t = "author_metrics_window"
    write_changed(
        ctx,
        t,
        WINDOW_KEYS,
        WINDOW_VALUES,
        f"""
        SELECT e.username, e.repo_name, w.window_days, w.end_date, sum(submitted),
            sum(merged), sum(risky),
            CASE WHEN sum(merged) > 0 THEN CAST(sum(risky) AS {F8}) / sum(merged)
                 ELSE 0.0 END,
            sum(lines), sum(own_low_risk), {ctx.stamp()}
        FROM ({events}) e JOIN {part.windows} w
          ON e.day >= w.start_day AND e.day <= w.end_date
        WHERE {mine}
        GROUP BY e.username, e.repo_name, w.window_days, w.end_date
        """,
        part.table_scope(ctx, t, SNAP_AUTHORS, "username", "username"),
    )
    t = "author_prs_window"
    in_window = "({d} >= w.start_day AND {d} <= w.end_date)"
    mine = mine.replace("e.repo_name", "f.repo_name").replace("e.username", "f.username")
    write_changed(
        ctx,
        t,
        [*WINDOW_KEYS, "pr_id"],
        PRS_VALUES,
        # The window rows (few) are the joined side; repo_prs, every PR's title and summary,
        # is read through once instead of held whole by the join.
        f"""
        SELECT f.username, f.repo_name, f.window_days, f.end_date, f.pr_id, f.pr_number,
            rp.title, rp.pr_summary, f.risk_score, f.high_risk, f.is_merged, f.merged_at,
            f.created_at, COALESCE(f.ai_agent, FALSE), {ctx.stamp()}
        FROM repo_prs rp
        JOIN (
            SELECT f.username, f.repo_name, w.window_days, w.end_date, f.pr_id,
                f.pr_number, f.risk_score, f.high_risk, f.is_merged, f.merged_at,
                f.created_at, f.ai_agent
            FROM pr_facts f
            JOIN {part.windows} w
              ON {in_window.format(d="f.created_day")}
              OR (f.merged_day IS NOT NULL AND {in_window.format(d="f.merged_day")})
            WHERE f.counted AND ({day_filter.format(day="f.created_day")}
              OR {day_filter.format(day="f.merged_day")}) AND {named} AND {mine}
        ) f ON rp.repo_name = f.repo_name AND rp.pr_number = f.pr_number
        """,
        part.table_scope(ctx, t, SNAP_AUTHORS, "username", "username"),
    )
