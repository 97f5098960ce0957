"""Delivery metrics, weekly (Monday, UTC), per repository (``team = '*'``) and per team
(``repo_name = '*'``, team = ``org/slug``): ``delivery_metrics_weekly``.

Per merged PR (counted authors): ``start = min(first commit authored, PR opened)``;
cycle = merged - start = coding + pickup + review + merge, where coding = opened - start,
pickup = first review by someone else - opened, review = last such review (up to the merge) -
first, merge = merged - last review (merged - opened when nobody reviewed; then pickup and
review are empty). A week's row covers PRs merged in it (``prs_opened``: PRs opened in it).
"""

from __future__ import annotations

from forgelens.analytics._ctx import DIRTY_WEEKS, Ctx
from forgelens.analytics.prs import alias_of
from forgelens.analytics.scope import in_dirty_period
from forgelens.store import Store
from forgelens.store import sql as _sql

COLUMNS = [
    "repo_name",
    "team",
    "week_start",
    "prs_opened",
    "prs_merged",
    "cycle_time_hours_p50",
    "cycle_time_hours_avg",
    "coding_hours_p50",
    "pickup_hours_p50",
    "review_hours_p50",
    "merge_hours_p50",
    "time_to_first_review_hours_p50",
    "review_rounds_avg",
    "merged_without_review",
    "merged_without_review_rate",
    "updated_at",
    "_version",
    "_source",
]


def phase_hours(store: Store, f: str) -> str:
    """The columns ``cycle, coding, pickup, review, merge_h`` (hours) of a ``pr_facts`` row
    aliased ``f`` (the module docstring's rules; also ``ai_impact``'s)."""

    def h(start: str, end: str) -> str:
        return _sql.hours_between(f"{f}.{start}", f"{f}.{end}", store)

    return f"""{h("first_commit_at", "merged_at")} AS cycle,
            {h("first_commit_at", "created_at")} AS coding,
            CASE WHEN {f}.reviewed THEN {h("created_at", "first_review_at")} END AS pickup,
            CASE WHEN {f}.reviewed THEN {h("first_review_at", "last_review_at")} END AS review,
            CASE WHEN {f}.reviewed THEN {h("last_review_at", "merged_at")}
                 ELSE {h("created_at", "merged_at")} END AS merge_h"""


def _aggregate(ctx: Ctx, repo: str, team: str, source: str, week_filter: str) -> str:
    """Weekly rows; ``week_filter`` (on ``{week}`` and ``{day}``, the PR's week and UTC day)
    limits the weeks recomputed."""
    store = ctx.store

    def _p50(expr: str) -> str:
        return _sql.median(store, expr)

    created_week = _sql.utc_week("f.created_at", store)
    merged = f"""
        SELECT {repo} AS repo_name, {team} AS team, f.merged_week AS week_start,
            {phase_hours(store, "f")},
            f.reviewed, f.review_rounds
        FROM {source} WHERE f.is_merged AND f.counted
            AND {week_filter.format(week="f.merged_week", day="f.merged_day")}
    """
    opened = f"""
        SELECT {repo} AS repo_name, {team} AS team, {created_week} AS week_start
        FROM {source} WHERE f.counted
            AND {week_filter.format(week=created_week, day="f.created_day")}
    """
    return f"""
        WITH m AS ({merged}), o AS ({opened}),
        mg AS (
            SELECT repo_name, team, week_start, count(*) AS prs_merged,
                {_p50("cycle")} AS cycle_p50, avg(cycle) AS cycle_avg,
                {_p50("coding")} AS coding_p50, {_p50("pickup")} AS pickup_p50,
                {_p50("review")} AS review_p50, {_p50("merge_h")} AS merge_p50,
                avg(CAST(review_rounds AS DOUBLE PRECISION)) AS rounds_avg,
                count(*) FILTER (WHERE NOT reviewed) AS unreviewed
            FROM m GROUP BY repo_name, team, week_start
        ),
        og AS (SELECT repo_name, team, week_start, count(*) AS prs_opened
               FROM o GROUP BY repo_name, team, week_start),
        k AS (SELECT repo_name, team, week_start FROM mg
              UNION SELECT repo_name, team, week_start FROM og)
        SELECT k.repo_name, k.team, k.week_start, COALESCE(og.prs_opened, 0),
            COALESCE(mg.prs_merged, 0), mg.cycle_p50, mg.cycle_avg, mg.coding_p50,
            mg.pickup_p50, mg.review_p50, mg.merge_p50, mg.pickup_p50, mg.rounds_avg,
            COALESCE(mg.unreviewed, 0),
            CASE WHEN mg.prs_merged > 0
                 THEN CAST(mg.unreviewed AS DOUBLE PRECISION) / mg.prs_merged END,
            {ctx.stamp()}
        FROM k
        LEFT JOIN mg ON mg.repo_name = k.repo_name AND mg.team = k.team
          AND mg.week_start = k.week_start
        LEFT JOIN og ON og.repo_name = k.repo_name AND og.team = k.team
          AND og.week_start = k.week_start
    """


