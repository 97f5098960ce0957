"""Embedding feature classifier (the ``[ai]`` extra): PRs/s classified, first run vs a cached
re-run, and accuracy on a hand-labelled sample against the rules alone.

    nice -n 10 .venv/bin/python benchmarks/ai_features.py            # 5,000 PRs
    nice -n 10 .venv/bin/python benchmarks/ai_features.py --prs 20000

Throughput: a DuckDB store of ``--prs`` merged PRs whose titles no rule is sure of (all distinct,
so the first run embeds every one), analysed with ``what-shipped`` rules-only, then with
``--ai-features`` (a fresh Milvus Lite database: model load, built-in examples and every title
embedded), then again with ``--force-refresh`` (every title a cache hit). PRs/s is the weak PRs
over the ``ai_features`` phase's wall time.

Accuracy: ``LABELLED`` (80 titles written for this benchmark, 40 features and 40 others, none of
them a built-in example; the classifier's defaults were chosen on it, so it flatters them) as
PRs without labels or branches; a PR is predicted a feature when ``feature_confidence >= 0.5``.
Writes benchmarks/results/ai_features.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from forgelens import records as R
from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, AnalyzeResult, analyze
from forgelens.analytics import _ai_runtime as rt
from forgelens.logs import configure
from forgelens.store import Store, open_store

HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)

FEATURE = [
    "Per-user notification preferences",
    "Calendar view for upcoming releases",
    "Export dashboards as PNG images",
    "Add a welcome screen for first-time users",
    "Support for GitLab merge request approvals",
    "Users can pin favourite repositories",
    "Passwordless login with magic links",
    "Dark theme for the terminal UI",
    "Group commits by author in the timeline",
    "Share a read-only link to a report",
    "Custom fields on tickets",
    "Import contacts from a CSV file",
    "Autocomplete for usernames in comments",
    "Weekly summary email for managers",
    "Audit trail for permission changes",
    "Retry button for failed deployments",
    "Mobile push notifications for mentions",
    "Sort the leaderboard by any column",
    "Preview changes before publishing a page",
    "Per-project API tokens",
    "Undo for deleted messages",
    "Map view of store locations",
    "Emoji reactions on posts",
    "Team-level spending limits",
    "Optional end-to-end encryption for chats",
    "Feature flags managed from the admin UI",
    "Inline editing of table cells",
    "Video thumbnails in the media library",
    "Public status page for the service",
    "Recurring events in the scheduler",
    "Introduce a plugin system for exporters",
    "Implement OAuth device flow",
    "Allow renaming a workspace",
    "Enable bulk deletion of branches",
    "Realtime collaboration cursors in the editor",
    "Saved searches",
    "GraphQL endpoint for projects",
    "Print-friendly layout for invoices",
    "Compare two releases side by side",
    "CLI command to rotate secrets",
]
OTHER = [
    "Crash on startup when the cache directory is missing",
    "Timeout errors when uploading large files",
    "Incorrect totals in the monthly report",
    "Fix typo in the error message",
    "Session expires too early on mobile",
    "Deadlock between the scheduler and the reaper",
    "Unicode names break the CSV export",
    "Images not loading behind a proxy",
    "Infinite redirect after logout",
    "Wrong currency symbol for Swiss francs",
    "Segfault in the image resizer on empty input",
    "Stale cache after a profile update",
    "Scroll position lost when navigating back",
    "Regression: search returns duplicates",
    "Users with apostrophes in names cannot sign up",
    "Tidy up the logging module",
    "Consolidate the three HTTP helper classes",
    "Convert the settings store to dataclasses",
    "Decouple rendering from data fetching",
    "Remove dead code from the billing service",
    "Mention the new flag in the FAQ",
    "Describe the release process in CONTRIBUTING",
    "Usage examples for the Python client",
    "Clarify licence headers",
    "Add a troubleshooting section to the docs",
    "Bump requests to 2.32",
    "Upgrade to Django 5",
    "Update the Go toolchain to 1.23",
    "Version 3.1.0",
    "Drop support for Python 3.8",
    "Tests for the rate limiter",
    "Property-based tests for the date parser",
    "Stabilise the end-to-end checkout test",
    "Mock the payment gateway in unit tests",
    "Run linters in a pre-commit workflow",
    "Deploy previews for every pull request in CI",
    "Split the CI job into build and test stages",
    "Faster startup by deferring plugin loading",
    "Stream large exports instead of buffering them",
    "Index on orders.created_at",
]
LABELLED = [(t, True) for t in FEATURE] + [(t, False) for t in OTHER]


def write_prs(store: Store, titles: list[str]) -> None:
    rid = R.repository_id("github", "bench/ai")
    records: list[Any] = [R.Repository(id=rid, source="github", full_name="bench/ai", name="ai")]
    for n, title in enumerate(titles, 1):
        at = T0 + timedelta(minutes=n)
        records.append(
            R.PullRequest(
                repository_id=rid,
                number=n,
                title=title,
                state="merged",
                created_at=at,
                updated_at=at,
                author=f"dev{n % 40}",
                merged_at=at + timedelta(hours=3),
                additions=10,
                deletions=2,
            )
        )
    store.write_records(records)


def run(store: Store, ai: bool, milvus: Path, force: bool = False) -> tuple[AnalyzeResult, float]:
    opts = AnalyzeOptions(
        target="what_shipped",
        config=AnalyticsConfig(ai_features=ai),
        force_refresh=force,
        ai_store=milvus,
    )
    started = time.perf_counter()
    result = analyze(store, opts)
    return result, time.perf_counter() - started


def synthetic_titles(n: int) -> list[str]:
    """``n`` distinct titles no rule matches, made of the labelled ones' words."""
    rng = random.Random(6)
    words = sorted({w for t, _ in LABELLED for w in t.split() if w.isalpha() and len(w) > 3})
    stems = [t for t, _ in LABELLED if not t.lower().startswith(("add", "fix", "implement"))]
    return [f"{rng.choice(stems)} in the {rng.choice(words).lower()} view ({i})" for i in range(n)]


