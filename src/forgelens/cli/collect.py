"""``forgelens collect``: mine git repositories and forges into the store."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from forgelens.cli._common import DbOption, RichProgress, console, parse_when, print_rows, store_for
from forgelens.cli.sink import kafka_sink_for
from forgelens.config import get_settings
from forgelens.engine.collect import CollectOptions, collect
from forgelens.pipeline_runs.self_record import recorded
from forgelens.sinks.kafka import KafkaSink
from forgelens.sources.spec import parse_spec


def collect_cmd(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="git:PATH, a repository URL, github:OWNER/REPO, ... (several at once)."
        ),
    ],
    since: Annotated[
        str | None, typer.Option(help="Only history after this date (or 30d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only history before this date.")] = None,
    branch: Annotated[
        list[str] | None, typer.Option("--branch", help="Branch to mine (repeatable; default all).")
    ] = None,
    full: Annotated[bool, typer.Option(help="Re-collect everything (still idempotent).")] = False,
    jobs: Annotated[
        int, typer.Option(help="Parallel git processes per repository (default: core count).")
    ] = 0,
    batch_size: Annotated[int, typer.Option(help="Records written per store batch.")] = 5000,
    api_url: Annotated[
        str | None, typer.Option(help="Forge API base URL (Enterprise / self-hosted servers).")
    ] = None,
    sink: Annotated[
        str | None,
        typer.Option(
            help="Also publish every record: kafka (default when KAFKA_BROKERS is set) or none."
        ),
    ] = None,
    api: Annotated[
        str, typer.Option(help="GitHub API: graphql (fewest requests) or rest.")
    ] = "graphql",
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Fail at a rate limit instead of waiting.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option(help="Forge repositories collected at once.", min=1, max=64)
    ] = 4,
    pii: Annotated[
        str, typer.Option(help="Names and emails: keep, hash or drop before storing.")
    ] = "keep",
    ca_bundle: Annotated[
        str | None,
        typer.Option(help="PEM file of CA certificates for a self-hosted forge's TLS."),
    ] = None,
    deploy_tags: Annotated[
        str | None,
        typer.Option(
            "--deploy-tags",
            help="git sources: tags matching this glob (e.g. 'v*') are production deployments.",
        ),
    ] = None,
    release_environment: Annotated[
        str,
        typer.Option(
            "--release-environment",
            help="Forge sources: the environment published releases deploy to (prereleases: "
            "'prerelease').",
        ),
    ] = "production",
    db: DbOption = None,
) -> None:
    """Collect commits with per-file line stats (and forge data) into the store.

    Example: forgelens collect git:. https://github.com/pallets/click.git --since 2024-01-01
    """
    settings = get_settings()
    opts = CollectOptions.from_settings(
        settings,
        since=parse_when(since),
        until=parse_when(until),
        branches=branch or [],
        full=full,
        jobs=jobs or (os.cpu_count() or 1),
        batch_size=batch_size,
        api_url=api_url,
        deploy_tags=deploy_tags,
        extra={
            "api": api,
            "no_wait": no_wait,
            "concurrency": concurrency,
            "pii": pii,
            "ca_bundle": ca_bundle,
            "release_environment": release_environment,
        },
    )
    opts.sink = kafka_sink_for(sink, settings)
    store = store_for(db)
    forge_only = all(parse_spec(s).kind != "git" for s in sources)
    progress = RichProgress("PRs" if forge_only else "commits")
    started = time.monotonic()
    try:
        results = recorded(store, "collect", lambda: collect(store, sources, opts, progress))
    finally:
        progress.close()
        store.close()
        if opts.sink is not None:
            opts.sink.close()
    elapsed = time.monotonic() - started
    print_rows(
        [
            {
                "run_id": r.run_id,
                "repositories": len(r.repositories),
                "commits": r.commits,
                "prs": r.prs,
                "files": r.files,
                "authors": r.authors,
                "api_calls": r.api_calls,
                "errors": r.errors,
            }
            for r in results
        ],
        title=f"collection summary ({elapsed:.2f}s)",
    )
    console.print(f"store: {store.url}")
    if isinstance(opts.sink, KafkaSink):
        console.print(f"kafka: {opts.sink.summary()}")
