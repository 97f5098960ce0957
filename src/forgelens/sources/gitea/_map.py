"""Gitea / Forgejo API v1 payloads -> canonical records (the same meaning as GitHub's).

Gitea copies much of GitHub's REST shape, with its own words where it differs:

- a pull request is ``state: closed`` with ``merged: true`` once merged (-> ``merged``);
- reviews are ``APPROVED`` / ``REQUEST_CHANGES`` (-> ``CHANGES_REQUESTED``) / ``COMMENT``
  (-> ``COMMENTED``); a dismissed review keeps its state word and says ``dismissed: true``
  (-> ``DISMISSED``: a withdrawn approval never counts); ``PENDING`` drafts and
  ``REQUEST_REVIEW`` (a review *request*) are no reviews and are skipped;
- a review comment names its line as ``position`` (new side) or ``original_position`` (old);
- a changed file's ``status`` is ``added`` / ``deleted`` / ``renamed`` / ``copied`` or
  ``changed`` (-> ``modified``);
- a deleted account is the ``Ghost`` user (id -1): stored as no one, as GitHub's ``null``;
- people are keyed by their numeric account ``id`` (a login can be renamed) and shown by
  their full name, else their login (``person``); identities merge them with other forges;
- times carry the server's offset (``2024-03-07T08:26:40+08:00``) and whole seconds;
- Actions runs (``/actions/runs``, Gitea 1.24 / Forgejo) already speak GitHub's
  status/conclusion; the older ``/actions/tasks`` (1.22) say ``success``/``failure``/
  ``running``/``waiting`` in one word, mapped to the same pair.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from forgelens.records import (
    BranchProtection,
    CiRun,
    Comment,
    Issue,
    IssueComment,
    Person,
    PrCommit,
    PrFile,
    PullRequest,
    Repository,
    Review,
    repository_id,
)
from forgelens.sources._forge_common import intval, logins, req, ts

SOURCE = "gitea"
GHOST_IDS = (-1, -2)  # Gitea's Ghost (deleted) user and its Actions bot (-2: "gitea-actions")
REVIEW_STATES = {
    "APPROVED": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}
WIP_PREFIXES = ("WIP:", "[WIP]")
CHANGE_TYPES = {"changed": "modified", "removed": "deleted"}  # the rest as GitHub says them
# /actions/tasks (Gitea 1.22) one-word statuses -> (status, conclusion)
TASK_STATUS = {
    "success": ("completed", "success"),
    "failure": ("completed", "failure"),
    "cancelled": ("completed", "cancelled"),
    "skipped": ("completed", "skipped"),
    "running": ("in_progress", None),
    "waiting": ("queued", None),
    "blocked": ("queued", None),
    "unknown": ("queued", None),
}


def handle(user: Any) -> str | None:
    """The account's login (shown, and renamable); None for no one and for the Ghost of a
    deleted account."""
    if not isinstance(user, dict):
        return None
    name = user.get("login") or user.get("username")
    if not isinstance(name, str) or not name:
        return None
    if user.get("id") == -1 or (name == "Ghost" and user.get("id") in (None, -1)):
        return None
    return name


def login(user: Any) -> str | None:
    """The key of a Gitea account: its numeric ``id`` (a login can be renamed, and a new
    account may then take the old one); the Actions bot (id -2) and a payload without an id
    by their login; None for no one and for the Ghost."""
    name = handle(user)
    if name is None:
        return None
    uid = intval(user.get("id"))
    return str(uid) if uid is not None and uid > 0 else name


def person(user: Any) -> Person | None:
    """A Gitea account keyed by ``login`` (its id), shown by its full name, else its login."""
    key, name = login(user), handle(user)
    if key is None or name is None or not isinstance(user, dict):
        return None
    uid = intval(user.get("id"))
    return Person(
        SOURCE,
        key,
        name=user.get("full_name") or name,
        email=user.get("email") or None,
        forge_id=str(uid) if uid is not None and uid > 0 else None,
        is_bot=uid == -2 or name.endswith("[bot]") or name.endswith("-bot"),
        avatar_url=user.get("avatar_url") or None,
    )


def pr_people(p: dict[str, Any]) -> list[Person | None]:
    """Everyone a pull request's own payload names: its author, who merged it, its assignees
    and requested reviewers (people are keyed by id: their names come with them)."""
    listed = [*(p.get("assignees") or []), *(p.get("requested_reviewers") or [])]
    return [person(p.get("user")), person(p.get("merged_by")), *map(person, listed)]


def _labels(items: Any) -> list[str]:
    return [str(lb["name"]) for lb in items or [] if isinstance(lb, dict) and lb.get("name")]


def repository(p: dict[str, Any]) -> Repository:
    full = str(p["full_name"])
    owner = handle(p.get("owner")) or full.partition("/")[0]
    return Repository(
        id=repository_id(SOURCE, full),
        source=SOURCE,
        full_name=full,
        name=str(p.get("name") or full.rpartition("/")[2]),
        owner=owner,
        forge_id=str(p["id"]) if p.get("id") is not None else None,
        description=p.get("description"),
        default_branch=p.get("default_branch") or None,
        url=p.get("html_url"),
        is_private=p.get("private"),
        is_fork=p.get("fork"),
        is_archived=p.get("archived"),
        language=p.get("language") or None,
        stars=intval(p.get("stars_count")),
        forks=intval(p.get("forks_count")),
        open_issues=intval(p.get("open_issues_count")),
        created_at=ts(p.get("created_at")),
        updated_at=ts(p.get("updated_at")),
        pushed_at=ts(p.get("updated_at")),
    )


def protection_rule(rules: list[Any], branch: str) -> dict[str, Any] | None:
    """The rule that protects ``branch``: the one named after it, else the first glob rule
    (``release/*``) it matches -- Gitea applies the most specific rule."""
    named = [r for r in rules if isinstance(r, dict)]
    for r in named:
        if (r.get("rule_name") or r.get("branch_name")) == branch:
            return r
    for r in named:
        pattern = str(r.get("rule_name") or r.get("branch_name") or "")
        if pattern and fnmatch.fnmatchcase(branch, pattern):
            return r
    return None


def protection(repo_id: str, branch: str, p: dict[str, Any]) -> BranchProtection:
    checks = p.get("status_check_contexts") if p.get("enable_status_check") else []
    force = p.get("enable_force_push")
    return BranchProtection(
        repository_id=repo_id,
        branch=branch,
        required_approvals=intval(p.get("required_approvals")),
        require_code_owner_reviews=None,  # Gitea has no such switch on a rule
        dismiss_stale_reviews=p.get("dismiss_stale_approvals"),
        required_checks=[str(c) for c in checks or [] if isinstance(c, str)],
        enforce_admins=None,
        allow_force_pushes=force if isinstance(force, bool) else None,
        raw=p,
    )


def _wip(title: Any) -> bool:
    """Before Gitea 1.22 said ``draft``, a pull request was one by its title's prefix (the
    default ``[repository.pull-request] WORK_IN_PROGRESS_PREFIXES``)."""
    return isinstance(title, str) and title.upper().startswith(WIP_PREFIXES)


def pull_request(repo_id: str, p: dict[str, Any]) -> PullRequest:
    merged = bool(p.get("merged")) or bool(p.get("merged_at"))
    state = "merged" if merged else ("closed" if p.get("state") == "closed" else "open")
    merged_at = ts(p.get("merged_at"))
    return PullRequest(
        repository_id=repo_id,
        number=int(p["number"]),
        title=str(p.get("title") or ""),
        state=state,
        created_at=req(ts(p.get("created_at")), "created_at"),
        updated_at=req(ts(p.get("updated_at")), "updated_at"),
        forge_id=str(p["id"]) if p.get("id") is not None else None,
        body=p.get("body"),
        author=login(p.get("user")),
        draft=bool(p["draft"]) if "draft" in p else _wip(p.get("title")),
        merged_at=merged_at,
        closed_at=ts(p.get("closed_at")) or (merged_at if merged else None),
        base_ref=(p.get("base") or {}).get("ref"),
        head_ref=(p.get("head") or {}).get("ref"),
        additions=intval(p.get("additions")),
        deletions=intval(p.get("deletions")),
        changed_files=intval(p.get("changed_files")),
        labels=_labels(p.get("labels")),
        merged_by=login(p.get("merged_by")),
        url=p.get("html_url"),
        assignees=logins(p.get("assignees"), login),
        requested_reviewers=logins(p.get("requested_reviewers"), login),
    )


def review_state(r: dict[str, Any]) -> str | None:
    """The canonical state of a review, or None when it is no review (a draft, a request)."""
    state = REVIEW_STATES.get(str(r.get("state") or "").upper())
    if state is None:
        return None
    return "DISMISSED" if r.get("dismissed") else state


def review(repo_id: str, number: int, r: dict[str, Any], state: str) -> Review:
    return Review(
        repository_id=repo_id,
        pr_number=number,
        review_id=str(int(r["id"])),
        author=login(r.get("user")),
        state=state,
        submitted_at=ts(r.get("submitted_at")),
        body=r.get("body") or None,
        commit_sha=r.get("commit_id") or None,
    )


def comment(repo_id: str, number: int, c: dict[str, Any], kind: str) -> Comment:
    line = intval(c.get("position")) or intval(c.get("original_position")) or None  # 0: none
    return Comment(
        repository_id=repo_id,
        pr_number=number,
        comment_id=str(int(c["id"])),
        author=login(c.get("user")),
        body=c.get("body"),
        created_at=ts(c.get("created_at")),
        updated_at=ts(c.get("updated_at")),
        kind=kind,
        path=c.get("path") if kind == "review" else None,
        line=line if kind == "review" else None,
    )


def pr_file(repo_id: str, number: int, f: dict[str, Any]) -> PrFile:
    status = str(f.get("status") or "changed").lower()
    change = CHANGE_TYPES.get(status, status)
    return PrFile(
        repository_id=repo_id,
        pr_number=number,
        path=str(f["filename"]),
        additions=intval(f.get("additions")),
        deletions=intval(f.get("deletions")),
        change_type=change,
        old_path=f.get("previous_filename") or None if change == "renamed" else None,
    )


def pr_commit(repo_id: str, number: int, c: dict[str, Any]) -> PrCommit:
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


def issue(repo_id: str, i: dict[str, Any]) -> Issue:
    return Issue(
        repository_id=repo_id,
        number=int(i["number"]),
        title=str(i.get("title") or ""),
        state="closed" if i.get("state") == "closed" else "open",
        created_at=req(ts(i.get("created_at")), "created_at"),
        updated_at=req(ts(i.get("updated_at")), "updated_at"),
        forge_id=str(i["id"]) if i.get("id") is not None else None,
        body=i.get("body"),
        author=login(i.get("user")),
        closed_at=ts(i.get("closed_at")),
        labels=_labels(i.get("labels")),
        comments_count=intval(i.get("comments")),
        url=i.get("html_url"),
    )


def issue_comment(repo_id: str, number: int, c: dict[str, Any]) -> IssueComment:
    return IssueComment(
        repository_id=repo_id,
        issue_number=number,
        comment_id=str(int(c["id"])),
        author=login(c.get("user")),
        body=c.get("body"),
        created_at=ts(c.get("created_at")),
        updated_at=ts(c.get("updated_at")),
    )


def ci_run(repo_id: str, r: dict[str, Any]) -> CiRun:
    """An Actions run (``/actions/runs``) or task (``/actions/tasks``, Gitea 1.22)."""
    raw = str(r.get("status") or "")
    status: str | None = raw
    conclusion = r.get("conclusion") or None
    if raw in TASK_STATUS:
        status, conclusion = TASK_STATUS[raw]
    started = ts(r.get("run_started_at") or r.get("started_at"))
    created = ts(r.get("created_at")) or started
    completed = ts(r.get("completed_at"))
    updated = ts(r.get("updated_at")) or completed or started
    if status == "completed" and completed is None:
        completed = updated
    return CiRun(
        repository_id=repo_id,
        run_id=str(int(r["id"])),
        name=r.get("name") or r.get("display_title") or None,
        status=status or None,
        conclusion=conclusion if status == "completed" else None,
        created_at=created,
        updated_at=updated,
        head_sha=r.get("head_sha") or None,
        head_branch=r.get("head_branch") or None,
        event=r.get("event") or None,
        started_at=started,
        completed_at=completed if status == "completed" else None,
        url=r.get("html_url") or r.get("url") or None,
    )
