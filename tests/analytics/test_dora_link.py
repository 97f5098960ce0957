"""Linking over the store reader's ``Graph`` (first parents apart from merges, split by Arrow)
links exactly what linking over ``{sha: parents}`` does, whatever the shape of
``commits.parents`` and the order the store returns the rows in."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from forgelens.analytics.dora import _graphs
from forgelens.analytics.dora_link import Deploy, Graph, link
from tests.analytics.test_dora_reference import _sha, history

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _deploys(h: dict, rid: str = "") -> list[Deploy]:
    return [Deploy(rid + d.id, d.env, d.sha, d.status, d.at, d.source, d.kind) for d in h["deps"]]


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 10_000), n_commits=st.integers(0, 40), n_deps=st.integers(0, 14))
def test_a_graph_links_what_the_parents_mapping_links(
    seed: int, n_commits: int, n_deps: int
) -> None:
    h = history(seed, n_commits, n_deps, 0)
    parents = {sha: list(c.parents) for sha, c in h["commits"].items()}
    if parents and seed % 3 == 0:  # a parent that was not mined (shallow history)
        first = next(iter(parents))
        parents[first] = [_sha("not-mined")]
    deploys = _deploys(h)
    assert link(Graph.of(parents), deploys) == link(parents, deploys)


def _text(ps: list[str], shape: str) -> object:
    if shape == "list":
        return ps
    if shape == "escaped" and len(ps) == 2:
        return "[" + ", ".join(json.dumps(p).replace("a", "\\u0061") for p in ps) + "]"
    return json.dumps(ps, separators=(",", ":") if shape == "spaced" else None)


def test_the_reader_splits_every_shape_and_groups_interleaved_repositories() -> None:
    """Two repositories' commits interleaved (a later incremental collection), parents as our
    writers store them, with other spacing, with a JSON escape (the slow path) and as lists
    (PostgreSQL): each repository's graph is its own."""
    rnd = random.Random(3)
    repos = {f"r{k}": history(k, 25, 8, 0) for k in range(2)}
    rows = [(rid, sha, c) for rid, h in repos.items() for sha, c in h["commits"].items()]
    blocks = rows[:10] + rows[25:] + rows[10:25]  # r0's commits in two runs, r1's between
    rnd.shuffle(rows)
    for shape, order in [(s, rows) for s in ("plain", "spaced", "escaped", "list")] + [
        ("plain", blocks)
    ]:
        kind = pa.list_(pa.string()) if shape == "list" else pa.string()
        table = pa.table(
            {
                "repository_id": [r for r, _, _ in order],
                "sha": [s for _, s, _ in order],
                "parents": pa.array([_text(list(c.parents), shape) for _, _, c in order], kind),
                "committed_at": pa.array([c.at for _, _, c in order], pa.timestamp("us", tz="UTC")),
            }
        )
        seen = set()
        for rid, shas, graph, times in _graphs(table):
            seen.add(rid)
            commits = repos[rid]["commits"]
            assert sorted(shas) == sorted(commits)
            assert graph == Graph.of({s: list(commits[s].parents) for s in shas}), shape
            assert times == [(commits[s].at - EPOCH) // timedelta(microseconds=1) for s in shas]
            deploys = _deploys(repos[rid], rid)
            parents = {s: list(c.parents) for s, c in commits.items()}
            assert link(graph, deploys) == link(parents, deploys)
        assert seen == set(repos)
