"""GitLab (gitlab.com and self-hosted) as a ``ForgeSource``: REST API v4.

``gitlab:GROUP/SUBGROUP/PROJECT`` collects one project; ``gitlab:GROUP`` every project of the
group and its subgroups (keyset pagination, page by page). Merge requests are listed newest
update first with ``updated_after`` on incremental runs; each brings its notes (approvals and
"requested changes" system notes become reviews, diff notes review comments), diffs (line
counts from the diff text; ``/changes`` on servers older than 15.7) and commits. Issues with
notes, pipelines (``ci_runs``), protected branch + approval settings, and subgroups with their
members (teams) complete it. Auth: ``GITLAB_TOKEN`` as ``PRIVATE-TOKEN``, or ``Bearer <token>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from forgelens.config import Settings, get_settings
from forgelens.errors import AuthError, ForgeError, NotFound
from forgelens.logs import get_logger
from forgelens.records import BranchProtection, Team, TeamMember, repository_id
from forgelens.sources._forge_common import (
    BAD_ITEM,
    Item,
    RawPages,
    RestSource,
    cut,
    finish,
    iso,
    make_client,
    ts,
    withdraw,
)
from forgelens.sources._pagination import LinkHeaderPaginator, RequestSpec
from forgelens.sources.base import Page, PrBundle, RepoRef, RepoSnapshot
from forgelens.sources.gitlab import _deploy as deploy
from forgelens.sources.gitlab import _map as m
from forgelens.sources.http import EtagCache, ForgeProfile, HttpClient

if TYPE_CHECKING:
    from forgelens.sources.forge import SourceOptions

log = get_logger(__name__)

DATA_SOURCE = "insight_gitlab"
TOKEN = "gitlab_token"  # noqa: S105 (the setting holding the token: GITLAB_TOKEN)
DEFAULT_API_URL = "https://gitlab.com/api/v4"
LINK = LinkHeaderPaginator()
OFFSET_WINDOW = 40_000  # rows of one offset listing, under GitLab's 50,000-row cap
MIN_VERSION = (13, 0)  # MR ``draft``, keyset pagination and ``merge_user`` era


@dataclass(frozen=True)
class GitLabProfile(ForgeProfile):
    """``PRIVATE-TOKEN: <token>``; a token written ``Bearer <token>`` goes as OAuth bearer."""

    def auth_headers(self, secret: str) -> dict[str, str]:
        if secret.lower().startswith("bearer "):
            return {"Authorization": "Bearer " + secret[7:].strip()}
        return {"PRIVATE-TOKEN": secret}


PROFILE = GitLabProfile(
    name="GitLab",
    token_env="GITLAB_TOKEN",  # noqa: S106 - a variable name
    limit_header="ratelimit-limit",
    remaining_header="ratelimit-remaining",
    reset_header="ratelimit-reset",
    resource_header="x-forgelens-no-resource",
    secondary_markers=("retry later",),
    default_headers=(("Accept", "application/json"),),
)


def _enc(path: str) -> str:
    return quote(path.strip("/"), safe="")


class GitLabSource(RestSource):
    kind = m.SOURCE
    data_source = DATA_SOURCE
    paginator = LINK

    def __init__(self, client: HttpClient) -> None:
        super().__init__(client, {"per_page": 100})
        self._ids: dict[str, int] = {}  # project path -> id (rename-proof after the lookup)
        self._old_diffs = False  # server older than 15.7: /changes instead of /diffs

    def _project_id(self, ref: RepoRef) -> int:
        pid = self._ids.get(ref.full_name)
        if pid is None:
            self.repository(ref)
            pid = self._ids[ref.full_name]
        return pid

    def _missing(self, what: str) -> NotFound | ForgeError:
        """A not-found that says whether the server is an old GitLab or the wrong URL."""
        try:
            version = str(self._get("/version", "GET /version").get("version") or "")
        except NotFound:
            return ForgeError(
                f"{self.client.host} has no GitLab API v4 at {self.client.base_url}: check "
                "--api-url (e.g. https://gitlab.example.com/api/v4) and that the server is "
                "GitLab 9.0 or later"
            )
        except (AuthError, ForgeError, AttributeError):
            version = ""
        parts = tuple(int(x) for x in version.split("-")[0].split(".")[:2] if x.isdigit())
        if parts and parts < MIN_VERSION:
            return ForgeError(
                f"GitLab {version} at {self.client.host} is older than the oldest supported "
                f"version {'.'.join(map(str, MIN_VERSION))}: upgrade the server or collect "
                "with git: URLs instead"
            )
        return NotFound(f"gitlab:{what}: project or group not found or the token has no access")

    # -- repositories -------------------------------------------------------------------------
    def list_repositories(self, target: str) -> list[RepoRef]:
        target = target.strip("/")
        if "/" in target:
            try:
                p = self._get(f"/projects/{_enc(target)}", "GET /projects/{id}")
                self._ids[target] = int(p["id"])
                return [RepoRef.parse(str(p["path_with_namespace"]))]
            except NotFound:
                pass  # maybe a subgroup: gitlab:GROUP/SUBGROUP
        refs: list[RepoRef] = []
        try:
            for items, _ in self._pages(
                f"/groups/{_enc(target)}/projects",
                "GET /groups/{id}/projects",
                include_subgroups="true",
                archived="false",
                pagination="keyset",
                order_by="id",
                sort="asc",
                simple="true",
            ):
                for p in items:
                    if p.get("path_with_namespace"):
                        self._ids[str(p["path_with_namespace"])] = int(p["id"])
                        refs.append(RepoRef.parse(str(p["path_with_namespace"])))
        except NotFound:
            raise self._missing(target) from None
        return refs

    def repository(self, ref: RepoRef) -> RepoSnapshot:
        try:
            payload = self._get(f"/projects/{_enc(ref.full_name)}", "GET /projects/{id}")
        except NotFound:
            raise self._missing(ref.full_name) from None
        repo = m.repository(payload)
        snap = RepoSnapshot(repo, RepoRef.parse(repo.full_name))
        self._ids[ref.full_name] = self._ids[repo.full_name] = int(payload["id"])
        if repo.full_name != ref.full_name:
            log.info("project renamed", old=ref.full_name, new=repo.full_name)
        if repo.default_branch:
            protection = self.branch_protection(snap.ref, repo.default_branch)
            if protection is not None:
                snap.records.append(protection)
        return snap

    def branch_protection(self, ref: RepoRef, branch: str) -> BranchProtection | None:
        pid = self._project_id(ref)
        try:
            p = self._get(
                f"/projects/{pid}/protected_branches/{_enc(branch)}",
                "GET /projects/{id}/protected_branches/{name}",
            )
        except (NotFound, ForgeError):  # not protected, or not visible to this token
            return None
        try:
            approvals = self._get(f"/projects/{pid}/approvals", "GET /projects/{id}/approvals")
        except (NotFound, ForgeError):  # GitLab Free: no approval settings
            approvals = {}
        repo_id = repository_id(self.kind, ref.full_name)
        return m.protection(repo_id, branch, p, approvals if isinstance(approvals, dict) else {})

    def teams(self, owner: str) -> list[Any]:
        """Subgroups of a top-level group as teams, their members as team members."""
        out: list[Any] = []
        try:
            groups = self._all(
                f"/groups/{_enc(owner)}/descendant_groups", "GET /groups/{id}/descendant_groups"
            )
            for g in groups:
                full = str(g.get("full_path") or "")
                if not full:
                    continue
                chain = full.split("/")
                parent = chain[-2] if len(chain) > 2 else None
                slug = str(g.get("path") or chain[-1])
                out.append(
                    Team(self.kind, owner, slug, g.get("name"), g.get("description"), parent)
                )
                for u in self._all(f"/groups/{_enc(full)}/members", "GET /groups/{id}/members"):
                    who = m.person(u)
                    if who is not None:
                        level = int(u.get("access_level") or 0)
                        role = "maintainer" if level >= 40 else "member"
                        out += [who, TeamMember(self.kind, owner, slug, who.login, role)]
        except (NotFound, ForgeError) as exc:
            log.debug("teams skipped", owner=owner, reason=str(exc))
            return []
        return out

    # -- merge requests -----------------------------------------------------------------------
    def pull_requests(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return cut(self._mr_pages(ref, since, resume), since)

    def _mr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None, **extra: Any
    ) -> RawPages:
        """Merge requests newest update first with their details; ``extra`` adds listing
        parameters (the backfill's ``updated_before`` window and page size)."""
        pid = self._project_id(ref)
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {"state": "all", "order_by": "updated_at", "sort": "desc"}
        if since is not None:
            params["updated_after"] = iso(since)
        params.update(extra)
        yield from self.detail_pages(
            f"/projects/{pid}/merge_requests",
            "GET /projects/{id}/merge_requests",
            resume,
            params,
            since,
            _updated,
            partial(self._bundle, pid, repo_id),
        )

    def _bundle(self, pid: int, repo_id: str, item: dict[str, Any]) -> tuple[datetime, list[Any]]:
        pr = m.merge_request(repo_id, item)
        n = pr.number
        base = f"/projects/{pid}/merge_requests/{n}"
        b = PrBundle(pr)
        people = [m.person(item.get("author")), m.person(item.get("merge_user"))]
        withdrawals: list[tuple[str | None, datetime | None]] = []
        for note in self._all(f"{base}/notes", "GET /projects/{id}/merge_requests/{iid}/notes"):
            people.append(m.person(note.get("author")))
            if note.get("system"):
                state = m.review_state(note)
                if state is not None:
                    b.reviews.append(m.review(repo_id, n, note, state))
                elif m.is_withdrawal(note):
                    withdrawals.append((m.login(note.get("author")), ts(note.get("created_at"))))
            else:
                b.comments.append(m.comment(repo_id, n, note))
        withdraw(b.reviews, withdrawals, pr.merged_at)
        diffs, overflow = self._diffs(base)
        b.files = [m.pr_file(repo_id, n, d) for d in diffs]
        commits = self._all(f"{base}/commits", "GET /projects/{id}/merge_requests/{iid}/commits")
        b.commits = [m.pr_commit(repo_id, n, c) for c in commits]
        counted = [f for f in b.files if f.additions is not None]
        pr.additions = sum(f.additions or 0 for f in counted) if counted else None
        pr.deletions = sum(f.deletions or 0 for f in counted) if counted else None
        pr.changed_files = len(b.files)
        pr.commits = len(b.commits)
        pr.files_truncated = overflow
        return pr.updated_at, finish(b.records(), people)

    def _diffs(self, base: str) -> tuple[list[Any], bool]:
        if not self._old_diffs:
            try:
                return self._all(
                    f"{base}/diffs", "GET /projects/{id}/merge_requests/{iid}/diffs"
                ), False
            except NotFound:
                self._old_diffs = True  # GitLab < 15.7: only /changes exists
                log.info("GitLab without /diffs: using /changes", host=self.client.host)
        body = self._get(f"{base}/changes", "GET /projects/{id}/merge_requests/{iid}/changes")
        changes = [c for c in body.get("changes") or [] if isinstance(c, dict)]
        return changes, bool(body.get("overflow"))

    # -- issues, pipelines, contributors ------------------------------------------------------
    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return cut(self._issue_pages(ref, since, resume), since)

    def _issue_pages(self, ref: RepoRef, since: datetime | None, resume: str | None) -> RawPages:
        pid = self._project_id(ref)
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {"state": "all", "order_by": "updated_at", "sort": "desc"}
        if since is not None:
            params["updated_after"] = iso(since)
        yield from self.detail_pages(
            f"/projects/{pid}/issues",
            "GET /projects/{id}/issues",
            resume,
            params,
            since,
            _updated,
            partial(self._issue, pid, repo_id),
        )

    def _issue(self, pid: int, repo_id: str, i: dict[str, Any]) -> Item:
        issue = m.issue(repo_id, i)
        recs: list[Any] = [issue]
        people = [m.person(i.get("author"))]
        if issue.comments_count:
            path = f"/projects/{pid}/issues/{issue.number}/notes"
            for note in self._all(path, "GET /projects/{id}/issues/{iid}/notes"):
                if not note.get("system"):
                    recs.append(m.issue_comment(repo_id, issue.number, note))
                    people.append(m.person(note.get("author")))
        return issue.updated_at, finish(recs, people)

    def ci_runs(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return cut(self._pipeline_pages(ref, since, resume), since)

    def _pipeline_pages(self, ref: RepoRef, since: datetime | None, resume: str | None) -> RawPages:
        pid = self._project_id(ref)
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {"order_by": "updated_at", "sort": "desc"}
        if since is not None:
            params["updated_after"] = iso(since)
        for items, nxt in self._pages(
            f"/projects/{pid}/pipelines", "GET /projects/{id}/pipelines", resume, **params
        ):
            out: list[Item] = []
            errors = 0
            for p in items:
                try:
                    run = m.pipeline(repo_id, p)
                    changed = run.updated_at or run.created_at
                    if changed is None:
                        raise ValueError("pipeline without timestamps")
                    out.append((changed, [run]))
                except BAD_ITEM:
                    errors += 1
            yield out, errors, nxt

    def deployments(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Deployments newest update first (a status change moves ``updated_at``), with
        ``updated_after`` on incremental runs: GitLab accepts that filter only together with
        ``order_by=updated_at`` (400 otherwise). An unchanged project costs the one listing
        request, answered with an empty page. A project without the environments feature
        answers 404: it has none."""
        return cut(self._deployment_pages(ref, since, resume), since)

    def _deployment_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> RawPages:
        """Offset pages, in windows of ``updated_before``: GitLab refuses offsets past 50,000
        rows (405) and deployments have no keyset pagination, so once a window's next page
        lies past ``OFFSET_WINDOW`` rows the listing starts again before the oldest update
        seen (its second included: those deployments are read twice, the upserts dedupe)."""
        pid = self._project_id(ref)
        repo_id = repository_id(self.kind, ref.full_name)
        path, endpoint = f"/projects/{pid}/deployments", "GET /projects/{id}/deployments"
        params: dict[str, Any] = {"order_by": "updated_at", "sort": "desc"}
        if since is not None:
            params["updated_after"] = iso(since)
        try:
            while True:
                window = None
                for items, nxt in self._pages(path, endpoint, resume, **params):
                    out: list[Item] = []
                    errors = 0
                    for d in items:
                        try:
                            rec = deploy.deployment(repo_id, d)
                            changed = ts(d.get("updated_at")) or rec.created_at
                        except BAD_ITEM as exc:  # UnknownStatus too: a ValueError
                            errors += 1
                            log.warning(
                                "deployment skipped", repository=ref.full_name, error=str(exc)
                            )
                            continue
                        out.append((changed, finish([rec], [m.person(d.get("user"))])))
                    window = self._next_window(nxt, [c for c, _ in out], params)
                    if window is not None:
                        params = window
                        nxt = LINK.token(RequestSpec("GET", path, endpoint, params=window))
                    yield out, errors, nxt
                    if window is not None:
                        break
                if window is None:
                    return
                resume = nxt
        except NotFound as exc:  # a server or project without environments
            log.info("deployments not readable", repository=ref.full_name, reason=exc.message)

    def _next_window(
        self, nxt: str | None, changed: list[datetime], params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The listing parameters of the next ``updated_before`` window, or None to go on."""
        query = httpx.URL(nxt).params if nxt else None
        if query is None or not changed:
            return None
        page = int(query.get("page") or 1)
        per_page = int(query.get("per_page") or self.page_params["per_page"])
        if (page - 1) * per_page < OFFSET_WINDOW:
            return None
        before = iso(min(changed) + timedelta(seconds=1))
        if before == params.get("updated_before"):  # one second holds a whole window
            return None
        return {**self.page_params, **params, "updated_before": before}

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """GitLab's contributor statistics name authors by email, not by account: members
        come with ``teams`` instead, so this entity is empty."""
        return iter(())


def _updated(item: dict[str, Any]) -> datetime | None:
    return ts(item.get("updated_at"))


def from_options(
    opts: SourceOptions,
    etags: EtagCache | None = None,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> GitLabSource:
    """The source ``forgelens collect gitlab:...`` uses (``--api-url`` for self-hosted)."""
    settings = settings or get_settings()
    client = make_client(
        opts,
        default_url=DEFAULT_API_URL,
        profile=PROFILE,
        token=settings.secret(TOKEN),
        etags=etags,
        transport=transport,
        suffix="/api/v4",
    )
    return GitLabSource(client)
