"""GitLab v4 payloads -> canonical records (the same meaning as GitHub's).

``opened`` -> open, ``merged`` -> merged, ``closed``/``locked`` -> closed; a merged MR's
``closed_at`` is its ``merged_at`` (GitLab leaves it empty); approval and "requested changes"
system notes are reviews APPROVED / CHANGES_REQUESTED, and an approval its author takes back
("unapproved this merge request") before the merge is DISMISSED; diff notes are review
comments; line counts come from the unified diff text; pipelines map to GitHub's
status/conclusion words.
"""

from __future__ import annotations

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

SOURCE = "gitlab"
MR_STATES = {"opened": "open", "merged": "merged", "closed": "closed", "locked": "closed"}
REVIEW_NOTES = (
    ("approved this merge request", "APPROVED"),
    ("requested changes", "CHANGES_REQUESTED"),
)
WITHDRAWAL_NOTE = "unapproved this merge request"
RUNNING = {"created", "waiting_for_resource", "preparing", "pending", "running", "scheduled"}
CONCLUSIONS = {
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "skipped": "skipped",
    "manual": "action_required",
}
EVENTS = {
    "merge_request_event": "pull_request",
    "push": "push",
    "schedule": "schedule",
    "web": "workflow_dispatch",
    "api": "workflow_dispatch",
}


def login(user: Any) -> str | None:
    if not isinstance(user, dict) or not isinstance(user.get("username"), str):
        return None
    return str(user["username"])


def person(user: Any) -> Person | None:
    name = login(user)
    if name is None:
        return None
    return Person(
        SOURCE,
        name,
        name=user.get("name"),
        forge_id=str(user["id"]) if user.get("id") is not None else None,
        is_bot=bool(user.get("bot")) or name.endswith("[bot]"),
        avatar_url=user.get("avatar_url"),
    )


def repository(p: dict[str, Any]) -> Repository:
    full = str(p["path_with_namespace"])
    namespace = p.get("namespace") or {}
    return Repository(
        id=repository_id(SOURCE, full),
        source=SOURCE,
        full_name=full,
        name=str(p.get("path") or full.rsplit("/", 1)[-1]),
        owner=namespace.get("full_path") or full.rpartition("/")[0],
        forge_id=str(p["id"]),
        description=p.get("description"),
        default_branch=p.get("default_branch"),
        url=p.get("web_url"),
        is_private=p.get("visibility") != "public" if p.get("visibility") else None,
        is_fork="forked_from_project" in p,
        is_archived=p.get("archived"),
        stars=intval(p.get("star_count")),
        forks=intval(p.get("forks_count")),
        open_issues=intval(p.get("open_issues_count")),
        created_at=ts(p.get("created_at")),
        updated_at=ts(p.get("last_activity_at")),
        pushed_at=ts(p.get("last_activity_at")),
    )


def protection(
    repo_id: str, branch: str, p: dict[str, Any], approvals: dict[str, Any]
) -> BranchProtection:
    return BranchProtection(
        repository_id=repo_id,
        branch=branch,
        required_approvals=intval(approvals.get("approvals_before_merge")),
        require_code_owner_reviews=p.get("code_owner_approval_required"),
        dismiss_stale_reviews=approvals.get("reset_approvals_on_push"),
        allow_force_pushes=p.get("allow_force_push"),
        raw={"protected_branch": p, "approvals": approvals},
    )


def merge_request(repo_id: str, m: dict[str, Any]) -> PullRequest:
    merged_at = ts(m.get("merged_at"))
    state = MR_STATES.get(str(m.get("state")), "closed")
    return PullRequest(
        repository_id=repo_id,
        number=int(m["iid"]),
        title=str(m.get("title") or ""),
        state=state,
        created_at=req(ts(m.get("created_at")), "created_at"),
        updated_at=req(ts(m.get("updated_at")), "updated_at"),
        forge_id=str(m["id"]) if m.get("id") is not None else None,
        body=m.get("description"),
        author=login(m.get("author")),
        draft=bool(m.get("draft") or m.get("work_in_progress")),
        merged_at=merged_at,
        closed_at=ts(m.get("closed_at")) or (merged_at if state == "merged" else None),
        base_ref=m.get("target_branch"),
        head_ref=m.get("source_branch"),
        labels=[str(x) for x in m.get("labels") or [] if isinstance(x, str)],
        merged_by=login(m.get("merge_user") or m.get("merged_by")),
        url=m.get("web_url"),
        assignees=logins(m.get("assignees"), login),
        requested_reviewers=logins(m.get("reviewers"), login),  # every reviewer set on it
    )


def review_state(note: dict[str, Any]) -> str | None:
    """The review a system note records, or None for other system notes."""
    body = str(note.get("body") or "").strip().lower()
    return next((state for text, state in REVIEW_NOTES if body.startswith(text)), None)


def is_withdrawal(note: dict[str, Any]) -> bool:
    """The system note of an approval taken back."""
    return str(note.get("body") or "").strip().lower().startswith(WITHDRAWAL_NOTE)


