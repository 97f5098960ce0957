"""The dataset through Bitbucket Cloud's REST API 2.0 (under ``/2.0``).

The organization is a workspace. Paged responses carry ``pagelen``/``page``/``values`` and a
``next`` URL (pull requests at most 50 per page, the rest 100); ``q=updated_on>...`` and
``sort=-updated_on`` filter and order pull requests and issues. Pull request activity carries
approvals, change requests, comments (``inline`` for file comments) and state updates
(the merge time and who merged). Without ``state`` only open pull requests are listed; with
one or more ``state`` parameters every state is (the simulator does not tell them apart).
Rate limiting answers 429 without any header, as the real service often does.
"""

from __future__ import annotations

import re
from typing import Any

from forgelens.testing.forge_sim._rest import (
    RestRenderer,
    deployment_outcome,
    iso,
    new_issue,
    parse_iso,
    reviews_of,
)
from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import (
    Dataset,
    SimComment,
    SimDeployment,
    SimIssue,
    SimPR,
    SimRepo,
)
from forgelens.testing.forge_sim.faults import Budget

PR_STATES = {"open": "OPEN", "closed": "DECLINED", "merged": "MERGED"}
RESULTS = {"success": "SUCCESSFUL", "failure": "FAILED"}
ENV_TYPES = {"production": "Production", "staging": "Staging"}
DEPLOY_STATUS = {"success": "SUCCESSFUL", "failure": "FAILED", "canceled": "STOPPED"}
_Q_UPDATED = re.compile(r'updated_on\s*>=?\s*"?([0-9T:.+\-Z]+)"?')
_Q_BEFORE = re.compile(r'updated_on\s*<=?\s*"?([0-9T:.+\-Z]+)"?')


