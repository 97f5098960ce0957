"""PostgreSQL-only behaviour: concurrent writers, pooled connections, error translation."""

from __future__ import annotations

import multiprocessing
import random
import threading

import pytest

from forgelens.errors import StoreError, StoreUnavailable
from forgelens.store import open_store, postgres
from forgelens.store.postgres import PostgresStore

WORKERS = 4
KEYS = 400  # each worker writes every key, in its own shuffled order, in overlapping batches


def _rows(worker: int, keys: list[int]) -> list[dict[str, object]]:
    return [
        {
            "repository_id": "git:r",
            "sha": f"{k:05d}",
            "path": f"src/{k % 7}.py",
            "additions": worker,
            "deletions": k,
            "change_type": "modified",
            # the highest version of every key belongs to worker (k % WORKERS)
            "_version": 1000 + (worker - k) % WORKERS,
        }
        for k in keys
    ]


def _write_all(url: str, worker: int) -> None:
    store = open_store(url, migrate=False)
    try:
        keys = list(range(KEYS))
        random.Random(worker).shuffle(keys)
        for start in range(0, KEYS, 50):
            chunk = keys[start : start + 50]
            with store.transaction():  # two tables in one transaction, as collectors do
                store.upsert("commit_files", _rows(worker, chunk))
                store.upsert(
                    "collection_cursors",
                    [{"repository_id": "git:r", "entity": "commits", "cursor": str(worker)}],
                    version=1000 + start,
                )
    finally:
        store.close()


def _assert_exact(url: str) -> None:
    store = open_store(url, migrate=False)
    try:
        rows = store.query("SELECT sha, additions, _version FROM commit_files ORDER BY sha")
    finally:
        store.close()
    assert len(rows) == KEYS  # nothing lost, nothing duplicated
    for sha, additions, version in rows:
        k = int(sha)
        winner = (k + WORKERS - 1) % WORKERS  # (winner - k) % WORKERS == WORKERS - 1
        assert (additions, version) == (winner, 1000 + WORKERS - 1), sha


def test_processes_upserting_overlapping_rows_converge_exactly(pg_url: str) -> None:
    open_store(pg_url).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_all, args=(pg_url, w)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    _assert_exact(pg_url)


@pytest.mark.parametrize("direct_min_rows", [10, 1_000_000], ids=["direct-copy", "merge-only"])
def test_threads_sharing_one_pooled_store_converge_exactly(
    pg_url: str, direct_min_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "DIRECT_MIN_ROWS", direct_min_rows)
    store = open_store(pg_url)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            keys = list(range(KEYS))
            random.Random(worker + 10).shuffle(keys)
            for start in range(0, KEYS, 100):
                store.upsert("commit_files", _rows(worker, keys[start : start + 100]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    store.close()
    assert errors == []
    _assert_exact(pg_url)


def test_concurrent_first_migrations_apply_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            open_store(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    store = open_store(pg_url, migrate=False)
    names = [r[0] for r in store.query("SELECT name FROM schema_migrations")]
    store.close()
    assert len(names) == len(set(names)) > 0


def test_nul_characters_are_dropped_not_fatal(pg_url: str) -> None:
    store = open_store(pg_url)
    store.upsert("commit_files", [{"repository_id": "git:r", "sha": "a", "path": "x\x00y"}])
    assert store.query("SELECT path FROM commit_files") == [("xy",)]
    store.close()


def test_unreachable_server_says_where_and_hides_the_password() -> None:
    with pytest.raises(StoreUnavailable) as err:  # a job queue retries this one later
        PostgresStore("postgresql://bob:s3cret-pw@127.0.0.1:1/test")
    message = str(err.value)
    assert "cannot reach PostgreSQL at 127.0.0.1:1: is it running? check --db" in message
    assert "s3cret-pw" not in message


def test_missing_database_and_unknown_user_are_named(pg_url: str) -> None:
    base = pg_url.split("?")[0].rsplit("/", 1)[0]
    with pytest.raises(StoreError, match=r"database 'no_such_db_fl' does not exist.*createdb") as e:
        PostgresStore(f"{base}/no_such_db_fl")
    assert not isinstance(e.value, StoreUnavailable)  # retrying will not create it
    host = base.split("@", 1)[-1]
    with pytest.raises(StoreError, match="rejected user nobody_fl: check the user and password"):
        PostgresStore(f"postgresql://nobody_fl:pw@{host}/test")


def test_querying_before_migrating_says_to_migrate(pg_url: str) -> None:
    store = open_store(pg_url, migrate=False)
    with pytest.raises(StoreError, match="forgelens db migrate"):
        store.query("SELECT count(*) FROM commits")
    store.close()


def test_bad_schema_name_is_bad_input() -> None:
    from forgelens.errors import BadInput

    with pytest.raises(BadInput, match="schema="):
        PostgresStore("postgresql://postgres@127.0.0.1:5432/test?schema=x;drop")


def test_large_batches_take_the_direct_copy_and_fall_back_on_conflicts(pg_url: str) -> None:
    store = open_store(pg_url)
    n = 3000
    rows = [
        {"repository_id": "git:r", "sha": f"{i:06d}", "path": "p", "additions": 1, "_version": 10}
        for i in range(n)
    ]
    assert store.upsert("commit_files", rows) == n  # all new: direct COPY
    newer = [{**r, "additions": 2, "_version": 20} for r in rows[: n // 2]]
    older = [{**r, "additions": 0, "_version": 5} for r in rows[n // 2 :]]
    twice = [*newer, *older, *newer[:10]]  # existing keys, and keys twice in the batch
    store.upsert("commit_files", twice)
    got = dict(store.query("SELECT additions, count(*) FROM commit_files GROUP BY additions"))
    assert got == {2: n // 2, 1: n - n // 2}  # newer won, older ignored, no duplicates
    with store.transaction():  # a fallback inside a caller's transaction keeps it usable
        store.upsert("commit_files", rows)
        store.set_cursor("git:r", "commits", "c", None)
    assert store.get_cursor("git:r", "commits") == "c"
    assert store.query("SELECT count(*) FROM commit_files") == [(n,)]
    store.close()


def test_read_only_store_refuses_writes_on_the_server(pg_url: str) -> None:
    open_store(pg_url).close()
    store = open_store(pg_url, read_only=True)
    assert store.query("SELECT count(*) FROM commits") == [(0,)]
    with pytest.raises(StoreError, match="read-only transaction"):
        store.query("WITH gone AS (DELETE FROM commits RETURNING 1) SELECT count(*) FROM gone")
    store.close()
