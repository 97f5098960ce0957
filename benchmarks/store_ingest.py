"""Bulk upsert speed: forgelens' idempotent upsert versus the plain bulk load of each database.

PostgreSQL: ``PostgresStore.upsert`` (COPY into a staging table, then INSERT ... SELECT DISTINCT ON
... ON CONFLICT DO UPDATE ... WHERE newer) versus a plain ``COPY`` of the same rows (same Arrow ->
CSV stream) straight into the empty ``commit_files`` table. Goal: ratio >= 0.5.
DuckDB: ``DuckDBStore.upsert`` versus a plain ``INSERT INTO commit_files SELECT * FROM arrow``.

    nice -n 10 .venv/bin/python benchmarks/store_ingest.py [--rows 1000000] [--batch 100000]

Writes benchmarks/results/store_ingest.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from forgelens.store import open_store
from forgelens.store._arrow import now_version

PG_URL = os.environ.get("FORGELENS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).parent / "results" / "store_ingest.json"


def commit_files(rows: int, version: int) -> pa.Table:
    """``rows`` commit_files rows: 10 files per commit, realistic path and sha shapes."""
    shas = [f"{(i // 10) * 2654435761 % (1 << 64):040x}" for i in range(rows)]
    paths = [f"src/pkg{i % 37}/module_{i % 10}_{(i // 10) % 113}.py" for i in range(rows)]
    return pa.table(
        {
            "repository_id": pa.array(["git:bench/repo"] * rows),
            "sha": pa.array(shas),
            "path": pa.array(paths),
            "additions": pa.array([i % 50 for i in range(rows)], pa.int64()),
            "deletions": pa.array([i % 7 for i in range(rows)], pa.int64()),
            "change_type": pa.array(["modified"] * rows),
            "old_path": pa.nulls(rows, pa.string()),
            "_version": pa.array([version] * rows, pa.int64()),
            "_source": pa.array(["git"] * rows),
        }
    )


def batches(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(i, size) for i in range(0, table.num_rows, size)]


def bench_postgres(table: pa.Table, batch: int) -> dict[str, float]:
    import psycopg

    schema = f"fl_bench_{os.getpid()}"
    url = f"{PG_URL}?schema={schema}"
    store = open_store(url)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    try:
        # 1. plain COPY into the empty table (with its primary key), the reference
        with psycopg.connect(PG_URL, options=f"-csearch_path={schema}") as conn:
            started = time.perf_counter()
            for part in batches(table, batch):
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY commit_files ({cols}) FROM STDIN (FORMAT csv)") as cp,
                ):
                    buf = io.BytesIO()
                    pacsv.write_csv(part, buf, pacsv.WriteOptions(include_header=False))
                    cp.write(buf.getbuffer())
                conn.commit()
            copy_s = time.perf_counter() - started
            n = conn.execute("SELECT count(*) FROM commit_files").fetchone()
            assert n is not None
            assert n[0] == table.num_rows
            conn.execute("TRUNCATE commit_files")
            conn.commit()
        # 2. forgelens upsert into the empty table (every row new)
        started = time.perf_counter()
        for part in batches(table, batch):
            store.upsert("commit_files", part)
        upsert_s = time.perf_counter() - started
        # 3. upsert the same rows again, newer: every row conflicts and is updated
        newer = table.set_column(
            table.column_names.index("_version"),
            "_version",
            pa.array([now_version()] * table.num_rows, pa.int64()),
        )
        started = time.perf_counter()
        for part in batches(newer, batch):
            store.upsert("commit_files", part)
        update_s = time.perf_counter() - started
        assert store.query("SELECT count(*) FROM commit_files")[0][0] == table.num_rows
        store.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        store.close()
    rows = table.num_rows
    return {
        "copy_rows_per_s": rows / copy_s,
        "upsert_insert_rows_per_s": rows / upsert_s,
        "upsert_update_rows_per_s": rows / update_s,
        "ratio_upsert_vs_copy": copy_s / upsert_s,
        "ratio_update_vs_copy": copy_s / update_s,
    }


def bench_duckdb(table: pa.Table, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"duckdb:///{tmp}/bench.duckdb")
        con = store._con  # type: ignore[attr-defined]
        cols = ", ".join(f'"{c}"' for c in table.column_names)
        started = time.perf_counter()
        for part in batches(table, batch):
            con.register("_plain", part)
            con.execute(f"INSERT INTO commit_files ({cols}) SELECT {cols} FROM _plain")
            con.unregister("_plain")
        plain_s = time.perf_counter() - started
        con.execute("DELETE FROM commit_files")
        con.execute("CHECKPOINT")
        started = time.perf_counter()
        for part in batches(table, batch):
            store.upsert("commit_files", part)
        upsert_s = time.perf_counter() - started
        assert store.query("SELECT count(*) FROM commit_files")[0][0] == table.num_rows
        store.close()
    rows = table.num_rows
    return {
        "insert_rows_per_s": rows / plain_s,
        "upsert_rows_per_s": rows / upsert_s,
        "ratio_upsert_vs_insert": plain_s / upsert_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--skip-duckdb", action="store_true")
    args = parser.parse_args()
    table = commit_files(args.rows, now_version())
    result: dict[str, object] = {
        "benchmark": "store_ingest",
        "rows": args.rows,
        "batch_rows": args.batch,
        "table": "commit_files",
        "machine": f"{platform.machine()} {os.cpu_count()} cores (shared)",
        "command": f"nice -n 10 .venv/bin/python benchmarks/store_ingest.py --rows {args.rows}",
    }
    pg = bench_postgres(table, args.batch)
    result["postgres"] = pg
    print(
        f"PostgreSQL  COPY {pg['copy_rows_per_s']:>10,.0f} rows/s | upsert (new rows) "
        f"{pg['upsert_insert_rows_per_s']:>10,.0f} rows/s = {pg['ratio_upsert_vs_copy']:.2f}x COPY "
        f"(goal >= 0.5) | upsert (all updates) {pg['upsert_update_rows_per_s']:>10,.0f} rows/s"
    )
    if not args.skip_duckdb:
        dd = bench_duckdb(table, args.batch)
        result["duckdb"] = dd
        print(
            f"DuckDB      INSERT {dd['insert_rows_per_s']:>10,.0f} rows/s | upsert "
            f"{dd['upsert_rows_per_s']:>10,.0f} rows/s = {dd['ratio_upsert_vs_insert']:.2f}x insert"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
