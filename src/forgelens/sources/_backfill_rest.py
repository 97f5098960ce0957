"""GitLab, Bitbucket Cloud and Bitbucket Server as ``BackfillSource``s, composed from each
source's own listing, detail fetching and client (as ``_backfill_github`` is for GitHub).

A chunk is one listing page of pull requests, newest update first, each with its notes or
activity, files and commits -- the same bundles an incremental sync stores.

- GitLab and Bitbucket Cloud chunks are windows of the update time: the resume token is the
  update time of the chunk's last pull request, and the next chunk asks for those updated at or
  before it (``updated_before`` / ``q=updated_on <= T``). So a chunk may have any size (the
  engine shrinks and grows it) and a long history never reaches GitLab's 50,000-row offset cap
  (HTTP 405). Pull requests updated exactly at that time are read again (the upserts make that
  harmless); when a whole page shares one update time, the next chunk reads the next page of
  the same window (token ``T|page``).
- Bitbucket Server pages by ``start`` offsets (no update filter exists), which any ``limit``
  continues.
- ``totals``: GitLab's ``x-total`` header (absent past 10,000 rows: then the newest ``iid``,
  which counts deleted merge requests too), Bitbucket Cloud's ``size``, and for Bitbucket
  Server (which reports no total) a count of the pull request ids, 1,000 a page.
- ``recheck`` re-reads each item and its details; 404/410 = the forge no longer has it.
- ``open_issue``: GitLab and Bitbucket Cloud issues; Bitbucket Server has no issue tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from forgelens.errors import ForgeError, NotFound
from forgelens.logs import get_logger
from forgelens.records import repository_id
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources._forge_common import RawPages, RestSource, cut
from forgelens.sources._ratelimit import best_budget
from forgelens.sources.base import ISSUES, Page, RepoRef
from forgelens.sources.bitbucket_cloud import (
    PR_STATES,
    BitbucketCloudSource,
    bbql_since,
    bbql_time,
)
from forgelens.sources.bitbucket_server import BitbucketServerSource
from forgelens.sources.gitlab import GitLabSource
from forgelens.sources.http import RequestSpec

log = get_logger(__name__)


@dataclass(frozen=True)
class Window:
    """Where a time-window chunk starts: pull requests updated at or before ``before`` (None:
    the newest), page ``page`` of that listing."""

    before: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, token: str | None) -> Window:
        if not token:
            return cls()
        before, _, page = token.partition("|")
        try:
            datetime.fromisoformat(before.replace("Z", "+00:00"))
            return cls(before, int(page or 1))
        except ValueError:  # not ours (another version's cursor): re-reading is harmless
            log.warning(
                "backfill cursor is not an update time: starting from the newest", cursor=token
            )
            return cls()

    def token(self) -> str:
        return f"{self.before}|{self.page}" if self.page > 1 else str(self.before)

    def after(self, last: datetime) -> Window:
        """The window after a page whose last (oldest) pull request changed at ``last``."""
        at = stamp(last)
        return Window(at, self.page + 1) if at == self.before else Window(at)


def stamp(value: datetime) -> str:
    """A cursor's time: UTC to the microsecond with a ``Z``, as GitLab's ``updated_before``
    reads it (Bitbucket Cloud's window turns it into BBQL's ``+00:00`` form)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def first_page(pages: RawPages, since: datetime | None) -> tuple[Page, datetime | None]:
    """The first page of ``pages`` cut at ``since``, and the change time of its last item."""
    try:
        items, errors, nxt = next(pages, ([], 0, None))
    finally:
        close = getattr(pages, "close", None)  # a generator: stop it before its next request
        if close is not None:
            close()
    page = next(cut(iter([(items, errors, nxt)]), since), Page([], 0))
    return page, (items[page.items - 1][0] if page.items else None)


S = TypeVar("S", bound=RestSource)


class _RestBackfill(Generic[S]):
    """What the three REST forges share: the budget of the source's client, re-checks."""

    def __init__(self, source: S) -> None:
        self.source = source

    def budget(self) -> tuple[int | None, datetime | None]:
        return best_budget(self.source.client.tokens.credentials, "core")

    def recheck(self, ref: RepoRef, entity: str, numbers: list[int]) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = {}
        for n in numbers:
            try:
                out[n] = self._fresh(ref, entity, n)
            except NotFound:  # 404, or 410 gone
                continue
        return out

    def _fresh(self, ref: RepoRef, entity: str, number: int) -> list[Any]:
        raise NotImplementedError

    def _send(self, method: str, path: str, endpoint: str, **kw: Any) -> Any:
        return self.source.client.send(RequestSpec(method, path, endpoint, **kw))


class _WindowBackfill(_RestBackfill[S]):
    """GitLab and Bitbucket Cloud: chunks are update-time windows (see the module text)."""

    max_page = 100

    def pull_request_chunk(
        self, ref: RepoRef, resume: str | None, size: int, since: datetime | None = None
    ) -> Page:
        window = Window.parse(resume)
        page, last = first_page(
            self._listing(ref, window, max(1, min(self.max_page, size)), since), since
        )
        if page.resume is None or last is None:
            return replace(page, resume=None)
        return replace(page, resume=window.after(last).token())

    def _listing(self, ref: RepoRef, window: Window, size: int, since: datetime | None) -> RawPages:
        raise NotImplementedError


class GitLabBackfill(_WindowBackfill[GitLabSource]):
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


class BitbucketCloudBackfill(_WindowBackfill[BitbucketCloudSource]):
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


class BitbucketServerBackfill(_RestBackfill[BitbucketServerSource]):
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


ADAPTERS = {
    "gitlab": GitLabBackfill,
    bb.CLOUD: BitbucketCloudBackfill,
    bb.SERVER: BitbucketServerBackfill,
}
