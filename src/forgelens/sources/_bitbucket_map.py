"""Bitbucket Server (REST 1.0) and Bitbucket Cloud (2.0) payloads -> canonical records.

Same meaning as GitHub's: ``DECLINED`` (and Cloud ``SUPERSEDED``) -> closed, ``MERGED`` ->
merged; an approval -> review APPROVED, "needs work" / a change request -> CHANGES_REQUESTED;
an approval withdrawn before the merge -> DISMISSED (``_forge_common.withdraw``);
inline comments -> review comments with path and line; build states -> GitHub's
status/conclusion words.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from forgelens.records import (
    BranchProtection,
    CiRun,
    Comment,
    Person,
    PrCommit,
    PrFile,
    PullRequest,
    Review,
)
from forgelens.sources._forge_common import intval, ms, req, ts

SERVER = "bitbucket-server"
CLOUD = "bitbucket"
PR_STATES = {"OPEN": "open", "MERGED": "merged", "DECLINED": "closed", "SUPERSEDED": "closed"}
SERVER_REVIEWS = {"APPROVED": "APPROVED", "REVIEWED": "CHANGES_REQUESTED"}
# The activity of an approval taken back ("a user has removed an approval"). A later "needs
# work" is recorded as a review of its own, the approval kept, as GitHub keeps an approval
# followed by a change request.
SERVER_WITHDRAWAL = "UNAPPROVED"
BUILD_CONCLUSIONS = {
    "SUCCESSFUL": "success",
    "FAILED": "failure",
    "ERROR": "failure",
    "STOPPED": "cancelled",
    "CANCELLED": "cancelled",
}
_RAW_AUTHOR = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<email>[^>]*)>\s*$")


# -- Bitbucket Server -------------------------------------------------------------------------
def server_login(user: Any) -> str | None:
    if not isinstance(user, dict):
        return None
    name = user.get("slug") or user.get("name")
    return str(name) if isinstance(name, str) and name else None


def server_person(user: Any) -> Person | None:
    """A user, or a participant (``{"user": {...}}``)."""
    if isinstance(user, dict) and isinstance(user.get("user"), dict):
        user = user["user"]
    name = server_login(user)
    if name is None:
        return None
    return Person(
        SERVER,
        name,
        name=user.get("displayName"),
        email=user.get("emailAddress"),
        forge_id=str(user["id"]) if user.get("id") is not None else None,
        is_bot=user.get("type") == "SERVICE" or name.endswith("[bot]"),
    )


def server_pr(repo_id: str, p: dict[str, Any]) -> PullRequest:
    state = PR_STATES.get(str(p.get("state")), "closed")
    closed = ms(p.get("closedDate"))
    links = (p.get("links") or {}).get("self") or [{}]
    return PullRequest(
        repository_id=repo_id,
        number=int(p["id"]),
        title=str(p.get("title") or ""),
        state=state,
        created_at=req(ms(p.get("createdDate")), "createdDate"),
        updated_at=req(ms(p.get("updatedDate")), "updatedDate"),
        forge_id=str(p["id"]),
        body=p.get("description"),
        author=server_login((p.get("author") or {}).get("user")),
        draft=bool(p.get("draft")),
        merged_at=closed if state == "merged" else None,
        closed_at=closed if state != "open" else None,
        base_ref=(p.get("toRef") or {}).get("displayId"),
        head_ref=(p.get("fromRef") or {}).get("displayId"),
        url=links[0].get("href") if isinstance(links[0], dict) else None,
    )


def server_review(repo_id: str, number: int, a: dict[str, Any]) -> Review:
    return Review(
        repository_id=repo_id,
        pr_number=number,
        review_id=str(int(a["id"])),
        author=server_login(a.get("user")),
        state=SERVER_REVIEWS[str(a["action"])],
        submitted_at=ms(a.get("createdDate")),
    )


def server_thread(repo_id: str, number: int, a: dict[str, Any]) -> list[tuple[Comment, Any]]:
    """A COMMENTED activity's comment and every reply nested under it (``comment.comments``,
    at any depth), each with its raw author; replies sit in the thread's file and line."""
    out: list[tuple[Comment, Any]] = []
    todo = [a["comment"]]
    while todo:
        c = todo.pop(0)
        if not isinstance(c, dict):
            continue
        out.append((server_comment(repo_id, number, {**a, "comment": c}), c.get("author")))
        todo.extend(c.get("comments") or [])
    return out


