"""The ``forgelens`` command line: thin commands over the engine and analytics.

Each command module is listed in ``_lazy.COMMANDS`` and imported when its command runs; a
command parses arguments, calls one engine or analytics function and prints the result. Errors
a user can act on are ``ForgelensError``s: ``main`` prints their message on one line and exits
with the class's code.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from forgelens import __version__
from forgelens.cli._common import err_console
from forgelens.cli._lazy import LazyGroup
from forgelens.config import get_settings
from forgelens.errors import ForgelensError
from forgelens.logs import configure, redact

app = typer.Typer(
    name="forgelens",
    help="Collect engineering data from code forges and git, and turn it into insight.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)


@app.callback()
def _root() -> None:
    """Collect engineering data from code forges and git, and turn it into insight."""


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
