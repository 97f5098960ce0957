"""The base branch of a simulated repository as a real git repository, for the git miner.

Each merged PR, in merge order, leaves on ``main`` what GitHub would: a squash merge one commit
authored by the PR's author with GitHub's default squash message (``SimPR.squash_message``: the
PR's commits' messages, their trailers with them, and a ``Co-authored-by`` per other author);
a merge its commits (on a side line from ``main`` as it was) and a ``Merge pull request`` commit.
Each commit writes one file of the PR (``sim/pr-<n>.txt``), a line per commit. The commits'
ids are git's (the simulator's ``pr_commits`` ids are its own: the two never meet, as a squash
merge's never do on GitHub).

    path = write_git_history(repo, tmp / "service-0.git")   # then collect git:<path>
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from forgelens.testing.forge_sim.dataset import EPOCH, Dataset, SimCommit, SimPR, SimRepo

GIT_TIMEOUT = 120  # seconds; a repository of a few thousand commits takes well under one


def _ident(name: str, email: str, at: datetime) -> str:
    return f"{name} <{email}> {int(at.timestamp())} +0000"


def _data(text: str) -> str:
    raw = text.encode()
    return f"data {len(raw)}\n{text}\n"


class _Stream:
    """A ``git fast-import`` stream: commits with marks, each writing one file."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.mark = 0

    def commit(
        self,
        ref: str,
        author: tuple[str, str],
        at: datetime,
        message: str,
        path: str,
        content: str,
        parents: tuple[int, ...] = (),
    ) -> int:
        self.mark += 1
        who = _ident(*author, at)
        lines = [f"commit {ref}", f"mark :{self.mark}", f"author {who}", f"committer {who}"]
        self.parts.append("\n".join(lines) + "\n" + _data(message))
        if parents:
            self.parts.append(f"from :{parents[0]}\n")
            self.parts.extend(f"merge :{p}\n" for p in parents[1:])
        self.parts.append(f"M 100644 inline {path}\n" + _data(content))
        return self.mark


def _merger(ds: Dataset | None, pr: SimPR) -> tuple[str, str]:
    """Who a merge commit is by: who merged the PR."""
    person = ds.person(pr.merged_by) if ds is not None else None
    return (person.name, person.email) if person is not None else _author(ds, pr)


def _author(ds: Dataset | None, pr: SimPR) -> tuple[str, str]:
    """Who a squash or merge commit is by: the PR's author (GitHub keeps an agent as author)."""
    first: SimCommit | None = pr.commits[0] if pr.commits else None
    if pr.author and first is not None and first.author == pr.author:
        return first.author_name, first.author_email
    person = ds.person(pr.author) if ds is not None else None
    if person is not None:
        return person.name, person.email
    if first is not None:
        return first.author_name, first.author_email
    return "ghost", "ghost@users.noreply.github.com"


def write_git_history(repo: SimRepo, path: Path, ds: Dataset | None = None) -> Path:
    """Write ``repo``'s ``main`` as a bare git repository at ``path`` (see the module)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)],
        check=True,
        timeout=GIT_TIMEOUT,
    )
    s = _Stream()
    tip = s.commit(
        "refs/heads/main",
        ("Sim", "sim@example.com"),
        repo.created_at,
        "Initial commit",
        "README.md",
        f"{repo.full_name}\n",
    )
    merged = sorted(
        (p for p in repo.prs if p.state == "merged"), key=lambda p: p.merged_at or EPOCH
    )
    for pr in merged:
        at = pr.merged_at or EPOCH
        file = f"sim/pr-{pr.number}.txt"
        if pr.squashed:
            body = "".join(f"{c.sha}\n" for c in pr.commits)
            tip = s.commit(
                "refs/heads/main", _author(ds, pr), at, pr.squash_message(), file, body, (tip,)
            )
            continue
        side = tip
        for i, c in enumerate(pr.commits):
            body = "".join(f"{x.sha}\n" for x in pr.commits[: i + 1])
            side = s.commit(
                "refs/sim/pr",
                (c.author_name, c.author_email),
                c.authored_at,
                c.message,
                file,
                body,
                (side,),
            )
        title = f"Merge pull request #{pr.number} from {repo.owner}/{pr.head}\n\n{pr.title}"
        who = _merger(ds, pr)
        tip = s.commit(
            "refs/heads/main",
            who,
            at,
            title,
            file,
            "".join(f"{c.sha}\n" for c in pr.commits),
            (tip, side),
        )
    stream = "".join(s.parts) + "done\n"
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=path,
        input=stream.encode(),
        check=True,
        timeout=GIT_TIMEOUT,
    )
    subprocess.run(
        ["git", "update-ref", "-d", "refs/sim/pr"], cwd=path, check=False, timeout=GIT_TIMEOUT
    )
    return path
