"""Property tests: on generated histories (branches, merges, interleaved release lines,
backports, re-deploys of old shas, duplicates from two sources, failed and in-progress
statuses, incidents before the first deployment, reverts, hotfixes) ``analyze dora`` agrees with
the plain-Python reference in tests/analytics/dora_reference.py, also after an incremental run."""

from __future__ import annotations

import hashlib
import json
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store, open_store
from tests.analytics import dora_reference as ref

T0 = datetime(2026, 1, 5, tzinfo=UTC)
REPO = R.repository_id("github", "o/app")
SOURCES = ["github", "api", "ci", "tag"]
_GENERATED = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
TEAMS = {"core": ["ann", "Bob"], "web": ["cy"], "idle": ["dee"]}  # team_members on github


def _sha(i: int | str) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()


def history(seed: int, n_commits: int, n_deps: int, n_incs: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    commits: dict[str, ref.Commit] = {}
    heads: list[str] = []
    order: list[str] = []
    for i in range(n_commits):
        sha = _sha(f"{seed}-{i}")
        parents: list[str] = []
        if order:
            parents.append(rnd.choice(heads[-3:] or order))
            if len(order) > 2 and rnd.random() < 0.2:  # a merge
                other = rnd.choice(order)
                if other not in parents:
                    parents.append(other)
        at = T0 + timedelta(hours=i * 6 + rnd.randint(-3, 3))
        msg = rnd.choice(["feature", "fix", "chore", "hotfix: urgent", "docs"])
        if order and rnd.random() < 0.15:
            msg = f'Revert "x"\n\nThis reverts commit {rnd.choice(order)}.'
        commits[sha] = ref.Commit(sha, parents, at, msg)
        if parents and parents[0] in heads and rnd.random() < 0.7:
            heads.remove(parents[0])  # the branch moves on
        heads.append(sha)
        order.append(sha)
    deps: list[ref.Dep] = []
    slots = rnd.sample(range(1, 400), n_deps)  # distinct 3-hour slots: distinct deployments
    for k, slot in enumerate(sorted(slots)):
        env = rnd.choice(["production", "production", "staging"])
        sha = rnd.choice(order) if order and rnd.random() > 0.1 else _sha(f"unknown-{k}")
        status = rnd.choice(["success"] * 6 + ["failure", "in_progress"])
        at = T0 + timedelta(hours=3 * slot, minutes=rnd.randint(0, 59))
        d = ref.Dep(f"d{k}", env, env, sha, status, at, rnd.choice(SOURCES))
        deps.append(d)
        if rnd.random() < 0.15:  # the same deployment from a second source
            src = rnd.choice([s for s in SOURCES if s != d.source])
            late = timedelta(minutes=rnd.randint(-25, 25))
            deps.append(ref.Dep(f"d{k}b", env, env, sha, status, at + late, src))
    incs = []
    for j in range(n_incs):
        created = T0 + timedelta(hours=rnd.randint(-48, 1200))
        resolved = created + timedelta(hours=rnd.randint(1, 72)) if rnd.random() < 0.8 else None
        named_dep = rnd.choice(deps).id if deps and rnd.random() < 0.2 else None
        named_sha = rnd.choice(order) if order and rnd.random() < 0.2 else None
        incs.append(ref.Inc(f"api:i{j}", created, resolved, named_sha, named_dep))
    prs = []
    for n in range(1, rnd.randint(0, 6) + 1):
        shas = rnd.sample(order, min(len(order), rnd.randint(1, 3))) if order else []
        merged = T0 + timedelta(hours=rnd.randint(0, 400)) if rnd.random() < 0.8 else None
        head = rnd.choice(["feature/x", "hotfix/y", "fix-z"])
        labels = rnd.choice([[], ["hotfix"], ["bug"]])
        author = rnd.choice(["Ann", "bob", "cy", None])
        prs.append(ref.PullRequest(n, merged, head, labels, shas, author))
    return {"commits": commits, "deps": deps, "incs": incs, "prs": prs}


def _write(store: Store, h: dict[str, Any], deps: list[ref.Dep], incs: list[ref.Inc]) -> None:
    store.write_records([R.Repository(id=REPO, source="github", full_name="o/app", name="app")])
    store.write_records(
        [
            R.Commit(
                REPO,
                c.sha,
                "A",
                "a@x",
                c.at,
                "A",
                "a@x",
                c.at,
                c.message,
                1,
                0,
                1,
                len(c.parents) > 1,
                c.parents,
            )
            for c in h["commits"].values()
        ]
    )
    for pr in h["prs"]:
        store.write_records(
            [
                R.PullRequest(
                    REPO,
                    pr.number,
                    "t",
                    "merged" if pr.merged_at else "open",
                    T0,
                    T0,
                    merged_at=pr.merged_at,
                    head_ref=pr.head_ref,
                    labels=pr.labels,
                    author=pr.author,
                ),
                *(R.PrCommit(REPO, pr.number, s) for s in pr.shas),
            ]
        )
    store.write_records(
        [R.TeamMember("github", "o", t, login) for t, logins in TEAMS.items() for login in logins]
    )
    _write_deployments(store, deps)
    if incs:
        store.upsert(
            "incidents",
            [
                {
                    "repository_id": REPO,
                    "incident_id": i.id,
                    "source": "api",
                    "created_at": i.created,
                    "resolved_at": i.resolved,
                    "sha": i.sha,
                    "deployment_id": i.deployment_id,
                }
                for i in incs
            ],
        )


def _write_deployments(store: Store, deps: list[ref.Dep]) -> None:
    if deps:
        store.upsert(
            "deployments",
            [
                {
                    "repository_id": REPO,
                    "deployment_id": d.id,
                    "environment": d.env,
                    "environment_kind": d.kind,
                    "sha": d.sha,
                    "status": d.status,
                    "created_at": d.at - timedelta(minutes=5),
                    "finished_at": d.at,
                    "source": d.source,
                }
                for d in deps
            ],
        )


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, abs_tol=1e-6)
    return bool(a == b)