def review(repo_id: str, number: int, note: dict[str, Any], state: str) -> Review:
    return Review(
        repository_id=repo_id,
        pr_number=number,
        review_id=str(int(note["id"])),
        author=login(note.get("author")),
        state=state,
        submitted_at=ts(note.get("created_at")),
    )


def comment(repo_id: str, number: int, note: dict[str, Any]) -> Comment:
    pos = note.get("position") if isinstance(note.get("position"), dict) else None
    return Comment(
        repository_id=repo_id,
        pr_number=number,
        comment_id=str(int(note["id"])),
        author=login(note.get("author")),
        body=note.get("body"),
        created_at=ts(note.get("created_at")),
        updated_at=ts(note.get("updated_at")),
        kind="review" if pos else "conversation",
        path=(pos.get("new_path") or pos.get("old_path")) if pos else None,
        line=intval(pos.get("new_line") or pos.get("old_line")) if pos else None,
    )


def diff_counts(diff: Any) -> tuple[int | None, int | None]:
    """Added and removed lines of a unified diff (None when GitLab sent no diff text)."""
    if not isinstance(diff, str) or not diff:
        return None, None
    adds = dels = 0
    for line in diff.splitlines():
        if line.startswith("+"):
            adds += 1
        elif line.startswith("-"):
            dels += 1
    return adds, dels


def pr_file(repo_id: str, number: int, d: dict[str, Any]) -> PrFile:
    adds, dels = diff_counts(d.get("diff"))
    omitted = d.get("too_large") or d.get("collapsed")
    if adds is None and d.get("diff") == "" and d.get("renamed_file") and not omitted:
        adds = dels = 0  # a pure rename: GitLab sends no text because no line changed
    if d.get("new_file"):
        change = "added"
    elif d.get("deleted_file"):
        change = "deleted"
    elif d.get("renamed_file"):
        change = "renamed"
    else:
        change = "modified"
    return PrFile(
        repository_id=repo_id,
        pr_number=number,
        path=str(d.get("new_path") or d["old_path"]),
        additions=adds,
        deletions=dels,
        change_type=change,
        old_path=d.get("old_path") if change == "renamed" else None,
    )


def pr_commit(repo_id: str, number: int, c: dict[str, Any]) -> PrCommit:
    return PrCommit(
        repository_id=repo_id,
        pr_number=number,
        sha=str(c["id"]),
        author_name=c.get("author_name"),
        author_email=c.get("author_email"),
        authored_at=ts(c.get("authored_date")),
        message=c.get("message"),
    )


def issue(repo_id: str, i: dict[str, Any]) -> Issue:
    return Issue(
        repository_id=repo_id,
        number=int(i["iid"]),
        title=str(i.get("title") or ""),
        state="open" if i.get("state") == "opened" else "closed",
        created_at=req(ts(i.get("created_at")), "created_at"),
        updated_at=req(ts(i.get("updated_at")), "updated_at"),
        forge_id=str(i["id"]) if i.get("id") is not None else None,
        body=i.get("description"),
        author=login(i.get("author")),
        closed_at=ts(i.get("closed_at")),
        labels=[str(x) for x in i.get("labels") or [] if isinstance(x, str)],
        comments_count=intval(i.get("user_notes_count")),
        url=i.get("web_url"),
        issue_type=issue_type(i),
    )


def issue_type(i: dict[str, Any]) -> str | None:
    """GitLab's kind of issue, lower case: ``issue_type`` (``incident``), else ``type``
    (``INCIDENT``; the only one on some GitLab versions and in Issue Hooks, ``Incident``)."""
    for key in ("issue_type", "type"):
        value = i.get(key)
        if isinstance(value, str) and value:
            return value.strip().lower()
    return None


def issue_comment(repo_id: str, number: int, note: dict[str, Any]) -> IssueComment:
    return IssueComment(
        repository_id=repo_id,
        issue_number=number,
        comment_id=str(int(note["id"])),
        author=login(note.get("author")),
        body=note.get("body"),
        created_at=ts(note.get("created_at")),
        updated_at=ts(note.get("updated_at")),
    )


def pipeline(repo_id: str, p: dict[str, Any]) -> CiRun:
    status = str(p.get("status") or "")
    done = status not in RUNNING
    return CiRun(
        repository_id=repo_id,
        run_id=str(int(p["id"])),
        name=p.get("name"),
        status="completed" if done else ("in_progress" if status == "running" else "queued"),
        conclusion=CONCLUSIONS.get(status, status) if done else None,
        created_at=ts(p.get("created_at")),
        updated_at=ts(p.get("updated_at")),
        head_sha=p.get("sha"),
        head_branch=p.get("ref"),
        event=EVENTS.get(str(p.get("source")), p.get("source")),
        started_at=ts(p.get("started_at")),
        completed_at=(ts(p.get("finished_at")) or ts(p.get("updated_at"))) if done else None,
        url=p.get("web_url"),
    )
