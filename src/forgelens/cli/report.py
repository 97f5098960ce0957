"""``forgelens report --html out.html``: the dashboards in one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgelens.cli._common import DbOption, store_for
from forgelens.errors import BadInput

WINDOWS = (7, 14, 30, 90)


def report_cmd(
    html: Annotated[Path, typer.Option("--html", help="Write the report to this HTML file.")],
    repo: Annotated[
        list[str] | None,
        typer.Option("--repo", help="A repository (owner/name) to report on; repeat for more."),
    ] = None,
    window: Annotated[int, typer.Option(help="Window / period in days: 7, 14, 30 or 90.")] = 30,
    db: DbOption = None,
) -> None:
    """Write Engineering Lens, What Shipped, delivery, runs and pipeline runs as one HTML file
    (charts, styles and data inlined: open it anywhere, no server or network needed).

    Example: forgelens report --html report.html --repo acme/api --window 30
    """
    from forgelens.service.dashboards.report import build_report

    if window not in WINDOWS:
        raise BadInput(f"--window must be one of 7, 14, 30, 90 (got {window})")
    store = store_for(db, read_only=True)
    try:
        text = build_report(store, repos=repo or [], window=window)
    finally:
        store.close()
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {html} ({len(text.encode()) // 1024} KiB)")
