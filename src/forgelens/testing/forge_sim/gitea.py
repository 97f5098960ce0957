"""The dataset through Gitea / Forgejo's REST API v1 (under ``/api/v1``).

What a real server does and a collector must cope with: ``page``/``limit`` pages whose size
is silently capped at ``max_items`` (``[api] MAX_RESPONSE_ITEMS``, 50; 30 when no limit is
asked), ``Link`` and ``X-Total-Count`` headers built from ``root_url`` (a server's configured
``ROOT_URL``, which may name another host than the one asked); a pull request's files and
commits say ``X-HasMore``; the pull request list takes no ``since`` but
``sort=recentupdate``; the issue list takes ``since`` and comes newest *created* first; times
carry the server's offset and whole seconds; a deleted account is the ``Ghost`` user (id -1);
reviews are APPROVED / REQUEST_CHANGES / COMMENT with their inline comments under
``/reviews/{id}/comments``; branch protections are rules; teams are flat with one permission;
no rate-limit headers (a proxy's 429 + ``Retry-After`` when the budget is spent). Auth:
``Authorization: token <t>``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from forgelens.testing.forge_sim._rest import RestRenderer, new_issue, parse_iso
from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import (
    Dataset,
    SimComment,
    SimGitCommit,
    SimIssue,
    SimPR,
    SimRelease,
    SimRepo,
    SimReview,
)
from forgelens.testing.forge_sim.faults import Budget

SERVER_TZ = timezone(timedelta(hours=1))  # the server's local time, as Gitea writes times
REVIEW_STATES = {"APPROVED": "APPROVED", "CHANGES_REQUESTED": "REQUEST_CHANGES"}
FILE_STATUS = {"modified": "changed", "removed": "deleted"}
GHOST = {"id": -1, "login": "Ghost", "full_name": "", "email": "", "avatar_url": ""}


def when(value: datetime | None) -> str | None:
    return value.astimezone(SERVER_TZ).isoformat(timespec="seconds") if value else None


class GiteaRenderer(RestRenderer):
    prefix = "/api/v1"

    def __init__(self, dataset: Dataset, *, version: str = "1.22.3") -> None:
        super().__init__(dataset)
        self.version = version
        self.max_items = 50  # [api] MAX_RESPONSE_ITEMS
        self.default_items = 30  # [api] DEFAULT_PAGING_NUM
        self.root_url: str | None = None  # ROOT_URL behind a proxy: next links name it
        self.actions = True  # False: a server without Actions (no /actions routes)
        self.opened_issues: list[tuple[str, str, str]] = []
        repo = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
        pr = repo + r"/pulls/(?P<n>\d+)"
        self.add("GET", r"/version", self.get_version)
        self.add("GET", r"/orgs/(?P<org>[^/]+)/repos", self.org_repos)
        self.add("GET", r"/users/(?P<user>[^/]+)/repos", self.user_repos)
        self.add("GET", r"/orgs/(?P<org>[^/]+)/teams", self.teams)
        self.add("GET", r"/teams/(?P<tid>\d+)/members", self.members)
        self.add("GET", repo, self.repo)
        self.add("GET", repo + r"/branch_protections", self.protections)
        self.add("GET", repo + r"/branches/(?P<branch>[^/]+)", self.branch)
        self.add("GET", repo + r"/pulls", self.pulls)
        self.add("GET", pr, self.one_pull)
        self.add("GET", pr + r"/reviews", self.reviews)
        self.add("GET", pr + r"/reviews/(?P<rid>\d+)/comments", self.review_comments)
        self.add("GET", pr + r"/files", self.files)
        self.add("GET", pr + r"/commits", self.commits)
        self.add("GET", repo + r"/issues", self.issues)
        self.add("POST", repo + r"/issues", self.open_issue)
        self.add("GET", repo + r"/issues/(?P<n>\d+)", self.one_issue)
        self.add("GET", repo + r"/issues/(?P<n>\d+)/comments", self.comments)
        self.add("GET", repo + r"/actions/runs", self.runs)
        self.add("GET", repo + r"/releases", self.releases)
        self.add("GET", repo + r"/tags/(?P<tag>[^/]+)", self.tag)
        self.add(
            "GET", repo + r"/compare/(?P<base>[0-9a-f]+)\.\.\.(?P<head>[0-9a-f]+)", self.compare
        )
        self.add("GET", repo + r"/git/commits/(?P<sha>[0-9a-f]{40})", self.git_commit)

    # -- protocol -----------------------------------------------------------------------------
    def token(self, req: SimRequest) -> str | None:
        scheme, _, secret = req.headers.get("authorization", "").partition(" ")
        return secret.strip() or None if scheme.lower() in ("token", "bearer") else None

    def handle(self, req: SimRequest) -> SimResponse:
        if not self.actions and "/actions/" in req.path:
            return self.not_found()
        return super().handle(req)

    def not_found(self) -> SimResponse:
        return SimResponse(404, {"errors": [], "message": "The target couldn't be found."})

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return SimResponse(
            401, {"message": "token is required", "url": "https://gitea/api/swagger"}
        )

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse:
        """Gitea has no rate limit: a reverse proxy in front of it answers 429."""
        wait = max(1, int(budget.reset_at - time.time() + 0.999))
        return SimResponse(429, b"Too Many Requests", {"retry-after": str(wait)}, cost=0)

    # -- shapes -------------------------------------------------------------------------------
    def user(self, login: str | None) -> dict[str, Any]:
        if login is None:
            return dict(GHOST)
        p = self.ds.person(login)
        uid = p.id if p else 9000 + sum(map(ord, login))
        return {
            "id": uid,
            "login": login,
            "login_name": "",
            "full_name": p.name if p else "",
            "email": p.email if p else f"{login}@noreply.gitea.example",
            "avatar_url": f"https://gitea.example/avatars/{uid}",
            "username": login,
        }

    def page(
        self, req: SimRequest, items: list[Any], *, has_more: bool = False, links: bool = True
    ) -> SimResponse:
        """A page of ``items``; ``links=False``: only ``X-Total-Count`` (reviews, teams and
        team members are paged that way on a real server)."""
        asked = int(req.query.get("limit") or 0)
        size = min(asked, self.max_items) if asked > 0 else self.default_items
        page = max(1, int(req.query.get("page") or 1))
        chunk = items[(page - 1) * size : page * size]
        pages = max(1, -(-len(items) // size))
        headers = {"x-total-count": str(len(items))}
        root = (self.root_url or req.base_url).rstrip("/")
        nexts = []
        if page < pages:
            query = {**req.query, "page": page + 1}
            nexts.append(f'<{root}{req.path}?{_query(query)}>; rel="next"')
            nexts.append(f'<{root}{req.path}?{_query({**query, "page": pages})}>; rel="last"')
        if page > 1:  # Gitea names the first and previous pages too (so the last has a Link)
            nexts.append(f'<{root}{req.path}?{_query({**req.query, "page": 1})}>; rel="first"')
            nexts.append(
                f'<{root}{req.path}?{_query({**req.query, "page": page - 1})}>; rel="prev"'
            )
        if links and nexts:
            headers["link"] = ",".join(nexts)
        if has_more:
            headers |= {"x-hasmore": str(page < pages).lower(), "x-pagecount": str(pages)}
            headers |= {"x-page": str(page), "x-perpage": str(size)}
        return SimResponse(200, chunk, headers)

    def repo_json(self, repo: SimRepo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "owner": {**self.user(None), "id": 1, "login": repo.owner, "username": repo.owner},
            "name": repo.name,
            "full_name": repo.full_name,
            "description": repo.description,
            "empty": False,
            "private": repo.private,
            "fork": False,
            "mirror": False,
            "html_url": f"https://gitea.example/{repo.full_name}",
            "language": repo.language,
            "stars_count": repo.stars,
            "forks_count": 0,
            "open_issues_count": sum(i.state == "open" for i in repo.issues),
            "default_branch": repo.default_branch,
            "archived": False,
            "created_at": when(repo.created_at),
            "updated_at": when(repo.pushed_at),
            "has_issues": True,
            "has_pull_requests": True,
            "has_actions": True,
            "release_counter": sum(not r.draft for r in repo.releases),
        }

    def pull_json(self, repo: SimRepo, pr: SimPR) -> dict[str, Any]:
        return {
            "id": pr.id,
            "number": pr.number,
            "user": self.user(pr.author),
            "title": pr.title,
            "body": pr.body,
            "labels": [
                {"id": k + 1, "name": n, "color": "e11d21"} for k, n in enumerate(pr.labels)
            ],
            "state": "open" if pr.state == "open" else "closed",
            "draft": pr.draft,
            "comments": len(pr.comments),
            "additions": pr.additions,
            "deletions": pr.deletions,
            "changed_files": pr.changed_files,
            "html_url": f"https://gitea.example/{repo.full_name}/pulls/{pr.number}",
            "merged": pr.state == "merged",
            "merged_at": when(pr.merged_at),
            "merged_by": self.user(pr.merged_by) if pr.merged_by else None,
            "assignees": [self.user(a) for a in pr.assignees],
            "requested_reviewers": [self.user(r) for r in pr.requested_reviewers],
            "base": {"label": pr.base, "ref": pr.base, "repo_id": repo.id},
            "head": {
                "label": pr.head,
                "ref": pr.head,
                "sha": pr.commits[-1].sha if pr.commits else None,
                "repo_id": repo.id,
            },
            "created_at": when(pr.created_at),
            "updated_at": when(pr.updated_at),
            "closed_at": when(pr.closed_at),
        }

    def comment_json(self, c: SimComment, review: SimReview | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": c.id,
            "user": self.user(c.author),
            "body": c.body,
            "created_at": when(c.created_at),
            "updated_at": when(c.updated_at),
        }
        if review is not None:
            out |= {
                "pull_request_review_id": review.id,
                "path": c.path,
                "commit_id": review.commit_sha,
                "position": c.line or 0,
                "original_position": 0,
                "diff_hunk": "@@ -1,1 +1,1 @@",
            }
        return out

    def issue_json(self, repo: SimRepo, i: SimIssue) -> dict[str, Any]:
        return {
            "id": i.id,
            "number": i.number,
            "user": self.user(i.author),
            "title": i.title,
            "body": i.body,
            "labels": [{"id": k + 1, "name": n} for k, n in enumerate(i.labels)],
            "state": i.state,
            "comments": len(i.comments),
            "created_at": when(i.created_at),
            "updated_at": when(i.updated_at),
            "closed_at": when(i.closed_at),
            "pull_request": None,
            "html_url": f"https://gitea.example/{repo.full_name}/issues/{i.number}",
        }

    # -- lookups ------------------------------------------------------------------------------
    def _repo(self, owner: str, name: str) -> SimRepo | SimResponse:
        return self.find_repo(owner, name)

    def _pr(self, owner: str, name: str, n: str) -> tuple[SimRepo, SimPR] | SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        pr = repo.pr(int(n))
        return (repo, pr) if pr else self.not_found()

    # -- routes -------------------------------------------------------------------------------
    def get_version(self, req: SimRequest) -> SimResponse:
        return SimResponse(200, {"version": self.version})

    def org_repos(self, req: SimRequest, org: str) -> SimResponse:
        if org.lower() != self.ds.org.lower():
            return self.not_found()
        return self.page(req, [self.repo_json(r) for r in self.ds.live_repos()])

    def user_repos(self, req: SimRequest, user: str) -> SimResponse:
        if self.ds.person(user) is None:
            return self.not_found()
        return self.page(req, [])

    def teams(self, req: SimRequest, org: str) -> SimResponse:
        if org.lower() != self.ds.org.lower():
            return self.not_found()
        items = [
            {
                "id": 100 + k,
                "name": t.slug,
                "description": t.description,
                "permission": "write",
                "includes_all_repositories": False,
            }
            for k, t in enumerate(self.ds.teams)
        ]
        return self.page(req, items, links=False)

    def members(self, req: SimRequest, tid: str) -> SimResponse:
        k = int(tid) - 100
        if not 0 <= k < len(self.ds.teams):
            return self.not_found()
        members = [self.user(login) for login, _ in self.ds.teams[k].members]
        return self.page(req, members, links=False)

    def repo(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self._repo(owner, name)
        moved = self.ds.renamed.get(f"{owner}/{name}".lower())
        if isinstance(repo, SimResponse) and moved is not None:
            target = self.ds.repo_by_id(moved)
            if target is not None:  # Gitea redirects the old name to the new one
                return SimResponse(
                    301, b"", {"location": f"{self.prefix}/repos/{target.full_name}"}
                )
        if isinstance(repo, SimResponse):
            return repo
        return SimResponse(200, self.repo_json(repo))

    def protections(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection
        rules = []
        if p is not None:
            rules.append(
                {
                    "branch_name": p.branch,
                    "rule_name": p.branch,
                    "enable_push": False,
                    "required_approvals": p.required_approvals,
                    "enable_status_check": bool(p.checks),
                    "status_check_contexts": list(p.checks),
                    "dismiss_stale_approvals": p.dismiss_stale,
                    "block_on_rejected_reviews": True,
                    "enable_force_push": p.allow_force_pushes,
                    "created_at": when(repo.created_at),
                    "updated_at": when(repo.created_at),
                }
            )
        return SimResponse(200, rules)

    def branch(self, req: SimRequest, owner: str, name: str, branch: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection if repo.protection and repo.protection.branch == branch else None
        body = {
            "name": branch,
            "protected": p is not None,
            "required_approvals": p.required_approvals if p else 0,
            "enable_status_check": bool(p and p.checks),
            "status_check_contexts": list(p.checks) if p else [],
            "effective_branch_protection_name": branch if p else "",
        }
        return SimResponse(200, body)

    def pulls(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        state = req.query.get("state", "open")
        prs = list(repo.prs_by_updated())
        if req.query.get("sort") != "recentupdate":
            prs.sort(key=lambda p: p.number, reverse=True)  # newest created first
        if state != "all":
            prs = [p for p in prs if (p.state == "open") == (state == "open")]
        return self.page(req, [self.pull_json(repo, p) for p in prs])

    def one_pull(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        return found if isinstance(found, SimResponse) else SimResponse(200, self.pull_json(*found))

    def reviews(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "id": r.id,
                "user": self.user(r.author),
                "body": r.body,
                "commit_id": r.commit_sha,
                "state": REVIEW_STATES.get(r.state, "COMMENT"),
                "dismissed": False,
                "stale": False,
                "official": r.state != "COMMENTED",
                "comments_count": len(r.comments),
                "submitted_at": when(r.submitted_at),
                "updated_at": when(r.submitted_at),
            }
            for r in found[1].reviews
        ]
        return self.page(req, items, links=False)

    def review_comments(
        self, req: SimRequest, owner: str, name: str, n: str, rid: str
    ) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        review = next((r for r in found[1].reviews if r.id == int(rid)), None)
        if review is None:
            return self.not_found()
        return SimResponse(200, [self.comment_json(c, review) for c in review.comments])  # unpaged

    def files(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "filename": f.path,
                "status": FILE_STATUS.get(f.status, f.status),
                "additions": f.additions,
                "deletions": f.deletions,
                "changes": f.additions + f.deletions,
            }
            for f in found[1].files
        ]
        return self.page(req, items, has_more=True)

    def commits(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        found = self._pr(owner, name, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "sha": c.sha,
                "author": self.user(c.author) if c.author else None,
                "commit": {
                    "message": c.message,
                    "author": {
                        "name": c.author_name,
                        "email": c.author_email,
                        "date": when(c.authored_at),
                    },
                },
            }
            for c in found[1].commits
        ]
        return self.page(req, items, has_more=True)

    def issues(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        since = parse_iso(req.query["since"]) if req.query.get("since") else None
        floor = since.replace(microsecond=0) if since else None  # Gitea compares unix seconds
        state = req.query.get("state", "open")
        rows = sorted(repo.issues, key=lambda i: (i.created_at, i.id), reverse=True)
        items = [
            self.issue_json(repo, i)
            for i in rows
            if (floor is None or i.updated_at.replace(microsecond=0) >= floor)
            and (state == "all" or i.state == state)
        ]
        return self.page(req, items)

    def one_issue(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        issue = repo.issue(int(n))
        return self.not_found() if issue is None else SimResponse(200, self.issue_json(repo, issue))

    def open_issue(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        body = req.json() or {}
        if not isinstance(body, dict) or not body.get("title"):
            return SimResponse(422, {"message": "[Title]: Required"})
        issue = new_issue(repo, str(body["title"]), str(body.get("body") or ""))
        self.opened_issues.append((repo.full_name, issue.title, issue.body or ""))
        return SimResponse(201, self.issue_json(repo, issue))

    def comments(self, req: SimRequest, owner: str, name: str, n: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        pr = repo.pr(int(n))
        issue = repo.issue(int(n))
        found = pr.comments if pr else issue.comments if issue else None
        if found is None:
            return self.not_found()
        return self.page(req, [self.comment_json(c) for c in found])

    def runs(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        repo = self._repo(owner, name)
        if isinstance(repo, SimResponse):
            return repo
        runs = sorted(repo.runs, key=lambda r: r.id, reverse=True)
        items = [
            {
                "id": r.id,
                "display_title": f"{r.name} for {r.head_branch}",
                "path": f"{r.name.lower()}.yml@refs/heads/{r.head_branch}",
                "event": r.event,
                "run_number": len(runs) - k,
                "run_attempt": 1,
                "head_branch": r.head_branch,
                "head_sha": r.head_sha,
                "status": r.status,
                "conclusion": r.conclusion,
                "started_at": when(r.created_at),
                "completed_at": when(r.updated_at) if r.status == "completed" else None,
                "html_url": f"https://gitea.example/{repo.full_name}/actions/runs/{r.id}",
            }
            for k, r in enumerate(runs)
        ]
        response = self.page(req, items, links=False)  # the count is in the body
        response.headers.pop("x-total-count", None)
        response.body = {"workflow_runs": response.body, "total_count": len(items)}
        return response

    # -- releases, tags, compare --------------------------------------------------------------
    def release_json(self, repo: SimRepo, r: SimRelease) -> dict[str, Any]:
        web = f"https://gitea.example/{repo.full_name}"
        return {
            "id": r.id,
            "tag_name": r.tag,
            "target_commitish": r.target_commitish,
            "name": f"Release {r.tag}",
            "body": "What changed",
            "url": f"https://gitea.example/api/v1/repos/{repo.full_name}/releases/{r.id}",
            "html_url": f"{web}/releases/tag/{r.tag}",
            "tarball_url": f"{web}/archive/{r.tag}.tar.gz",
            "zipball_url": f"{web}/archive/{r.tag}.zip",
            "draft": r.draft,
            "prerelease": r.prerelease,
            # Gitea sends the release's one stamp as both (set again when a draft is published)
            "created_at": when(r.published_at or r.created_at),
            "published_at": when(r.published_at or r.created_at),
            "author": self.user(r.author),
            "assets": [],
        }

    def releases(self, req: SimRequest, owner: str, name: str) -> SimResponse:
        """Newest created first, drafts included (the token may write)."""
        repo = self.ds.repo(owner, name)
        if repo is None:
            return self.not_found()
        items = sorted(
            repo.releases, key=lambda r: (r.published_at or r.created_at, r.id), reverse=True
        )
        return self.page(req, [self.release_json(repo, r) for r in items])

    def tag(self, req: SimRequest, owner: str, name: str, tag: str) -> SimResponse:
        repo = self.ds.repo(owner, name)
        r = (
            next(
                (r for r in repo.releases if r.tag == tag and not r.draft and not r.tag_deleted),
                None,
            )
            if repo
            else None
        )
        if repo is None or r is None:
            return self.not_found()
        return SimResponse(
            200,
            {
                "name": r.tag,
                "message": f"Release {r.tag}" if r.annotated else "",
                "id": r.tag_object if r.annotated else r.sha,
                "commit": {"sha": r.sha, "url": "", "created": when(r.created_at)},
            },
        )

    def git_commit_json(self, repo: SimRepo, c: SimGitCommit) -> dict[str, Any]:
        who = {"name": c.author_name, "email": c.author_email, "date": when(c.at)}
        return {
            "sha": c.sha,
            "created": when(c.at),
            "commit": {"author": who, "committer": who, "message": c.message},
            "author": self.user(c.author) if c.author else None,
            "committer": self.user(c.author) if c.author else None,
            "parents": [{"sha": p, "url": "", "created": when(c.at)} for p in c.parents],
        }

    def compare(self, req: SimRequest, owner: str, name: str, base: str, head: str) -> SimResponse:
        """Gitea 1.22's compare: every commit of ``base...head`` (unpaged), total_commits."""
        repo = self.ds.repo(owner, name)
        if repo is None:
            return self.not_found()
        line = repo.history()
        at = {c.sha: i for i, c in enumerate(line)}
        if base not in at or head not in at:
            return self.not_found()
        listed = line[at[base] + 1 : at[head] + 1]
        body = {
            "total_commits": len(listed),
            "commits": [self.git_commit_json(repo, c) for c in listed],
            "files": [],
        }
        return SimResponse(200, body)

    def git_commit(self, req: SimRequest, owner: str, name: str, sha: str) -> SimResponse:
        repo = self.ds.repo(owner, name)
        found = next((c for c in repo.history() if c.sha == sha), None) if repo else None
        if repo is None or found is None:
            return self.not_found()
        return SimResponse(200, self.git_commit_json(repo, found))


def _query(params: dict[str, Any]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())
