"""The main job ``make demo`` runs: collect this repository (and a simulated forge), analyse,
and summarise. Each step adds lines to the summary."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.engine.forge_demo import collect_simulated_org
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.engine.progress import Progress
from forgelens.errors import SourceError
from forgelens.store import Store


@dataclass
class DemoSummary:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        self.lines.append((label, str(value)))


def this_repository(start: Path | None = None) -> Path:
    """The git work tree forgelens runs from (the current directory's, else the package's)."""
    for where in (start or Path.cwd(), Path(__file__).resolve().parent):
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=where,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return Path(done.stdout.strip())
    raise SourceError("the demo needs a git checkout of forgelens: run it from the clone")


def run_demo(
    store: Store, opts: GitCollectOptions, progress: Progress, repo: Path | None = None
) -> DemoSummary:
    summary = DemoSummary()
    started = time.monotonic()
    path = repo or this_repository()
    result = collect_git(store, [str(path)], opts, progress)
    totals = store.query(
        "SELECT count(*), count(DISTINCT lower(author_email)) FROM commits WHERE repository_id = ?",
        [result.repositories[0]],
    )[0]
    files = store.query(
        "SELECT count(DISTINCT path) FROM commit_files WHERE repository_id = ?",
        [result.repositories[0]],
    )[0][0]
    summary.add("git repository", path)
    summary.add("git run id", result.run_id)
    summary.add("commits (new this run)", f"{totals[0]} ({result.commits})")
    summary.add("authors", totals[1])
    summary.add("files touched", files)
    collect_simulated_org(store, summary, progress)  # GitHub step (engine/forge_demo.py)
    analysed = analyze(store, AnalyzeOptions(target="all"))  # forgelens analyze all
    shipped = store.query(
        "SELECT count(*), count(*) FILTER (WHERE high_risk), "
        "count(*) FILTER (WHERE feature_confidence >= 0.5) FROM repo_prs"
    )[0]
    summary.add(
        "analyze all (PRs, high-risk, features)", f"{shipped[0]}, {shipped[1]}, {shipped[2]}"
    )
    deployed = store.query(
        "SELECT count(*), count(*) FILTER (WHERE failed) FROM dora_deployments "
        "WHERE counted AND environment_kind = 'production'"
    )[0]
    summary.add("production deployments (failed)", f"{deployed[0]} ({deployed[1]})")
    summary.add("analyze all time", f"{analysed.seconds:.2f}s ({analysed.prs} PRs recomputed)")
    summary.add(
        "dashboard",
        "run `forgelens serve` and open http://127.0.0.1:8000/engineering-lens "
        "(sign in with a key from `forgelens keys create --role viewer`)",
    )
    summary.add("time taken", f"{time.monotonic() - started:.2f}s")
    return summary
