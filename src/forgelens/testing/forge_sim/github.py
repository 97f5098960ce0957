"""The dataset through GitHub's REST API (v3 shapes, Link pagination, x-ratelimit-* headers).

GraphQL (``POST /graphql``) is answered by ``github_graphql.py``. Paths also work under
``/api/v3`` (GitHub Enterprise Server's layout).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import (
    GITHUB_FILE_CAP,
    Dataset,
    SimComment,
    SimDeployment,
    SimGitCommit,
    SimIssue,
    SimPR,
    SimRelease,
    SimRepo,
)
from forgelens.testing.forge_sim.faults import Budget


def ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class GitHubRenderer:
    prefix = "/"
    # GitHub's largest page (per_page): a test lowers it to page through fewer items
    max_per_page = 100

    def __init__(self, dataset: Dataset) -> None:
        self.ds = dataset
        from forgelens.testing.forge_sim.github_graphql import GraphQL

        self.graphql = GraphQL(dataset, self)
        r = re.compile
        repo = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., SimResponse]]] = [
            ("POST", r(r"^/graphql$"), self.graphql.handle),
            ("GET", r(r"^/rate_limit$"), self.rate_limit),
            ("GET", r(r"^/orgs/(?P<org>[^/]+)/repos$"), self.org_repos),
            ("GET", r(r"^/users/(?P<org>[^/]+)/repos$"), self.org_repos),
            ("GET", r(r"^/orgs/(?P<org>[^/]+)/teams$"), self.teams),
            ("GET", r(r"^/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/members$"), self.members),
            ("GET", r(r"^/orgs/(?P<org>[^/]+)/installation$"), self.installation),
            ("POST", r(r"^/app/installations/(?P<iid>\d+)/access_tokens$"), self.access_token),
            ("GET", r(r"^/repositories/(?P<rid>\d+)(?P<rest>/.*)?$"), self.by_id),
            ("GET", r(repo + r"$"), self.repo),
            ("GET", r(repo + r"/pulls$"), self.pulls),
            ("GET", r(repo + r"/pulls/(?P<n>\d+)$"), self.pull),
            ("GET", r(repo + r"/pulls/(?P<n>\d+)/reviews$"), self.reviews),
            ("GET", r(repo + r"/pulls/(?P<n>\d+)/comments$"), self.review_comments),
            ("GET", r(repo + r"/pulls/(?P<n>\d+)/files$"), self.files),
            ("GET", r(repo + r"/pulls/(?P<n>\d+)/commits$"), self.commits),
            ("GET", r(repo + r"/issues$"), self.issues),
            ("GET", r(repo + r"/issues/(?P<n>\d+)/comments$"), self.issue_comments),
            ("GET", r(repo + r"/contributors$"), self.contributors),
            ("GET", r(repo + r"/branches/(?P<branch>[^/]+)/protection$"), self.protection),
            ("GET", r(repo + r"/actions/runs$"), self.runs),
            ("GET", r(repo + r"/deployments$"), self.deployments),
            ("GET", r(repo + r"/deployments/(?P<did>\d+)/statuses$"), self.deployment_statuses),
            ("GET", r(repo + r"/releases$"), self.releases),
            ("GET", r(repo + r"/git/ref/tags/(?P<tag>.+)$"), self.tag_ref),
            ("GET", r(repo + r"/git/tags/(?P<sha>[0-9a-f]{40})$"), self.tag_object),
            ("GET", r(repo + r"/compare/(?P<base>[^/.]+)\.\.\.(?P<head>[^/.]+)$"), self.compare),
        ]
        self.app_installations: dict[str, int] = {dataset.org: 42}
        self.app_tokens: list[str] = []  # installation tokens handed out (valid for requests)
        self.app_id: str | None = None  # with app_public_key: JWTs of this App are verified
        self.app_public_key: str | None = None

    # -- protocol -----------------------------------------------------------------------------
    def token(self, req: SimRequest) -> str | None:
        value = req.headers.get("authorization", "")
        scheme, _, secret = value.partition(" ")
        return secret.strip() or None if scheme.lower() in ("bearer", "token") else None

    def accepts(self, req: SimRequest) -> bool:
        if req.token in self.app_tokens:
            return True
        return req.path.startswith("/app/") or req.path.endswith("/installation")

    def _app_jwt_ok(self, req: SimRequest) -> bool:
        if self.app_public_key is None:
            return True
        import jwt

        try:
            claims = jwt.decode(req.token or "", self.app_public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == self.app_id

    def handle(self, req: SimRequest) -> SimResponse:
        path = req.path[len("/api/v3") :] if req.path.startswith("/api/v3/") else req.path
        if path == "/api/graphql":
            path = "/graphql"
        for method, pattern, fn in self.routes:
            m = pattern.match(path)
            if m and method == req.method:
                return fn(req, **m.groupdict())
        return self.not_found()

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return SimResponse(401, {"message": "Bad credentials", "documentation_url": "https://docs"})

    def server_error(self, req: SimRequest) -> SimResponse:
        return SimResponse(502, b"<html><body>502 Bad Gateway</body></html>")

    def secondary_limit(self, req: SimRequest, retry_after: float | None) -> SimResponse:
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
        return SimResponse(403, body, headers)

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse:
        if resp.resource == "graphql":
            body = {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}
            return SimResponse(200, body, resource="graphql", cost=0)
        return SimResponse(403, {"message": "API rate limit exceeded for user."}, cost=0)

    def rate_headers(self, resource: str, budget: Budget) -> dict[str, str]:
        if budget.limit == 0:  # GHES with rate limiting off, the way some versions say it
            return {
                "x-ratelimit-limit": "0",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": "0",
            }
        return {
            "x-ratelimit-limit": str(budget.limit),
            "x-ratelimit-remaining": str(budget.remaining),
            "x-ratelimit-used": str(budget.limit - budget.remaining),
            "x-ratelimit-reset": str(math.ceil(budget.reset_at)),
            "x-ratelimit-resource": resource,
        }

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def not_found() -> SimResponse:
        return SimResponse(404, {"message": "Not Found", "documentation_url": "https://docs"})

    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        person = self.ds.person(login)
        pid = person.id if person else abs(hash(login)) % 10**6
        bot = bool(person and person.is_bot)
        return {
            "login": login,
            "id": pid,
            "node_id": f"U_{pid}",
            "type": "Bot" if bot else "User",
            "avatar_url": f"https://avatars.example/u/{pid}",
        }

    def page(self, req: SimRequest, items: list[Any], wrap: str | None = None) -> SimResponse:
        per_page = max(1, min(self.max_per_page, int(req.query.get("per_page", 30))))
        page = max(1, int(req.query.get("page", 1)))
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{req.url(req.path, **{**req.query, "page": page + 1})}>; rel="next"')
            links.append(f'<{req.url(req.path, **{**req.query, "page": last})}>; rel="last"')
        headers = {"link": ", ".join(links)} if links else {}
        body: Any = {"total_count": len(items), wrap: chunk} if wrap else chunk
        return SimResponse(200, body, headers)

    def find_repo(self, owner: str, name: str) -> SimRepo | SimResponse:
        repo = self.ds.repo(owner, name)
        if repo is not None:
            return repo
        rid = self.ds.renamed.get(f"{owner}/{name}".lower())
        if rid is not None and self.ds.repo_by_id(rid) is not None:
            return SimResponse(
                301, {"message": "Moved Permanently"}, {"location": f"/repositories/{rid}"}
            )
        return self.not_found()

    def by_id(self, req: SimRequest, rid: str, rest: str | None) -> SimResponse:
        repo = self.ds.repo_by_id(int(rid))
        if repo is None:
            return self.not_found()
        req.path = f"/repos/{repo.owner}/{repo.name}{rest or ''}"
        return self.handle(req)

    def _pr(self, owner: str, name: str, n: str) -> tuple[SimRepo, SimPR] | SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        pr = repo.pr(int(n))
        return (repo, pr) if pr else self.not_found()

    # -- shapes -------------------------------------------------------------------------------
    def repo_json(self, repo: SimRepo) -> dict[str, Any]:
        open_items = repo.open_prs() + sum(i.state == "open" for i in repo.issues)
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": {"login": repo.owner, "type": "Organization"},
            "private": repo.private,
            "description": repo.description,
            "fork": False,
            "archived": False,
            "language": repo.language,
            "stargazers_count": repo.stars,
            "forks_count": 0,
            "open_issues_count": open_items,
            "size": repo.size_kb(),  # GitHub: the git repository's size in KB
            "default_branch": repo.default_branch,
            "created_at": ts(repo.created_at),
            "updated_at": ts(repo.updated_at),
            "pushed_at": ts(repo.pushed_at),
            "html_url": f"https://github.example/{repo.full_name}",
        }

    def pr_json(self, repo: SimRepo, pr: SimPR, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": pr.id,
            "node_id": f"PR_{pr.id}",
            "number": pr.number,
            "html_url": f"https://github.example/{repo.full_name}/pull/{pr.number}",
            "state": "open" if pr.state == "open" else "closed",
            "title": pr.title,
            "body": pr.body,
            "user": self.user(pr.author),
            "labels": [{"name": label} for label in pr.labels],
            "draft": pr.draft,
            "created_at": ts(pr.created_at),
            "updated_at": ts(pr.updated_at),
            "closed_at": ts(pr.closed_at),
            "merged_at": ts(pr.merged_at),
            "head": {"ref": pr.head, "sha": pr.commits[-1].sha if pr.commits else None},
            "base": {"ref": pr.base},
            "assignees": [self.user(login) for login in pr.assignees],
            "requested_reviewers": [self.user(login) for login in pr.requested_reviewers],
            "requested_teams": [],
        }
        if full:
            out.update(
                merged=pr.state == "merged",
                merged_by=self.user(pr.merged_by),
                additions=pr.additions,
                deletions=pr.deletions,
                changed_files=pr.changed_files,
                commits=len(pr.commits),
                comments=len(pr.comments),
                review_comments=len(pr.review_comments),
            )
        return out

    def comment_json(self, c: SimComment, review_id: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": c.id,
            "user": self.user(c.author),
            "body": c.body,
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
        }
        if c.path is not None:
            out.update(path=c.path, line=c.line, pull_request_review_id=review_id)
        return out

    def issue_json(self, repo: SimRepo, issue: SimIssue) -> dict[str, Any]:
        return {
            "id": issue.id,
            "node_id": f"I_{issue.id}",
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "user": self.user(issue.author),
            "labels": [{"name": n} for n in issue.labels],
            "comments": len(issue.comments),
            "created_at": ts(issue.created_at),
            "updated_at": ts(issue.updated_at),
            "closed_at": ts(issue.closed_at),
            "html_url": f"https://github.example/{repo.full_name}/issues/{issue.number}",
        }

    # -- routes -------------------------------------------------------------------------------
    def rate_limit(self, req: SimRequest) -> SimResponse:
        return SimResponse(200, {"resources": {}}, cost=0)

    def org_repos(self, req: SimRequest, org: str) -> SimResponse:
        if org.lower() != self.ds.org.lower():
            return self.not_found()
        return self.page(req, [self.repo_json(r) for r in self.ds.live_repos()])

    def teams(self, req: SimRequest, org: str) -> SimResponse:
        if org.lower() != self.ds.org.lower():
            return self.not_found()
        items = [
            {
                "slug": t.slug,
                "name": t.name,
                "description": t.description,
                "parent": {"slug": t.parent} if t.parent else None,
            }
            for t in self.ds.teams
        ]
        return self.page(req, items)

    def members(self, req: SimRequest, org: str, slug: str) -> SimResponse:
        team = next((t for t in self.ds.teams if t.slug == slug), None)
        if team is None:
            return self.not_found()
        role = req.query.get("role", "all")
        members = [login for login, r in team.members if role == "all" or r == role]
        return self.page(req, [self.user(m) for m in members])

    def installation(self, req: SimRequest, org: str) -> SimResponse:
        if not self._app_jwt_ok(req):
            return self.unauthorized(req)
        iid = self.app_installations.get(org)
        return SimResponse(200, {"id": iid}) if iid else self.not_found()

    def access_token(self, req: SimRequest, iid: str) -> SimResponse:
        from datetime import UTC, timedelta
        from datetime import datetime as dt

        if not self._app_jwt_ok(req):
            return self.unauthorized(req)
        token = f"ghs_simulated{len(self.app_tokens):04d}installationtoken{iid}"
        self.app_tokens.append(token)
        expires = dt.now(UTC) + timedelta(hours=1)
        return SimResponse(201, {"token": token, "expires_at": ts(expires)})

    def repo(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        return repo if isinstance(repo, SimResponse) else SimResponse(200, self.repo_json(repo))

    def pulls(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        prs = repo.prs_by_updated()
        if req.query.get("direction", "desc") == "asc":
            prs = list(reversed(prs))
        return self.page(req, [self.pr_json(repo, p) for p in prs])

    def pull(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        return SimResponse(200, self.pr_json(*found, full=True))

    def reviews(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "id": r.id,
                "node_id": f"PRR_{r.id}",
                "user": self.user(r.author),
                "body": r.body,
                "state": r.state,
                "submitted_at": ts(r.submitted_at),
                "commit_id": r.commit_sha,
            }
            for r in found[1].reviews
        ]
        return self.page(req, items)

    def review_comments(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        items = [self.comment_json(c, r.id) for r in found[1].reviews for c in r.comments]
        return self.page(req, items)

    def files(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "filename": f.path,
                "status": f.status,
                "additions": f.additions,
                "deletions": f.deletions,
                "changes": f.additions + f.deletions,
            }
            for f in found[1].files[:GITHUB_FILE_CAP]
        ]
        return self.page(req, items)

    def commits(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "sha": c.sha,
                "author": self.user(c.author),
                "commit": {
                    "message": c.message,
                    "author": {
                        "name": c.author_name,
                        "email": c.author_email,
                        "date": ts(c.authored_at),
                    },
                },
            }
            for c in found[1].commits[:250]
        ]
        return self.page(req, items)

    def issues(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        since = parse_ts(req.query["since"]) if req.query.get("since") else None
        items: list[tuple[datetime, int, dict[str, Any]]] = []
        for i in repo.issues:
            if since is None or i.updated_at >= since:
                items.append((i.updated_at, i.number, self.issue_json(repo, i)))
        for p in repo.prs:  # GitHub lists pull requests among issues
            if since is None or p.updated_at >= since:
                shape = {**self.pr_json(repo, p), "pull_request": {"url": "..."}}
                items.append((p.updated_at, p.number, shape))
        items.sort(key=lambda t: (t[0], t[1]), reverse=True)
        return self.page(req, [t[2] for t in items])

    def issue_comments(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        pr, issue = repo.pr(int(n)), repo.issue(int(n))
        comments = pr.comments if pr else issue.comments if issue else None
        if comments is None:
            return self.not_found()
        return self.page(req, [self.comment_json(c) for c in comments])

    def contributors(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        ranked = sorted(repo.contributors.items(), key=lambda kv: (-kv[1], kv[0]))
        return self.page(req, [{**(self.user(k) or {}), "contributions": v} for k, v in ranked])

    def protection(self, req: SimRequest, owner: str, name: str, branch: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection
        if p is None or p.branch != branch:
            return SimResponse(404, {"message": "Branch not protected"})
        return SimResponse(
            200,
            {
                "required_pull_request_reviews": {
                    "required_approving_review_count": p.required_approvals,
                    "require_code_owner_reviews": p.code_owner_reviews,
                    "dismiss_stale_reviews": p.dismiss_stale,
                },
                "required_status_checks": {"contexts": p.checks},
                "enforce_admins": {"enabled": p.enforce_admins},
                "allow_force_pushes": {"enabled": p.allow_force_pushes},
            },
        )

    def runs(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        created = req.query.get("created", "")
        since = parse_ts(created[2:]) if created.startswith(">=") else None
        runs = sorted(repo.runs, key=lambda r: (r.created_at, r.id), reverse=True)
        items = [
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "conclusion": r.conclusion,
                "created_at": ts(r.created_at),
                "updated_at": ts(r.updated_at),
                "run_started_at": ts(r.created_at),
                "head_sha": r.head_sha,
                "head_branch": r.head_branch,
                "event": r.event,
                "html_url": f"https://github.example/{repo.full_name}/actions/runs/{r.id}",
            }
            for r in runs
            if since is None or r.created_at >= since
        ]
        return self.page(req, items, wrap="workflow_runs")

    def deployment_json(self, repo: SimRepo, d: SimDeployment) -> dict[str, Any]:
        api = f"https://api.github.example/repos/{repo.full_name}/deployments/{d.id}"
        return {
            "url": api,
            "id": d.id,
            "node_id": f"DE_{d.id}",
            "sha": d.sha,
            "ref": d.ref,
            "task": "deploy",
            "payload": {},
            "original_environment": d.environment,
            "environment": d.environment,
            "description": None,
            "creator": self.user(d.creator),
            "created_at": ts(d.created_at),
            "updated_at": ts(d.updated_at),
            "statuses_url": f"{api}/statuses",
            "repository_url": f"https://api.github.example/repos/{repo.full_name}",
            "transient_environment": d.transient,
            "production_environment": d.production,
        }

    def deployments(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        """Newest created first; ``sha``, ``ref`` and ``environment`` filter as GitHub's do."""
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        wanted = {k: req.query[k] for k in ("sha", "ref", "environment") if k in req.query}
        deps = sorted(repo.deployments, key=lambda d: (d.created_at, d.id), reverse=True)
        items = [
            self.deployment_json(repo, d)
            for d in deps
            if all(getattr(d, k) == v for k, v in wanted.items())
        ]
        return self.page(req, items)

    def deployment_statuses(self, req: SimRequest, owner: str, name: str, did: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        dep = next((d for d in repo.deployments if d.id == int(did)), None)
        if dep is None:
            return self.not_found()
        base = f"https://github.example/{repo.full_name}/actions/runs/{dep.id}"
        items = [
            {
                "id": s.id,
                "node_id": f"DES_{s.id}",
                "state": s.state,
                "creator": self.user(s.creator),
                "description": "",
                "environment": dep.environment,
                "target_url": base,
                "log_url": base,
                "environment_url": "",
                "created_at": ts(s.created_at),
                "updated_at": ts(s.created_at),
                "deployment_url": f"https://api.github.example/repos/{repo.full_name}/deployments/{dep.id}",
            }
            for s in sorted(dep.statuses, key=lambda s: (s.created_at, s.id), reverse=True)
        ]
        return self.page(req, items)

    # -- releases, tags, compare --------------------------------------------------------------
    def release_json(self, repo: SimRepo, r: SimRelease) -> dict[str, Any]:
        web = f"https://github.example/{repo.full_name}/releases"
        return {
            "url": f"https://api.github.example/repos/{repo.full_name}/releases/{r.id}",
            "html_url": f"{web}/tag/{r.tag}" if not r.draft else f"{web}/untagged-{r.id}",
            "id": r.id,
            "node_id": f"RE_{r.id}",
            "tag_name": r.tag,
            "target_commitish": r.target_commitish,
            "name": f"Release {r.tag}",
            "body": "What changed",
            "draft": r.draft,
            "prerelease": r.prerelease,
            "created_at": ts(r.created_at),
            "published_at": ts(r.published_at),
            "author": self.user(r.author),
            "assets": [],
        }

    def releases(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        """Newest created first, drafts included (the token may push)."""
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        items = sorted(repo.releases, key=lambda r: (r.created_at, r.id), reverse=True)
        return self.page(req, [self.release_json(repo, r) for r in items])

    def _tagged(self, repo: SimRepo, tag: str) -> SimRelease | None:
        return next(
            (r for r in repo.releases if r.tag == tag and not r.draft and not r.tag_deleted), None
        )

    def tag_ref(self, req: SimRequest, owner: str, name: str, tag: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        r = self._tagged(repo, tag)
        if r is None:
            return self.not_found()
        obj = (
            {"type": "tag", "sha": r.tag_object}
            if r.annotated
            else {"type": "commit", "sha": r.sha}
        )
        return SimResponse(
            200, {"ref": f"refs/tags/{tag}", "node_id": f"REF_{r.id}", "object": obj}
        )

    def tag_object(self, req: SimRequest, owner: str, name: str, sha: str) -> SimResponse:
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        r = next((r for r in repo.releases if r.annotated and r.tag_object == sha), None)
        if r is None:
            return self.not_found()
        body = {
            "sha": sha,
            "tag": r.tag,
            "message": f"Release {r.tag}",
            "object": {"type": "commit", "sha": r.sha},
        }
        return SimResponse(200, body)

    def git_commit_json(self, repo: SimRepo, c: SimGitCommit) -> dict[str, Any]:
        who = {"name": c.author_name, "email": c.author_email, "date": ts(c.at)}
        api = f"https://api.github.example/repos/{repo.full_name}/commits"
        return {
            "sha": c.sha,
            "commit": {"author": who, "committer": who, "message": c.message},
            "author": self.user(c.author),
            "committer": self.user(c.author),
            "parents": [{"sha": p, "url": f"{api}/{p}"} for p in c.parents],
        }

    def compare(self, req: SimRequest, owner: str, name: str, base: str, head: str) -> SimResponse:
        """GitHub's compare of one line of history: up to 250 commits unless paged
        (``per_page`` / ``page``, Link header), ``total_commits`` always the whole count."""
        repo = self.find_repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        line = repo.history()
        at = {c.sha: i for i, c in enumerate(line)}
        if base not in at or head not in at:
            return SimResponse(404, {"message": "Not Found"})
        b, h = at[base], at[head]
        listed = line[b + 1 : h + 1] if h > b else []
        status = "identical" if h == b else "ahead" if h > b else "behind"
        headers: dict[str, str] = {}
        if "per_page" in req.query or "page" in req.query:
            per_page = max(1, min(100, int(req.query.get("per_page", 30))))
            page = max(1, int(req.query.get("page", 1)))
            chunk = listed[(page - 1) * per_page : page * per_page]
            if page * per_page < len(listed):
                nxt = req.url(req.path, **{**req.query, "page": page + 1})
                headers["link"] = f'<{nxt}>; rel="next"'
        else:
            chunk = listed[:250]
        body = {
            "status": status,
            "ahead_by": len(listed),
            "behind_by": b - h if h < b else 0,
            "total_commits": len(listed),
            "base_commit": self.git_commit_json(repo, line[b]),
            "merge_base_commit": self.git_commit_json(repo, line[min(b, h)]),
            "commits": [self.git_commit_json(repo, c) for c in chunk],
            "files": [],
        }
        return SimResponse(200, body, headers)
