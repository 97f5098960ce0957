"""Local git mining speed against its floor, one ``git log`` (issue #2).

    nice -n 10 .venv/bin/python benchmarks/git_mining.py            # 100,000 commits
    nice -n 10 .venv/bin/python benchmarks/git_mining.py --commits 5000   # while developing

In one run, on a synthetic repository built with ``git fast-import`` (cached under
``benchmarks/work/``):

(a) ``git log`` with the miner's exact options to /dev/null: the floor;
(b) ``forgelens collect git:REPO`` into a fresh DuckDB file with ``--jobs 1``;
(c) the same with ``--jobs 2``; its rows must equal (b)'s;
(d) PyDriller over the first 5,000 commits, in commits/s, against ours.

Peak RSS of (b) is sampled (psutil) over the collector and its git children. Prints the
figures and writes ``benchmarks/results/git_mining.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic_repo import cached_repo

from forgelens.sources.git import source as gitsrc

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "results" / "git_mining.json"
GOAL_ONE_JOB = 1.2
STRETCH_TWO_JOBS = 0.7
RSS_LIMIT_MB = 300


def prepare(commits: int) -> Path:
    return cached_repo(WORK, commits)


def children_cpu() -> float:
    """CPU seconds (user + sys) of every finished child process and its descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_floor(repo: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of the miner's ``git log`` to /dev/null."""
    revs = ["--branches", "--tags", "--remotes"]
    cmd = gitsrc._log_cmd(False, revs)
    with open(os.devnull, "wb") as sink:
        cpu = children_cpu()
        started = time.monotonic()
        subprocess.run(
            cmd, cwd=repo, stdin=subprocess.DEVNULL, stdout=sink, check=True, env=gitsrc._GIT_ENV
        )
        return time.monotonic() - started, children_cpu() - cpu


class RssSampler(threading.Thread):
    """Peak RSS of a process and of its whole tree, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak_self = self.peak_tree = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                own = self.proc.memory_info().rss
                tree = own
                for child in self.proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        tree += child.memory_info().rss
            except psutil.Error:
                break
            self.peak_self = max(self.peak_self, own)
            self.peak_tree = max(self.peak_tree, tree)
            self.done.wait(0.05)


def time_collect(repo: Path, db: Path, jobs: int) -> dict[str, Any]:
    for leftover in (db, db.with_name(db.name + ".wal")):
        leftover.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "forgelens", "collect", f"git:{repo}", f"--jobs={jobs}"]
    cmd.append(f"--db=duckdb:///{db}")
    env = {**os.environ, "FORGELENS_CACHE_DIR": str(WORK / "cache"), "LOG_LEVEL": "WARNING"}
    cpu = children_cpu()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    sampler = RssSampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"collect failed: {err.decode()[-500:]}")
    return {
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(children_cpu() - cpu, 3),
        "peak_rss_mb": round(sampler.peak_self / 2**20, 1),
        "peak_rss_tree_mb": round(sampler.peak_tree / 2**20, 1),
    }


def same_rows(a: Path, b: Path) -> dict[str, Any]:
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    out: dict[str, Any] = {}
    for table in ("commits", "commit_files"):
        n = con.execute(f"SELECT count(*) FROM a.{table}").fetchone()
        diff = con.execute(
            f"SELECT count(*) FROM ((SELECT * EXCLUDE (_version) FROM a.{table} "
            f"EXCEPT ALL SELECT * EXCLUDE (_version) FROM b.{table}) UNION ALL "
            f"(SELECT * EXCLUDE (_version) FROM b.{table} "
            f"EXCEPT ALL SELECT * EXCLUDE (_version) FROM a.{table}))"
        ).fetchone()
        out[table] = {"rows": n[0] if n else 0, "differing": diff[0] if diff else -1}
    con.close()
    return out


def pydriller_rate(repo: Path, commits: int) -> float | None:
    try:
        from pydriller import Repository
    except ImportError:
        print("PyDriller is not installed: pip install -e '.[bench]' to compare with it")
        return None
    started = time.monotonic()
    n = 0
    for commit in Repository(str(repo), only_in_branch="main").traverse_commits():
        for mod in commit.modified_files:
            _ = (mod.new_path, mod.old_path, mod.added_lines, mod.deleted_lines, mod.change_type)
        _ = (commit.author.email, commit.committer_date, commit.merge, commit.msg)
        n += 1
        if n >= commits:
            break
    return n / (time.monotonic() - started)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds of (a), (b), (c)")
    parser.add_argument("--pydriller-commits", type=int, default=5_000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    repo = prepare(args.commits)
    count = int(
        subprocess.run(
            ["git", "rev-list", "--count", "--all"], cwd=repo, capture_output=True, check=True
        ).stdout
    )
    time_floor(repo)  # warm the page cache so every measurement starts equal
    rounds: list[dict[str, Any]] = []
    for n in range(args.rounds):
        floor, floor_cpu = time_floor(repo)
        one = time_collect(repo, WORK / "jobs1.duckdb", 1)
        two = time_collect(repo, WORK / "jobs2.duckdb", 2)
        rounds.append(
            {
                "floor_seconds": round(floor, 3),
                "floor_cpu_seconds": round(floor_cpu, 3),
                "jobs1": one,
                "jobs2": two,
                "ratio_jobs1": round(one["seconds"] / floor, 3),
                "ratio_jobs2": round(two["seconds"] / floor, 3),
                "cpu_ratio_jobs1": round(one["cpu_seconds"] / floor_cpu, 3),
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
        print(
            f"round {n + 1}: (a) git log {floor:6.2f}s cpu {floor_cpu:6.2f}s | "
            f"(b) --jobs 1 {one['seconds']:6.2f}s cpu {one['cpu_seconds']:6.2f}s | "
            f"(c) --jobs 2 {two['seconds']:6.2f}s | b/a {one['seconds'] / floor:.2f} "
            f"c/a {two['seconds'] / floor:.2f} | load {os.getloadavg()[0]:.1f}"
        )
    ratio1 = median([r["ratio_jobs1"] for r in rounds])
    ratio2 = median([r["ratio_jobs2"] for r in rounds])
    cpu_ratio1 = median([r["cpu_ratio_jobs1"] for r in rounds])
    floor = median([r["floor_seconds"] for r in rounds])
    one_s = median([r["jobs1"]["seconds"] for r in rounds])
    peak = max(r["jobs1"]["peak_rss_mb"] for r in rounds)
    peak_tree = max(r["jobs1"]["peak_rss_tree_mb"] for r in rounds)
    print(f"median b/a {ratio1:.2f} (goal <= {GOAL_ONE_JOB}), CPU b/a {cpu_ratio1:.2f}")
    print(f"median c/a {ratio2:.2f} (stretch <= {STRETCH_TWO_JOBS})")
    rows = same_rows(WORK / "jobs1.duckdb", WORK / "jobs2.duckdb")
    identical = all(t["differing"] == 0 for t in rows.values())
    print(f"rows (b) vs (c): {rows} -> {'identical' if identical else 'DIFFERENT'}")
    ours = count / one_s
    theirs = pydriller_rate(repo, min(args.pydriller_commits, count))
    if theirs:
        print(f"(d) PyDriller {theirs:,.0f} commits/s vs ours {ours:,.0f}: x{ours / theirs:,.0f}")
    print(
        f"peak RSS of (b): collector {peak} MB, with its git children {peak_tree} MB "
        f"(limit {RSS_LIMIT_MB} MB)"
    )
    result = {
        "benchmark": "git_mining",
        "commits": count,
        "commit_files": rows["commit_files"]["rows"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
        "floor_git_log_seconds": floor,
        "collect_jobs1_seconds": one_s,
        "collect_jobs2_seconds": median([r["jobs2"]["seconds"] for r in rounds]),
        "ratio_jobs1_vs_floor": ratio1,
        "ratio_jobs2_vs_floor": ratio2,
        "cpu_ratio_jobs1_vs_floor": cpu_ratio1,
        "goal_jobs1_ratio": GOAL_ONE_JOB,
        "stretch_jobs2_ratio": STRETCH_TWO_JOBS,
        "jobs2_rows_identical": identical,
        "rows": rows,
        "ours_commits_per_second": round(ours, 1),
        "pydriller_commits": min(args.pydriller_commits, count),
        "pydriller_commits_per_second": round(theirs, 1) if theirs else None,
        "speedup_vs_pydriller": round(ours / theirs, 1) if theirs else None,
        "peak_rss_mb": peak,
        "peak_rss_tree_mb": peak_tree,
        "rss_limit_mb": RSS_LIMIT_MB,
        "rss_within_limit": peak < RSS_LIMIT_MB,
        "rounds": rounds,
        "command": " ".join(["nice -n 10 benchmarks/git_mining.py", *sys.argv[1:]]),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS}")
    if not identical:
        raise SystemExit("--jobs 2 rows differ from --jobs 1")


if __name__ == "__main__":
    main()
