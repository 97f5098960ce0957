"""Which refs the miner walks and what the incremental cursor remembers of them: detached
HEAD, annotated tags and tags of trees, SHA-256 repositories, tens of thousands of tips."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest

from forgelens.errors import BadInput, NotARepository
from forgelens.sources.git import source as gitsrc
from forgelens.store import Store
from tests.conftest import git
from tests.sources.test_git import collect, commit, repo_id


def line_of_commits(repo: Path, n: int, start: int = 0) -> list[str]:
    for i in range(start, start + n):
        (repo / "f.txt").write_text(f"{i}\n")
        commit(repo, f"c{i}", n=i)
    return git(repo, "rev-list", "--reverse", "HEAD").split()[start:]


def stored_shas(store: Store, repo: Path) -> set[str]:
    return {
        s
        for (s,) in store.query("SELECT sha FROM commits WHERE repository_id = ?", [repo_id(repo)])
    }


def test_a_detached_head_is_mined_and_names_no_default_branch(
    store: Store, make_repo: Any, tmp_path: Path
) -> None:
    repo = make_repo("detached")
    shas = line_of_commits(repo, 2)
    git(repo, "checkout", "-q", "--detach", shas[0])
    (repo / "wip.txt").write_text("work on no branch\n")
    commit(repo, "detached work", n=5)
    detached = git(repo, "rev-parse", "HEAD").strip()
    result = collect(store, repo, tmp_path)
    assert result.commits == 3
    assert stored_shas(store, repo) == {*shas, detached}
    (default,) = store.query("SELECT default_branch FROM repositories")
    assert default == (None,)
    assert collect(store, repo, tmp_path).commits == 0
    # an unborn HEAD (a new orphan branch) is no revision to walk
    git(repo, "checkout", "-q", "--orphan", "fresh")
    assert collect(store, repo, tmp_path).commits == 0
    assert store.query("SELECT default_branch FROM repositories") == [("fresh",)]


def test_commits_only_tags_reach_are_not_mined_again(
    store: Store, make_repo: Any, tmp_path: Path
) -> None:
    repo = make_repo("tags")
    line_of_commits(repo, 2)
    git(repo, "checkout", "-q", "-b", "release")
    (repo / "r.txt").write_text("release fix\n")
    commit(repo, "only on a tag", n=3)
    git(repo, "tag", "-a", "-m", "release", "v1.0")
    git(repo, "tag", "-a", "-m", "a tag of a tag", "v1.0-signed", "v1.0")
    git(repo, "tag", "-a", "-m", "a tree", "the-tree", "HEAD^{tree}")
    git(repo, "tag", "a-blob", "HEAD:r.txt")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "release")
    assert collect(store, repo, tmp_path).commits == 3
    assert collect(store, repo, tmp_path).commits == 0


def test_a_sha256_repository_is_incremental(store: Store, tmp_path: Path, make_repo: Any) -> None:
    repo = tmp_path / "sha256"
    repo.mkdir()
    try:
        git(repo, "init", "-q", "-b", "main", "--object-format=sha256")
    except subprocess.CalledProcessError:
        pytest.skip("this git cannot create SHA-256 repositories")
    git(repo, "config", "commit.gpgsign", "false")
    shas = line_of_commits(repo, 2)
    assert len(shas[0]) == 64
    assert collect(store, repo, tmp_path).commits == 2
    assert collect(store, repo, tmp_path).commits == 0
    line_of_commits(repo, 1, start=2)
    assert collect(store, repo, tmp_path).commits == 1
    assert len(stored_shas(store, repo)) == 3


def test_more_known_tips_than_fit_on_a_command_line(
    store: Store, make_repo: Any, tmp_path: Path
) -> None:
    """The commits already seen reach git on stdin: a repository with a tag per build has
    more tips than the kernel's argument limit (a quarter of the stack limit) holds."""
    repo = make_repo("many-tags")
    tags = 6000
    stream = b"".join(
        b"commit refs/heads/main\nmark :%d\ncommitter A <a@example.com> %d +0000\n"
        b"data 3\nc%d\nreset refs/tags/build-%d\nfrom :%d\n\n"
        % (i, 1_700_000_000 + i, i % 10, i, i)
        for i in range(1, tags + 1)
    )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream, check=True)
    assert collect(store, repo, tmp_path).commits == tags
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    # 1 MiB of stack: 256 KiB for arguments, about 5,000 ids
    resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, hard))
    try:
        assert collect(store, repo, tmp_path).commits == 0
        git(repo, "commit", "-q", "--allow-empty", "-m", "one more")
        assert collect(store, repo, tmp_path).commits == 1
        opened = gitsrc.open_repo(str(repo), tmp_path)
        assert len(gitsrc.ref_tips(opened, gitsrc.MineOptions())) == tags + 1
    finally:
        resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))


