"""The dataset through GitLab's REST API v4 (under ``/api/v4``).

Projects live in the organization's group (``acme/service-0``); teams are subgroups. Offset
pagination (``page``/``per_page``, ``x-next-page``, ``x-total`` dropped past 10,000 rows, Link
``rel=next``) everywhere and keyset pagination (``pagination=keyset&order_by=id``) for group
projects; ``RateLimit-*`` headers; 429 with ``Retry-After``. Approvals and "requested changes"
are system notes on the merge request; diff notes carry a ``position``; ``/diffs`` carries
unified diffs (line counts are in the diff text, as on a real server).
"""

from __future__ import annotations

from typing import Any

from forgelens.testing.forge_sim._rest import (
    RestRenderer,
    deployment_outcome,
    diff_text,
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
    SimTeam,
)
from forgelens.testing.forge_sim.faults import Budget

MR_STATES = {"open": "opened", "closed": "closed", "merged": "merged"}
REVIEW_NOTES = {"APPROVED": "approved this merge request", "CHANGES_REQUESTED": "requested changes"}
PIPELINE_STATUS = {"success": "success", "failure": "failed", None: "running"}
PIPELINE_SOURCE = {"push": "push", "pull_request": "merge_request_event"}
TIERS = {"staging": "staging", "production": "production"}
DEPLOY_STATES = {"failure": "failed"}  # the rest are spelled as GitLab spells them


