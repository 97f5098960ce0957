"""Commits of a forge's compare answer (``base...head``) as ``records.Commit`` rows with their
parents: what deployment linking needs when a repository is not mined locally. GitHub and
Gitea / Forgejo list commits in the same shape (``sha``, ``commit.author`` / ``committer`` with
name, email and date, ``commit.message``, ``author.login``, ``parents[].sha``); neither sends
per-commit line counts there, so ``additions`` / ``deletions`` stay unknown (None) and
``files_changed`` 0 until the repository is mined.
"""

from __future__ import annotations

from typing import Any

from forgelens.records import Commit
from forgelens.sources._forge_common import ts


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def compare_commit(repo_id: str, c: Any) -> Commit:
    """One listed commit; ``ValueError`` without a sha."""
    if not isinstance(c, dict) or not isinstance(c.get("sha"), str) or not c["sha"]:
        raise ValueError("commit without sha")
    git = _obj(c, "commit")
    author, committer = _obj(git, "author"), _obj(git, "committer")
    parents = [
        str(p["sha"]).lower()
        for p in c.get("parents") or []
        if isinstance(p, dict) and isinstance(p.get("sha"), str)
    ]
    account = _obj(c, "author")
    login = account.get("login") or account.get("username")
    return Commit(
        repository_id=repo_id,
        sha=c["sha"].lower(),
        author_name=author.get("name"),
        author_email=author.get("email"),
        authored_at=ts(author.get("date")),
        committer_name=committer.get("name"),
        committer_email=committer.get("email"),
        committed_at=ts(committer.get("date")) or ts(author.get("date")),
        message=str(git.get("message") or ""),
        additions=None,
        deletions=None,
        files_changed=0,
        is_merge=len(parents) > 1,
        parents=parents,
        author_login=login if isinstance(login, str) and login else None,
    )


def compare_commits(repo_id: str, items: list[Any]) -> list[Commit]:
    """The listed commits that can be read (one without a sha is left out: linking stops
    there as it does at any commit it does not know)."""
    out = []
    for c in items:
        try:
            out.append(compare_commit(repo_id, c))
        except ValueError:
            continue
    return out
