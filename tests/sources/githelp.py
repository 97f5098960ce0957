"""Helpers for the git miner's corner-case tests: commits git's porcelain will not write."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import git


def raw_commit(
    repo: Path,
    message: bytes,
    *,
    parents: Sequence[str] = (),
    tree: str | None = None,
    author: bytes = b"Ann Author <ann@example.com> 1700000000 +0000",
    committer: bytes | None = None,
    headers: bytes = b"",
) -> str:
    """Write a commit object byte for byte (``hash-object --literally``, no fsck) and return
    its id. ``author``/``committer`` are the ident lines after the keyword; ``headers`` are
    extra header lines (``encoding ...``, ``gpgsig ...``), each ending in a newline;
    ``message`` follows the blank line as is (no newline added)."""
    tree = tree or _hash(repo, "tree", b"")  # the empty tree
    body = b"tree " + tree.encode() + b"\n"
    body += b"".join(b"parent " + p.encode() + b"\n" for p in parents)
    body += b"author " + author + b"\ncommitter " + (committer or author) + b"\n"
    body += headers + b"\n" + message
    return _hash(repo, "commit", body)


def _hash(repo: Path, kind: str, body: bytes) -> str:
    done = subprocess.run(
        ["git", "hash-object", "-t", kind, "-w", "--literally", "--stdin"],
        cwd=repo,
        input=body,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().strip()


def tree_of(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", f"{rev}^{{tree}}").strip()


def set_branch(repo: Path, sha: str, branch: str = "main") -> None:
    git(repo, "update-ref", f"refs/heads/{branch}", sha)
