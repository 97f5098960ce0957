"""AI attribution speed (issue #19), one run:

    nice -n 10 .venv/bin/python benchmarks/ai_attribution.py                 # the goals' sizes
    nice -n 10 .venv/bin/python benchmarks/ai_attribution.py --commits 20000 --prs 4000 \\
        --mine-commits 5000                                                  # while developing

(a) git mining with trailer parsing against the same mining without it, on the synthetic
    100,000-commit repository (benchmarks/synthetic_repo.py) of which 20 % of the messages end
    in a trailer block: ``sources.git.mine`` consumed whole, jobs 1, rounds alternated, the
    median of each; compared by CPU seconds (ours and git's; wall seconds also written, but on
    a shared machine they measure the neighbours); goal ratio <= 1.05;
(b) ``analyze ai`` attribution over a DuckDB store of ``--commits`` commits and ``--prs`` PRs
    (3 commits each in ``pr_commits``), about 1 in 4 with a marker of some kind: goal <= 10 s
    for 1,000,000 commits and 200,000 PRs; the references in the same run are reading every
    commit's and PR commit's message into Python (no decision) and the previous approach
    (``attribute`` as it was at ``--reference-rev``, loaded from git) on the same store, whose
    rows must be identical to ours; compared by CPU seconds as well as wall seconds;
(c) the comparisons (``ai_impact_weekly``) over the same store's PRs, and with
    ``--impact-store`` on a copy of a large analysed store (benchmarks/analytics.py's 1M-PR
    store): goal <= 5 s there.

Prints the figures and writes ``benchmarks/results/ai_attribution.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic_repo import cached_repo

from forgelens.sources import git as gitsrc

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "results" / "ai_attribution.json"
GOAL_MINING_RATIO = 1.05
GOAL_ATTRIBUTION_SECONDS = 10.0
GOAL_COMPARISON_SECONDS = 5.0
TRAILER_SHARE = 0.2


def prepare_repo(commits: int) -> Path:
    return cached_repo(WORK, commits, TRAILER_SHARE)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (git log) so far."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_mining(path: Path, trailers: bool) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, commits, co-author rows) of mining the whole history once.
    CPU time (ours and git's) is the figure compared: on a shared machine wall time measures
    the neighbours as much as the miner."""
    repo = gitsrc.open_repo(str(path), WORK / "cache")
    opts = gitsrc.MineOptions(trailers=trailers)
    started, cpu = time.perf_counter(), _cpu()
    commits = coauthors = 0
    for batch in gitsrc.mine(repo, opts):
        commits += len(batch)
        coauthors += batch.coauthor_columns().num_rows
    return time.perf_counter() - started, _cpu() - cpu, commits, coauthors


def bench_mining(commits: int, rounds: int) -> dict[str, Any]:
    repo = prepare_repo(commits)
    time_mining(repo, False)  # warm the page cache
    with_t: list[float] = []
    without: list[float] = []
    with_cpu: list[float] = []
    without_cpu: list[float] = []
    found = 0
    for _ in range(rounds):
        secs, cpu, _n, _ = time_mining(repo, False)
        without.append(secs)
        without_cpu.append(cpu)
        secs, cpu, n, found = time_mining(repo, True)
        with_t.append(secs)
        with_cpu.append(cpu)
    ratio = statistics.median(with_cpu) / statistics.median(without_cpu)
    wall_ratio = statistics.median(with_t) / statistics.median(without)
    out = {
        "commits": n,
        "coauthor_rows": found,
        "trailer_share": TRAILER_SHARE,
        "rounds": rounds,
        "without_trailers_cpu_seconds": [round(s, 3) for s in without_cpu],
        "with_trailers_cpu_seconds": [round(s, 3) for s in with_cpu],
        "ratio_with_vs_without_cpu": round(ratio, 4),
        "without_trailers_wall_seconds": [round(s, 3) for s in without],
        "with_trailers_wall_seconds": [round(s, 3) for s in with_t],
        "ratio_with_vs_without_wall": round(wall_ratio, 4),
        "goal_ratio": GOAL_MINING_RATIO,
        "goal_met": ratio <= GOAL_MINING_RATIO,
    }
    print(
        f"mining {n:,} commits: CPU without trailers {statistics.median(without_cpu):.2f}s, "
        f"with {statistics.median(with_cpu):.2f}s: ratio {ratio:.3f} (goal <= "
        f"{GOAL_MINING_RATIO}); wall ratio {wall_ratio:.3f}"
    )
    return out


