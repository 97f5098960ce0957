"""Crash safety: ``kill -9`` of a ``forgelens backfill`` process at a random moment, 20 times;
each time the next invocations resume until done and the tables equal those of an
uninterrupted backfill, no chunk is left ``processing`` and no chunk number repeats."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from forgelens.engine.backfill import backfill
from forgelens.store import Store, open_store
from forgelens.testing.forge_sim import SimRequest
from tests.engine.backfillhelp import big_sim, chunks, options, repo_id, snapshot, sources, state
from tests.sources.simhelp import running

TRIALS = int(os.environ.get("FL_CRASH_TRIALS", "20"))
PRS, SIZE = 60, 10
ROOT = Path(__file__).resolve().parents[2]


def _victim(procs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])  # + a tree under test
    env = {**os.environ, "LOG_LEVEL": "WARNING", "PYTHONPATH": path}
    env.pop("GITHUB_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine._backfill_victim"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )
    procs.append(proc)
    return proc


def _until_done(store: Store, url: str, repo: str) -> None:
    for _ in range(20):
        rows = store.query("SELECT status FROM backfill_state WHERE repository_id = ?", [repo])
        if rows == [("completed",)]:
            return  # (no row: the kill came before the backfill was even recorded)
        backfill(store, options(repository_id=repo, chunk_size=SIZE, max_chunks=100), sources(url))
    raise AssertionError("backfill did not complete")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_9_at_random_moments_then_resume_converges(tmp_path: Path) -> None:
    rng = random.Random(20)
    sim = big_sim(PRS)
    repo = repo_id(sim)
    target = {"pid": 0, "at": -1, "seen": 0}
    lock = threading.Lock()

    def maybe_kill(req: SimRequest) -> None:
        with lock:
            if not target["pid"] or b'"PullRequests"' not in req.body:
                return
            target["seen"] += 1
            if target["seen"] != target["at"]:
                return
            pid, target["pid"] = target["pid"], 0
        # a random moment around this request: before it is answered, or while its chunk is
        # being written
        timer = threading.Timer(rng.uniform(0, 0.05), os.kill, (pid, signal.SIGKILL))
        timer.start()

    sim.hooks.append(maybe_kill)
    with running(sim) as url:
        base = tmp_path / "base.duckdb"
        seed = open_store(f"duckdb:///{base}")
        seed.close()
        reference = open_store(f"duckdb:///{tmp_path}/reference.duckdb")
        _until_done_from_scratch(reference, url, repo)
        expected = snapshot(reference)
        reference.close()

        procs: list[subprocess.Popen[str]] = []
        killed = 0
        try:
            spare = _victim(procs)
            for trial in range(TRIALS):
                victim, spare = spare, _victim(procs)  # the next one warms up while this one runs
                assert victim.stdout is not None
                assert victim.stdin is not None
                assert victim.stdout.readline().strip() == "ready"
                db = tmp_path / f"trial{trial}.duckdb"
                shutil.copy(base, db)
                with lock:
                    target.update(pid=victim.pid, at=rng.randint(1, PRS // SIZE), seen=0)
                args = [
                    "backfill",
                    "--repository-id",
                    repo,
                    "--chunk-size",
                    str(SIZE),
                    "--max-chunks",
                    "100",
                    "--no-sweep",
                    "--api-url",
                    url,
                    "--db",
                    f"duckdb:///{db}",
                ]
                victim.stdin.write(json.dumps(args) + "\n")
                victim.stdin.flush()
                code = victim.wait(timeout=60)
                victim.stdin.close()
                victim.stdout.close()
                killed += code == -signal.SIGKILL
                with lock:
                    target["pid"] = 0
                store = open_store(f"duckdb:///{db}")
                try:
                    _until_done(store, url, repo)
                    assert snapshot(store) == expected, f"trial {trial}"
                    rows = chunks(store, repo)
                    assert not [r for r in rows if r["status"] == "processing"]
                    numbers = [r["chunk_number"] for r in rows]
                    assert len(numbers) == len(set(numbers))
                    assert (
                        sum(r["prs_processed"] for r in rows if r["status"] == "completed") == PRS
                    )
                    assert state(store, repo)["processed_prs"] == PRS
                finally:
                    store.close()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                for pipe in (proc.stdin, proc.stdout):
                    if pipe is not None:
                        pipe.close()
    assert killed >= TRIALS - 2  # (a kill timed after the last chunk finds the process gone)


def _until_done_from_scratch(store: Store, url: str, repo: str) -> None:
    backfill(store, options(repository_id=repo, chunk_size=SIZE, max_chunks=100), sources(url))
    assert state(store, repo)["status"] == "completed"
