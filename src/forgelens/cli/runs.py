"""``forgelens runs``: the collection-run ledger and its monitoring queries."""

from __future__ import annotations

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
from forgelens.engine import run_reports
from forgelens.engine.runs import cleanup_stuck_runs
from forgelens.errors import NotFound

app = typer.Typer(
    help="Inspect and clean up collection runs (git_collection_runs).", no_args_is_help=True
)


@app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    source: Annotated[str | None, typer.Option(help="Only this data_source.")] = None,
    status: Annotated[str | None, typer.Option(help="running, completed or failed.")] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """List recent runs. Example: forgelens runs list --status failed"""
    store = store_for(db, read_only=True)
    print_rows(run_reports.recent_runs(store, limit, source, status), fmt, "collection runs")


@app.command("show")
def show(run_id: str, fmt: FormatOption = "table", db: DbOption = None) -> None:
    """Show one run with its settings. Example: forgelens runs show custom_etl-2026-02-13-120000"""
    store = store_for(db, read_only=True)
    row = run_reports.get_run(store, run_id)
    if row is None:
        raise NotFound(f"no run {run_id!r}: `forgelens runs list` shows the run ids")
    if fmt == "table":
        print_rows([{"field": k, "value": v} for k, v in row.items()], fmt, run_id)
    else:
        print_rows([row], fmt)


@app.command("stats")
def stats(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """Success rate, commits per run, API calls per PR, durations. Example: forgelens runs stats"""
    store = store_for(db, read_only=True)
    print_rows(run_reports.run_stats(store), fmt, "run statistics by data source")


@app.command("cleanup")
def cleanup(
    stuck_after: Annotated[
        str, typer.Option(help="Fail running runs with no progress for this long (e.g. 2h).")
    ] = "2h",
    db: DbOption = None,
) -> None:
    """Mark runs left `running` by a dead process as failed.

    Example: forgelens runs cleanup --stuck-after 2h
    """
    store = store_for(db)
    failed = cleanup_stuck_runs(store, parse_duration(stuck_after))
    console.print(
        f"marked {len(failed)} stuck run(s) failed" + (": " + ", ".join(failed) if failed else "")
    )
