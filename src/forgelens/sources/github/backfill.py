"""GitHub as a ``BackfillSource``: composed from ``GitHubSource``'s own methods (its GraphQL
call, its PR paging, its HTTP client), so the backfill adds no second way to talk to GitHub.

- ``pull_request_chunk`` asks the source's PR paging for one page of ``size`` PRs (GraphQL
  pages carry reviews, comments, files and commits; overflowing PRs get follow-up queries);
- ``totals`` is one GraphQL query (``totalCount`` of pull requests and issues);
- ``recheck`` reads single PRs / issues over REST (404 or 410 = the forge no longer has it);
- ``open_issue`` is ``POST /repos/{owner}/{repo}/issues``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.errors import NotFound
from forgelens.records import repository_id
from forgelens.sources._ratelimit import best_budget
from forgelens.sources.base import ISSUES, Page, RepoRef
from forgelens.sources.github import _map as m
from forgelens.sources.github.source import GitHubSource
from forgelens.sources.http import RequestSpec

TOTALS = """query RepositoryTotals($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests { totalCount }
    issues { totalCount }
  }
  rateLimit { limit cost remaining resetAt }
}"""


class GitHubBackfill:
    def __init__(self, source: GitHubSource) -> None:
        self.source = source

    def totals(self, ref: RepoRef) -> dict[str, int]:
        data, _ = self.source.graphql(
            TOTALS, "RepositoryTotals", {"owner": ref.owner, "name": ref.name}
        )
        repo = (data or {}).get("repository") or {}
        return {
            "pull_requests": int((repo.get("pullRequests") or {}).get("totalCount") or 0),
            "issues": int((repo.get("issues") or {}).get("totalCount") or 0),
        }

    def pull_request_chunk(
        self, ref: RepoRef, resume: str | None, size: int, since: datetime | None = None
    ) -> Page:
        self.source.pr_page = max(1, min(100, size))
        pages = self.source.pull_requests(ref, since, resume)
        try:
            page = next(iter(pages), None)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
        return page if page is not None else Page([], 0)

    def budget(self) -> tuple[int | None, datetime | None]:
        return best_budget(self.source.client.tokens.credentials, "graphql")

    def recheck(self, ref: RepoRef, entity: str, numbers: list[int]) -> dict[int, list[Any]]:
        repo_id = repository_id(self.source.kind, ref.full_name)
        kind = "issues" if entity == ISSUES else "pulls"
        out: dict[int, list[Any]] = {}
        for n in numbers:
            endpoint = f"GET /repos/{{owner}}/{{repo}}/{kind}/{{number}}"
            spec = RequestSpec("GET", f"/repos/{ref.full_name}/{kind}/{n}", endpoint)
            try:
                payload = self.source.client.send(spec).json()
            except NotFound:  # 404, or 410 "This issue was deleted"
                continue
            if entity == ISSUES:
                out[n] = [m.issue(repo_id, payload)]
            else:
                out[n] = [m.pr_rest(repo_id, payload)]
        return out

    def open_issue(self, ref: RepoRef, title: str, body: str) -> str:
        spec = RequestSpec(
            "POST",
            f"/repos/{ref.full_name}/issues",
            "POST /repos/{owner}/{repo}/issues",
            json={"title": title, "body": body, "labels": ["forgelens-backfill"]},
        )
        payload = self.source.client.send(spec).json()
        return str(payload.get("html_url") or payload.get("url") or "")
