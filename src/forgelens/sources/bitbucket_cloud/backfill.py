"""Bitbucket Cloud as a ``BackfillSource``: update-time windows (see
``sources/_backfill_rest.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.errors import ForgeError, NotFound
from forgelens.records import repository_id
from forgelens.sources._backfill_rest import Window, WindowBackfill
from forgelens.sources._forge_common import RawPages
from forgelens.sources.base import ISSUES, RepoRef
from forgelens.sources.bitbucket_cloud.source import (
    PR_STATES,
    BitbucketCloudSource,
    bbql_since,
    bbql_time,
)


class BitbucketCloudBackfill(WindowBackfill[BitbucketCloudSource]):
    max_page = 50  # the pull request listing's pagelen maximum

    def _listing(self, ref: RepoRef, window: Window, size: int, since: datetime | None) -> RawPages:
        terms = [bbql_since(since)] if since is not None else []
        if window.before:
            before = datetime.fromisoformat(window.before.replace("Z", "+00:00"))
            terms.append(f"updated_on <= {bbql_time(before)}")
        extra: dict[str, Any] = {"pagelen": size, "page": window.page}
        if terms:
            extra["q"] = " AND ".join(terms)
        return self.source._pr_pages(ref, since, None, **extra)

    def totals(self, ref: RepoRef) -> dict[str, int]:
        base = self.source._base(ref)
        out = {}
        for entity, what, params in (
            ("pull_requests", "pullrequests", {"state": list(PR_STATES)}),
            ("issues", "issues", {}),
        ):
            try:
                body = self.source._get(
                    f"{base}/{what}",
                    f"GET /repositories/{{workspace}}/{{repo}}/{what}",
                    **params,
                    pagelen=1,
                    sort="-id",
                )
            except (NotFound, ForgeError):  # the issue tracker is off
                out[entity] = 0
                continue
            size = body.get("size") if isinstance(body, dict) else None
            if isinstance(size, int):
                out[entity] = size
            else:  # ``size`` is optional: the newest id counts every one ever opened
                values = body.get("values") if isinstance(body, dict) else None
                out[entity] = int((values or [{}])[0].get("id") or 0)
        return out

    def _fresh(self, ref: RepoRef, entity: str, number: int) -> list[Any]:
        base = self.source._base(ref)
        repo_id = repository_id(self.source.kind, ref.full_name)
        what = "issues" if entity == ISSUES else "pullrequests"
        item = self.source._get(
            f"{base}/{what}/{number}", f"GET /repositories/{{workspace}}/{{repo}}/{what}/{{id}}"
        )
        if entity == ISSUES:
            return self.source._issue(ref, repo_id, item)[1]
        return self.source._bundle(f"{base}/pullrequests", repo_id, item)[1]

    def open_issue(self, ref: RepoRef, title: str, body: str) -> str:
        payload = self._send(
            "POST",
            f"{self.source._base(ref)}/issues",
            "POST /repositories/{workspace}/{repo}/issues",
            json={"title": title, "content": {"raw": body}, "kind": "bug", "priority": "major"},
        ).json()
        return str(((payload.get("links") or {}).get("html") or {}).get("href") or "")
