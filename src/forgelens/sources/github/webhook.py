"""GitHub webhooks: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``
(``FORGELENS_GITHUB_WEBHOOK_SECRET``), event ``X-GitHub-Event``, delivery ``X-GitHub-Delivery``
(stable across redeliveries); payloads -> records through the collector's own mappers
(``_map.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgelens.records import now_version, repository_id
from forgelens.sources._release import release_event
from forgelens.sources.github import _map as gh
from forgelens.sources.webhook import (
    COMMENT,
    Fields,
    Headers,
    Parsed,
    Secrets,
    Webhooks,
    at,
    carried,
    check_hub_signature,
    conversation,
    hub_push,
    obj,
    people,
    repo_spec,
    tombstone,
    version_of,
)

_GH_COMMON: Fields = {
    "title": "title",
    "state": "state",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "forge_id": "node_id",
    "body": "body",
    "author": "user",
    "closed_at": "closed_at",
    "labels": "labels",
    "url": "html_url",
}


GH_PR: Fields = {
    **_GH_COMMON,
    "draft": "draft",
    "merged_at": "merged_at",
    "base_ref": "base",
    "head_ref": "head",
    "additions": "additions",
    "deletions": "deletions",
    "changed_files": "changed_files",
    "merged_by": "merged_by",
    "commits": "commits",
    "assignees": "assignees",
    "requested_reviewers": "requested_reviewers",
}


GH_ISSUE: Fields = {**_GH_COMMON, "comments_count": "comments"}


GH_REVIEW: Fields = {
    "author": "user",
    "state": "state",
    "submitted_at": "submitted_at",
    "body": "body",
    "commit_sha": "commit_id",
}


def _gh_repo(p: dict[str, Any]) -> str:
    return repository_id(gh.SOURCE, str(obj(p, "repository")["full_name"]))


def _gh_pr(repo_id: str, pr: dict[str, Any]) -> list[Any]:
    rec = gh.pr_rest(repo_id, pr)
    version = version_of(rec.updated_at)
    found = [gh.person(pr.get("user")), gh.person(pr.get("merged_by"))]
    return [carried(rec, pr, GH_PR, version), *people(found, version)]


def github_pull_request(p: dict[str, Any]) -> list[Any]:
    return _gh_pr(_gh_repo(p), obj(p, "pull_request"))


def github_review(p: dict[str, Any]) -> list[Any]:
    repo_id, pr = _gh_repo(p), obj(p, "pull_request")
    raw = dict(obj(p, "review"))
    raw["state"] = str(raw.get("state") or "commented").upper()  # webhooks send lower case
    rec = gh.review(repo_id, int(pr["number"]), raw)
    version = version_of(rec.submitted_at, gh.ts(pr.get("updated_at")))
    found = people([gh.person(raw.get("user"))], version)
    return [*_gh_pr(repo_id, pr), carried(rec, raw, GH_REVIEW, version), *found]


def github_review_comment(p: dict[str, Any]) -> list[Any]:
    repo_id, pr, raw = _gh_repo(p), obj(p, "pull_request"), obj(p, "comment")
    rec = gh.comment(repo_id, int(pr["number"]), raw, "review")
    if p.get("action") == "deleted":
        return [*_gh_pr(repo_id, pr), tombstone(rec)]
    version = version_of(rec.updated_at, rec.created_at)
    cols = carried(rec, raw, {**COMMENT, "path": "path", "line": "line"}, version, "kind")
    return [*_gh_pr(repo_id, pr), cols, *people([gh.person(raw.get("user"))], version)]


def _gh_issue(repo_id: str, raw: dict[str, Any], deleted: bool = False) -> list[Any]:
    rec = gh.issue(repo_id, raw)
    version = version_of(rec.updated_at)
    extra: tuple[str, ...] = ()
    if deleted:
        rec.deleted_at, extra, version = datetime.now(UTC), ("deleted_at",), now_version()
    found = people([gh.person(raw.get("user"))], version)
    return [carried(rec, raw, GH_ISSUE, version, *extra), *found]


def github_issue(p: dict[str, Any]) -> list[Any]:
    raw = obj(p, "issue")
    if "pull_request" in raw:  # a pull request seen as an issue: its own events carry it
        return []
    return _gh_issue(_gh_repo(p), raw, deleted=p.get("action") == "deleted")


def github_issue_comment(p: dict[str, Any]) -> list[Any]:
    repo_id, issue, raw = _gh_repo(p), obj(p, "issue"), obj(p, "comment")
    number = int(issue["number"])
    on_pr = "pull_request" in issue
    head = [] if on_pr else _gh_issue(repo_id, issue)
    rec: Any = (
        gh.comment(repo_id, number, raw, "conversation")
        if on_pr
        else gh.issue_comment(repo_id, number, raw)
    )
    deleted = p.get("action") == "deleted"
    return conversation(head, rec, raw, gh.person(raw.get("user")), deleted=deleted)


def github_push(p: dict[str, Any]) -> list[Any]:
    return hub_push(_gh_repo(p), p)


# A workflow run's webhook object is the REST object the collector reads: every column.
GH_RUN: Fields = {
    c: c for c in ("name", "status", "conclusion", "created_at", "updated_at", "head_sha", "event")
} | {"head_branch": "head_branch", "started_at": "run_started_at", "completed_at": "status"}


def github_workflow_run(p: dict[str, Any]) -> list[Any]:
    """A GitHub Actions run (requested / in_progress / completed) as the ``ci_runs`` row a
    collection would write."""
    run = obj(p, "workflow_run")
    rec = gh.ci_run(_gh_repo(p), run)
    return [carried(rec, run, GH_RUN, version_of(rec.updated_at))]


# A deployment's own columns (its status comes from its statuses: ``deployment_status``)
GH_DEPLOYMENT: Fields = {
    "environment": "environment",
    "environment_kind": "environment|production_environment",
    "sha": "sha",
    "ref": "ref",
    "created_at": "created_at",
    "creator": "creator",
    "transient_environment": "transient_environment",
    "production_environment": "production_environment",
    "description": "description",
}


def github_deployment(p: dict[str, Any]) -> list[Any]:
    """A deployment just created (``deployment`` event): in progress until a status decides,
    versioned by its creation time so that any status delivered before it stays."""
    raw = obj(p, "deployment")
    rec = gh.deployment(_gh_repo(p), raw, [])
    version = version_of(rec.created_at)
    found = people([gh.person(raw.get("creator"))], version)
    return [carried(rec, raw, GH_DEPLOYMENT, version, "source", "status"), *found]


def github_deployment_status(p: dict[str, Any]) -> list[Any]:
    """One new status of a deployment (``deployment_status`` event), decided the way a
    collection decides from all of them (``_map.deployment``): versioned by the status's time,
    so the latest status delivered wins whatever the order of delivery. ``inactive`` decides
    nothing: it only keeps the deployment's own columns."""
    raw, status = obj(p, "deployment"), obj(p, "deployment_status")
    if not isinstance(status.get("state"), str) or gh.ts(status.get("created_at")) is None:
        raise ValueError("deployment_status without state or created_at")
    repo_id = _gh_repo(p)
    if status["state"] == "inactive":
        return github_deployment({**p, "deployment": raw})[:1]
    rec = gh.deployment(repo_id, raw, [status])
    version = version_of(gh.ts(status.get("created_at")))
    cols = ("source", "status", "finished_at", "url")
    found = people([gh.person(raw.get("creator"))], version)
    return [carried(rec, raw, GH_DEPLOYMENT, version, *cols), *found]


