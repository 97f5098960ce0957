"""The risk model: a transparent sum of named, weighted factors, each in [0, 1].

=================  ==============================================================================
factor             value (contribution = weight x value)
=================  ==============================================================================
size_lines         min(1, (additions + deletions) / size_lines_cap)
size_files         min(1, changed_files / size_files_cap)
sensitive_paths    1 if any file matches a sensitive glob (migrations, auth, security, ci,
                   infrastructure, lockfiles)
few_tests          1 if code lines >= few_tests_min_code_lines and test lines < few_tests_ratio x
                   code lines (code = neither test nor doc files)
no_approval        1 if no approving review by someone else (up to the merge); 0.5 if approved but
                   merged by its own author
low_ownership      share of the files with history whose author changed < low_ownership_share of
                   their lines in the history window
hotspot            share of files changed by >= hotspot_changes merged PRs in the history window
large_revert       1 if the title starts with "revert" and the PR changes >= large_revert_lines
=================  ==============================================================================

``risk_score = min(1, sum of contributions)`` rounded to 6 decimals; ``high_risk`` when
``risk_score >= high_risk_threshold``. ``risk_reasons`` lists every factor with a non-zero
contribution; ``top_risky_files`` the files with the highest per-file score (weighted sensitive,
low ownership, hotspot and size, normalised to [0, 1]).
"""

from __future__ import annotations

from forgelens.analytics._ctx import FILES, PATHS, PR, PRFILE, REV, RISK, Ctx
from forgelens.analytics.features import feature_arm, feature_columns, linked_issue_number
from forgelens.analytics.summaries import content_hash, extractive_summary
from forgelens.store import sql as _sql

F8 = "DOUBLE PRECISION"


def build_file_aggregates(ctx: Ctx) -> None:
    """``_fl_prfile``: per dirty PR, counts over its files and its top risky files."""
    cfg = ctx.config
    w = cfg.risk_weights
    wsum = w["sensitive_paths"] + w["low_ownership"] + w["hotspot"] + w["size_lines"]
    wsum = wsum or 1.0
    store = ctx.store
    weighted = (
        f"({w['sensitive_paths']} * s_f + {w['low_ownership']} * o_f + "
        f"{w['hotspot']} * h_f + {w['size_lines']} * l_f) / {wsum}"
    )
    score = f"CAST({_sql.round_to(weighted, 3, store)} AS {F8})"
    cats = sorted(c for c, g in cfg.sensitive_globs.items() if g)
    # A file's sensitive reason as JSON text, the category's name escaped.
    sens_json = {c: ctx.lit('"sensitive:' + _sql.json_escaped(c) + '"') for c in cats}
    whens = " ".join(f"WHEN sensitive = {ctx.lit(c)} THEN {j}" for c, j in sens_json.items())
    sens_reason = f"CASE {whens} END" if cats else "NULL"
    reasons = _sql.concat_ws(
        store,
        ",",
        [
            f"CASE WHEN s_f = 1 THEN {sens_reason} END",
            "CASE WHEN o_f = 1 THEN '\"low_ownership\"' END",
            "CASE WHEN h_f = 1 THEN '\"hotspot\"' END",
        ],
    )
    file_json = (
        "'{\"path\":' || path_json || ',\"score\":' || "
        f"{_sql.json_num('score', store)} || ',\"lines\":' || CAST(lines AS VARCHAR) || "
        f"',\"reasons\":[' || {reasons} || ']}}'"
    )
    # JSON-escaped: the list is only shown as a reason's detail (``build_risk``).
    cat_items = [
        f"CASE WHEN count(*) FILTER (WHERE sensitive = {ctx.lit(c)}) > 0 "
        f"THEN {ctx.lit(_sql.json_escaped(c))} END"
        for c in cats
    ]
    sens_cats = f"NULLIF({_sql.concat_ws(store, ',', cat_items or ['NULL'])}, '')"
    rank, top = _sql.first_items(
        store, "pk", file_json, ["-score", "pid"], int(cfg.top_risky_files), ",", "score > 0"
    )
    arank, areas = _sql.first_items(store, "pk", "area", ["-area_lines", "aid"], 3, ", ", "TRUE")
    # The windows number narrow rows (integers and the score): a file's path texts and classes
    # join after the numbering (``_fl_paths`` is small), and areas are numbered by name
    # (``aid``: ordering by it orders by the name), the name joined to the three kept. At 1M
    # PRs (5M files) that took 2 of 18 single-thread CPU seconds off this statement.
    ctx.work(
        PRFILE,
        f"""
        WITH f AS (
            SELECT x.pk, x.pid, x.lines, x.total_prior, ps.s_f,
                CASE WHEN x.total_prior > 0
                    AND x.own_prior < {cfg.low_ownership_share} * x.total_prior
                    THEN 1 ELSE 0 END AS o_f,
                CASE WHEN x.changes_prior >= {cfg.hotspot_changes} THEN 1 ELSE 0 END AS h_f,
                LEAST(1.0, CAST(x.lines AS {F8}) / {max(cfg.size_lines_cap, 1)}) AS l_f
            FROM {FILES} x
            JOIN (
                SELECT pid, CASE WHEN sensitive IS NOT NULL THEN 1 ELSE 0 END AS s_f
                FROM {PATHS}
            ) ps ON ps.pid = x.pid
        ),
        s AS (SELECT f.*, {score} AS score FROM f),
        numbered AS (SELECT s.*{", " + rank if rank else ""} FROM s),
        ranked AS (
            SELECT n.*, ps.path_json, ps.sensitive, ps.is_test, ps.is_doc
            FROM numbered n JOIN {PATHS} ps ON ps.pid = n.pid
        ),
        agg AS (
            SELECT pk, count(*) AS n_files,
                count(*) FILTER (WHERE total_prior > 0) AS hist_files,
                sum(o_f) AS low_files, sum(h_f) AS hot_files, sum(s_f) AS sens_files,
                COALESCE(sum(lines) FILTER (WHERE is_test), 0) AS test_lines,
                COALESCE(sum(lines) FILTER (WHERE NOT is_test AND NOT is_doc), 0) AS code_lines,
                {sens_cats} AS sens_cats, '[' || {top} || ']' AS top_files
            FROM ranked GROUP BY pk
        ),
        aids AS (
            SELECT area, CAST(row_number() OVER (ORDER BY area) AS BIGINT) AS aid
            FROM (SELECT DISTINCT area FROM {PATHS} WHERE area IS NOT NULL) d
        ),
        area_lines AS (
            SELECT x.pk, a.aid, sum(x.lines) AS area_lines
            FROM {FILES} x JOIN {PATHS} ps ON ps.pid = x.pid JOIN aids a ON a.area = ps.area
            GROUP BY x.pk, a.aid
        ),
        area_numbered AS (SELECT l.*{", " + arank if arank else ""} FROM area_lines l),
        area_named AS (
            SELECT l.*, a.area FROM area_numbered l JOIN aids a ON a.aid = l.aid
            {"WHERE _fl_rn <= 3" if arank else ""}
        ),
        areas AS (SELECT pk, NULLIF({areas}, '') AS areas FROM area_named GROUP BY pk)
        SELECT agg.*, areas.areas
        FROM agg LEFT JOIN areas ON areas.pk = agg.pk
        """,
    )


