"""Bitbucket Server / Data Center as a ``BackfillSource``: ``start`` offsets, which any
``limit`` continues (see ``sources/_backfill_rest.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.errors import ForgeError
from forgelens.records import repository_id
from forgelens.sources._backfill_rest import RestBackfill, first_page
from forgelens.sources.base import ISSUES, Page, RepoRef
from forgelens.sources.bitbucket_server.source import BitbucketServerSource


class BitbucketServerBackfill(RestBackfill[BitbucketServerSource]):
    def pull_request_chunk(
        self, ref: RepoRef, resume: str | None, size: int, since: datetime | None = None
    ) -> Page:
        limit = max(1, min(1000, size))
        page, _ = first_page(self.source._pr_pages(ref, since, resume, limit=limit), since)
        return page

    def totals(self, ref: RepoRef) -> dict[str, int]:
        path = self.source._repo_path(ref) + "/pull-requests"
        endpoint = "GET /projects/{key}/repos/{slug}/pull-requests"
        pages = self.source._pages(path, endpoint, state="ALL", limit=1000)
        return {"pull_requests": sum(len(items) for items, _ in pages), "issues": 0}

    def recheck(self, ref: RepoRef, entity: str, numbers: list[int]) -> dict[int, list[Any]]:
        if entity == ISSUES:  # no issue tracker: nothing stored to re-check, nothing deleted
            return {n: [] for n in numbers}
        return super().recheck(ref, entity, numbers)

    def _fresh(self, ref: RepoRef, entity: str, number: int) -> list[Any]:
        base = self.source._repo_path(ref) + "/pull-requests"
        repo_id = repository_id(self.source.kind, ref.full_name)
        item = self.source._get(
            f"{base}/{number}", "GET /projects/{key}/repos/{slug}/pull-requests/{id}"
        )
        return self.source._bundle(base, repo_id, item)[1]

    def open_issue(self, ref: RepoRef, title: str, body: str) -> str:
        raise ForgeError(
            f"Bitbucket Server has no issue tracker: the failure on {ref.full_name} is in the "
            "backfill status and the run's error summary"
        )
