"""``forgelens demo``: the main job on the embedded default store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from forgelens.cli._common import DbOption, RichProgress, console, print_rows, store_for
from forgelens.config import get_settings
from forgelens.engine.demo import run_demo
from forgelens.engine.git_collect import GitCollectOptions


def demo(
    repo: Annotated[
        Path | None, typer.Option(help="Git repository to collect (default: this checkout).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Collect this repository's history (and a simulated forge), analyse it, print a summary.

    Example: forgelens demo --db duckdb:///demo.duckdb
    """
    settings = get_settings()
    store = store_for(db)
    progress = RichProgress("commits")
    opts = GitCollectOptions.from_settings(settings, jobs=os.cpu_count() or 1)
    try:
        summary = run_demo(store, opts, progress, repo)
    finally:
        progress.close()
        store.close()
    print_rows([{"what": k, "value": v} for k, v in summary.lines], title="forgelens demo")
    console.print(f'store: {store.url}  (try: forgelens query "SELECT * FROM commits LIMIT 5")')