def server_comment(repo_id: str, number: int, a: dict[str, Any]) -> Comment:
    c = a["comment"]
    anchor = a.get("commentAnchor") if isinstance(a.get("commentAnchor"), dict) else None
    return Comment(
        repository_id=repo_id,
        pr_number=number,
        comment_id=str(int(c["id"])),
        author=server_login(c.get("author")),
        body=c.get("text"),
        created_at=ms(c.get("createdDate")),
        updated_at=ms(c.get("updatedDate")),
        kind="review" if anchor else "conversation",
        path=anchor.get("path") if anchor else None,
        line=intval(anchor.get("line")) if anchor else None,
    )


def _path(value: Any) -> str | None:
    if isinstance(value, dict):
        text = value.get("toString") or "/".join(value.get("components") or [])
        return str(text) if text else None
    return None


def server_files(repo_id: str, number: int, body: Any) -> list[PrFile]:
    """``/diff`` -> one file per diff with added/removed lines counted from the segments."""
    out: list[PrFile] = []
    for d in (body or {}).get("diffs") or [] if isinstance(body, dict) else []:
        if not isinstance(d, dict):
            continue
        src, dst = _path(d.get("source")), _path(d.get("destination"))
        if src is None and dst is None:
            continue
        adds = dels = 0
        for hunk in d.get("hunks") or []:
            for seg in hunk.get("segments") or []:
                lines = len(seg.get("lines") or [])
                if seg.get("type") == "ADDED":
                    adds += lines
                elif seg.get("type") == "REMOVED":
                    dels += lines
        if src is None:
            change = "added"
        elif dst is None:
            change = "deleted"
        elif src != dst:
            change = "renamed"
        else:
            change = "modified"
        out.append(
            PrFile(
                repository_id=repo_id,
                pr_number=number,
                path=str(dst or src),
                additions=adds,
                deletions=dels,
                change_type=change,
                old_path=src if change == "renamed" else None,
            )
        )
    return out


def server_commit(repo_id: str, number: int, c: dict[str, Any]) -> PrCommit:
    author = c.get("author") or {}
    linked = "slug" in author
    return PrCommit(
        repository_id=repo_id,
        pr_number=number,
        sha=str(c["id"]),
        author_name=author.get("displayName") or author.get("name"),
        author_email=author.get("emailAddress"),
        author_login=str(author["slug"]) if linked else None,
        authored_at=ms(c.get("authorTimestamp")),
        message=c.get("message"),
    )


def server_protection(
    repo_id: str, branch: str, restrictions: list[dict[str, Any]], settings: Any
) -> BranchProtection:
    kinds = {str(r.get("type")) for r in restrictions}
    settings = settings if isinstance(settings, dict) else {}
    return BranchProtection(
        repository_id=repo_id,
        branch=branch,
        required_approvals=intval(settings.get("requiredApprovers")),
        allow_force_pushes="fast-forward-only" not in kinds and "read-only" not in kinds,
        raw={"restrictions": sorted(kinds), "settings": settings},
    )


def server_build(repo_id: str, sha: str, s: dict[str, Any]) -> CiRun:
    state = str(s.get("state") or "")
    done = state != "INPROGRESS"
    added = ms(s.get("dateAdded"))
    return CiRun(
        repository_id=repo_id,
        run_id=str(s["key"]),
        name=s.get("name"),
        status="completed" if done else "in_progress",
        conclusion=BUILD_CONCLUSIONS.get(state) if done else None,
        created_at=added,
        updated_at=added,
        head_sha=sha,
        head_branch=s.get("ref"),
        url=s.get("url"),
    )


