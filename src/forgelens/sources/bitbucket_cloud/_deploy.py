"""Bitbucket Cloud deployments (Pipelines deployment environments) -> ``Deployment`` records.

``GET /repositories/{ws}/{repo}/deployments/`` names each deployment's environment by UUID
only: ``/environments/`` gives its name and type (Production, Staging, Test -> the kinds
production, staging, other). A deployment's ``state`` is ``COMPLETED`` with a ``status``
(SUCCESSFUL -> success, FAILED -> failure, STOPPED -> canceled), ``IN_PROGRESS`` ->
in_progress, or ``UNDEPLOYED``: a deployment step that has not run (a manual step nobody
started). That one is no deployment and is not kept -- counting a pipeline whose deploy step
never ran is a known fault of DORA tools (devlake#7005). The release names the commit and the
pipeline (its page is the URL); there is no ref (branch) on a Bitbucket deployment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forgelens.records import Deployment, environment_kind
from forgelens.sources._bitbucket_map import CLOUD, cloud_login
from forgelens.sources._forge_common import ts
from forgelens.sources.webhook import at

COMPLETED = {"SUCCESSFUL": "success", "FAILED": "failure", "STOPPED": "canceled"}
KINDS = {"production": "production", "staging": "staging", "test": "other"}


class UnknownState(ValueError):
    """A state or status Bitbucket sends that forgelens does not know (skipped, counted)."""


class NotDeployed(Exception):
    """An ``UNDEPLOYED`` deployment: its step has not run; nothing to keep."""


def environment(e: dict[str, Any]) -> tuple[str, str] | None:
    """An environment of ``/environments/`` -> (name, kind); None without a name."""
    name = e.get("name")
    if not isinstance(name, str) or not name:
        return None
    typ = at(e, "environment_type")
    label = str(typ.get("name") or "").strip().lower()
    return name, KINDS[label] if label in KINDS else environment_kind(name)


def _name(obj: Any, key: str) -> str:
    inner = obj.get(key) if isinstance(obj, dict) else None
    return str(inner.get("name") or "") if isinstance(inner, dict) else ""


def status_of(d: dict[str, Any]) -> str:
    state = _name(d, "state")
    if state == "UNDEPLOYED":
        raise NotDeployed
    if state == "IN_PROGRESS":
        return "in_progress"
    status = _name(d.get("state"), "status")
    if state == "COMPLETED" and status in COMPLETED:
        return COMPLETED[status]
    raise UnknownState(
        f"deployment state {state!r} status {status!r} is not one forgelens knows (COMPLETED "
        f"with {', '.join(COMPLETED)}, IN_PROGRESS, UNDEPLOYED): skipped; please report it"
    )


def started(d: dict[str, Any]) -> datetime | None:
    state = at(d, "state")
    release = at(d, "release")
    return ts(state.get("start_date")) or ts(release.get("created_on"))


def changed(d: dict[str, Any]) -> datetime | None:
    """When a deployment last changed: its completion, else its start."""
    state = at(d, "state")
    return ts(d.get("last_update_time")) or ts(state.get("completion_date")) or started(d)


def deployment(repo_id: str, d: dict[str, Any], envs: dict[str, tuple[str, str]]) -> Deployment:
    """One deployment; ``envs``: environment UUID -> (name, kind). Raises ``NotDeployed`` for
    an UNDEPLOYED one, ``UnknownState`` / ``ValueError`` for what cannot be mapped."""
    status = status_of(d)
    uuid = d.get("uuid")
    env_ref = at(d, "environment")
    env = envs.get(str(env_ref.get("uuid")))
    release = at(d, "release")
    commit = at(release, "commit")
    sha, created = commit.get("hash"), started(d)
    if not isinstance(uuid, str) or env is None or not isinstance(sha, str) or created is None:
        raise ValueError("deployment without uuid, known environment, commit or start")
    state = d["state"]
    finished = ts(state.get("completion_date")) if status != "in_progress" else None
    url = state.get("url") or release.get("url")
    return Deployment(
        repository_id=repo_id,
        deployment_id=f"{CLOUD}:{uuid}",
        environment=env[0],
        environment_kind=env[1],
        sha=sha.lower(),
        status=status,
        created_at=created,
        source=CLOUD,
        finished_at=finished,
        creator=cloud_login(state.get("deployer")),
        description=release.get("name") if isinstance(release.get("name"), str) else None,
        url=url if isinstance(url, str) else None,
    )