def write_delivery(ctx: Ctx, all_teams: bool | None = False) -> None:
    """The rows of the dirty weeks; every team row when ``all_teams`` (membership or an
    identity changed, or a repository was recomputed in full), none when it is None (a batch
    of repositories: the team rows follow the last)."""
    store = ctx.store
    # The first dirty week bounds the days read: a cheap filter before the per-row weeks.
    first = store.query(f"SELECT min(week_start) FROM {DIRTY_WEEKS}")[0][0]
    if first is not None:
        since = f"{{day}} >= {ctx.lit(first)} AND "
        # key_in's one brace is the {week} placeholder
        in_dirty = since + in_dirty_period(ctx, "f.repo_name", "{week}", DIRTY_WEEKS, "week_start")
        with store.transaction():
            t = "delivery_metrics_weekly"
            store.execute(
                f"DELETE FROM {t} WHERE team = '*' AND "
                + _sql.key_in(
                    store,
                    [f"{t}.repo_name", f"{t}.week_start"],
                    DIRTY_WEEKS,
                    ["repo_name", "week_start"],
                )
            )
            _sql.insert_select(
                store, t, COLUMNS, _aggregate(ctx, "f.repo_name", "'*'", "pr_facts f", in_dirty)
            )
    if all_teams:
        write_team_rows(ctx, None)
    elif all_teams is not None and first is not None:
        write_team_rows(ctx, ctx.lit(first))


def write_team_rows(ctx: Ctx, since: str | None) -> None:
    """The team rows (``repo_name = '*'``) of the dirty weeks from ``since`` on, or every one
    (``since`` None): the PRs of every repository by the team's members."""
    store = ctx.store
    # Each team member's username first (few rows), then the PRs by it: joining the PRs to
    # every member of the forge first is PRs x members rows on an engine that keeps the order.
    teams = f"""
        pr_facts f
        JOIN repositories rr ON rr.id = f.repository_id
        JOIN (
            SELECT lower(tm.source) AS source, tm.org || '/' || tm.team_slug AS team,
                im.username AS username
            FROM team_members tm
            JOIN analytics_identity_map im ON im.alias = {alias_of("tm.source", "tm.login")}
        ) tm ON tm.source = lower(rr.source) AND tm.username = f.username
    """
    if since is None:
        old, weeks = "", "1 = 1"
    else:
        old = f" AND week_start IN (SELECT week_start FROM {DIRTY_WEEKS})"
        weeks = f"{{day}} >= {since} AND {{week}} IN (SELECT week_start FROM {DIRTY_WEEKS})"
    with store.transaction():
        store.execute(f"DELETE FROM delivery_metrics_weekly WHERE repo_name = '*'{old}")
        _sql.insert_select(
            store,
            "delivery_metrics_weekly",
            COLUMNS,
            _aggregate(ctx, "'*'", "tm.team", teams, weeks),
        )
