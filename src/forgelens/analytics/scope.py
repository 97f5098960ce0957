"""What a run recomputes: repositories, PRs, days and weeks (incremental by default).

Each repository keeps, per target (``what_shipped``, ``engineer_lens``, ``all``), the highest
``_version`` of its input rows seen by the last analysis (``analytics_state.watermark``). A run
recomputes, per repository:

- ``full``: every PR (first analysis, ``--force-refresh`` after clearing its rows, or a changed
  analytics configuration);
- ``incremental``: the PRs with an input row (PR, files, reviews, commits, comments, their
  ``ai_attribution`` PR and review rows) newer than the watermark, whose author's, merger's or a
  reviewer's identity changed, whose linked issue changed, or whose CI runs / branch protection
  changed;
- ``windows``: no PR, only the window snapshots (the end date moved);
- ``skip``: nothing changed.

Daily rows are recomputed for every (repository, day) a recomputed PR was or is created or
merged on, weekly rows likewise for weeks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from forgelens.analytics._ctx import (
    DIRTY,
    DIRTY_DAYS,
    DIRTY_WEEKS,
    PR,
    REPOS,
    SNAP_AUTHORS,
    SNAP_DATES,
    SNAP_FILES,
    SNAP_WINDOWS,
    Ctx,
)
from forgelens.analytics.prs import alias_of
from forgelens.errors import BadInput
from forgelens.store import sql as _sql

PR_INPUTS = ("pr_files", "pr_reviews", "pr_commits", "pr_comments")
# A PR or review row ``analyze ai`` wrote since: its owner or an AI review changes the PR's facts
# (a rules change rewrites every row; a PR whose evidence a rules change took away has no row
# left to say so: ``--force-refresh``).
AI_INPUT = "ai_attribution"
REPO_TABLES = (
    "repo_prs",
    "pr_facts",
    "author_metrics_daily",
    "author_metrics_window",
    "author_file_ownership",
    "author_prs_window",
    "delivery_metrics_weekly",
    "review_policy_violations",
    "review_policy_weekly",
    "analytics_state",
)


@dataclass
class RepoPlan:
    repo_name: str
    repository_id: str
    mode: str  # full | incremental | windows | skip
    old_watermark: int
    watermark: int
    snapshot_all: bool = True  # rebuild every window row (else only the changed authors/files)
    protections: str = "0:0"  # its branch_protections rows: count and newest _version
    protections_changed: bool = False  # since the last run (a row added, changed or deleted)


def fingerprints(ctx: Ctx, table: str, key: str) -> dict[str, str]:
    """``count:newest _version`` of ``table``'s rows per ``key``: a deleted row changes it too
    (a _version watermark sees only rows written)."""
    return {
        str(k): f"{n}:{v}"
        for k, n, v in ctx.store.query(
            f"SELECT {key}, count(*), max(_version) FROM {table} GROUP BY {key}"
        )
    }


def _cursor(ctx: Ctx, entity: str, target: str) -> dict[str, str] | None:
    saved = ctx.store.get_cursor("*", f"{entity}:{target}")
    return None if saved is None else dict(json.loads(saved))


def select_repositories(ctx: Ctx, repos: list[str] | None) -> list[tuple[str, str]]:
    """``(repository_id, full_name)`` of the repositories named (all when ``repos`` is None)."""
    rows = [
        (str(i), str(n))
        for i, n in ctx.store.query("SELECT id, full_name FROM repositories ORDER BY full_name, id")
    ]
    if repos is None:
        return rows
    wanted = {r.lower() for r in repos}
    chosen = [(i, n) for i, n in rows if n.lower() in wanted or i.lower() in wanted]
    missing = wanted - {n.lower() for _, n in chosen} - {i.lower() for i, _ in chosen}
    if missing:
        raise BadInput(
            f"no repository {', '.join(sorted(missing))} in the store: collect it first "
            "(forgelens collect ...) or check the name with "
            '`forgelens query "SELECT full_name FROM repositories"`'
        )
    return chosen


def plan(
    ctx: Ctx, repos: list[tuple[str, str]], target: str, force: bool, changed_aliases: list[str]
) -> list[RepoPlan]:
    store = ctx.store
    state = {
        r[0]: r[1:]
        for r in store.query(
            "SELECT repo_name, watermark, end_date, config_hash FROM analytics_state "
            "WHERE target = ?",
            [target],
        )
    }
    # Rows at or below every repository's watermark change nothing: skip them (they are most
    # of the store, and a filter on _version lets the scan pass over whole row groups).
    olds = [int(state[n][0] or 0) if n in state else 0 for _, n in repos]
    floor = 0 if force or not olds else min(olds)
    parts = " UNION ALL ".join(
        f"SELECT repository_id, max(_version) AS v FROM {t} WHERE _version > {floor} "
        f"{'AND pr_number IS NOT NULL ' if t == AI_INPUT else ''}GROUP BY repository_id"
        for t in ("pull_requests", *PR_INPUTS, AI_INPUT, "branch_protections", "ci_runs", "issues")
    )
    marks = dict(
        store.query(f"SELECT repository_id, max(v) FROM ({parts}) q GROUP BY repository_id")
    )
    cfg_hash = ctx.settings_hash()
    prints = fingerprints(ctx, "branch_protections", "repository_id")
    old_prints = _cursor(ctx, "analytics_protections", target)
    plans: list[RepoPlan] = []
    for repository_id, name in repos:
        old = state.get(name)
        mark = int(marks.get(repository_id) or 0)
        if mark == 0 and old is not None:
            mark = int(old[0] or 0)  # nothing above the floor: its watermark stands
        fp = prints.get(repository_id, "0:0")
        protections = old_prints is not None and old_prints.get(repository_id, "0:0") != fp
        if force or old is None or old[2] != cfg_hash:
            mode = "full"
        elif mark > int(old[0] or 0) or changed_aliases or protections:
            mode = "incremental"
        elif old[1] != ctx.end_date:
            mode = "windows"
        else:
            mode = "skip"
        plans.append(
            RepoPlan(
                name,
                repository_id,
                mode,
                int(old[0] or 0) if old else 0,
                mark,
                snapshot_all=mode != "incremental" or old is None or old[1] != ctx.end_date,
                protections=fp,
                protections_changed=protections,
            )
        )
    return plans


def batches(ctx: Ctx, plans: list[RepoPlan], batch_prs: int) -> list[list[RepoPlan]]:
    """The repositories to analyse, in batches of at most about ``batch_prs`` PRs recomputed
    in full (0: one batch).

    Each batch runs every PR phase on its repositories alone, as ``--repo`` would: a PR's rows
    depend on its own repository's data only, so the rows are those of one batch. What the
    batches bound is the size of each phase's joins and sorts: a warehouse-size full
    recompute (10M PRs) spills them to disk in one batch, where each batch of 1M fits memory.
    Repositories are packed largest first into the lightest batch; the incremental and
    windows-only ones go with the first.
    """
    active = [p for p in plans if p.mode != "skip"]
    full = [p for p in active if p.mode == "full"]
    if batch_prs <= 0 or len(full) < 2:
        return [active] if active else []
    sizes = {
        str(r): int(n)
        for r, n in ctx.store.query(
            "SELECT repository_id, count(*) FROM pull_requests GROUP BY repository_id"
        )
    }
    total = sum(sizes.get(p.repository_id, 0) for p in full)
    if total <= batch_prs:
        return [active]
    count = min(len(full), -(-total // batch_prs))
    bins: list[list[RepoPlan]] = [[] for _ in range(count)]
    loads = [0] * count
    for p in sorted(full, key=lambda p: (-sizes.get(p.repository_id, 0), p.repo_name)):
        lightest = loads.index(min(loads))
        bins[lightest].append(p)
        loads[lightest] += sizes.get(p.repository_id, 0)
    bins[0] += [p for p in active if p.mode != "full"]
    return bins


def clear_repositories(ctx: Ctx, repo_names: list[str]) -> None:
    """``--force-refresh``: delete every analytics row of these repositories (only theirs)."""
    # One statement per table and 1,000 repositories (a statement per repository and table
    # was 5,000 statements, 3.6 CPU s, for 500 repositories).
    with ctx.store.transaction():
        for i in range(0, len(repo_names), 1000):
            names = ", ".join(ctx.lit(n) for n in repo_names[i : i + 1000])
            for table in REPO_TABLES:
                ctx.store.execute(f"DELETE FROM {table} WHERE repo_name IN ({names})")


def build_dirty(ctx: Ctx, plans: list[RepoPlan], changed_aliases: list[str]) -> None:
    """``_fl_repos`` and ``_fl_dirty`` (the PRs to recompute)."""
    active = [p for p in plans if p.mode != "skip"]
    rows = [
        [
            ctx.lit(p.repository_id),
            ctx.lit(p.repo_name),
            ctx.lit(p.mode),
            f"CAST({p.old_watermark} AS BIGINT)",
            ctx.lit(p.snapshot_all),
            ctx.lit(p.protections_changed),
        ]
        for p in active
    ]
    columns = ["repository_id", "repo_name", "mode", "old_wm", "snap_all", "prot_changed"]
    values = (
        _sql.values(ctx.store, columns, rows)
        if rows
        else (
            "SELECT CAST(NULL AS VARCHAR) AS repository_id, CAST(NULL AS VARCHAR) AS repo_name, "
            "CAST(NULL AS VARCHAR) AS mode, CAST(0 AS BIGINT) AS old_wm, FALSE AS snap_all, "
            "FALSE AS prot_changed WHERE 1 = 0"
        )
    )
    ctx.work(REPOS, values)
    # A constant lower bound on the newer rows' _version (the lowest incremental watermark)
    # lets each scan skip the row groups written before it; the per-repository test follows.
    floor = min((p.old_watermark for p in active if p.mode == "incremental"), default=0)
    newer = " UNION ".join(
        f"SELECT x.repository_id, x.pr_number AS number FROM {t} x JOIN {REPOS} r "
        f"ON r.repository_id = x.repository_id WHERE x._version > {floor} "
        f"AND r.mode = 'incremental' AND x._version > r.old_wm"
        + (" AND x.pr_number IS NOT NULL" if t == AI_INPUT else "")
        for t in (*PR_INPUTS, AI_INPUT)
    )
    full_only = f"""
        SELECT p.repository_id, r.repo_name, p.number FROM pull_requests p JOIN {REPOS} r
          ON r.repository_id = p.repository_id
        WHERE r.mode = 'full'"""
    if not any(p.mode == "incremental" for p in active):
        # Every PR of the repositories recomputed, each once (pull_requests' key): none of the
        # unions, DISTINCT and existence check the incremental repositories need.
        ctx.work(DIRTY, full_only)
        return
    aliases = ", ".join(ctx.lit(a) for a in changed_aliases)
    # PRs whose author, merger or a reviewer is an alias whose author changed.
    renamed = (
        f"""
            UNION SELECT p.repository_id, p.number FROM pull_requests p
              JOIN repositories rr ON rr.id = p.repository_id
              JOIN {REPOS} r ON r.repository_id = p.repository_id
            WHERE r.mode = 'incremental' AND ({alias_of("rr.source", "p.author")} IN ({aliases})
              OR {alias_of("rr.source", "p.merged_by")} IN ({aliases}))
            UNION SELECT v.repository_id, v.pr_number FROM pr_reviews v
              JOIN repositories rr ON rr.id = v.repository_id
              JOIN {REPOS} r ON r.repository_id = v.repository_id
            WHERE r.mode = 'incremental' AND {alias_of("rr.source", "v.author")} IN ({aliases})"""
        if aliases
        else ""
    )
    # PRs that close an issue changed since (its labels decide the linked_issue rule).
    linked = f"""
            UNION SELECT f.repository_id, f.pr_number FROM pr_facts f
              JOIN {REPOS} r ON r.repository_id = f.repository_id
              JOIN issues i ON i.repository_id = f.repository_id
               AND CAST(i.number AS VARCHAR) = f.linked_issue
            WHERE i._version > {floor} AND r.mode = 'incremental' AND i._version > r.old_wm"""
    ctx.work(
        DIRTY,
        f"""
        SELECT DISTINCT k.repository_id, r.repo_name, k.number FROM (
            SELECT p.repository_id, p.number FROM pull_requests p JOIN {REPOS} r
              ON r.repository_id = p.repository_id
            WHERE r.mode = 'full'
            UNION SELECT p.repository_id, p.number FROM pull_requests p JOIN {REPOS} r
              ON r.repository_id = p.repository_id
            WHERE p._version > {floor} AND r.mode = 'incremental' AND p._version > r.old_wm
            UNION {newer}{renamed}{linked}
            UNION SELECT p.repository_id, p.number FROM pull_requests p
              JOIN {REPOS} r ON r.repository_id = p.repository_id
              JOIN branch_protections b ON b.repository_id = p.repository_id
            WHERE b._version > {floor} AND r.mode = 'incremental' AND b._version > r.old_wm
              AND p.merged_at IS NOT NULL
            UNION SELECT p.repository_id, p.number FROM pull_requests p
              JOIN {REPOS} r ON r.repository_id = p.repository_id
            WHERE r.mode = 'incremental' AND r.prot_changed AND p.merged_at IS NOT NULL
            UNION SELECT p.repository_id, p.number FROM pull_requests p
              JOIN {REPOS} r ON r.repository_id = p.repository_id
              JOIN ci_runs c ON c.repository_id = p.repository_id AND c.head_branch = p.head_ref
            WHERE c._version > {floor} AND r.mode = 'incremental' AND c._version > r.old_wm
        ) k JOIN {REPOS} r ON r.repository_id = k.repository_id
        JOIN pull_requests pp ON pp.repository_id = k.repository_id AND pp.number = k.number
        """,
    )


def add_history_followers(ctx: Ctx) -> int:
    """Incremental runs: also recompute PRs whose file history a dirty merged PR is part of.

    A PR's risk looks back at merged PRs touching the same files (``prs.build_files``); when
    one of those changes (late data, a backfill), the PRs opened after its merge within the
    history window are recomputed too. Returns how many PRs were added.
    """
    span = ctx.config.history_days * 86_400_000
    m1 = _sql.epoch_ms(ctx.store, "p1.merged_at")
    c2 = _sql.epoch_ms(ctx.store, "p2.created_at")
    before = ctx.count(DIRTY)
    keys = ["repository_id", "number"]
    # Each dirty PR's merge time now and as last analysed (a PR unmerged or merged at another
    # time leaves the history of the PRs that followed its old merge).
    merges = f"""
        SELECT p.repository_id AS repository_id, p.number AS number, p.merged_at AS merged_at
        FROM {DIRTY} d
        JOIN pull_requests p ON p.repository_id = d.repository_id AND p.number = d.number
        UNION SELECT f.repository_id, f.pr_number, f.merged_at FROM {DIRTY} d
        JOIN pr_facts f ON f.repo_name = d.repo_name AND f.pr_number = d.number
    """
    _sql.run(
        ctx.store,
        f"""
        INSERT INTO {DIRTY} (repository_id, repo_name, number)
        SELECT DISTINCT p2.repository_id, r.repo_name, p2.number
        FROM ({merges}) p1
        JOIN {REPOS} r ON r.repository_id = p1.repository_id AND r.mode = 'incremental'
        JOIN pr_files f1 ON f1.repository_id = p1.repository_id AND f1.pr_number = p1.number
        JOIN pr_files f2 ON f2.repository_id = f1.repository_id AND f2.path = f1.path
        JOIN pull_requests p2 ON p2.repository_id = f2.repository_id AND p2.number = f2.pr_number
        WHERE p1.merged_at IS NOT NULL AND {m1} <= {c2} - 1 AND {m1} >= {c2} - 1 - {span}
          AND NOT {_sql.key_in(ctx.store, ["p2.repository_id", "p2.number"], DIRTY, keys)}
        """,
        what="history followers",
    )
    # A dirty PR that may have lost a file since it was analysed (fewer of the rows it had are
    # left than it had: a file dropped, or its files written again) was in the history of the
    # PRs opened after its merge whichever file they touch: the paths it lost are not known.
    left = f"""
        SELECT x.repository_id AS repository_id, x.pr_number AS pr_number, count(*) AS n
        FROM pr_files x
        JOIN {DIRTY} d ON d.repository_id = x.repository_id AND d.number = x.pr_number
        JOIN {REPOS} r ON r.repository_id = x.repository_id
        WHERE x._version <= r.old_wm GROUP BY x.repository_id, x.pr_number
    """
    m1 = _sql.epoch_ms(ctx.store, "f.merged_at")
    _sql.run(
        ctx.store,
        f"""
        INSERT INTO {DIRTY} (repository_id, repo_name, number)
        SELECT DISTINCT p2.repository_id, r.repo_name, p2.number
        FROM {DIRTY} d
        JOIN {REPOS} r ON r.repository_id = d.repository_id AND r.mode = 'incremental'
        JOIN pr_facts f ON f.repo_name = d.repo_name AND f.pr_number = d.number
        LEFT JOIN ({left}) l ON l.repository_id = f.repository_id AND l.pr_number = f.pr_number
        JOIN pull_requests p2 ON p2.repository_id = f.repository_id
        WHERE f.merged_at IS NOT NULL AND COALESCE(f.n_files, 0) > COALESCE(l.n, 0)
          AND {m1} <= {c2} - 1 AND {m1} >= {c2} - 1 - {span}
          AND NOT {_sql.key_in(ctx.store, ["p2.repository_id", "p2.number"], DIRTY, keys)}
        """,
        what="history followers of dropped files",
    )
    return ctx.count(DIRTY) - before


def build_dirty_periods(ctx: Ctx) -> None:
    """``_fl_dirty_days`` / ``_fl_dirty_weeks``: old (``pr_facts``) and new days of dirty PRs.

    Run after ``_fl_pr`` is built and before ``pr_facts`` is overwritten.
    """
    old = (
        f"SELECT f.repo_name, f.created_at, f.merged_at FROM pr_facts f JOIN {DIRTY} d "
        "ON d.repo_name = f.repo_name AND d.number = f.pr_number"
    )
    new = f"SELECT repo_name, created_at, merged_at FROM {PR}"
    both = f"({old} UNION ALL {new}) q"
    ctx.work(
        DIRTY_DAYS,
        f"SELECT DISTINCT repo_name, {_sql.utc_day('created_at', ctx.store)} AS day FROM {both} "
        f"UNION SELECT DISTINCT repo_name, {_sql.utc_day('merged_at', ctx.store)} FROM {both} "
        "WHERE merged_at IS NOT NULL",
    )
    build_snapshot_scope(ctx)
    ctx.work(
        DIRTY_WEEKS,
        f"SELECT DISTINCT repo_name, {_sql.utc_week('created_at', ctx.store)} AS week_start "
        f"FROM {both} "
        f"UNION SELECT DISTINCT repo_name, {_sql.utc_week('merged_at', ctx.store)} FROM {both} "
        "WHERE merged_at IS NOT NULL",
    )


def build_snapshot_scope(ctx: Ctx) -> None:
    """The window snapshots to rebuild, at every end date of each repository
    (``analytics_snapshots``, plus this run's): ``_fl_snap_dates``, ``_fl_snap_windows``,
    ``_fl_snap_authors`` and ``_fl_snap_files``.

    A snapshot is rebuilt whole at this run's end date when it is new (or the repository is
    recomputed in full), and at every end date of a repository recomputed in full. Otherwise, at
    each end date whose longest window holds a day (opened or merged, before or after the
    change) of a recomputed PR, the rows of that PR's authors (old and new) are rebuilt, and the
    ownership rows of its files: the files it has, and, when it may have lost a file, those its
    old author has rows of (the dropped file is among them).
    """
    end = ctx.lit(ctx.end_date)
    span = max(ctx.config.windows) - 1
    ctx.work(
        SNAP_DATES,
        f"""
        SELECT repo_name, end_date, whole, end_date - {span} AS first_day FROM (
            SELECT r.repo_name AS repo_name, s.end_date AS end_date, r.mode = 'full' AS whole
            FROM {REPOS} r JOIN analytics_snapshots s ON s.repo_name = r.repo_name
            WHERE s.end_date <> {end}
            UNION ALL
            SELECT r.repo_name, {end}, r.mode = 'full' OR r.snap_all FROM {REPOS} r
        ) q
        """,
    )
    windows = " UNION ALL ".join(f"SELECT {int(w)} AS window_days" for w in ctx.config.windows)
    ctx.work(
        SNAP_WINDOWS,
        f"SELECT DISTINCT s.end_date, w.window_days, s.end_date - (w.window_days - 1) AS start_day "
        f"FROM {SNAP_DATES} s CROSS JOIN ({windows}) w",
    )
    # The recomputed PRs' authors and days, before (pr_facts) and after (_fl_pr) the change.
    days = (
        "SELECT f.repo_name AS repo_name, f.username AS username, f.created_day AS created_day, "
        f"f.merged_day AS merged_day FROM pr_facts f "
        f"JOIN {DIRTY} d ON d.repo_name = f.repo_name AND d.number = f.pr_number "
        f"UNION ALL SELECT repo_name, username, created_day, merged_day FROM {PR}"
    )

    def held(day: str) -> str:
        return f"({day} >= s.first_day AND {day} <= s.end_date)"

    ctx.work(
        SNAP_AUTHORS,
        f"SELECT repo_name, end_date, CAST(NULL AS VARCHAR) AS username FROM {SNAP_DATES} "
        f"WHERE whole UNION SELECT s.repo_name, s.end_date, x.username FROM {SNAP_DATES} s "
        f"JOIN ({days}) x ON x.repo_name = s.repo_name "
        f"WHERE NOT s.whole AND ({held('x.created_day')} OR {held('x.merged_day')})",
    )
    # A dirty PR may have lost a file since it was analysed only when fewer of the file rows
    # it had are left unchanged than it had (``n_files``: a file dropped, or its files written
    # again): only then are the rows of every file its old author has rebuilt (the lost file,
    # not known, among them); otherwise the files it has are those it had, and theirs are
    # rebuilt below, at its old merge day and its new one. Late data that changes a PR but
    # not its files (a merge time, a title) thus rebuilds its files' rows, not all of its
    # author's.
    kept = (
        "SELECT x.repository_id AS repository_id, x.pr_number AS pr_number, count(*) AS n "
        f"FROM pr_files x JOIN {DIRTY} d "
        "ON d.repository_id = x.repository_id AND d.number = x.pr_number "
        f"JOIN {REPOS} r ON r.repository_id = x.repository_id "
        "WHERE x._version <= r.old_wm GROUP BY x.repository_id, x.pr_number"
    )
    old_merged = (
        "SELECT DISTINCT f.repo_name AS repo_name, f.username AS username, "
        f"f.merged_day AS merged_day FROM pr_facts f "
        f"JOIN {DIRTY} d ON d.repo_name = f.repo_name AND d.number = f.pr_number "
        f"LEFT JOIN ({kept}) l ON l.repository_id = f.repository_id "
        "AND l.pr_number = f.pr_number "
        "WHERE f.is_merged AND (f.n_files IS NULL OR f.n_files > COALESCE(l.n, 0))"
    )
    ctx.work(
        SNAP_FILES,
        f"SELECT repo_name, end_date, CAST(NULL AS VARCHAR) AS path FROM {SNAP_DATES} "
        f"WHERE whole UNION SELECT s.repo_name, s.end_date, pf.path FROM {SNAP_DATES} s "
        f"JOIN {PR} b ON b.repo_name = s.repo_name "
        "JOIN pr_files pf ON pf.repository_id = b.repository_id AND pf.pr_number = b.pr_number "
        f"WHERE NOT s.whole AND {held('b.merged_day')} "
        # the files it has, where it was merged as last analysed (a PR deleted since has no
        # row in _fl_pr)
        f"UNION SELECT s.repo_name, s.end_date, pf.path FROM {SNAP_DATES} s "
        "JOIN pr_facts f ON f.repo_name = s.repo_name "
        f"JOIN {DIRTY} d ON d.repo_name = f.repo_name AND d.number = f.pr_number "
        "JOIN pr_files pf ON pf.repository_id = f.repository_id AND pf.pr_number = f.pr_number "
        f"WHERE NOT s.whole AND f.is_merged AND {held('f.merged_day')} "
        f"UNION SELECT s.repo_name, s.end_date, o.file_path FROM {SNAP_DATES} s "
        f"JOIN ({old_merged}) x ON x.repo_name = s.repo_name "
        "JOIN author_file_ownership o ON o.repo_name = s.repo_name "
        "AND o.end_date = s.end_date AND o.username = x.username "
        f"WHERE NOT s.whole AND {held('x.merged_day')}",
    )


def in_dirty_period(ctx: Ctx, repo: str, period: str, periods: str, column: str) -> str:
    """(``repo``, ``period``) is a dirty day or week (``periods``: ``_fl_dirty_days`` or
    ``_fl_dirty_weeks``, ``column`` its period). Every day and week of a repository
    recomputed in full is dirty: that test is a set of repositories, not of their periods."""
    full = f"{repo} IN (SELECT repo_name FROM {REPOS} WHERE mode = 'full')"
    if not ctx.store.query(f"SELECT 1 FROM {REPOS} WHERE mode <> 'full' LIMIT 1"):
        return full
    match = _sql.key_in(ctx.store, [repo, period], periods, ["repo_name", column])
    return f"({full} OR {match})"


def save_state(ctx: Ctx, plans: list[RepoPlan], target: str, teams: str | None = None) -> None:
    """The watermarks, snapshot end dates and fingerprints of a finished run (``teams``: the
    team membership the delivery rows were computed with)."""
    cfg_hash = ctx.settings_hash()
    if target != "what_shipped":  # the targets that make window snapshots
        dates = [
            {"repo_name": p.repo_name, "end_date": ctx.end_date} for p in plans if p.mode != "skip"
        ]
        if dates:
            ctx.store.upsert("analytics_snapshots", dates, version=ctx.version)
    rows = [
        {
            "repo_name": p.repo_name,
            "target": target,
            "repository_id": p.repository_id,
            "watermark": p.watermark,
            "end_date": ctx.end_date,
            "config_hash": cfg_hash,
            "analyzed_at": ctx.now,
        }
        for p in plans
        if p.mode != "skip"
    ]
    if rows:
        ctx.store.upsert("analytics_state", rows, version=ctx.version)
    prints = _cursor(ctx, "analytics_protections", target) or {}
    prints.update({p.repository_id: p.protections for p in plans})
    ctx.store.set_cursor("*", f"analytics_protections:{target}", json.dumps(prints), None)
    if teams is not None:
        ctx.store.set_cursor("*", f"analytics_teams:{target}", json.dumps({"*": teams}), None)


def teams_print(ctx: Ctx) -> str:
    """``team_members``' fingerprint (see ``fingerprints``)."""
    n, v = ctx.store.query("SELECT count(*), max(_version) FROM team_members")[0]
    return f"{n}:{v or 0}"


def teams_changed(ctx: Ctx, target: str, plans: list[RepoPlan], identities_changed: bool) -> bool:
    """Whether every team row of ``delivery_metrics_weekly`` is recomputed: team membership
    changed since the last run (rows added, changed or deleted), an identity changed, or a
    repository is recomputed in full (its old weeks are no longer known)."""
    changed = (_cursor(ctx, "analytics_teams", target) or {}).get("*") != teams_print(ctx)
    return changed or identities_changed or any(p.mode == "full" for p in plans)
