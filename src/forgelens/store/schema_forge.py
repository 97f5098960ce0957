"""Tables of the forge area: the conditional-request cache (ETag + body per request), and the
columns forge records gained after their tables were first created.

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0020_...`` (later ones ``0021_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations

from forgelens.store.schema import TABLES, MigrationTarget, TableSpec, migration, register_table

HTTP_CACHE = register_table(
    TableSpec(
        "http_cache",
        (("key", "text"), ("etag", "text"), ("body", "text"), ("updated_at", "ts")),
        ("key",),
    )
)


@migration("0020_http_cache")
def _http_cache(db: MigrationTarget) -> None:
    db.create_table(HTTP_CACHE)


@migration("0022_issue_type")
def _issue_type(db: MigrationTarget) -> None:
    """``issues.issue_type``: GitLab's kind of issue (an ``incident`` is a DORA incident)."""
    from forgelens.store.sql import add_column_sql

    db.execute(add_column_sql(db.dialect, TABLES["issues"], "issue_type"))


@migration("0021_comment_tombstones")
def _comment_tombstones(db: MigrationTarget) -> None:
    """``deleted_at`` on PR and issue comments: a comment deleted on the forge is kept, marked."""
    from forgelens.store.sql import add_column_sql

    for table in ("pr_comments", "issue_comments"):
        db.execute(add_column_sql(db.dialect, TABLES[table], "deleted_at"))


@migration("0022_pr_assignees")
def _pr_assignees(db: MigrationTarget) -> None:
    """``assignees`` and ``requested_reviewers`` on pull requests (the human behind an agent PR)."""
    from forgelens.store.sql import add_column_sql

    for column in ("assignees", "requested_reviewers"):
        db.execute(add_column_sql(db.dialect, TABLES["pull_requests"], column))


@migration("0023_pr_commit_patch_set")
def _pr_commit_patch_set(db: MigrationTarget) -> None:
    """``patch_set`` on PR commits: the number of a Gerrit change's revision (NULL elsewhere)."""
    from forgelens.store.sql import add_column_sql

    db.execute(add_column_sql(db.dialect, TABLES["pr_commits"], "patch_set"))