class GitLabRenderer(RestRenderer):
    prefix = "/api/v4"

    def __init__(self, dataset: Dataset, *, version: str = "17.5.0") -> None:
        super().__init__(dataset)
        self.version = version
        self.offset_cap = 50_000
        p = r"/projects/(?P<pid>\d+)"
        mr = p + r"/merge_requests/(?P<iid>\d+)"
        self.add("GET", r"/version", self.get_version)
        self.add("GET", r"/groups/(?P<g>.+?)/projects", self.group_projects)
        self.add("GET", r"/groups/(?P<g>.+?)/descendant_groups", self.subgroups)
        self.add("GET", r"/groups/(?P<g>.+?)/members", self.members)
        self.add("GET", p + r"/merge_requests", self.merge_requests)
        self.add("GET", mr + r"/notes", self.mr_notes)
        self.add("GET", mr + r"/diffs", self.mr_diffs)
        self.add("GET", mr + r"/changes", self.mr_changes)
        self.add("GET", mr + r"/commits", self.mr_commits)
        self.add("GET", p + r"/issues", self.issues)
        self.add("GET", p + r"/issues/(?P<iid>\d+)/notes", self.issue_notes)
        self.add("GET", p + r"/pipelines", self.pipelines)
        self.add("GET", p + r"/deployments", self.deployments)
        self.add("GET", p + r"/protected_branches/(?P<branch>[^/]+)", self.protected_branch)
        self.add("GET", p + r"/approvals", self.approvals)
        self.add("GET", mr, self.one_mr)
        self.add("GET", p + r"/issues/(?P<iid>\d+)", self.one_issue)
        self.add("POST", p + r"/issues", self.open_issue)
        self.opened_issues: list[tuple[str, str, str]] = []
        self.add("GET", r"/projects/(?P<path>.+)", self.project)

    # -- protocol -----------------------------------------------------------------------------
    def token(self, req: SimRequest) -> str | None:
        return req.headers.get("private-token") or super().token(req)

    def handle(self, req: SimRequest) -> SimResponse:
        version = tuple(int(x) for x in self.version.split(".")[:2])
        if version < (9, 0) and req.path != self.prefix + "/version":
            return self.not_found()  # GitLab < 9 has no API v4 at all
        if version < (15, 7) and req.path.endswith("/diffs"):
            return self.not_found()  # /diffs arrived in 15.7; older servers only have /changes
        return super().handle(req)

    def rate_headers(self, resource: str, budget: Budget) -> dict[str, str]:
        if budget.limit == 0:
            return {}
        return {
            "ratelimit-name": "throttle_authenticated_api",
            "ratelimit-limit": str(budget.limit),
            "ratelimit-observed": str(budget.limit - budget.remaining),
            "ratelimit-remaining": str(budget.remaining),
            "ratelimit-reset": str(int(budget.reset_at)),
        }

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse:
        import time

        wait = max(1, int(budget.reset_at - time.time()))
        return SimResponse(429, b"Retry later", {"retry-after": str(wait)}, cost=0)

    # -- shapes -------------------------------------------------------------------------------
    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        person = self.ds.person(login)
        pid = person.id if person else abs(hash(login)) % 10**6
        return {
            "id": pid,
            "username": login,
            "name": person.name if person else login,
            "state": "active",
            "bot": bool(person and person.is_bot),
            "avatar_url": f"https://gitlab.example/uploads/{pid}.png",
            "web_url": f"https://gitlab.example/{login}",
        }

    def page(self, req: SimRequest, items: list[Any]) -> SimResponse:
        """Offset pagination with GitLab's headers (``x-total`` omitted past 10,000 rows;
        405 past ``offset_cap`` rows, as gitlab.com answers past 50,000)."""
        per_page = max(1, min(100, int(req.query.get("per_page", 20))))
        page = max(1, int(req.query.get("page", 1)))
        if (page - 1) * per_page >= self.offset_cap:
            message = "Offset pagination has a maximum allowed offset; use keyset pagination"
            return SimResponse(405, {"message": message})
        chunk = items[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(items)
        headers = {"x-page": str(page), "x-per-page": str(per_page), "x-next-page": ""}
        if len(items) <= 10_000:
            headers["x-total"] = str(len(items))
        if more:
            headers["x-next-page"] = str(page + 1)
            url = req.url(req.path, **{**req.query, "page": page + 1})
            headers["link"] = f'<{url}>; rel="next"'
        return SimResponse(200, chunk, headers)

    def keyset(self, req: SimRequest, items: list[dict[str, Any]]) -> SimResponse:
        per_page = max(1, min(100, int(req.query.get("per_page", 20))))
        after = int(req.query.get("id_after", 0))
        rest = sorted((i for i in items if int(i["id"]) > after), key=lambda i: int(i["id"]))
        chunk = rest[:per_page]
        headers = {}
        if len(rest) > per_page:
            url = req.url(req.path, **{**req.query, "id_after": chunk[-1]["id"]})
            headers["link"] = f'<{url}>; rel="next"'
        return SimResponse(200, chunk, headers)

    def project_json(self, repo: SimRepo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "name": repo.name,
            "path": repo.name,
            "path_with_namespace": repo.full_name,
            "description": repo.description,
            "default_branch": repo.default_branch,
            "visibility": "private" if repo.private else "public",
            "web_url": f"https://gitlab.example/{repo.full_name}",
            "namespace": {"id": 1, "path": repo.owner, "full_path": repo.owner, "kind": "group"},
            "created_at": iso(repo.created_at),
            "last_activity_at": iso(repo.updated_at),
            "star_count": repo.stars,
            "forks_count": 0,
            "open_issues_count": sum(i.state == "open" for i in repo.issues),
            "archived": False,
        }

    def mr_json(self, repo: SimRepo, pr: SimPR) -> dict[str, Any]:
        return {
            "id": pr.id,
            "iid": pr.number,
            "project_id": repo.id,
            "title": pr.title,
            "description": pr.body,
            "state": MR_STATES[pr.state],
            "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at),
            "merged_at": iso(pr.merged_at),
            "closed_at": iso(pr.closed_at) if pr.state == "closed" else None,
            "merged_by": self.user(pr.merged_by),
            "merge_user": self.user(pr.merged_by),
            "assignees": [self.user(a) for a in pr.assignees],
            "reviewers": [self.user(r) for r in pr.requested_reviewers],
            "author": self.user(pr.author),
            "source_branch": pr.head,
            "target_branch": pr.base,
            "labels": list(pr.labels),
            "draft": pr.draft,
            "work_in_progress": pr.draft,
            "sha": pr.commits[-1].sha if pr.commits else None,
            "user_notes_count": len(pr.comments) + len(pr.review_comments),
            "web_url": f"https://gitlab.example/{repo.full_name}/-/merge_requests/{pr.number}",
        }

    def note_json(self, c: SimComment) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": c.id,
            "type": "DiffNote" if c.path else None,
            "body": c.body,
            "author": self.user(c.author),
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "system": False,
        }
        if c.path:
            out["position"] = {
                "position_type": "text",
                "old_path": c.path,
                "new_path": c.path,
                "old_line": None,
                "new_line": c.line,
            }
        return out

    # -- lookups ------------------------------------------------------------------------------
    def by_id(self, pid: str) -> SimRepo | SimResponse:
        repo = self.ds.repo_by_id(int(pid))
        return repo if repo is not None else self.not_found()

    def mr(self, pid: str, iid: str) -> tuple[SimRepo, SimPR] | SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        pr = repo.pr(int(iid))
        return (repo, pr) if pr else self.not_found()

    def group(self, g: str) -> tuple[str, SimTeam | None] | None:
        """``acme`` -> the organization; ``acme/team-0`` (or nested) -> a team subgroup."""
        parts = g.split("/")
        if parts[0].lower() != self.ds.org.lower():
            return None
        if len(parts) == 1:
            return self.ds.org, None
        team = next((t for t in self.ds.teams if t.slug == parts[-1]), None)
        return (self.ds.org, team) if team else None

    def team_path(self, team: SimTeam) -> str:
        chain = [team.slug]
        parent = team.parent
        while parent:
            chain.insert(0, parent)
            parent = next((t.parent for t in self.ds.teams if t.slug == parent), None)
        return "/".join([self.ds.org, *chain])

    # -- routes -------------------------------------------------------------------------------
    def get_version(self, req: SimRequest) -> SimResponse:
        return SimResponse(200, {"version": self.version, "revision": "sim"})

    def project(self, req: SimRequest, path: str) -> SimResponse:
        if path.isdigit():
            repo = self.by_id(path)
        else:
            owner, _, name = path.rpartition("/")
            repo = self.find_repo(owner, name)
            moved = self.ds.renamed.get(path.lower())
            if isinstance(repo, SimResponse) and moved is not None:
                repo = self.by_id(str(moved))  # GitLab follows redirect routes of renamed projects
        if isinstance(repo, SimResponse):
            return repo
        return SimResponse(200, self.project_json(repo))

    def group_projects(self, req: SimRequest, g: str) -> SimResponse:
        found = self.group(g)
        if found is None:
            return self.not_found()
        repos = [] if found[1] else self.ds.live_repos()
        items = [self.project_json(r) for r in repos]
        if req.query.get("pagination") == "keyset":
            return self.keyset(req, items)
        return self.page(req, items)

    def subgroups(self, req: SimRequest, g: str) -> SimResponse:
        found = self.group(g)
        if found is None:
            return self.not_found()
        items = [
            {
                "id": 2000 + k,
                "path": t.slug,
                "name": t.name,
                "full_path": self.team_path(t),
                "description": t.description,
                "parent_id": None,
            }
            for k, t in enumerate(self.ds.teams)
            if found[1] is None
        ]
        return self.page(req, items)

    def members(self, req: SimRequest, g: str) -> SimResponse:
        found = self.group(g)
        if found is None:
            return self.not_found()
        team = found[1]
        rows = team.members if team else []
        items = [
            {**(self.user(login) or {}), "access_level": 40 if role == "maintainer" else 30}
            for login, role in rows
        ]
        return self.page(req, items)

    def merge_requests(self, req: SimRequest, pid: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        after, before = req.query.get("updated_after"), req.query.get("updated_before")
        since = parse_iso(after) if after else None
        until = parse_iso(before) if before else None
        prs = [
            p
            for p in repo.prs_by_updated()
            if (since is None or p.updated_at >= since) and (until is None or p.updated_at <= until)
        ]
        if req.query.get("sort", "desc") == "asc":
            prs.reverse()
        return self.page(req, [self.mr_json(repo, p) for p in prs])

    def mr_notes(self, req: SimRequest, pid: str, iid: str) -> SimResponse:
        found = self.mr(pid, iid)
        if isinstance(found, SimResponse):
            return found
        pr = found[1]
        notes = [self.note_json(c) for c in [*pr.comments, *pr.review_comments]]
        for r in reviews_of(pr):
            notes.append(
                {
                    "id": r.id,
                    "type": None,
                    "body": REVIEW_NOTES[r.state],
                    "author": self.user(r.author),
                    "created_at": iso(r.submitted_at),
                    "updated_at": iso(r.submitted_at),
                    "system": True,
                }
            )
        notes.sort(key=lambda n: (n["created_at"], n["id"]))
        return self.page(req, notes)

    def mr_diffs(self, req: SimRequest, pid: str, iid: str) -> SimResponse:
        found = self.mr(pid, iid)
        if isinstance(found, SimResponse):
            return found
        return self.page(req, self.diffs(found[1]))

    def mr_changes(self, req: SimRequest, pid: str, iid: str) -> SimResponse:
        found = self.mr(pid, iid)
        if isinstance(found, SimResponse):
            return found
        body = {**self.mr_json(*found), "changes": self.diffs(found[1]), "overflow": False}
        return SimResponse(200, body)

    def diffs(self, pr: SimPR) -> list[dict[str, Any]]:
        return [
            {
                "old_path": f.path,
                "new_path": f.path,
                "new_file": f.status == "added",
                "deleted_file": f.status == "removed",
                "renamed_file": f.status == "renamed",
                "diff": diff_text(f.additions, f.deletions),
            }
            for f in pr.files
        ]

    def mr_commits(self, req: SimRequest, pid: str, iid: str) -> SimResponse:
        found = self.mr(pid, iid)
        if isinstance(found, SimResponse):
            return found
        items = [
            {
                "id": c.sha,
                "short_id": c.sha[:8],
                "title": c.message.splitlines()[0],
                "message": c.message,
                "author_name": c.author_name,
                "author_email": c.author_email,
                "authored_date": iso(c.authored_at),
                "committed_date": iso(c.authored_at),
            }
            for c in reversed(found[1].commits)  # GitLab lists the newest commit first
        ]
        return self.page(req, items)

    def issues(self, req: SimRequest, pid: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        after = req.query.get("updated_after")
        since = parse_iso(after) if after else None
        rows = sorted(repo.issues, key=lambda i: (i.updated_at, i.number), reverse=True)
        items = [self.issue_json(repo, i) for i in rows if since is None or i.updated_at >= since]
        return self.page(req, items)

    def issue_json(self, repo: SimRepo, i: SimIssue) -> dict[str, Any]:
        return {
            "id": i.id,
            "iid": i.number,
            "project_id": repo.id,
            "title": i.title,
            "description": i.body,
            "state": "opened" if i.state == "open" else "closed",
            "author": self.user(i.author),
            "labels": list(i.labels),
            "user_notes_count": len(i.comments),
            "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
            "closed_at": iso(i.closed_at),
            "web_url": f"https://gitlab.example/{repo.full_name}/-/issues/{i.number}",
        }

    def one_mr(self, req: SimRequest, pid: str, iid: str) -> SimResponse:
        found = self.mr(pid, iid)
        return found if isinstance(found, SimResponse) else SimResponse(200, self.mr_json(*found))

    def one_issue(self, req: SimRequest, pid: str, iid: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        issue = repo.issue(int(iid))
        return self.not_found() if issue is None else SimResponse(200, self.issue_json(repo, issue))

    def open_issue(self, req: SimRequest, pid: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        body = req.json() or {}
        if not isinstance(body, dict) or not body.get("title"):
            return SimResponse(400, {"message": {"title": ["can't be blank"]}})
        labels = str(body.get("labels") or "")
        issue = new_issue(repo, str(body["title"]), str(body.get("description") or ""), labels)
        self.opened_issues.append((repo.full_name, issue.title, issue.body or ""))
        return SimResponse(201, self.issue_json(repo, issue))

    def issue_notes(self, req: SimRequest, pid: str, iid: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        issue = repo.issue(int(iid))
        if issue is None:
            return self.not_found()
        return self.page(req, [self.note_json(c) for c in issue.comments])

    def pipelines(self, req: SimRequest, pid: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        after = req.query.get("updated_after")
        since = parse_iso(after) if after else None
        runs = sorted(repo.runs, key=lambda r: (r.updated_at, r.id), reverse=True)
        items = [
            {
                "id": r.id,
                "iid": k + 1,
                "project_id": repo.id,
                "name": r.name,
                "status": PIPELINE_STATUS[r.conclusion],
                "source": PIPELINE_SOURCE[r.event],
                "ref": r.head_branch,
                "sha": r.head_sha,
                "created_at": iso(r.created_at),
                "updated_at": iso(r.updated_at),
                "web_url": f"https://gitlab.example/{repo.full_name}/-/pipelines/{r.id}",
            }
            for k, r in enumerate(runs)
            if since is None or r.updated_at >= since
        ]
        return self.page(req, items)

    def deployments(self, req: SimRequest, pid: str) -> SimResponse:
        """The dataset's deployments as GitLab's: one current status each (``deployment_outcome``),
        the environment with its ``tier``, the
        deploy job as the deployable. ``updated_after`` needs ``order_by=updated_at`` (400
        otherwise, as GitLab answers)."""
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        order = req.query.get("order_by", "id")
        after, before = req.query.get("updated_after"), req.query.get("updated_before")
        if (after or before) and order != "updated_at":
            message = "`updated_at` filter and `updated_at` sorting must be paired"
            return SimResponse(400, {"message": message})
        since = parse_iso(after) if after else None
        until = parse_iso(before) if before else None
        deps = [
            d
            for d in repo.deployments
            if (since is None or d.updated_at > since) and (until is None or d.updated_at < until)
        ]
        key = {
            "updated_at": lambda d: (d.updated_at, d.id),
            "created_at": lambda d: (d.created_at, d.id),
        }
        deps.sort(
            key=key.get(order, lambda d: (d.id, d.id)), reverse=req.query.get("sort") == "desc"
        )
        return self.page(req, [self.deployment_json(repo, d) for d in deps])

    def deployment_json(self, repo: SimRepo, d: SimDeployment) -> dict[str, Any]:
        outcome, finished = deployment_outcome(d)
        status = DEPLOY_STATES.get(outcome, outcome)
        tier = "production" if d.production else TIERS.get(d.environment, "development")
        job_url = f"https://gitlab.example/{repo.full_name}/-/jobs/{d.id}"
        return {
            "id": d.id,
            "iid": d.id % 10_000 + 1,
            "ref": d.ref,
            "sha": d.sha,
            "created_at": iso(d.created_at),
            "updated_at": iso(d.updated_at),
            "finished_at": iso(finished),
            "status": status,
            "user": self.user(d.creator),
            "environment": {
                "id": abs(hash((repo.id, d.environment))) % 10**6,
                "name": d.environment,
                "slug": d.environment,
                "external_url": f"https://{d.environment}.example",
                "tier": tier,
            },
            "deployable": {
                "id": d.id,
                "name": f"deploy-{d.environment}",
                "stage": "deploy",
                "status": status,
                "ref": d.ref,
                "tag": False,
                "created_at": iso(d.created_at),
                "started_at": iso(d.created_at),
                "finished_at": iso(finished),
                "user": self.user(d.creator),
                "web_url": job_url,
                "pipeline": {"id": d.id, "sha": d.sha, "ref": d.ref, "status": status},
            },
        }

    def protected_branch(self, req: SimRequest, pid: str, branch: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection
        if p is None or p.branch != branch:
            return self.not_found()
        return SimResponse(
            200,
            {
                "id": repo.id,
                "name": p.branch,
                "push_access_levels": [{"access_level": 40}],
                "merge_access_levels": [{"access_level": 30}],
                "allow_force_push": p.allow_force_pushes,
                "code_owner_approval_required": p.code_owner_reviews,
            },
        )

    def approvals(self, req: SimRequest, pid: str) -> SimResponse:
        repo = self.by_id(pid)
        if isinstance(repo, SimResponse):
            return repo
        p = repo.protection
        return SimResponse(
            200,
            {
                "approvals_before_merge": p.required_approvals if p else 0,
                "reset_approvals_on_push": p.dismiss_stale if p else False,
            },
        )
