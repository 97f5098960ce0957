"""Bitbucket Cloud (bitbucket.org) as a ``ForgeSource``: REST API 2.0.

``bitbucket:WORKSPACE/REPO`` or ``bitbucket:WORKSPACE`` (every repository). Pages follow the
body's ``next`` link with ``pagelen`` at its maximum (50 for pull requests, 100 elsewhere).
Pull requests of every state are listed ``sort=-updated_on``, with ``q=updated_on>=...`` on
incremental runs, with their ``participants``; each brings its activity (approvals -> reviews
APPROVED, DISMISSED when the participant no longer approves; change requests ->
CHANGES_REQUESTED, comments, the merge time and who merged), diffstat and commits. Issues
come when the repository's tracker is on; pipelines are ``ci_runs`` (newest first, stopped at
the watermark); branch restrictions are branch protection.
Auth: ``BITBUCKET_TOKEN`` = an access token (Bearer) or ``user:app_password`` (Basic).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from forgelens.config import Settings, get_settings
from forgelens.errors import ForgeError, NotFound
from forgelens.logs import get_logger
from forgelens.records import (
    BranchProtection,
    Issue,
    IssueComment,
    Repository,
    Review,
    repository_id,
)
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources._forge_common import (
    BAD_ITEM,
    Item,
    RawPages,
    RestSource,
    cut,
    finish,
    make_client,
    older,
    req,
    ts,
)
from forgelens.sources._pagination import NextUrlPaginator
from forgelens.sources.base import Page, PrBundle, RepoRef, RepoSnapshot
from forgelens.sources.bitbucket_cloud import _deploy as deploy
from forgelens.sources.http import EtagCache, ForgeProfile, HttpClient

if TYPE_CHECKING:
    from forgelens.sources.forge import SourceOptions

log = get_logger(__name__)

TOKEN = "bitbucket_token"  # noqa: S105 (the setting holding the token: BITBUCKET_TOKEN)
SOURCE = bb.CLOUD
DATA_SOURCE = "insight_bitbucket_cloud"
DEFAULT_API_URL = "https://api.bitbucket.org/2.0"
PAGER = NextUrlPaginator()
PR_STATES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")
PR_FIELDS = "+values.participants"  # who approves now: the list leaves it out by default
RUNNING_WINDOW = timedelta(days=1)  # a deployment still running after a day is not waited for
CLOSED_ISSUES = {"resolved", "closed", "invalid", "duplicate", "wontfix"}


@dataclass(frozen=True)
class CloudProfile(ForgeProfile):
    """``user:app_password`` goes as Basic auth, anything else as a Bearer access token."""

    def auth_headers(self, secret: str) -> dict[str, str]:
        if ":" in secret:
            return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}
        return {"Authorization": f"Bearer {secret}"}


PROFILE = CloudProfile(
    name="Bitbucket Cloud",
    token_env="BITBUCKET_TOKEN",  # noqa: S106 - a variable name
    default_headers=(("Accept", "application/json"),),
)


class BitbucketCloudSource(RestSource):
    kind = SOURCE
    data_source = DATA_SOURCE
    paginator = PAGER

    def __init__(self, client: HttpClient) -> None:
        super().__init__(client, {"pagelen": 100})
        self._has_issues: dict[str, bool] = {}

    @staticmethod
    def _base(ref: RepoRef) -> str:
        return f"/repositories/{ref.owner}/{ref.name}"

    # -- repositories -------------------------------------------------------------------------
    def list_repositories(self, target: str) -> list[RepoRef]:
        target = target.strip("/")
        if "/" in target:
            return [RepoRef.parse(target)]
        try:
            return [
                RepoRef.parse(str(r["full_name"]))
                for items, _ in self._pages(
                    f"/repositories/{target}", "GET /repositories/{workspace}"
                )
                for r in items
                if r.get("full_name")
            ]
        except NotFound:
            raise NotFound(
                f"bitbucket:{target}: workspace not found or the token has no access"
            ) from None

    def repository(self, ref: RepoRef) -> RepoSnapshot:
        try:
            p = self._get(self._base(ref), "GET /repositories/{workspace}/{repo}")
        except NotFound:
            raise NotFound(
                f"bitbucket:{ref.full_name}: repository not found or the token has no access"
            ) from None
        full = str(p["full_name"])
        owner = (p.get("workspace") or {}).get("slug") or full.split("/")[0]
        repo = Repository(
            id=repository_id(SOURCE, full),
            source=SOURCE,
            full_name=full,
            name=str(p.get("slug") or full.rsplit("/", 1)[-1]),
            owner=owner,
            forge_id=p.get("uuid"),
            description=p.get("description"),
            default_branch=(p.get("mainbranch") or {}).get("name"),
            url=((p.get("links") or {}).get("html") or {}).get("href"),
            is_private=p.get("is_private"),
            is_fork="parent" in p,
            language=p.get("language") or None,
            created_at=ts(p.get("created_on")),
            updated_at=ts(p.get("updated_on")),
        )
        snap = RepoSnapshot(repo, RepoRef.parse(full))
        self._has_issues[snap.ref.full_name] = bool(p.get("has_issues"))
        if repo.default_branch:
            protection = self.branch_protection(snap.ref, repo.default_branch)
            if protection is not None:
                snap.records.append(protection)
        return snap

    def branch_protection(self, ref: RepoRef, branch: str) -> BranchProtection | None:
        try:
            rules = self._all(
                self._base(ref) + "/branch-restrictions",
                "GET /repositories/{workspace}/{repo}/branch-restrictions",
            )
        except (NotFound, ForgeError):  # needs repository admin
            return None
        mine = [r for r in rules if r.get("pattern") == branch]
        if not mine:
            return None
        return bb.cloud_protection(repository_id(SOURCE, ref.full_name), branch, mine)

    def teams(self, owner: str) -> list[Any]:
        return []  # workspace groups are not in the 2.0 API

    # -- pull requests ------------------------------------------------------------------------
    def pull_requests(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return cut(self._pr_pages(ref, since, resume), since)

    def _pr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None, **extra: Any
    ) -> RawPages:
        """Pull requests newest update first with their details; ``extra`` adds listing
        parameters (the backfill's ``q`` window and page size)."""
        repo_id = repository_id(SOURCE, ref.full_name)
        base = self._base(ref) + "/pullrequests"
        params: dict[str, Any] = {
            "state": list(PR_STATES),
            "sort": "-updated_on",
            "pagelen": 50,
            "fields": PR_FIELDS,
        }
        if since is not None:
            params["q"] = bbql_since(since)
        params.update(extra)
        yield from self.detail_pages(
            base,
            "GET /repositories/{workspace}/{repo}/pullrequests",
            resume,
            params,
            since,
            _updated,
            partial(self._bundle, base, repo_id),
        )

    def _bundle(self, base: str, repo_id: str, item: dict[str, Any]) -> tuple[datetime, list[Any]]:
        pr = bb.cloud_pr(repo_id, item)
        n = pr.number
        b = PrBundle(pr)
        people = [bb.cloud_person(item.get("author")), bb.cloud_person(item.get("closed_by"))]
        endpoint = "GET /repositories/{workspace}/{repo}/pullrequests/{id}"
        for a in self._all(f"{base}/{n}/activity", endpoint + "/activity", pagelen=50):
            for kind in ("approval", "changes_request"):
                if isinstance(a.get(kind), dict):
                    b.reviews.append(bb.cloud_review(repo_id, n, kind, a[kind]))
                    people.append(bb.cloud_person(a[kind].get("user")))
            if isinstance(a.get("comment"), dict):
                b.comments.append(bb.cloud_comment(repo_id, n, a["comment"]))
                people.append(bb.cloud_person(a["comment"].get("user")))
            update = a.get("update")
            if isinstance(update, dict) and update.get("state") in ("MERGED", "DECLINED"):
                when = ts(update.get("date"))
                if pr.closed_at is None or (when and when > pr.closed_at):
                    pr.closed_at = when
                    if update.get("state") == "MERGED" and pr.state == "merged":
                        pr.merged_at = when
        if pr.state == "open":
            pr.closed_at = None
        b.reviews = _newest_approvals(b.reviews)
        bb.cloud_withdrawn(b.reviews, item.get("participants"))
        # a PR whose source branch or fork was deleted may have neither any more (404)
        stats = self._all_or_none(f"{base}/{n}/diffstat", endpoint + "/diffstat", pagelen=500)
        b.files = [bb.cloud_file(repo_id, n, d) for d in stats or []]
        commits = self._all_or_none(f"{base}/{n}/commits", endpoint + "/commits")
        b.commits = [bb.cloud_commit(repo_id, n, c) for c in commits or []]
        bb.totals(
            pr,
            b.files if stats is not None else None,
            len(b.commits) if commits is not None else None,
        )
        return pr.updated_at, finish(b.records(), people)

    # -- issues, pipelines, contributors ------------------------------------------------------
    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        if not self._has_issues.get(ref.full_name, True):
            return iter(())  # the issue tracker is off
        return cut(self._issue_pages(ref, since, resume), since)

    def _issue_pages(self, ref: RepoRef, since: datetime | None, resume: str | None) -> RawPages:
        repo_id = repository_id(SOURCE, ref.full_name)
        params: dict[str, Any] = {"sort": "-updated_on"}
        if since is not None:
            params["q"] = bbql_since(since)
        endpoint = "GET /repositories/{workspace}/{repo}/issues"
        try:
            fetch = partial(self._issue, ref, repo_id)
            path = self._base(ref) + "/issues"
            yield from self.detail_pages(path, endpoint, resume, params, since, _updated, fetch)
        except NotFound:
            log.info("no issue tracker", repository=ref.full_name)

    def _issue(self, ref: RepoRef, repo_id: str, i: dict[str, Any]) -> tuple[datetime, list[Any]]:
        n = int(i["id"])
        comments = self._all(
            f"{self._base(ref)}/issues/{n}/comments",
            "GET /repositories/{workspace}/{repo}/issues/{id}/comments",
        )
        issue = Issue(
            repository_id=repo_id,
            number=n,
            title=str(i.get("title") or ""),
            state="closed" if str(i.get("state")) in CLOSED_ISSUES else "open",
            created_at=req(ts(i.get("created_on")), "created_on"),
            updated_at=req(ts(i.get("updated_on")), "updated_on"),
            forge_id=str(n),
            body=(i.get("content") or {}).get("raw"),
            author=bb.cloud_login(i.get("reporter")),
            comments_count=len(comments),
            url=((i.get("links") or {}).get("html") or {}).get("href"),
        )
        recs: list[Any] = [issue]
        people = [bb.cloud_person(i.get("reporter"))]
        for c in comments:
            recs.append(
                IssueComment(
                    repository_id=repo_id,
                    issue_number=n,
                    comment_id=str(int(c["id"])),
                    author=bb.cloud_login(c.get("user")),
                    body=(c.get("content") or {}).get("raw"),
                    created_at=ts(c.get("created_on")),
                    updated_at=ts(c.get("updated_on")),
                )
            )
            people.append(bb.cloud_person(c.get("user")))
        return issue.updated_at, finish(recs, people)

    def ci_runs(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return cut(self._pipeline_pages(ref, resume), since)

    def _pipeline_pages(self, ref: RepoRef, resume: str | None) -> RawPages:
        repo_id = repository_id(SOURCE, ref.full_name)
        endpoint = "GET /repositories/{workspace}/{repo}/pipelines"
        try:
            for items, nxt in self._pages(
                self._base(ref) + "/pipelines/", endpoint, resume, sort="-created_on"
            ):
                out: list[Item] = []
                errors = 0
                for p in items:
                    try:
                        run = bb.cloud_pipeline(repo_id, p)
                        out.append((req(run.created_at, "created_on"), [run]))
                    except BAD_ITEM:
                        errors += 1
                yield out, errors, nxt
        except NotFound:
            log.info("pipelines not enabled", repository=ref.full_name)

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return iter(())  # no contributor statistics in the 2.0 API

    def deployments(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Deployments newest start first (``sort=-state.started_on``; the API has no filter
        on update time). One that changed since the watermark is kept; the listing stops after
        the page reaching deployments that started ``RUNNING_WINDOW`` before it, which are
        finished by then. Environments (names and types) are read once, and only when a
        changed deployment needs them: an unchanged repository costs the first listing page."""
        repo_id = repository_id(SOURCE, ref.full_name)
        envs: dict[str, tuple[str, str]] | None = None
        endpoint = "GET /repositories/{workspace}/{repo}/deployments"
        pages = self._pages(
            self._base(ref) + "/deployments/", endpoint, resume, sort="-state.started_on"
        )
        try:
            for items, nxt in pages:
                records: list[Any] = []
                high: datetime | None = None
                count = errors = 0
                done = False
                for d in items:
                    start, change = deploy.started(d), deploy.changed(d)
                    if since is not None and start is not None:
                        done = done or start < since - RUNNING_WINDOW
                    if older(change, since):
                        continue
                    if envs is None:
                        envs = self._environments(ref)
                    try:
                        records.append(deploy.deployment(repo_id, d, envs))
                    except deploy.NotDeployed:
                        continue
                    except BAD_ITEM as exc:  # deploy.UnknownState too
                        errors += 1
                        log.warning("deployment skipped", repository=ref.full_name, error=str(exc))
                        continue
                    who = bb.cloud_person((d.get("state") or {}).get("deployer"))
                    if who is not None:
                        records.append(who)
                    count += 1
                    high = change if high is None or (change and change > high) else high
                yield Page(records, count, high, None if done else nxt, errors, done)
                if done:
                    return
        except NotFound:  # Pipelines (and with it deployments) not enabled
            log.info("deployments not enabled", repository=ref.full_name)

    def _environments(self, ref: RepoRef) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for e in self._all(
            self._base(ref) + "/environments/", "GET /repositories/{workspace}/{repo}/environments"
        ):
            found = deploy.environment(e)
            if found is not None and isinstance(e.get("uuid"), str):
                out[e["uuid"]] = found
        return out


def bbql_time(value: datetime) -> str:
    """A time in a BBQL filter (``q=``): ISO 8601 with an offset. BBQL refuses a ``Z``
    ("Illegal character in input", bitbucket.org/site/master/issues/15967)."""
    return value.astimezone(UTC).isoformat()


def bbql_since(since: datetime) -> str:
    return f"updated_on >= {bbql_time(since)}"


def _newest_approvals(reviews: list[Review]) -> list[Review]:
    """One approval per author (its id is the author's): the newest one."""
    out: dict[str, Review] = {}
    for r in reviews:
        prev = out.get(r.review_id)
        if prev is None or (r.submitted_at or _EPOCH) > (prev.submitted_at or _EPOCH):
            out[r.review_id] = r
    return list(out.values())


_EPOCH = datetime.fromtimestamp(0, UTC)


def _updated(item: dict[str, Any]) -> datetime | None:
    return ts(item.get("updated_on"))


def from_options(
    opts: SourceOptions,
    etags: EtagCache | None = None,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> BitbucketCloudSource:
    """The source ``forgelens collect bitbucket:...`` uses."""
    settings = settings or get_settings()
    client = make_client(
        opts,
        default_url=DEFAULT_API_URL,
        profile=PROFILE,
        token=settings.secret(TOKEN),
        etags=etags,
        transport=transport,
    )
    return BitbucketCloudSource(client)