# 1 commit in 5 carries an AI marker of some kind, 1 in 20 a human co-author
_MARKERS = """CASE hash({i}, 17) % 20
    WHEN 0 THEN chr(10) || chr(10) || 'Co-Authored-By: Claude <noreply@anthropic.com>'
    WHEN 1 THEN chr(10) || chr(10) || '🤖 Generated with [Claude Code](https://claude.com/claude-code)'
        || chr(10) || chr(10) || 'Co-Authored-By: Claude <noreply@anthropic.com>'
    WHEN 2 THEN chr(10) || chr(10) || 'Co-authored-by: Cursor Agent <cursoragent@cursor.com>'
    WHEN 3 THEN chr(10) || chr(10) || 'Made-with: Cursor'
    WHEN 4 THEN chr(10) || chr(10) || 'Co-authored-by: Dev 7 <dev7@example.com>'
    WHEN 5 THEN chr(10) || chr(10) || 'Assisted-by: GitHub Copilot'
    ELSE '' END"""


def build_store(path: Path, commits: int, prs: int) -> None:
    """A DuckDB store of ``commits`` commits and ``prs`` merged PRs (3 commits, 2 files and a
    review each) over 50 repositories and a year, with AI markers of every kind."""
    from forgelens.store import open_store

    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    open_store(f"duckdb:///{path}").close()  # the schema
    con = duckdb.connect(str(path))
    start = 1_735_689_600  # 2025-01-01
    repo = "'github:org/repo' || ({i} % 50)"
    con.execute(
        "INSERT INTO repositories (id, source, full_name, name, _version, _source) "
        "SELECT 'github:org/repo' || k, 'github', 'org/repo' || k, 'repo' || k, 1, 'gen' "
        "FROM range(50) t(k)"
    )
    con.execute(
        f"""
        INSERT INTO commits (repository_id, sha, author_name, author_email, author_login,
            authored_at, committer_name, committer_email, committed_at, message, additions,
            deletions, files_changed, is_merge, parents, _version, _source)
        SELECT {repo.format(i="i")}, md5('c' || i),
            CASE WHEN hash(i, 3) % 100 = 0 THEN 'Dev ' || (i % 500) || ' (aider)'
                 ELSE 'Dev ' || (i % 500) END,
            'dev' || (i % 500) || '@example.com', NULL,
            to_timestamp({start} + i * 31536000 // {commits}), 'Dev', 'dev@example.com',
            to_timestamp({start} + i * 31536000 // {commits}),
            'feat: change ' || i || chr(10) || chr(10) || 'Details of the change.'
                || {_MARKERS.format(i="i")},
            10, 2, 1, FALSE, '[]', 1, 'gen'
        FROM range({commits}) t(i)
        """
    )
    con.execute(
        f"""
        INSERT INTO pull_requests (repository_id, number, title, state, created_at, updated_at,
            author, merged_at, closed_at, base_ref, head_ref, labels, body, additions, deletions,
            changed_files, merged_by, commits, _version, _source)
        SELECT {repo.format(i="i")}, i, 'Change ' || i, 'merged', ts, ts,
            CASE hash(i, 1) % 20 WHEN 0 THEN 'copilot-swe-agent[bot]' ELSE 'dev' || (i % 500) END,
            ts + INTERVAL 5 HOUR, ts + INTERVAL 5 HOUR, 'main',
            CASE hash(i, 2) % 20 WHEN 0 THEN 'copilot/fix-' || i WHEN 1 THEN 'cursor/x' || i
                 ELSE 'feature/' || i END,
            CASE hash(i, 3) % 25 WHEN 0 THEN '["ai-assisted"]' ELSE '["enhancement"]' END,
            'Body of ' || i || CASE hash(i, 4) % 30 WHEN 0 THEN chr(10) || chr(10)
                || '🤖 Generated with [Claude Code](https://claude.com/claude-code)' ELSE '' END,
            40, 10, 2, 'dev' || (i % 7), 3, 1, 'gen'
        FROM (SELECT i, to_timestamp({start} + i * 31536000 // {prs}) AS ts
              FROM range(1, {prs} + 1) t(i))
        """
    )
    con.execute(
        f"""
        INSERT INTO pr_commits (repository_id, pr_number, sha, author_name, author_email,
            author_login, authored_at, message, _version, _source)
        SELECT {repo.format(i="i")}, i, md5('p' || i || '-' || k), 'Dev ' || (i % 500),
            'dev' || (i % 500) || '@example.com', 'dev' || (i % 500),
            to_timestamp({start} + i * 31536000 // {prs} - 3600 * (3 - k)),
            'wip ' || k || ' of change ' || i || {_MARKERS.format(i="(i * 3 + k)")}, 1, 'gen'
        FROM range(1, {prs} + 1) t(i), range(3) r(k)
        """
    )
    con.execute(
        f"""
        INSERT INTO pr_reviews (repository_id, pr_number, review_id, author, state,
            submitted_at, _version, _source)
        SELECT {repo.format(i="i")}, i, 'r' || i,
            CASE hash(i, 5) % 10 WHEN 0 THEN 'coderabbitai[bot]'
                 WHEN 1 THEN 'copilot-pull-request-reviewer[bot]' ELSE 'dev' || (i % 7) END,
            CASE hash(i, 5) % 10 WHEN 0 THEN 'COMMENTED' WHEN 1 THEN 'COMMENTED'
                 ELSE 'APPROVED' END,
            to_timestamp({start} + i * 31536000 // {prs} + 7200), 1, 'gen'
        FROM range(1, {prs} + 1) t(i)
        """
    )
    con.execute(
        f"""
        INSERT INTO pr_files (repository_id, pr_number, path, additions, deletions,
            change_type, _version, _source)
        SELECT {repo.format(i="i")}, i, 'src/m' || (hash(i, k) % 2000) || '-' || k || '.py',
            20, 5, 'modified', 1, 'gen'
        FROM range(1, {prs} + 1) t(i), range(2) r(k)
        """
    )
    con.close()


