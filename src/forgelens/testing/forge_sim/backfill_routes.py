"""Extra GitHub endpoints the backfill needs, kept apart from ``github.py``: one issue by
number (``GET /repos/{o}/{r}/issues/{n}``), opening an issue (``POST /repos/{o}/{r}/issues``,
recorded in ``renderer.opened_issues``) and the ``RepositoryTotals`` GraphQL operation.
``install`` adds them to a GitHub renderer; other renderers are left alone.
"""

from __future__ import annotations

import re
from typing import Any

from forgelens.testing.forge_sim._rest import new_issue
from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import SimRepo

REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


def install(renderer: Any) -> None:
    routes = getattr(renderer, "routes", None)
    graphql = getattr(renderer, "graphql", None)
    if routes is None or graphql is None or hasattr(renderer, "opened_issues"):
        return
    renderer.opened_issues = []

    def one_issue(req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        repo = renderer.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        issue = repo.issue(int(n))
        if issue is None:
            missing: SimResponse = renderer.not_found()
            return missing
        return SimResponse(200, renderer.issue_json(repo, issue))

    def open_issue(req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = renderer.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        body = req.json() or {}
        if not isinstance(body, dict) or not body.get("title"):
            return SimResponse(422, {"message": "Validation Failed: title is required"})
        labels = [str(x) for x in body.get("labels") or []]
        issue = new_issue(repo, str(body["title"]), str(body.get("body") or ""), labels)
        renderer.opened_issues.append((repo.full_name, issue.title, issue.body))
        return SimResponse(201, renderer.issue_json(repo, issue))

    def totals(repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        data = {
            "repository": {
                "pullRequests": {"totalCount": len(repo.prs)},
                "issues": {"totalCount": len(repo.issues)},
            }
        }
        return data, 1

    routes.append(("GET", re.compile(REPO + r"/issues/(?P<n>\d+)$"), one_issue))
    routes.append(("POST", re.compile(REPO + r"/issues$"), open_issue))
    graphql.op_RepositoryTotals = totals
