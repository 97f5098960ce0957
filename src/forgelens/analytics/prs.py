"""Per-PR facts for the PRs a run (re)computes: base facts, reviews, files and their history.

Everything here is set-based over every dirty PR of every selected repository at once. The
results are scratch tables (names in ``_ctx``) that the risk, feature and metric phases read.
"""

from __future__ import annotations

from forgelens.analytics._ctx import DIRTY, FILES, PATHS, PR, REV, Ctx
from forgelens.analytics.identity import GHOST
from forgelens.store import sql as _sql

REVIEW_STATES = "('APPROVED', 'CHANGES_REQUESTED', 'COMMENTED', 'DISMISSED')"


def alias_of(source_col: str, login_col: str) -> str:
    """The identity-map alias of a forge login (see ``identity.login_alias``)."""
    return f"('login:' || lower({source_col}) || ':' || lower(trim({login_col})))"


def build_pr_base(ctx: Ctx) -> None:
    """``_fl_pr``: one row per dirty PR with author identity, days, size and commit facts."""
    store = ctx.store
    pr_id = _sql.stable_bigint(
        store, "p.forge_id", "p.repository_id || '#' || CAST(p.number AS VARCHAR)"
    )
    counted = "m.username IS NOT NULL" + ("" if ctx.config.include_bots else " AND NOT m.is_bot")
    # an agent's PR counts for the human behind it (ai_attribution.owner)
    counted = f"ap.owner IS NOT NULL OR ({counted})"
    # The files' sums stand in for a size the PR lacks: read the files of those PRs only
    # (a key lookup on ClickHouse, where pr_files is ordered by these keys).
    unsized_prs = (
        f"(SELECT d3.repository_id, d3.number FROM {DIRTY} d3 JOIN pull_requests p3"
        " ON p3.repository_id = d3.repository_id AND p3.number = d3.number"
        " WHERE p3.additions IS NULL OR p3.deletions IS NULL OR p3.changed_files IS NULL)"
    )
    unsized = _sql.key_in(
        store, ["f.repository_id", "f.pr_number"], unsized_prs, ["repository_id", "number"]
    )
    ctx.work(
        PR,
        f"""
        SELECT row_number() OVER () AS pk, d.repo_name, p.repository_id,
            lower(r.source) AS source, p.number AS pr_number, {pr_id} AS pr_id,
            COALESCE(ap.owner, m.username, '{GHOST}') AS username,
            ({counted}) AS counted,
            (ap.repository_id IS NOT NULL) AS ai_agent,
            COALESCE(p.author, '{GHOST}') AS raw_author,
            p.title, p.body, p.labels, p.head_ref, p.base_ref, p.created_at, p.merged_at,
            (p.merged_at IS NOT NULL) AS is_merged,
            {_sql.utc_day("p.created_at", store)} AS created_day,
            {_sql.utc_day("p.merged_at", store)} AS merged_day,
            {_sql.utc_week("p.created_at", store)} AS created_week,
            {_sql.utc_week("p.merged_at", store)} AS merged_week,
            COALESCE(p.additions, fs.additions, 0) AS additions,
            COALESCE(p.deletions, fs.deletions, 0) AS deletions,
            COALESCE(p.changed_files, fs.files, 0) AS changed_files,
            mb.username AS merged_by_username,
            pc.first_commit_at, COALESCE(nf.files, 0) AS n_files
        FROM {DIRTY} d
        JOIN pull_requests p ON p.repository_id = d.repository_id AND p.number = d.number
        JOIN repositories r ON r.id = p.repository_id
        LEFT JOIN analytics_identity_map m ON m.alias = {alias_of("r.source", "p.author")}
        LEFT JOIN analytics_identity_map mb ON mb.alias = {alias_of("r.source", "p.merged_by")}
        LEFT JOIN ai_attribution ap ON ap.repository_id = p.repository_id AND ap.kind = 'pr'
            AND ap.pr_number = p.number AND ap.mode = 'autonomous_agent'
        LEFT JOIN (
            SELECT c.repository_id, c.pr_number, min(c.authored_at) AS first_commit_at
            FROM pr_commits c JOIN {DIRTY} d2
              ON d2.repository_id = c.repository_id AND d2.number = c.pr_number
            GROUP BY c.repository_id, c.pr_number
        ) pc ON pc.repository_id = p.repository_id AND pc.pr_number = p.number
        LEFT JOIN (
            SELECT f.repository_id, f.pr_number, CAST(count(*) AS BIGINT) AS files
            FROM pr_files f JOIN {DIRTY} d2
              ON d2.repository_id = f.repository_id AND d2.number = f.pr_number
            GROUP BY f.repository_id, f.pr_number
        ) nf ON nf.repository_id = p.repository_id AND nf.pr_number = p.number
        LEFT JOIN (
            SELECT f.repository_id, f.pr_number, sum(f.additions) AS additions,
                sum(f.deletions) AS deletions, CAST(count(*) AS BIGINT) AS files
            FROM pr_files f
            WHERE {unsized}
            GROUP BY f.repository_id, f.pr_number
        ) fs ON fs.repository_id = p.repository_id AND fs.pr_number = p.number
        WHERE p.deleted_at IS NULL
        """,
    )


