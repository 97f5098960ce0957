"""Gitea and Forgejo (gitea.com, codeberg.org, self-hosted) as a ``ForgeSource``: REST API v1.

``gitea:OWNER/REPO`` collects one repository; ``gitea:OWNER`` every repository of the
organization (or, when no organization has that name, of the user). ``--api-url`` names the
server (``https://git.example.com``; ``/api/v1`` is added). Auth: ``GITEA_TOKEN`` sent as
``Authorization: token <token>`` (several, comma-separated, form a pool).

Pull requests of every state are listed ``sort=recentupdate`` (the list has no ``since``) and
cut at the watermark; each brings its reviews (with their inline comments), conversation
comments, files (paged with ``X-HasMore``) and commits. The repository's snapshot reads the
newest pull request's update time, so an unchanged repository is not listed again. Issues take
``since``; their comments come when they have any. Actions runs (``/actions/runs``; the older
``/actions/tasks`` of Gitea 1.22) are ``ci_runs``; the rule protecting the default branch is
its branch protection; an organization's teams and their members are teams.

Gitea stamps changes to the second, so an item changed exactly at the watermark is read again
(as on GitHub). The server caps every page at ``MAX_RESPONSE_ITEMS`` silently (``_paging``).
Gitea has no rate limit of its own; a reverse proxy's 429 + ``Retry-After`` is honoured by the
client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import partial
from itertools import chain
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
    cut,
    finish,
    iso,
    make_client,
    ts,
)
from forgelens.sources._release import ReleaseRule
from forgelens.sources.base import Page, PrBundle, RepoRef, RepoSnapshot
from forgelens.sources.gitea import _map as m
from forgelens.sources.gitea._delivery import GiteaDelivery, release_counts
from forgelens.sources.gitea._paging import PAGES
from forgelens.sources.http import EtagCache, ForgeProfile, HttpClient

if TYPE_CHECKING:
    from forgelens.sources.forge import SourceOptions

log = get_logger(__name__)

TOKEN = "gitea_token"  # noqa: S105 (the setting holding the token: GITEA_TOKEN)
DATA_SOURCE = "insight_gitea"
DEFAULT_API_URL = "https://gitea.com"
API_SUFFIX = "/api/v1"
PAGE_SIZE = 100  # asked for; the server serves at most its MAX_RESPONSE_ITEMS (default 50)
PR = "/repos/{owner}/{repo}/pulls/{index}"
ISSUE = "/repos/{owner}/{repo}/issues/{index}"
PULL_ISSUE = "/repos/{owner}/{repo}/issues/{pull}"  # a pull request's conversation lives there
# no stats, signature checks or file lists per commit: only what pr_commits stores
LEAN_COMMITS = {"stat": "false", "verification": "false", "files": "false"}
TEAM_ROLES = {"owner": "maintainer", "admin": "maintainer"}

PROFILE = ForgeProfile(
    name="Gitea",
    token_env="GITEA_TOKEN",  # noqa: S106 - a variable name
    auth_scheme="token",
    default_headers=(("Accept", "application/json"),),
)


def _seg(name: str) -> str:
    return quote(name, safe="")


def _updated(item: dict[str, Any]) -> datetime | None:
    return ts(item.get("updated_at"))


class GiteaSource(GiteaDelivery):
    kind = m.SOURCE
    data_source = DATA_SOURCE
    paginator = PAGES
    overlap = True  # whole-second stamps: the watermark's second is read again

    def __init__(self, client: HttpClient) -> None:
        super().__init__(client, {"limit": PAGE_SIZE})
        self._units: dict[str, dict[str, bool]] = {}  # full name -> issues/pulls/actions on

    @staticmethod
    def _base(ref: RepoRef) -> str:
        return f"/repos/{_seg(ref.owner)}/{_seg(ref.name)}"

    def _missing(self, what: str) -> NotFound | ForgeError:
        """A not-found that says whether the server is no Gitea at all (wrong --api-url)."""
        try:
            self._get("/version", "GET /version")
        except NotFound:
            return ForgeError(
                f"{self.client.host} has no Gitea API at {self.client.base_url}: check --api-url "
                "(the server's address, e.g. https://gitea.example.com)"
            )
        except (AuthError, ForgeError):
            pass
        return NotFound(f"gitea:{what}: not found or the token has no access")

    def _on(self, ref: RepoRef, unit: str) -> bool:
        """Whether the repository has ``unit`` (issues, pulls, actions) turned on."""
        return self._units.get(ref.full_name, {}).get(unit, True)

    # -- repositories -------------------------------------------------------------------------
    def list_repositories(self, target: str) -> list[RepoRef]:
        target = target.strip("/")
        if "/" in target:
            return [RepoRef.parse(target)]
        for path, endpoint in (
            (f"/orgs/{_seg(target)}/repos", "GET /orgs/{org}/repos"),
            (f"/users/{_seg(target)}/repos", "GET /users/{username}/repos"),
        ):
            try:
                return [
                    RepoRef.parse(str(r["full_name"]))
                    for items, _ in self._pages(path, endpoint)
                    for r in items
                    if r.get("full_name")
                ]
            except NotFound:
                continue  # not an organization: a user
        raise self._missing(target)

    def repository(self, ref: RepoRef) -> RepoSnapshot:
        try:
            payload = self._get(self._base(ref), "GET /repos/{owner}/{repo}")
        except NotFound:
            raise self._missing(ref.full_name) from None
        repo = m.repository(payload)
        snap = RepoSnapshot(repo, RepoRef.parse(repo.full_name))
        snap.counts.update(release_counts(payload))  # releases: listed when the count moves
        if repo.full_name != ref.full_name:
            log.info("repository renamed", old=ref.full_name, new=repo.full_name)
        units = {
            "issues": payload.get("has_issues") is not False,
            "pulls": payload.get("has_pull_requests") is not False,
            "actions": payload.get("has_actions") is not False,
        }
        self._units[ref.full_name] = self._units[repo.full_name] = units
        if repo.default_branch:
            rule = self.branch_protection(snap.ref, repo.default_branch)
            if rule is not None:
                snap.records.append(rule)
        if units["pulls"]:
            snap.marks["pull_requests"] = self._newest_pull(snap.ref)
        return snap

    def _newest_pull(self, ref: RepoRef) -> datetime | None:
        """The update time of the most recently updated pull request (None: none yet)."""
        try:
            newest = self._get(
                self._base(ref) + "/pulls",
                "GET /repos/{owner}/{repo}/pulls",
                state="all",
                sort="recentupdate",
                limit=1,
            )
        except NotFound:  # pull requests turned off: nothing to list
            self._units.setdefault(ref.full_name, {})["pulls"] = False
            return None
        first = newest[0] if isinstance(newest, list) and newest else None
        return _updated(first) if isinstance(first, dict) else None

    def branch_protection(self, ref: RepoRef, branch: str) -> BranchProtection | None:
        """The rule protecting ``branch`` (read with repository admin rights), else what the
        branch itself tells any reader (approvals and status checks)."""
        repo_id = repository_id(self.kind, ref.full_name)
        base = self._base(ref)
        try:
            rules = self._get(
                base + "/branch_protections", "GET /repos/{owner}/{repo}/branch_protections"
            )
            rule = m.protection_rule(rules if isinstance(rules, list) else [], branch)
            return None if rule is None else m.protection(repo_id, branch, rule)
        except NotFound:
            return None
        except ForgeError:  # 403: the token is no repository admin
            pass
        try:
            b = self._get(
                f"{base}/branches/{_seg(branch)}", "GET /repos/{owner}/{repo}/branches/{branch}"
            )
        except (NotFound, ForgeError):
            return None
        if not isinstance(b, dict) or not b.get("protected"):
            return None
        return m.protection(repo_id, branch, b)

    def teams(self, owner: str) -> list[Any]:
        """An organization's teams and their members (a user has none: [])."""
        out: list[Any] = []
        try:
            for items, _ in self._pages(f"/orgs/{_seg(owner)}/teams", "GET /orgs/{org}/teams"):
                for t in items:
                    if not t.get("name") or t.get("id") is None:
                        continue
                    slug = str(t["name"])
                    out.append(Team(self.kind, owner, slug, slug, t.get("description") or None))
                    role = TEAM_ROLES.get(str(t.get("permission")), "member")
                    for u in self._all(f"/teams/{int(t['id'])}/members", "GET /teams/{id}/members"):
                        who = m.person(u)
                        if who is not None:
                            out += [who, TeamMember(self.kind, owner, slug, who.login, role)]
        except (NotFound, ForgeError) as exc:  # a user, or no read:organization scope
            log.debug("teams skipped", owner=owner, reason=str(exc))
            return []
        return out

    # -- pull requests ------------------------------------------------------------------------
    def pull_requests(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        if not self._on(ref, "pulls"):
            return iter(())
        return cut(self._pr_pages(ref, since, resume), since, overlap=True)

    def _pr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None, **extra: Any
    ) -> RawPages:
        """Pull requests most recently updated first, with their details, until ``since``;
        ``extra`` adds listing parameters (a backfill chunk's page size)."""
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {"state": "all", "sort": "recentupdate", **extra}
        yield from self.detail_pages(
            self._base(ref) + "/pulls",
            "GET /repos/{owner}/{repo}/pulls",
            resume,
            params,
            since,
            _updated,
            partial(self._bundle, ref, repo_id),
        )

    def _bundle(self, ref: RepoRef, repo_id: str, item: dict[str, Any]) -> Item:
        pr = m.pull_request(repo_id, item)
        n = pr.number
        base = self._base(ref)
        b = PrBundle(pr)
        people = m.pr_people(item)
        for r in self._all(f"{base}/pulls/{n}/reviews", f"GET {PR}/reviews"):
            state = m.review_state(r)
            if state is None:
                continue
            b.reviews.append(m.review(repo_id, n, r, state))
            people.append(m.person(r.get("user")))
            if r.get("comments_count") == 0:
                continue
            for c in self._all(
                f"{base}/pulls/{n}/reviews/{int(r['id'])}/comments",
                f"GET {PR}/reviews/{{id}}/comments",
            ):
                b.comments.append(m.comment(repo_id, n, c, "review"))
                people.append(m.person(c.get("user")))
        if item.get("comments") != 0:
            for c in self._all(f"{base}/issues/{n}/comments", f"GET {PULL_ISSUE}/comments"):
                b.comments.append(m.comment(repo_id, n, c, "conversation"))
                people.append(m.person(c.get("user")))
        files = self._all_or_none(f"{base}/pulls/{n}/files", f"GET {PR}/files")
        b.files = [m.pr_file(repo_id, n, f) for f in files or []]
        commits = self._all_or_none(
            f"{base}/pulls/{n}/commits", f"GET {PR}/commits", **LEAN_COMMITS
        )
        b.commits = [m.pr_commit(repo_id, n, c) for c in commits or []]
        people += [m.person(c.get("author")) for c in commits or []]
        if pr.additions is None and files is not None:  # servers before the counts were listed
            pr.additions = sum(f.additions or 0 for f in b.files)
            pr.deletions = sum(f.deletions or 0 for f in b.files)
        if pr.changed_files is None and files is not None:
            pr.changed_files = len(b.files)
        pr.commits = len(b.commits) if commits is not None else None
        return pr.updated_at, finish(b.records(), people)

    # -- issues, Actions runs, contributors ---------------------------------------------------
    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        if not self._on(ref, "issues"):
            return iter(())
        # the list comes newest *created* first, cut by ``since`` on the server to the whole
        # second: the issues of the watermark's second that were read before are skipped
        # (their comments not asked for again) and none ends the list early
        return cut(self._issue_pages(ref, since, resume), since, overlap=True)

    def _issue_pages(self, ref: RepoRef, since: datetime | None, resume: str | None) -> RawPages:
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {"state": "all", "type": "issues"}
        if since is not None:
            params["since"] = iso(since)
        yield from self.detail_pages(
            self._base(ref) + "/issues",
            "GET /repos/{owner}/{repo}/issues",
            resume,
            params,
            since,
            _updated,
            partial(self._issue, ref, repo_id),
            ordered=False,
        )

    def _issue(self, ref: RepoRef, repo_id: str, i: dict[str, Any]) -> Item:
        issue = m.issue(repo_id, i)
        recs: list[Any] = [issue]
        people = [m.person(i.get("user"))]
        if issue.comments_count != 0:
            path = f"{self._base(ref)}/issues/{issue.number}/comments"
            for c in self._all(path, f"GET {ISSUE}/comments"):
                recs.append(m.issue_comment(repo_id, issue.number, c))
                people.append(m.person(c.get("user")))
        return issue.updated_at, finish(recs, people)

    def ci_runs(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        if not self._on(ref, "actions"):
            return iter(())
        return cut(self._run_pages(ref, resume), since, overlap=True)

    def _run_pages(self, ref: RepoRef, resume: str | None) -> RawPages:
        """Runs newest first: ``/actions/runs`` (Gitea 1.24, Forgejo), else ``/actions/tasks``
        (Gitea 1.22); a server without Actions has neither (nothing to collect)."""
        repo_id = repository_id(self.kind, ref.full_name)
        for what in ("runs", "tasks"):
            pages = self._pages(
                f"{self._base(ref)}/actions/{what}",
                f"GET /repos/{{owner}}/{{repo}}/actions/{what}",
                resume,
            )
            try:
                first = next(pages, None)
            except NotFound:
                continue
            if first is None:
                return
            for items, nxt in chain([first], pages):  # lazily: the cut stops the listing
                out: list[Item] = []
                errors = 0
                for r in items:
                    try:
                        run = m.ci_run(repo_id, r)
                        changed = run.created_at
                        if changed is None:
                            raise ValueError("run without a start time")
                        out.append((changed, [run]))
                    except BAD_ITEM:
                        errors += 1
                yield out, errors, nxt
            return
        log.debug("no Actions on this server", repository=ref.full_name)

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Gitea has no contributor statistics in its API: authors come from the commits
        (``git:`` mining) and members with ``teams``."""
        return iter(())


def from_options(
    opts: SourceOptions,
    etags: EtagCache | None = None,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> GiteaSource:
    """The source ``forgelens collect gitea:...`` uses (``--api-url`` names the server)."""
    settings = settings or get_settings()
    client = make_client(
        opts,
        default_url=DEFAULT_API_URL,
        profile=PROFILE,
        token=settings.secret(TOKEN),
        etags=etags,
        transport=transport,
        suffix=API_SUFFIX,
    )
    source = GiteaSource(client)
    source.release_rule = ReleaseRule.from_extra(opts.extra)
    return source
