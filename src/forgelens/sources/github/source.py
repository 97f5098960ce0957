"""GitHub (github.com and Enterprise Server) as a ``ForgeSource``: REST v3 and GraphQL v4.

``api="graphql"`` (default) pages pull requests and issues through GraphQL with their nested
lists in the same query, falling back to follow-up queries only for overflowing PRs
(``_graphql.py``); ``api="rest"`` uses REST only (``_rest.py``). Both produce
identical records (tested against the simulator). Repositories, CI runs (Actions),
contributors and teams come from REST in both modes; those GETs are conditional (ETags), so
unchanged resources cost a 304. Deployments: the REST listing, their statuses a GraphQL query
per page when there is a token (``_deployments.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from forgelens.config import Settings, get_settings
from forgelens.errors import BadInput, ForgeError, NotFound
from forgelens.records import BranchProtection, Team, TeamMember, repository_id
from forgelens.sources._forge_common import api_root, cut, make_client
from forgelens.sources._release import ReleaseRule
from forgelens.sources.base import DEPLOYMENTS, RELEASES, Page, RepoRef, RepoSnapshot
from forgelens.sources.github import _graphql as gq
from forgelens.sources.github import _map as m
from forgelens.sources.github._base import _BAD_ITEM, RUNS, graphql_url, log
from forgelens.sources.github._delivery import DeliveryFetch
from forgelens.sources.github._deployments import DeploymentFetch
from forgelens.sources.http import EtagCache

if TYPE_CHECKING:
    from forgelens.sources.forge import SourceOptions

DATA_SOURCE = "insight_github"
TOKEN = "github_token"  # noqa: S105 (the setting holding the token: GITHUB_TOKEN)
DEFAULT_API_URL = "https://api.github.com"
__all__ = ["DATA_SOURCE", "DEFAULT_API_URL", "GitHubSource", "from_options", "graphql_url"]


_T = TypeVar("_T")
PROBE_FRESH = 600.0  # seconds a prefetched probe stands for the repository's own


class GitHubSource(DeploymentFetch, DeliveryFetch):
    kind = m.SOURCE
    data_source = DATA_SOURCE

    # -- repositories -------------------------------------------------------------------------
    def list_repositories(self, target: str) -> list[RepoRef]:
        if "/" in target.strip("/"):
            return [RepoRef.parse(target)]
        owner = target.strip("/")
        try:
            pages = list(
                self._pages(
                    f"/orgs/{owner}/repos", "GET /orgs/{org}/repos", type="all", conditional=True
                )
            )
        except NotFound:
            try:
                pages = list(
                    self._pages(
                        f"/users/{owner}/repos", "GET /users/{user}/repos", conditional=True
                    )
                )
            except NotFound:
                raise NotFound(
                    f"github:{owner}: organization or user not found or the token has no access"
                ) from None
        listed = [
            r for items, _ in pages for r in items if isinstance(r, dict) and r.get("full_name")
        ]
        if self.api != "graphql":  # the listing holds each repository's fields: no GET of its own
            now = time.monotonic()
            with self._probe_lock:
                self._listed.update((str(r["full_name"]).lower(), (now, r)) for r in listed)
        return [_weighed(RepoRef.parse(str(r["full_name"])), r.get("size")) for r in listed]

    def prefetch(self, refs: list[RepoRef]) -> None:
        """Probe ``refs`` ahead, 50 per GraphQL query (2 points per 50 instead of 1 point per
        repository): an org's incremental run mostly finds them unchanged. A repository the
        batch cannot resolve (renamed, gone) is probed alone later, as without a prefetch."""
        if self.api != "graphql":
            return
        for start in range(0, len(refs), gq.PROBE_BATCH):
            chunk = refs[start : start + gq.PROBE_BATCH]
            variables: dict[str, Any] = {}
            for i, ref in enumerate(chunk):
                variables[f"o{i}"], variables[f"n{i}"] = ref.owner, ref.name
            try:
                data = self._probe_batch(len(chunk), variables)
            except ForgeError as exc:
                log.info("batched probe failed, probing one by one", error=exc.message)
                return
            now = time.monotonic()
            for i, ref in enumerate(chunk):
                node = data.get(f"r{i}") if isinstance(data, dict) else None
                if isinstance(node, dict):
                    snap = self._snapshot(node)
                    with self._probe_lock:
                        self._probed[ref.full_name.lower()] = (now, snap)

    def _probe_batch(self, count: int, variables: dict[str, Any]) -> Any:
        """A RepoProbes query; a missing repository is an error of its alias only."""
        spec_doc = gq.repo_probes(count)
        response = self.client.send(self._graphql_spec(spec_doc, "RepoProbes", variables))
        body = response.json()
        data = body.get("data") if isinstance(body, dict) else None
        self._note_budget(data, response.credential, ("RepoProbes", None))
        if not isinstance(data, dict):
            raise ForgeError("GitHub GraphQL answered RepoProbes without data")
        return data

    def _fresh(self, cache: dict[str, tuple[float, _T]], ref: RepoRef) -> _T | None:
        """What ``cache`` (the probes, the org listing) holds for ``ref``, taken out of it,
        when it was read in the last ``PROBE_FRESH`` seconds."""
        with self._probe_lock:
            held = cache.pop(ref.full_name.lower(), None)
        return held[1] if held is not None and time.monotonic() - held[0] < PROBE_FRESH else None

    def repository(self, ref: RepoRef) -> RepoSnapshot:
        probed = self._fresh(self._probed, ref)
        if probed is not None:
            return probed
        try:
            return (
                self._graphql_snapshot(ref) if self.api == "graphql" else self._rest_snapshot(ref)
            )
        except NotFound:
            if self.api != "graphql":
                raise NotFound(
                    f"github:{ref.full_name}: repository not found or the token has no access"
                ) from None
        # GraphQL does not follow renames: ask REST, which redirects (301) to the new name.
        snap = self._rest_snapshot(ref)
        log.info("repository renamed", old=ref.full_name, new=snap.ref.full_name)
        return self._graphql_snapshot(snap.ref)

    def _rest_snapshot(self, ref: RepoRef) -> RepoSnapshot:
        """The repository from the org's listing when this run listed it lately (the same
        fields as its own GET: one request less per repository), else from its GET."""
        payload = self._fresh(self._listed, ref)
        if payload is None:
            try:
                payload = self._get(
                    f"/repos/{ref.full_name}", "GET /repos/{owner}/{repo}", conditional=True
                )
            except NotFound:
                raise NotFound(
                    f"github:{ref.full_name}: repository not found or the token has no access"
                ) from None
        repo = m.repo_rest(payload)
        snap = RepoSnapshot(repo, RepoRef.parse(repo.full_name))
        snap.marks["contributors"] = repo.pushed_at
        if repo.default_branch:
            protection = self.branch_protection(snap.ref, repo.default_branch)
            if protection is not None:
                snap.records.append(protection)
        return snap

    def _graphql_snapshot(self, ref: RepoRef) -> RepoSnapshot:
        data, _ = self.graphql(gq.REPO_PROBE, "RepoProbe", {"owner": ref.owner, "name": ref.name})
        return self._snapshot(data["repository"])

    def _snapshot(self, node: dict[str, Any]) -> RepoSnapshot:
        repo = m.repo_graphql(node)
        snap = RepoSnapshot(repo, RepoRef.parse(repo.full_name))
        for rule in (node.get("branchProtectionRules") or {}).get("nodes") or []:
            if isinstance(rule, dict) and rule.get("pattern") == repo.default_branch:
                snap.records.append(m.protection_graphql(repo.id, str(rule["pattern"]), rule))
        latest_pr = ((node.get("pullRequests") or {}).get("nodes") or [None])[0]
        latest_issue = ((node.get("issues") or {}).get("nodes") or [None])[0]
        snap.marks.update(
            pull_requests=m.ts((latest_pr or {}).get("updatedAt")) if latest_pr else None,
            issues=m.ts((latest_issue or {}).get("updatedAt")) if latest_issue else None,
            contributors=repo.pushed_at,
        )
        snap.marks.update(_delivery_marks(node))
        total = (node.get("allPullRequests") or {}).get("totalCount")
        if isinstance(total, int):
            with self._probe_lock:
                self._pr_totals[snap.ref.full_name.lower()] = total
        return snap

    def branch_protection(self, ref: RepoRef, branch: str) -> BranchProtection | None:
        try:
            payload = self._get(
                f"/repos/{ref.full_name}/branches/{branch}/protection",
                "GET /repos/{owner}/{repo}/branches/{branch}/protection",
                conditional=True,
            )
        except (NotFound, ForgeError):  # not protected, or the token may not read it
            return None
        return m.protection_rest(repository_id(self.kind, ref.full_name), branch, payload)

    def teams(self, owner: str) -> list[Any]:
        out: list[Any] = []
        try:
            teams = [
                t
                for items, _ in self._pages(
                    f"/orgs/{owner}/teams", "GET /orgs/{org}/teams", conditional=True
                )
                for t in items
                if isinstance(t, dict) and t.get("slug")
            ]
            for t in teams:
                slug = str(t["slug"])
                out.append(
                    Team(
                        self.kind,
                        owner,
                        slug,
                        t.get("name"),
                        t.get("description"),
                        (t.get("parent") or {}).get("slug"),
                    )
                )
                endpoint = "GET /orgs/{org}/teams/{team}/members"
                path = f"/orgs/{owner}/teams/{slug}/members"
                maintainers = {
                    m.login(u)
                    for items, _ in self._pages(path, endpoint, role="maintainer", conditional=True)
                    for u in items
                }
                for items, _ in self._pages(path, endpoint, role="all", conditional=True):
                    for u in items:
                        who = m.person(u)
                        if who is not None:
                            role = "maintainer" if who.login in maintainers else "member"
                            out.extend([who, TeamMember(self.kind, owner, slug, who.login, role)])
        except (NotFound, ForgeError) as exc:  # a user, or no org:read scope
            log.debug("teams skipped", owner=owner, reason=str(exc))
            return []
        return out

    # -- pull requests ------------------------------------------------------------------------
    def pull_requests(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        fetch = self._graphql_pr_pages if self.api == "graphql" else self._rest_pr_pages
        return cut(fetch(ref, since, resume), since, overlap=True)

    # -- issues, CI runs, contributors --------------------------------------------------------
    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        fetch = self._graphql_issue_pages if self.api == "graphql" else self._rest_issue_pages
        return cut(fetch(ref, since, resume), since, overlap=True)

    def ci_runs(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {}
        if since is not None:
            params["created"] = ">=" + since.strftime("%Y-%m-%dT%H:%M:%SZ")

        def pages() -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
            for items, nxt in self._pages(
                f"/repos/{ref.full_name}/actions/runs",
                "GET /repos/{owner}/{repo}/actions/runs",
                resume,
                RUNS,
                conditional=True,
                **params,
            ):
                out: list[tuple[datetime, list[Any]]] = []
                errors = 0
                for r in items:
                    try:
                        run = m.ci_run(repo_id, r)
                        if run.created_at is None:
                            raise ValueError("run without created_at")
                        out.append((run.created_at, [run]))
                    except _BAD_ITEM:
                        errors += 1
                yield out, errors, nxt

        return cut(pages(), since, overlap=True)

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        repo_id = repository_id(self.kind, ref.full_name)
        pages = self._pages(
            f"/repos/{ref.full_name}/contributors",
            "GET /repos/{owner}/{repo}/contributors",
            resume,
            conditional=True,
        )
        while True:
            try:
                items, nxt = next(pages)
            except StopIteration:
                return
            except ForgeError as exc:  # e.g. 403 "contributor list is too large" on huge repos
                log.warning("contributors skipped", repository=ref.full_name, reason=exc.message)
                yield Page([], 0, None, None, errors=1)
                return
            records: list[Any] = []
            errors = 0
            for c in items:
                try:
                    records.append(m.contributor(repo_id, c))
                    who = m.person(c)
                    if who is not None:
                        records.append(who)
                except _BAD_ITEM:
                    errors += 1
            yield Page(records, len(records) // 2, None, nxt, errors)


def _weighed(ref: RepoRef, size: Any) -> RepoRef:
    """``ref`` with GitHub's ``size`` (KB of git data) as its scheduling weight."""
    ok = isinstance(size, int) and not isinstance(size, bool) and size > 0
    return RepoRef(ref.owner, ref.name, size) if ok else ref