def totals(pr: PullRequest, files: list[PrFile] | None, commits: int | None) -> None:
    """Fill a pull request's size from its files and commits (the list shapes lack them);
    None for a list the forge no longer has leaves those sizes unknown, not zero."""
    counted = [f for f in files or [] if f.additions is not None]
    pr.additions = sum(f.additions or 0 for f in counted) if counted else None
    pr.deletions = sum(f.deletions or 0 for f in counted) if counted else None
    pr.changed_files = len(files) if files is not None else None
    pr.commits = commits


# -- Bitbucket Cloud --------------------------------------------------------------------------
def cloud_login(user: Any) -> str | None:
    """The key of a Bitbucket Cloud account: its ``account_id`` (Atlassian's primary key),
    else its ``uuid`` (app users and team accounts may have no account id), else the team's
    ``username``. A nickname is neither unique nor stable: it is only shown as a name."""
    if not isinstance(user, dict):
        return None
    for key in ("account_id", "uuid", "username", "nickname"):
        name = user.get(key)
        if isinstance(name, str) and name:
            return name
    return None


def cloud_person(user: Any) -> Person | None:
    key = cloud_login(user)
    if key is None:
        return None
    assert isinstance(user, dict)
    shown = user.get("display_name") or user.get("nickname") or user.get("username")
    return Person(
        CLOUD,
        key,
        name=shown if isinstance(shown, str) and shown else None,
        forge_id=user.get("account_id") or user.get("uuid"),
        is_bot=user.get("type") == "app_user" or str(shown or key).endswith("[bot]"),
        avatar_url=((user.get("links") or {}).get("avatar") or {}).get("href"),
    )


def cloud_pr(repo_id: str, p: dict[str, Any]) -> PullRequest:
    return PullRequest(
        repository_id=repo_id,
        number=int(p["id"]),
        title=str(p.get("title") or ""),
        state=PR_STATES.get(str(p.get("state")), "closed"),
        created_at=req(ts(p.get("created_on")), "created_on"),
        updated_at=req(ts(p.get("updated_on")), "updated_on"),
        forge_id=str(p["id"]),
        body=p.get("description") or (p.get("summary") or {}).get("raw"),
        author=cloud_login(p.get("author")),
        draft=bool(p.get("draft")),
        base_ref=((p.get("destination") or {}).get("branch") or {}).get("name"),
        head_ref=((p.get("source") or {}).get("branch") or {}).get("name"),
        merged_by=cloud_login(p.get("closed_by")) if p.get("state") == "MERGED" else None,
        url=((p.get("links") or {}).get("html") or {}).get("href"),
    )


def cloud_review(repo_id: str, number: int, kind: str, entry: dict[str, Any]) -> Review:
    """An ``approval`` or ``changes_request`` activity (they carry no id: one is derived).
    A user approves a pull request at most once at a time, so an approval's id is its
    author's: a withdrawal (``pullrequest:unapproved``) and a later re-approval land on the
    same row; a change request keeps its time in its id."""
    user = entry.get("user") or {}
    when = ts(entry.get("date"))
    who = cloud_login(user) or "unknown"
    stamp = int(when.timestamp()) if when else 0
    return Review(
        repository_id=repo_id,
        pr_number=number,
        review_id=f"approval:{who}" if kind == "approval" else f"{kind}:{who}:{stamp}",
        author=cloud_login(user),
        state="APPROVED" if kind == "approval" else "CHANGES_REQUESTED",
        submitted_at=when,
    )


def cloud_withdrawn(reviews: list[Review], participants: Any) -> None:
    """Approvals whose author the pull request's ``participants`` list as not approving
    (``approved: false``) were withdrawn: DISMISSED. The list says only whether an approval
    stands now, not when it was taken back: a withdrawal of unknown time counts as before
    the merge, as ``_forge_common.withdraw`` takes it."""
    if not isinstance(participants, list):
        return
    gone = {
        cloud_login(p.get("user"))
        for p in participants
        if isinstance(p, dict) and p.get("approved") is False
    }
    for r in reviews:
        if r.state == "APPROVED" and r.author in gone:
            r.state = "DISMISSED"