def test_a_repository_of_another_user_says_how_to_trust_it(
    make_repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a container the mounted repository often belongs to another uid: git's
    safe.directory check used to surface as 'is not a git repository'."""
    repo = make_repo("theirs")
    line_of_commits(repo, 1)
    env = {**gitsrc._GIT_ENV, "GIT_TEST_ASSUME_DIFFERENT_OWNER": "1"}  # git's own test hook
    probe = subprocess.run(["git", "rev-parse"], cwd=repo, env=env, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this git has no safe.directory check to simulate")
    monkeypatch.setattr(gitsrc, "_GIT_ENV", env)
    with pytest.raises(BadInput) as err:
        gitsrc.open_repo(str(repo), tmp_path)
    assert not isinstance(err.value, NotARepository)
    assert "belongs to another user" in err.value.message
    assert f"git config --global --add safe.directory {repo}" in err.value.message


@pytest.mark.parametrize("jobs", [1, 2])
def test_files_named_like_revisions_are_no_ambiguity(
    store: Store, make_repo: Any, tmp_path: Path, jobs: int
) -> None:
    repo = make_repo("ambiguous")
    shas = line_of_commits(repo, 2)
    git(repo, "tag", "v1.0", shas[0])
    for name in ("HEAD", "v1.0", "main"):
        (repo / name).write_text("a file, not a revision\n")
    commit(repo, "files named HEAD, v1.0 and main", n=3)
    assert collect(store, repo, tmp_path, jobs=jobs, branches=["v1.0"]).commits == 1
    assert collect(store, repo, tmp_path, jobs=jobs).commits == 2
    assert collect(store, repo, tmp_path, jobs=jobs).commits == 0


def test_a_partial_clone_is_refused_with_what_to_do(make_repo: Any, tmp_path: Path) -> None:
    """git log --numstat on a blobless clone downloads the blobs one commit at a time
    (about 0.1 s a commit even from a local remote: hours for a large history)."""
    source = make_repo("upstream")
    line_of_commits(source, 2)
    git(source, "config", "uploadpack.allowFilter", "true")
    partial = tmp_path / "partial"
    git(
        tmp_path,
        "clone",
        "-q",
        "--filter=blob:none",
        "--no-checkout",
        source.as_uri(),
        str(partial),
    )
    with pytest.raises(BadInput, match="partial clone") as err:
        gitsrc.open_repo(str(partial), tmp_path)
    assert "collect the repository's URL instead" in err.value.message
    git(tmp_path, "clone", "-q", "--no-checkout", source.as_uri(), str(tmp_path / "full"))
    assert gitsrc.open_repo(str(tmp_path / "full"), tmp_path).path == tmp_path / "full"


def test_a_bare_clone_gives_the_rows_of_its_work_tree(
    make_repo: Any, tmp_path: Path, store: Store
) -> None:
    """A bare repository (git:PATH, no work tree) reads .mailmap from HEAD, has no HEAD
    to check out, and mines to exactly the rows of the repository it was cloned from."""
    from forgelens.store import open_store
    from tests.sources.test_git import build_rich_repo

    work = build_rich_repo(make_repo("work"))
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    collect(store, bare, tmp_path)
    other = open_store(f"duckdb:///{tmp_path / 'work.duckdb'}")
    collect(other, work, tmp_path)
    rows = [
        [
            s.query(f"SELECT * EXCLUDE (_version, repository_id) FROM {t} ORDER BY ALL")
            for t in ("commits", "commit_files")
        ]
        for s in (store, other)
    ]
    other.close()
    assert rows[0] == rows[1]
    assert len(rows[0][0]) == 8
    authors = {r[0] for r in store.query("SELECT author_name FROM commits")}
    assert "Old Alias" not in authors  # the mailmap applied
    assert store.query("SELECT default_branch FROM repositories") == [("main",)]


def test_the_git_directory_of_a_work_tree_is_the_same_repository(
    store: Store, make_repo: Any, tmp_path: Path
) -> None:
    """git:repo/.git (or a directory inside it) used to be a second repository, named '',
    holding a copy of every commit."""
    repo = make_repo("inside")
    line_of_commits(repo, 2)
    assert collect(store, repo / ".git" / "objects", tmp_path).commits == 2
    assert collect(store, repo, tmp_path).commits == 0
    assert store.query("SELECT id, name FROM repositories") == [(repo_id(repo), "inside")]
