"""``forgelens report --html``: the dashboard views in one self-contained HTML file (Chart.js,
styles and data inlined; no server, no network) to share.

    html = build_report(store, repos=["acme/api"], window=30)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from forgelens.analytics import reads
from forgelens.errors import BadInput
from forgelens.store import Store


def _dashboards() -> Any:
    try:
        from forgelens.service.dashboards import render
    except ImportError as exc:
        raise BadInput("the HTML report needs jinja2: pip install 'forgelens[service]'") from exc
    return render


def build_report(store: Store, *, repos: Sequence[str] = (), window: int = 30) -> str:
    """The views of every dashboard (per repository in ``repos``, else all) as one HTML page."""
    render = _dashboards()
    known = set(reads.analysed_repos(store))
    for repo in repos:
        if repo not in known:
            choices = ", ".join(sorted(known)[:10]) or "none yet: run `forgelens analyze all`"
            raise BadInput(f"no analysed repository {repo!r}: use one of {choices}")
    scoped = ("engineering-lens", "what-shipped", "delivery", "ai-impact")
    views: list[dict[str, Any]] = []
    for repo in repos or [""]:
        for name in scoped:
            params = {"repo": repo, "window": str(window), "days": str(window)}
            views.append(render.PAGES[name].build(store, params))
    for name in ("runs", "pipeline-runs"):
        views.append(render.PAGES[name].build(store, {}))
    for i, view in enumerate(views):
        view["anchor"] = f"{view['page']}-{i}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    html: str = render.render_views(
        views,
        title=f"forgelens report {stamp}",
        inline=True,
        nav=[(v["anchor"], _nav_label(v, render, len(repos) > 1)) for v in views],
        notice=f"Generated {stamp} from the forgelens store; "
        "every chart's numbers are under “Show the numbers” and as CSV.",
    )
    return html


def _nav_label(view: dict[str, Any], render: Any, with_repo: bool) -> str:
    label: str = render.PAGES[view["page"]].label
    repo = next((f["value"] for f in view["filters"] if f["name"] == "repo"), "")
    return f"{label} ({repo})" if with_repo and repo else label