def _utc(v: datetime | None) -> datetime | None:
    return None if v is None else (v if v.tzinfo else v.replace(tzinfo=UTC))


def check(store: Store, h: dict[str, Any]) -> None:
    teams = {f"o/{t}": {x.lower() for x in logins} for t, logins in TEAMS.items()}
    want = ref.compute(h["commits"], h["deps"], h["incs"], h["prs"], teams)
    facts = {
        r["deployment_id"]: r
        for r in store.query_dicts("SELECT * FROM dora_deployments WHERE repository_id = ?", [REPO])
    }
    assert set(facts) == {d.id for d in h["deps"]}
    dup = {k for k, r in facts.items() if not r["counted"]}
    assert dup == want.duplicate, (dup, want.duplicate)
    base = {k for k, r in facts.items() if r["baseline"]}
    assert base == want.baseline, (base, want.baseline)
    links: dict[str, set[str]] = {}
    for dep, sha in store.query("SELECT deployment_id, sha FROM deployment_commits"):
        links.setdefault(dep, set()).add(sha)
    assert links == {k: v for k, v in want.shipped.items() if v}, "links"
    got_fail = {k: set(json.loads(r["failure_kinds"])) for k, r in facts.items() if r["failed"]}
    assert got_fail == want.failures, (got_fail, want.failures)
    got_unpl = {
        k: set(json.loads(r["unplanned_kinds"])) for k, r in facts.items() if r["unplanned"]
    }
    assert got_unpl == want.unplanned, (got_unpl, want.unplanned)
    for k in want.failures:
        assert _utc(facts[k]["restored_at"]) == want.restored[k], k
    evid = {(r[0], r[1]) for r in store.query("SELECT deployment_id, kind FROM change_failures")}
    assert evid == {(k, kind) for k, kinds in want.failures.items() for kind in kinds}, evid
    for table, period, expected in (
        ("dora_metrics_weekly", "week_start", want.weekly),
        ("dora_metrics_monthly", "month_start", want.monthly),
        ("dora_metrics_weekly", "week_start", want.team_weekly),
        ("dora_metrics_monthly", "month_start", want.team_monthly),
    ):
        rows = store.query_dicts(f"SELECT * FROM {table}")
        per_team = expected is want.team_weekly or expected is want.team_monthly
        got: dict[Any, dict[str, Any]] = {
            (r["team"], r["environment"], r[period])
            if per_team
            else (r["environment"], r[period]): r
            for r in rows
            if (r["team"] != "*") == per_team
        }
        assert set(got) == set(expected), (table, per_team, set(got) ^ set(expected))
        for key, exp in expected.items():
            for col, value in exp.items():
                assert _close(got[key][col], value), (table, key, col, got[key][col], value)


@settings(_GENERATED, max_examples=25)
@given(
    seed=st.integers(0, 10_000),
    n_commits=st.integers(0, 30),
    n_deps=st.integers(0, 14),
    n_incs=st.integers(0, 4),
    split=st.floats(0, 1),
)
def test_dora_matches_the_reference_full_and_incremental(
    seed: int, n_commits: int, n_deps: int, n_incs: int, split: float
) -> None:
    h = history(seed, n_commits, n_deps, n_incs)
    store = open_store("duckdb:///:memory:")
    try:
        cut = int(len(h["deps"]) * split)
        _write(store, h, h["deps"][:cut], [])
        analyze(store, AnalyzeOptions(target="dora"))
        _write(store, h, h["deps"][cut:], h["incs"])  # new deployments and incidents arrive
        analyze(store, AnalyzeOptions(target="dora"))
        check(store, h)
    finally:
        store.close()


_VOLATILE = {"updated_at", "_version", "_source", "_ingested_at", "id"}


