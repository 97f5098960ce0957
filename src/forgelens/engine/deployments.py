"""Deployments and incidents that need no forge API: the git tag rule, the CI-run rule and the
push API (``POST /api/v1/deployments`` / ``/api/v1/incidents``, ``forgelens deployments
record``). Each writes rows of ``deployments`` / ``incidents``; ``analyze dora`` turns them into
DORA (duplicates of one deployment from several sources are resolved there, by environment, sha
and time window).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forgelens.errors import BadInput
from forgelens.records import environment_kind
from forgelens.sources import git
from forgelens.sources.git.tags import tags
from forgelens.store import Store

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
# Every status a source may give, and what it means here.
STATUSES: dict[str, str] = {
    "success": "success",
    "succeeded": "success",
    "successful": "success",
    "completed": "success",
    "failure": "failure",
    "failed": "failure",
    "error": "failure",
    "in_progress": "in_progress",
    "running": "in_progress",
    "pending": "in_progress",
    "queued": "in_progress",
    "created": "in_progress",
    "canceled": "canceled",
    "cancelled": "canceled",
    "skipped": "canceled",
    "blocked": "canceled",
}


def normalize_status(status: str) -> str:
    value = STATUSES.get(status.strip().lower())
    if value is None:
        raise BadInput(
            f"deployment status {status!r} is not known: use one of {', '.join(sorted(STATUSES))}"
        )
    return value


def resolve_repository(store: Store, text: str) -> str:
    """A repository id (``github:owner/repo``) or a unique full name -> the id tables use."""
    text = text.strip()
    rows = store.query(
        "SELECT id FROM repositories WHERE id = ? OR full_name = ? ORDER BY id", [text, text]
    )
    ids = sorted({str(r[0]) for r in rows})
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise BadInput(
            f"no repository {text!r} in the store: collect it first (forgelens collect ...) or "
            "name it as its id, e.g. github:owner/repo"
        )
    raise BadInput(f"{text!r} names several repositories ({', '.join(ids)}): give the id")


def _when(value: Any, what: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(f"{what} {value!r} is not a time: write 2026-01-31T12:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DeploymentIn:
    """One deployment a CD system reports (the push API and ``deployments record``)."""

    repository: str
    sha: str
    environment: str = "production"
    status: str = "success"
    started_at: datetime | str | None = None
    finished_at: datetime | str | None = None
    id: str | None = None  # the caller's id: the same id again updates, never duplicates
    ref: str | None = None
    creator: str | None = None
    url: str | None = None
    production: bool | None = None


def deployment_row(store: Store, d: DeploymentIn, source: str = "api") -> dict[str, Any]:
    repo = resolve_repository(store, d.repository)
    sha = d.sha.strip().lower()
    if not _SHA.match(sha):
        raise BadInput(f"sha {d.sha!r} is not a commit id: give the full hex sha deployed")
    env = d.environment.strip()
    if not env or len(env) > 200:
        raise BadInput("environment: give its name (production, staging, ...), 1-200 characters")
    status = normalize_status(d.status)
    started = _when(d.started_at, "started_at")
    finished = _when(d.finished_at, "finished_at")
    if status in ("success", "failure") and finished is None:
        finished = started or datetime.now(UTC)
    started = started or finished or datetime.now(UTC)
    if finished is not None and finished < started:
        raise BadInput("finished_at is before started_at: check the two times")
    dep_id = d.id.strip() if d.id else f"{env}:{sha}:{started.isoformat()}"
    return {
        "repository_id": repo,
        "deployment_id": f"{source}:{dep_id}",
        "environment": env,
        "environment_kind": environment_kind(env, d.production),
        "sha": sha,
        "ref": d.ref,
        "status": status,
        "created_at": started,
        "finished_at": finished,
        "source": source,
        "creator": d.creator,
        "production_environment": d.production,
        "url": d.url,
    }


def record_deployments(
    store: Store, items: Sequence[DeploymentIn], source: str = "api"
) -> list[str]:
    """Validate and write deployments; return their ids (``api:<id>``)."""
    rows = [deployment_row(store, d, source) for d in items]
    if rows:
        store.upsert("deployments", rows, source=source)
    return [r["deployment_id"] for r in rows]


@dataclass(frozen=True)
class IncidentIn:
    repository: str
    id: str
    created_at: datetime | str
    resolved_at: datetime | str | None = None
    title: str | None = None
    service: str | None = None
    sha: str | None = None
    deployment_id: str | None = None
    url: str | None = None


def record_incidents(store: Store, items: Sequence[IncidentIn]) -> list[str]:
    """Validate and write incidents (PagerDuty / Opsgenie style); return their ids."""
    rows: list[dict[str, Any]] = []
    for i in items:
        created = _when(i.created_at, "created_at")
        if created is None:
            raise BadInput("created_at: give the time the incident started")
        resolved = _when(i.resolved_at, "resolved_at")
        if resolved is not None and resolved < created:
            raise BadInput("resolved_at is before created_at: check the two times")
        if not i.id.strip():
            raise BadInput("id: give the incident's id in your incident tool")
        sha = i.sha.strip().lower() if i.sha else None
        if sha and not _SHA.match(sha):
            raise BadInput(f"sha {i.sha!r} is not a commit id")
        rows.append(
            {
                "repository_id": resolve_repository(store, i.repository),
                "incident_id": f"api:{i.id.strip()}",
                "title": i.title,
                "source": "api",
                "service": i.service,
                "created_at": created,
                "resolved_at": resolved,
                "sha": sha,
                "deployment_id": i.deployment_id,
                "url": i.url,
            }
        )
    if rows:
        store.upsert("incidents", rows, source="api")
    return [r["incident_id"] for r in rows]


def tag_deployments(
    store: Store, repo: git.GitRepo, pattern: str, environment: str = "production"
) -> int:
    """The git tag rule: each tag matching ``pattern`` is a successful deployment of its commit
    to ``environment`` at the tag's time (tagger date of an annotated tag, else the commit's
    committer date)."""
    rows: list[dict[str, Any]] = [
        {
            "repository_id": repo.id,
            "deployment_id": f"tag:{t.name}",
            "environment": environment,
            "environment_kind": environment_kind(environment),
            "sha": t.sha,
            "ref": f"refs/tags/{t.name}",
            "status": "success",
            "created_at": t.at,
            "finished_at": t.at,
            "source": "tag",
            "creator": t.tagger,
            "description": "annotated tag" if t.annotated else "lightweight tag",
        }
        for t in tags(repo, pattern)
    ]
    if rows:
        store.upsert("deployments", rows, source="tag")
    return len(rows)


@dataclass(frozen=True)
class CiRule:
    """The CI-run rule: runs whose name matches ``name`` on ``branch`` are deployments."""

    name: str  # regex over ci_runs.name (the deploy job or workflow itself)
    branch: str | None = "main"
    environment: str = "production"


def ci_deployments(store: Store, repository_id: str, rule: CiRule) -> int:
    """Deployments from concluded CI runs that match ``rule`` (only runs that concluded: one
    still running, skipped or cancelled is no deployment)."""
    try:
        name_re = re.compile(rule.name)
    except re.error as exc:
        raise BadInput(f"CI deploy rule {rule.name!r} is not a regex: {exc}") from exc
    rows: list[dict[str, Any]] = []
    for run_id, name, conclusion, sha, branch, created, started, completed, url in store.query(
        "SELECT run_id, name, conclusion, head_sha, head_branch, created_at, started_at, "
        "completed_at, url FROM ci_runs WHERE repository_id = ? AND conclusion IS NOT NULL",
        [repository_id],
    ):
        if not sha or not name_re.search(name or ""):
            continue
        if rule.branch is not None and branch != rule.branch:
            continue
        status = STATUSES.get(str(conclusion).lower())
        if status not in ("success", "failure"):
            continue
        rows.append(
            {
                "repository_id": repository_id,
                "deployment_id": f"ci:{run_id}",
                "environment": rule.environment,
                "environment_kind": environment_kind(rule.environment),
                "sha": sha,
                "ref": branch,
                "status": status,
                "created_at": started or created,
                "finished_at": completed or started or created,
                "source": "ci",
                "description": name,
                "url": url,
            }
        )
    if rows:
        store.upsert("deployments", rows, source="ci")
    return len(rows)
