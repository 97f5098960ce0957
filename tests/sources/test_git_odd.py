"""Commits real histories hold and git's porcelain will not write: odd dates, idents,
encodings and messages, each mined into a store and read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from forgelens.sources.git import source as gitsrc
from forgelens.store import Store
from tests.conftest import git
from tests.sources.githelp import raw_commit, set_branch, tree_of
from tests.sources.test_git import (
    collect,
    commit,
    expected_rows,
    mined_rows,
    repo_id,
    same_instants,
)


def mine_chain(
    store: Store, repo: Path, tmp_path: Path, commits: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Write ``commits`` (``raw_commit`` arguments) as one line of history on ``main``,
    collect the repository and return the stored commits by message."""
    parent: list[str] = []
    for spec in commits:
        parent = [raw_commit(repo, parents=parent, **spec)]
    set_branch(repo, parent[0])
    collect(store, repo, tmp_path)
    rows = store.query_dicts("SELECT * FROM commits WHERE repository_id = ?", [repo_id(repo)])
    assert len(rows) == len(commits)
    return {r["message"]: r for r in rows}


def at(ident: str) -> bytes:
    return f"Ann Author <ann@example.com> {ident}".encode()


def test_dates_are_utc_instants_and_unusable_ones_are_null(
    any_store: Store, make_repo: Any, tmp_path: Path
) -> None:
    store = any_store  # DuckDB and PostgreSQL
    got = mine_chain(
        store,
        make_repo("dates"),
        tmp_path,
        [
            # odd offsets: the instant is what counts, stored in UTC
            {"message": b"offsets", "author": at("4102444800 +1345"), "committer": at("0 -0000")},
            {"message": b"last second", "author": at("253402300799 +0000")},
            # git commit --date accepts year 10000; a broken tool writes anything
            {"message": b"year 10000", "author": at("253402300800 +0000")},
            {"message": b"huge", "author": at("99999999999999 +0000")},
            {"message": b"past 2**64", "author": at("18446744073709551617 +0000")},
            # before 1970 (git prints no %at for it) and garbage
            {"message": b"negative", "author": at("-100 +0000"), "committer": at("soon +0000")},
        ],
    )
    assert got["offsets"]["authored_at"] == datetime(2100, 1, 1, tzinfo=UTC)
    assert got["offsets"]["committed_at"] == datetime(1970, 1, 1, tzinfo=UTC)
    assert got["last second"]["authored_at"] == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    for message in ("year 10000", "huge", "past 2**64"):
        assert got[message]["authored_at"] is None
        assert got[message]["committed_at"] is None
    assert got["negative"]["authored_at"] is None
    assert got["negative"]["committed_at"] is None
    # the store holds datetimes or NULLs, never a value a reader cannot turn into one
    dates = store.query("SELECT authored_at, committed_at FROM commits")
    assert all(d is None or isinstance(d, datetime) for row in dates for d in row)