def throughput(work: Path, prs: int) -> dict[str, Any]:
    store = open_store(f"duckdb:///{work / 'throughput.duckdb'}")
    milvus = work / "throughput.milvus.db"
    try:
        write_prs(store, synthetic_titles(prs))
        _, rules_s = run(store, ai=False, milvus=milvus, force=True)
        rt.embedder.cache_clear()  # the first run loads the model too
        first, first_s = run(store, ai=True, milvus=milvus, force=True)
        again, again_s = run(store, ai=True, milvus=milvus, force=True)
    finally:
        store.close()
    out: dict[str, Any] = {"prs": prs, "rules_only_analyze_s": round(rules_s, 3)}
    for name, res, total in (("first", first, first_s), ("cached", again, again_s)):
        phase = res.phases["ai_features"]
        out[name] = {
            **res.ai,
            "ai_phase_s": round(phase, 3),
            "ai_phase_cpu_s": round(res.phases_cpu["ai_features"], 3),
            "analyze_s": round(total, 3),
            "prs_per_s": round(res.ai["weak"] / phase, 1),
        }
    out["cached_speedup"] = round(out["cached"]["prs_per_s"] / out["first"]["prs_per_s"], 2)
    return out


def accuracy(work: Path) -> dict[str, Any]:
    store = open_store(f"duckdb:///{work / 'accuracy.duckdb'}")
    milvus = work / "accuracy.milvus.db"
    scores: dict[str, Any] = {}
    try:
        write_prs(store, [t for t, _ in LABELLED])
        for name, ai in (("rules", False), ("rules_then_embedding", True)):
            run(store, ai=ai, milvus=milvus, force=True)
            got = dict(store.query("SELECT pr_number, feature_confidence >= 0.5 FROM repo_prs"))
            rules = dict(store.query("SELECT pr_number, feature_rule FROM repo_prs"))
            pred = [bool(got[n]) for n in range(1, len(LABELLED) + 1)]
            truth = [is_feature for _, is_feature in LABELLED]
            tp = sum(p and t for p, t in zip(pred, truth, strict=True))
            fp = sum(p and not t for p, t in zip(pred, truth, strict=True))
            correct = sum(p == t for p, t in zip(pred, truth, strict=True))
            scores[name] = {
                "accuracy": round(correct / len(truth), 3),
                "feature_precision": round(tp / (tp + fp), 3) if tp + fp else None,
                "feature_recall": round(tp / sum(truth), 3),
                "by_rule": {r: list(rules.values()).count(r) for r in sorted(set(rules.values()))},
                "wrong": [
                    LABELLED[n - 1][0] for n, p in enumerate(pred, 1) if p != LABELLED[n - 1][1]
                ],
            }
    finally:
        store.close()
    scores["accuracy_ratio_to_rules"] = round(
        scores["rules_then_embedding"]["accuracy"] / scores["rules"]["accuracy"], 3
    )
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description="forgelens embedding feature classifier benchmark")
    ap.add_argument("--prs", type=int, default=5000)
    args = ap.parse_args()
    configure("WARNING", json=False)
    rt.require_extra()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="forgelens-bench-ai-"))
    try:
        acc = accuracy(work)
        speed = throughput(work, args.prs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    r, e = acc["rules"], acc["rules_then_embedding"]
    print(f"labelled sample ({len(LABELLED)} titles, 40 features):")
    print(f"  rules alone     accuracy {r['accuracy']:.3f}  feature recall {r['feature_recall']}")
    print(
        f"  + embedding     accuracy {e['accuracy']:.3f}  feature recall {e['feature_recall']}"
        f"  precision {e['feature_precision']}  ({acc['accuracy_ratio_to_rules']:.2f}x rules)"
    )
    f, c = speed["first"], speed["cached"]
    print(f"{args.prs} weak PRs:")
    print(
        f"  first run   {f['prs_per_s']:>8.1f} PRs/s  ({f['embedded']} embedded, "
        f"phase {f['ai_phase_s']} s, analyze {f['analyze_s']} s)"
    )
    print(
        f"  cached      {c['prs_per_s']:>8.1f} PRs/s  ({c['embedded']} embedded, "
        f"phase {c['ai_phase_s']} s, analyze {c['analyze_s']} s) = "
        f"{speed['cached_speedup']}x the first run"
    )
    print(f"  rules-only analyze {speed['rules_only_analyze_s']} s")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (2 shared cores)")
    out = {
        "command": " ".join(["benchmarks/ai_features.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "model": rt.MODEL_ID,
        "accuracy": acc,
        "throughput": speed,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ai_features.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
