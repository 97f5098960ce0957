"""The simulated forge's AI-assisted work: agent PRs, assistant co-authored commits with
several marker spellings, AI reviewers; collected from the GitHub simulator and attributed,
every one is found and nothing else claimed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgelens.analytics.ai_attribution import attribute
from forgelens.analytics.ai_rules import load_rules
from forgelens.engine.collect import collect
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.store import Store
from forgelens.testing.forge_sim import SimSize, generate
from forgelens.testing.forge_sim.dataset import AGENT, AI_REVIEWERS, AI_TRAILERS
from forgelens.testing.forge_sim.git_history import write_git_history
from tests.sources.simhelp import options, running, sim_for


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("forgelens.sources.http.backoff_delay", lambda *a, **k: 0.0)
    monkeypatch.setattr("forgelens.sources.github._base.backoff_delay", lambda *a, **k: 0.0)


def test_the_dataset_has_every_kind_of_ai_work() -> None:
    ds = generate(1, SimSize(repos=3, prs_per_repo=120))
    prs = [p for r in ds.repos for p in r.prs]
    messages = [c.message for p in prs for c in p.commits]
    assert sum(p.author == AGENT for p in prs) >= 5
    for trailer in AI_TRAILERS:
        assert any(m.endswith(trailer) for m in messages), trailer
    assert sum("ai-assisted" in p.labels for p in prs) >= 3
    reviewers = {v.author for p in prs for v in p.reviews}
    assert set(AI_REVIEWERS) <= reviewers
    # the same seed, the same data
    again = generate(1, SimSize(repos=3, prs_per_repo=120))
    assert [c.message for r in again.repos for p in r.prs for c in p.commits] == messages


def test_collected_from_the_simulator_every_ai_pr_found(store: Store) -> None:
    sim = sim_for(SimSize(repos=2, prs_per_repo=60))
    with running(sim) as url:
        collect(store, ["github:acme"], options(url))
    attribute(store, load_rules())
    expected = {}
    for repo in sim.dataset.repos:
        for p in repo.prs:
            if p.author == AGENT:
                expected[(repo.full_name, p.number)] = "autonomous_agent"
            elif any(c.message.endswith(AI_TRAILERS) for c in p.commits) or (
                "ai-assisted" in p.labels
            ):
                expected[(repo.full_name, p.number)] = "assistant_coauthor"
    found = {
        (name, n): mode
        for name, n, mode in store.query(
            "SELECT r.full_name, a.pr_number, a.mode FROM ai_attribution a "
            "JOIN repositories r ON r.id = a.repository_id WHERE a.kind = 'pr'"
        )
    }
    assert expected
    assert found == expected
    ai_reviews = sum(
        v.author in AI_REVIEWERS for r in sim.dataset.repos for p in r.prs for v in p.reviews
    )
    stored = store.query("SELECT count(*) FROM ai_attribution WHERE kind = 'review'")[0][0]
    assert stored == ai_reviews > 0


def test_an_agent_pr_collected_from_the_simulator_counts_for_who_asked_it(store: Store) -> None:
    """Assignees and review requests travel from the simulator (GraphQL) into the store, and
    an agent PR's owner is its human assignee, even when no commit credits them."""
    sim = sim_for(SimSize(repos=2, prs_per_repo=100))  # 5 agent PRs, 4 credit nobody
    with running(sim) as url:
        collect(store, ["github:acme"], options(url))
    attribute(store, load_rules())
    expected, asked = {}, {}
    for repo in sim.dataset.repos:
        for p in repo.prs:
            if p.author == AGENT:
                expected[(repo.full_name, p.number)] = p.assignees[1]
            if p.requested_reviewers:
                asked[(repo.full_name, p.number)] = p.requested_reviewers
    owners = {
        (name, n): owner
        for name, n, owner in store.query(
            "SELECT r.full_name, a.pr_number, a.owner FROM ai_attribution a "
            "JOIN repositories r ON r.id = a.repository_id "
            "WHERE a.kind = 'pr' AND a.mode = 'autonomous_agent'"
        )
    }
    assert len(expected) >= 5
    assert owners == expected
    stored = {
        (name, n): json.loads(v) if isinstance(v, str) else v
        for name, n, v in store.query(
            "SELECT r.full_name, p.number, p.requested_reviewers FROM pull_requests p "
            "JOIN repositories r ON r.id = p.repository_id"
        )
    }
    assert asked
    assert {k: v for k, v in stored.items() if v} == asked


def test_a_squash_merged_pr_keeps_its_commits_attribution_end_to_end(
    store: Store, tmp_path: Path
) -> None:
    """The simulator's squash merges: on the base branch (a real git repository, mined) one
    commit per PR carrying its commits' trailers mid-body; on the forge the PR with its own
    commits (``pr_commits``). Both sides find the same tool; nothing else is claimed."""
    sim = sim_for(SimSize(repos=2, prs_per_repo=100))
    ds = sim.dataset
    with running(sim) as url:
        collect(store, ["github:acme"], options(url))
    paths = [write_git_history(r, tmp_path / f"{r.name}.git", ds) for r in ds.repos]
    collect_git(store, [f"git:{p}" for p in paths], GitCollectOptions())
    attribute(store, load_rules())
    prs = {
        (name, n): tool
        for name, n, tool in store.query(
            "SELECT r.full_name, a.pr_number, a.tool FROM ai_attribution a "
            "JOIN repositories r ON r.id = a.repository_id WHERE a.kind = 'pr'"
        )
    }
    by_message = dict(
        store.query(
            "SELECT c.message, a.tool FROM ai_attribution a JOIN commits c "
            "ON c.repository_id = a.repository_id AND c.sha = a.key WHERE a.kind = 'commit'"
        )
    )
    squashed = [(r, p) for r in ds.repos for p in r.prs if p.squashed]
    marked = [
        (r, p)
        for r, p in squashed
        if p.author == AGENT or any(c.message.endswith(AI_TRAILERS) for c in p.commits)
    ]
    assert len(squashed) > 50
    assert len(marked) >= 10
    for r, p in marked:
        message = p.squash_message()
        assert message in by_message, (r.name, p.number)
        assert by_message[message] == prs[(r.full_name, p.number)], (r.name, p.number)
    claimed = {p.squash_message() for _, p in squashed} & set(by_message)
    assert claimed == {p.squash_message() for _, p in marked}
