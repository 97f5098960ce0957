"""``forgelens backfill``: progressive backfill of big repositories (seed 004), its status and
resume, and ``forgelens completeness``."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from forgelens.cli._common import (
    DbOption,
    FormatOption,
    console,
    parse_duration,
    print_rows,
    store_for,
)
from forgelens.engine._backfill_report import write_json
from forgelens.engine._backfill_state import resume as resume_state
from forgelens.engine.backfill import BackfillOptions, BackfillResult, backfill, utcnow
from forgelens.engine.backfill_status import backfill_status
from forgelens.engine.reconcile import completeness
from forgelens.errors import BadInput
from forgelens.pipeline_runs.self_record import recorded

app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback()
def backfill_cmd(
    ctx: typer.Context,
    repository_id: Annotated[
        str | None, typer.Option(help="Backfill this repository only (e.g. github:owner/repo).")
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(help="PRs per chunk (default 25; adapts downwards).", min=1, max=100),
    ] = None,
    max_chunks: Annotated[
        int | None, typer.Option(help="Chunks per invocation (default 10).", min=1)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be processed and its API cost.")
    ] = False,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the result and error summary as JSON here.")
    ] = None,
    report_issues: Annotated[
        bool, typer.Option("--report-issues", help="Open a forge issue per critical failure.")
    ] = False,
    every: Annotated[
        str | None, typer.Option(help="Run again at this interval (e.g. 30m) until Ctrl-C.")
    ] = None,
    runs: Annotated[int, typer.Option(help="With --every: stop after N runs (0 = never).")] = 0,
    no_sweep: Annotated[
        bool, typer.Option("--no-sweep", help="Skip the reconciliation sweep.")
    ] = False,
    api_url: Annotated[
        str | None, typer.Option(help="Forge API base URL (Enterprise / self-hosted servers).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Backfill the selected repositories by up to --max-chunks chunks, newest history first.

    Example: forgelens backfill --repository-id github:acme/api --chunk-size 25 --max-chunks 10
    """
    if ctx.invoked_subcommand is not None:
        return
    interval = parse_duration(every).total_seconds() if every else None
    if interval is not None and interval <= 0:
        raise BadInput(f"--every {every!r}: give a positive interval such as 30m")
    opts = BackfillOptions(
        repository_id=repository_id,
        chunk_size=chunk_size,
        max_chunks=max_chunks,
        dry_run=dry_run,
        api_url=api_url,
        report_issues=report_issues,
        sweep=not no_sweep,
    )
    done = 0
    critical = False
    while True:
        store = store_for(db)
        try:
            run = partial(backfill, store, opts)
            # a real backfill records its own pipeline run; a dry run writes nothing at all
            result = run() if dry_run else recorded(store, "backfill", run)
        finally:
            store.close()
        critical = _print(result, dry_run)
        if summary_json is not None:
            write_json(summary_json, result.as_dict())
        done += 1
        if interval is None or (runs and done >= runs):
            break
        console.print(f"next run in {every} (Ctrl-C stops)")
        time.sleep(interval)
    if critical:
        raise typer.Exit(1)


def _print(result: BackfillResult, dry_run: bool) -> bool:
    if dry_run:
        print_rows(result.plan, title="backfill plan (dry run: nothing written)")
        calls = sum(p["estimated_api_calls"] for p in result.plan)
        console.print(f"estimated API calls: {calls} (selection used {result.api_calls})")
        return False
    print_rows(result.repositories, title=f"backfill {result.run_id}")
    console.print(
        f"chunks: {result.chunks}  prs: {result.prs}  api calls: {result.api_calls}  "
        f"recovered chunks: {len(result.recovered)}  sweep: {result.sweep or '-'}"
    )
    s = result.summary
    console.print(
        f"errors: {s.total_errors} (critical {len(s.critical_errors)}, "
        f"warnings {len(s.warning_errors)})"
    )
    for label, items in (("critical", s.critical_errors), ("warning", s.warning_errors)):
        for e in items:
            url = f" -> {e.issue_url}" if e.issue_url else ""
            console.print(
                f"  {label}: {e.repository_id or '-'}: {e.message}{url}",
                highlight=False,
                soft_wrap=True,
            )
    return bool(s.critical_errors)


@app.command("status")
def status_cmd(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """Active backfills (progress, ETA), recent failed chunks, paused repositories.

    Example: forgelens backfill status
    """
    store = store_for(db)
    try:
        report = backfill_status(store, utcnow())
    finally:
        store.close()
    for name, rows in report.items():
        print_rows(rows, fmt, title=name.replace("_", " "))


@app.command("resume")
def resume_cmd(
    repository_id: Annotated[str, typer.Argument(help="The repository, e.g. github:owner/repo.")],
    db: DbOption = None,
) -> None:
    """Reactivate a paused backfill (resets its error counter).

    Example: forgelens backfill resume github:acme/api
    """
    store = store_for(db)
    try:
        state = resume_state(store, repository_id, utcnow())
    finally:
        store.close()
    if state is None:
        raise BadInput(
            f"{repository_id}: no backfill for this repository; see `forgelens backfill status`"
        )
    console.print(f"{repository_id}: {state['status']}")


def completeness_cmd(
    repository_id: Annotated[str | None, typer.Option(help="One repository only.")] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """PRs and issues stored vs what the forge reports, open items older than the last sweep,
    and the last full verification, per repository.

    Example: forgelens completeness --format json
    """
    store = store_for(db)
    try:
        rows = completeness(store, repository_id)
    finally:
        store.close()
    print_rows(rows, fmt, title="completeness")
