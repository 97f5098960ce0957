"""One migration loop for every store: a migration registered after a store was created is
applied once and recorded; one that fails is not recorded (and, where the engine has
transactions, leaves nothing behind), so fixing it and migrating again applies it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forgelens.errors import StoreError
from forgelens.store import Store
from forgelens.store.schema import MIGRATIONS, MigrationTarget, TableSpec, migration

NAME = "9999_test_late_table"
LATE = TableSpec("fl_test_late", (("k", "text"), ("v", "bigint")), ("k",))


@pytest.fixture
def late_migration() -> Iterator[list[bool]]:
    """Registers ``NAME`` (creates ``LATE`` and fails while the list holds True); unregistered
    after the test."""
    fail = [False]

    @migration(NAME)
    def _late(db: MigrationTarget) -> None:
        db.create_table(LATE)
        if fail[0]:
            db.execute("SELECT * FROM fl_no_such_table")

    yield fail
    MIGRATIONS[:] = [m for m in MIGRATIONS if m[0] != NAME]


def _has_late_table(store: Store) -> bool:
    try:
        store.query("SELECT k FROM fl_test_late")
    except StoreError:
        return False
    return True


def test_a_new_migration_is_applied_once_and_recorded(
    every_store: Store, late_migration: list[bool]
) -> None:
    assert NAME not in every_store.applied_migrations()
    assert every_store.migrate() == [NAME]
    assert every_store.migrate() == []
    assert every_store.applied_migrations() == sorted(n for n, _ in MIGRATIONS)
    assert every_store.query("SELECT count(*) FROM schema_migrations WHERE name = ?", [NAME]) == [
        (1,)
    ]
    assert _has_late_table(every_store)


def test_a_failed_migration_is_not_recorded_and_runs_again(
    every_store: Store, late_migration: list[bool]
) -> None:
    late_migration[0] = True
    with pytest.raises(StoreError):
        every_store.migrate()
    assert NAME not in every_store.applied_migrations()
    if every_store.capabilities.transactions:
        assert not _has_late_table(every_store)  # rolled back with the failed statement
    late_migration[0] = False
    assert every_store.migrate() == [NAME]
    assert _has_late_table(every_store)
