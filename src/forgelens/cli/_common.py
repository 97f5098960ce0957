"""What every command shares: the console, --db, durations, dates, output formats."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from forgelens.errors import BadInput
from forgelens.store import Store, open_store

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="FORGELENS_DATABASE_URL",
        help="Store URL: duckdb:///path (default ./forgelens.duckdb), postgresql://..., "
        "clickhouse://..., chdb:///path.",
    ),
]


def store_for(db: str | None, *, read_only: bool = False) -> Store:
    return open_store(db, read_only=read_only)


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1w`` (a bare number is seconds)."""
    match = _DURATION_RE.match(text)
    if not match:
        raise BadInput(f"{text!r} is not a duration: write e.g. 90s, 30m, 2h or 1d")
    n, unit = float(match[1]), match[2] or "s"
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def parse_when(text: str | None) -> datetime | None:
    """An ISO date or date-time (UTC if no zone), or a duration ago (``30d``)."""
    if not text:
        return None
    if _DURATION_RE.match(text) and not text.strip().isdigit():
        return datetime.now(UTC) - parse_duration(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise BadInput(
                f"{text!r} is not a date: write 2026-01-31, 2026-01-31T12:00:00Z or 30d"
            ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def print_rows(
    rows: Sequence[dict[str, Any]], fmt: str = "table", title: str | None = None
) -> None:
    """Print rows as a rich table, CSV or JSON."""
    if fmt == "json":
        sys.stdout.write(json.dumps(list(rows), default=str, indent=2) + "\n")
        return
    columns = list(rows[0].keys()) if rows else []
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
        sys.stdout.write(buf.getvalue())
        return
    if fmt != "table":
        raise BadInput(f"unknown format {fmt!r}: use table, csv or json")
    if not rows:
        console.print("(no rows)")
        return
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    console.print(table)


FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table, csv or json.")
]


class RichProgress:
    """``engine.progress.Progress`` drawn as a rich progress bar with a rate."""

    def __init__(self, unit: str = "items") -> None:
        self.unit = unit
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
            disable=not err_console.is_terminal,
        )
        self._task: TaskID | None = None
        self._started = False

    def start(self, description: str, total: int | None = None) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        self._task = self._progress.add_task(description, total=total, rate="")

    def advance(self, n: int = 1) -> None:
        if self._task is None:
            return
        self._progress.advance(self._task, n)
        speed = self._progress.tasks[self._task].speed
        if speed:
            self._progress.update(self._task, rate=f"{speed:,.0f} {self.unit}/s")

    def note(self, text: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, description=text)

    def finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, total=task.completed)

    def close(self) -> None:
        if self._started:
            self._progress.stop()
