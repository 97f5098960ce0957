"""The REST half of the GitHub source: pull requests (one list page, then per PR its details,
reviews, review comments, conversation comments, files and commits) and issues with comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from forgelens.errors import NotFound
from forgelens.records import repository_id
from forgelens.sources.base import PrBundle, RepoRef
from forgelens.sources.github import _map as m
from forgelens.sources.github._base import (
    _BAD_ITEM,
    FILE_CAP,
    GitHubBase,
    _finish,
    _issue_item,
    _older,
    log,
)


class RestFetch(GitHubBase):
    def _rest_pr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        base = f"/repos/{ref.full_name}/pulls"
        for items, nxt in self._pages(
            base,
            "GET /repos/{owner}/{repo}/pulls",
            resume,
            state="all",
            sort="updated",
            direction="desc",
        ):
            out: list[tuple[datetime, list[Any]]] = []
            errors = 0
            for item in items:
                if _older(item.get("updated_at") if isinstance(item, dict) else None, since):
                    yield out, errors, None  # reached the watermark: nothing older is needed
                    return
                try:
                    n = int(item["number"])
                    full = self._get(f"{base}/{n}", "GET /repos/{owner}/{repo}/pulls/{number}")
                    out.append(self._rest_bundle(ref, repo_id, full))
                except (*_BAD_ITEM, NotFound) as exc:  # NotFound: removed since it was listed
                    errors += 1
                    log.warning("pull request skipped", repository=ref.full_name, error=repr(exc))
            yield out, errors, nxt

    def _rest_list(self, path: str, endpoint: str, cap: int | None = None) -> list[Any]:
        out: list[Any] = []
        for items, _ in self._pages(path, endpoint):
            out.extend(i for i in items if isinstance(i, dict))
            if cap is not None and len(out) >= cap:
                return out[:cap]
        return out

    def _rest_bundle(
        self, ref: RepoRef, repo_id: str, p: dict[str, Any]
    ) -> tuple[datetime, list[Any]]:
        pr = m.pr_rest(repo_id, p)
        n, base = pr.number, f"/repos/{ref.full_name}"
        b = PrBundle(pr)
        people = [m.person(p.get("user")), m.person(p.get("merged_by"))]
        for r in self._rest_list(
            f"{base}/pulls/{n}/reviews", "GET /repos/{owner}/{repo}/pulls/{number}/reviews"
        ):
            b.reviews.append(m.review(repo_id, n, r))
            people.append(m.person(r.get("user")))
        for c in self._rest_list(
            f"{base}/pulls/{n}/comments", "GET /repos/{owner}/{repo}/pulls/{number}/comments"
        ):
            b.comments.append(m.comment(repo_id, n, c, "review"))
            people.append(m.person(c.get("user")))
        for c in self._rest_list(
            f"{base}/issues/{n}/comments", "GET /repos/{owner}/{repo}/issues/{number}/comments"
        ):
            b.comments.append(m.comment(repo_id, n, c, "conversation"))
            people.append(m.person(c.get("user")))
        files = self._rest_list(
            f"{base}/pulls/{n}/files", "GET /repos/{owner}/{repo}/pulls/{number}/files", FILE_CAP
        )
        b.files = [m.pr_file(repo_id, n, f) for f in files]
        commits = self._rest_list(
            f"{base}/pulls/{n}/commits", "GET /repos/{owner}/{repo}/pulls/{number}/commits"
        )
        b.commits = [m.pr_commit(repo_id, n, c) for c in commits]
        return pr.updated_at, _finish(b, people)

    def _rest_issue_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "desc"}
        if since is not None:
            params["since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        endpoint = "GET /repos/{owner}/{repo}/issues/{number}/comments"
        for items, nxt in self._pages(
            f"/repos/{ref.full_name}/issues", "GET /repos/{owner}/{repo}/issues", resume, **params
        ):
            out: list[tuple[datetime, list[Any]]] = []
            errors = 0
            for i in items:
                if not isinstance(i, dict) or "pull_request" in i:
                    continue  # pull requests are listed among issues
                if _older(i.get("updated_at"), since):  # read by an earlier pass: stop
                    yield out, errors, None
                    return
                try:
                    issue = m.issue(repo_id, i)
                    path = f"/repos/{ref.full_name}/issues/{issue.number}/comments"
                    comments = self._rest_list(path, endpoint) if issue.comments_count else []
                    out.append(_issue_item(repo_id, issue, i, comments))
                except (*_BAD_ITEM, NotFound):  # NotFound: removed since it was listed
                    errors += 1
            yield out, errors, nxt
