"""``?`` placeholders are found by one scanner for every store: a ``?`` inside a quoted string
or identifier is text, and ClickHouse's backslash escapes and backticks are honoured there."""

from __future__ import annotations

import pytest

from forgelens.errors import StoreError
from forgelens.store._clickhouse_client import bind
from forgelens.store.sql import pg_params


def test_postgres_placeholders_skip_quoted_text_and_double_percent_signs() -> None:
    sql = """SELECT '?', "a?", ? WHERE x LIKE '5%' AND y = ?"""
    assert pg_params(sql) == """SELECT '?', "a?", %s WHERE x LIKE '5%%' AND y = %s"""


def test_postgres_backslash_ends_no_string() -> None:
    assert pg_params("SELECT 'a\\', ?") == "SELECT 'a\\', %s"


def test_clickhouse_binds_literals_outside_escaped_strings_and_backticks() -> None:
    sql = "SELECT 'it\\'s ?', `c?`, ?"
    assert bind(sql, ["o'k"]) == "SELECT 'it\\'s ?', `c?`, 'o\\'k'"


@pytest.mark.parametrize(("sql", "params"), [("SELECT ?, ?", [1]), ("SELECT ?", [1, 2])])
def test_clickhouse_refuses_a_parameter_count_that_does_not_match(
    sql: str, params: list[int]
) -> None:
    with pytest.raises(StoreError, match="more"):
        bind(sql, params)