class BitbucketCloudRenderer(RestRenderer):
    prefix = "/2.0"

    def __init__(self, dataset: Dataset, *, issues: bool = True) -> None:
        super().__init__(dataset)
        self.issue_tracker = issues
        repo = r"/repositories/(?P<ws>[^/]+)/(?P<slug>[^/]+)"
        pr = repo + r"/pullrequests/(?P<n>\d+)"
        self.add("GET", r"/repositories/(?P<ws>[^/]+)", self.repos)
        self.add("GET", repo, self.repo)
        self.add("GET", repo + r"/pullrequests", self.pull_requests)
        self.add("GET", pr, self.one_pr)
        self.add("GET", repo + r"/issues/(?P<n>\d+)", self.one_issue)
        self.add("POST", repo + r"/issues", self.open_issue)
        self.opened_issues: list[tuple[str, str, str]] = []
        self.add("GET", pr + r"/activity", self.activity)
        self.add("GET", pr + r"/diffstat", self.diffstat)
        self.add("GET", pr + r"/commits", self.commits)
        self.add("GET", repo + r"/issues", self.issues)
        self.add("GET", repo + r"/issues/(?P<n>\d+)/comments", self.issue_comments)
        self.add("GET", repo + r"/pipelines/?", self.pipelines)
        self.add("GET", repo + r"/branch-restrictions", self.restrictions)
        self.add("GET", repo + r"/deployments/?", self.deployments)
        self.add("GET", repo + r"/environments/?", self.environments)

    # -- protocol -----------------------------------------------------------------------------
    def token(self, req: SimRequest) -> str | None:
        import base64

        scheme, _, secret = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(secret).decode() or None
            except ValueError:
                return None
        return super().token(req)

    def not_found(self) -> SimResponse:
        return SimResponse(404, {"type": "error", "error": {"message": "Resource not found"}})

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return SimResponse(401, {"type": "error", "error": {"message": "Unauthorized"}})

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse:
        return SimResponse(429, {"type": "error", "error": {"message": "Rate limit"}}, cost=0)

    def secondary_limit(self, req: SimRequest, retry_after: float | None) -> SimResponse:
        return SimResponse(429, {"type": "error", "error": {"message": "Rate limit"}})

    # -- shapes -------------------------------------------------------------------------------
    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        person = self.ds.person(login)
        pid = person.id if person else abs(hash(login)) % 10**6
        return {
            "type": "app_user" if person and person.is_bot else "user",
            "nickname": login,
            "display_name": person.name if person else login,
            "account_id": f"5b{pid:010d}",
            "uuid": f"{{00000000-0000-0000-0000-{pid:012d}}}",
        }

    def page(self, req: SimRequest, items: list[Any], cap: int = 100) -> SimResponse:
        pagelen = max(1, min(cap, int(req.query.get("pagelen", 10))))
        page = max(1, int(req.query.get("page", 1)))
        chunk = items[(page - 1) * pagelen : page * pagelen]
        body: dict[str, Any] = {"pagelen": pagelen, "page": page, "values": chunk}
        if len(items) <= 10_000:
            body["size"] = len(items)
        if page * pagelen < len(items):
            body["next"] = req.url(req.path, **{**req.query, "page": page + 1})
        return SimResponse(200, body)

    def repo_json(self, repo: SimRepo) -> dict[str, Any]:
        return {
            "type": "repository",
            "uuid": f"{{repo-{repo.id}}}",
            "full_name": repo.full_name,
            "name": repo.name,
            "slug": repo.name,
            "description": repo.description,
            "is_private": repo.private,
            "language": repo.language.lower(),
            "has_issues": self.issue_tracker,
            "mainbranch": {"type": "branch", "name": repo.default_branch},
            "workspace": {"slug": repo.owner},
            "owner": {"type": "team", "username": repo.owner},
            "created_on": iso(repo.created_at),
            "updated_on": iso(repo.updated_at),
            "links": {"html": {"href": f"https://bitbucket.example/{repo.full_name}"}},
        }

    def pr_json(self, repo: SimRepo, pr: SimPR) -> dict[str, Any]:
        return {
            "type": "pullrequest",
            "id": pr.number,
            "title": pr.title,
            "description": pr.body,
            "summary": {"raw": pr.body},
            "state": PR_STATES[pr.state],
            "draft": pr.draft,
            "author": self.user(pr.author),
            "source": {"branch": {"name": pr.head}},
            "destination": {"branch": {"name": pr.base}},
            "created_on": iso(pr.created_at),
            "updated_on": iso(pr.updated_at),
            "closed_by": self.user(pr.merged_by) if pr.state == "merged" else None,
            "comment_count": len(pr.comments) + len(pr.review_comments),
            "links": {"html": {"href": f"https://bitbucket.example/pr/{pr.number}"}},
        }

    def comment_json(self, c: SimComment) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": c.id,
            "content": {"raw": c.body},
            "user": self.user(c.author),
            "created_on": iso(c.created_at),
            "updated_on": iso(c.updated_at),
        }
        if c.path:
            out["inline"] = {"path": c.path, "to": c.line, "from": None}
        return out

    def since(self, req: SimRequest) -> Any:
        found = _Q_UPDATED.search(req.query.get("q", ""))
        return parse_iso(found.group(1)) if found else None

    def until(self, req: SimRequest) -> Any:
        found = _Q_BEFORE.search(req.query.get("q", ""))
        return parse_iso(found.group(1)) if found else None

    def find_pr(self, ws: str, slug: str, n: str) -> tuple[SimRepo, SimPR] | SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        pr = repo.pr(int(n))
        return (repo, pr) if pr else self.not_found()

    # -- routes -------------------------------------------------------------------------------
    def repos(self, req: SimRequest, ws: str) -> SimResponse:
        if ws.lower() != self.ds.org.lower():
            return self.not_found()
        return self.page(req, [self.repo_json(r) for r in self.ds.live_repos()])

    def repo(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        return repo if isinstance(repo, SimResponse) else SimResponse(200, self.repo_json(repo))

    def pull_requests(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        since, until = self.since(req), self.until(req)
        every = "state" in req.query
        prs = [
            p
            for p in repo.prs_by_updated()
            if (every or p.state == "open")
            and (since is None or p.updated_at >= since)
            and (until is None or p.updated_at <= until)
        ]
        if req.query.get("sort") == "updated_on":
            prs.reverse()
        return self.page(req, [self.pr_json(repo, p) for p in prs], cap=50)

    def activity(self, req: SimRequest, ws: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(ws, slug, n)
        if isinstance(found, SimResponse):
            return found
        pr = found[1]
        entries: list[tuple[Any, dict[str, Any]]] = []
        for c in [*pr.comments, *pr.review_comments]:
            entries.append((c.created_at, {"comment": self.comment_json(c)}))
        for r in reviews_of(pr):
            kind = "approval" if r.state == "APPROVED" else "changes_request"
            entries.append(
                (r.submitted_at, {kind: {"date": iso(r.submitted_at), "user": self.user(r.author)}})
            )
        if pr.closed_at is not None:
            update = {
                "state": PR_STATES[pr.state],
                "date": iso(pr.closed_at),
                "author": self.user(pr.merged_by if pr.state == "merged" else pr.author),
            }
            entries.append((pr.closed_at, {"update": update}))
        entries.sort(key=lambda e: e[0], reverse=True)
        items = [{**e, "pull_request": {"id": pr.number}} for _, e in entries]
        return self.page(req, items, cap=50)

    def diffstat(self, req: SimRequest, ws: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(ws, slug, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "type": "diffstat",
                "status": f.status,
                "lines_added": f.additions,
                "lines_removed": f.deletions,
                "old": None if f.status == "added" else {"path": f.path},
                "new": None if f.status == "removed" else {"path": f.path},
            }
            for f in found[1].files
        ]
        return self.page(req, items, cap=500)

    def commits(self, req: SimRequest, ws: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(ws, slug, n)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "type": "commit",
                "hash": c.sha,
                "author": {
                    "raw": f"{c.author_name} <{c.author_email}>",
                    "user": self.user(c.author),
                },
                "date": iso(c.authored_at),
                "message": c.message,
            }
            for c in reversed(found[1].commits)
        ]
        return self.page(req, items)

    def issues(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        if not self.issue_tracker:
            return SimResponse(
                404, {"type": "error", "error": {"message": "Repository has no issue tracker."}}
            )
        since = self.since(req)
        rows = sorted(repo.issues, key=lambda i: (i.updated_at, i.number), reverse=True)
        items = [self.issue_json(i) for i in rows if since is None or i.updated_at >= since]
        return self.page(req, items)

    def issue_json(self, i: SimIssue) -> dict[str, Any]:
        return {
            "type": "issue",
            "id": i.number,
            "title": i.title,
            "content": {"raw": i.body},
            "state": "new" if i.state == "open" else "resolved",
            "kind": "bug",
            "reporter": self.user(i.author),
            "created_on": iso(i.created_at),
            "updated_on": iso(i.updated_at),
            "links": {"html": {"href": f"https://bitbucket.example/issue/{i.number}"}},
        }

    def one_pr(self, req: SimRequest, ws: str, slug: str, n: str) -> SimResponse:
        found = self.find_pr(ws, slug, n)
        return found if isinstance(found, SimResponse) else SimResponse(200, self.pr_json(*found))

    def one_issue(self, req: SimRequest, ws: str, slug: str, n: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        issue = repo.issue(int(n)) if self.issue_tracker else None
        return self.not_found() if issue is None else SimResponse(200, self.issue_json(issue))

    def open_issue(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        if not self.issue_tracker:
            return self.not_found()
        body = req.json() or {}
        if not isinstance(body, dict) or not body.get("title"):
            return SimResponse(400, {"type": "error", "error": {"message": "title required"}})
        text = str((body.get("content") or {}).get("raw") or "")
        issue = new_issue(repo, str(body["title"]), text)
        self.opened_issues.append((repo.full_name, issue.title, issue.body))
        return SimResponse(201, self.issue_json(issue))

    def issue_comments(self, req: SimRequest, ws: str, slug: str, n: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        issue = repo.issue(int(n))
        if issue is None:
            return self.not_found()
        return self.page(req, [self.comment_json(c) for c in issue.comments])

    def pipelines(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        runs = sorted(repo.runs, key=lambda r: (r.created_at, r.id), reverse=True)
        items: list[dict[str, Any]] = []
        for r in runs:
            state: dict[str, Any] = {"name": "COMPLETED" if r.conclusion else "IN_PROGRESS"}
            if r.conclusion:
                state["result"] = {"name": RESULTS[r.conclusion]}
            pull = r.event == "pull_request"
            items.append(
                {
                    "type": "pipeline",
                    "uuid": f"{{pipe-{r.id}}}",
                    "build_number": r.id,
                    "state": state,
                    "created_on": iso(r.created_at),
                    "completed_on": iso(r.updated_at) if r.conclusion else None,
                    "target": {
                        "type": "pipeline_pullrequest_target" if pull else "pipeline_ref_target",
                        "ref_name": r.head_branch,
                        "commit": {"hash": r.head_sha},
                    },
                    "trigger": {"name": "PUSH"},
                }
            )
        return self.page(req, items)

    def environments(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        """The environments the repository's deployments went to, typed by name."""
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        names = sorted({d.environment for d in repo.deployments})
        items = [
            {
                "type": "deployment_environment",
                "uuid": env_uuid(repo, name),
                "name": name,
                "slug": name,
                "environment_type": {
                    "type": "deployment_environment_type",
                    "name": ENV_TYPES.get(name, "Test"),
                },
                "hidden": False,
            }
            for name in names
        ]
        return self.page(req, items)

    def deployments(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        """Newest start first when asked ``sort=-state.started_on`` (oldest first otherwise);
        each deployment's state from ``deployment_outcome``."""
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        deps = sorted(repo.deployments, key=lambda d: (d.created_at, d.id))
        if req.query.get("sort") == "-state.started_on":
            deps.reverse()
        return self.page(req, [self.deployment_json(repo, d) for d in deps])

    def deployment_json(self, repo: SimRepo, d: SimDeployment) -> dict[str, Any]:
        outcome, finished = deployment_outcome(d)
        pipeline = f"https://bitbucket.example/{repo.full_name}/pipelines/results/{d.id}"
        state: dict[str, Any] = {
            "deployer": self.user(d.creator),
            "url": pipeline,
            "start_date": iso(d.created_at),
        }
        if outcome in DEPLOY_STATUS:
            name = DEPLOY_STATUS[outcome]
            state.update(
                type="deployment_state_completed",
                name="COMPLETED",
                status={"type": f"deployment_state_completed_status_{name.lower()}", "name": name},
                completion_date=iso(finished),
            )
        else:
            state.update(type="deployment_state_in_progress", name="IN_PROGRESS")
        return {
            "type": "deployment",
            "uuid": f"{{dep-{d.id}}}",
            "key": f"dep-{d.id}",
            "state": state,
            "environment": {
                "type": "deployment_environment",
                "uuid": env_uuid(repo, d.environment),
            },
            "release": {
                "type": "deployment_release",
                "uuid": f"{{rel-{d.id}}}",
                "name": f"#{d.id}",
                "url": pipeline,
                "commit": {"type": "commit", "hash": d.sha},
                "pipeline": {"type": "pipeline", "uuid": f"{{pipe-{d.id}}}"},
                "created_on": iso(d.created_at),
            },
            "last_update_time": iso(d.updated_at),
        }

    def restrictions(self, req: SimRequest, ws: str, slug: str) -> SimResponse:
        repo = self.find_repo(ws, slug)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection
        items: list[dict[str, Any]] = []
        if p is not None:
            rules: list[tuple[str, int | None]] = [
                ("require_approvals_to_merge", p.required_approvals),
                ("delete", None),
            ]
            if p.dismiss_stale:
                rules.append(("reset_pullrequest_approvals_on_change", None))
            if not p.allow_force_pushes:
                rules.append(("force", None))
            items = [
                {
                    "id": k + 1,
                    "kind": kind,
                    "value": value,
                    "pattern": p.branch,
                    "branch_match_kind": "glob",
                }
                for k, (kind, value) in enumerate(rules)
            ]
        return self.page(req, items)


def env_uuid(repo: SimRepo, name: str) -> str:
    return f"{{env-{repo.id}-{name}}}"
