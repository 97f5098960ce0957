"""A renamed GitHub account is one author. GitHub keys people by login, which its owner can
rename; every answer after the rename shows the new login only, so PRs collected before it keep
the old one. The account id (REST ``id``, GraphQL ``databaseId``) never changes: people carry it
in ``forge_id`` and identities join the two logins by it, shown under the login seen last.
Payloads are recorded answers (tests/fixtures/recorded/github) through the real mappers."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.engine.collect import collect
from forgelens.sources.github import _map as gh
from forgelens.store import Store
from forgelens.testing.forge_sim import SimSize
from tests.sources.simhelp import options, running, sim_for

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded" / "github"
REPO = "octo-org/hello-world"
REPO_ID = R.repository_id("github", REPO)
OLD, NEW = "octocat", "the-octocat"  # the new login sorts after the old: shown for being newer


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def renamed(actor: dict[str, Any], new_login: str) -> dict[str, Any]:
    out = copy.deepcopy(actor)
    out["login"] = new_login
    return out


def write(store: Store, records: list[Any], version: int) -> None:
    """Records as a collection writes them, at ``version`` (the time of the write)."""
    for table, rows in _by_table(records).items():
        store.upsert(table, [{**dataclasses.asdict(r), "_version": version} for r in rows])


def _by_table(records: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in records:
        out.setdefault(r.TABLE, []).append(r)
    return out


def rest_pr(payload: dict[str, Any], number: int, user: dict[str, Any]) -> list[Any]:
    raw = {**copy.deepcopy(payload), "number": number, "user": user}
    return [gh.pr_rest(REPO_ID, raw), gh.person(user)]


def graphql_pr(node: dict[str, Any], number: int, author: dict[str, Any]) -> list[Any]:
    raw = {**copy.deepcopy(node), "number": number, "author": author}
    return [gh.pr_graphql(REPO_ID, raw), gh.person(author)]


def usernames(store: Store, end: date = date(2024, 3, 31)) -> dict[str, str]:
    """PR author login -> the username ``authors`` and every analytics table show."""
    analyze(store, AnalyzeOptions(end_date=end))
    return {
        str(author): str(user)
        for author, user in store.query(
            "SELECT p.author, m.username FROM pull_requests p "
            "JOIN analytics_identity_map m ON m.alias = 'login:github:' || lower(p.author)"
        )
    }


def repository() -> R.Repository:
    return gh.repo_rest(recorded("repo.json"))


def test_a_renamed_login_is_one_author_shown_by_its_new_login(store: Store) -> None:
    """``octocat`` wrote #1347 (collected by REST before the rename), renamed ``the-octocat``, #1350
    (collected by GraphQL after it): one account id, one author, named ``the-octocat``."""
    pull = recorded("pull-1347.json")
    node = recorded("gql-prs-page1.json")["data"]["repository"]["pullRequests"]["nodes"][0]
    octocat = pull["user"]  # REST: id 583231
    actor = {**node["author"], "databaseId": octocat["id"]}  # GraphQL: the same account
    write(store, [repository(), *rest_pr(pull, 1347, renamed(octocat, OLD))], 1_000)
    write(store, graphql_pr(node, 1350, renamed(actor, NEW)), 2_000)

    names = usernames(store)
    assert names == {OLD: NEW, NEW: NEW}
    authors = [r[0] for r in store.query("SELECT username FROM authors")]
    assert authors == [NEW]
    daily = {r[0] for r in store.query("SELECT DISTINCT username FROM author_metrics_daily")}
    assert daily == {NEW}
    people = dict(store.query("SELECT login, forge_id FROM people"))
    assert people == {OLD: "583231", NEW: "583231"}


def test_a_rename_after_a_first_analysis_moves_every_row_to_the_new_login(store: Store) -> None:
    """Analysed before the rename (one author ``octocat``), then again after it: the rows
    move to ``the-octocat`` and the old login is kept as a previous username."""
    pull = recorded("pull-1347.json")
    write(store, [repository(), *rest_pr(pull, 1347, renamed(pull["user"], OLD))], 1_000)
    assert usernames(store) == {OLD: OLD}

    write(store, rest_pr(pull, 1348, renamed(pull["user"], NEW)), 2_000)
    assert usernames(store) == {OLD: NEW, NEW: NEW}
    assert [r[0] for r in store.query("SELECT username FROM authors")] == [NEW]
    previous = store.query(
        "SELECT CAST(previous_usernames AS VARCHAR) FROM analytics_identity_map "
        "WHERE alias = 'login:github:octocat'"
    )
    assert json.loads(previous[0][0]) == [OLD]


def test_two_accounts_and_the_ghost_stay_apart(store: Store) -> None:
    """Different ids are different people even when nothing else tells them apart, and the
    ``ghost`` (every deleted account, one shared id 10137 on REST) carries no id to join by."""
    pull = recorded("pull-1347.json")
    octocat, hubot = pull["user"], pull["merged_by"]
    ghost = {**copy.deepcopy(octocat), "login": "ghost", "id": 10137}
    assert gh.person(ghost) == R.Person("github", "ghost", avatar_url=octocat["avatar_url"])
    write(
        store,
        [
            repository(),
            *rest_pr(pull, 1, octocat),
            *rest_pr(pull, 2, hubot),
            *rest_pr(pull, 3, ghost),
        ],
        1_000,
    )
    names = usernames(store)
    assert names == {"octocat": "octocat", "hubot": "hubot"}  # the ghost is nobody's
    assert sorted(r[0] for r in store.query("SELECT username FROM authors")) == [
        "hubot",
        "octocat",
    ]


@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_a_rename_between_two_simulated_collections(store: Store, api: str) -> None:
    """Collected from the simulated GitHub, then the author of #1 renames their account and
    edits #1: the next (incremental) run reads #1 under the new login only, the other PRs
    stay stored under the old one -- one author, shown by the new login."""
    sim = sim_for(SimSize(repos=1, prs_per_repo=12, issues_per_repo=0))
    repo = sim.dataset.repos[0]
    humans = Counter(p.author for p in repo.prs if p.author and not p.author.endswith("[bot]"))
    old = humans.most_common(1)[0][0]
    new = f"{old}-renamed"  # sorts after the old login: shown because it is newer
    with running(sim) as url:
        collect(store, [f"github:{repo.full_name}"], options(url, api=api))
        theirs = [p.number for p in repo.prs if p.author == old]
        assert len(theirs) > 1
        sim.dataset.rename_person(old, new)
        sim.dataset.touch_pr(repo.full_name, theirs[0], datetime.now(UTC), "after the rename")
        collect(store, [f"github:{repo.full_name}"], options(url, api=api))
    stored = dict(store.query("SELECT number, author FROM pull_requests"))
    assert stored[theirs[0]] == new
    assert {stored[n] for n in theirs[1:]} == {old}  # not read again: still the old login
    ids = dict(store.query("SELECT login, forge_id FROM people WHERE login IN (?, ?)", [old, new]))
    assert ids[old] == ids[new] == str(sim.dataset.person(new).id)  # type: ignore[union-attr]

    names = usernames(store, end=date(2026, 12, 31))
    assert {names[old], names[new]} == {new}
    authors = {r[0] for r in store.query("SELECT username FROM authors")}
    assert new in authors
    assert old not in authors
