"""Bitbucket Server / Data Center as a ``ForgeSource``: REST 1.0 (``--api-url`` = server root).

``bitbucket-server:PROJECT/REPO`` or ``bitbucket-server:PROJECT`` (every repository of the
project). Paging is ``start``/``limit`` until ``isLastPage``. The server has no update filter
for pull requests, so every pass lists them ``state=ALL&order=NEWEST`` (last update first) and
an incremental pass stops at the first one older than the watermark. Each pull request brings
its activities (approvals -> reviews APPROVED, "needs work" -> CHANGES_REQUESTED, an approval
withdrawn before the merge -> DISMISSED, comments, the merge), its diff (line counts from the
hunks) and commits. Times are epoch milliseconds, or ISO-8601 text on Data Center 10. Build
statuses of recent commits are ``ci_runs``; branch permissions + pull-request settings are
branch protection.
Auth: ``BITBUCKET_TOKEN`` (an HTTP access token) as Bearer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from forgelens.config import Settings, get_settings
from forgelens.errors import AuthError, BadInput, ForgeError, NotFound
from forgelens.logs import get_logger
from forgelens.records import BranchProtection, Comment, Repository, repository_id
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources._forge_common import (
    Item,
    RawPages,
    RestSource,
    cut,
    finish,
    make_client,
    ms,
    req,
    withdraw,
)
from forgelens.sources._pagination import StartLimitPaginator
from forgelens.sources.base import Page, PrBundle, RepoRef, RepoSnapshot
from forgelens.sources.http import EtagCache, ForgeProfile, HttpClient

if TYPE_CHECKING:
    from forgelens.sources.forge import SourceOptions

log = get_logger(__name__)

TOKEN = "bitbucket_token"  # noqa: S105 (the setting holding the token: BITBUCKET_TOKEN)
SOURCE = "bitbucket-server"
DATA_SOURCE = "insight_bitbucket_server"
API = "/rest/api/1.0"
PAGER = StartLimitPaginator()
MIN_VERSION = (7, 0)
BUILD_LOOKBACK = timedelta(days=1)  # builds finish after their commit: re-read a day of commits
BUILD_COMMITS = 1000  # build statuses are per commit: a pass looks at most this many back
PROFILE = ForgeProfile(
    name="Bitbucket Server",
    token_env="BITBUCKET_TOKEN",  # noqa: S106 - a variable name
    secondary_markers=("rate limited",),
    token_bucket=True,  # Data Center rate limiting refills 5 tokens a second by default
    default_headers=(("Accept", "application/json"),),
)


class BitbucketServerSource(RestSource):
    kind = SOURCE
    data_source = DATA_SOURCE
    paginator = PAGER

    def __init__(self, client: HttpClient) -> None:
        super().__init__(client, {"limit": 100})  # the server allows 1,000; 100 keeps answers quick

    @staticmethod
    def _repo_path(ref: RepoRef) -> str:
        return f"{API}/projects/{ref.owner}/repos/{ref.name}"

    def _missing(self, what: str) -> NotFound | ForgeError:
        try:
            props = self._get(f"{API}/application-properties", "GET /application-properties")
        except NotFound:
            return ForgeError(
                f"{self.client.host} has no Bitbucket Server REST API under {self.client.base_url}"
                f"{API}: check --api-url (the server root, e.g. https://bitbucket.example.com)"
            )
        except (AuthError, ForgeError):
            props = {}
        version = str(props.get("version") or "") if isinstance(props, dict) else ""
        parts = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
        if parts and parts < MIN_VERSION:
            return ForgeError(
                f"Bitbucket Server {version} at {self.client.host} is older than the oldest "
                f"supported {'.'.join(map(str, MIN_VERSION))}: upgrade it or collect git: URLs"
            )
        return NotFound(
            f"bitbucket-server:{what}: project or repository not found or the token has no access"
        )

    # -- repositories -------------------------------------------------------------------------
    def list_repositories(self, target: str) -> list[RepoRef]:
        target = target.strip("/")
        if "/" in target:
            return [RepoRef.parse(target)]
        try:
            return [
                RepoRef(str((r.get("project") or {}).get("key") or target), str(r["slug"]))
                for items, _ in self._pages(
                    f"{API}/projects/{target}/repos", "GET /projects/{key}/repos"
                )
                for r in items
                if r.get("slug")
            ]
        except NotFound:
            raise self._missing(target) from None

    def repository(self, ref: RepoRef) -> RepoSnapshot:
        base = self._repo_path(ref)
        try:
            payload = self._get(base, "GET /projects/{key}/repos/{slug}")
        except NotFound:
            raise self._missing(ref.full_name) from None
        key = str((payload.get("project") or {}).get("key") or ref.owner)
        slug = str(payload.get("slug") or ref.name)
        full = f"{key}/{slug}"
        links = (payload.get("links") or {}).get("self") or [{}]
        repo = Repository(
            id=repository_id(SOURCE, full),
            source=SOURCE,
            full_name=full,
            name=slug,
            owner=key,
            forge_id=str(payload.get("id")) if payload.get("id") is not None else None,
            description=payload.get("description"),
            default_branch=self._default_branch(base),
            url=links[0].get("href") if isinstance(links[0], dict) else None,
            is_private=not payload["public"] if "public" in payload else None,
            is_fork="origin" in payload,
            is_archived=payload.get("archived"),
        )
        snap = RepoSnapshot(repo, RepoRef(key, slug))
        if repo.default_branch:
            protection = self.branch_protection(snap.ref, repo.default_branch)
            if protection is not None:
                snap.records.append(protection)
        return snap

    def _default_branch(self, base: str) -> str | None:
        for path in ("/default-branch", "/branches/default"):  # 7.x+, then older servers
            try:
                body = self._get(base + path, "GET /projects/{key}/repos/{slug}" + path)
            except NotFound:
                continue
            return str(body.get("displayId")) if isinstance(body, dict) else None
        return None

    def branch_protection(self, ref: RepoRef, branch: str) -> BranchProtection | None:
        path = f"/rest/branch-permissions/2.0/projects/{ref.owner}/repos/{ref.name}/restrictions"
        try:
            restrictions = [
                r
                for r in self._all(path, "GET branch-permissions restrictions")
                if (r.get("matcher") or {}).get("displayId") == branch
                or (r.get("matcher") or {}).get("id") == f"refs/heads/{branch}"
            ]
            if not restrictions:
                return None
            settings = self._get(
                self._repo_path(ref) + "/settings/pull-requests",
                "GET /projects/{key}/repos/{slug}/settings/pull-requests",
            )
        except (NotFound, ForgeError):  # no permission to read the settings
            return None
        return bb.server_protection(
            repository_id(SOURCE, ref.full_name), branch, restrictions, settings
        )

    def teams(self, owner: str) -> list[Any]:
        return []  # Bitbucket Server groups are global and admin-only: no teams per project

    # -- pull requests ------------------------------------------------------------------------
    def pull_requests(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return cut(self._pr_pages(ref, since, resume), since)

    def _pr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None, **extra: Any
    ) -> RawPages:
        """Pull requests newest first with their details; ``extra`` adds listing parameters
        (the backfill's page size)."""
        repo_id = repository_id(SOURCE, ref.full_name)
        base = self._repo_path(ref) + "/pull-requests"
        endpoint = "GET /projects/{key}/repos/{slug}/pull-requests"
        yield from self.detail_pages(
            base,
            endpoint,
            resume,
            {"state": "ALL", "order": "NEWEST", **extra},
            since,
            _updated,
            partial(self._bundle, base, repo_id),
        )

    def _bundle(self, base: str, repo_id: str, item: dict[str, Any]) -> tuple[datetime, list[Any]]:
        pr = bb.server_pr(repo_id, item)
        n = pr.number
        b = PrBundle(pr)
        people = [bb.server_person(item.get("author"))]
        endpoint = "GET /projects/{key}/repos/{slug}/pull-requests/{id}"
        found: dict[str, Comment] = {}  # comment id -> its newest state (newest activity first)
        deleted: dict[str, Comment] = {}  # comment id -> a tombstone of it
        withdrawals: list[tuple[str | None, datetime | None]] = []
        for a in self._all(f"{base}/{n}/activities", endpoint + "/activities"):
            people.append(bb.server_person(a.get("user")))
            action = str(a.get("action") or "")
            if action == bb.SERVER_WITHDRAWAL:
                withdrawals.append((bb.server_login(a.get("user")), ms(a.get("createdDate"))))
            if action in bb.SERVER_REVIEWS:
                b.reviews.append(bb.server_review(repo_id, n, a))
            elif action == "COMMENTED" and isinstance(a.get("comment"), dict):
                verb = a.get("commentAction", "ADDED")
                if verb in ("ADDED", "REPLIED", "EDITED"):  # with the replies nested in each
                    for comment, author in bb.server_thread(repo_id, n, a):
                        found.setdefault(comment.comment_id, comment)
                        people.append(bb.server_person(author))
                elif verb == "DELETED":
                    gone = bb.server_comment(repo_id, n, a)
                    gone.deleted_at = ms(a.get("createdDate")) or gone.updated_at
                    deleted[gone.comment_id] = gone
            elif action == "MERGED":
                pr.merged_by = bb.server_login(a.get("user"))
        withdraw(b.reviews, withdrawals, pr.merged_at)
        b.comments = [deleted.pop(i, c) for i, c in found.items()] + list(deleted.values())
        try:
            diff = self._get(f"{base}/{n}/diff", endpoint + "/diff", contextLines=0)
        except NotFound:  # the PR's commits are gone (NoSuchCommitException): keep the PR
            log.warning("pull request diff gone", number=n)
            diff = None
        b.files = bb.server_files(repo_id, n, diff)
        pr.files_truncated = bool(isinstance(diff, dict) and diff.get("truncated"))
        commits = self._all_or_none(f"{base}/{n}/commits", endpoint + "/commits")
        b.commits = [bb.server_commit(repo_id, n, c) for c in commits or []]
        bb.totals(
            pr,
            b.files if diff is not None else None,
            len(b.commits) if commits is not None else None,
        )
        return pr.updated_at, finish(b.records(), people)

    # -- issues, CI runs, contributors --------------------------------------------------------
    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return iter(())  # Bitbucket Server has no issue tracker (Jira is collected apart)

    def ci_runs(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Build statuses of the repository's commits, newest commit first (at most
        ``BUILD_COMMITS``); an incremental pass re-reads one day of commits before the
        watermark (builds finish late)."""
        return cut(self._build_pages(ref, since, resume), None)

    def _build_pages(self, ref: RepoRef, since: datetime | None, resume: str | None) -> RawPages:
        repo_id = repository_id(SOURCE, ref.full_name)
        stop = since - BUILD_LOOKBACK if since is not None else None
        path = self._repo_path(ref) + "/commits"
        walked = 0
        for items, nxt in self._pages(path, "GET /projects/{key}/repos/{slug}/commits", resume):
            found, errors, reached = self.fetch_items(
                items, _committed, stop, partial(self._builds, repo_id, since)
            )
            walked += len(items)
            last = reached or walked >= BUILD_COMMITS
            yield [f for f in found if f[1]], errors, None if last else nxt
            if last:
                return

    def _builds(self, repo_id: str, since: datetime | None, commit: dict[str, Any]) -> Item:
        """The build statuses of one commit added since the watermark."""
        sha = str(commit["id"])
        runs = [
            bb.server_build(repo_id, sha, s)
            for s in self._all(f"/rest/build-status/1.0/commits/{sha}", "GET build-status")
        ]
        runs = [r for r in runs if r.created_at and (since is None or r.created_at >= since)]
        stamps = [r.created_at for r in runs if r.created_at]
        newest = max(stamps) if stamps else _committed(commit)
        return req(newest, "commit time"), list(runs)

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return iter(())  # no contributor statistics in the REST API


def _updated(item: dict[str, Any]) -> datetime | None:
    return ms(item.get("updatedDate"))


def _committed(commit: dict[str, Any]) -> datetime | None:
    return ms(commit.get("committerTimestamp") or commit.get("authorTimestamp"))


def from_options(
    opts: SourceOptions,
    etags: EtagCache | None = None,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> BitbucketServerSource:
    """The source ``forgelens collect bitbucket-server:...`` uses; ``--api-url`` is required."""
    settings = settings or get_settings()
    if not opts.api_url:
        raise BadInput(
            "bitbucket-server: needs --api-url, the server root (https://bitbucket.example.com)"
        )
    client = make_client(
        opts,
        default_url=opts.api_url,
        profile=PROFILE,
        token=settings.secret(TOKEN),
        etags=etags,
        transport=transport,
    )
    return BitbucketServerSource(client)
