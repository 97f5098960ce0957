"""The dataset through Bitbucket Server / Data Center REST 1.0 (under ``/rest``).

The organization is a project whose key is the upper-cased org name. Paged responses carry
``start``/``limit``/``isLastPage``/``nextPageStart`` (default 25, max 1000). Pull requests are
listed ``order=NEWEST`` (last update first) with no update filter; activities carry approvals
(``APPROVED``), "needs work" (``REVIEWED``), comments (with ``commentAnchor`` for inline ones)
and the merge; ``/diff`` carries hunks and segments; build statuses hang off commits.
Rate limiting is a token bucket: 429 with ``Retry-After``.
"""

from __future__ import annotations

import time
from typing import Any

from forgelens.testing.forge_sim._rest import RestRenderer, epoch_ms, reviews_of
from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import Dataset, SimComment, SimPR, SimRepo
from forgelens.testing.forge_sim.faults import Budget

PR_STATES = {"open": "OPEN", "closed": "DECLINED", "merged": "MERGED"}
REVIEW_ACTIONS = {"APPROVED": "APPROVED", "CHANGES_REQUESTED": "REVIEWED"}
BUILD_STATES = {"success": "SUCCESSFUL", "failure": "FAILED", None: "INPROGRESS"}


class BitbucketServerRenderer(RestRenderer):
    prefix = "/rest"

    def __init__(self, dataset: Dataset, *, version: str = "8.19.1") -> None:
        super().__init__(dataset)
        self.version = version
        repo = r"/api/1\.0/projects/(?P<key>[^/]+)/repos/(?P<slug>[^/]+)"
        pr = repo + r"/pull-requests/(?P<n>\d+)"
        self.add("GET", r"/api/1\.0/application-properties", self.properties)
        self.add("GET", r"/api/1\.0/projects/(?P<key>[^/]+)/repos", self.repos)
        self.add("GET", repo, self.repo)
        self.add("GET", repo + r"/default-branch", self.default_branch)
        self.add("GET", repo + r"/settings/pull-requests", self.pr_settings)
        self.add("GET", repo + r"/pull-requests", self.pull_requests)
        self.add("GET", pr, self.one_pr)
        self.add("GET", pr + r"/activities", self.activities)
        self.add("GET", pr + r"/diff", self.diff)
        self.add("GET", pr + r"/commits", self.pr_commits)
        self.add("GET", repo + r"/commits", self.repo_commits_route)
        self.add("GET", r"/build-status/1\.0/commits/(?P<sha>[0-9a-f]+)", self.builds)
        self.add(
            "GET",
            r"/branch-permissions/2\.0/projects/(?P<key>[^/]+)/repos/(?P<slug>[^/]+)/restrictions",
            self.restrictions,
        )

    # -- protocol -----------------------------------------------------------------------------
    def not_found(self) -> SimResponse:
        return SimResponse(404, {"errors": [{"message": "not found", "context": None}]})

    def unauthorized(self, req: SimRequest) -> SimResponse:
        body = {"errors": [{"message": "Authentication failed. Please check your credentials."}]}
        return SimResponse(401, body)

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse:
        wait = max(1, int(budget.reset_at - time.time()))
        body = {"errors": [{"message": "You have been rate limited. Please try again later."}]}
        return SimResponse(429, body, {"retry-after": str(wait)}, cost=0)

    # -- shapes -------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return self.ds.org.upper()

    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        person = self.ds.person(login)
        return {
            "name": login,
            "slug": login,
            "id": person.id if person else abs(hash(login)) % 10**6,
            "displayName": person.name if person else login,
            "emailAddress": person.email if person else None,
            "active": True,
            "type": "SERVICE" if person and person.is_bot else "NORMAL",
        }

    def page(self, req: SimRequest, items: list[Any]) -> SimResponse:
        limit = max(1, min(1000, int(req.query.get("limit", 25))))
        start = max(0, int(req.query.get("start", 0)))
        chunk = items[start : start + limit]
        last = start + limit >= len(items)
        body: dict[str, Any] = {
            "size": len(chunk),
            "limit": limit,
            "start": start,
            "isLastPage": last,
            "values": chunk,
        }
        if not last:
            body["nextPageStart"] = start + limit
        return SimResponse(200, body)

    def repo_json(self, repo: SimRepo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "slug": repo.name,
            "name": repo.name,
            "description": repo.description,
            "state": "AVAILABLE",
            "public": not repo.private,
            "forkable": True,
            "project": {"key": self.key, "name": self.ds.org, "id": 1},
            "links": {"self": [{"href": f"https://bitbucket.example/projects/{self.key}/repos/x"}]},
        }

    def pr_json(self, repo: SimRepo, pr: SimPR) -> dict[str, Any]:
        return {
            "id": pr.number,
            "version": 3,
            "title": pr.title,
            "description": pr.body,
            "state": PR_STATES[pr.state],
            "open": pr.state == "open",
            "closed": pr.state != "open",
            "draft": pr.draft,
            "createdDate": epoch_ms(pr.created_at),
            "updatedDate": epoch_ms(pr.updated_at),
            "closedDate": epoch_ms(pr.closed_at),
            "fromRef": {"id": f"refs/heads/{pr.head}", "displayId": pr.head},
            "toRef": {"id": f"refs/heads/{pr.base}", "displayId": pr.base},
            "author": {"user": self.user(pr.author), "role": "AUTHOR", "approved": False},
            "reviewers": [
                {"user": self.user(r.author), "role": "REVIEWER", "status": r.state}
                for r in reviews_of(pr)
                if r.author
            ],
            "properties": {"commentCount": len(pr.comments) + len(pr.review_comments)},
            "links": {"self": [{"href": f"https://bitbucket.example/pr/{pr.number}"}]},
        }

    def comment_activity(self, c: SimComment) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": c.id * 10 + 1,
            "createdDate": epoch_ms(c.created_at),
            "user": self.user(c.author),
            "action": "COMMENTED",
            "commentAction": "ADDED",
            "comment": {
                "id": c.id,
                "version": 0,
                "text": c.body,
                "author": self.user(c.author),
                "createdDate": epoch_ms(c.created_at),
                "updatedDate": epoch_ms(c.updated_at),
                "comments": [],
            },
        }
        if c.path:
            out["commentAnchor"] = {"path": c.path, "line": c.line, "lineType": "ADDED"}
        return out

    def find(self, key: str, slug: str) -> SimRepo | SimResponse:
        if key.upper() != self.key:
            return self.not_found()
        return self.find_repo(self.ds.org, slug)

    def find_pr(self, key: str, slug: str, n: str) -> tuple[SimRepo, SimPR] | SimResponse:
        repo = self.find(key, slug)
        if isinstance(repo, SimResponse):
            return repo
        pr = repo.pr(int(n))
        return (repo, pr) if pr else self.not_found()

    # -- routes -------------------------------------------------------------------------------
    def properties(self, req: SimRequest) -> SimResponse:
        body = {"version": self.version, "buildNumber": "8019001", "displayName": "Bitbucket"}
        return SimResponse(200, body)

    def repos(self, req: SimRequest, key: str) -> SimResponse:
        if key.upper() != self.key:
            return self.not_found()
        return self.page(req, [self.repo_json(r) for r in self.ds.live_repos()])

    def repo(self, req: SimRequest, key: str, slug: str) -> SimResponse:
        repo = self.find(key, slug)
        return repo if isinstance(repo, SimResponse) else SimResponse(200, self.repo_json(repo))

    def default_branch(self, req: SimRequest, key: str, slug: str) -> SimResponse:
        repo = self.find(key, slug)
        if isinstance(repo, SimResponse):
            return repo
        branch = repo.default_branch
        return SimResponse(200, {"id": f"refs/heads/{branch}", "displayId": branch})

    def pr_settings(self, req: SimRequest, key: str, slug: str) -> SimResponse:
        repo = self.find(key, slug)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection
        return SimResponse(
            200,
            {
                "requiredApprovers": p.required_approvals if p else 0,
                "requiredAllApprovers": False,
                "requiredAllTasksComplete": False,
                "requiredSuccessfulBuilds": len(p.checks) if p else 0,
            },
        )

    def restrictions(self, req: SimRequest, key: str, slug: str) -> SimResponse:
        repo = self.find(key, slug)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection
        items: list[dict[str, Any]] = []
        if p is not None:
            matcher = {
                "id": f"refs/heads/{p.branch}",
                "displayId": p.branch,
                "type": {"id": "BRANCH", "name": "Branch"},
                "active": True,
            }
            kinds = ["pull-request-only", "no-deletes"]
            if not p.allow_force_pushes:
                kinds.append("fast-forward-only")
            items = [
                {"id": 10 + k, "type": kind, "matcher": matcher, "users": [], "groups": []}
                for k, kind in enumerate(kinds)
            ]
        return self.page(req, items)

    def pull_requests(self, req: SimRequest, key: str, slug: str) -> SimResponse:
        repo = self.find(key, slug)
        if isinstance(repo, SimResponse):
            return repo
        state = req.query.get("state", "OPEN").upper()
        prs = [p for p in repo.prs_by_updated() if state == "ALL" or PR_STATES[p.state] == state]
        if req.query.get("order", "NEWEST").upper() == "OLDEST":
            prs.reverse()
        return self.page(req, [self.pr_json(repo, p) for p in prs])

    def one_pr(self, req: SimRequest, key: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(key, slug, n)
        return found if isinstance(found, SimResponse) else SimResponse(200, self.pr_json(*found))

    def activities(self, req: SimRequest, key: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(key, slug, n)
        if isinstance(found, SimResponse):
            return found
        pr = found[1]
        items: list[dict[str, Any]] = [
            self.comment_activity(c) for c in [*pr.comments, *pr.review_comments]
        ]
        for r in reviews_of(pr):
            items.append(
                {
                    "id": r.id,
                    "createdDate": epoch_ms(r.submitted_at),
                    "user": self.user(r.author),
                    "action": REVIEW_ACTIONS[r.state],
                }
            )
        items.append(
            {
                "id": pr.id,
                "createdDate": epoch_ms(pr.created_at),
                "user": self.user(pr.author),
                "action": "OPENED",
            }
        )
        if pr.state == "merged":
            items.append(
                {
                    "id": pr.id + 1,
                    "createdDate": epoch_ms(pr.merged_at),
                    "user": self.user(pr.merged_by),
                    "action": "MERGED",
                }
            )
        items.sort(key=lambda a: (a["createdDate"], a["id"]), reverse=True)  # newest first
        return self.page(req, items)

    def diff(self, req: SimRequest, key: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(key, slug, n)
        if isinstance(found, SimResponse):
            return found
        diffs = []
        for f in found[1].files:
            path = {"components": f.path.split("/"), "name": f.path, "toString": f.path}
            segments = []
            if f.deletions:
                lines = [
                    {"source": k + 1, "destination": 0, "line": "old"} for k in range(f.deletions)
                ]
                segments.append({"type": "REMOVED", "lines": lines})
            if f.additions:
                lines = [
                    {"source": 0, "destination": k + 1, "line": "new"} for k in range(f.additions)
                ]
                segments.append({"type": "ADDED", "lines": lines})
            diffs.append(
                {
                    "source": None if f.status == "added" else path,
                    "destination": None if f.status == "removed" else path,
                    "hunks": [{"segments": segments, "truncated": False}] if segments else [],
                    "truncated": False,
                }
            )
        return SimResponse(200, {"contextLines": 0, "whitespace": "SHOW", "diffs": diffs})

    def commit_json(self, c: Any) -> dict[str, Any]:
        author = self.user(c.author) or {}
        return {
            "id": c.sha,
            "displayId": c.sha[:11],
            "author": {**author, "displayName": c.author_name, "emailAddress": c.author_email},
            "authorTimestamp": epoch_ms(c.authored_at),
            "committerTimestamp": epoch_ms(c.authored_at),
            "message": c.message,
            "parents": [],
        }

    def pr_commits(self, req: SimRequest, key: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(key, slug, n)
        if isinstance(found, SimResponse):
            return found
        return self.page(req, [self.commit_json(c) for c in reversed(found[1].commits)])

    def repo_commits_route(self, req: SimRequest, key: str, slug: str) -> SimResponse:
        repo = self.find(key, slug)
        if isinstance(repo, SimResponse):
            return repo
        items: list[dict[str, Any]] = [
            {
                "id": sha,
                "displayId": sha[:11],
                "author": {"name": "CI", "emailAddress": "ci@example.com"},
                "authorTimestamp": epoch_ms(at),
                "committerTimestamp": epoch_ms(at),
                "message": "build me",
                "parents": [],
            }
            for sha, at in self.repo_commits(repo)
        ]
        return self.page(req, items)

    def builds(self, req: SimRequest, sha: str) -> SimResponse:
        items = [
            {
                "state": BUILD_STATES[r.conclusion],
                "key": str(r.id),
                "name": r.name,
                "url": f"https://ci.example/{r.id}",
                "description": r.event,
                "dateAdded": epoch_ms(r.created_at),
            }
            for repo in self.ds.live_repos()
            for r in repo.runs
            if r.head_sha == sha
        ]
        return self.page(req, items)
