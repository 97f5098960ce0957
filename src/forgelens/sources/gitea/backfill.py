"""Gitea / Forgejo as a ``BackfillSource``: resumable chunks of pull requests.

The pull request list has no update-time filter, so a chunk is one listing page, most recently
updated first; its token is ``page@limit``. A later chunk keeps the page size of the pass it
continues (pages are counted in the size the server served, see ``_paging``), whatever size the
engine asks for then. A pull request updated meanwhile moves to the front: the next pages shift
by one, so one pull request may be read twice (the upserts make that harmless) and none is
skipped. ``totals`` are the ``X-Total-Count`` headers; ``recheck`` re-reads items by number
(404 = gone); ``open_issue`` opens a Gitea issue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.errors import ForgeError, NotFound
from forgelens.records import repository_id
from forgelens.sources._backfill_rest import RestBackfill, first_page
from forgelens.sources.base import ISSUES, Page, RepoRef
from forgelens.sources.gitea.source import ISSUE, PAGE_SIZE, PR, GiteaSource


def _token(token: str | None, size: int) -> tuple[str | None, int]:
    """(page to resume at, page size) of a chunk token ``page@limit``."""
    page, _, limit = (token or "").partition("@")
    if page.isdigit() and limit.isdigit() and int(limit) > 0:
        return page, int(limit)
    return None, max(1, min(PAGE_SIZE, size))


class GiteaBackfill(RestBackfill[GiteaSource]):
    def pull_request_chunk(
        self, ref: RepoRef, resume: str | None, size: int, since: datetime | None = None
    ) -> Page:
        if not self.source._on(ref, "pulls"):
            return Page([], 0)
        page_no, limit = _token(resume, size)
        page, _ = first_page(self.source._pr_pages(ref, since, page_no, limit=limit), since)
        if page.resume is not None:
            page.resume = f"{page.resume}@{limit}"
        return page

    def totals(self, ref: RepoRef) -> dict[str, int]:
        base = self.source._base(ref)
        out = {}
        for entity, what, params in (
            ("pull_requests", "pulls", {"state": "all"}),
            ("issues", "issues", {"state": "all", "type": "issues"}),
        ):
            try:
                resp = self._send(
                    "GET",
                    f"{base}/{what}",
                    f"GET /repos/{{owner}}/{{repo}}/{what}",
                    params={**params, "limit": 1},
                )
            except (NotFound, ForgeError):  # the unit is turned off
                out[entity] = 0
                continue
            total = resp.headers.get("x-total-count", "").strip()
            out[entity] = int(total) if total.isdigit() else len(resp.json() or [])
        return out

    def _fresh(self, ref: RepoRef, entity: str, number: int) -> list[Any]:
        base = self.source._base(ref)
        repo_id = repository_id(self.source.kind, ref.full_name)
        if entity == ISSUES:
            item = self.source._get(f"{base}/issues/{number}", f"GET {ISSUE}")
            return self.source._issue(ref, repo_id, item)[1]
        item = self.source._get(f"{base}/pulls/{number}", f"GET {PR}")
        return self.source._bundle(ref, repo_id, item)[1]

    def open_issue(self, ref: RepoRef, title: str, body: str) -> str:
        payload = self._send(
            "POST",
            f"{self.source._base(ref)}/issues",
            "POST /repos/{owner}/{repo}/issues",
            json={"title": title, "body": body},
        ).json()
        return str(payload.get("html_url") or "")
