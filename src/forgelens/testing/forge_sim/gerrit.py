"""The dataset through Gerrit's REST API (a server with the context path ``/gerrit``).

What a real server does and a collector must cope with: every JSON answer starts with the
``)]}'`` guard line; authenticated calls live under ``/a/`` (HTTP basic auth with the HTTP
password); ``/changes/?q=project:P after:"…" before:"…"&n=&S=`` answers changes most recently
updated first, capped at the query limit (``max_n``) silently, ``_more_changes: true`` on the
last item when more follow, and refuses offsets past ``max_offset`` (an index backend's cap);
times are UTC text with nanoseconds; people are accounts (``_account_id``); a pull request is a
change whose patch sets are the dataset's commits (the last is current and carries the files),
whose reviews are ``Code-Review`` votes written in messages (approved +2, changes requested -2,
commented +1) and whose review comments are inline comments (``/changes/{n}/comments``); an
organisation is a project prefix, its teams the groups (``/groups/``, members and included groups);
branch protection is labels and submit requirements. No rate
limit: the quota plugin answers 429 with ``Retry-After`` when the budget is spent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from forgelens.testing.forge_sim._rest import RestRenderer
from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import Dataset, SimPR, SimRepo
from forgelens.testing.forge_sim.faults import Budget

GUARD = b")]}'\n"
VOTES = {"APPROVED": 2, "CHANGES_REQUESTED": -2, "COMMENTED": 1}
FILE_STATUS = {"added": "A", "removed": "D", "renamed": "R"}
STATUS = {"open": "NEW", "merged": "MERGED", "closed": "ABANDONED"}
_OPERAND = re.compile(r'(\w+):("[^"]*"|\S+)')
CODE_REVIEW_VALUES = {
    "-2": "This shall not be submitted",
    "-1": "I would prefer this is not submitted as is",
    " 0": "No score",
    "+1": "Looks good to me, but someone else must approve",
    "+2": "Looks good to me, approved",
}


def when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "000" if value else None


def _parse(value: str) -> datetime:
    text = value.strip('"')
    if "." not in text:
        text += ".000"
    return datetime.strptime(text[:23], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def change_key(repo: SimRepo, pr: SimPR) -> str:
    return "I" + hashlib.sha1(f"{repo.full_name}#{pr.number}".encode()).hexdigest()  # noqa: S324


class GerritRenderer(RestRenderer):
    prefix = "/gerrit"

    def __init__(self, dataset: Dataset, *, version: str = "3.9.1") -> None:
        super().__init__(dataset)
        self.version = version
        self.max_n = 500  # the query limit of an ordinary user
        self.max_offset = 10_000  # index.maxLimit-like cap of S + n
        self.submit_requirements = True  # False: a server before 3.7 (404)
        self.more_projects = True  # False: an older server, no _more_projects on project pages
        self.add("GET", r"/config/server/version", self.get_version)
        self.add("GET", r"/projects/", self.projects)
        self.add("GET", r"/groups/", self.groups)
        self.add("GET", r"/projects/(?P<name>.+)/HEAD", self.head)
        self.add("GET", r"/projects/(?P<name>.+)/labels/", self.labels)
        self.add("GET", r"/projects/(?P<name>.+)/submit_requirements", self.requirements)
        self.add("GET", r"/projects/(?P<name>.+)", self.project)
        self.add("GET", r"/changes/", self.query)
        self.add("GET", r"/changes/(?P<name>.+)~(?P<n>\d+)/comments", self.comments)
        self.add("GET", r"/changes/(?P<name>.+)~(?P<n>\d+)", self.one_change)

    # -- protocol -----------------------------------------------------------------------------
    def token(self, req: SimRequest) -> str | None:
        scheme, _, value = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return None
        return password or None

    def handle(self, req: SimRequest) -> SimResponse:
        path = req.path[len(self.prefix) :]
        if path.startswith("/a/"):  # authenticated: the same API one level down
            if req.token is None:
                return self.unauthorized(req)
            path = path[2:]
        for method, pattern, fn in self.routes:
            found = pattern.match(path)
            if found and method == req.method:
                return fn(req, **found.groupdict())
        return self.not_found()

    def ok(self, body: Any, headers: dict[str, str] | None = None) -> SimResponse:
        return SimResponse(200, GUARD + json.dumps(body).encode(), headers or {})

    def not_found(self) -> SimResponse:
        return SimResponse(404, b"Not found", {"content-type": "text/plain; charset=utf-8"})

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return SimResponse(401, b"Unauthorized", {"content-type": "text/plain; charset=utf-8"})

    def secondary_limit(self, req: SimRequest, retry_after: float | None) -> SimResponse:
        headers = {"content-type": "text/plain"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        return SimResponse(429, b"Too Many Requests", headers)

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse:
        """Gerrit's quota plugin: 429 with the seconds to wait."""
        wait = max(1, int(budget.reset_at - time.time() + 0.999))
        return SimResponse(429, b"Too Many Requests", {"retry-after": str(wait)}, cost=0)

    # -- shapes -------------------------------------------------------------------------------
    def account(self, login: str | None) -> dict[str, Any] | None:
        """The account of ``login`` (None: a deleted user, shown without an account)."""
        if login is None:
            return None
        p = self.ds.person(login)
        aid = p.id if p else 900_000 + sum(map(ord, login))
        out: dict[str, Any] = {
            "_account_id": aid,
            "name": p.name if p else login,
            "email": p.email if p else f"{login}@gerrit.example",
            "username": login,
        }
        if p is not None and p.is_bot:
            out["tags"] = ["SERVICE_USER"]
        return out

    def _with(self, key: str, login: str | None, body: dict[str, Any]) -> dict[str, Any]:
        who = self.account(login)
        if who is not None:
            body[key] = who
        return body

    def _repo(self, name: str) -> SimRepo | None:
        owner, _, short = name.rpartition("/")
        return self.ds.repo(owner, short)

    def project_info(self, repo: SimRepo) -> dict[str, Any]:
        return {
            "id": repo.full_name.replace("/", "%2F"),
            "name": repo.full_name,
            "parent": "All-Projects",
            "description": repo.description,
            "state": "ACTIVE",
            "web_links": [{"name": "browse", "url": f"/plugins/gitiles/{repo.full_name}"}],
        }

    def change(self, repo: SimRepo, pr: SimPR) -> dict[str, Any]:
        shas = [c.sha for c in pr.commits]
        ps = {sha: k for k, sha in enumerate(shas, 1)}
        current = shas[-1]
        key = change_key(repo, pr)
        revisions: dict[str, Any] = {}
        for k, c in enumerate(pr.commits, 1):
            head = f"{pr.title}\n\n{pr.body}" if c.sha == current else c.message
            person = {"name": c.author_name, "email": c.author_email, "tz": 0}
            rev: dict[str, Any] = {
                "kind": "REWORK",
                "_number": k,
                "created": when(c.authored_at),
                "ref": f"refs/changes/{pr.number % 100:02d}/{pr.number}/{k}",
                "commit": {
                    "parents": [{"commit": "0" * 40}],
                    "author": {**person, "date": when(c.authored_at)},
                    "committer": {**person, "date": when(c.authored_at)},
                    "subject": head.partition("\n")[0],
                    "message": f"{head}\n\nChange-Id: {key}\n",
                },
            }
            self._with("uploader", c.author, rev)
            if c.sha == current:
                rev["files"] = {
                    f.path: {
                        **({"status": FILE_STATUS[f.status]} if f.status in FILE_STATUS else {}),
                        "lines_inserted": f.additions,
                        "lines_deleted": f.deletions,
                        "size_delta": 10 * (f.additions - f.deletions),
                        "size": 1000,
                    }
                    for f in pr.files
                }
            revisions[c.sha] = rev
        messages: list[dict[str, Any]] = [
            self._with(
                "author",
                c.author,
                {
                    "id": f"ps{pr.number}.{k}",
                    "tag": "autogenerated:gerrit:newPatchSet",
                    "date": when(c.authored_at),
                    "message": f"Uploaded patch set {k}.",
                    "_revision_number": k,
                },
            )
            for k, c in enumerate(pr.commits, 1)
        ]
        latest: dict[str, dict[str, Any]] = {}
        for r in pr.reviews:
            n = ps.get(r.commit_sha, len(shas))
            vote = VOTES[r.state]
            text = f"Patch Set {n}: Code-Review{vote:+d}\n\n"
            if r.comments:
                text += f"({len(r.comments)} comment{'s' if len(r.comments) > 1 else ''})\n\n"
            msg = {"id": str(r.id), "date": when(r.submitted_at), "message": text + r.body}
            messages.append(self._with("author", r.author, {**msg, "_revision_number": n}))
            who = self.account(r.author)
            if who is not None:
                latest[r.author or ""] = {**who, "value": vote, "date": when(r.submitted_at)}
        for note in pr.comments:
            said: dict[str, Any] = {
                "id": str(note.id),
                "date": when(note.created_at),
                "message": f"Patch Set {len(shas)}:\n\n{note.body}",
                "_revision_number": len(shas),
            }
            messages.append(self._with("author", note.author, said))
        status = STATUS[pr.state]
        if status == "ABANDONED":
            messages.append(
                self._with(
                    "author",
                    pr.author,
                    {
                        "id": f"ab{pr.number}",
                        "tag": "autogenerated:gerrit:abandon",
                        "date": when(pr.closed_at),
                        "message": "Abandoned",
                    },
                )
            )
        messages.sort(key=lambda m: m["date"] or "")
        out: dict[str, Any] = {
            "id": f"{repo.full_name.replace('/', '%2F')}~{pr.base}~{key}",
            "project": repo.full_name,
            "branch": pr.base,
            "topic": pr.head,
            "hashtags": list(pr.labels),
            "change_id": key,
            "subject": pr.title,
            "status": status,
            "created": when(pr.created_at),
            "updated": when(pr.updated_at),
            "insertions": pr.additions,
            "deletions": pr.deletions,
            "total_comment_count": len(pr.review_comments),
            "unresolved_comment_count": 0,
            "_number": pr.number,
            "work_in_progress": pr.draft,
            "labels": {
                "Code-Review": {
                    "all": list(latest.values()),
                    "values": CODE_REVIEW_VALUES,
                    "default_value": 0,
                }
            },
            "messages": messages,
            "current_revision": current,
            "revisions": revisions,
        }
        self._with("owner", pr.author, out)
        if status == "MERGED":
            out["submitted"] = when(pr.merged_at)
            self._with("submitter", pr.merged_by, out)
        return out

    # -- routes -------------------------------------------------------------------------------
    def get_version(self, req: SimRequest) -> SimResponse:
        return self.ok(self.version)

    def projects(self, req: SimRequest) -> SimResponse:
        prefix = req.query.get("p", "")
        names = sorted(r.full_name for r in self.ds.live_repos() if r.full_name.startswith(prefix))
        n, start = int(req.query.get("n") or 500), int(req.query.get("S") or 0)
        chunk = names[start : start + n]
        body: dict[str, Any] = {}
        for name in chunk:
            repo = self._repo(name)
            assert repo is not None
            body[name] = self.project_info(repo)
        if chunk and start + n < len(names) and self.more_projects:
            body[chunk[-1]]["_more_projects"] = True
        return self.ok(body)

    def groups(self, req: SimRequest) -> SimResponse:
        """The dataset's teams as groups named by their slug, with their members and the
        groups they include (a team's sub-teams); ``_more_groups`` on a page's last group."""
        uuid = {
            t.slug: hashlib.sha1(t.slug.encode(), usedforsecurity=False).hexdigest()
            for t in self.ds.teams
        }
        body: dict[str, Any] = {}
        for k, t in enumerate(sorted(self.ds.teams, key=lambda t: t.slug)):
            members = [self.account(login) for login, _ in t.members]
            subs = [s for s in self.ds.teams if s.parent == t.slug]
            body[t.slug] = {
                "id": uuid[t.slug],
                "name": t.slug,
                "group_id": 10 + k,
                "description": t.description,
                "owner": "Administrators",
                "members": [a for a in members if a is not None],
                "includes": [{"id": uuid[s.slug], "name": s.slug} for s in subs],
            }
        names = list(body)
        n, start = int(req.query.get("n") or 500), int(req.query.get("S") or 0)
        page = {name: body[name] for name in names[start : start + n]}
        if page and start + n < len(names):
            page[names[start + n - 1]]["_more_groups"] = True
        return self.ok(page)

    def project(self, req: SimRequest, name: str) -> SimResponse:
        repo = self._repo(name)
        return self.ok(self.project_info(repo)) if repo else self.not_found()

    def head(self, req: SimRequest, name: str) -> SimResponse:
        repo = self._repo(name)
        return self.ok(f"refs/heads/{repo.default_branch}") if repo else self.not_found()

    def labels(self, req: SimRequest, name: str) -> SimResponse:
        repo = self._repo(name)
        if repo is None:
            return self.not_found()
        if repo.protection is None:
            return self.ok([])
        p = repo.protection
        copy = "changekind:NO_CHANGE OR changekind:TRIVIAL_REBASE OR is:MIN"
        return self.ok(
            [
                {
                    "name": "Code-Review",
                    "project_name": "All-Projects",
                    "function": "NoBlock",
                    "values": CODE_REVIEW_VALUES,
                    "default_value": 0,
                    "copy_condition": copy if p.dismiss_stale else "is:ANY",
                },
                {
                    "name": "Verified",
                    "project_name": repo.full_name,
                    "function": "NoBlock",
                    "values": {"-1": "Fails", " 0": "No score", "+1": "Verified"},
                    "default_value": 0,
                    "branches": [f"refs/heads/{p.branch}"],
                },
            ]
        )

    def requirements(self, req: SimRequest, name: str) -> SimResponse:
        repo = self._repo(name)
        if repo is None or not self.submit_requirements:
            return self.not_found()
        p = repo.protection
        if p is None:
            return self.ok([])
        count = f",count>={p.required_approvals}" if p.required_approvals > 1 else ""
        out = [
            {
                "name": "Code-Review",
                "description": "A maximum vote is required for the 'Code-Review' label",
                "applicability_expression": f"branch:refs/heads/{p.branch}",
                "submittability_expression": (
                    f"label:Code-Review=MAX{count} AND -label:Code-Review=MIN"
                ),
                "override_expression": "",
                "allow_override_in_child_projects": False,
            },
            {
                "name": "Verified",
                "applicability_expression": f"branch:refs/heads/{p.branch}",
                "submittability_expression": "label:Verified=MAX AND -label:Verified=MIN",
                "allow_override_in_child_projects": False,
            },
        ]
        if p.code_owner_reviews:
            out.append(
                {
                    "name": "Code-Owners",
                    "submittability_expression": "has:approval_code-owners",
                    "allow_override_in_child_projects": False,
                }
            )
        return self.ok(out)

    def query(self, req: SimRequest) -> SimResponse:
        ops = {k: v.strip('"') for k, v in _OPERAND.findall(req.query.get("q", ""))}
        repo = self._repo(ops.get("project", ""))
        n = min(int(req.query.get("n") or self.max_n), self.max_n)
        start = int(req.query.get("S") or 0)
        if start + n > self.max_offset and start > 0:
            return SimResponse(
                400,
                f"Cannot go beyond page {self.max_offset // n} of results".encode(),
                {"content-type": "text/plain"},
            )
        if repo is None:
            return self.ok([])
        prs = repo.prs_by_updated()
        if "after" in ops:
            after = _parse(ops["after"])
            prs = [p for p in prs if p.updated_at >= after]
        if "before" in ops:
            before = _parse(ops["before"])
            prs = [p for p in prs if p.updated_at <= before]
        chunk = [self.change(repo, p) for p in prs[start : start + n]]
        if chunk and start + n < len(prs):
            chunk[-1]["_more_changes"] = True
        return self.ok(chunk)

    def one_change(self, req: SimRequest, name: str, n: str) -> SimResponse:
        repo = self._repo(name)
        pr = repo.pr(int(n)) if repo else None
        return self.ok(self.change(repo, pr)) if repo and pr else self.not_found()

    def comments(self, req: SimRequest, name: str, n: str) -> SimResponse:
        repo = self._repo(name)
        pr = repo.pr(int(n)) if repo else None
        if pr is None:
            return self.not_found()
        ps = {c.sha: k for k, c in enumerate(pr.commits, 1)}
        out: dict[str, list[dict[str, Any]]] = {}
        for r in pr.reviews:
            for c in r.comments:
                item = {
                    "id": str(c.id),
                    "patch_set": ps.get(r.commit_sha, len(pr.commits)),
                    "line": c.line,
                    "message": c.body,
                    "updated": when(c.updated_at),
                    "unresolved": False,
                }
                out.setdefault(c.path or "/PATCHSET_LEVEL", []).append(
                    self._with("author", c.author, item)
                )
        return self.ok(out)
