"""Commit ancestry from the forge's compare API for repositories not mined locally
(``engine/deploy_compare.py``): each release after the baseline links exactly the commits of
``git rev-list THIS --not PREVIOUS`` (the simulator's one line of history), an unchanged
repository asks nothing, a new deployment asks one comparison, a sha the forge no longer has is
recorded once, a comparison longer than the forge lists is paged and marked truncated when
cut, and a repository mined locally is never compared."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.engine import deploy_compare
from forgelens.engine.deploy_compare import link_by_compare, pending
from forgelens.errors import ForgeError, NotFound
from forgelens.records import Commit, Deployment
from forgelens.sources.base import Comparison, RepoRef
from forgelens.sources.github import _delivery
from forgelens.store import Store
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
from forgelens.testing.forge_sim.dataset import SimRelease, SimRepo
from tests.sources.forgehelp import source_for
from tests.sources.test_releases import sync

SIZE = SimSize(repos=3, prs_per_repo=30, issues_per_repo=1, runs_per_repo=1, teams=0)
RELEASES_ONLY = "acme/service-2"  # releases, no GitHub Deployments


def repo_of(sim: ForgeSim, name: str) -> SimRepo:
    return next(r for r in sim.dataset.repos if r.full_name == name)


def expected_links(repo: SimRepo) -> dict[str, set[str]]:
    """Per production release after the first, the commits after the previous one up to it."""
    line = [c.sha for c in repo.history()]
    shipped = sorted(
        (r for r in repo.releases if not r.draft and not r.prerelease),
        key=lambda r: (r.published_at or r.created_at, r.id),
    )
    out: dict[str, set[str]] = {}
    for prev, cur in itertools.pairwise(shipped):
        out[f"release:{cur.id}"] = set(line[line.index(prev.sha) + 1 : line.index(cur.sha) + 1])
    return out


def linked(store: Store, repo_id: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for dep_id, sha in store.query(
        "SELECT deployment_id, sha FROM deployment_commits WHERE repository_id = ?", [repo_id]
    ):
        out.setdefault(str(dep_id), set()).add(str(sha))
    return out


@pytest.mark.parametrize("kind", ["github", "gitea"])
def test_releases_link_the_commits_between_them_through_compare(store: Store, kind: str) -> None:
    sim = ForgeSim(generate(1, SIZE))
    repo = repo_of(sim, RELEASES_ONLY)
    with serve(sim) as url:
        result, _ = sync(store, kind, url, RELEASES_ONLY)
    assert result.errors == 0
    repo_id = f"{kind}:{RELEASES_ONLY}"
    assert (
        store.query(
            "SELECT count(*) FROM commits WHERE repository_id = ? AND _source = 'compare' "
            "AND parents IS NOT NULL",
            [repo_id],
        )[0][0]
        > 0
    )
    analyze(store, AnalyzeOptions(target="dora"))
    want = expected_links(repo)
    assert want
    got = linked(store, repo_id)
    for dep_id, shas in want.items():
        assert got.get(dep_id) == shas, dep_id
    first = min(
        (r for r in repo.releases if not r.draft and not r.prerelease),
        key=lambda r: r.published_at or r.created_at,
    )
    assert f"release:{first.id}" not in got  # the baseline links nothing
    lead = store.query(
        "SELECT count(*) FROM deployment_commits WHERE repository_id = ? "
        "AND lead_time_hours IS NOT NULL",
        [repo_id],
    )[0][0]
    assert lead == sum(len(s) for s in want.values())


def test_an_unchanged_repository_asks_nothing_and_a_new_release_one_comparison(
    store: Store,
) -> None:
    sim = ForgeSim(generate(1, SIZE))
    repo = repo_of(sim, RELEASES_ONLY)
    with serve(sim) as url:
        sync(store, "github", url, RELEASES_ONLY)
        first = [p for _m, p, _s in sim.log if "/compare/" in p]
        # the baseline is never compared: one comparison per later production release
        assert len(first) == len(expected_links(repo))
        mark = len(sim.log)
        sync(store, "github", url, RELEASES_ONLY)
        assert not [p for _m, p, _s in sim.log[mark:] if "/compare/" in p]
        newest = max(
            (r for r in repo.releases if not r.draft and not r.prerelease),
            key=lambda r: r.published_at or r.created_at,
        )
        head = repo.history()[-1].sha
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
        repo.releases.append(SimRelease(9_999_002, "v8.0.0", head, "main", "dev1", now, now))
        mark = len(sim.log)
        sync(store, "github", url, RELEASES_ONLY)
        asked = [p for _m, p, _s in sim.log[mark:] if "/compare/" in p]
    assert asked == [f"/repos/{RELEASES_ONLY}/compare/{newest.sha}...{head}"]


class _Fake:
    """A compare source answering from a table, counting what it is asked."""

    def __init__(self, answers: dict[tuple[str, str], Comparison | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def compare(self, ref: RepoRef, base: str, head: str, *, need_base: bool = True) -> Comparison:
        self.asked.append((base, head))
        found = self.answers[(base, head)]
        if isinstance(found, Exception):
            raise found
        return found


REPO_ID = "github:o/r"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _deploy(store: Store, n: int, sha: str, env: str = "production") -> None:
    at = T0 + timedelta(days=n)
    store.write_records(
        [
            Deployment(
                REPO_ID, f"api:{env}:{n}", env, "production", sha, "success", at, "api", None, at
            )
        ],
        source="api",
    )


def _commit(sha: str, parents: list[str]) -> Commit:
    return Commit(REPO_ID, sha, "A", "a@x", T0, "A", "a@x", T0, "m", 1, 1, 1, False, parents)


def test_a_sha_gone_is_recorded_once_and_a_mined_repository_is_never_compared(
    store: Store,
) -> None:
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    for n, sha in enumerate((a, b, c)):
        _deploy(store, n, sha)
    fake = _Fake({(a, b): NotFound("gone"), (b, c): Comparison([_commit(c, [b])], 1)})
    errors: list[int] = []
    link_by_compare(store, fake, RepoRef("o", "r"), REPO_ID, lambda **k: errors.append(k["errors"]))
    assert fake.asked == [(a, b), (b, c)]
    assert errors == [1]
    rows = store.query_dicts(
        "SELECT base_sha, head_sha, status, error FROM deployment_compares ORDER BY base_sha"
    )
    assert [(r["base_sha"], r["status"]) for r in rows] == [(a, "error"), (b, None)]
    assert "gone" in rows[0]["error"]
    link_by_compare(store, fake, RepoRef("o", "r"), REPO_ID)  # nothing asked again
    assert len(fake.asked) == 2
    # a failure that may pass (a 5xx after the client's retries) is asked again next run
    e = "e" * 40
    _deploy(store, 4, e)
    fake.answers[(c, e)] = ForgeError("GitHub answered 502")
    for _ in range(2):
        link_by_compare(store, fake, RepoRef("o", "r"), REPO_ID)
    assert fake.asked[2:] == [(c, e), (c, e)]
    assert store.query("SELECT count(*) FROM deployment_compares WHERE head_sha = ?", [e]) == [(0,)]
    fake.asked.clear()
    # a locally mined head (a git collection's row): compared never, its row kept
    d = "d" * 40
    store.write_records([_commit(d, [c])], source="git")
    _deploy(store, 3, d)
    fake.answers[(d, e)] = Comparison([_commit(e, [d])], 1)
    link_by_compare(store, fake, RepoRef("o", "r"), REPO_ID)
    assert fake.asked == [(d, e)]  # after the mined d: d...e, and c...e no more
    todo = pending(store, REPO_ID)
    assert [(b, h) for b, h, _ in todo.pairs] == [(a, b), (b, c), (d, e)]  # (c, d): d is mined
    assert not [p for p in todo.pairs if todo.needed(p[0], p[1])]


def test_a_long_comparison_is_paged_and_a_cut_one_is_marked_truncated(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = ForgeSim(generate(1, SimSize(repos=1, prs_per_repo=120, commits=3.0, teams=0)))
    line = sim.dataset.repos[0].history()
    assert len(line) > 250  # more than GitHub lists without paging
    base, head = line[0].sha, line[-1].sha
    ref = RepoRef("acme", "service-0")
    with serve(sim) as url, source_for("github", url) as source:
        whole = source.compare(ref, base, head)
        pages = sum(1 for _m, p, _s in sim.log if "/compare/" in p)
        monkeypatch.setattr(_delivery, "COMPARE_CAP", 150)
        cut = source.compare(ref, base, head)
    assert [c.sha for c in whole.commits] == [c.sha for c in line[1:]]
    assert (whole.total, whole.truncated) == (len(line) - 1, False)
    assert pages == -(-(len(line) - 1) // 100)  # 100 a page
    assert whole.commits[0].parents == [base]
    assert whole.base is not None
    assert whole.base.sha == base
    assert len(cut.commits) == 200  # two pages of 100 reach the cap
    assert (cut.total, cut.truncated) == (len(line) - 1, True)
    # the engine records the truncation it was given
    _deploy(store, 0, base)
    _deploy(store, 1, head)
    link_by_compare(store, _Fake({(base, head): cut}), ref, REPO_ID)
    [row] = store.query_dicts("SELECT * FROM deployment_compares")
    assert (row["truncated"], row["listed_commits"], row["total_commits"]) == (
        True,
        200,
        len(line) - 1,
    )


def test_an_environment_whose_range_another_already_brought_asks_nothing(store: Store) -> None:
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    for n, sha in enumerate((a, b, c)):
        _deploy(store, n, sha, "staging")
    _deploy(store, 5, a, "production")
    _deploy(store, 6, c, "production")
    fake = _Fake(
        {
            (a, b): Comparison([_commit(b, [a])], 1, _commit(a, [])),
            (b, c): Comparison([_commit(c, [b])], 1, _commit(b, [a])),
        }
    )
    link_by_compare(store, fake, RepoRef("o", "r"), REPO_ID)
    assert fake.asked == [(a, b), (b, c)]  # production's a...c is staging's two answers
    kept: Any = store.query("SELECT DISTINCT _source FROM commits")
    assert kept == [(deploy_compare.COMPARE,)]
