"""``forgelens deployments``: record deployments and incidents from scripts and CD jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from forgelens.cli._common import DbOption, console, store_for
from forgelens.engine.deployments import (
    CiRule,
    DeploymentIn,
    IncidentIn,
    ci_deployments,
    record_deployments,
    record_incidents,
    resolve_repository,
)

app = typer.Typer(
    help="Deployments and incidents for DORA (see also POST /api/v1/deployments).",
    no_args_is_help=True,
)


@app.command("record")
def record(
    repository: Annotated[
        str, typer.Option(help="Repository id (github:owner/repo) or full name.")
    ],
    sha: Annotated[str, typer.Option(help="The full commit sha deployed.")],
    environment: Annotated[str, typer.Option(help="Environment name.")] = "production",
    status: Annotated[
        str, typer.Option(help="success, failure, in_progress, canceled.")
    ] = "success",
    started_at: Annotated[str | None, typer.Option(help="ISO time the deployment started.")] = None,
    finished_at: Annotated[
        str | None, typer.Option(help="ISO time it finished (default now).")
    ] = None,
    id: Annotated[
        str | None, typer.Option("--id", help="Your id: recording it again updates it.")
    ] = None,
    ref: Annotated[str | None, typer.Option(help="Branch or tag deployed.")] = None,
    creator: Annotated[str | None, typer.Option(help="Who deployed.")] = None,
    db: DbOption = None,
) -> None:
    """Record one deployment; ``forgelens analyze dora`` links it to the commits it shipped.

    Example: forgelens deployments record --repository github:octo/app --sha 9fceb02... --id 42
    """
    store = store_for(db)
    try:
        ids = record_deployments(
            store,
            [
                DeploymentIn(
                    repository, sha, environment, status, started_at, finished_at, id, ref, creator
                )
            ],
        )
    finally:
        store.close()
    console.print(f"recorded deployment {ids[0]}")


@app.command("incident")
def incident(
    repository: Annotated[
        str, typer.Option(help="Repository id (github:owner/repo) or full name.")
    ],
    id: Annotated[str, typer.Option("--id", help="The incident's id in your incident tool.")],
    created_at: Annotated[str, typer.Option(help="ISO time the incident started.")],
    resolved_at: Annotated[str | None, typer.Option(help="ISO time it was resolved.")] = None,
    title: Annotated[str | None, typer.Option(help="Title.")] = None,
    sha: Annotated[str | None, typer.Option(help="The sha it names, if known.")] = None,
    deployment_id: Annotated[
        str | None, typer.Option(help="The deployment it names, if known.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Record one incident (linked to the deployment it names, else the production deployment
    before it started).

    Example: forgelens deployments incident --repository octo/app --id PD-7 --created-at 2026-03-01
    """
    store = store_for(db)
    try:
        ids = record_incidents(
            store,
            [IncidentIn(repository, id, created_at, resolved_at, title, None, sha, deployment_id)],
        )
    finally:
        store.close()
    console.print(f"recorded incident {ids[0]}")


@app.command("from-ci")
def from_ci(
    repository: Annotated[
        str, typer.Option(help="Repository id (github:owner/repo) or full name.")
    ],
    name: Annotated[str, typer.Option(help="Regex over the CI run / job name, e.g. '^deploy'.")],
    branch: Annotated[
        str | None, typer.Option(help="Only runs on this branch (default main; '' for any).")
    ] = "main",
    environment: Annotated[str, typer.Option(help="Environment they deploy to.")] = "production",
    db: DbOption = None,
) -> None:
    """The CI-run rule: concluded runs of the deploy job itself (name regex, branch) become
    deployments ``ci:<run_id>``; runs still going, skipped or cancelled do not.

    Example: forgelens deployments from-ci --repository github:octo/app --name '^deploy-prod$'
    """
    store = store_for(db)
    try:
        rid = resolve_repository(store, repository)
        n = ci_deployments(store, rid, CiRule(name, branch or None, environment))
    finally:
        store.close()
    console.print(f"{n} deployments from CI runs of {rid}")
