"""Generate a synthetic forgelens store for the analytics benchmark, fast, with DuckDB SQL.

Default size: 1,000,000 PRs, 5,000,000 PR files, ~1,500,000 reviews, 1,000,000 PR commits,
20,000 authors, 500 repositories over 3 years ending now, plus branch protections, CI runs
and teams; one PR in eight says in its body it was generated with Claude Code (AI evidence
for the comparisons). Deterministic (hash-based), so two runs give the same store.

    .venv/bin/python benchmarks/gen_store.py --out /tmp/bench.duckdb [--prs 1000000]
    .venv/bin/python benchmarks/gen_store.py --out /tmp/bench.duckdb --add-prs 1000

Any other store (``--target chdb:///tmp/bench-chdb``, ``clickhouse://...``, ``postgresql://...``)
gets the same rows, generated block by block (``--block`` PRs, default 1,000,000) in an
in-memory DuckDB and written as Arrow blocks through ``store.upsert``:

    .venv/bin/python benchmarks/gen_store.py --target chdb:///tmp/bench-chdb --prs 10000000
    .venv/bin/python benchmarks/gen_store.py --target chdb:///tmp/bench-chdb --add-prs 10000
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from forgelens.store import Store, open_store
from forgelens.store.schema import TABLES
from forgelens.store.sql import create_table_sql

DAY_S = 86_400
PATHS = (
    "CASE h % 20 "
    "WHEN 0 THEN 'db/migrations/' || (h % 300) || '_change.sql' "
    "WHEN 1 THEN 'src/auth/' || (h % 30) || '_auth.py' "
    "WHEN 2 THEN '.github/workflows/ci' || (h % 5) || '.yml' "
    "WHEN 3 THEN 'tests/test_mod' || (h % 200) || '.py' "
    "WHEN 4 THEN 'tests/test_mod' || (h % 200) || '.py' "
    "WHEN 5 THEN 'docs/page' || (h % 50) || '.md' "
    "WHEN 6 THEN 'package-lock.json' "
    "ELSE 'src/pkg' || (h % 40) || '/module' || ((h // 40) % 40) || '.py' END"
)


def _pr_select(
    first: int, count: int, start_s: int, span_s: int, version: int, n_repos: int, n_authors: int
) -> str:
    """PRs ``first .. first + count - 1`` spread over ``[start_s, start_s + span_s)``."""
    return f"""
    SELECT 'github:org' || (hash(i) % {n_repos}) || '/repo' || (hash(i) % {n_repos})
               AS repository_id,
        CAST(i AS INTEGER) AS number,
        CASE hash(i, 2) % 10
            WHEN 0 THEN 'feat: add feature ' || i WHEN 1 THEN 'fix: crash in ' || i
            WHEN 2 THEN 'Add endpoint ' || i WHEN 3 THEN 'Revert change ' || i
            WHEN 4 THEN 'chore: bump deps' ELSE 'Update module ' || i END AS title,
        CASE WHEN hash(i, 3) % 10 < 8 THEN 'merged' ELSE 'closed' END AS state,
        to_timestamp(CAST({start_s} + (i - {first}) * {span_s} // {count} AS DOUBLE))
            AS created_at,
        CAST(NULL AS TIMESTAMPTZ) AS updated_at,
        CAST(i + 1000000000 AS VARCHAR) AS forge_id,
        'This change improves module ' || (i % 97) || ' and its tests.'
            || CASE WHEN hash(i, 9) % 8 = 0  -- one PR in eight made with an assistant
                THEN chr(10) || chr(10) || 'Generated with [Claude Code](https://claude.com/claude-code)'
                ELSE '' END AS body,
        'user' || (hash(i, 1) % {n_authors}) AS author,
        FALSE AS draft,
        CAST(hash(i, 4) % 200 + 1 AS BIGINT) AS merge_hours,
        CAST(hash(i, 5) % 400 AS BIGINT) AS additions,
        CAST(hash(i, 6) % 150 AS BIGINT) AS deletions,
        5 AS changed_files,
        CASE hash(i, 7) % 5 WHEN 0 THEN '["enhancement"]' WHEN 1 THEN '["bug"]' ELSE '[]' END
            AS labels,
        CASE hash(i, 8) % 4 WHEN 0 THEN 'feature/x' || i WHEN 1 THEN 'fix/y' || i
            ELSE 'branch' || i END AS head_ref,
        {version} AS _version
    FROM range({first}, {first + count}) t(i)
    """


def generate(
    con: duckdb.DuckDBPyConnection,
    first: int,
    count: int,
    start_s: int,
    span_s: int,
    n_repos: int,
    n_authors: int,
    version: int,
) -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE g_pr AS "
        f"{_pr_select(first, count, start_s, span_s, version, n_repos, n_authors)}"
    )
    con.execute(
        """
        INSERT INTO pull_requests (repository_id, number, title, state, created_at, updated_at,
            forge_id, body, author, draft, merged_at, closed_at, base_ref, head_ref, additions,
            deletions, changed_files, labels, merged_by, commits, _version, _source)
        SELECT repository_id, number, title, state, created_at,
            created_at + to_hours(merge_hours), forge_id, body, author, draft,
            CASE WHEN state = 'merged' THEN created_at + to_hours(merge_hours) END,
            created_at + to_hours(merge_hours), 'main', head_ref, additions, deletions,
            changed_files, labels, CASE WHEN state = 'merged' THEN author END, 1, _version, 'gen'
        FROM g_pr
        """
    )
    con.execute(
        f"""
        INSERT INTO pr_files (repository_id, pr_number, path, additions, deletions, change_type,
            _version, _source)
        SELECT repository_id, number, path, max(a), max(d), 'modified', _version, 'gen'
        FROM (
            SELECT p.repository_id, p.number, p._version, {PATHS} AS path,
                CAST(h % 120 AS BIGINT) AS a, CAST((h // 7) % 60 AS BIGINT) AS d
            FROM (SELECT g.*, hash(g.number, k) AS h FROM g_pr g, range(8) r(k)) p
        ) q GROUP BY repository_id, number, path, _version
        QUALIFY row_number() OVER (PARTITION BY repository_id, number ORDER BY path) <= 5
        """
    )
    con.execute(
        f"""
        INSERT INTO pr_reviews (repository_id, pr_number, review_id, author, state,
            submitted_at, _version, _source)
        SELECT repository_id, number, number || '-' || k,
            'user' || (hash(number, k, 9) % {n_authors}),
            CASE hash(number, k, 10) % 3 WHEN 0 THEN 'CHANGES_REQUESTED' WHEN 1 THEN 'COMMENTED'
                ELSE 'APPROVED' END,
            created_at + to_minutes(CAST((k + 1) * (hash(number, k, 11) % (merge_hours * 20) + 1)
                AS BIGINT)),
            _version, 'gen'
        FROM g_pr, range(3) r(k) WHERE hash(number, k, 12) % 2 = 0
        """
    )
    con.execute(
        """
        INSERT INTO pr_commits (repository_id, pr_number, sha, author_email, author_login,
            authored_at, _version, _source)
        SELECT repository_id, number, md5(CAST(number AS VARCHAR)), author || '@example.com',
            author, created_at - to_hours(CAST(hash(number, 13) % 72 AS BIGINT)), _version, 'gen'
        FROM g_pr
        """
    )


def _fixed_tables(
    con: duckdb.DuckDBPyConnection, n_repos: int, n_authors: int, version: int
) -> None:
    """Repositories, people, teams and branch protections (written once, whatever the size)."""
    con.execute(
        f"""
        INSERT INTO repositories (id, source, full_name, name, owner, _version, _source)
        SELECT 'github:org' || i || '/repo' || i, 'github', 'org' || i || '/repo' || i,
            'repo' || i, 'org' || i, {version}, 'gen' FROM range({n_repos}) t(i)
        """
    )
    con.execute(
        f"""
        INSERT INTO people (source, login, name, email, forge_id, is_bot, _version, _source)
        SELECT 'github', 'user' || i, 'User ' || i, 'user' || i || '@example.com',
            CAST(i AS VARCHAR), i % 500 = 0, {version}, 'gen' FROM range({n_authors}) t(i)
        """
    )
    con.execute(
        f"""
        INSERT INTO team_members (source, org, team_slug, login, _version, _source)
        SELECT 'github', 'org', 'team' || (i % 50), 'user' || i, {version}, 'gen'
        FROM range({n_authors}) t(i)
        """
    )
    con.execute(
        f"""
        INSERT INTO branch_protections (repository_id, branch, required_approvals,
            required_checks, _version, _source)
        SELECT 'github:org' || i || '/repo' || i, 'main', 1 + i % 2, '["ci/test"]',
            {version}, 'gen' FROM range({n_repos}) t(i) WHERE i % 2 = 0
        """
    )


def _ci_runs(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """One CI run for every fifth PR, on its head branch."""
    con.execute(
        f"""
        INSERT INTO ci_runs (repository_id, run_id, name, status, conclusion, created_at,
            head_branch, _version, _source)
        SELECT repository_id, 'run' || number, 'ci/test', 'completed',
            CASE WHEN hash(number, 14) % 10 = 0 THEN 'failure' ELSE 'success' END,
            created_at + to_minutes(10), head_ref, {version}, 'gen'
        FROM pull_requests WHERE hash(number, 15) % 5 = 0
        """
    )


GENERATED = (
    "repositories",
    "people",
    "team_members",
    "branch_protections",
    "pull_requests",
    "pr_files",
    "pr_reviews",
    "pr_commits",
    "ci_runs",
)


def _scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the store's tables, where blocks are generated."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for spec in TABLES.values():
        for stmt in create_table_sql("duckdb", spec):
            con.execute(stmt)
    return con


def _flush(con: duckdb.DuckDBPyConnection, target: Store, counts: dict[str, int]) -> None:
    """Write the scratch tables' rows to ``target`` as Arrow blocks, then empty them."""
    for table in GENERATED:
        cols = [c for c, t in TABLES[table].all_columns() if t != "serial"]
        select = ", ".join(f'"{c}"' for c in cols)
        reader = con.sql(f'SELECT {select} FROM "{table}"').to_arrow_reader(1_000_000)
        for batch in reader:
            counts[table] = counts.get(table, 0) + target.upsert(
                table, pa.Table.from_batches([batch])
            )
        con.execute(f'DELETE FROM "{table}"')


def to_store(target: Store, args: argparse.Namespace, now_s: int, version: int) -> dict[str, int]:
    """Generate ``args.prs`` PRs into ``target`` in blocks of ``args.block`` PRs: each block is
    made in an in-memory DuckDB, then written table by table as Arrow blocks (``upsert``)."""
    con = _scratch()
    counts = dict.fromkeys(GENERATED, 0)
    span = int(args.years * 365 * DAY_S)
    old_version = version - 3_600_000
    _fixed_tables(con, args.repos, args.authors, old_version)
    first, block_span = 1, (span - DAY_S) * args.block // args.prs
    while first <= args.prs:
        count = min(args.block, args.prs - first + 1)
        start = now_s - span + (first - 1) * (span - DAY_S) // args.prs
        generate(con, first, count, start, block_span, args.repos, args.authors, old_version)
        _ci_runs(con, old_version)
        _flush(con, target, counts)
        print(f"  {first + count - 1:,} PRs written ({time.strftime('%H:%M:%S')})", flush=True)
        first += count
    con.close()
    return counts


def add_to_store(target: Store, args: argparse.Namespace, now_s: int, version: int) -> int:
    """``--add-prs`` new PRs (opened in the last three days) written to ``target``."""
    con = _scratch()
    first = int(target.query("SELECT max(number) + 1 FROM pull_requests")[0][0])
    start = now_s - 3 * DAY_S
    generate(con, first, args.add_prs, start, 2 * DAY_S, args.repos, args.authors, version)
    counts: dict[str, int] = {}
    _flush(con, target, counts)
    con.close()
    return counts["pull_requests"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="A DuckDB file to create (or --add-prs to).")
    ap.add_argument("--target", help="Or any store URL (chdb:///path, postgresql://...).")
    ap.add_argument("--block", type=int, default=1_000_000, help="PRs per block (--target).")
    ap.add_argument("--prs", type=int, default=1_000_000)
    ap.add_argument("--repos", type=int, default=500)
    ap.add_argument("--authors", type=int, default=20_000)
    ap.add_argument("--years", type=float, default=3.0)
    ap.add_argument("--add-prs", type=int, default=0, help="Append this many new PRs (today).")
    args = ap.parse_args()
    started = time.perf_counter()
    now_s = int(datetime.now(UTC).timestamp())
    version = time.time_ns() // 1_000_000
    if args.target:
        target = open_store(args.target)
        try:
            if args.add_prs:
                added = add_to_store(target, args, now_s, version)
                print(f"added {added} PRs in {time.perf_counter() - started:.1f}s")
                return
            counts = to_store(target, args, now_s, version)
        finally:
            target.close()
        print(f"generated {counts} in {time.perf_counter() - started:.1f}s -> {args.target}")
        return
    if args.out is None:
        ap.error("give --out FILE.duckdb or --target URL")
    if args.add_prs:
        con = duckdb.connect(str(args.out))
        con.execute("SET TimeZone = 'UTC'")
        first = int(con.execute("SELECT max(number) + 1 FROM pull_requests").fetchone()[0])
        generate(
            con,
            first,
            args.add_prs,
            now_s - 3 * DAY_S,
            2 * DAY_S,
            args.repos,
            args.authors,
            version,
        )
        con.close()
        print(f"added {args.add_prs} PRs in {time.perf_counter() - started:.1f}s")
        return
    if args.out.exists():
        args.out.unlink()
    open_store(f"duckdb:///{args.out}").close()
    con = duckdb.connect(str(args.out))
    con.execute("SET TimeZone = 'UTC'")
    span = int(args.years * 365 * DAY_S)
    old_version = version - 3_600_000
    _fixed_tables(con, args.repos, args.authors, old_version)
    generate(con, 1, args.prs, now_s - span, span - DAY_S, args.repos, args.authors, old_version)
    _ci_runs(con, old_version)
    con.execute("CHECKPOINT")
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in (
            "repositories",
            "people",
            "pull_requests",
            "pr_files",
            "pr_reviews",
            "pr_commits",
            "ci_runs",
        )
    }
    con.close()
    print(f"generated {counts} in {time.perf_counter() - started:.1f}s -> {args.out}")


if __name__ == "__main__":
    main()
