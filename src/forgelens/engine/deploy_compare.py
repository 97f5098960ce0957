"""Commit ancestry from a forge's compare API, for repositories that are not mined locally.

Linking (``analytics/dora_link.py``) walks ``commits.parents``. When a deployment's sha is not
among the commits mined from a local clone, the forge is asked for ``previous...sha`` -- the
previous successful deployment to the same environment (time order, as linking orders them)
and this one -- and the commits it lists are written to ``commits`` with their parents
(``_source = 'compare'``; no line counts), together with the base commit. Linking then works
unchanged: the first deployment of an environment stays the baseline (never compared: it links
nothing), each later one links what its comparison listed.

Each pair is asked once: ``deployment_compares`` records the answer (how many commits the forge
counts, how many it listed, ``truncated`` when fewer; or ``error`` for a sha the forge no
longer has), so an unchanged repository costs no request here, and the next run asks only for
deployments new since (and again for a pair whose comparison failed otherwise, e.g. a 5xx).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forgelens.errors import ForgeError, NotFound
from forgelens.logs import get_logger
from forgelens.sources.base import COMPARE, CompareSource, RepoRef
from forgelens.store import Store

log = get_logger(__name__)


@dataclass
class _Pending:
    """What the store already answers: mined shas, compared pairs, the compare graph."""

    mined: set[str]
    done: set[tuple[str, str]]
    graph: dict[str, list[str]]
    pairs: list[tuple[str, str, str]]  # (base, head, deployment id), in deployment time order

    def needed(self, base: str, head: str) -> bool:
        """Not answered yet, by a compare of this pair or by earlier answers that hold the
        whole range (another environment that deployed the same commits)."""
        return (base, head) not in self.done and not _reaches(self.graph, head, base)

    def learn(self, commits: list[Any]) -> None:
        for c in commits:
            self.graph[c.sha] = list(c.parents)


def pending(store: Store, repo_id: str) -> _Pending:
    """Consecutive successful deployments of each environment (``base``: the one before)
    whose head is not mined locally; the first of each environment, the baseline, is none."""
    mined = {
        str(r[0])
        for r in store.query(
            "SELECT c.sha FROM commits c JOIN deployments d "
            "ON d.repository_id = c.repository_id AND d.sha = c.sha "
            "WHERE c.repository_id = ? AND (c._source IS NULL OR c._source <> ?)",
            [repo_id, COMPARE],
        )
    }
    done = {
        (str(b), str(h))
        for b, h in store.query(
            "SELECT base_sha, head_sha FROM deployment_compares WHERE repository_id = ?",
            [repo_id],
        )
    }
    graph = {
        str(sha): _parents(parents)
        for sha, parents in store.query(
            "SELECT sha, parents FROM commits WHERE repository_id = ? AND _source = ?",
            [repo_id, COMPARE],
        )
    }
    timed: list[tuple[Any, str, str, str]] = []
    previous: dict[str, str] = {}
    for dep_id, env, sha, at in store.query(
        "SELECT deployment_id, environment, sha, COALESCE(finished_at, created_at) "
        "FROM deployments WHERE repository_id = ? AND status = 'success' AND sha IS NOT NULL "
        "ORDER BY environment, COALESCE(finished_at, created_at), deployment_id",
        [repo_id],
    ):
        env, sha = str(env or "production"), str(sha)
        base = previous.get(env)
        previous[env] = sha
        if base is None or base == sha or sha in mined:
            continue  # the baseline, a re-deploy, or a mined commit
        timed.append((at, str(dep_id), base, sha))
    timed.sort(key=lambda t: (t[0], t[1]))  # staging's answer may serve production's later
    return _Pending(mined, done, graph, [(b, h, d) for _at, d, b, h in timed])


def link_by_compare(
    store: Store,
    source: CompareSource,
    ref: RepoRef,
    repo_id: str,
    add: Callable[..., None] | None = None,
) -> int:
    """Ask the forge for each pair still needed; return the commits written."""
    todo = pending(store, repo_id)
    written = 0
    for base, head, dep_id in todo.pairs:
        if not todo.needed(base, head):
            continue
        todo.done.add((base, head))
        row: dict[str, Any] = {
            "repository_id": repo_id,
            "base_sha": base,
            "head_sha": head,
            "deployment_id": dep_id,
            "compared_at": datetime.now(UTC),
        }
        commits: list[Any] = []
        try:
            known = base in todo.graph or base in todo.mined
            found = source.compare(ref, base, head, need_base=not known)
        except (NotFound, ForgeError) as exc:  # the forge's answer after the client's retries
            log.warning("compare failed", repository=ref.full_name, base=base, head=head)
            if add is not None:
                add(errors=1)
            if not isinstance(exc, NotFound):
                continue  # e.g. a 5xx or a timeout on a huge range: asked again next run
            # a sha the forge no longer has (a force push): recorded, never asked again
            row.update(status="error", total_commits=0, listed_commits=0, truncated=False)
            row["error"] = exc.message[:500]
        else:
            commits = [*found.commits, *([found.base] if found.base is not None else [])]
            row.update(
                status=found.status or None,
                total_commits=found.total,
                listed_commits=len(found.commits),
                truncated=found.truncated,
                error=None,
            )
            if found.truncated:
                log.warning(
                    "compare truncated",
                    repository=ref.full_name,
                    base=base,
                    head=head,
                    listed=len(found.commits),
                    total=found.total,
                )
        fresh = _unmined(store, repo_id, commits) if commits else []
        with store.transaction():
            if fresh:
                store.write_records(fresh, source=COMPARE)
            store.upsert("deployment_compares", [row], source=COMPARE)
        todo.learn(fresh)
        written += len(fresh)
    return written


def _parents(value: Any) -> list[str]:
    """``commits.parents``: JSON text (DuckDB, ClickHouse) or a list (PostgreSQL)."""
    if isinstance(value, str):
        return [str(p) for p in json.loads(value or "[]")]
    return [str(p) for p in value or []]


def _reaches(graph: dict[str, list[str]], head: str, base: str) -> bool:
    """Whether ``base`` is an ancestor of ``head`` through commits already stored."""
    if head not in graph or base not in graph:
        return False
    seen = {head}
    stack = [head]
    while stack:
        for p in graph.get(stack.pop(), ()):
            if p == base:
                return True
            if p not in seen and p in graph:
                seen.add(p)
                stack.append(p)
    return False


def _unmined(store: Store, repo_id: str, commits: list[Any]) -> list[Any]:
    """The commits not already mined locally (a mined row, with its line counts, wins)."""
    shas = sorted({c.sha for c in commits})
    marks = ", ".join("?" for _ in shas)
    mined = {
        str(r[0])
        for r in store.query(
            f"SELECT sha FROM commits WHERE repository_id = ? AND sha IN ({marks}) "
            "AND (_source IS NULL OR _source <> ?)",
            [repo_id, *shas, COMPARE],
        )
    }
    seen: set[str] = set()
    out = []
    for c in commits:
        if c.sha not in mined and c.sha not in seen:
            seen.add(c.sha)
            out.append(c)
    return out
