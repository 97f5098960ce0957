"""``forgelens query``: read-only SQL on the store."""

from __future__ import annotations

from typing import Annotated

import typer

from forgelens.cli._common import DbOption, FormatOption, print_rows, store_for
from forgelens.errors import BadInput

_WRITES = ("insert", "update", "delete", "drop", "create", "alter", "copy", "attach", "truncate")


def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement (SELECT, WITH, SHOW, DESCRIBE).")],
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Run read-only SQL on the store.

    Example: forgelens query "SELECT author_email, count(*) FROM commits GROUP BY 1" -f csv
    """
    first = sql.strip().split(None, 1)[0].lower() if sql.strip() else ""
    if first in _WRITES:
        raise BadInput("forgelens query is read-only: write SELECT (or WITH ... SELECT) statements")
    store = store_for(db, read_only=True)
    try:
        print_rows(store.query_dicts(sql), fmt)
    finally:
        store.close()