NEW_PRS = 1_000


def add_prs(store: Any, commits: int, prs: int, n: int) -> None:
    """``n`` PRs numbered after the store's, with their commits in ``commits`` and
    ``pr_commits``, at a newer ``_version`` (what a collection run after attribution adds)."""
    repo = "'github:org/repo' || (i % 50)"
    start = 1_735_689_600 + 31_536_000
    store.execute(
        f"""
        INSERT INTO pull_requests (repository_id, number, title, state, created_at, updated_at,
            author, merged_at, closed_at, base_ref, head_ref, labels, body, additions,
            deletions, changed_files, merged_by, commits, _version, _source)
        SELECT {repo}, i, 'Change ' || i, 'merged', to_timestamp({start} + i),
            to_timestamp({start} + i), 'dev' || (i % 500), to_timestamp({start} + i + 3600),
            to_timestamp({start} + i + 3600), 'main', 'feature/' || i, '["enhancement"]',
            'Body of ' || i, 40, 10, 2, 'dev' || (i % 7), 3, 2, 'gen'
        FROM range({prs + 1}, {prs + n + 1}) t(i)
        """
    )
    store.execute(
        f"""
        INSERT INTO pr_commits (repository_id, pr_number, sha, author_name, author_email,
            author_login, authored_at, message, _version, _source)
        SELECT {repo}, i, md5('p' || i || '-' || k), 'Dev ' || (i % 500),
            'dev' || (i % 500) || '@example.com', 'dev' || (i % 500),
            to_timestamp({start} + i - 3600 * (3 - k)),
            'wip ' || k || ' of change ' || i || {_MARKERS.format(i="(i * 3 + k)")}, 2, 'gen'
        FROM range({prs + 1}, {prs + n + 1}) t(i), range(3) r(k)
        """
    )
    store.execute(
        f"""
        INSERT INTO commits (repository_id, sha, author_name, author_email, author_login,
            authored_at, committer_name, committer_email, committed_at, message, additions,
            deletions, files_changed, is_merge, parents, _version, _source)
        SELECT {repo}, md5('c' || i), 'Dev ' || (i % 500), 'dev' || (i % 500) || '@example.com',
            NULL, to_timestamp({start} + i), 'Dev', 'dev@example.com', to_timestamp({start} + i),
            'feat: change ' || i || {_MARKERS.format(i="i")}, 10, 2, 1, FALSE, '[]', 2, 'gen'
        FROM range({commits}, {commits + n}) t(i)
        """
    )


