"""What recording its own run costs forgelens, and how close ``--exec`` sampling is to the truth.

1. ``collect --full`` of a generated repository, plain vs wrapped in ``recorded(...)`` (the
   self-recording that ``forgelens collect`` does), alternated in the same run: median seconds
   of each and their ratio (reference: plain collect).
2. The cost of one ``TreeSampler.sample()`` of this process, in microseconds.
3. ``run_and_measure`` of a child that holds a known amount of memory: measured peak / truth.

Usage: nice -n 10 .venv/bin/python benchmarks/pipeline_self_record.py [--commits 400] [--rounds 5]
Writes benchmarks/results/pipeline_self_record.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forgelens.engine.collect import CollectOptions, collect
from forgelens.pipeline_runs.execute import run_and_measure
from forgelens.pipeline_runs.sampler import TreeSampler
from forgelens.pipeline_runs.self_record import recorded
from forgelens.store import open_store

RESULTS = Path(__file__).parent / "results" / "pipeline_self_record.json"
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def make_repo(path: Path, commits: int) -> None:
    """A repository of ``commits`` commits touching three files each, via fast-import."""
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, env=ENV)
    lines = []
    for i in range(commits):
        lines.append(f"commit refs/heads/main\nmark :{i + 1}\n")
        lines.append(f"committer Bench <bench@example.com> {1_700_000_000 + i * 60} +0000\n")
        msg = f"change {i}"
        lines.append(f"data {len(msg)}\n{msg}\n")
        if i:
            lines.append(f"from :{i}\n")
        for f in range(3):
            body = f"line {i}\n" * (f + 1)
            lines.append(f"M 644 inline src/file_{(i + f) % 40}.txt\ndata {len(body)}\n{body}")
        lines.append("\n")
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=path,
        input="".join(lines).encode(),
        check=True,
        env=ENV,
    )
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True, env=ENV)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory-mb", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = root / "repo"
        make_repo(repo, args.commits)
        store = open_store(f"duckdb:///{root / 'bench.duckdb'}")
        opts = CollectOptions(full=True, jobs=1, cache_dir=root / "cache")
        plain: list[float] = []
        wrapped: list[float] = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            collect(store, [f"git:{repo}"], opts)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            recorded(store, "collect", lambda: collect(store, [f"git:{repo}"], opts))
            wrapped.append(time.perf_counter() - t0)
        own_rows = store.query("SELECT count(*) FROM pipeline_runs")[0][0]
        store.close()

    sampler = TreeSampler(os.getpid(), interval=60)
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        sampler.sample()
    sample_us = (time.perf_counter() - t0) / n * 1e6

    hold = (
        "import time\n"
        f"b = bytearray({args.memory_mb} * 1024 * 1024)\n"
        "for i in range(0, len(b), 4096): b[i] = 1\n"
        "time.sleep(2)\n"
    )
    baseline = run_and_measure([sys.executable, "-c", "import time; time.sleep(2)"], interval=0.25)
    loaded = run_and_measure([sys.executable, "-c", hold], interval=0.25)
    base_mb = baseline.obj["resource_metrics"]["memory"]["peak_mb"]
    peak_mb = loaded.obj["resource_metrics"]["memory"]["peak_mb"]

    figures = {
        "commits": args.commits,
        "rounds": args.rounds,
        "collect_plain_median_s": round(statistics.median(plain), 4),
        "collect_recorded_median_s": round(statistics.median(wrapped), 4),
        "self_record_overhead_ratio": round(
            statistics.median(wrapped) / statistics.median(plain), 3
        ),
        "own_rows_written": own_rows,
        "sample_cost_us": round(sample_us, 1),
        "exec_memory_truth_mb": args.memory_mb,
        "exec_interpreter_baseline_mb": base_mb,
        "exec_measured_peak_mb": peak_mb,
        "exec_peak_over_truth_plus_baseline": round(peak_mb / (args.memory_mb + base_mb), 3),
    }
    for key, value in figures.items():
        print(f"{key:40} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