def build_reviews(ctx: Ctx) -> None:
    """``_fl_rev``: review facts per dirty PR (reviews by others, up to the merge).

    A review by an AI reviewer (``ai_attribution``) is no review; on an agent PR, the human
    behind it (its ``owner``) is its author: their approval is a self-approval."""
    rm_user = "rm.username"
    is_self = (
        f"({rm_user} IS NOT NULL AND ({rm_user} = b.username"
        f" OR (ap.owner IS NOT NULL AND {rm_user} = ap.owner)))"
    )
    counted = (
        f"upper(v.state) IN {REVIEW_STATES} AND v.submitted_at IS NOT NULL "
        "AND (b.merged_at IS NULL OR v.submitted_at <= b.merged_at) AND ar.key IS NULL"
    )
    other = f"NOT {is_self} AND {counted}"
    approved_self = _sql.bool_or(
        ctx.store, f"{is_self} AND {counted} AND upper(v.state) = 'APPROVED'"
    )
    ctx.work(
        REV,
        f"""
        SELECT b.pk,
            min(v.submitted_at) FILTER (WHERE {other}) AS first_review_at,
            max(v.submitted_at) FILTER (WHERE {other}) AS last_review_at,
            count(*) FILTER (WHERE {other}) AS reviews,
            count(*) FILTER (WHERE {other} AND upper(v.state) = 'CHANGES_REQUESTED')
                AS changes_requested,
            count(DISTINCT COALESCE({rm_user}, '#' || v.review_id))
                FILTER (WHERE {other} AND upper(v.state) = 'APPROVED') AS approvals,
            COALESCE({approved_self}, FALSE)
                AS self_approved
        FROM {PR} b
        JOIN pr_reviews v ON v.repository_id = b.repository_id AND v.pr_number = b.pr_number
        LEFT JOIN analytics_identity_map rm ON rm.alias = {alias_of("b.source", "v.author")}
        LEFT JOIN ai_attribution ar ON ar.repository_id = v.repository_id
            AND ar.kind = 'review'
            AND ar.key = CAST(v.pr_number AS VARCHAR) || ':' || v.review_id
        LEFT JOIN ai_attribution ap ON ap.repository_id = b.repository_id AND ap.kind = 'pr'
            AND ap.pr_number = b.pr_number AND ap.mode = 'autonomous_agent'
        GROUP BY b.pk
        """,
    )


def build_paths(ctx: Ctx) -> None:
    """``_fl_paths``: each path the dirty PRs touch, classified (sensitive, test, doc, area).

    ``pid`` numbers the paths in their sort order: the later tables carry it instead of the
    text (narrower rows to sort), and it orders them as the text would; ``path_json`` is the
    path as a JSON string (escaped once per path, not per file).
    """
    cfg = ctx.config
    store = ctx.store
    cases = " ".join(
        f"WHEN {_sql.regex_match(store, 'lower(path)', _sql.glob_regex(g).lower())} "
        f"THEN {ctx.lit(cat)}"
        for cat, g in cfg.sensitive_globs.items()
        if g
    )
    test = _sql.regex_match(store, "lower(path)", _sql.glob_regex(cfg.test_globs).lower())
    # Test files are never sensitive (tests/test_login.py is not auth code).
    sensitive = f"CASE WHEN {test} THEN NULL {cases} ELSE NULL END"
    doc = _sql.regex_match(store, "lower(path)", _sql.glob_regex(cfg.doc_globs).lower())
    area = _sql.regex_group(store, "path", "^([^/]+(/[^/]+)?)/")
    ctx.work(
        PATHS,
        f"""
        SELECT CAST(row_number() OVER (ORDER BY path) AS BIGINT) AS pid, path,
            {_sql.json_str("path", store)} AS path_json, {sensitive} AS sensitive,
            {test} AS is_test, {doc} AS is_doc, {area} AS area
        FROM (SELECT DISTINCT f.path FROM pr_files f JOIN {DIRTY} d
              ON d.repository_id = f.repository_id AND d.number = f.pr_number) q
        """,
    )


