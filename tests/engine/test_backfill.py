"""Progressive backfill (engine/backfill.py) against the simulated forge on a real socket."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forgelens.engine import _backfill_state as st
from forgelens.engine.backfill import backfill
from forgelens.engine.collect import collect
from forgelens.errors import BadInput
from forgelens.store import Store, open_store
from forgelens.testing.forge_sim import Budgets, Faults, SimRequest
from tests.engine.backfillhelp import (
    Clock,
    big_sim,
    chunks,
    options,
    repo_id,
    snapshot,
    sources,
    state,
)
from tests.sources.simhelp import options as collect_options
from tests.sources.simhelp import running


def test_chunks_newest_first_resume_across_invocations_and_match_a_full_sync(
    store: Store, tmp_path: Path
) -> None:
    sim = big_sim(130)
    repo = repo_id(sim)
    with running(sim) as url:
        first = backfill(
            store, options(repository_id=repo, max_chunks=2, chunk_size=20), sources(url)
        )
        assert first.chunks == 2
        assert first.prs == 40
        newest = sorted(sim.dataset.repos[0].prs, key=lambda p: (p.updated_at, p.number))[-40:]
        stored = {r[0] for r in store.query("SELECT number FROM pull_requests")}
        assert stored == {p.number for p in newest}  # newest history first
        s = state(store, repo)
        assert s["status"] == "active"
        assert s["processed_prs"] == 40
        assert s["last_cursor"]
        runs = 1
        while state(store, repo)["status"] != "completed":
            backfill(store, options(repository_id=repo, max_chunks=2, chunk_size=20), sources(url))
            runs += 1
        assert runs == 4  # 130 PRs / (2 x 20) per invocation
        reference = open_store(f"duckdb:///{tmp_path}/ref.duckdb")
        collect(reference, [repo], collect_options(url))
    got = chunks(store, repo)
    assert [c["chunk_number"] for c in got] == list(range(1, 8))
    assert {c["status"] for c in got} == {"completed"}
    assert sum(c["prs_processed"] for c in got) == 130
    assert snapshot(store) == snapshot(reference)  # reviews, comments, files, commits: all there
    ledger = store.query_dicts(
        "SELECT * FROM git_collection_runs WHERE data_source = 'insight_github' ORDER BY run_id"
    )
    assert len(ledger) == 4
    assert {r["status"] for r in ledger} == {"completed"}
    assert sum(r["prs_collected"] for r in ledger) == 130
    assert all(r["api_calls"] > 0 for r in ledger)
    reference.close()


def test_selection_thresholds_and_dry_run_writes_nothing(store: Store) -> None:
    sim = big_sim(120, repos=2)
    with running(sim) as url:
        small = repo_id(sim, 1)
        collect(store, [small], collect_options(url))  # 100% complete: not selected
        store.execute(
            "INSERT INTO repositories (id, source, full_name, name) VALUES (?, ?, ?, ?)",
            [repo_id(sim), "github", sim.dataset.repos[0].full_name, "x"],
        )
        tables = (
            "backfill_state",
            "backfill_chunks",
            "git_collection_runs",
            "repository_completeness",
            "pull_requests",
            "backfill_reports",
        )
        before = {t: store.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables}
        plan = backfill(store, options(dry_run=True, max_chunks=3), sources(url)).plan
        after = {t: store.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables}
        assert after == before
        assert [p["repository_id"] for p in plan] == [repo_id(sim)]
        assert plan[0]["chunks_this_run"] == 3
        assert plan[0]["remaining_prs"] == 120
        assert plan[0]["estimated_api_calls"] >= 3
        # a threshold above the repository size: nothing qualifies
        none = backfill(store, options(settings={"min_prs": 500}), sources(url))
        assert none.chunks == 0
        assert store.query("SELECT count(*) FROM backfill_state")[0][0] == 0
        done = backfill(store, options(max_chunks=50), sources(url))
        assert [r["repository_id"] for r in done.repositories] == [repo_id(sim)]
        assert state(store, repo_id(sim))["status"] == "completed"
        assert store.query("SELECT count(*) FROM backfill_state")[0][0] == 1


def test_unknown_repository_id_is_a_clear_error(store: Store) -> None:
    with pytest.raises(BadInput, match="github:owner/repo"):
        backfill(store, options(repository_id="nonsense"), sources("http://127.0.0.1:9"))


def test_circuit_breaker_pauses_then_resume_continues(store: Store) -> None:
    sim = big_sim(60, faults=Faults(error_rate=1.0, only_paths=("/graphql",)))
    repo = repo_id(sim)
    with running(sim) as url:
        # the repository probe goes through GraphQL too: let the selection through first
        sim.faults.error_rate = 0.0
        backfill(store, options(repository_id=repo, max_chunks=1, chunk_size=10), sources(url))
        sim.faults.error_rate = 1.0
        result = backfill(
            store, options(repository_id=repo, max_chunks=10, report_issues=True), sources(url)
        )
        s = state(store, repo)
        assert s["status"] == "paused"
        assert "3 consecutive errors" in s["pause_reason"]
        assert [c["status"] for c in chunks(store, repo)] == [
            "completed",
            "failed",
            "failed",
            "failed",
        ]
        assert s["chunk_size"] == 5  # shrank after each failure
        assert len(result.summary.critical_errors) == 1
        assert result.summary.critical_errors[0].kind == "circuit_breaker"
        assert len(result.summary.warning_errors) == 2
        stored = store.query(
            "SELECT critical, warnings FROM backfill_reports WHERE run_id = ?", [result.run_id]
        )
        assert stored == [(1, 2)]
        # --report-issues: one forge issue for the critical failure (the POST went through)
        renderer = sim.renderers[0]
        opened = renderer.opened_issues  # type: ignore[attr-defined]
        assert len(opened) == 1
        assert "consecutive errors" in opened[0][2]
        assert result.summary.critical_errors[0].issue_url
        # paused: a later invocation leaves it alone, even with the forge healthy again
        sim.faults.error_rate = 0.0
        assert backfill(store, options(repository_id=repo), sources(url)).chunks == 0
        assert st.resume(store, repo, datetime.now(UTC))["status"] == "active"
        while state(store, repo)["status"] != "completed":
            backfill(store, options(repository_id=repo, chunk_size=10), sources(url))
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 60
    assert state(store, repo)["chunk_size"] == 10  # grew back after clean chunks


def test_rate_limit_pause_and_resume_time_honoured(store: Store) -> None:
    sim = big_sim(80, budgets=Budgets(limit=100_000, limits={"graphql": 40}))
    repo = repo_id(sim)
    clock = Clock()
    with running(sim) as url:
        result = backfill(
            store,
            options(
                repository_id=repo,
                max_chunks=20,
                chunk_size=10,
                clock=clock,
                settings={"rate_limit_floor": 25},
            ),
            sources(url, token="t"),
        )
        s = state(store, repo)
        assert s["status"] == "graphql_rate_limit_low"
        assert "rate limit too low" in s["pause_reason"]
        assert s["resume_at"] > clock.now
        assert 0 < result.prs < 80
        assert s["chunk_size"] < 10  # rate pressure shrank the chunks before the pause
        assert any(w.kind == "rate_limit" for w in result.summary.warning_errors)
        # before the resume time: nothing happens
        again = backfill(store, options(repository_id=repo, clock=clock), sources(url, "t"))
        assert again.chunks == 0
        assert state(store, repo)["status"] == "graphql_rate_limit_low"
        # after it (and the forge's window rolled over): it continues
        for key in list(sim.budgets._state):
            sim.budgets.set(key[0], key[1], 10_000, 3600)
        clock.now = s["resume_at"] + timedelta(seconds=1)
        while state(store, repo)["status"] != "completed":
            backfill(
                store,
                options(
                    repository_id=repo,
                    max_chunks=20,
                    chunk_size=10,
                    clock=clock,
                    settings={"rate_limit_floor": 25},
                ),
                sources(url, "t"),
            )
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 80


def test_stuck_chunk_recovered_before_the_run(store: Store) -> None:
    sim = big_sim(40)
    repo = repo_id(sim)
    with running(sim) as url:
        backfill(store, options(repository_id=repo, max_chunks=1, chunk_size=10), sources(url))
        # another machine claimed chunk 2 and vanished 31 minutes ago
        long_ago = datetime.now(UTC) - timedelta(minutes=31)
        claim = st.claim(store, repo, "elsewhere:1:abc", long_ago, timedelta(minutes=30))
        assert claim is not None
        assert claim.chunk_number == 2
        result = backfill(
            store, options(repository_id=repo, max_chunks=10, chunk_size=10), sources(url)
        )
        assert [(r["chunk_number"], r["reason"]) for r in result.recovered] == [
            (2, "processing for more than 0:30:00")
        ]
    rows = chunks(store, repo)
    assert [r["status"] for r in rows] == [
        "completed",
        "recovered",
        "completed",
        "completed",
        "completed",
    ]
    assert not [r for r in rows if r["status"] == "processing"]
    assert state(store, repo)["status"] == "completed"
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 40


def _hammer(stores: list[Store], repo: str, total: int) -> list[tuple[int, str | None, str]]:
    """Several workers claim/finish chunks of one repository until it is complete."""
    done: list[tuple[int, str | None, str]] = []
    lock = threading.Lock()

    def work(s: Store) -> None:
        me = st.worker_id()
        while True:
            c = st.claim(s, repo, me, datetime.now(UTC), timedelta(minutes=5))
            if c is None:
                current = st.get_state(s, repo)
                if current is None or current["status"] == st.COMPLETED:
                    return
                continue
            position = int(c.cursor or 0)
            nxt = None if position + 1 >= total else str(position + 1)
            with s.transaction():
                assert st.finish_chunk(
                    s,
                    c,
                    me,
                    cursor_end=nxt,
                    prs=1,
                    api_calls=1,
                    run_id=None,
                    next_size=1,
                    now=datetime.now(UTC),
                    outcome=st.MORE if nxt else st.DONE,
                )
            st.release(s, repo, me)
            with lock:
                done.append((c.chunk_number, c.cursor, me))

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return done


def _assert_exclusive(done: list[tuple[int, str | None, str]], total: int) -> None:
    numbers = [n for n, _, _ in done]
    cursors = [c for _, c, _ in done]
    assert sorted(numbers) == list(range(1, total + 1))  # no duplicate, no hole
    assert len(set(cursors)) == total  # every chunk (cursor) processed exactly once


def test_concurrent_claims_on_duckdb_never_share_a_chunk(store: Store) -> None:
    st.create_state(store, "github:a/b", 30, 1, datetime.now(UTC))
    _assert_exclusive(_hammer([store] * 4, "github:a/b", 30), 30)


@pytest.mark.integration
def test_concurrent_claims_on_postgres_never_share_a_chunk(pg_url: str) -> None:
    stores = [open_store(pg_url) for _ in range(4)]  # four connections pools: four "processes"
    try:
        st.create_state(stores[0], "github:a/b", 30, 1, datetime.now(UTC))
        done = _hammer(stores, "github:a/b", 30)
        _assert_exclusive(done, 30)
        assert len({w for _, _, w in done}) > 1  # the work really was shared
        dupes = stores[0].query(
            "SELECT chunk_number, COUNT(*) FROM backfill_chunks GROUP BY chunk_number "
            "HAVING COUNT(*) > 1"
        )
        assert dupes == []  # the seed's duplicate-processing check
    finally:
        for s in stores:
            s.close()


def test_adaptive_size_shrinks_on_graphql_resource_limits_and_grows_back(store: Store) -> None:
    sim = big_sim(120)
    repo = repo_id(sim)
    failing = {"left": 0}

    def resource_limits(req: SimRequest) -> None:
        if req.path == "/graphql" and b'"PullRequests"' in req.body and failing["left"] > 0:
            failing["left"] -= 1
            req.headers["x-sim-graphql-error"] = "1"

    sim.hooks.append(resource_limits)
    with running(sim) as url:
        backfill(store, options(repository_id=repo, max_chunks=1, chunk_size=20), sources(url))
        failing["left"] = 4  # one chunk's worth of retries: GraphQL keeps failing
        backfill(store, options(repository_id=repo, max_chunks=1, chunk_size=20), sources(url))
        shrunk = state(store, repo)["chunk_size"]
        assert shrunk < 20
        backfill(store, options(repository_id=repo, max_chunks=6, chunk_size=20), sources(url))
        assert state(store, repo)["chunk_size"] > shrunk
        while state(store, repo)["status"] != "completed":
            backfill(store, options(repository_id=repo, max_chunks=20, chunk_size=20), sources(url))
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 120


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(error_rate=0.25, seed=5), "completed"),  # 5xx bursts: retried
        (Faults(secondary_rate=0.3, seed=6), "completed"),  # secondary limits: waited out
        (Faults(graphql_error_rate=0.15, seed=8), "completed"),  # partial data: retried
    ],
)
def test_transient_faults_never_leave_gaps(store: Store, faults: Faults, status: str) -> None:
    sim = big_sim(90, faults=faults)
    repo = repo_id(sim)
    with running(sim) as url:
        for _ in range(30):
            backfill(store, options(repository_id=repo, max_chunks=5, chunk_size=15), sources(url))
            s = state(store, repo)
            if s["status"] == "paused":
                st.resume(store, repo, datetime.now(UTC))
            if s["status"] == "completed":
                break
    assert state(store, repo)["status"] == status
    rows = chunks(store, repo)
    assert sum(r["prs_processed"] for r in rows if r["status"] == "completed") == 90
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 90
    assert not [r for r in rows if r["status"] == "processing"]


def test_revoked_token_pauses_with_the_reason(store: Store) -> None:
    sim = big_sim(60, tokens={"good"}, faults=Faults(revoke_after={"good": 4}))
    repo = repo_id(sim)
    with running(sim) as url:
        result = backfill(
            store,
            options(repository_id=repo, max_chunks=10, chunk_size=10),
            sources(url, token="good"),
        )
    s = state(store, repo)
    assert s["status"] == "paused"
    assert "token rejected" in s["pause_reason"]
    assert [e.kind for e in result.summary.critical_errors] == ["auth"]
    assert chunks(store, repo)[-1]["status"] == "failed"
    done = [c for c in chunks(store, repo) if c["status"] == "completed"]
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == sum(
        c["prs_processed"] for c in done
    )


def test_backfill_and_incremental_sync_at_once_converge(store: Store, tmp_path: Path) -> None:
    sim = big_sim(120)
    repo = repo_id(sim)
    with running(sim) as url:
        backfill(store, options(repository_id=repo, max_chunks=1, chunk_size=25), sources(url))
        sync = threading.Thread(target=collect, args=(store, [repo], collect_options(url)))
        sync.start()
        for _ in range(60):  # 120 PRs / 25 per chunk, with room for a catch-up pass
            if state_or_none(store, repo) == "completed":
                break
            backfill(store, options(repository_id=repo, max_chunks=3, chunk_size=25), sources(url))
        else:
            pytest.fail(f"the backfill never completed: {state(store, repo)}")
        sync.join(timeout=60)
        assert not sync.is_alive()
        # the same chunks again (cursor back to the start): nothing duplicated, nothing lost
        store.execute("UPDATE backfill_state SET status = 'active', last_cursor = NULL")
        backfill(store, options(repository_id=repo, max_chunks=2, chunk_size=25), sources(url))
        reference = open_store(f"duckdb:///{tmp_path}/ref.duckdb")
        collect(reference, [repo], collect_options(url))
    assert snapshot(store) == snapshot(reference)
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 120
    reference.close()


def state_or_none(store: Store, repo: str) -> str | None:
    rows = store.query("SELECT status FROM backfill_state WHERE repository_id = ?", [repo])
    return rows[0][0] if rows else None


def test_prs_updated_mid_backfill_are_caught_up_before_completion(store: Store) -> None:
    sim = big_sim(60)
    repo = repo_id(sim)
    with running(sim) as url:
        backfill(store, options(repository_id=repo, max_chunks=2, chunk_size=10), sources(url))
        stored = {r[0] for r in store.query("SELECT number FROM pull_requests")}
        unread = sorted(p.number for p in sim.dataset.repos[0].prs if p.number not in stored)
        # two not-yet-read PRs get updated: they jump ahead of the cursor, out of its reach
        for n in unread[:2]:
            sim.dataset.touch_pr(sim.dataset.repos[0].full_name, n, datetime.now(UTC), "moved")
        while state(store, repo)["status"] != "completed":
            backfill(store, options(repository_id=repo, max_chunks=10, chunk_size=10), sources(url))
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 60
    assert store.query("SELECT count(*) FROM pull_requests WHERE title = 'moved'")[0][0] == 2
    s = state(store, repo)
    assert s["since_at"] is not None  # a catch-up pass ran, reading only what changed
    assert s["total_prs"] == 60