SCORE_DIGITS = 6  # decimals a risk score is stored with

FACTORS = (
    "size_lines",
    "size_files",
    "sensitive_paths",
    "few_tests",
    "no_approval",
    "low_ownership",
    "hotspot",
    "large_revert",
)


def build_risk(ctx: Ctx) -> None:
    """``_fl_risk``: risk, features, summary and content hash of every dirty PR."""
    cfg = ctx.config
    store = ctx.store
    w = cfg.risk_weights
    lines = "(b.additions + b.deletions)"
    values = {
        "size_lines": f"LEAST(1.0, CAST({lines} AS {F8}) / {max(cfg.size_lines_cap, 1)})",
        "size_files": f"LEAST(1.0, CAST(b.changed_files AS {F8}) / {max(cfg.size_files_cap, 1)})",
        "sensitive_paths": "CASE WHEN COALESCE(pf.sens_files, 0) > 0 THEN 1.0 ELSE 0.0 END",
        "few_tests": (
            f"CASE WHEN COALESCE(pf.code_lines, 0) >= {cfg.few_tests_min_code_lines} AND "
            f"COALESCE(pf.test_lines, 0) < {cfg.few_tests_ratio} * pf.code_lines "
            "THEN 1.0 ELSE 0.0 END"
        ),
        "no_approval": (
            "CASE WHEN COALESCE(rv.approvals, 0) = 0 THEN 1.0 "
            "WHEN b.is_merged AND b.merged_by_username = b.username THEN 0.5 ELSE 0.0 END"
        ),
        "low_ownership": (
            "CASE WHEN COALESCE(pf.hist_files, 0) > 0 "
            f"THEN CAST(pf.low_files AS {F8}) / pf.hist_files ELSE 0.0 END"
        ),
        "hotspot": (
            "CASE WHEN COALESCE(pf.n_files, 0) > 0 "
            f"THEN CAST(pf.hot_files AS {F8}) / pf.n_files ELSE 0.0 END"
        ),
        "large_revert": (
            f"CASE WHEN lower(b.title) LIKE 'revert%' AND {lines} >= {cfg.large_revert_lines} "
            "THEN 1.0 ELSE 0.0 END"
        ),
    }
    # A reason's JSON is built only where its factor applies, from the raw numbers ``x`` carries
    # (``r_*``). Its detail is text made here (numbers, fixed words and the JSON-escaped
    # category names of ``sens_cats``), so it needs no escaping; a factor whose value is 0 or 1
    # contributes its weight, a constant.
    raw = {
        "n_lines": lines,
        "changed_files": "b.changed_files",
        "approvals": "rv.approvals",
        **{c: f"pf.{c}" for c in ("sens_cats", "test_lines", "code_lines", "low_files")},
        **{c: f"pf.{c}" for c in ("hist_files", "hot_files", "n_files")},
    }
    raw_cols = ", ".join(f"{expr} AS r_{name}" for name, expr in raw.items())
    details = {
        "size_lines": "CAST(r_n_lines AS VARCHAR) || ' lines changed'",
        "size_files": "CAST(r_changed_files AS VARCHAR) || ' files changed'",
        "sensitive_paths": "COALESCE(r_sens_cats, '')",
        "few_tests": (
            "CAST(COALESCE(r_test_lines, 0) AS VARCHAR) || ' test lines for ' || "
            "CAST(COALESCE(r_code_lines, 0) AS VARCHAR) || ' code lines'"
        ),
        "no_approval": (
            "CASE WHEN COALESCE(r_approvals, 0) = 0 THEN 'no approving review' "
            "ELSE 'merged by its author' END"
        ),
        "low_ownership": (
            "CAST(COALESCE(r_low_files, 0) AS VARCHAR) || ' of ' || "
            "CAST(COALESCE(r_hist_files, 0) AS VARCHAR) || ' files mostly changed by others'"
        ),
        "hotspot": (
            "CAST(COALESCE(r_hot_files, 0) AS VARCHAR) || ' of ' || "
            "CAST(COALESCE(r_n_files, 0) AS VARCHAR) || ' files are churn hot spots'"
        ),
        "large_revert": "'revert of ' || CAST(r_n_lines AS VARCHAR) || ' lines'",
    }
    binary = ("sensitive_paths", "few_tests", "large_revert")
    contrib = ", ".join(f"{w[k]} * ({values[k]}) AS c_{k}" for k in FACTORS)
    total = " + ".join(f"c_{k}" for k in FACTORS)
    reasons = [
        f'CASE WHEN c_{k} > 0 THEN \'{{"factor":"{k}","contribution":\' || '
        f"{_sql.json_num(f'{w[k]} * (1.0)' if k in binary else f'c_{k}', store)} || "
        f"',\"detail\":\"' || {details[k]} || '\"}}' END"
        for k in FACTORS
    ]
    issue = linked_issue_number(store, "b.body")
    arm = feature_arm(store, "b.labels", "b.title", "b.head_ref", "iss.labels")
    summary = extractive_summary(store, "b.title", "b.body", "pf.areas")
    chash = content_hash(
        store, "b.title", "b.body", "b.additions", "b.deletions", "b.changed_files"
    )
    ctx.work(
        RISK,
        f"""
        WITH x AS (
            SELECT b.pk AS pk, pf.top_files, {contrib}, {raw_cols},
                {arm} AS feature_arm, {summary} AS pr_summary, {chash} AS content_hash,
                {issue} AS linked_issue,
                COALESCE(pf.hist_files, 0) > 0 AND COALESCE(pf.low_files, 0) > 0 AS low_own
            FROM {PR} b
            LEFT JOIN {PRFILE} pf ON pf.pk = b.pk
            LEFT JOIN {REV} rv ON rv.pk = b.pk
            LEFT JOIN issues iss ON iss.repository_id = b.repository_id
              AND CAST(iss.number AS VARCHAR) = {issue} AND iss.deleted_at IS NULL
        ),
        y AS (
            SELECT x.*, CAST({_sql.round_to(f"LEAST(1.0, {total})", SCORE_DIGITS, store)} AS {F8})
                AS risk_score,
                {feature_columns("feature_arm")}
            FROM x
        )
        SELECT pk, risk_score,
            risk_score >= {cfg.high_risk_threshold} AS high_risk,
            '[' || {_sql.concat_ws(store, ",", reasons)} || ']' AS risk_reasons,
            COALESCE(top_files, '[]') AS top_risky_files,
            feature_rule, feature_confidence,
            feature_confidence >= {cfg.feature_threshold} AS is_feature,
            pr_summary, content_hash, low_own, linked_issue
        FROM y
        """,
    )
