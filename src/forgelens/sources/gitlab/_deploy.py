"""GitLab deployments -> ``Deployment`` records, from the REST API (``/projects/:id/deployments``)
and from a Deployment Hook (docs/metrics.md, DORA "Deployment sources").

A GitLab deployment is one row with one current status (no list of statuses as on GitHub):
``success`` -> success, ``failed`` -> failure, ``canceled`` / ``skipped`` -> canceled,
``created`` / ``running`` / ``blocked`` (waiting for a protected environment's approval) ->
in_progress. The environment's ``tier`` (production, staging, testing, development, other)
says its kind when GitLab sends it; else the name does (``records.environment_kind``). The
deployable is the deploy job itself: its name is the description, its page the URL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from forgelens.records import Deployment, environment_kind
from forgelens.sources._forge_common import ts
from forgelens.sources.gitlab._map import SOURCE, login
from forgelens.sources.webhook import at

STATUSES = {
    "success": "success",
    "failed": "failure",
    "canceled": "canceled",
    "skipped": "canceled",
    "created": "in_progress",
    "running": "in_progress",
    "blocked": "in_progress",
}
TERMINAL = ("success", "failed", "canceled", "skipped")
TIERS = {"production": "production", "staging": "staging"}  # testing, development, other
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_HOOK_TIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) ?(UTC|[+-]\d\d:?\d\d)$")


class UnknownStatus(ValueError):
    """A status GitLab sends that forgelens does not know (the item is skipped and counted)."""


def status_of(value: Any) -> str:
    status = STATUSES.get(str(value))
    if status is None:
        raise UnknownStatus(
            f"deployment status {value!r} is not one forgelens knows "
            f"({', '.join(STATUSES)}): the deployment is skipped; please report it"
        )
    return status


def kind_of(name: str, tier: Any) -> str:
    if isinstance(tier, str) and tier:
        return TIERS.get(tier, "other")
    return environment_kind(name)


def deployment(repo_id: str, d: dict[str, Any]) -> Deployment:
    """One deployment of ``GET /projects/:id/deployments``."""
    env = at(d, "environment")
    name, sha, created = env.get("name"), d.get("sha"), ts(d.get("created_at"))
    if not isinstance(name, str) or not name or not isinstance(sha, str) or created is None:
        raise ValueError("deployment without environment, sha or created_at")
    raw = str(d.get("status"))
    status = status_of(raw)
    job = at(d, "deployable")
    finished = None
    if raw in TERMINAL:  # ``finished_at`` since GitLab 15.x; the job's end or the last update
        finished = ts(d.get("finished_at")) or ts(job.get("finished_at")) or ts(d.get("updated_at"))
    tier = env.get("tier")
    return Deployment(
        repository_id=repo_id,
        deployment_id=f"{SOURCE}:{int(d['id'])}",
        environment=name,
        environment_kind=kind_of(name, tier),
        sha=sha.lower(),
        status=status,
        created_at=created,
        source=SOURCE,
        ref=d.get("ref") if isinstance(d.get("ref"), str) else None,
        finished_at=finished,
        creator=login(d.get("user")) or login(job.get("user")),
        production_environment=tier == "production" if isinstance(tier, str) else None,
        description=job.get("name") if isinstance(job.get("name"), str) else None,
        url=job.get("web_url") if isinstance(job.get("web_url"), str) else None,
    )


def hook_time(value: Any) -> datetime | None:
    """A Deployment Hook's ``status_changed_at`` (``2021-04-28 21:50:00 +0200``) or ISO 8601."""
    if not isinstance(value, str):
        return None
    m = _HOOK_TIME.match(value.strip())
    if m is None:
        return ts(value)
    day, clock, zone = m.groups()
    zone = "+00:00" if zone == "UTC" else zone
    parsed = ts(f"{day}T{clock}{zone}")
    return parsed.astimezone(UTC) if parsed else None


def hook_sha(p: dict[str, Any]) -> str | None:
    """The full sha of a Deployment Hook: the hook carries only ``short_sha`` and the commit's
    page (``.../-/commit/<sha>``); None when neither names a full sha."""
    for value in (p.get("sha"), str(p.get("commit_url") or "").rstrip("/").rsplit("/", 1)[-1]):
        if isinstance(value, str) and _SHA.match(value.lower()):
            return value.lower()
    return None
