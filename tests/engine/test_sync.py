"""Forge sync (engine/sync.py) end to end: simulator on a socket -> DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from forgelens.engine.collect import collect
from forgelens.engine.sync import EntityCursor
from forgelens.store import Store
from forgelens.testing.forge_sim import SimSize
from tests.sources.simhelp import options, running, sim_for

TABLES = (
    "repositories",
    "pull_requests",
    "pr_reviews",
    "pr_comments",
    "pr_files",
    "pr_commits",
    "issues",
    "issue_comments",
    "ci_runs",
    "contributors",
    "branch_protections",
    "teams",
    "team_members",
    "people",
)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries here are about outcomes, not pacing: skip the jittered pauses."""
    monkeypatch.setattr("forgelens.sources.http.backoff_delay", lambda *a, **k: 0.0)
    monkeypatch.setattr("forgelens.sources.github._base.backoff_delay", lambda *a, **k: 0.0)


def counts(store: Store) -> dict[str, int]:
    return {t: store.query(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def run_row(store: Store, run_id: str) -> dict[str, Any]:
    return store.query_dicts("SELECT * FROM git_collection_runs WHERE run_id = ?", [run_id])[0]


def test_full_then_incremental_sync(store: Store) -> None:
    sim = sim_for(SimSize(repos=2, prs_per_repo=15))
    with running(sim) as url:
        first = collect(store, ["github:acme"], options(url))[0]
        row = run_row(store, first.run_id)
        assert row["status"] == "completed"
        assert row["data_source"] == "insight_github"
        assert row["prs_collected"] == 30
        assert row["repos_processed"] == 2
        assert row["api_calls"] == first.api_calls == sim.requests  # exact, from the client
        before = counts(store)
        assert before["pull_requests"] == 30
        assert before["pr_files"] > 0
        assert before["teams"] == 2

        sim.requests = 0
        again = collect(store, ["github:acme/service-0"], options(url))[0]
        assert again.prs == 0
        assert sim.requests <= 3  # an unchanged repository: at most two, + deployments' 304
        assert run_row(store, again.run_id)["api_calls"] == sim.requests

        sim.dataset.touch_pr("acme/service-0", 3, datetime(2026, 6, 1, tzinfo=UTC), "new title")
        third = collect(store, ["github:acme/service-0"], options(url))[0]
        # the touched PR only: the previous newest one's second ended long before the last
        # run began (a recent one is read again: test_sync_cost.py)
        assert third.prs == 1
        title = store.query(
            "SELECT title FROM pull_requests WHERE repository_id = ? AND number = 3",
            ["github:acme/service-0"],
        )
        assert title == [("new title",)]
    assert counts(store) == before


def test_cursor_never_passes_the_run_start(store: Store) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=3))
    future = datetime(2999, 1, 1, tzinfo=UTC)
    sim.dataset.touch_pr("acme/service-0", 1, future)
    with running(sim) as url:
        collect(store, ["github:acme/service-0"], options(url))
    cursor = EntityCursor.loads(store.get_cursor("github:acme/service-0", "pull_requests"))
    assert cursor.since is not None
    assert cursor.since < future


