"""Owners of runs and backfill leases (engine/_owner.py): a PID that was reused by another
process after the owner was killed is seen as the owner's death."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from forgelens.engine import _backfill_state as st
from forgelens.engine._owner import Owner, started
from forgelens.engine.runs import cleanup_stuck_runs, run_settings, start_run
from forgelens.store import Store

HOST = socket.gethostname()


def reused_pid() -> tuple[int, str]:
    """A PID now held by a live process (ours), and the start time of the killed owner that
    held it before."""
    me = os.getpid()
    mine = started(me)
    assert mine
    return me, f"{float(mine) - 3600:.2f}"  # the owner started an hour before this process


def test_owner_with_its_pid_reused_by_a_newer_process_is_gone() -> None:
    pid, killed_start = reused_pid()
    assert Owner(HOST, pid, killed_start).gone()
    assert not Owner.me().gone()
    assert not Owner(HOST, pid).gone()  # recorded without a start time: the PID decides
    assert not Owner("another-host", pid, killed_start).gone()  # its heartbeat decides


def test_owner_whose_process_ended_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = started(child.pid)
    child.wait()
    assert Owner(HOST, child.pid, start).gone()


def test_run_of_a_killed_process_whose_pid_was_reused_is_failed(store: Store) -> None:
    with start_run(store, "custom_etl", run_settings()) as run:
        pass
    pid, killed_start = reused_pid()
    store.execute(
        "UPDATE git_collection_runs SET status = 'running', completed_at = NULL, pid = ?, "
        "process_started = ?",
        [pid, killed_start],
    )
    assert cleanup_stuck_runs(store, timedelta(hours=2)) == [run.run_id]
    row = store.query_dicts("SELECT * FROM git_collection_runs")[0]
    assert row["status"] == "failed"
    assert "ended without finishing" in row["failure_reason"]


def test_a_live_runs_row_records_its_process_and_is_left_alone(store: Store) -> None:
    with start_run(store, "custom_etl", run_settings(), flush_seconds=0) as run:
        row = store.query_dicts("SELECT * FROM git_collection_runs")[0]
        assert (row["hostname"], row["pid"]) == (HOST, os.getpid())
        assert row["process_started"] == started(os.getpid())
        assert cleanup_stuck_runs(store, timedelta(hours=2)) == []
        assert run.status == "running"


def test_chunk_of_a_killed_backfiller_whose_pid_was_reused_is_recovered(store: Store) -> None:
    pid, killed_start = reused_pid()
    owner = f"{HOST}:{pid}:{killed_start}:abcd1234"
    now = datetime.now(UTC)
    repo = "github:acme/big"
    store.upsert(
        "backfill_state",
        [
            {
                "repository_id": repo,
                "status": "active",
                "total_prs": 10,
                "processed_prs": 0,
                "next_chunk_number": 2,
                "chunk_size": 5,
                "lease_owner": owner,
                "lease_until": now + timedelta(minutes=30),
                "updated_at": now,
            }
        ],
    )
    store.upsert(
        "backfill_chunks",
        [
            {
                "repository_id": repo,
                "chunk_number": 1,
                "status": "processing",
                "worker": owner,
                "started_at": now - timedelta(minutes=1),
            }
        ],
    )
    recovered = st.recover_stuck(store, now, timedelta(minutes=30))
    assert [r["chunk_number"] for r in recovered] == [1]
    assert store.query("SELECT lease_owner FROM backfill_state") == [(None,)]


def test_a_live_backfillers_lease_is_kept(store: Store) -> None:
    owner = st.worker_id()
    assert owner.startswith(f"{HOST}:{os.getpid()}:{started(os.getpid())}:")
    now = datetime.now(UTC)
    store.upsert(
        "backfill_chunks",
        [
            {
                "repository_id": "github:acme/big",
                "chunk_number": 1,
                "status": "processing",
                "worker": owner,
                "started_at": now,
            }
        ],
    )
    assert st.recover_stuck(store, now, timedelta(minutes=30)) == []