def cloud_comment(repo_id: str, number: int, c: dict[str, Any]) -> Comment:
    inline = c.get("inline") if isinstance(c.get("inline"), dict) else None
    return Comment(
        repository_id=repo_id,
        pr_number=number,
        comment_id=str(int(c["id"])),
        author=cloud_login(c.get("user")),
        body=(c.get("content") or {}).get("raw"),
        created_at=ts(c.get("created_on")),
        updated_at=ts(c.get("updated_on")),
        kind="review" if inline else "conversation",
        path=inline.get("path") if inline else None,
        line=intval(inline.get("to") or inline.get("from")) if inline else None,
        # Bitbucket Cloud keeps a deleted comment, emptied, with ``deleted: true``
        deleted_at=ts(c.get("updated_on") or c.get("created_on")) if c.get("deleted") else None,
    )


def cloud_file(repo_id: str, number: int, d: dict[str, Any]) -> PrFile:
    old = (d.get("old") or {}).get("path")
    new = (d.get("new") or {}).get("path")
    status = str(d.get("status") or "modified")
    change = {"removed": "deleted"}.get(status, status)
    return PrFile(
        repository_id=repo_id,
        pr_number=number,
        path=str(new or old),
        additions=intval(d.get("lines_added")),
        deletions=intval(d.get("lines_removed")),
        change_type=change,
        old_path=old if change == "renamed" else None,
    )


def cloud_commit(repo_id: str, number: int, c: dict[str, Any]) -> PrCommit:
    author = c.get("author") or {}
    raw = _RAW_AUTHOR.match(str(author.get("raw") or ""))
    return PrCommit(
        repository_id=repo_id,
        pr_number=number,
        sha=str(c["hash"]),
        author_name=raw.group("name") if raw else author.get("raw"),
        author_email=raw.group("email") if raw else None,
        author_login=cloud_login(author.get("user")),
        authored_at=ts(c.get("date")),
        message=c.get("message"),
    )


def cloud_protection(repo_id: str, branch: str, rules: list[dict[str, Any]]) -> BranchProtection:
    kinds = {str(r.get("kind")): r for r in rules}
    approvals = kinds.get("require_approvals_to_merge") or {}
    return BranchProtection(
        repository_id=repo_id,
        branch=branch,
        required_approvals=intval(approvals.get("value")),
        dismiss_stale_reviews="reset_pullrequest_approvals_on_change" in kinds,
        allow_force_pushes="force" not in kinds,
        raw={"kinds": sorted(kinds)},
    )


def cloud_pipeline(repo_id: str, p: dict[str, Any]) -> CiRun:
    state = p.get("state") or {}
    name = str(state.get("name") or "")
    done = name == "COMPLETED"
    result = str((state.get("result") or {}).get("name") or "")
    target = p.get("target") or {}
    trigger = str((p.get("trigger") or {}).get("name") or "").lower()
    pull = target.get("type") == "pipeline_pullrequest_target"
    created: datetime | None = ts(p.get("created_on"))
    return CiRun(
        repository_id=repo_id,
        run_id=str(int(p["build_number"])),
        name=None,
        status="completed" if done else ("queued" if name == "PENDING" else "in_progress"),
        conclusion=BUILD_CONCLUSIONS.get(result, result.lower() or None) if done else None,
        created_at=created,
        updated_at=ts(p.get("completed_on")) or created,
        head_sha=(target.get("commit") or {}).get("hash"),
        head_branch=target.get("ref_name") or (target.get("source") if pull else None),
        event="pull_request" if pull else (trigger or None),
        completed_at=ts(p.get("completed_on")) if done else None,
        url=((p.get("links") or {}).get("html") or {}).get("href"),
    )
