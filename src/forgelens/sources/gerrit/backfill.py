"""Gerrit as a ``BackfillSource``: resumable chunks of changes.

A chunk is one query page, most recently updated first; its token is the paginator's
``<before>|<S>`` (``_paging``): an offset counts changes, so a chunk of any size continues where
the last one ended, and past the index's offset cap the next window starts ``before:`` the last
change read. A change updated meanwhile moves to the front: the offsets shift by one, so one
change may be read twice (the upserts make that harmless) and none is skipped. ``totals``
counts the project's changes 500 a page (Gerrit reports no total); ``recheck`` re-reads each
change as ``{project}~{number}`` (404 = gone); Gerrit has no issue tracker to report a failure
in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.errors import ForgeError
from forgelens.sources._backfill_rest import RestBackfill, first_page
from forgelens.sources.base import Page, RepoRef
from forgelens.sources.gerrit import _map as m
from forgelens.sources.gerrit.source import (
    CHANGES_ENDPOINT,
    OPTIONS,
    PAGE_SIZE,
    GerritSource,
    query_value,
)

COUNT_PAGE = 500  # the default query limit of a Gerrit user


class GerritBackfill(RestBackfill[GerritSource]):
    issue_tracker = False

    def pull_request_chunk(
        self, ref: RepoRef, resume: str | None, size: int, since: datetime | None = None
    ) -> Page:
        n = max(1, min(PAGE_SIZE, size))
        page, _ = first_page(self.source._change_pages(ref, since, resume, n=n), since)
        return page

    def totals(self, ref: RepoRef) -> dict[str, int]:
        q = f"project:{query_value(self.source.project(ref))}"
        pages = self.source._pages("/changes/", CHANGES_ENDPOINT, q=q, n=COUNT_PAGE)
        return {"pull_requests": sum(len(items) for items, _ in pages), "issues": 0}

    def _fresh(self, ref: RepoRef, entity: str, number: int) -> list[Any]:
        project = self.source.project(ref)
        change = self.source._get(
            f"/changes/{m.project_id(project)}~{number}", "GET /changes/{id}", o=list(OPTIONS)
        )
        return self.source._bundle(project, change)[1]

    def open_issue(self, ref: RepoRef, title: str, body: str) -> str:
        raise ForgeError(
            f"Gerrit has no issue tracker: the failure on gerrit:{self.source.project(ref)} is in "
            "the backfill status and the run's error summary"
        )