def reference_attribute(rev: str) -> Any:
    """``attribute`` as it was at git revision ``rev`` (its ``ai_attribution`` and
    ``ai_rules`` modules), to time the previous approach in the same run on the same store."""
    import subprocess
    import types

    def load(name: str, path: str, replace: tuple[str, str] = ("", "")) -> types.ModuleType:
        text = subprocess.run(
            ["git", "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
        ).stdout
        module = types.ModuleType(name)
        module.__dict__["__file__"] = path
        sys.modules[name] = module  # dataclasses look their module up
        exec(compile(text.replace(*replace), path, "exec"), module.__dict__)
        return module

    rules_mod = load("_ref_ai_rules", "src/forgelens/analytics/ai_rules.py")
    rules_mod.__dict__["_shipped"] = lambda: (
        Path(__file__).resolve().parents[1] / "src/forgelens/analytics/ai_rules.yaml"
    ).read_text("utf-8")
    attr_mod = load(
        "_ref_ai_attribution",
        "src/forgelens/analytics/ai_attribution.py",
        ("from forgelens.analytics.ai_rules import", "from _ref_ai_rules import"),
    )
    return attr_mod.attribute, rules_mod.load_rules


def _empty_attribution(store: Any) -> None:
    """Both timed runs start from the same state: no rows to delete, the file checkpointed."""
    store.execute("DELETE FROM ai_attribution WHERE 1 = 1")
    store.execute("DELETE FROM ai_state WHERE 1 = 1")
    store.execute("CHECKPOINT")


def _attribution_rows(store: Any) -> list[tuple[Any, ...]]:
    return sorted(
        store.query(
            "SELECT kind, repository_id, key, tool, mode, confidence, evidence_kind, evidence, "
            "owner FROM ai_attribution"
        ),
        key=repr,
    )


def bench_attribution(
    commits: int, prs: int, reference_rev: str, rounds: int = 1
) -> dict[str, Any]:
    from forgelens.analytics import AnalyzeOptions, ai_impact, analyze
    from forgelens.analytics._ctx import Ctx
    from forgelens.analytics.ai_attribution import _tuples, attribute
    from forgelens.analytics.ai_rules import load_rules
    from forgelens.analytics.config import AnalyticsConfig
    from forgelens.store import open_store
    from forgelens.store._arrow import now_version

    path = WORK / f"ai-{commits}-{prs}.duckdb"
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build_store(path, commits, prs)
    built = time.perf_counter() - started
    print(f"built {path} in {built:.1f}s")
    store = open_store(f"duckdb:///{path}")
    try:
        rules = load_rules()
        # the floor: every commit's and PR commit's fields and message read into Python
        started = time.perf_counter()
        scanned = sum(
            1
            for table in ("commits", "pr_commits")
            for _ in _tuples(
                store, f"SELECT repository_id, sha, author_name, author_email, message FROM {table}"
            )
        )
        scan = time.perf_counter() - started
        # the previous approach (reference_rev's code), then ours, on the same store; pandas
        # (which pyarrow imports to convert the rows' timestamps, 1-2 s) loaded before either
        import pandas  # noqa: F401

        load_before = os.getloadavg()
        ref_attribute, ref_load = reference_attribute(reference_rev)
        # rounds alternate the previous approach and ours (fresh rules each: no memo carried
        # over); the medians are compared, each round's rows checked identical
        ref_walls: list[float] = []
        ref_cpus: list[float] = []
        walls: list[float] = []
        cpus: list[float] = []
        identical = True
        for _ in range(rounds):
            _empty_attribution(store)
            started, cpu = time.perf_counter(), _cpu()
            ref_attribute(store, ref_load(), full=True)
            ref_walls.append(time.perf_counter() - started)
            ref_cpus.append(_cpu() - cpu)
            ref_rows = _attribution_rows(store)
            _empty_attribution(store)
            rules = load_rules()
            started, cpu = time.perf_counter(), _cpu()
            done = attribute(store, rules, full=True)
            walls.append(time.perf_counter() - started)
            cpus.append(_cpu() - cpu)
            identical = identical and _attribution_rows(store) == ref_rows
            del ref_rows
        ref_s, ref_cpu = statistics.median(ref_walls), statistics.median(ref_cpus)
        full_s, full_cpu = statistics.median(walls), statistics.median(cpus)
        started, cpu = time.perf_counter(), _cpu()
        attribute(store, rules)
        again_s, again_cpu = time.perf_counter() - started, _cpu() - cpu
        # a small change: NEW_PRS merged PRs (3 commits each, one in 5 with a marker) and as
        # many commits written after the last run; only they are read again
        add_prs(store, commits, prs, NEW_PRS)
        started, cpu = time.perf_counter(), _cpu()
        small = attribute(store, rules)
        small_s, small_cpu = time.perf_counter() - started, _cpu() - cpu
        started = time.perf_counter()
        analyze(store, AnalyzeOptions(target="all"))
        analyze_s = time.perf_counter() - started
        now = datetime.now(UTC)
        ctx = Ctx(store, AnalyticsConfig(), now_version(), now, now.date())
        started, cpu = time.perf_counter(), _cpu()
        weekly = ai_impact.write_impact(ctx, full=True)  # the whole table
        impact_s, impact_cpu = time.perf_counter() - started, _cpu() - cpu
        ai_prs = store.query("SELECT count(*) FROM ai_attribution WHERE kind = 'pr'")[0][0]
    finally:
        store.close()
    out = {
        "commits": commits,
        "prs": prs,
        "store_build_seconds": round(built, 1),
        "reference_read_messages_into_python_seconds": round(scan, 3),
        "reference_rows_read": scanned,
        "reference": f"attribute at git {reference_rev} (the previous approach), same store",
        "rounds": rounds,
        "reference_attribution_full_seconds_each": [round(x, 3) for x in ref_walls],
        "reference_attribution_full_cpu_seconds_each": [round(x, 3) for x in ref_cpus],
        "attribution_full_seconds_each": [round(x, 3) for x in walls],
        "attribution_full_cpu_seconds_each": [round(x, 3) for x in cpus],
        "reference_attribution_full_seconds": round(ref_s, 3),
        "reference_attribution_full_cpu_seconds": round(ref_cpu, 3),
        "attribution_full_seconds": round(full_s, 3),
        "attribution_full_cpu_seconds": round(full_cpu, 3),
        "ratio_vs_reference_wall": round(full_s / ref_s, 3) if ref_s else None,
        "ratio_vs_reference_cpu": round(full_cpu / ref_cpu, 3) if ref_cpu else None,
        "rows_identical_to_reference": identical,
        "attribution_vs_scan_ratio": round(full_s / scan, 1) if scan else None,
        "attribution_rows": done.rows,
        "ai_prs": ai_prs,
        "attribution_incremental_nothing_new_seconds": round(again_s, 3),
        "attribution_incremental_nothing_new_cpu_seconds": round(again_cpu, 3),
        "attribution_incremental_new_prs": NEW_PRS,
        "attribution_incremental_new_prs_read": {"commits": small.commits, "prs": small.prs},
        "attribution_incremental_new_prs_seconds": round(small_s, 3),
        "attribution_incremental_new_prs_cpu_seconds": round(small_cpu, 3),
        "load_average_before_attribution": [round(x, 1) for x in load_before],
        "goal_attribution_seconds": GOAL_ATTRIBUTION_SECONDS,
        "attribution_goal_met": full_s <= GOAL_ATTRIBUTION_SECONDS,
        "analyze_all_seconds_untimed_goal": round(analyze_s, 1),
        "comparisons_seconds": round(impact_s, 3),
        "comparisons_cpu_seconds": round(impact_cpu, 3),
        "comparisons_rows": weekly,
        "goal_comparison_seconds": GOAL_COMPARISON_SECONDS,
        "comparisons_goal_met": impact_s <= GOAL_COMPARISON_SECONDS,
    }
    print(
        f"attribution over {commits:,} commits and {prs:,} PRs: {full_s:.2f}s, CPU "
        f"{full_cpu:.2f}s; the previous approach (git {reference_rev}) {ref_s:.2f}s, CPU "
        f"{ref_cpu:.2f}s: CPU ratio {full_cpu / ref_cpu:.3f}; rows identical: {identical}; "
        f"(goal <= {GOAL_ATTRIBUTION_SECONDS}s; reading the messages alone {scan:.2f}s), "
        f"again with nothing new {again_s:.2f}s, with {NEW_PRS:,} new PRs {small_s:.2f}s "
        f"(CPU {small_cpu:.2f}s); comparisons {impact_s:.2f}s, CPU {impact_cpu:.2f}s "
        f"(goal <= {GOAL_COMPARISON_SECONDS}s, {weekly:,} rows)"
    )
    return out


def bench_impact_store(base: Path) -> dict[str, Any]:
    """The comparisons (``ai_impact_weekly``) on a large analysed store (benchmarks/analytics.py's
    1M-PR store, ``analyze all`` run on it; analysed here first, untimed, when it was not),
    copied to a work file: the full computation into an empty table (as ``analyze all``'s first
    run), again over the stored rows (``--force-refresh``, a rules change), then ``analyze all``
    after 1,000 PRs of the last 90 days changed late (its ``ai_impact`` phase)."""
    import shutil

    from benchmarks.analytics import _late_data

    from forgelens.analytics import AnalyzeOptions, ai_impact, analyze
    from forgelens.analytics._ctx import Ctx
    from forgelens.analytics.config import AnalyticsConfig
    from forgelens.store import open_store
    from forgelens.store._arrow import now_version

    work = WORK / "impact-store.duckdb"
    WORK.mkdir(parents=True, exist_ok=True)
    for leftover in (work, work.with_name(work.name + ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(base, work)
    out: dict[str, Any] = {"store": str(base)}
    store = open_store(f"duckdb:///{work}")
    try:
        prs = int(store.query("SELECT count(*) FROM pull_requests")[0][0])
        if not store.query("SELECT 1 FROM pr_facts LIMIT 1"):
            started = time.perf_counter()
            analyze(store, AnalyzeOptions(target="all"))
            out["analyze_all_seconds_untimed_goal"] = round(time.perf_counter() - started, 1)
        store.execute("DELETE FROM ai_impact_weekly WHERE 1 = 1")
        store.execute("CHECKPOINT")
        figures: dict[str, tuple[float, float, int]] = {}
        for name in ("into_empty_table", "over_stored_rows"):
            now = datetime.now(UTC)
            ctx = Ctx(store, AnalyticsConfig(), now_version(), now, now.date())
            started, cpu = time.perf_counter(), _cpu()
            rows = ai_impact.write_impact(ctx, full=True)
            figures[name] = (time.perf_counter() - started, _cpu() - cpu, rows)
            store.execute("CHECKPOINT")  # each run starts with the rows of the last on disk
    finally:
        store.close()
    _late_data(work, 1_000, 0)
    store = open_store(f"duckdb:///{work}")
    try:
        late = analyze(store, AnalyzeOptions(target="all"))
    finally:
        store.close()
    for name, (wall, cpu, rows) in figures.items():
        out[f"full_{name}_seconds"] = round(wall, 3)
        out[f"full_{name}_cpu_seconds"] = round(cpu, 3)
        out["rows"] = rows
    out |= {
        "prs": prs,
        "late_data_prs": 1_000,
        "late_data_analyze_all_seconds": round(late.seconds, 3),
        "late_data_ai_impact_seconds": round(late.phases.get("ai_impact", 0.0), 3),
        "late_data_ai_impact_cpu_seconds": round(late.phases_cpu.get("ai_impact", 0.0), 3),
        "goal_seconds": GOAL_COMPARISON_SECONDS,
        "goal_met": figures["into_empty_table"][0] <= GOAL_COMPARISON_SECONDS,
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
    }
    wall, cpu, rows = figures["into_empty_table"]
    again, again_cpu, _ = figures["over_stored_rows"]
    print(
        f"comparisons on {base} ({prs:,} PRs, {rows:,} rows): {wall:.2f}s, CPU {cpu:.2f}s into "
        f"an empty table (goal <= {GOAL_COMPARISON_SECONDS}s); {again:.2f}s, CPU "
        f"{again_cpu:.2f}s over the stored rows; after 1,000 late PRs: ai_impact "
        f"{out['late_data_ai_impact_seconds']:.2f}s, "
        f"CPU {out['late_data_ai_impact_cpu_seconds']:.2f}s"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mine-commits", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=1_000_000)
    parser.add_argument("--prs", type=int, default=200_000)
    parser.add_argument(
        "--reference-rev",
        default="main",
        help="the git revision whose attribution code is the reference (the previous "
        "approach); recorded as its commit",
    )
    parser.add_argument(
        "--attribution-rounds",
        type=int,
        default=1,
        help="full attributions of each approach, alternated (medians compared)",
    )
    parser.add_argument("--skip-mining", action="store_true")
    parser.add_argument("--skip-attribution", action="store_true")
    parser.add_argument(
        "--impact-store",
        type=Path,
        default=None,
        help="a large store (benchmarks/analytics.py's 1M-PR one, analysed or not) on a copy "
        "of which the comparisons are timed",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results JSON")
    args = parser.parse_args()
    # a section skipped this run keeps its figures of the last run that measured it
    out: Path = args.out
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    result |= {
        "benchmark": "ai_attribution",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }
    if not args.skip_mining:
        result["mining"] = bench_mining(args.mine_commits, args.rounds)
    result["load"] = (
        "2 cores shared with other sessions' tests and benchmarks; load average at the start "
        f"of the last run {', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}"
    )
    if not args.skip_attribution:
        import subprocess

        rev = subprocess.run(
            ["git", "rev-parse", "--short", args.reference_rev],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        result["attribution"] = bench_attribution(
            args.commits, args.prs, rev, args.attribution_rounds
        )
    if args.impact_store is not None:
        result["comparisons_large_store"] = bench_impact_store(args.impact_store)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
