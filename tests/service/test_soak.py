"""The soak test: two API processes and two workers on Redis and PostgreSQL under mixed load
while Redis is cut for 10 s, workers are ``kill -9``ed twice and PostgreSQL refuses
connections for 10 s (faults injected by loopback proxies, never by stopping the machine's
services). ``FORGELENS_SOAK_SECONDS`` sets the load's length (60 s here; benchmarks/soak.py runs
the long one and writes its figures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.redis_fixtures import REDIS_URL, isolated_prefix
from tests.service._soak import TERMINAL, run_soak

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECONDS = float(os.environ.get("FORGELENS_SOAK_SECONDS", "60"))


@pytest.mark.timeout(int(SECONDS) + 400)
def test_no_job_is_lost_and_no_row_doubled_through_redis_postgres_and_worker_faults(
    pg_url: str, tmp_path: Path
) -> None:
    with isolated_prefix() as prefix:
        report = run_soak(tmp_path, pg_url, REDIS_URL, prefix, SECONDS)
    summary = report.summary()
    print(summary)  # the figures, p99 of the trigger endpoint among them (-s shows them)
    assert report.crashed == [], "a service process died on its own"
    assert len(report.faults) == 4
    # a worker killed mid-job: its job ran again once the lease lapsed (the recovery exercised)
    assert any(what.endswith("mid-job") for _, what in report.faults), report.faults
    assert summary["jobs_run_again_after_a_kill"] >= 1, summary
    # the load ran through every fault: triggers were accepted before and after them
    assert summary["trigger_answers"].get("202", 0) >= 20, summary
    # a trigger is answered 202 (queued or the job already queued), or 503 when the job cannot
    # even be queued (Redis or the store unreachable) -- never a 500 or a dropped connection
    assert set(summary["trigger_answers"]) <= {"202", "503"}, summary
    assert {code for _, code, _ in report.webhooks} <= {200, 202, 503}, summary
    # 0 lost jobs: every accepted job id ended completed or failed with its reason
    accepted = report.accepted_jobs()
    assert accepted - report.jobs.keys() == set(), summary
    for job_id in accepted:
        row = report.jobs[job_id]
        assert row["status"] in TERMINAL, row
        assert row["status"] == "completed" or row["error"], row
    assert all(s.get("status") == "completed" for s in report.final_status.values()), (
        report.final_status
    )
    # 0 duplicate rows: the store holds exactly what the forge has; no delivery handled twice
    for table, expected in report.expected.items():
        assert report.stored[table] == expected, table
    assert report.duplicate_rows == {"webhook deliveries handled twice": 0}
