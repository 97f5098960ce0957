"""The soak run of issue #20: 2 API processes and 2 workers on Redis and PostgreSQL under mixed
triggers, signed webhooks and status reads, while Redis is cut once for 10 s, a worker is
``kill -9``ed twice (mid-job) and PostgreSQL refuses connections for 10 s -- each fault injected
by a loopback TCP proxy in front of the service, never by stopping the machine's own services.

    .venv/bin/python benchmarks/soak.py                 # 300 s of load (the figure)
    .venv/bin/python benchmarks/soak.py --seconds 60    # what `make test` runs and asserts

Goals: 0 lost jobs (every accepted job id ends completed, or failed with its reason), 0 duplicate
rows (the store holds exactly what the forge has; no webhook delivery handled twice), every
process alive; the p50/p99 of ``POST /api/v1/collect/trigger`` are reported. Needs PostgreSQL
(FORGELENS_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test) and Redis on
127.0.0.1:6379. Writes benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import psycopg  # noqa: E402
from tests.redis_fixtures import REDIS_URL, isolated_prefix  # noqa: E402
from tests.service._soak import run_soak  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the load")
    args = parser.parse_args()
    base = os.environ.get("FORGELENS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"fl_soak_{uuid.uuid4().hex[:8]}"
    load = os.getloadavg()
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp, isolated_prefix() as prefix:
            report = run_soak(Path(tmp), f"{base}?schema={schema}", REDIS_URL, prefix, args.seconds)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    summary = report.summary()
    stored_as_forge = all(report.stored[t] == rows for t, rows in report.expected.items())
    result = {
        "command": f"python benchmarks/soak.py --seconds {args.seconds:g}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": [round(x, 2) for x in load],
        "wall_seconds": round(time.monotonic() - began, 1),
        **summary,
        "store_equals_forge": stored_as_forge,
        "goals": {"lost_jobs": 0, "duplicate_rows": 0, "crashed_processes": []},
        "goals_met": summary["lost_jobs"] == 0
        and summary["duplicate_rows"] == 0
        and stored_as_forge
        and not summary["crashed_processes"],
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / "soak.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
