"""The demo's forge step: collect a simulated GitHub organization (on a free loopback port).

The organization's history ends at the run's "now" (``realistic.anchored``), so that the
analysis of today's windows, and the dashboards over it, show it; its pull requests have the
shape of real work (``realistic.realistic``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from forgelens.engine.collect import CollectOptions
from forgelens.engine.progress import Progress
from forgelens.engine.sync import StoreEtagCache, sync_forge
from forgelens.store import Store


def collect_simulated_org(
    store: Store,
    summary: Any,
    progress: Progress,
    *,
    org: str = "acme",
    repos: int = 3,
    prs: int = 200,
    ends: datetime | None = None,
) -> None:
    """Serve a simulated org whose history ends at ``ends`` (default: now), collect
    ``github:<org>`` from it (full, then incremental)."""
    from forgelens.config import Settings
    from forgelens.sources.github import from_options
    from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
    from forgelens.testing.forge_sim.realistic import anchored, realistic

    started = time.monotonic()
    data = generate(1, SimSize(repos=repos, prs_per_repo=prs), org=org)
    sim = ForgeSim(realistic(anchored(data, ends or datetime.now(UTC)), seed=1))
    no_token = Settings(github_token=None, github_app_id=None)  # never send a real token here
    with serve(sim) as url:
        runs = []
        for _ in range(2):  # the second run is incremental
            opts = CollectOptions(api_url=url, extra={"api": "graphql"})
            etags = StoreEtagCache(store)
            source = from_options(opts, etags, settings=no_token)
            try:
                runs.append(sync_forge(store, source, [org], opts, progress, etags=etags))
            finally:
                source.close()
    first, second = runs
    ids = [f"github:{org}/%"]
    reviews, files = store.query(
        "SELECT (SELECT count(*) FROM pr_reviews WHERE repository_id LIKE ?), "
        "(SELECT count(*) FROM pr_files WHERE repository_id LIKE ?)",
        ids * 2,
    )[0]
    summary.add("github (simulated) organization", f"github:{org} at {url}")
    summary.add("github run id", first.run_id)
    summary.add("pull requests / reviews / files", f"{first.prs} / {reviews} / {files}")
    summary.add(
        "github API requests (per PR)",
        f"{first.api_calls} ({first.api_calls / max(1, first.prs):.3f}) via GraphQL",
    )
    summary.add("incremental re-run requests", f"{second.api_calls} ({second.prs} PRs changed)")
    summary.add("github step time", f"{time.monotonic() - started:.2f}s")
