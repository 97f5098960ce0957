"""GitHub (github.com and Enterprise Server) as a ``ForgeSource``: REST v3 and GraphQL v4.

``api="graphql"`` (default) pages pull requests and issues through GraphQL with their nested
lists in the same query, falling back to follow-up queries only for overflowing PRs;
``api="rest"`` uses REST only. Both produce identical records (tested against the simulator).
Repositories, CI runs (Actions), contributors and teams come from REST in both modes; GET
requests are conditional (ETags), so unchanged resources cost a 304.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from forgelens.config import Settings, get_settings
from forgelens.errors import BadInput, ForgeError, NotFound
from forgelens.logs import get_logger
from forgelens.records import BranchProtection, Person, Team, TeamMember, repository_id
from forgelens.sources import _github_graphql as gq
from forgelens.sources import _github_map as m
from forgelens.sources._pagination import GraphQLCursorPaginator, LinkHeaderPaginator
from forgelens.sources._ratelimit import TokenPool, backoff_delay
from forgelens.sources.base import Page, PrBundle, RepoRef, RepoSnapshot
from forgelens.sources.http import ClientPolicy, EtagCache, HttpClient, RequestSpec

if TYPE_CHECKING:
    from forgelens.engine.collect import CollectOptions

log = get_logger(__name__)

DATA_SOURCE = "insight_github"
DEFAULT_API_URL = "https://api.github.com"
LINK = LinkHeaderPaginator()
RUNS = LinkHeaderPaginator(items_key="workflow_runs")
FILE_CAP = 3000  # GitHub lists at most 3,000 files of a pull request
_BAD_ITEM = (KeyError, TypeError, ValueError, AttributeError)


def graphql_url(api_url: str) -> str:
    """``https://api.github.com`` -> ``.../graphql``; GHES ``https://h/api/v3`` -> ``https://h/api/graphql``."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


