"""DORA on a real git history: the tag rule's deployments, each linked to exactly the commits
``git rev-list TAG --not <earlier tags>`` names, on every store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.store import Store
from tests.conftest import git

T0 = 1_700_000_000  # 2023-11-14


def _commit(repo: Path, n: int, message: str, at: int) -> str:
    (repo / f"f{n}.txt").write_text(f"{n}\n")
    git(repo, "add", ".")
    when = f"@{at} +0000"
    git(
        repo,
        "commit",
        "-q",
        "-m",
        message,
        env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when},
    )
    return git(repo, "rev-parse", "HEAD").strip()


def _tag(repo: Path, name: str, at: int, annotated: bool = True) -> None:
    env = {"GIT_COMMITTER_DATE": f"@{at} +0000"}
    if annotated:
        git(repo, "tag", "-a", name, "-m", name, env=env)
    else:
        git(repo, "tag", name)


def release_history(repo: Path) -> list[str]:
    """main with merges, a maintenance line v1.x with a backport, interleaved releases, a
    re-tag of an old commit and a non-release tag. Returns tag names in time order."""
    h = 3600
    n = 0

    def c(msg: str, t: int) -> str:
        nonlocal n
        n += 1
        return _commit(repo, n, msg, T0 + t * h)

    c("initial", 0)
    c("feature a", 1)
    _tag(repo, "v1.0.0", T0 + 2 * h)  # baseline
    git(repo, "checkout", "-q", "-b", "topic")
    c("topic 1", 3)
    c("topic 2", 4)
    git(repo, "checkout", "-q", "main")
    c("main work", 5)
    when = {"GIT_AUTHOR_DATE": f"@{T0 + 6 * h} +0000", "GIT_COMMITTER_DATE": f"@{T0 + 6 * h} +0000"}
    git(repo, "merge", "-q", "--no-ff", "topic", "-m", "merge topic", env=when)
    _tag(repo, "v1.1.0", T0 + 7 * h)
    git(repo, "checkout", "-q", "-b", "release-1.1", "v1.1.0")
    git(repo, "checkout", "-q", "main")
    c("feature b", 9)
    c("feature c", 10)
    _tag(repo, "v2.0.0", T0 + 11 * h, annotated=False)  # lightweight: the commit's date
    git(repo, "checkout", "-q", "release-1.1")
    c("backport fix", 12)
    _tag(repo, "v1.1.1", T0 + 13 * h)  # interleaved: after v2.0.0 in time
    _tag(repo, "nightly-1", T0 + 13 * h)  # not a release: the pattern skips it
    git(repo, "checkout", "-q", "main")
    c("feature d", 14)
    _tag(repo, "v2.1.0", T0 + 15 * h)
    return ["v1.0.0", "v1.1.0", "v2.0.0", "v1.1.1", "v2.1.0"]


def _store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "duckdb":
        return f"duckdb:///{tmp_path / 'd.duckdb'}"
    if kind == "postgres":
        return str(request.getfixturevalue("pg_url"))
    pytest.importorskip("chdb")
    return f"chdb:///{tmp_path / 'chdb'}"


@pytest.mark.parametrize("kind", ["duckdb", "postgres", "chdb"])
def test_each_release_ships_exactly_rev_list_tag_not_earlier_tags(
    kind: str,
    make_repo,
    tmp_path: Path,
    request: pytest.FixtureRequest,  # type: ignore[no-untyped-def]
) -> None:
    from forgelens.store import open_store

    repo = make_repo("app")
    order = release_history(repo)
    store: Store = open_store(_store_url(kind, tmp_path, request))
    try:
        opts = GitCollectOptions(cache_dir=tmp_path / "cache", deploy_tags="v*")
        res = collect_git(store, [f"git:{repo}"], opts)
        rid = res.repositories[0]
        analyze(store, AnalyzeOptions(target="dora"))
        deps = dict(
            store.query("SELECT deployment_id, sha FROM deployments WHERE repository_id = ?", [rid])
        )
        assert sorted(deps) == sorted(f"tag:{t}" for t in order)  # nightly-1 is no release
        for i, tag in enumerate(order):
            got = {
                r[0]
                for r in store.query(
                    "SELECT sha FROM deployment_commits WHERE deployment_id = ?", [f"tag:{tag}"]
                )
            }
            want = set(git(repo, "rev-list", tag, "--not", *order[:i]).split()) if i else set()
            assert got == want, tag
        # the backport went out with v1.1.1 only; v2.1.0 shipped just "feature d"
        assert len(want) == 1
        facts = dict(
            store.query(
                "SELECT deployment_id, baseline FROM dora_deployments WHERE repository_id = ?",
                [rid],
            )
        )
        assert facts == {f"tag:{t}": t == "v1.0.0" for t in order}
        # the lightweight tag is deployed at its commit's committer date
        at = store.query("SELECT finished_at FROM deployments WHERE deployment_id = 'tag:v2.0.0'")[
            0
        ][0]
        assert at.replace(tzinfo=at.tzinfo or UTC) == datetime.fromtimestamp(T0 + 10 * 3600, UTC)
        # a second run changes nothing and skips the repository
        again = analyze(store, AnalyzeOptions(target="dora"))
        assert again.dora["repositories"] == 0
    finally:
        store.close()