def github_release(p: dict[str, Any]) -> list[Any]:
    """A published release as its deployment (``sources/_release.release_event``)."""
    return release_event(_gh_repo(p), p, gh.person)


SECRET = "FORGELENS_GITHUB_WEBHOOK_SECRET"  # noqa: S105 (the setting's name)


def verify(headers: Headers, body: bytes, secrets: Secrets) -> None:
    check_hub_signature("github", "X-Hub-Signature-256", SECRET, secrets.get(SECRET), headers, body)


def read(headers: Headers, body: bytes, payload: dict[str, Any]) -> Parsed:
    spec = repo_spec("github", at(payload, "repository").get("full_name"))
    return Parsed(headers.get("x-github-event", ""), headers.get("x-github-delivery", ""), spec)


def web_url(payload: dict[str, Any]) -> str | None:
    url = at(payload, "repository").get("html_url")
    return url if isinstance(url, str) else None


WEBHOOKS = Webhooks(
    route="github",
    verify=verify,
    read=read,
    web_url=web_url,
    event_header="x-github-event",
    secrets=(SECRET,),
    sync_events=(
        "push",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_review_thread",
        "issues",
        "issue_comment",
        "release",  # the payload names the tag, not its commit: the sync resolves it
    ),
    mappers={
        "pull_request": github_pull_request,
        "pull_request_review": github_review,
        "pull_request_review_comment": github_review_comment,
        "issues": github_issue,
        "issue_comment": github_issue_comment,
        "push": github_push,
        "workflow_run": github_workflow_run,
        "deployment": github_deployment,
        "deployment_status": github_deployment_status,
        "release": github_release,
    },
)