def from_options(
    opts: SourceOptions,
    etags: EtagCache | None = None,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> GitHubSource:
    """The source ``forgelens collect github:...`` uses, configured from flags and settings."""
    settings = settings or get_settings()
    api = str(opts.extra.get("api", "graphql"))
    if api not in ("graphql", "rest"):
        raise BadInput(f"--api {api!r}: use graphql or rest")
    api_url = api_root(opts, DEFAULT_API_URL)
    rule = ReleaseRule.from_extra(opts.extra)
    client = partial(
        make_client,
        opts,
        default_url=DEFAULT_API_URL,
        profile=None,
        etags=etags,
        transport=transport,
    )
    if settings.github_app_id and settings.github_app_private_key and not settings.secret(TOKEN):
        from forgelens.sources.github.app import AppRouter, GitHubApp

        key = settings.github_app_private_key.get_secret_value()
        app_id = settings.github_app_id

        def for_owner(owner: str) -> GitHubSource:
            app = GitHubApp(app_id, key, api_url, transport=transport, owner=owner)
            src = GitHubSource(client(token=None, tokens=app.pool(), refresh=app.refresh), api=api)
            src.release_rule = rule
            return src

        return AppRouter(for_owner)  # type: ignore[return-value]
    src = GitHubSource(client(token=settings.secret(TOKEN)), api=api)
    src.release_rule = rule
    return src


def _delivery_marks(node: dict[str, Any]) -> dict[str, datetime | None]:
    """The probe's latest change of deployments (created, or a status added) and of published
    releases among the newest ``PROBED`` of each: equal to what the last pass read, the
    (conditional) REST listings are not asked at all. An answer without the connection, or
    with times it cannot read, marks nothing (the listing runs)."""
    marks: dict[str, datetime | None] = {}
    for entity, times in (
        (
            DEPLOYMENTS,
            lambda d: (d.get("updatedAt"), (d.get("latestStatus") or {}).get("createdAt")),
        ),
        (RELEASES, lambda r: () if r.get("isDraft") else (r.get("publishedAt"),)),
    ):
        conn = node.get(entity)
        if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list):
            continue
        nodes = [n for n in conn["nodes"] if isinstance(n, dict)]
        stamps = [t for n in nodes for t in times(n) if t is not None]
        parsed = [m.ts(t) for t in stamps]
        if any(p is None for p in parsed):
            continue
        marks[entity] = max((p for p in parsed if p is not None), default=None)
    return marks
