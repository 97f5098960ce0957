"""``ai_impact_weekly``: how much work carries AI evidence, and how AI PRs compare with the others.

One row per scope and week (Monday, UTC): ``scope_kind`` ``repository`` (scope = full name),
``team`` (``org/slug``) or ``author`` (the analytics username; an agent PR counts for its
``owner``, the human behind it). PR figures cover the PRs merged that week (``pr_facts``: PRs of
counted authors, plus agent PRs, which a bot account opens); commit figures the non-merge
commits authored that week. Every share is a lower bound: a change made with an assistant that
left no marker is counted as "other". Incremental: only the weeks an input changed in are
recomputed (every scope of those weeks; see ``affected_weeks``), the whole table on the first
run, ``--force-refresh``, an attribution recomputed in full, or a change no week can be named for
(team membership, a deleted row). Rules in docs/metrics.md "AI-assisted work".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, timedelta

from forgelens.analytics._ctx import DIRTY_WEEKS, Ctx
from forgelens.analytics.delivery import phase_hours
from forgelens.analytics.prs import alias_of
from forgelens.analytics.risk import SCORE_DIGITS
from forgelens.analytics.scope import teams_print
from forgelens.store import Store
from forgelens.store import sql as _sql

CURSOR = ("*", "ai_impact")  # collection_cursors: the inputs' watermark and row counts seen
# What a week's rows are computed from; a row newer than the last run names the weeks it changes.
INPUTS = (
    "pr_facts",
    "pull_requests",
    "pr_files",
    "pr_commits",  # a PR's attribution is read again (its evidence may be gone) when these change
    "pr_reviews",
    "commits",
    "ai_attribution",
    "analytics_identity_map",
    "repositories",
)

BASE = "_fl_ai_base"  # one row per merged PR with its AI mode and compared facts
REVERTED, REWORKED = "_fl_ai_reverted", "_fl_ai_reworked"  # keys of the PRs flagged
PRS = "_fl_ai_prs_flagged"  # BASE with the two flags
COMMITS = "_fl_ai_commits"
NEW = "_fl_ai_new"  # the recomputed rows of the weeks a run writes
_STAMP = ("updated_at", "_version", "_source")
REVERT_DAYS, REWORK_DAYS = 30, 21
_REVERT = 'Revert "'  # a revert PR's title: Revert "<the reverted PR's title>"
FACTS = ("cycle", "coding", "pickup", "review", "merge_h")

COLUMNS = [
    "scope_kind",
    "scope",
    "week_start",
    "prs_merged",
    "ai_prs",
    "ai_prs_assistant",
    "ai_prs_agent",
    "ai_pr_share",
    "commits",
    "ai_commits",
    "ai_commit_share",
    "lines_changed",
    "ai_lines_changed",
    "ai_line_share",
    "ai_tools",
    *(
        f"{w}_{f}_hours_p50"
        for f in ("cycle", "coding", "pickup", "review", "merge")
        for w in ("ai", "other")
    ),
    "ai_size_p50",
    "other_size_p50",
    "ai_review_rounds_avg",
    "other_review_rounds_avg",
    "ai_risk_avg",
    "other_risk_avg",
    "ai_revert_rate",
    "other_revert_rate",
    "ai_rework_rate",
    "other_rework_rate",
    "ai_change_fail_rate",
    "other_change_fail_rate",
    "updated_at",
    "_version",
    "_source",
]


def _base(store: Store, since: str | None) -> None:
    """``_fl_ai_base``: the merged PRs compared (merged from ``since``, a date literal, on),
    with their facts and AI mode."""
    ep = _sql.epoch
    _sql.create_work_table(
        store,
        BASE,
        f"""
        SELECT f.repo_name AS repo_name, f.repository_id AS repository_id,
            f.pr_number AS pr_number, lower(r.source) AS source,
            f.merged_week AS week_start, COALESCE(a.owner, f.username) AS author,
            a.mode AS mode, a.tool AS tool, (a.mode IS NOT NULL) AS is_ai,
            CAST(f.lines_changed AS BIGINT) AS lines, f.review_rounds AS review_rounds,
            f.risk_score AS risk_score, {ep("f.merged_at", store)} AS merged_s,
            {phase_hours(store, "f")}
        FROM pr_facts f
        JOIN repositories r ON r.id = f.repository_id
        LEFT JOIN ai_attribution a ON a.repository_id = f.repository_id AND a.kind = 'pr'
            AND a.pr_number = f.pr_number
        WHERE f.is_merged AND (f.counted OR a.mode = 'autonomous_agent')
            {"" if since is None else f"AND f.merged_week >= {since}"}
        """,
    )


def _flags(store: Store) -> None:
    """``_fl_ai_prs``: the compared PRs with ``reverted`` (a PR titled ``Revert "<its title>"``
    merged within 30 days after it) and ``reworked`` (one of its files changed again by the
    next PR merged within 21 days that touched the file)."""
    ep = _sql.epoch
    # a 64-bit hash of the file sorts faster than its two strings (the strings after it keep
    # two files whose hashes collide apart)
    file = f"{_sql.hash64(store, 'f.repository_id', 'f.path')}, f.repository_id, f.path"
    _sql.create_work_table(
        store,
        REVERTED,
        f"""
        SELECT DISTINCT b.repository_id AS rv_repo, b.pr_number AS rv_pr
        FROM (
            SELECT repository_id, {ep("merged_at", store)} AS merged_s,
                substr(title, {len(_REVERT) + 1}, length(title) - {len(_REVERT) + 1})
                    AS reverted_title
            FROM pull_requests
            WHERE merged_at IS NOT NULL AND title LIKE '{_REVERT}%"'
        ) rv
        JOIN pull_requests p ON p.repository_id = rv.repository_id AND p.title = rv.reverted_title
        JOIN {BASE} b ON b.repository_id = p.repository_id AND b.pr_number = p.number
        WHERE rv.merged_s > b.merged_s AND rv.merged_s - b.merged_s <= {REVERT_DAYS * 86400}
        """,
    )
    _sql.create_work_table(
        store,
        REWORKED,
        f"""
        SELECT DISTINCT repository_id AS rw_repo, pr_number AS rw_pr FROM (
            SELECT f.repository_id AS repository_id, b.pr_number AS pr_number,
                b.merged_s AS merged_s,
                min(b.merged_s) OVER (
                    PARTITION BY {file} ORDER BY b.merged_s, b.pr_number
                    ROWS BETWEEN 1 FOLLOWING AND 1 FOLLOWING
                ) AS next_s
            FROM pr_files f
            JOIN {BASE} b ON b.repository_id = f.repository_id AND b.pr_number = f.pr_number
        ) pf
        WHERE next_s IS NOT NULL AND next_s - merged_s <= {REWORK_DAYS * 86400}
        """,
    )
    _sql.create_work_table(
        store,
        PRS,
        f"""
        SELECT b.*, (rv.rv_pr IS NOT NULL) AS reverted, (rw.rw_pr IS NOT NULL) AS reworked
        FROM {BASE} b
        LEFT JOIN {REVERTED} rv ON rv.rv_repo = b.repository_id AND rv.rv_pr = b.pr_number
        LEFT JOIN {REWORKED} rw ON rw.rw_repo = b.repository_id AND rw.rw_pr = b.pr_number
        """,
    )


def write_impact(ctx: Ctx, *, full: bool, dirty_weeks: Iterable[date] = ()) -> int:
    """Recompute ``ai_impact_weekly``: every row when ``full`` (or no week can be named for a
    change), else the rows of the weeks ``affected_weeks`` names; returns the table's rows.
    ``dirty_weeks``: the weeks of the PRs ``analyze all`` recomputed (``_fl_dirty_weeks``)."""
    store = ctx.store
    saved = store.get_cursor(*CURSOR)
    state = json.loads(saved) if saved else None
    counts = {t: int(n) for t, n in _counts(store)}
    mark = max(
        (int(v) for _, v in _newest(store)), default=0
    )  # before reading: later rows next run
    teams = teams_print(ctx)
    weeks: set[date] | None = None  # None: every week
    if not full and state is not None and _comparable(store, state, counts, teams):
        weeks = affected_weeks(ctx, int(state["watermark"]), dirty_weeks)
    if weeks is None or weeks:
        _rebuild(ctx, weeks)
    store.set_cursor(
        *CURSOR, json.dumps({"watermark": mark, "counts": counts, "teams": teams}), None
    )
    return int(store.query("SELECT count(*) FROM ai_impact_weekly")[0][0])


def _counts(store: Store) -> list[tuple[str, int]]:
    parts = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in INPUTS)
    return [(str(t), int(n)) for t, n in store.query(parts)]


def _newest(store: Store) -> list[tuple[str, int]]:
    parts = " UNION ALL ".join(f"SELECT '{t}', COALESCE(max(_version), 0) FROM {t}" for t in INPUTS)
    return [(str(t), int(v)) for t, v in store.query(parts)]


def _comparable(store: Store, state: dict[str, object], counts: dict[str, int], teams: str) -> bool:
    """Whether the changes since the last run can be named by week: no input lost rows (a
    deleted row leaves nothing newer behind), team membership and the repositories unchanged,
    and no team member's identity changed (a team's rows in every week would)."""
    old = state.get("counts")
    if not isinstance(old, dict) or state.get("teams") != teams:
        return False
    if any(counts.get(t, 0) < int(old.get(t, 0)) for t in INPUTS):
        return False
    wm = int(str(state["watermark"]))
    changed = store.query(
        f"SELECT count(*) FROM repositories WHERE _version > {wm} UNION ALL "
        f"SELECT count(*) FROM analytics_identity_map im JOIN team_members tm "
        f"ON im.alias = {alias_of('tm.source', 'tm.login')} WHERE im._version > {wm}"
    )
    return not any(int(n) for (n,) in changed)


def affected_weeks(ctx: Ctx, wm: int, dirty_weeks: Iterable[date]) -> set[date]:
    """The weeks (Mondays) whose rows a row newer than ``wm`` can change.

    A changed PR (its row, facts, files, commits, reviews or attribution) changes the week it is
    merged in and, through the revert (30 days) and rework (21 days) flags of the PRs merged
    before it, every week of the 30 days before its merge; a changed commit (or its attribution,
    or the identity of its email) the week it was authored in; ``analyze all``'s recomputed PRs
    their old and new weeks (a PR merged at another time, or deleted, leaves its old week)."""
    store = ctx.store
    day = _sql.utc_day("merged_at", store)
    newer = f"x._version > {wm}"
    keys = " UNION ".join(  # PRs a row of theirs changed for
        f"SELECT DISTINCT repository_id, pr_number FROM {t} x WHERE {newer}"
        + (" AND x.pr_number IS NOT NULL" if t == "ai_attribution" else "")
        for t in ("pr_files", "pr_commits", "pr_reviews", "ai_attribution")
    )
    prs = f"""
        SELECT repository_id, pr_number AS number, merged_at FROM pr_facts x WHERE {newer}
        UNION SELECT repository_id, number, merged_at FROM pull_requests x WHERE {newer}
        UNION SELECT p.repository_id, p.number, p.merged_at FROM pull_requests p
          JOIN ({keys}) k
          ON k.repository_id = p.repository_id AND k.pr_number = p.number
    """
    days = [
        d
        for (d,) in store.query(f"SELECT DISTINCT {day} FROM ({prs}) q WHERE merged_at IS NOT NULL")
    ]
    weeks = set(_weeks_before(days, REVERT_DAYS))
    week = _sql.utc_week("c.authored_at", store)
    commits = f"""
        SELECT DISTINCT {week} FROM commits c WHERE c._version > {wm}
        UNION SELECT DISTINCT {week} FROM commits c
          JOIN ai_attribution a ON a.repository_id = c.repository_id AND a.key = c.sha
        WHERE a._version > {wm} AND a.kind = 'commit'
        UNION SELECT DISTINCT {week} FROM commits c
          JOIN analytics_identity_map im ON im.alias = 'email:' || lower(c.author_email)
        WHERE im._version > {wm}
    """
    weeks.update(_as_date(w) for (w,) in store.query(commits) if w is not None)
    weeks.update(dirty_weeks)
    return weeks


def recomputed_weeks(ctx: Ctx) -> set[date]:
    """The weeks (old and new) of the PRs this batch of ``analyze all`` recomputed."""
    rows = ctx.store.query(f"SELECT DISTINCT week_start FROM {DIRTY_WEEKS}")
    return {_as_date(w) for (w,) in rows}


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _weeks_before(days: Iterable[object], span: int) -> set[date]:
    """The Mondays of every day from ``span`` days before each day to the day."""
    out: set[date] = set()
    for d in days:
        if d is None:
            continue
        last = _as_date(d)
        first = last - timedelta(days=span)
        monday = first - timedelta(days=first.weekday())
        while monday <= last:
            out.add(monday)
            monday += timedelta(days=7)
    return out


def _rebuild(ctx: Ctx, weeks: set[date] | None) -> None:
    """Every row of ``weeks`` (all when None) computed again and written where it changed."""
    store = ctx.store
    since = None if weeks is None else ctx.lit(min(weeks))
    listed = "" if weeks is None else ", ".join(ctx.lit(w) for w in sorted(weeks))
    in_weeks = "1 = 1" if weeks is None else f"{{t}}week_start IN ({listed})"
    _base(store, since)
    try:
        _flags(store)
        _commits(store, since)
        select = _select(ctx, in_weeks.format(t="t."))
        stored = store.query(
            f"SELECT 1 FROM ai_impact_weekly WHERE {in_weeks.format(t='')} LIMIT 1"
        )
        if not stored or store.capabilities.final_reads:
            # nothing to keep (a first run), or a store where a row written again replaces it
            with store.transaction():
                if stored:
                    store.execute(f"DELETE FROM ai_impact_weekly WHERE {in_weeks.format(t='')}")
                _sql.insert_select(store, "ai_impact_weekly", COLUMNS, select)
        else:
            _sql.create_work_table(store, NEW, select)
            _write_changes(store, in_weeks.format(t=""))
    finally:
        for name in (BASE, REVERTED, REWORKED, PRS, COMMITS, NEW):
            _sql.drop_work_table(store, name)


def _write_changes(store: Store, in_weeks: str) -> None:
    """``_fl_ai_new``'s rows into ``ai_impact_weekly`` for the weeks ``in_weeks``: the stored
    rows it no longer holds, or holds with other values, deleted; its rows whose key is not
    stored then inserted. A row that did not change is not written (deleting and inserting
    every row of a table is most of a rebuild: a primary-key index updated row by row)."""
    t = "ai_impact_weekly"
    keys = ["scope_kind", "scope", "week_start"]
    values = ", ".join(c for c in COLUMNS if c not in _STAMP)
    changed = f"(SELECT {values} FROM {t} WHERE {in_weeks} EXCEPT SELECT {values} FROM {NEW})"
    with store.transaction():
        gone = _sql.key_in(store, [f"{t}.{k}" for k in keys], changed, keys)
        store.execute(f"DELETE FROM {t} WHERE {in_weeks} AND {gone}")
        stored = _sql.key_in(store, [f"n.{k}" for k in keys], t, keys)
        _sql.insert_select(
            store, t, COLUMNS, f"SELECT {', '.join(COLUMNS)} FROM {NEW} n WHERE NOT {stored}"
        )


def _commits(store: Store, since: str | None) -> None:
    """``_fl_ai_commits``: the commits counted per repository, author and week (and how many
    carry AI evidence); the scopes add these up (a row per commit, three times over, cost
    the most of the comparisons)."""
    week = _sql.utc_week("c.authored_at", store)
    author = "COALESCE(im.username, lower(c.author_email))"
    _sql.create_work_table(
        store,
        COMMITS,
        f"""
        SELECT r.full_name AS repo_name, lower(r.source) AS source, {author} AS author,
            {week} AS week_start, CAST(count(*) AS BIGINT) AS n,
            CAST(count(*) FILTER (WHERE a.mode IS NOT NULL) AS BIGINT) AS n_ai
        FROM commits c
        JOIN repositories r ON r.id = c.repository_id
        LEFT JOIN analytics_identity_map im ON im.alias = 'email:' || lower(c.author_email)
        LEFT JOIN ai_attribution a ON a.repository_id = c.repository_id AND a.kind = 'commit'
            AND a.key = c.sha
        WHERE NOT c.is_merge AND c.authored_at IS NOT NULL
            {"" if since is None else f"AND {week} >= {since}"}
        GROUP BY r.full_name, lower(r.source), {author}, {week}
        """,
    )


def _teams(store: Store) -> str:
    return f"""
        SELECT lower(tm.source) AS source, tm.org || '/' || tm.team_slug AS team,
            im.username AS username
        FROM team_members tm
        JOIN analytics_identity_map im ON im.alias = {alias_of("tm.source", "tm.login")}
    """


def _scoped(store: Store, table: str, cols: str, in_weeks: str) -> str:
    """``table``'s rows of the weeks ``in_weeks`` (on ``t.week_start``) once per scope:
    repository, each team of the author, the author."""
    return f"""
        SELECT 'repository' AS scope_kind, t.repo_name AS scope, {cols} FROM {table} t
        WHERE {in_weeks}
        UNION ALL
        SELECT 'team' AS scope_kind, tm.team AS scope, {cols} FROM {table} t
        JOIN ({_teams(store)}) tm ON tm.source = t.source AND tm.username = t.author
        WHERE {in_weeks}
        UNION ALL
        SELECT 'author' AS scope_kind, t.author AS scope, {cols} FROM {table} t
        WHERE {in_weeks}
    """


def _compared(store: Store) -> list[str]:
    """Each comparison's value over one group of PRs (a scope's week, AI or other), in
    ``COLUMNS`` order (aliased a0, a1...): computed once per group and set side by side in
    ``_select`` (a median of ``CASE WHEN is_ai ...`` over every PR of the week, twice over,
    was most of the comparisons' time)."""
    dbl = "DOUBLE PRECISION"
    aggs = [_sql.median(store, f) for f in FACTS]
    aggs.append(_sql.median(store, f"CAST(lines AS {dbl})"))
    aggs.append(f"avg(CAST(review_rounds AS {dbl}))")
    aggs.append(_sql.exact_avg("risk_score", SCORE_DIGITS))
    for flag in ("reverted", "reworked"):
        aggs.append(f"avg(CASE WHEN {flag} THEN 1.0 WHEN NOT {flag} THEN 0.0 END)")
    return [f"{e} AS a{i}" for i, e in enumerate(aggs)]


def _select(ctx: Ctx, in_weeks: str) -> str:
    """The rows of the weeks ``in_weeks`` (a condition on ``t.week_start``) holds, their
    columns named as ``COLUMNS``.

    Each scope's week is grouped twice over, its AI PRs and its other PRs (``pa``), and the two
    groups are joined side by side (``pg``); the tools are counted over the AI PRs alone."""
    store = ctx.store
    dbl = "DOUBLE PRECISION"
    compared = _compared(store)
    key = ("scope_kind", "scope", "week_start")
    pr_cols = (
        "t.week_start AS week_start, t.is_ai AS is_ai, t.mode AS mode, "
        "t.lines AS lines, t.review_rounds AS review_rounds, t.risk_score AS risk_score, "
        + ", ".join(f"t.{f} AS {f}" for f in FACTS)
        + ", t.reverted AS reverted, t.reworked AS reworked"
    )
    tool_cols = "t.week_start AS week_start, t.tool AS tool"
    cm_cols = "t.week_start AS week_start, t.n AS n, t.n_ai AS n_ai"
    tools = _sql.string_agg(
        store, f"{_sql.json_str('tool', store)} || ': ' || CAST(n AS VARCHAR)", ", ", "tool"
    )
    group = ["n", "n_assistant", "n_agent", "sum_lines", *(f"a{i}" for i in range(len(compared)))]
    prs, ai_prs = "(COALESCE(pg.o_n, 0) + COALESCE(pg.a_n, 0))", "COALESCE(pg.a_n, 0)"
    lines, ai_lines = (
        "(COALESCE(pg.o_sum_lines, 0) + COALESCE(pg.a_sum_lines, 0))",
        "COALESCE(pg.a_sum_lines, 0)",
    )
    values = [  # in COLUMNS order
        *(f"COALESCE(pg.{k}, cg.{k})" for k in key),
        prs,
        ai_prs,
        "COALESCE(pg.a_n_assistant, 0)",
        "COALESCE(pg.a_n_agent, 0)",
        f"CASE WHEN {prs} > 0 THEN CAST({ai_prs} AS {dbl}) / {prs} END",
        "COALESCE(cg.commits, 0)",
        "COALESCE(cg.ai_commits, 0)",
        f"CASE WHEN cg.commits > 0 THEN CAST(cg.ai_commits AS {dbl}) / cg.commits END",
        lines,
        ai_lines,
        f"CASE WHEN {lines} > 0 THEN CAST({ai_lines} AS {dbl}) / {lines} END",
        _sql.as_json(store, "'{' || COALESCE(pg.tools, '') || '}'"),
        *(f"pg.{w}_a{i}" for i in range(len(compared)) for w in ("a", "o")),
        f"CAST(NULL AS {dbl})",
        f"CAST(NULL AS {dbl})",
        _sql.timestamp(store, ctx.now),
        str(ctx.version),
        "'analytics'",
    ]

    def on(x: str, y: str) -> str:
        return " AND ".join(f"{x}.{k} = {y}.{k}" for k in key)

    return f"""
        WITH pa AS (
            SELECT scope_kind, scope, week_start, is_ai, count(*) AS n,
                count(*) FILTER (WHERE mode = 'assistant_coauthor') AS n_assistant,
                count(*) FILTER (WHERE mode = 'autonomous_agent') AS n_agent,
                sum(lines) AS sum_lines, {", ".join(compared)}
            FROM ({_scoped(store, PRS, pr_cols, in_weeks)}) prs
            GROUP BY scope_kind, scope, week_start, is_ai
        ),
        tg AS (
            SELECT scope_kind, scope, week_start, {tools} AS tools
            FROM (SELECT scope_kind, scope, week_start, tool, count(*) AS n
                  FROM ({_scoped(store, PRS, tool_cols, f"{in_weeks} AND t.is_ai")}) ap
                  GROUP BY scope_kind, scope, week_start, tool) x
            GROUP BY scope_kind, scope, week_start
        ),
        pg AS (
            SELECT {", ".join(f"COALESCE(o.{k}, a.{k}) AS {k}" for k in key)},
                {", ".join(f"{w}.{c} AS {w}_{c}" for w in ("o", "a") for c in group)},
                a.tools AS tools
            FROM (SELECT * FROM pa WHERE NOT is_ai) o
            FULL JOIN (
                SELECT x.*, tg.tools AS tools FROM pa x LEFT JOIN tg ON {on("x", "tg")}
                WHERE x.is_ai
            ) a ON {on("o", "a")}
        ),
        cg AS (
            SELECT scope_kind, scope, week_start, CAST(sum(n) AS BIGINT) AS commits,
                CAST(sum(n_ai) AS BIGINT) AS ai_commits
            FROM ({_scoped(store, COMMITS, cm_cols, in_weeks)}) cms
            GROUP BY scope_kind, scope, week_start
        )
        SELECT {", ".join(f"{e} AS {c}" for e, c in zip(values, COLUMNS, strict=True))}
        FROM pg
        FULL JOIN cg ON {on("pg", "cg")}
    """
