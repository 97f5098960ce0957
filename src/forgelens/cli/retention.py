"""``forgelens retention apply``: delete or anonymize data older than the policy allows."""

from __future__ import annotations

from typing import Annotated

import typer

from forgelens.cli._common import DbOption, FormatOption, print_rows, store_for
from forgelens.engine.retention import apply_retention, parse_policy

app = typer.Typer(help="Data retention: per-table policies.", no_args_is_help=True)


@app.command("apply")
def apply(
    policy: Annotated[
        str | None,
        typer.Option(
            envvar="FORGELENS_RETENTION",
            help="table=365d (delete rows) or table.column=365d (blank the column), "
            "comma-separated. Default: FORGELENS_RETENTION, else audit_log=730d.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Report what would go; change nothing.")] = False,
    include_aggregates: Annotated[
        bool, typer.Option(help="Also apply to analytics aggregates (kept by default).")
    ] = False,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Apply the retention policy and report what was removed.

    Example: forgelens retention apply --policy "pr_comments.body=365d,audit_log=730d" --dry-run
    """
    rules = parse_policy(policy or "audit_log=730d")
    store = store_for(db)
    try:
        report = apply_retention(
            store, rules, dry_run=dry_run, include_aggregates=include_aggregates
        )
    finally:
        store.close()
    print_rows(report, fmt, "retention (dry run)" if dry_run else "retention applied")