def test_bytes_that_are_not_utf8_read_as_latin1_and_stay_apart(
    any_store: Store, make_repo: Any, tmp_path: Path
) -> None:
    """Paths are bytes in git, and so are names and messages of a commit without an
    ``encoding`` header: Latin-1 ones must neither merge two paths nor turn into U+FFFD."""
    store = any_store  # DuckDB and PostgreSQL
    repo = make_repo("latin1")
    for name in (b"\xc4l.txt", b"\xd6l.txt", "naïve.txt".encode()):  # Äl, Öl; UTF-8
        (repo / name.decode("utf-8", "surrogateescape")).write_bytes(b"one line\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "three files")
    head = git(repo, "rev-parse", "HEAD").strip()
    latin = raw_commit(
        repo,
        "Déjà vu, no encoding header\n".encode("latin-1"),
        parents=[head],
        tree=tree_of(repo),
        author="François <f@example.com> 1700000000 +0000".encode("latin-1"),
    )
    set_branch(repo, latin)
    collect(store, repo, tmp_path)
    rid = repo_id(repo)
    paths = store.query("SELECT path FROM commit_files WHERE repository_id = ?", [rid])
    assert sorted(p for (p,) in paths) == ["naïve.txt", "Äl.txt", "Öl.txt"]
    assert store.query(
        "SELECT files_changed, additions FROM commits WHERE sha = ? AND repository_id = ?",
        [head, rid],
    ) == [(3, 3)]
    (row,) = store.query_dicts("SELECT * FROM commits WHERE sha = ?", [latin])
    assert (row["author_name"], row["message"]) == ("François", "Déjà vu, no encoding header")


def test_missing_or_broken_idents_are_null_not_placeholders(
    any_store: Store, make_repo: Any, tmp_path: Path
) -> None:
    store = any_store  # DuckDB and PostgreSQL
    got = mine_chain(
        store,
        make_repo("idents"),
        tmp_path,
        [
            {"message": b"empty email", "author": b"Ann <> 1700000000 +0000"},
            {"message": b"empty name", "author": b"<ann@example.com> 1700000000 +0000"},
            # no <email> at all: git cannot split the line and prints %aN/%aE verbatim
            {"message": b"no email", "author": b"Ann 1700000000 +0000"},
            {"message": b"no committer email", "committer": b"Bob 1700000000 +0000"},
        ],
    )
    idents = {
        m: (r["author_name"], r["author_email"], r["committer_name"], r["committer_email"])
        for m, r in got.items()
    }
    ann = ("Ann Author", "ann@example.com")
    assert idents == {
        "empty email": ("Ann", None, "Ann", None),
        "empty name": (None, "ann@example.com", None, "ann@example.com"),
        "no email": (None, None, None, None),
        "no committer email": (*ann, None, None),
    }
    assert got["no email"]["authored_at"] is None
    assert got["no committer email"]["authored_at"] == datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=UTC
    )


def test_tree_corners_match_git_plumbing(store: Store, make_repo: Any, tmp_path: Path) -> None:
    """Symlinks, mode-only and type changes, gitlinks, copies, an octopus merge, empty and
    odd messages: every row equals git's plumbing; merges carry no file rows and zero
    line counts (as ``git log --numstat`` shows them)."""
    repo = make_repo("corners")
    body = "".join(
        f"line {i} of a file long enough to be recognised when copied\n" for i in range(30)
    )
    (repo / "tool.sh").write_text("echo hi\n")
    (repo / "doc.txt").write_text(body)
    (repo / "{a => b}.txt").write_text(body.upper())  # numstat's rename notation, as a name
    commit(repo, "root", n=1)
    (repo / "tool.sh").chmod(0o755)
    (repo / "link").symlink_to("doc.txt")
    commit(repo, "mode only, and a symlink", n=2)
    (repo / "link").unlink()
    (repo / "link").write_text("a file now\n")
    (repo / "copy.txt").write_text(body)  # a copy: mined as added (-M, not -C)
    git(repo, "mv", "{a => b}.txt", "c => {d}.txt")
    commit(repo, "symlink becomes a file", n=3)
    (repo / "vendor" / "lib").mkdir(parents=True)
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/lib")
    commit(repo, "message\x1ewith\x1fseparators\x1e", n=4)
    for branch in ("a", "b", "c"):
        git(repo, "checkout", "-q", "-b", branch, "main")
        (repo / f"{branch}.txt").write_text(f"{branch}\n")
        commit(repo, f"on {branch}", n=5)
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "octopus", "a", "b", "c")
    git(repo, "checkout", "-q", "--orphan", "pages")  # a second root commit
    git(repo, "rm", "-q", "-r", "--cached", ".")
    (repo / "index.html").write_text("<p>pages</p>\n")
    git(repo, "add", "index.html")
    git(repo, "commit", "-q", "-m", "second root")
    git(repo, "checkout", "-q", "-f", "main")
    commit(repo, "", n=6)  # empty commit, empty message
    collect(store, repo, tmp_path)
    rid = repo_id(repo)
    want, want_files = expected_rows(repo, rid)
    got, got_files = mined_rows(store, rid)
    same_instants(got, want)
    assert got == want
    assert got_files == want_files
    by_message = {c["message"]: c for c in got.values()}
    octopus = by_message["octopus"]
    assert (octopus["is_merge"], len(octopus["parents"])) == (True, 4)
    assert (octopus["additions"], octopus["deletions"], octopus["files_changed"]) == (0, 0, 0)
    assert by_message[""]["files_changed"] == 0
    assert (by_message["second root"]["parents"], by_message["second root"]["additions"]) == ([], 1)
    assert "message\x1ewith\x1fseparators\x1e" in by_message
    kinds = {(f[2], f[4], f[5], f[6]) for f in got_files}
    assert ("tool.sh", "modified", 0, 0) in kinds  # mode only
    assert ("link", "added", 1, 0) in kinds  # a symlink's target is its one line
    assert ("link", "type_changed", 1, 1) in kinds
    assert ("copy.txt", "added", 30, 0) in kinds
    renamed = {(f[2], f[3]) for f in got_files if f[4] == "renamed"}
    assert renamed == {("c => {d}.txt", "{a => b}.txt")}
    assert ("vendor/lib", "added", 1, 0) in kinds  # a gitlink: "Subproject commit <id>"


