"""The Gerrit source on the simulated server (``/gerrit`` context path) and its vote mapping:
authenticated calls under ``/a/`` with HTTP basic auth, anonymous reads without it, the
settings a user gets wrong, a server that is no Gerrit, and what each vote becomes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from forgelens.config import Settings
from forgelens.engine.collect import CollectOptions
from forgelens.errors import AuthError, BadInput, ForgeError
from forgelens.records import Person, Team, TeamMember
from forgelens.sources import gerrit
from forgelens.sources.base import RepoRef
from forgelens.sources.gerrit import _map as m
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve

REF = RepoRef("acme", "service-0")
SIZE = SimSize(repos=1, prs_per_repo=3)


def _source(url: str, settings: Settings, path: str = "/gerrit") -> gerrit.GerritSource:
    opts = CollectOptions(api_url=url + path, extra={"concurrency": 1}, flush_seconds=0.0)
    source = gerrit.from_options(opts, settings=settings)
    source.client._sleep = lambda _s: None
    return source


def test_credentials_are_sent_as_basic_auth_under_a() -> None:
    sim = ForgeSim(generate(1, SIZE), tokens={"http-password"})
    settings = Settings(gerrit_username="ci-reader", gerrit_token="http-password")
    with serve(sim) as url, _source(url, settings) as source:
        pages = list(source.pull_requests(REF, None))
    assert sum(p.items for p in pages) == 3
    assert sim.log
    assert all(path.startswith("/gerrit/a/") for _, path, _ in sim.log)
    assert all(status == 200 for _, _, status in sim.log)


def test_a_rejected_password_is_named_never_shown() -> None:
    sim = ForgeSim(generate(1, SIZE), tokens={"right"})
    settings = Settings(gerrit_username="ci-reader", gerrit_token="wrong-secret-123")
    with serve(sim) as url, _source(url, settings) as source, pytest.raises(AuthError) as err:
        list(source.pull_requests(REF, None))
    assert "GERRIT_TOKEN" in err.value.message
    assert "wrong-secret-123" not in err.value.message
    assert "ci-reader" not in str(err.value)


def test_without_credentials_reads_are_anonymous() -> None:
    sim = ForgeSim(generate(1, SIZE))
    with serve(sim) as url, _source(url, Settings()) as source:
        pages = list(source.pull_requests(REF, None))
        assert "authorization" not in {k.lower() for k in source.client._http.headers}
    assert sum(p.items for p in pages) == 3
    assert sim.log
    assert not [p for _, p, _ in sim.log if p.startswith("/gerrit/a/")]


@pytest.mark.parametrize(
    ("settings", "needs"),
    [
        (Settings(gerrit_username="me"), "set GERRIT_TOKEN"),
        (Settings(gerrit_token="secret"), "set GERRIT_USERNAME"),
    ],
)
def test_half_a_credential_is_refused(settings: Settings, needs: str) -> None:
    opts = CollectOptions(api_url="https://gerrit.example.com")
    with pytest.raises(BadInput, match=needs):
        gerrit.from_options(opts, settings=settings)


def test_an_api_url_is_required() -> None:
    with pytest.raises(BadInput, match="--api-url"):
        gerrit.from_options(CollectOptions(), settings=Settings())


def test_a_server_that_is_no_gerrit_is_named() -> None:
    sim = ForgeSim(generate(1, SIZE))
    with (
        serve(sim) as url,
        _source(url, Settings(), path="/other") as source,
        pytest.raises(ForgeError, match="no Gerrit REST API"),
    ):
        source.repository(REF)


def test_a_prefix_lists_its_projects_and_a_project_is_itself() -> None:
    sim = ForgeSim(generate(1, SimSize(repos=3, prs_per_repo=1)))
    with serve(sim) as url, _source(url, Settings()) as source:
        names = [r.full_name for r in source.list_repositories("acme")]
        assert names == ["acme/service-0", "acme/service-1", "acme/service-2"]
        assert [r.full_name for r in source.list_repositories("acme/service-1")] == [
            "acme/service-1"
        ]
        assert [r.full_name for r in source.list_repositories("gerrit")] == ["gerrit"]


@pytest.mark.parametrize("says_more", [True, False], ids=["_more_projects", "older server"])
def test_project_pages_are_all_read(monkeypatch: pytest.MonkeyPatch, says_more: bool) -> None:
    from forgelens.sources.gerrit import source as gerrit_source
    from forgelens.testing.forge_sim.gerrit import GerritRenderer

    monkeypatch.setattr(gerrit_source, "NAMED_PAGE", 2)
    sim = ForgeSim(generate(1, SimSize(repos=5, prs_per_repo=1)))
    next(r for r in sim.renderers if isinstance(r, GerritRenderer)).more_projects = says_more
    with serve(sim) as url, _source(url, Settings()) as source:
        assert len(source.list_repositories("acme")) == 5


# -- votes ------------------------------------------------------------------------------------
T = "2026-03-02 09:{:02d}:00.000000000"


def _account(aid: int, name: str) -> dict[str, Any]:
    return {"_account_id": aid, "name": name, "email": f"{name.lower()}@example.com"}


def _change(messages: list[tuple[int, int, str]], **extra: Any) -> dict[str, Any]:
    """A change with messages (minute, author id, text)."""
    people = {7: _account(7, "Ann"), 8: _account(8, "Bob"), 9: _account(9, "Ci")}
    return {
        "_number": 5,
        "project": "p",
        "status": "NEW",
        "created": T.format(0),
        "updated": T.format(59),
        "owner": people[7],
        "labels": {"Code-Review": {"values": {"-2": "", "-1": "", " 0": "", "+1": "", "+2": ""}}},
        "messages": [
            {"id": f"m{i}", "author": people[who], "date": T.format(minute), "message": text}
            for i, (minute, who, text) in enumerate(messages)
        ],
        **extra,
    }


def _states(c: dict[str, Any]) -> dict[str, str]:
    return {r.review_id: r.state for r in m.vote_reviews("r", c)}


def test_code_review_values_map_to_review_states_and_other_labels_are_kept_by_name() -> None:
    c = _change(
        [
            (1, 8, "Patch Set 1: Code-Review+2"),
            (2, 8, "Patch Set 1: Code-Review-2\n\nno"),
            (3, 8, "Patch Set 1: Code-Review+1"),
            (4, 8, "Patch Set 1: Code-Review-1"),
            (5, 9, "Patch Set 1: Verified-1 Code-Style+1"),
        ]
    )
    assert _states(c) == {
        "m0:Code-Review+2": "APPROVED",
        "m1:Code-Review-2": "CHANGES_REQUESTED",
        "m2:Code-Review+1": "COMMENTED",
        "m3:Code-Review-1": "COMMENTED",
        "m4:Verified-1": "Verified-1",  # no review state: a CI verdict is no one's review
        "m4:Code-Style+1": "Code-Style+1",
    }


def test_a_plus_two_removed_before_the_submit_never_counts() -> None:
    c = _change(
        [
            (1, 8, "Patch Set 1: Code-Review+2"),
            (2, 7, "Removed Code-Review+2 by Bob <bob@example.com>\n"),
            (3, 9, "Patch Set 1: Verified+1"),
            (4, 9, "Patch Set 1: -Verified"),
            (5, 8, "Patch Set 1: Code-Review-2"),
            (6, 7, "Removed Code-Review-2 by <GERRIT_ACCOUNT_8>"),
        ],
        status="MERGED",
        submitted=T.format(30),
    )
    states = _states(c)
    assert states["m0:Code-Review+2"] == "DISMISSED"  # removed by the owner, named by name
    assert states["m2:Verified+1"] == "Verified+1"  # another label: kept as given
    assert "APPROVED" not in states.values()
    assert states["m4:Code-Review-2"] == "DISMISSED"  # named by the account template


def test_a_vote_removed_after_the_submit_stood_when_it_merged() -> None:
    c = _change(
        [(1, 8, "Patch Set 1: Code-Review+2"), (40, 8, "Patch Set 1: -Code-Review")],
        status="MERGED",
        submitted=T.format(30),
    )
    assert _states(c) == {"m0:Code-Review+2": "APPROVED"}


def test_messages_without_votes_are_comments_and_gerrit_notes_are_not() -> None:
    c = _change(
        [(1, 8, "Patch Set 1:\n\nplease add a test"), (2, 8, "Patch Set 1: Code-Review+1\n\nok")]
    )
    c["messages"].append(
        {
            "id": "n",
            "tag": "autogenerated:gerrit:newPatchSet",
            "date": T.format(3),
            "message": "Uploaded patch set 2.",
        }
    )
    [said] = m.message_comments("r", c)
    assert (said.comment_id, said.body, said.author) == ("m0", "please add a test", "8")


def test_submit_requirements_and_label_functions_are_branch_protection() -> None:
    labels = [
        {"name": "Code-Review", "function": "MaxWithBlock", "copy_condition": "is:MIN"},
        {"name": "Verified", "function": "MaxWithBlock", "branches": ["refs/heads/release"]},
    ]
    old = m.protection("r", "main", labels, [])  # a server before 3.7: label functions
    assert old is not None
    assert (old.required_approvals, old.required_checks, old.dismiss_stale_reviews) == (
        1,
        [],
        True,
    )
    requirements = [
        {"name": "Code-Review", "submittability_expression": "label:Code-Review=MAX,count>=2"},
        {"name": "Code-Owners", "submittability_expression": "has:approval_code-owners"},
    ]
    new = m.protection(
        "r", "release", [{**labels[0], "copy_condition": "is:ANY"}, labels[1]], requirements
    )
    assert new is not None
    assert (new.required_approvals, new.require_code_owner_reviews) == (2, True)
    assert (new.required_checks, new.dismiss_stale_reviews) == (["Verified"], False)
    assert m.protection("r", "main", [{"name": "Code-Review", "function": "NoBlock"}], []) is None


def test_times_are_utc_text_with_nanoseconds() -> None:
    assert m.ts("2013-02-01 09:59:32.126000000") == datetime(
        2013, 2, 1, 9, 59, 32, 126000, tzinfo=UTC
    )
    assert m.ts("2013-02-01 09:59:32") == datetime(2013, 2, 1, 9, 59, 32, tzinfo=UTC)
    assert m.ts("yesterday") is None


def test_every_patch_set_is_stored_with_its_number(tmp_path: Any) -> None:
    """Each revision of a change is a ``pr_commits`` row carrying its patch-set number, the
    numbers Gerrit gave (1 for the first upload), whatever order the revisions come in."""
    from forgelens.store import open_store
    from tests.sources.forgehelp import sync

    s = ForgeSim(generate(5, SimSize(repos=1, prs_per_repo=4, commits=4.0)))
    store = open_store(f"duckdb:///{tmp_path / 'g.duckdb'}")
    with serve(s) as url:
        sync(store, "gerrit", url, "acme/service-0")
    stored = {
        (int(n), str(sha)): p
        for n, sha, p in store.query("SELECT pr_number, sha, patch_set FROM pr_commits")
    }
    store.close()
    want = {
        (pr.number, c.sha): k for pr in s.dataset.repos[0].prs for k, c in enumerate(pr.commits, 1)
    }
    assert stored == want
    assert max(want.values()) > 1  # changes with several patch sets


def test_patch_set_numbers_come_from_the_revisions_not_their_order() -> None:
    change = {
        "_number": 7,
        "revisions": {
            "b" * 40: {"_number": 3, "commit": {"author": {"name": "A", "email": "a@x"}}},
            "a" * 40: {"_number": 1, "commit": {"author": {"name": "A", "email": "a@x"}}},
        },
    }
    got = [(c.sha[0], c.patch_set) for c in m.patch_sets("gerrit:p", change)]
    assert got == [("a", 1), ("b", 3)]  # oldest first; patch set 2 was not asked for


def test_groups_are_teams_with_members_and_included_groups_as_sub_teams() -> None:
    """``/groups/?o=MEMBERS&o=INCLUDES`` as Gerrit documents it: a group's members are
    accounts (keyed by ``_account_id``), an included group is a sub-team of the including
    one, a system group lists no members."""
    admin = {"_account_id": 1000096, "name": "John Doe", "email": "john.doe@example.com"}
    dev = {"_account_id": 1000097, "name": "Jane Roe", "username": "jroe"}
    found = {
        "Administrators": {
            "id": "6a1e70e1a88782771a91808c8af9bbb7a9871389",
            "description": "Gerrit Site Administrators",
            "group_id": 1,
            "owner": "Administrators",
            "members": [admin],
            "includes": [{"id": "e5a1c6a8d4e1f2b3c4d5e6f7a8b9c0d1e2f3a4b5", "name": "Core"}],
        },
        "Core": {
            "id": "e5a1c6a8d4e1f2b3c4d5e6f7a8b9c0d1e2f3a4b5",
            "group_id": 9,
            "members": [dev, admin],
            "includes": [],
        },
        "Registered Users": {"id": "global%3ARegistered-Users", "options": {}},
    }
    out = m.groups("platform", found)
    teams = {t.slug: t for t in out if isinstance(t, Team)}
    assert {k: (t.description, t.parent_slug) for k, t in teams.items()} == {
        "Administrators": ("Gerrit Site Administrators", None),
        "Core": (None, "Administrators"),
        "Registered Users": (None, None),
    }
    members = {(x.team_slug, x.login) for x in out if isinstance(x, TeamMember)}
    assert members == {
        ("Administrators", "1000096"),
        ("Core", "1000097"),
        ("Core", "1000096"),
    }
    people = {p.login: p.name for p in out if isinstance(p, Person)}
    assert people == {"1000096": "John Doe", "1000097": "Jane Roe"}