class StopAfter:
    """A progress that presses Ctrl-C after ``n`` pull requests."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def start(self, description: str, total: int | None = None) -> None: ...

    def advance(self, n: int = 1) -> None:
        self.seen += n
        if self.seen >= self.n:
            raise KeyboardInterrupt

    def note(self, text: str) -> None: ...

    def finish(self) -> None: ...


def test_ctrl_c_leaves_run_failed_and_next_run_resumes(store: Store) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=120))
    with running(sim) as url:
        opts = options(url)
        opts.batch_size = 1  # commit after every page
        with pytest.raises(KeyboardInterrupt):
            collect(store, ["github:acme/service-0"], opts, StopAfter(100))
        failed = store.query_dicts("SELECT * FROM git_collection_runs")[0]
        assert failed["status"] == "failed"
        assert failed["api_calls"] > 0
        cursor = EntityCursor.loads(store.get_cursor("github:acme/service-0", "pull_requests"))
        assert cursor.resume  # the next page to fetch
        done_before = store.query("SELECT count(*) FROM pull_requests")[0][0]
        assert 0 < done_before < 120
        assert failed["prs_collected"] == done_before  # what was committed, exactly

        resumed = collect(store, ["github:acme/service-0"], options(url))[0]
        assert resumed.prs == 120 - done_before  # picked up where the last chunk ended
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 120


def rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    cols = [c for c in store.table_spec(table).column_names if c not in ("id",)]
    names = ", ".join(f'"{c}"' for c in cols)
    return sorted(map(repr, store.query(f"SELECT {names} FROM {table}")))  # type: ignore[arg-type]


@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_faults_converge_to_the_rows_of_a_clean_run(tmp_path: Any, api: str) -> None:
    from forgelens.store import open_store
    from forgelens.testing.forge_sim import Faults

    size = SimSize(repos=2, prs_per_repo=10 if api == "graphql" else 4, issues_per_repo=4)
    clean = open_store(f"duckdb:///{tmp_path / 'clean.duckdb'}")
    faulty = open_store(f"duckdb:///{tmp_path / 'faulty.duckdb'}")
    faults = Faults(
        error_rate=0.1,
        truncate_rate=0.1,
        secondary_rate=0.05,
        secondary_retry_after=0.001,
        graphql_error_rate=0.15,
    )
    try:
        with running(sim_for(size)) as url:
            collect(clean, ["github:acme"], options(url, api=api))
        sim = sim_for(size, faults=faults)
        with running(sim) as url:
            for _ in range(3):  # a repository that failed is resumed by the next run
                try:
                    collect(faulty, ["github:acme"], options(url, api=api))
                    break
                except Exception:
                    continue
        assert sim.requests > 0
        for table in TABLES:
            assert rows(faulty, table) == rows(clean, table), table
    finally:
        clean.close()
        faulty.close()


def test_deleted_repository_mid_run_fails_alone(store: Store) -> None:
    sim = sim_for(SimSize(repos=3, prs_per_repo=5))

    def delete_service_1(req: Any) -> None:
        if b'"name":"service-1"' in req.body and b"PullRequests" in req.body:
            sim.dataset.delete("acme/service-1")

    sim.hooks.append(delete_service_1)
    with running(sim) as url:
        result = collect(store, ["github:acme"], options(url))[0]
    assert result.errors == 1
    assert sorted(result.repositories) == ["github:acme/service-0", "github:acme/service-2"]
    row = run_row(store, result.run_id)
    assert row["status"] == "completed"
    assert row["errors"] == 1
    assert row["repos_processed"] == 2


def test_every_repository_missing_fails_the_run_clearly(store: Store) -> None:
    from forgelens.errors import NotFound

    with running(sim_for()) as url, pytest.raises(NotFound) as err:
        collect(store, ["github:acme/nope"], options(url))
    assert str(err.value) == "github:acme/nope: repository not found or the token has no access"
    assert store.query("SELECT status, errors FROM git_collection_runs") == [("failed", 2)]


@pytest.mark.parametrize(("mode", "check"), [("hash", "sha256:"), ("drop", None)])
def test_pii_modes_apply_before_storing(store: Store, mode: str, check: str | None) -> None:
    with running(sim_for(SimSize(repos=1, prs_per_repo=4))) as url:
        collect(store, ["github:acme/service-0"], options(url, pii=mode))
    emails = [r[0] for r in store.query("SELECT author_email FROM pr_commits")]
    names = [r[0] for r in store.query("SELECT author_name FROM pr_commits")]
    assert emails
    if check is None:
        assert set(emails) == {None}
        assert set(names) == {None}
    else:
        assert all(e.startswith(check) and "@" not in e for e in emails)


def test_bad_pii_mode_is_bad_input(store: Store) -> None:
    from forgelens.errors import BadInput

    with running(sim_for()) as url, pytest.raises(BadInput, match="keep, hash or drop"):
        collect(store, ["github:acme/service-0"], options(url, pii="scramble"))


class ListSink:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[Any] = []
        self.flushes = 0
        self.fail = fail

    def publish(self, records: Any, *, source: str) -> None:
        self.records.extend(records)

    def flush(self) -> None:
        if self.fail:
            raise RuntimeError("broker down")
        self.flushes += 1

    def close(self) -> None: ...


def test_sink_gets_every_committed_record_and_a_failing_sink_holds_the_cursor(
    store: Store,
) -> None:
    with running(sim_for(SimSize(repos=1, prs_per_repo=6))) as url:
        broken = options(url)
        broken.sink = ListSink(fail=True)
        with pytest.raises(RuntimeError):
            collect(store, ["github:acme/service-0"], broken)
        assert store.get_cursor("github:acme/service-0", "pull_requests") is None
        assert store.query("SELECT count(*) FROM pull_requests") == [(0,)]

        sink = ListSink()
        opts = options(url)
        opts.sink = sink
        collect(store, ["github:acme/service-0"], opts)
    prs = [r for r in sink.records if type(r).__name__ == "PullRequest"]
    assert len(prs) == 6
    assert sink.flushes >= 1
    assert store.get_cursor("github:acme/service-0", "pull_requests") is not None


def test_persistent_graphql_errors_fail_the_repository_and_a_rerun_completes(
    store: Store,
) -> None:
    from forgelens.errors import ForgeError
    from forgelens.testing.forge_sim import Faults

    faults = Faults(graphql_error_rate=1.0, only_paths=("/graphql",))
    sim = sim_for(SimSize(repos=1, prs_per_repo=5), faults=faults)
    with running(sim) as url:
        with pytest.raises(ForgeError, match="kept returning errors"):
            collect(store, ["github:acme/service-0"], options(url))
        assert store.query("SELECT count(*) FROM pull_requests") == [(0,)]
        faults.graphql_error_rate = 0.0
        again = collect(store, ["github:acme/service-0"], options(url))[0]
    assert again.prs == 5
    statuses = [r[0] for r in store.query("SELECT status FROM git_collection_runs ORDER BY id")]
    assert statuses == ["failed", "completed"]


def test_token_pool_from_a_secret_file(
    store: Store, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forgelens.config import Settings
    from forgelens.sources.github import from_options

    secret = tmp_path / "github_token"
    secret.write_text("tok-a,tok-b\n")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN_FILE", str(secret))
    sim = sim_for(SimSize(repos=1, prs_per_repo=2), tokens={"tok-a", "tok-b"})
    with running(sim) as url, from_options(options(url), settings=Settings()) as source:
        assert [c.label for c in source.client.tokens.credentials] == ["token#1", "token#2"]
        assert source.list_repositories("acme/service-0")
        source.repository(source.list_repositories("acme/service-0")[0])
    assert sim.requests >= 1