def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every DORA output, row by row (without write times and versions)."""
    out = {}
    for table in (
        "deployment_commits",
        "change_failures",
        "dora_deployments",
        "dora_metrics_weekly",
        "dora_metrics_monthly",
        "incidents",
    ):
        rows = store.query_dicts(f"SELECT * FROM {table}")
        out[table] = sorted(
            (
                tuple(
                    (k, round(v, 9) if isinstance(v, float) else v)
                    for k, v in sorted(r.items())
                    if k not in _VOLATILE
                )
                for r in rows
            ),
            key=repr,
        )
    out["repo_prs"] = sorted(
        store.query("SELECT repo_name, pr_number, deployed_at, deployment_id FROM repo_prs"),
        key=repr,
    )
    return out


@settings(_GENERATED, max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    n_commits=st.integers(1, 30),
    n_deps=st.integers(2, 14),
    n_new=st.integers(1, 4),
    n_incs=st.integers(0, 3),
    restatus=st.booleans(),
    duplicates_late=st.booleans(),
)
def test_incremental_after_new_deployments_equals_a_forced_refresh(
    seed: int,
    n_commits: int,
    n_deps: int,
    n_new: int,
    n_incs: int,
    restatus: bool,
    duplicates_late: bool,
) -> None:
    """New deployments (the latest, or placed among the earlier ones by their time; one of
    two sources of a deployment arriving after the other; an earlier deployment whose status
    changed) recomputed incrementally — only the environments and times they can affect —
    give every row a forced recompute of everything gives. A second production environment
    shares the incidents with the first."""
    h = history(seed, n_commits, n_deps + n_new, n_incs)
    rnd = random.Random(seed)
    second = {d.id.rstrip("b") for d in h["deps"] if d.env == "production" and rnd.random() < 0.4}
    h["deps"] = [
        ref.Dep(d.id, "prod-eu", "production", d.sha, d.status, d.at, d.source)
        if d.id.rstrip("b") in second
        else d
        for d in h["deps"]
    ]
    new = rnd.sample(h["deps"], min(n_new, len(h["deps"]) - 1))
    if duplicates_late:  # the first source of each deployment that has two arrives last
        ids = {d.id for d in h["deps"]}
        new += [d for d in h["deps"] if d.id + "b" in ids and d not in new]
    old = [d for d in h["deps"] if d not in new]
    store = open_store("duckdb:///:memory:")
    try:
        _write(store, h, old, h["incs"])
        analyze(store, AnalyzeOptions(target="dora"))
        later = list(new)
        if restatus and old:
            d = rnd.choice(old)
            later.append(ref.Dep(d.id, d.env, d.kind, d.sha, "failure", d.at, d.source))
        _write_deployments(store, later)  # deployments only: the rest is unchanged
        inc = analyze(store, AnalyzeOptions(target="dora"))
        assert inc.dora["repositories"] == 1
        incremental = _snapshot(store)
        analyze(store, AnalyzeOptions(target="dora", force_refresh=True))
        assert _snapshot(store) == incremental
    finally:
        store.close()


def test_a_later_deployment_from_a_preferred_source_takes_the_links_of_its_duplicate() -> None:
    """The push API reported a deployment; the forge's report of it arrives in a later run,
    10 minutes later by its time: the forge's is kept, and the incremental run moves the
    links to it (the earlier, now duplicate, deployment is before the new one's time)."""
    commits = {}
    parents: list[str] = []
    for i in range(5):
        sha = _sha(f"dup-{i}")
        commits[sha] = ref.Commit(sha, parents, T0 + timedelta(hours=i), "change")
        parents = [sha]
    shas = list(commits)
    h = {"commits": commits, "deps": [], "incs": [], "prs": []}
    at = T0 + timedelta(days=1)
    api = [
        ref.Dep("base", "production", "production", shas[1], "success", at, "api"),
        ref.Dep(
            "api", "production", "production", shas[3], "success", at + timedelta(hours=5), "api"
        ),
    ]
    forge = ref.Dep(
        "forge",
        "production",
        "production",
        shas[3],
        "success",
        at + timedelta(hours=5, minutes=10),
        "github",
    )
    store = open_store("duckdb:///:memory:")
    try:
        _write(store, h, api, [])
        analyze(store, AnalyzeOptions(target="dora"))
        _write_deployments(store, [forge])
        analyze(store, AnalyzeOptions(target="dora"))
        links = sorted(store.query("SELECT deployment_id, sha FROM deployment_commits"))
        assert links == sorted([("forge", shas[2]), ("forge", shas[3])])
        incremental = _snapshot(store)
        analyze(store, AnalyzeOptions(target="dora", force_refresh=True))
        assert _snapshot(store) == incremental
    finally:
        store.close()


def test_incremental_deployments_on_every_store(every_store: Store) -> None:
    """The incremental path (a late duplicate, a new latest deployment, a team) on every
    backend: its rows equal a forced recompute's."""
    h = history(7, 25, 10, 2)
    new = [d for d in h["deps"] if d.id.endswith("b")] + h["deps"][-2:]
    old = [d for d in h["deps"] if d not in new]
    _write(every_store, h, old, h["incs"])
    analyze(every_store, AnalyzeOptions(target="dora"))
    _write_deployments(every_store, new)
    analyze(every_store, AnalyzeOptions(target="dora"))
    incremental = _snapshot(every_store)
    assert incremental["deployment_commits"]
    analyze(every_store, AnalyzeOptions(target="dora", force_refresh=True))
    assert _snapshot(every_store) == incremental
