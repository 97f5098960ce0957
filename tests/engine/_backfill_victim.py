"""A pre-warmed ``forgelens`` process for the crash test: imports everything, prints
``ready``, then runs the CLI with the arguments of the one JSON line it reads from stdin (so the
test's random ``kill -9`` lands in the backfill, not in Python's start-up)."""

from __future__ import annotations

import json
import sys

from forgelens.cli import main


def _warm_up() -> None:
    """Load what the first store write loads lazily (DuckDB's Arrow scan pulls in pandas)."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.register("t", pa.table({"a": [1]}))
    con.execute("SELECT * FROM t").fetchall()
    con.close()


if __name__ == "__main__":
    _warm_up()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    args = json.loads(sys.stdin.readline())
    sys.exit(main(args))
