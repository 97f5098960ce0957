"""Ground truth: every mined commit and file row equals what git's own plumbing reports.

The expected rows come from separate git invocations (``rev-list``, ``show -s`` and
``diff-tree`` per commit), never from the miner's ``git log`` stream.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.errors import BadInput, NotARepository
from forgelens.sources.git import source as gitsrc
from forgelens.store import Store
from tests.conftest import git

ODD_NAMES = [
    "dir with space/file one.txt",
    "ünïcödé/日本語.txt",
    "tab\there.txt",
    "new\nline.txt",
    "quote\"d 'both'.txt",
    "back\\slash.txt",
]


def commit(repo: Path, message: str, *, who: str = "Ann Author <ann@example.com>", n: int) -> None:
    name, email = who[:-1].split(" <")
    date = f"2024-0{1 + n % 9}-1{n % 10}T1{n % 10}:00:00{'+05:30' if n % 2 else '-08:00'}"
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date.replace("T1", "T2"),
    }
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "--allow-empty-message", "-m", message, env=env)


def build_rich_repo(repo: Path) -> Path:
    """Renames (pure and with edits), binaries, merges, odd paths, mailmap, branches, tags."""
    body = "".join(f"line {i} of a file that is long enough to be recognised\n" for i in range(40))
    (repo / "keep.txt").write_text(body)
    (repo / "move_me.txt").write_text(body.replace("line", "row"))
    (repo / "img.bin").write_bytes(bytes(range(256)) * 4)
    for name in ODD_NAMES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"{name}\n")
    commit(repo, "initial import\n\nwith a body\nand 'quotes' \"too\"", n=1)
    git(repo, "tag", "v0.1")
    (repo / "moved").mkdir()
    git(repo, "mv", "move_me.txt", "moved/pure rename.txt")
    git(repo, "mv", "keep.txt", "renamed and edited.txt")
    with (repo / "renamed and edited.txt").open("a") as fh:
        fh.write("an added line\n")
    (repo / "img.bin").write_bytes(bytes(range(255, -1, -1)) * 4)
    commit(repo, "", n=2)  # empty message
    (repo / ".mailmap").write_text("Ann Author <ann@example.com> Old Alias <old@example.com>\n")
    (repo / ODD_NAMES[3]).write_text("changed\nnow two lines\n")
    (repo / ODD_NAMES[4]).unlink()
    commit(repo, "mailmap, edit and delete", who="Old Alias <old@example.com>", n=3)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.py").write_text("print('feature')\n")
    (repo / ODD_NAMES[1]).write_text("ünïcode changed\n")
    commit(repo, "feature: add ✨", who="Bob Builder <bob@example.com>", n=4)
    git(repo, "checkout", "-q", "main")
    (repo / "main_only.txt").write_text("main\n")
    commit(repo, "main moves on", n=5)
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature")
    git(repo, "tag", "-a", "-m", "release", "v1.0")
    commit(repo, "empty commit, no files", n=6)
    git(repo, "checkout", "-q", "-b", "side", "v0.1")
    (repo / "side.txt").write_text("side\n")
    commit(repo, "side branch", who="Cy Side <cy@example.com>", n=7)
    git(repo, "checkout", "-q", "main")
    return repo


def expected_rows(
    repo: Path, repo_id: str
) -> tuple[dict[str, dict[str, Any]], set[tuple[Any, ...]]]:
    """Commits and file rows as git plumbing reports them, one invocation per commit."""
    commits: dict[str, dict[str, Any]] = {}
    files: set[tuple[Any, ...]] = set()
    for sha in git(repo, "rev-list", "--all").split():
        fmt = "%P%x00%aN%x00%aE%x00%aI%x00%cN%x00%cE%x00%cI%x00%B"
        meta = git(repo, "show", "-s", f"--format={fmt}", sha).split("\0")
        parents = meta[0].split()
        stats: list[tuple[int | None, int | None, str, str | None]] = []
        kinds: list[tuple[str, str, str | None]] = []
        if len(parents) <= 1:  # merges carry no file rows, as in `git log --numstat`
            out = git(
                repo, "diff-tree", "-r", "-M", "--root", "--no-commit-id", "-z", "--numstat", sha
            )
            toks = out.split("\0")
            i = 0
            while i < len(toks) - 1:
                a, d, path = toks[i].split("\t", 2)
                old = None
                if path == "":
                    old, path = toks[i + 1], toks[i + 2]
                    i += 2
                stats.append(
                    (None if a == "-" else int(a), None if d == "-" else int(d), path, old)
                )
                i += 1
            out = git(
                repo,
                "diff-tree",
                "-r",
                "-M",
                "--root",
                "--no-commit-id",
                "-z",
                "--name-status",
                sha,
            )
            toks = out.split("\0")
            i = 0
            while i < len(toks) - 1:
                status = toks[i]
                if status[0] in "RC":
                    kinds.append((status[0], toks[i + 2], toks[i + 1]))
                    i += 3
                else:
                    kinds.append((status[0], toks[i + 1], None))
                    i += 2
        names = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "type_changed"}
        assert [k[1:] for k in kinds] == [(s[2], s[3]) for s in stats]
        for (a, d, path, old), (kind, _, _) in zip(stats, kinds, strict=True):
            files.add((repo_id, sha, path, old, names[kind], a, d))
        commits[sha] = {
            "repository_id": repo_id,
            "sha": sha,
            "parents": parents,
            "is_merge": len(parents) > 1,
            "author_name": meta[1] or None,
            "author_email": meta[2] or None,
            "authored_at": meta[3],
            "committer_name": meta[4] or None,
            "committer_email": meta[5] or None,
            "committed_at": meta[6],
            "message": meta[7].rstrip("\n"),
            "additions": sum(s[0] or 0 for s in stats),
            "deletions": sum(s[1] or 0 for s in stats),
            "files_changed": len(stats),
        }
    return commits, files


def mined_rows(
    store: Store, repo_id: str
) -> tuple[dict[str, dict[str, Any]], set[tuple[Any, ...]]]:
    rows = store.query_dicts(
        "SELECT repository_id, sha, parents, is_merge, author_name, author_email, authored_at, "
        "committer_name, committer_email, committed_at, message, additions, deletions, "
        "files_changed FROM commits WHERE repository_id = ?",
        [repo_id],
    )
    commits = {}
    for row in rows:
        row["parents"] = json.loads(row["parents"])
        for col in ("authored_at", "committed_at"):
            row[col] = row[col].isoformat()
        commits[row["sha"]] = row
    files = set(
        store.query(
            "SELECT repository_id, sha, path, old_path, change_type, additions, deletions "
            "FROM commit_files WHERE repository_id = ?",
            [repo_id],
        )
    )
    return commits, files


def same_instants(mined: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    from datetime import datetime

    for sha, row in expected.items():
        for col in ("authored_at", "committed_at"):
            assert datetime.fromisoformat(mined[sha][col]) == datetime.fromisoformat(row[col])
            mined[sha][col] = row[col]


def collect(store: Store, repo: Path, tmp_path: Path, **kw: Any) -> Any:
    opts = GitCollectOptions(cache_dir=tmp_path / "cache", **kw)
    return collect_git(store, [f"git:{repo}"], opts)


@pytest.fixture
def rich_repo(make_repo: Any) -> Path:
    return build_rich_repo(make_repo("rich"))


def repo_id(repo: Path) -> str:
    return gitsrc.open_repo(str(repo), Path("/nonexistent")).id


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_commit_and_file_row_matches_git(
    store: Store, rich_repo: Path, tmp_path: Path, jobs: int
) -> None:
    result = collect(store, rich_repo, tmp_path, jobs=jobs, batch_size=3)
    rid = repo_id(rich_repo)
    want_commits, want_files = expected_rows(rich_repo, rid)
    got_commits, got_files = mined_rows(store, rid)
    same_instants(got_commits, want_commits)
    assert got_commits == want_commits
    assert got_files == want_files
    assert result.commits == len(want_commits) == 8


def test_the_tricky_cases_are_really_there(store: Store, rich_repo: Path, tmp_path: Path) -> None:
    """Guard the fixture: the ground truth above must contain each case it claims to cover."""
    collect(store, rich_repo, tmp_path)
    rid = repo_id(rich_repo)
    files = store.query_dicts("SELECT * FROM commit_files WHERE repository_id = ?", [rid])
    by_path = {(f["path"], f["change_type"]): f for f in files}
    assert by_path[("moved/pure rename.txt", "renamed")]["old_path"] == "move_me.txt"
    edited = by_path[("renamed and edited.txt", "renamed")]
    assert (edited["old_path"], edited["additions"], edited["deletions"]) == ("keep.txt", 1, 0)
    binary = by_path[("img.bin", "modified")]
    assert binary["additions"] is None
    assert binary["deletions"] is None
    assert {n for n in ODD_NAMES if (n, "added") in by_path} == set(ODD_NAMES)
    assert (ODD_NAMES[3], "modified") in by_path
    assert (ODD_NAMES[4], "deleted") in by_path
    commits = store.query_dicts("SELECT * FROM commits WHERE repository_id = ?", [rid])
    assert sum(c["is_merge"] for c in commits) == 1
    assert any(c["message"] == "" for c in commits)
    authors = {c["author_name"]: c["author_email"] for c in commits}
    assert "Old Alias" not in authors
    assert authors["Ann Author"] == "ann@example.com"
    assert {"Bob Builder", "Cy Side"} <= set(authors)


def test_bad_sources_say_what_is_wrong(make_repo: Any, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        gitsrc.open_repo(str(tmp_path / "missing"), tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotARepository, match="not a git repository"):
        gitsrc.open_repo(str(plain), tmp_path)
    with pytest.raises(BadInput, match="no commits yet"):
        gitsrc.open_repo(str(make_repo("empty")), tmp_path)


@pytest.mark.parametrize(("read_size", "batch_size"), [(1, 1000), (7, 1), (64, 3)])
def test_streaming_parser_handles_tokens_split_across_reads(
    rich_repo: Path, read_size: int, batch_size: int
) -> None:
    """Tiny reads (a token cut anywhere) and tiny batches give the same records."""
    repo = gitsrc.open_repo(str(rich_repo), Path("/nonexistent"))
    whole = [c for batch in gitsrc.mine(repo, gitsrc.MineOptions()) for c in batch.records()]
    old = gitsrc._READ_CHUNK
    try:
        gitsrc._READ_CHUNK = read_size
        opts = gitsrc.MineOptions(batch_size=batch_size)
        small = [c for batch in gitsrc.mine(repo, opts) for c in batch.records()]
    finally:
        gitsrc._READ_CHUNK = old
    assert small == whole
    assert len(whole) == 8


def test_url_is_mirrored_once_then_fetched(store: Store, rich_repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "served" / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(rich_repo), str(bare))
    url = bare.as_uri()
    opts = GitCollectOptions(cache_dir=tmp_path / "cache")
    first = collect_git(store, [url], opts)
    assert first.commits == 8
    mirror = gitsrc.mirror_path(url, tmp_path / "cache")
    assert (mirror / "HEAD").exists()
    assert first.repositories == [f"git:local{bare.with_suffix('')}"]
    # a new commit upstream arrives through a fetch into the same mirror, not a second clone
    inode = (mirror / "objects").stat().st_ino
    (rich_repo / "upstream.txt").write_text("new\n")
    commit(rich_repo, "upstream change", n=8)
    git(rich_repo, "push", "-q", str(bare), "main")
    second = collect_git(store, [url], opts)
    assert second.commits == 1
    assert (mirror / "objects").stat().st_ino == inode
    want, want_files = expected_rows(bare, first.repositories[0])
    got, got_files = mined_rows(store, first.repositories[0])
    same_instants(got, want)
    assert (got, got_files) == (want, want_files)


def test_unreachable_url_is_one_clear_line(tmp_path: Path) -> None:
    from forgelens.errors import SourceError

    with pytest.raises(SourceError) as err:
        gitsrc.open_repo((tmp_path / "nowhere.git").as_uri(), tmp_path / "cache")
    assert "\n" not in err.value.message
    assert err.value.message.startswith(f"cannot clone {(tmp_path / 'nowhere.git').as_uri()}: ")
    assert "does not appear to be a git repository" in err.value.message
    assert not list((tmp_path / "cache").rglob("*.partial"))
