"""AI attribution speed (issue #19), one run:

    nice -n 10 .venv/bin/python benchmarks/ai_attribution.py                 # the goals' sizes
    nice -n 10 .venv/bin/python benchmarks/ai_attribution.py --commits 20000 --prs 4000 \\
        --mine-commits 5000                                                  # while developing

(a) git mining with trailer parsing against the same mining without it, on the synthetic
    100,000-commit repository (benchmarks/synthetic_repo.py) of which 20 % of the messages end
    in a trailer block: ``sources.git.mine`` consumed whole, jobs 1, rounds alternated, the
    median of each; goal ratio <= 1.05;
(b) ``analyze ai`` attribution over a DuckDB store of ``--commits`` commits and ``--prs`` PRs
    (3 commits each in ``pr_commits``), 1 in 5 with a marker of some kind: goal <= 10 s for
    1,000,000 commits and 200,000 PRs, and a plain ``SELECT count(*)`` scan of the messages in
    the same run as the reference;
(c) the comparisons (``ai_impact_weekly``) over the same store's PRs: goal <= 5 s.

Prints the figures and writes ``benchmarks/results/ai_attribution.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic_repo import build_repo

from forgelens.sources import git as gitsrc

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "results" / "ai_attribution.json"
GOAL_MINING_RATIO = 1.05
GOAL_ATTRIBUTION_SECONDS = 10.0
GOAL_COMPARISON_SECONDS = 5.0
TRAILER_SHARE = 0.2


def prepare_repo(commits: int) -> Path:
    repo = WORK / f"synthetic-{commits}-trailers.git"
    if (repo / "ready").exists():
        return repo
    if repo.exists():
        subprocess.run(["rm", "-rf", str(repo)], check=True)
    started = time.monotonic()
    build_repo(repo, commits, trailer_share=TRAILER_SHARE)
    subprocess.run(["git", "gc", "--quiet"], cwd=repo, check=True)
    (repo / "ready").write_text("built\n")
    print(f"built {repo} in {time.monotonic() - started:.1f}s")
    return repo


def time_mining(path: Path, trailers: bool) -> tuple[float, int, int]:
    """(seconds, commits, co-author rows) of mining the whole history once."""
    repo = gitsrc.open_repo(str(path), WORK / "cache")
    opts = gitsrc.MineOptions(trailers=trailers)
    started = time.perf_counter()
    commits = coauthors = 0
    for batch in gitsrc.mine(repo, opts):
        commits += len(batch)
        coauthors += batch.coauthor_table(0, "git").num_rows
    return time.perf_counter() - started, commits, coauthors


def bench_mining(commits: int, rounds: int) -> dict[str, Any]:
    repo = prepare_repo(commits)
    time_mining(repo, False)  # warm the page cache
    with_t: list[float] = []
    without: list[float] = []
    found = 0
    for _ in range(rounds):
        secs, _n, _ = time_mining(repo, False)
        without.append(secs)
        secs, n, found = time_mining(repo, True)
        with_t.append(secs)
    ratio = statistics.median(with_t) / statistics.median(without)
    out = {
        "commits": n,
        "coauthor_rows": found,
        "trailer_share": TRAILER_SHARE,
        "rounds": rounds,
        "without_trailers_seconds": [round(s, 3) for s in without],
        "with_trailers_seconds": [round(s, 3) for s in with_t],
        "ratio_with_vs_without": round(ratio, 4),
        "goal_ratio": GOAL_MINING_RATIO,
        "goal_met": ratio <= GOAL_MINING_RATIO,
    }
    print(
        f"mining {n:,} commits: without trailers {statistics.median(without):.2f}s, "
        f"with {statistics.median(with_t):.2f}s: ratio {ratio:.3f} (goal <= {GOAL_MINING_RATIO})"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mine-commits", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=1_000_000)
    parser.add_argument("--prs", type=int, default=200_000)
    parser.add_argument("--skip-mining", action="store_true")
    args = parser.parse_args()
    # a section skipped this run keeps its figures of the last run that measured it
    result: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result |= {
        "benchmark": "ai_attribution",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }
    if not args.skip_mining:
        result["mining"] = bench_mining(args.mine_commits, args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