def build_files(ctx: Ctx) -> None:
    """``_fl_files``: each dirty PR's files with the file's history before the PR was opened.

    History = merged PRs touching the same path in the same repository, merged in the
    ``history_days`` before the PR was opened: lines they changed (all authors, and this
    PR's author) and how many there were. A file is its ``pid`` in ``_fl_paths``.
    """
    store = ctx.store
    span = ctx.config.history_days * 86_400_000
    frame = _sql.range_frame(store, "t", span)
    ms_merged = _sql.epoch_ms(store, "p.merged_at")
    ms_pr = _sql.epoch_ms(store, "created_at")
    fk_f = _sql.hash64(store, "f.repository_id", "f.path")
    # The windows sort every history event and dirty file twice (by file, and by file and
    # author): those rows are integers only (hash keys, the dirty file's PR and path numbers
    # and its lines ride along), and each merged PR's author is resolved once. Events are kept
    # by the dirty files' distinct keys: a semi join built on every dirty file (5M at 1M PRs)
    # took 6 of the statement's 16 single-thread CPU seconds, on the 0.5M distinct keys 0.9.
    dfiles_cte = _sql.materialized(
        store,
        "dfiles",
        f"""
            SELECT {fk_f} AS fk, {_sql.hash64(store, "b.username")} AS uk,
                {_sql.epoch_ms(store, "b.created_at")} - 1 AS t, b.pk, ps.pid,
                COALESCE(f.additions, 0) + COALESCE(f.deletions, 0) AS lines
            FROM {PR} b JOIN pr_files f
              ON f.repository_id = b.repository_id AND f.pr_number = b.pr_number
            JOIN {PATHS} ps ON ps.path = f.path
        """,
    )
    dfiles = _sql.materialized_name(store, "dfiles")
    ctx.work(
        FILES,
        f"""
        WITH {dfiles_cte}
        merged AS (
            SELECT p.repository_id, p.number, COALESCE(m.username, '{GHOST}') AS username,
                {ms_merged} AS t
            FROM pull_requests p
            JOIN repositories r ON r.id = p.repository_id
            LEFT JOIN analytics_identity_map m ON m.alias = {alias_of("r.source", "p.author")}
            WHERE p.merged_at IS NOT NULL AND p.deleted_at IS NULL
              AND {ms_merged} BETWEEN (SELECT min({ms_pr}) FROM {PR}) - 1 - {span}
                                  AND (SELECT max({ms_pr}) FROM {PR}) - 1
        ),
        events AS (
            SELECT {fk_f} AS fk, {_sql.hash64(store, "p.username")} AS uk,
                COALESCE(f.additions, 0) + COALESCE(f.deletions, 0) AS ev_lines, p.t
            FROM pr_files f
            JOIN merged p ON p.repository_id = f.repository_id AND p.number = f.pr_number
        ),
        u AS (
            SELECT fk, uk, t, ev_lines, 1 AS is_event, 0 AS pk, 0 AS pid, 0 AS lines
            FROM events WHERE fk IN (SELECT DISTINCT fk FROM {dfiles})
            UNION ALL
            SELECT fk, uk, t, 0, 0, pk, pid, lines FROM {dfiles}
        ),
        w AS (
            SELECT pk, pid, lines, is_event,
                sum(ev_lines) OVER (PARTITION BY fk {frame}) AS total_prior,
                sum(is_event) OVER (PARTITION BY fk {frame}) AS changes_prior,
                sum(ev_lines) OVER (PARTITION BY fk, uk {frame}) AS own_prior
            FROM u
        )
        SELECT pk, pid, lines, total_prior, changes_prior, own_prior FROM w WHERE is_event = 0
        """,
    )
    if dfiles != "dfiles":
        _sql.drop_work_table(store, dfiles)