def test_messages_keep_what_git_prints(any_store: Store, make_repo: Any, tmp_path: Path) -> None:
    """Messages are stored as ``%B`` prints them, trailing newlines aside: CRs kept, a
    message that looks like diff output stays a message, and git's own cut at a NUL byte
    leaves the next commits intact."""
    store = any_store  # DuckDB and PostgreSQL
    messages = [
        (b"no trailing newline", "no trailing newline"),
        (b"crlf\r\n\r\nbody\r\n", "crlf\r\n\r\nbody\r"),
        (b"\n\n\n", ""),
        (b"", ""),
        (
            b"looks like diff\n:100644 100644 aaa bbb M\x00path\n1\t2\tpath\n",
            "looks like diff\n:100644 100644 aaa bbb M",
        ),
        (b"cut at NUL\x00the rest\n", "cut at NUL"),
        (b"after the NUL one\n", "after the NUL one"),
    ]
    repo = make_repo("messages")
    parent: list[str] = []
    for i, (raw, _) in enumerate(messages):
        author = f"Ann Author <ann@example.com> {1_700_000_000 + i} +0000".encode()
        parent = [raw_commit(repo, raw, parents=parent, author=author)]
    set_branch(repo, parent[0])
    collect(store, repo, tmp_path)
    got = store.query("SELECT message FROM commits ORDER BY authored_at")
    assert [m for (m,) in got] == [want for _, want in messages]


def test_a_commit_of_thousands_of_files_streams_whole(
    store: Store, make_repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One commit's output spans many reads: the parser waits for all of it, and the rows
    (pure and edited renames, deletions, additions) equal git's plumbing."""
    repo = make_repo("huge")
    (repo / "src").mkdir()
    body = "".join(f"line {i} of a module\n" for i in range(8))
    for i in range(2500):
        (repo / "src" / f"m{i}.py").write_text(f"# module {i}\n{body}")
    commit(repo, "import everything", n=1)
    git(repo, "mv", "src", "lib")
    for i in range(0, 2500, 2):
        with (repo / "lib" / f"m{i}.py").open("a") as fh:
            fh.write("edited\n")
    for i in range(0, 2500, 5):
        (repo / "lib" / f"m{i}.py").unlink()
    (repo / "new.txt").write_text("new\n")
    commit(repo, "move, edit, delete", n=2)
    monkeypatch.setattr(gitsrc, "_READ_CHUNK", 4096)
    result = collect(store, repo, tmp_path, jobs=2, batch_size=1)
    assert (result.commits, result.files) == (2, 2500 + 2500 + 1)
    rid = repo_id(repo)
    want, want_files = expected_rows(repo, rid)
    got, got_files = mined_rows(store, rid)
    same_instants(got, want)
    assert (got, got_files) == (want, want_files)
    kinds = store.query(
        "SELECT change_type, count(*) FROM commit_files WHERE sha = ? GROUP BY ALL ORDER BY ALL",
        [git(repo, "rev-parse", "HEAD").strip()],
    )
    assert kinds == [("added", 1), ("deleted", 500), ("renamed", 2000)]
