"""GitHub payloads (REST and GraphQL) -> records. Both shapes map to identical records.

Every function takes untrusted JSON: missing keys and ``null`` users (deleted "ghost" accounts)
are expected; a payload that cannot be a record raises ``ValueError``/``KeyError``/``TypeError``
and the caller skips that item and counts an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.records import (
    BranchProtection,
    CiRun,
    Comment,
    Contributor,
    Deployment,
    Issue,
    IssueComment,
    Person,
    PrCommit,
    PrFile,
    PullRequest,
    Repository,
    Review,
    environment_kind,
    repository_id,
)
from forgelens.sources._forge_common import logins
from forgelens.sources._forge_common import ts as ts  # in UTC, whatever offset GitHub sent

SOURCE = "github"
GHOST = "ghost"  # the login GitHub shows for deleted accounts
CHANGE_TYPES = {
    "added": "added",
    "removed": "deleted",
    "deleted": "deleted",
    "modified": "modified",
    "renamed": "renamed",
    "copied": "copied",
    "changed": "changed",
    "unchanged": "unchanged",
}


def req_ts(value: Any) -> datetime:
    parsed = ts(value)
    if parsed is None:
        raise ValueError(f"missing timestamp: {value!r}")
    return parsed


def login(actor: Any) -> str | None:
    """A REST user or a GraphQL actor -> login (GraphQL bots lack the ``[bot]`` suffix)."""
    if not isinstance(actor, dict) or not isinstance(actor.get("login"), str):
        return None
    name = str(actor["login"])
    if actor.get("__typename") == "Bot" and not name.endswith("[bot]"):
        name += "[bot]"
    return name


def user_id(actor: Any) -> str | None:
    """The account's stable id (a login can be renamed, the id never changes): a REST user's
    ``id`` or a GraphQL actor's ``databaseId`` (the same number). None for the ``ghost`` that
    stands for deleted accounts (one id shared by all of them) and for actors without one."""
    if not isinstance(actor, dict) or login(actor) in (None, GHOST):
        return None
    for key in ("databaseId", "id"):  # GraphQL's ``id`` would be a node id: only numbers count
        value = _int(actor.get(key))
        if value is not None:
            return str(value)
    return None


def person(actor: Any) -> Person | None:
    """The person behind a REST user or a GraphQL actor, keyed by login and carrying the
    account id in ``forge_id``: identities merge the logins of one renamed account by it."""
    name = login(actor)
    if name is None:
        return None
    bot = actor.get("type") == "Bot" or actor.get("__typename") == "Bot" or name.endswith("[bot]")
    avatar = actor.get("avatar_url") or actor.get("avatarUrl")
    return Person(SOURCE, name, forge_id=user_id(actor), is_bot=bot, avatar_url=avatar)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _nodes(conn: Any) -> list[Any]:
    nodes = conn.get("nodes") if isinstance(conn, dict) else None
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


# -- repositories -----------------------------------------------------------------------------
def repo_rest(p: dict[str, Any]) -> Repository:
    full = str(p["full_name"])
    owner = p.get("owner") or {}
    return Repository(
        id=repository_id(SOURCE, full),
        source=SOURCE,
        full_name=full,
        name=str(p.get("name") or full.rsplit("/", 1)[-1]),
        owner=owner.get("login") if isinstance(owner, dict) else None,
        forge_id=str(p["id"]) if p.get("id") is not None else None,
        description=p.get("description"),
        default_branch=p.get("default_branch"),
        url=p.get("html_url"),
        is_private=p.get("private"),
        is_fork=p.get("fork"),
        is_archived=p.get("archived"),
        language=p.get("language"),
        stars=_int(p.get("stargazers_count")),
        forks=_int(p.get("forks_count")),
        open_issues=_int(p.get("open_issues_count")),
        created_at=ts(p.get("created_at")),
        updated_at=ts(p.get("updated_at")),
        pushed_at=ts(p.get("pushed_at")),
    )


def repo_graphql(p: dict[str, Any]) -> Repository:
    full = str(p["nameWithOwner"])
    lang = p.get("primaryLanguage") or {}
    branch = p.get("defaultBranchRef") or {}
    open_issues = (p.get("openIssues") or {}).get("totalCount")
    open_prs = (p.get("openPullRequests") or {}).get("totalCount")
    return Repository(
        id=repository_id(SOURCE, full),
        source=SOURCE,
        full_name=full,
        name=str(p.get("name") or full.rsplit("/", 1)[-1]),
        owner=(p.get("owner") or {}).get("login"),
        forge_id=str(p["databaseId"]) if p.get("databaseId") is not None else None,
        description=p.get("description"),
        default_branch=branch.get("name"),
        url=p.get("url"),
        is_private=p.get("isPrivate"),
        is_fork=p.get("isFork"),
        is_archived=p.get("isArchived"),
        language=lang.get("name"),
        stars=_int(p.get("stargazerCount")),
        forks=_int(p.get("forkCount")),
        open_issues=(open_issues or 0) + (open_prs or 0)
        if open_issues is not None or open_prs is not None
        else None,
        created_at=ts(p.get("createdAt")),
        updated_at=ts(p.get("updatedAt")),
        pushed_at=ts(p.get("pushedAt")),
    )


def protection_rest(repo_id: str, branch: str, p: dict[str, Any]) -> BranchProtection:
    reviews = p.get("required_pull_request_reviews") or {}
    checks = p.get("required_status_checks") or {}
    return BranchProtection(
        repository_id=repo_id,
        branch=branch,
        required_approvals=_int(reviews.get("required_approving_review_count")),
        require_code_owner_reviews=reviews.get("require_code_owner_reviews"),
        dismiss_stale_reviews=reviews.get("dismiss_stale_reviews"),
        required_checks=list(checks.get("contexts") or []),
        enforce_admins=(p.get("enforce_admins") or {}).get("enabled"),
        allow_force_pushes=(p.get("allow_force_pushes") or {}).get("enabled"),
    )


def protection_graphql(repo_id: str, branch: str, rule: dict[str, Any]) -> BranchProtection:
    return BranchProtection(
        repository_id=repo_id,
        branch=branch,
        required_approvals=_int(rule.get("requiredApprovingReviewCount")),
        require_code_owner_reviews=rule.get("requiresCodeOwnerReviews"),
        dismiss_stale_reviews=rule.get("dismissesStaleReviews"),
        required_checks=list(rule.get("requiredStatusCheckContexts") or []),
        enforce_admins=rule.get("isAdminEnforced"),
        allow_force_pushes=rule.get("allowsForcePushes"),
    )


# -- pull requests ----------------------------------------------------------------------------
def pr_rest(repo_id: str, p: dict[str, Any]) -> PullRequest:
    """From ``GET /pulls/{n}`` (the list shape lacks the counts)."""
    state = "merged" if p.get("merged_at") else str(p.get("state") or "open")
    return PullRequest(
        repository_id=repo_id,
        number=int(p["number"]),
        title=str(p.get("title") or ""),
        state=state,
        created_at=req_ts(p.get("created_at")),
        updated_at=req_ts(p.get("updated_at")),
        forge_id=p.get("node_id"),
        body=p.get("body"),
        author=login(p.get("user")),
        draft=bool(p.get("draft")),
        merged_at=ts(p.get("merged_at")),
        closed_at=ts(p.get("closed_at")),
        base_ref=(p.get("base") or {}).get("ref"),
        head_ref=(p.get("head") or {}).get("ref"),
        additions=_int(p.get("additions")),
        deletions=_int(p.get("deletions")),
        changed_files=_int(p.get("changed_files")),
        labels=[str(lb.get("name")) for lb in p.get("labels") or [] if isinstance(lb, dict)],
        merged_by=login(p.get("merged_by")),
        commits=_int(p.get("commits")),
        url=p.get("html_url"),
        assignees=logins(p.get("assignees"), login),
        requested_reviewers=logins(p.get("requested_reviewers"), login),
    )


def pr_graphql(repo_id: str, p: dict[str, Any]) -> PullRequest:
    return PullRequest(
        repository_id=repo_id,
        number=int(p["number"]),
        title=str(p.get("title") or ""),
        state=str(p.get("state") or "OPEN").lower(),
        created_at=req_ts(p.get("createdAt")),
        updated_at=req_ts(p.get("updatedAt")),
        forge_id=p.get("id"),
        body=p.get("body"),
        author=login(p.get("author")),
        draft=bool(p.get("isDraft")),
        merged_at=ts(p.get("mergedAt")),
        closed_at=ts(p.get("closedAt")),
        base_ref=p.get("baseRefName"),
        head_ref=p.get("headRefName"),
        additions=_int(p.get("additions")),
        deletions=_int(p.get("deletions")),
        changed_files=_int(p.get("changedFiles")),
        labels=[str(n.get("name")) for n in _nodes(p.get("labels"))],
        merged_by=login(p.get("mergedBy")),
        commits=_int((p.get("commits") or {}).get("totalCount")),
        url=p.get("url"),
        assignees=logins(_nodes(p["assignees"]) if "assignees" in p else None, login),
        requested_reviewers=logins(
            [n.get("requestedReviewer") for n in _nodes(p["reviewRequests"])]
            if "reviewRequests" in p
            else None,
            login,
        ),
    )


def review(repo_id: str, number: int, r: dict[str, Any]) -> Review:
    rid: Any = r.get("databaseId", r.get("id"))
    commit = r.get("commit_id") or (r.get("commit") or {}).get("oid")
    return Review(
        repository_id=repo_id,
        pr_number=number,
        review_id=str(int(rid)),
        author=login(r.get("user") or r.get("author")),
        state=str(r.get("state") or "COMMENTED"),
        submitted_at=ts(r.get("submitted_at") or r.get("submittedAt")),
        body=r.get("body"),
        commit_sha=commit,
    )


def comment(repo_id: str, number: int, c: dict[str, Any], kind: str) -> Comment:
    cid: Any = c.get("databaseId", c.get("id"))
    return Comment(
        repository_id=repo_id,
        pr_number=number,
        comment_id=str(int(cid)),
        author=login(c.get("user") or c.get("author")),
        body=c.get("body"),
        created_at=ts(c.get("created_at") or c.get("createdAt")),
        updated_at=ts(c.get("updated_at") or c.get("updatedAt")),
        kind=kind,
        path=c.get("path"),
        # an outdated review comment has no ``line`` any more: keep the line it was made on
        line=_int(c.get("line")) or _int(c.get("original_line", c.get("originalLine"))),
    )


def pr_file(repo_id: str, number: int, f: dict[str, Any]) -> PrFile:
    status = str(f.get("status") or f.get("changeType") or "modified").lower()
    return PrFile(
        repository_id=repo_id,
        pr_number=number,
        path=str(f.get("filename") or f["path"]),
        additions=_int(f.get("additions")),
        deletions=_int(f.get("deletions")),
        change_type=CHANGE_TYPES.get(status, status),
    )


def pr_commit(repo_id: str, number: int, c: dict[str, Any]) -> PrCommit:
    if "commit" in c and "oid" in (c.get("commit") or {}):  # GraphQL PullRequestCommit
        g = c["commit"]
        author = g.get("author") or {}
        return PrCommit(
            repository_id=repo_id,
            pr_number=number,
            sha=str(g["oid"]),
            author_name=author.get("name"),
            author_email=author.get("email"),
            author_login=login(author.get("user")),
            authored_at=ts(g.get("authoredDate")),
            message=g.get("message"),
        )
    inner = c.get("commit") or {}
    author = inner.get("author") or {}
    return PrCommit(
        repository_id=repo_id,
        pr_number=number,
        sha=str(c["sha"]),
        author_name=author.get("name"),
        author_email=author.get("email"),
        author_login=login(c.get("author")),
        authored_at=ts(author.get("date")),
        message=inner.get("message"),
    )


# -- issues, CI runs, contributors ------------------------------------------------------------
def issue(repo_id: str, i: dict[str, Any]) -> Issue:
    comments = i.get("comments")
    count = comments.get("totalCount") if isinstance(comments, dict) else comments
    labels = i.get("labels")
    names = (
        [str(n.get("name")) for n in _nodes(labels)]
        if isinstance(labels, dict)
        else [str(lb.get("name")) for lb in labels or [] if isinstance(lb, dict)]
    )
    return Issue(
        repository_id=repo_id,
        number=int(i["number"]),
        title=str(i.get("title") or ""),
        state=str(i.get("state") or "open").lower(),
        created_at=req_ts(i.get("created_at") or i.get("createdAt")),
        updated_at=req_ts(i.get("updated_at") or i.get("updatedAt")),
        forge_id=i.get("node_id") if "node_id" in i else i.get("id"),
        body=i.get("body"),
        author=login(i.get("user") or i.get("author")),
        closed_at=ts(i.get("closed_at") or i.get("closedAt")),
        labels=names,
        comments_count=_int(count),
        url=i.get("html_url") or i.get("url"),
    )


def issue_comment(repo_id: str, number: int, c: dict[str, Any]) -> IssueComment:
    cid: Any = c.get("databaseId", c.get("id"))
    return IssueComment(
        repository_id=repo_id,
        issue_number=number,
        comment_id=str(int(cid)),
        author=login(c.get("user") or c.get("author")),
        body=c.get("body"),
        created_at=ts(c.get("created_at") or c.get("createdAt")),
        updated_at=ts(c.get("updated_at") or c.get("updatedAt")),
    )


def ci_run(repo_id: str, r: dict[str, Any]) -> CiRun:
    status = r.get("status")
    return CiRun(
        repository_id=repo_id,
        run_id=str(int(r["id"])),
        name=r.get("name"),
        status=status,
        conclusion=r.get("conclusion"),
        created_at=ts(r.get("created_at")),
        updated_at=ts(r.get("updated_at")),
        head_sha=r.get("head_sha"),
        head_branch=r.get("head_branch"),
        event=r.get("event"),
        started_at=ts(r.get("run_started_at")),
        completed_at=ts(r.get("updated_at")) if status == "completed" else None,
        url=r.get("html_url"),
    )


def contributor(repo_id: str, c: dict[str, Any]) -> Contributor:
    name = login(c)
    if name is None:
        raise ValueError("contributor without a login")
    return Contributor(repo_id, name, _int(c.get("contributions")))


# A deployment status's state -> the deployment's status (docs/metrics.md, DORA). ``inactive``
# only says a later deployment to the environment replaced this one: it decides nothing.
DEPLOYMENT_STATES = {
    "success": "success",
    "failure": "failure",
    "error": "failure",
    "queued": "in_progress",
    "pending": "in_progress",
    "in_progress": "in_progress",
}
TERMINAL_STATES = ("success", "failure", "error")


def deployment(repo_id: str, d: dict[str, Any], statuses: list[Any]) -> Deployment:
    """One REST deployment and its statuses: the latest terminal status (success, failure,
    error) decides success/failure and its time is ``finished_at``; without one, the latest
    status says in_progress (queued, pending, in_progress) or canceled (only ``inactive``)."""
    sha, env, created = d.get("sha"), d.get("environment"), ts(d.get("created_at"))
    if not isinstance(sha, str) or not isinstance(env, str) or not env or created is None:
        raise ValueError("deployment without sha, environment or created_at")
    seen = [
        (ts(s.get("created_at")), int(s.get("id") or 0), s)
        for s in statuses
        if isinstance(s, dict) and isinstance(s.get("state"), str)
    ]
    ordered = [s for at, _, s in sorted((x for x in seen if x[0]), key=lambda x: x[:2])]
    terminal = [s for s in ordered if s["state"] in TERMINAL_STATES]
    decided = terminal[-1] if terminal else None
    if decided is not None:
        status, finished = DEPLOYMENT_STATES[decided["state"]], ts(decided.get("created_at"))
    elif ordered and ordered[-1]["state"] == "inactive":
        status, finished = "canceled", None
    else:
        status, finished = "in_progress", None
    last = decided or (ordered[-1] if ordered else {})
    production = d.get("production_environment")
    production = production if isinstance(production, bool) else None
    transient = d.get("transient_environment")
    return Deployment(
        repository_id=repo_id,
        deployment_id=f"{SOURCE}:{int(d['id'])}",
        environment=env,
        environment_kind=environment_kind(env, production),
        sha=sha.lower(),
        status=status,
        created_at=created,
        source=SOURCE,
        ref=d.get("ref") if isinstance(d.get("ref"), str) else None,
        finished_at=finished,
        creator=login(d.get("creator")),
        transient_environment=transient if isinstance(transient, bool) else None,
        production_environment=production,
        description=d.get("description") if isinstance(d.get("description"), str) else None,
        url=last.get("log_url") or last.get("target_url") or None,
    )