class GitHubSource:
    kind = m.SOURCE
    data_source = DATA_SOURCE

    def __init__(self, client: HttpClient, *, api: str = "graphql", graphql_retries: int = 4):
        self.client = client
        self.api = api
        self.graphql_url = graphql_url(client.base_url)
        self.graphql_retries = graphql_retries
        self.pr_page = gq.PR_PAGE
        self.app: Any = None  # a GitHubApp whose installation follows the collected owner

    @property
    def api_calls(self) -> int:
        return self.client.stats.total

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GitHubSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------
    def _get(self, path: str, endpoint: str, *, conditional: bool = False, **params: Any) -> Any:
        spec = RequestSpec("GET", path, endpoint, params=params, conditional=conditional)
        return self.client.send(spec).json()

    def _pages(
        self,
        path: str,
        endpoint: str,
        resume: str | None = None,
        paginator: Any = LINK,
        *,
        conditional: bool = False,
        **params: Any,
    ) -> Iterator[tuple[list[Any], str | None]]:
        spec = RequestSpec(
            "GET", path, endpoint, params={"per_page": 100, **params}, conditional=conditional
        )
        if resume:
            spec = paginator.resume(spec, resume)
        for _resp, items, nxt in self.client.paginate(spec, paginator):
            yield items, nxt

    def graphql(self, document: str, operation: str, variables: dict[str, Any]) -> tuple[Any, int]:
        """Run one query; return (data, errors accepted). Retries transient GraphQL errors,
        waits on RATE_LIMITED, raises ``NotFound`` for a missing repository."""
        payload = {"query": document, "variables": variables, "operationName": operation}
        spec = RequestSpec(
            "POST", self.graphql_url, f"POST /graphql {operation}", json=payload, resource="graphql"
        )
        attempt = 0
        while True:
            body = self.client.send(spec).json()
            if not isinstance(body, dict):
                raise ForgeError(f"GitHub GraphQL answered {operation} with something unusable")
            data, errors = body.get("data"), body.get("errors") or []
            self._note_budget(data)
            if not errors:
                return data, 0
            types = {str(e.get("type")) for e in errors if isinstance(e, dict)}
            if "RATE_LIMITED" in types:
                self.client.wait_for_reset("graphql")
                continue
            if "NOT_FOUND" in types and (
                not isinstance(data, dict) or data.get("repository") is None
            ):
                raise NotFound(
                    f"github:{variables.get('owner')}/{variables.get('name')}: repository not "
                    "found or "
                    "the token has no access"
                )
            attempt += 1
            first = errors[0].get("message") if isinstance(errors[0], dict) else errors[0]
            log.debug("graphql errors", operation=operation, types=sorted(types), attempt=attempt)
            if attempt < self.graphql_retries:
                self.client._sleep(
                    backoff_delay(
                        attempt,
                        base=self.client.policy.backoff_base,
                        cap=self.client.policy.backoff_cap,
                    )
                )
                continue
            # Partial data would leave holes behind the cursor: fail this repository instead;
            # its cursor stays at the last committed chunk and the next run resumes there.
            raise ForgeError(
                f"GitHub GraphQL {operation} kept returning errors ({str(first)[:200]}); "
                "collected data is kept and the next run resumes from here"
            )

    def _note_budget(self, data: Any) -> None:
        rate = data.get("rateLimit") if isinstance(data, dict) else None
        if isinstance(rate, dict) and isinstance(rate.get("remaining"), int):
            reset = m.ts(rate.get("resetAt"))
            self.client.update_budget(
                "graphql",
                remaining=rate["remaining"],
                limit=int(rate.get("limit") or 0),
                reset_at=reset.timestamp() if reset else None,
            )

    # -- repositories -------------------------------------------------------------------------
    def list_repositories(self, target: str) -> list[RepoRef]:
        if self.app is not None:
            self.app.owner = target.strip("/").split("/")[0]
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
        return [
            RepoRef.parse(str(r["full_name"]))
            for items, _ in pages
            for r in items
            if isinstance(r, dict) and r.get("full_name")
        ]

    def repository(self, ref: RepoRef) -> RepoSnapshot:
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
        node = data["repository"]
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
        return self._cut(fetch(ref, since, resume), since)

    @staticmethod
    def _cut(
        pages: Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]],
        since: datetime | None,
    ) -> Iterator[Page]:
        """Turn (items with their change time, errors, resume) into Pages stopped at ``since``."""
        for items, errors, nxt in pages:
            records: list[Any] = []
            people: dict[str, Person] = {}
            high: datetime | None = None
            count, done = 0, False
            for changed, recs in items:
                if since is not None and changed < since:
                    done = True
                    break
                count += 1
                high = changed if high is None or changed > high else high
                for r in recs:
                    if isinstance(r, Person):
                        people.setdefault(r.login, r)
                    else:
                        records.append(r)
            records.extend(people.values())
            yield Page(records, count, high, None if done else nxt, errors, done)
            if done:
                return

    def _rest_pr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        base = f"/repos/{ref.full_name}/pulls"
        for items, nxt in self._pages(
            base,
            "GET /repos/{owner}/{repo}/pulls",
            resume,
            state="all",
            sort="updated",
            direction="desc",
        ):
            out: list[tuple[datetime, list[Any]]] = []
            errors = 0
            for item in items:
                if _older(item.get("updated_at") if isinstance(item, dict) else None, since):
                    yield out, errors, None  # reached the watermark: nothing older is needed
                    return
                try:
                    n = int(item["number"])
                    full = self._get(f"{base}/{n}", "GET /repos/{owner}/{repo}/pulls/{number}")
                    out.append(self._rest_bundle(ref, repo_id, full))
                except _BAD_ITEM as exc:
                    errors += 1
                    log.warning("pull request skipped", repository=ref.full_name, error=repr(exc))
            yield out, errors, nxt

    def _rest_list(self, path: str, endpoint: str, cap: int | None = None) -> list[Any]:
        out: list[Any] = []
        for items, _ in self._pages(path, endpoint):
            out.extend(i for i in items if isinstance(i, dict))
            if cap is not None and len(out) >= cap:
                return out[:cap]
        return out

    def _rest_bundle(
        self, ref: RepoRef, repo_id: str, p: dict[str, Any]
    ) -> tuple[datetime, list[Any]]:
        pr = m.pr_rest(repo_id, p)
        n, base = pr.number, f"/repos/{ref.full_name}"
        b = PrBundle(pr)
        people = [m.person(p.get("user")), m.person(p.get("merged_by"))]
        for r in self._rest_list(
            f"{base}/pulls/{n}/reviews", "GET /repos/{owner}/{repo}/pulls/{number}/reviews"
        ):
            b.reviews.append(m.review(repo_id, n, r))
            people.append(m.person(r.get("user")))
        for c in self._rest_list(
            f"{base}/pulls/{n}/comments", "GET /repos/{owner}/{repo}/pulls/{number}/comments"
        ):
            b.comments.append(m.comment(repo_id, n, c, "review"))
            people.append(m.person(c.get("user")))
        for c in self._rest_list(
            f"{base}/issues/{n}/comments", "GET /repos/{owner}/{repo}/issues/{number}/comments"
        ):
            b.comments.append(m.comment(repo_id, n, c, "conversation"))
            people.append(m.person(c.get("user")))
        files = self._rest_list(
            f"{base}/pulls/{n}/files", "GET /repos/{owner}/{repo}/pulls/{number}/files", FILE_CAP
        )
        b.files = [m.pr_file(repo_id, n, f) for f in files]
        commits = self._rest_list(
            f"{base}/pulls/{n}/commits", "GET /repos/{owner}/{repo}/pulls/{number}/commits"
        )
        b.commits = [m.pr_commit(repo_id, n, c) for c in commits]
        return pr.updated_at, _finish(b, people)

    def _graphql_pr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        after = resume or None
        paginator = GraphQLCursorPaginator(("repository", "pullRequests"))
        while True:
            variables = {
                "owner": ref.owner,
                "name": ref.name,
                "first": self.pr_page,
                "after": after,
                **gq.NESTED_SIZES,
            }
            try:
                data, errors = self.graphql(gq.PULL_REQUESTS, "PullRequests", variables)
            except ForgeError:
                if self.pr_page <= 5:
                    raise
                self.pr_page = max(5, self.pr_page // 2)  # GitHub timed out: ask for less
                log.info("graphql page size reduced", size=self.pr_page)
                continue
            conn = paginator.connection({"data": data})
            out: list[tuple[datetime, list[Any]]] = []
            nodes: list[Any] = conn.get("nodes") or []
            for node in nodes:
                if not isinstance(node, dict):
                    continue  # counted in ``errors`` (partial data)
                if _older(node.get("updatedAt"), since):
                    yield out, errors, None  # reached the watermark
                    return
                try:
                    out.append(self._graphql_bundle(ref, repo_id, node))
                except _BAD_ITEM as exc:
                    errors += 1
                    log.warning("pull request skipped", repository=ref.full_name, error=repr(exc))
            info = conn.get("pageInfo") or {}
            nxt = info.get("endCursor") if info.get("hasNextPage") else None
            yield out, errors, nxt
            if not nxt:
                return
            after = nxt

    def _all_nodes(
        self, ref: RepoRef, node: dict[str, Any], nested: gq.Nested, number: int
    ) -> list[Any]:
        conn = node.get(nested.key) or {}
        nodes = [n for n in conn.get("nodes") or [] if isinstance(n, dict)]
        info = conn.get("pageInfo") or {}
        after = info.get("endCursor")
        cap = FILE_CAP if nested.key == "files" else None
        while info.get("hasNextPage") and after and (cap is None or len(nodes) < cap):
            variables = {
                "owner": ref.owner,
                "name": ref.name,
                "number": number,
                "first": 100,
                "after": after,
                "reviewComments": gq.NESTED_SIZES["reviewComments"],
            }
            data, _ = self.graphql(nested.document, nested.operation, variables)
            conn = ((data.get("repository") or {}).get("pullRequest") or {}).get(nested.key) or {}
            nodes.extend(n for n in conn.get("nodes") or [] if isinstance(n, dict))
            info = conn.get("pageInfo") or {}
            after = info.get("endCursor")
        return nodes

    def _review_comments(self, review: dict[str, Any]) -> list[Any]:
        conn = review.get("comments") or {}
        nodes = [n for n in conn.get("nodes") or [] if isinstance(n, dict)]
        info = conn.get("pageInfo") or {}
        while info.get("hasNextPage") and info.get("endCursor"):
            variables = {"id": review["id"], "first": 100, "after": info["endCursor"]}
            data, _ = self.graphql(gq.REVIEW_COMMENTS, "ReviewComments", variables)
            conn = (data.get("node") or {}).get("comments") or {}
            nodes.extend(n for n in conn.get("nodes") or [] if isinstance(n, dict))
            info = conn.get("pageInfo") or {}
        return nodes

    def _graphql_bundle(
        self, ref: RepoRef, repo_id: str, node: dict[str, Any]
    ) -> tuple[datetime, list[Any]]:
        pr = m.pr_graphql(repo_id, node)
        n = pr.number
        nested = {x.key: self._all_nodes(ref, node, x, n) for x in gq.NESTED}
        b = PrBundle(pr)
        people = [m.person(node.get("author")), m.person(node.get("mergedBy"))]
        review_comments = []
        for r in nested["reviews"]:
            b.reviews.append(m.review(repo_id, n, r))
            people.append(m.person(r.get("author")))
            review_comments.extend(self._review_comments(r))
        for c in review_comments:
            b.comments.append(m.comment(repo_id, n, c, "review"))
            people.append(m.person(c.get("author")))
        for c in nested["comments"]:
            b.comments.append(m.comment(repo_id, n, c, "conversation"))
            people.append(m.person(c.get("author")))
        b.files = [m.pr_file(repo_id, n, f) for f in nested["files"]]
        b.commits = [m.pr_commit(repo_id, n, c) for c in nested["commits"]]
        return pr.updated_at, _finish(b, people)

    # -- issues, CI runs, contributors --------------------------------------------------------
    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        fetch = self._graphql_issue_pages if self.api == "graphql" else self._rest_issue_pages
        return self._cut(fetch(ref, since, resume), since)

    def _rest_issue_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "desc"}
        if since is not None:
            params["since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        endpoint = "GET /repos/{owner}/{repo}/issues/{number}/comments"
        for items, nxt in self._pages(
            f"/repos/{ref.full_name}/issues", "GET /repos/{owner}/{repo}/issues", resume, **params
        ):
            out: list[tuple[datetime, list[Any]]] = []
            errors = 0
            for i in items:
                if not isinstance(i, dict) or "pull_request" in i:
                    continue  # pull requests are listed among issues
                try:
                    issue = m.issue(repo_id, i)
                    recs: list[Any] = [issue, m.person(i.get("user"))]
                    if issue.comments_count:
                        for c in self._rest_list(
                            f"/repos/{ref.full_name}/issues/{issue.number}/comments", endpoint
                        ):
                            recs += [
                                m.issue_comment(repo_id, issue.number, c),
                                m.person(c.get("user")),
                            ]
                    out.append((issue.updated_at, [r for r in recs if r is not None]))
                except _BAD_ITEM:
                    errors += 1
            yield out, errors, nxt

    def _graphql_issue_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        after = resume or None
        while True:
            variables = {
                "owner": ref.owner,
                "name": ref.name,
                "first": 50,
                "after": after,
                "since": since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None,
                "comments": gq.NESTED_SIZES["comments"],
            }
            data, errors = self.graphql(gq.ISSUES, "Issues", variables)
            conn = (data.get("repository") or {}).get("issues") or {}
            out: list[tuple[datetime, list[Any]]] = []
            for node in conn.get("nodes") or []:
                if not isinstance(node, dict):
                    continue
                try:
                    issue = m.issue(repo_id, node)
                    comments = self._issue_comments(ref, node, issue.number)
                    recs: list[Any] = [issue, m.person(node.get("author"))]
                    for c in comments:
                        recs += [
                            m.issue_comment(repo_id, issue.number, c),
                            m.person(c.get("author")),
                        ]
                    out.append((issue.updated_at, [r for r in recs if r is not None]))
                except _BAD_ITEM:
                    errors += 1
            info = conn.get("pageInfo") or {}
            nxt = info.get("endCursor") if info.get("hasNextPage") else None
            yield out, errors, nxt
            if not nxt:
                return
            after = nxt

    def _issue_comments(self, ref: RepoRef, node: dict[str, Any], number: int) -> list[Any]:
        conn = node.get("comments") or {}
        nodes = [n for n in conn.get("nodes") or [] if isinstance(n, dict)]
        info = conn.get("pageInfo") or {}
        while info.get("hasNextPage") and info.get("endCursor"):
            variables = {
                "owner": ref.owner,
                "name": ref.name,
                "number": number,
                "first": 100,
                "after": info["endCursor"],
            }
            data, _ = self.graphql(gq.ISSUE_COMMENTS, "IssueComments", variables)
            conn = ((data.get("repository") or {}).get("issue") or {}).get("comments") or {}
            nodes.extend(n for n in conn.get("nodes") or [] if isinstance(n, dict))
            info = conn.get("pageInfo") or {}
        return nodes

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

        return self._cut(pages(), since)

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        repo_id = repository_id(self.kind, ref.full_name)
        for items, nxt in self._pages(
            f"/repos/{ref.full_name}/contributors",
            "GET /repos/{owner}/{repo}/contributors",
            resume,
            conditional=True,
        ):
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


def _older(stamp: Any, since: datetime | None) -> bool:
    changed = m.ts(stamp)
    return since is not None and changed is not None and changed < since


def _finish(bundle: PrBundle, people: list[Person | None]) -> list[Any]:
    pr = bundle.pr
    if pr.changed_files is not None and pr.changed_files > len(bundle.files):
        pr.files_truncated = len(bundle.files) >= FILE_CAP or pr.changed_files > FILE_CAP
    seen: dict[str, Person] = {}
    for p in people:
        if p is not None:
            seen.setdefault(p.login, p)
    return [*bundle.records(), *seen.values()]


def token_pool(settings: Settings) -> TokenPool:
    secret = settings.github_token.get_secret_value() if settings.github_token else None
    return TokenPool.from_env_value(secret)


def from_options(
    opts: CollectOptions,
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
    policy = ClientPolicy(
        no_wait=bool(opts.extra.get("no_wait", False)),
        concurrency=max(1, int(str(opts.extra.get("concurrency", 4)))),
    )
    api_url = (opts.api_url or DEFAULT_API_URL).rstrip("/")
    if not api_url.startswith(("https://", "http://")):
        raise BadInput(
            f"--api-url {api_url!r}: give a URL such as https://github.example.com/api/v3"
        )
    refresh, app = None, None
    if settings.github_app_id and settings.github_app_private_key and not settings.github_token:
        from forgelens.sources.github_app import GitHubApp

        app = GitHubApp(
            settings.github_app_id,
            settings.github_app_private_key.get_secret_value(),
            api_url,
            transport=transport,
        )
        tokens, refresh = app.pool(), app.refresh
    else:
        tokens = token_pool(settings)
    client = HttpClient(
        api_url, tokens=tokens, policy=policy, etags=etags, transport=transport, refresh=refresh
    )
    source = GitHubSource(client, api=api)
    source.app = app
    return source
