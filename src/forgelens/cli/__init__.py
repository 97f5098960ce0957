"""The ``forgelens`` command line: thin commands over the engine and analytics.

Each command module registers itself below; a command parses arguments, calls one engine or
analytics function and prints the result. Errors a user can act on are ``ForgelensError``s:
``main`` prints their message on one line and exits with the class's code.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from forgelens import __version__
from forgelens.cli import analyze as _analyze
from forgelens.cli import backfill as _backfill
from forgelens.cli import clickhouse as _clickhouse
from forgelens.cli import collect as _collect
from forgelens.cli import consume as _consume
from forgelens.cli import db as _db
from forgelens.cli import demo as _demo
from forgelens.cli import keys as _keys
from forgelens.cli import pipeline_runs as _pipeline_runs
from forgelens.cli import query as _query
from forgelens.cli import report as _report
from forgelens.cli import retention as _retention
from forgelens.cli import runs as _runs
from forgelens.cli import serve as _serve
from forgelens.cli import sim as _sim
from forgelens.cli import sink as _sink
from forgelens.cli import worker as _worker
from forgelens.cli._common import err_console
from forgelens.config import get_settings
from forgelens.errors import ForgelensError
from forgelens.logs import configure, redact

app = typer.Typer(
    name="forgelens",
    help="Collect engineering data from code forges and git, and turn it into insight.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("collect")(_collect.collect_cmd)
app.command("query")(_query.query)
app.command("demo")(_demo.demo)
app.add_typer(_runs.app, name="runs")
app.add_typer(_db.app, name="db")
app.command("record-pipeline-run")(_pipeline_runs.record_cmd)
app.add_typer(_pipeline_runs.app, name="pipeline-runs")
app.add_typer(_clickhouse.app, name="clickhouse")
app.command("consume")(_consume.consume_cmd)
app.add_typer(_sink.app, name="sink")
app.add_typer(_analyze.app, name="analyze")
app.command("serve")(_serve.serve)
app.command("report")(_report.report_cmd)
app.command("worker")(_worker.worker)
app.add_typer(_keys.app, name="keys")
app.add_typer(_retention.app, name="retention")
app.add_typer(_sim.app, name="sim")
app.add_typer(_backfill.app, name="backfill")
app.command("completeness")(_backfill.completeness_cmd)


@app.command("version")
def version() -> None:
    """Print the forgelens version. Example: forgelens version"""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forgelens`` script."""
    try:
        settings = get_settings()
        # A terminal gets warnings and errors unless LOG_LEVEL asks for more (the summary and
        # the one-line error already say what happened).
        level = settings.log_level if "log_level" in settings.model_fields_set else "WARNING"
        configure(level, json=False)
        app(args=argv, prog_name="forgelens", standalone_mode=True)
    except ForgelensError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(redact(exc.message))}", highlight=False, soft_wrap=True
        )
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script wrapper: exit with ``main``'s code."""
    sys.exit(main())
