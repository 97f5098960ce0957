"""Shared fixtures. Markers: ``integration`` (needs PostgreSQL/Redis), ``slow``.

With ``CI=true`` a missing service is a failure, not a skip.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from forgelens.store import Store, open_store

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(name: str, reason: str) -> None:
    """Skip (locally) or fail (in CI) when a service a test needs is not reachable."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """``cli.main`` binds structlog to the test's captured stderr, closed after the test."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"duckdb:///{tmp_path / 'test.duckdb'}")
    yield s
    s.close()


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ann Author",
        "GIT_AUTHOR_EMAIL": "ann@example.com",
        "GIT_COMMITTER_NAME": "Ann Author",
        "GIT_COMMITTER_EMAIL": "ann@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        **(env or {}),
    }
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, env=full_env, check=True)
    return done.stdout.decode()


def one_commit_repo(path: Path) -> Path:
    """A git repository at ``path`` (created) with one commit on ``main``."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "commit.gpgsign", "false")
    (path / "a.txt").write_text("hello\n")
    git(path, "add", "a.txt")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.fixture
def make_repo(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build a small git repository: ``make_repo("name")`` returns its path."""

    def build(name: str = "repo") -> Path:
        path = tmp_path / name
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        git(path, "config", "commit.gpgsign", "false")
        return path

    return build


PG_BASE_URL = os.environ.get("FORGELENS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'forgelens[postgres]')"
    try:
        psycopg.connect(PG_BASE_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"{PG_BASE_URL}: {str(exc).strip().splitlines()[0]}"
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL in a fresh schema of its own, dropped after the test."""
    problem = _pg_reachable()
    if problem:
        require_service("PostgreSQL", problem)
    import uuid

    import psycopg

    schema = f"fl_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield f"{PG_BASE_URL}{'&' if '?' in PG_BASE_URL else '?'}schema={schema}"
    with psycopg.connect(PG_BASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def chdb_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated embedded ClickHouse (chDB) store; needs the ``[clickhouse]`` extra."""
    try:
        import chdb  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("chdb is required in CI: pip install -e '.[clickhouse]'")
        pytest.skip("chdb not installed: pip install -e '.[clickhouse]'")
    s = open_store(f"chdb:///{tmp_path / 'chdb'}")
    yield s
    s.close()


@pytest.fixture
def kafka_cluster() -> Iterator[object]:
    """A fresh librdkafka mock cluster (``tests/sinks/mock_cluster.py``)."""
    pytest.importorskip("confluent_kafka")
    from tests.sinks.mock_cluster import MockCluster

    cluster = MockCluster()
    yield cluster
    cluster.down()


def _fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh DuckDB file, or a PostgreSQL schema of its own (``pg_url``)."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'any.duckdb'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["duckdb", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The test runs once on a fresh DuckDB file and once on a fresh PostgreSQL schema."""
    s = open_store(_fresh_url(request, tmp_path))
    yield s
    s.close()


@pytest.fixture(params=["duckdb", "postgres", "chdb"])
def every_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """``any_store``, and once more on embedded ClickHouse (chDB): for SQL every backend
    must run."""
    if request.param == "chdb":
        yield request.getfixturevalue("chdb_store")
        return
    s = open_store(_fresh_url(request, tmp_path))
    yield s
    s.close()
