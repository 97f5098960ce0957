"""Deployments linked to the commits they shipped, by git ancestry (pure functions).

A commit belongs to the FIRST successful deployment to an environment whose sha contains it
(is the sha or one of its ancestors). Per repository and environment, the successful deployments
are taken in time order and the ancestors of each sha are walked, stopping at commits an earlier
deployment already shipped: each commit is visited once per environment, whatever the number of
deployments. So a backport on a maintenance line links to the release that carried it, and a
re-deploy of an older sha (a rollback) links nothing.

The first successful deployment per environment whose sha is in the mined graph is the
**baseline**: its history counts as shipped before we started looking, and it links no changes
(partial history never turns into months of lead time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

SUCCESS = "success"
FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Deploy:
    """One deployment as the analytics see it."""

    id: str
    environment: str
    sha: str
    status: str  # success | failure | in_progress | canceled | ...
    at: datetime  # finished_at, else created_at
    source: str = ""
    kind: str = "other"  # production | staging | other


@dataclass
class Links:
    """What linking found, per deployment id."""

    commits: dict[str, list[str]] = field(default_factory=dict)  # shipped commits
    baseline: set[str] = field(default_factory=set)
    rollback_of: dict[str, str] = field(default_factory=dict)  # rollback id -> rolled-back id
    # environment -> {sha: deployment id that shipped it}; baseline history maps to the baseline
    shipped_by: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Graph:
    """A commit graph as linking walks it: each mined commit's only parent (None for a root
    or a merge) and the parents of the merges. A parent that was not mined is skipped by the
    walk. Built by the store reader without a list per commit (``dora._graphs``); ``of``
    builds it from ``{sha: parents}``."""

    first: dict[str, str | None]
    rest: dict[str, list[str]]  # merges: every parent

    @classmethod
    def of(cls, parents: Mapping[str, Sequence[str]]) -> Graph:
        first: dict[str, str | None] = {}
        rest: dict[str, list[str]] = {}
        for sha, ps in parents.items():
            first[sha] = ps[0] if len(ps) == 1 else None
            if len(ps) > 1:
                rest[sha] = list(ps)
        return cls(first, rest)


def order_key(d: Deploy) -> tuple[datetime, str]:
    return (d.at, d.id)


def by_environment(deploys: Iterable[Deploy]) -> dict[str, list[Deploy]]:
    """Deployments per environment, each list in time order (ties by id)."""
    out: dict[str, list[Deploy]] = {}
    for d in deploys:
        out.setdefault(d.environment, []).append(d)
    for items in out.values():
        items.sort(key=order_key)
    return out


def link(parents: Mapping[str, Sequence[str]] | Graph, deploys: Iterable[Deploy]) -> Links:
    """Link every successful deployment of one repository to the commits it shipped.

    ``parents`` maps each mined commit to its parents (or is a ``Graph``); a deployment whose
    sha is not in it links nothing (and is not a baseline).
    """
    out = Links()
    mined: Mapping[str, object] = parents.first if isinstance(parents, Graph) else parents
    for env, items in by_environment(d for d in deploys if d.status == SUCCESS).items():
        owner: dict[str, str] = {}
        out.shipped_by[env] = owner
        previous: Deploy | None = None
        known = False  # has a deployment with a mined sha been seen in this environment
        for d in items:
            if d.sha not in mined:
                out.commits[d.id] = []
                previous = d
                continue
            if d.sha in owner:
                out.commits[d.id] = []
                if previous is not None and previous.sha != d.sha:
                    out.rollback_of[d.id] = previous.id
            else:
                if isinstance(parents, Graph):
                    shipped = _walk_graph(d.sha, parents, owner, d.id)
                else:
                    shipped = _walk(d.sha, parents, owner, d.id)
                if not known:
                    out.baseline.add(d.id)
                    shipped = []
                out.commits[d.id] = shipped
            known = True
            previous = d
    return out


def _walk(
    start: str, parents: Mapping[str, Sequence[str]], owner: dict[str, str], dep_id: str
) -> list[str]:
    """Commits reachable from ``start`` not yet shipped; marks them shipped by ``dep_id``."""
    owner[start] = dep_id
    stack = [start]
    found: list[str] = []
    pop, push, note, known = stack.pop, stack.append, found.append, parents.get
    while stack:
        sha = pop()
        note(sha)
        for p in known(sha, ()):
            if p not in owner and p in parents:
                owner[p] = dep_id
                push(p)
    return found


def _walk_graph(start: str, graph: Graph, owner: dict[str, str], dep_id: str) -> list[str]:
    """``_walk`` over a ``Graph``: one lookup for a commit with one parent, two for others."""
    owner[start] = dep_id
    stack = [start]
    found: list[str] = []
    pop, push, note = stack.pop, stack.append, found.append
    first, rest = graph.first, graph.rest
    while stack:
        sha = pop()
        note(sha)
        p = first[sha]
        if p is None:
            for p in rest.get(sha, ()):
                if p not in owner and p in first:
                    owner[p] = dep_id
                    push(p)
        elif p not in owner and p in first:
            owner[p] = dep_id
            push(p)
    return found
