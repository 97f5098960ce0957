"""GitLab as a ``BackfillSource``: update-time windows (see ``sources/_backfill_rest.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.errors import ForgeError, NotFound
from forgelens.records import repository_id
from forgelens.sources._backfill_rest import Window, WindowBackfill
from forgelens.sources._forge_common import RawPages
from forgelens.sources.base import ISSUES, RepoRef
from forgelens.sources.gitlab.source import GitLabSource


class GitLabBackfill(WindowBackfill[GitLabSource]):
    def _listing(self, ref: RepoRef, window: Window, size: int, since: datetime | None) -> RawPages:
        extra: dict[str, Any] = {"per_page": size, "page": window.page}
        if window.before:
            extra["updated_before"] = window.before
        return self.source._mr_pages(ref, since, None, **extra)

    def totals(self, ref: RepoRef) -> dict[str, int]:
        pid = self.source._project_id(ref)
        out = {}
        for entity, what in (("pull_requests", "merge_requests"), ("issues", "issues")):
            try:
                resp = self._send(
                    "GET",
                    f"/projects/{pid}/{what}",
                    f"GET /projects/{{id}}/{what}",
                    params={"state": "all", "per_page": 1, "order_by": "created_at"},
                )
            except (NotFound, ForgeError):  # issues turned off, or not visible to this token
                out[entity] = 0
                continue
            total = resp.headers.get("x-total", "")
            if total.isdigit():
                out[entity] = int(total)
            else:  # past 10,000 rows GitLab leaves the header out
                body = resp.json()
                newest = body[0] if isinstance(body, list) and body else {}
                out[entity] = int(newest.get("iid") or 0)
        return out

    def _fresh(self, ref: RepoRef, entity: str, number: int) -> list[Any]:
        pid = self.source._project_id(ref)
        repo_id = repository_id(self.source.kind, ref.full_name)
        what = "issues" if entity == ISSUES else "merge_requests"
        item = self.source._get(
            f"/projects/{pid}/{what}/{number}", f"GET /projects/{{id}}/{what}/{{iid}}"
        )
        if entity == ISSUES:
            return self.source._issue(pid, repo_id, item)[1]
        return self.source._bundle(pid, repo_id, item)[1]

    def open_issue(self, ref: RepoRef, title: str, body: str) -> str:
        payload = self._send(
            "POST",
            f"/projects/{self.source._project_id(ref)}/issues",
            "POST /projects/{id}/issues",
            json={"title": title, "description": body, "labels": "forgelens-backfill"},
        ).json()
        return str(payload.get("web_url") or "")
