"""The dataset through GitHub's GraphQL API, for the operations forgelens sends.

Operations are recognised by ``operationName`` and answered from their variables; the
document itself is read only for its cost (``github_cost.py``: GitHub's rule, the points
charged and ``rateLimit.cost``) and node count (over 500,000: ``MAX_NODE_LIMIT_EXCEEDED``).
Connections page with opaque cursors and ``pageInfo``; every answer carries ``rateLimit {limit
cost remaining resetAt}``; a missing or renamed repository is a ``NOT_FOUND`` error (GitHub
does not follow renames in GraphQL). An answer holding more nodes than the fault
``graphql_max_nodes`` is a 502 ``stream error: CANCEL`` (GitHub gives up on big pages).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import (
    GITHUB_FILE_CAP,
    Dataset,
    SimComment,
    SimDeployment,
    SimIssue,
    SimPR,
    SimRelease,
    SimRepo,
    SimReview,
)
from forgelens.testing.forge_sim.faults import Budget
from forgelens.testing.forge_sim.github_cost import NODE_LIMIT, QueryError, query_cost

if TYPE_CHECKING:
    from forgelens.testing.forge_sim.github import GitHubRenderer


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().split(":")[1])
    except (ValueError, IndexError):
        return 0


def connection(
    items: list[Any], first: int, after: str | None, render: Callable[[Any], Any]
) -> dict[str, Any]:
    start = _offset(after)
    first = max(0, min(100, int(first)))
    chunk = items[start : start + first]
    end = start + len(chunk)
    return {
        "totalCount": len(items),
        "pageInfo": {"hasNextPage": end < len(items), "endCursor": _cursor(end) if chunk else None},
        "nodes": [render(x) for x in chunk],
    }


class GraphQL:
    def __init__(self, dataset: Dataset, rest: GitHubRenderer) -> None:
        self.ds, self.rest = dataset, rest

    def handle(self, req: SimRequest) -> SimResponse:
        try:
            payload = req.json()
            op = str(payload.get("operationName") or "")
            v = dict(payload.get("variables") or {})
        except (ValueError, AttributeError):
            return SimResponse(400, {"message": "Problems parsing JSON"})
        limit = req.headers.get("x-sim-max-first")
        if limit and int(v.get("first") or 0) > int(limit):
            return SimResponse(502, {"message": "We couldn't respond to your request in time."})
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            return SimResponse(200, {"errors": [{"message": f"unknown operation {op!r}"}]})
        priced = None
        if isinstance(payload.get("query"), str):
            try:
                priced = query_cost(payload["query"], v)
            except QueryError as exc:
                return SimResponse(200, {"errors": [{"message": f"Parse error: {exc}"}]})
            if priced.nodes > NODE_LIMIT:
                msg = (
                    f"By the time this query traverses to the nodes, it requests up to "
                    f"{priced.nodes:,} possible nodes which exceeds the maximum limit of "
                    f"{NODE_LIMIT:,}."
                )
                return SimResponse(
                    200, {"errors": [{"type": "MAX_NODE_LIMIT_EXCEEDED", "message": msg}]}
                )
        repo = self.ds.repo(v.get("owner", ""), v.get("name", "")) if "owner" in v else None
        if "owner" in v and repo is None:
            msg = f"Could not resolve to a Repository with the name '{v['owner']}/{v['name']}'."
            missing: dict[str, Any] = {
                "data": {"repository": None},
                "errors": [{"type": "NOT_FOUND", "path": ["repository"], "message": msg}],
            }
            return self._answer(missing, 1)
        data, cost = handler(repo, v)
        if priced is not None:
            cost = priced.points
        most, nodes = req.headers.get("x-sim-max-nodes"), _count_nodes(data)
        if most and nodes > int(most):
            # GitHub cancels the stream of a page too big to produce in time (devlake#8614)
            message = "stream error: stream ID 3; CANCEL; received from peer"
            return SimResponse(502, {"message": message}, resource="graphql", cost=0)
        body: dict[str, Any] = {"data": data}
        if "__errors__" in data:  # partial data: some aliases or nodes did not resolve
            body["errors"] = data.pop("__errors__")
        if req.headers.get("x-sim-graphql-error"):
            body["errors"] = [
                {
                    "type": "INTERNAL",
                    "message": "Something went wrong while "
                    "executing your query. This may be the result of a timeout.",
                }
            ]
            self._break(data)
        resp = self._answer(body, cost)
        resp.nodes = nodes
        return resp

    @staticmethod
    def _break(data: dict[str, Any]) -> None:
        """Partial data: null out the first node of the first connection found."""
        for value in data.values():
            if isinstance(value, dict):
                for inner in value.values():
                    if isinstance(inner, dict) and inner.get("nodes"):
                        inner["nodes"][0] = None
                        return

    def _answer(self, body: dict[str, Any], cost: int) -> SimResponse:
        resp = SimResponse(200, body, resource="graphql", cost=cost)

        def fill(budget: Budget) -> None:
            if isinstance(body.get("data"), dict):
                body["data"]["rateLimit"] = {
                    "limit": budget.limit,
                    "cost": cost,
                    "remaining": budget.remaining,
                    "resetAt": datetime.fromtimestamp(budget.reset_at, UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                }

        resp.after_spend = fill
        return resp

    # -- shapes -------------------------------------------------------------------------------
    def actor(self, login: str | None) -> dict[str, Any] | None:
        user = self.rest.user(login)
        if user is None:
            return None
        bot = user["type"] == "Bot"
        name = login[: -len("[bot]")] if bot and login and login.endswith("[bot]") else login
        return {
            "__typename": "Bot" if bot else "User",
            "login": name,
            "avatarUrl": user["avatar_url"],
            "databaseId": user["id"],
        }

    def comment(self, c: SimComment) -> dict[str, Any]:
        out = {
            "databaseId": c.id,
            "body": c.body,
            "createdAt": _ts(c.created_at),
            "updatedAt": _ts(c.updated_at),
            "author": self.actor(c.author),
        }
        if c.path is not None:
            out.update(path=c.path, line=c.line)
        return out

    def review(self, r: SimReview, v: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"PRR_{r.id}",
            "databaseId": r.id,
            "state": r.state,
            "body": r.body,
            "submittedAt": _ts(r.submitted_at),
            "author": self.actor(r.author),
            "commit": {"oid": r.commit_sha},
            "comments": connection(r.comments, v.get("reviewComments", 10), None, self.comment),
        }

    def commit(self, c: Any) -> dict[str, Any]:
        return {
            "commit": {
                "oid": c.sha,
                "message": c.message,
                "authoredDate": _ts(c.authored_at),
                "author": {
                    "name": c.author_name,
                    "email": c.author_email,
                    "user": {"login": c.author} if c.author else None,
                },
            }
        }

    @staticmethod
    def file(f: Any) -> dict[str, Any]:
        change = {"added": "ADDED", "removed": "DELETED", "renamed": "RENAMED"}.get(
            f.status, "MODIFIED"
        )
        return {
            "path": f.path,
            "additions": f.additions,
            "deletions": f.deletions,
            "changeType": change,
        }

    def pr(self, repo: SimRepo, p: SimPR, v: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"PR_{p.id}",
            "databaseId": p.id,
            "number": p.number,
            "title": p.title,
            "body": p.body,
            "state": p.state.upper(),
            "isDraft": p.draft,
            "createdAt": _ts(p.created_at),
            "updatedAt": _ts(p.updated_at),
            "mergedAt": _ts(p.merged_at),
            "closedAt": _ts(p.closed_at),
            "baseRefName": p.base,
            "headRefName": p.head,
            "additions": p.additions,
            "deletions": p.deletions,
            "changedFiles": p.changed_files,
            "url": f"https://github.example/{repo.full_name}/pull/{p.number}",
            "author": self.actor(p.author),
            "mergedBy": self.actor(p.merged_by),
            "labels": {"nodes": [{"name": n} for n in p.labels]},
            "assignees": {"nodes": [{"login": login} for login in p.assignees]},
            "reviewRequests": {
                "nodes": [{"requestedReviewer": self.actor(r)} for r in p.requested_reviewers]
            },
            "files": connection(p.files[:GITHUB_FILE_CAP], v.get("files", 50), None, self.file),
            "reviews": connection(
                p.reviews, v.get("reviews", 20), None, lambda r: self.review(r, v)
            ),
            "comments": connection(p.comments, v.get("comments", 30), None, self.comment),
            "commits": connection(p.commits[:250], v.get("commits", 30), None, self.commit),
        }

    def issue(self, repo: SimRepo, i: SimIssue, v: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"I_{i.id}",
            "databaseId": i.id,
            "number": i.number,
            "title": i.title,
            "body": i.body,
            "state": i.state.upper(),
            "createdAt": _ts(i.created_at),
            "updatedAt": _ts(i.updated_at),
            "closedAt": _ts(i.closed_at),
            "url": f"https://github.example/{repo.full_name}/issues/{i.number}",
            "author": self.actor(i.author),
            "labels": {"nodes": [{"name": n} for n in i.labels]},
            "comments": connection(i.comments, v.get("comments", 30), None, self.comment),
        }

    # -- operations ---------------------------------------------------------------------------
    def op_RepoProbe(self, repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {"repository": self.repo_node(repo)}, 1

    def op_RepoProbes(self, _repo: None, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Repositories under aliases ``r0`` ... (variables ``o0``/``n0`` ...); one that does
        not resolve is null, with a NOT_FOUND error on its alias (GitHub's partial answer)."""
        data: dict[str, Any] = {}
        errors = []
        i = 0
        while f"o{i}" in v:
            repo = self.ds.repo(str(v[f"o{i}"]), str(v.get(f"n{i}", "")))
            data[f"r{i}"] = self.repo_node(repo) if repo is not None else None
            if repo is None:
                name = f"{v[f'o{i}']}/{v.get(f'n{i}')}"
                msg = f"Could not resolve to a Repository with the name '{name}'."
                errors.append({"type": "NOT_FOUND", "path": [f"r{i}"], "message": msg})
            i += 1
        if errors:
            data["__errors__"] = errors
        return data, 1

    def repo_node(self, repo: SimRepo) -> dict[str, Any]:
        p = repo.protection
        latest_issue = max(repo.issues, key=lambda i: i.updated_at, default=None)
        prs = repo.prs_by_updated()
        newest = 10  # the probe's ``first:`` for deployments and releases
        by_created = sorted(repo.deployments, key=lambda d: (d.created_at, d.id), reverse=True)
        deployments = by_created[:newest]
        releases = sorted(repo.releases, key=lambda r: (r.created_at, r.id), reverse=True)[:newest]
        return {
            "databaseId": repo.id,
            "id": f"R_{repo.id}",
            "name": repo.name,
            "nameWithOwner": repo.full_name,
            "owner": {"login": repo.owner},
            "description": repo.description,
            "isPrivate": repo.private,
            "isFork": False,
            "isArchived": False,
            "primaryLanguage": {"name": repo.language},
            "stargazerCount": repo.stars,
            "forkCount": 0,
            "openIssues": {"totalCount": sum(i.state == "open" for i in repo.issues)},
            "openPullRequests": {"totalCount": repo.open_prs()},
            "defaultBranchRef": {"name": repo.default_branch},
            "createdAt": _ts(repo.created_at),
            "updatedAt": _ts(repo.updated_at),
            "pushedAt": _ts(repo.pushed_at),
            "url": f"https://github.example/{repo.full_name}",
            "branchProtectionRules": {
                "nodes": []
                if p is None
                else [
                    {
                        "pattern": p.branch,
                        "requiredApprovingReviewCount": p.required_approvals,
                        "requiresCodeOwnerReviews": p.code_owner_reviews,
                        "dismissesStaleReviews": p.dismiss_stale,
                        "requiredStatusCheckContexts": p.checks,
                        "isAdminEnforced": p.enforce_admins,
                        "allowsForcePushes": p.allow_force_pushes,
                    }
                ]
            },
            "pullRequests": {"nodes": [{"updatedAt": _ts(prs[0].updated_at)}] if prs else []},
            "issues": {
                "nodes": [{"updatedAt": _ts(latest_issue.updated_at)}] if latest_issue else []
            },
            "allPullRequests": {"totalCount": len(repo.prs)},
            "deployments": {"nodes": [self.probed_deployment(d) for d in deployments]},
            "releases": {"nodes": [self.probed_release(r) for r in releases]},
        }

    @staticmethod
    def probed_deployment(d: SimDeployment) -> dict[str, Any]:
        latest = max(d.statuses, key=lambda s: (s.created_at, s.id), default=None)
        return {
            "updatedAt": _ts(d.updated_at),
            "latestStatus": {"createdAt": _ts(latest.created_at)} if latest else None,
        }

    @staticmethod
    def probed_release(r: SimRelease) -> dict[str, Any]:
        return {"publishedAt": None if r.draft else _ts(r.published_at), "isDraft": r.draft}

    def op_PullRequests(self, repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        first = int(v.get("first", 50))
        conn = connection(
            repo.prs_by_updated(), first, v.get("after"), lambda p: self.pr(repo, p, v)
        )
        requests = 1 + first * 5 + first * int(v.get("reviews", 20))
        return {"repository": {"pullRequests": conn}}, max(1, round(requests / 100))

    def _nested(self, repo: SimRepo, v: dict[str, Any], name: str) -> tuple[dict[str, Any], int]:
        p = repo.pr(int(v.get("number", 0)))
        if p is None:
            return {"repository": {"pullRequest": None}}, 1
        items: dict[str, tuple[list[Any], Callable[[Any], Any]]] = {
            "files": (p.files[:GITHUB_FILE_CAP], self.file),
            "reviews": (p.reviews, lambda r: self.review(r, v)),
            "comments": (p.comments, self.comment),
            "commits": (p.commits[:250], self.commit),
        }
        seq, render = items[name]
        conn = connection(seq, v.get("first", 100), v.get("after"), render)
        return {"repository": {"pullRequest": {name: conn}}}, 1

    def op_PullRequestFiles(self, repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return self._nested(repo, v, "files")

    def op_PullRequestReviews(self, repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return self._nested(repo, v, "reviews")

    def op_PullRequestComments(
        self, repo: SimRepo, v: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        return self._nested(repo, v, "comments")

    def op_PullRequestCommits(self, repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return self._nested(repo, v, "commits")

    def op_ReviewComments(
        self, repo: SimRepo | None, v: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        rid = int(str(v.get("id", "PRR_0")).removeprefix("PRR_") or 0)
        for r in self.ds.live_repos():
            for p in r.prs:
                for review in p.reviews:
                    if review.id == rid:
                        conn = connection(
                            review.comments, v.get("first", 100), v.get("after"), self.comment
                        )
                        return {"node": {"comments": conn}}, 1
        return {"node": None}, 1

    def op_Issues(self, repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        since = v.get("since")
        cut = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        issues = sorted(
            (i for i in repo.issues if cut is None or i.updated_at >= cut),
            key=lambda i: (i.updated_at, i.number),
            reverse=True,
        )
        first = int(v.get("first", 50))
        conn = connection(issues, first, v.get("after"), lambda i: self.issue(repo, i, v))
        return {"repository": {"issues": conn}}, max(1, round((1 + first) / 100))

    def op_IssueComments(self, repo: SimRepo, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        i = repo.issue(int(v.get("number", 0)))
        if i is None:
            return {"repository": {"issue": None}}, 1
        conn = connection(i.comments, v.get("first", 100), v.get("after"), self.comment)
        return {"repository": {"issue": {"comments": conn}}}, 1

    # -- deployments (nodes by id: GitHub's own ids are opaque; the simulator's are DE_<id>) ---
    def _deployment(self, node_id: Any) -> tuple[SimRepo, SimDeployment] | None:
        text = str(node_id)
        if not text.startswith("DE_") or not text[3:].isdigit():
            return None
        wanted = int(text[3:])
        for r in self.ds.live_repos():
            for d in r.deployments:
                if d.id == wanted:
                    return r, d
        return None

    def _statuses(
        self, found: tuple[SimRepo, SimDeployment], first: Any, after: str | None
    ) -> dict[str, Any]:
        """Oldest first, as GitHub's connection lists them (REST lists newest first)."""
        repo, d = found
        base = f"https://github.example/{repo.full_name}/actions/runs/{d.id}"  # REST's log_url
        return connection(
            sorted(d.statuses, key=lambda s: (s.created_at, s.id)),
            first,
            after,
            lambda s: {"state": s.state.upper(), "createdAt": _ts(s.created_at), "logUrl": base},
        )

    def op_DeploymentStatuses(
        self, repo: SimRepo | None, v: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        """``nodes(ids:)``: a null node and a NOT_FOUND error for an id that resolves to
        nothing; each node's ``statuses`` connection counts one request towards the cost."""
        ids = list(v.get("ids") or [])[:100]
        nodes: list[Any] = []
        errors: list[dict[str, Any]] = []
        for i, node_id in enumerate(ids):
            found = self._deployment(node_id)
            if found is None:
                nodes.append(None)
                errors.append(
                    {
                        "type": "NOT_FOUND",
                        "path": ["nodes", i],
                        "message": f"Could not resolve to a node with the global id of '{node_id}'",
                    }
                )
                continue
            statuses = self._statuses(found, v.get("first", 100), None)
            nodes.append({"databaseId": found[1].id, "statuses": statuses})
        data: dict[str, Any] = {"nodes": nodes}
        if errors:
            data["__errors__"] = errors
        return data, max(1, round((1 + len(ids)) / 100))

    def op_DeploymentStatusPages(
        self, repo: SimRepo | None, v: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        found = self._deployment(v.get("id"))
        if found is None:
            return {"node": None}, 1
        statuses = self._statuses(found, v.get("first", 100), v.get("after"))
        return {"node": {"statuses": statuses}}, 1


def _count_nodes(value: Any) -> int:
    """Objects inside every ``nodes`` list of an answer (what a page makes GitHub produce)."""
    if isinstance(value, dict):
        return sum(
            (len(v) if k == "nodes" and isinstance(v, list) else 0) + _count_nodes(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return sum(_count_nodes(v) for v in value)
    return 0


def _ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
