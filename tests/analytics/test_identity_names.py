"""Who ``authors`` shows for forges that key people by an account id (Bitbucket Cloud's
``account_id``, Gerrit's ``_account_id``, Gitea's ``id``): the name the forge shows, never the
id; the id stays the key in every collected table. People read from recorded answers through
each forge's own mapper."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources.gerrit import _map as gerrit
from forgelens.sources.gitea import _map as gitea
from forgelens.store import Store

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BB = R.repository_id("bitbucket", "lab/app")
GR = R.repository_id("gerrit", "gerrit")
GT = R.repository_id("gitea", "lab/forge-scripts")
GH = R.repository_id("github", "lab/app")


def recorded(forge: str, name: str) -> Any:
    text = (RECORDED / forge / name).read_text(encoding="utf-8")
    return json.loads(text.removeprefix(")]}'"))  # Gerrit's guard line


def repos() -> list[R.Repository]:
    return [
        R.Repository(id=BB, source="bitbucket", full_name="lab/app", name="app"),
        R.Repository(id=GR, source="gerrit", full_name="gerrit", name="gerrit"),
        R.Repository(id=GT, source="gitea", full_name="lab/forge-scripts", name="forge-scripts"),
        R.Repository(id=GH, source="github", full_name="lab/app", name="app"),
    ]


def pr(repo: str, number: int, author: str | None) -> R.PullRequest:
    return R.PullRequest(
        repository_id=repo,
        number=number,
        title=f"change {number}",
        state="merged",
        created_at=T0,
        updated_at=T0,
        author=author,
        merged_at=T0,
    )


def authored(repo: str, number: int, person: R.Person | None) -> list[Any]:
    assert person is not None
    return [person, pr(repo, number, person.login)]


def shown(store: Store) -> dict[str, str]:
    """PR author key -> the username ``authors`` and every analytics table show."""
    analyze(store, AnalyzeOptions(end_date=date(2026, 3, 31)))
    return {
        str(author): str(user)
        for author, user in store.query(
            "SELECT p.author, m.username FROM pull_requests p JOIN repositories r "
            "ON r.id = p.repository_id JOIN analytics_identity_map m "
            "ON m.alias = 'login:' || r.source || ':' || lower(p.author)"
        )
    }


def test_people_keyed_by_an_account_id_are_shown_by_name(store: Store) -> None:
    alice = recorded("bitbucket_cloud", "prs-page1.json")["values"][0]["author"]
    owner = recorded("gerrit", "change-246332.json")["owner"]
    mira = recorded("gitea", "pulls-p1.json")[0]["user"]
    store.write_records(
        [
            *repos(),
            *authored(BB, 1, bb.cloud_person(alice)),
            *authored(GR, 2, gerrit.person(owner)),
            *authored(GT, 3, gitea.person(mira)),
        ]
    )
    names = shown(store)
    # the key stays the id ...
    assert set(names) == {alice["account_id"], str(owner["_account_id"]), str(mira["id"])}
    # ... the name shown is the forge's display name (the nickname / login when it has none)
    assert names[alice["account_id"]] == "Alice Nguyễn"
    assert names[str(owner["_account_id"])] == "Paladox none"
    assert names[str(mira["id"])] == "Mira Kowalski"
    authors = {r[0] for r in store.query("SELECT username FROM authors")}
    assert authors == {"Alice Nguyễn", "Paladox none", "Mira Kowalski"}
    daily = {r[0] for r in store.query("SELECT DISTINCT username FROM author_metrics_daily")}
    assert daily == authors


def test_a_nickname_shown_when_there_is_no_display_name(store: Store) -> None:
    user = {"account_id": "557058:ffff", "nickname": "teoiaoe", "type": "user"}
    store.write_records([*repos(), *authored(BB, 1, bb.cloud_person(user))])
    assert shown(store) == {"557058:ffff": "teoiaoe"}


def test_two_people_of_one_name_stay_two_authors(store: Store) -> None:
    """A display name (or a Bitbucket nickname) is no key: two accounts that share one are
    told apart by their forge key, and neither takes the username of a login elsewhere."""
    one = {"account_id": "557058:aaaa", "display_name": "Sam Lee", "nickname": "sam"}
    two = {"account_id": "557058:bbbb", "display_name": "Sam Lee", "nickname": "sam"}
    login_alike = {"_account_id": 1000007, "name": "octo"}  # shown as a GitHub login reads
    store.write_records(
        [
            *repos(),
            *authored(BB, 1, bb.cloud_person(one)),
            *authored(BB, 2, bb.cloud_person(two)),
            *authored(GR, 3, gerrit.person(login_alike)),
            pr(GH, 4, "octo"),
        ]
    )
    names = shown(store)
    assert names["557058:aaaa"] == "Sam Lee (bitbucket:557058:aaaa)"
    assert names["557058:bbbb"] == "Sam Lee (bitbucket:557058:bbbb)"
    assert names["1000007"] == "octo (gerrit:1000007)"
    assert names["octo"] == "octo"  # a login keeps its name
    assert len({*names.values()}) == 4


def test_an_account_id_merged_with_a_login_is_shown_by_the_login(store: Store) -> None:
    """One engineer on Gitea (keyed by id) and GitHub (by login), one address: one author,
    named by the login."""
    mira = recorded("gitea", "pulls-p1.json")[0]["user"]
    person = gitea.person(mira)
    assert person is not None
    store.write_records(
        [
            *repos(),
            *authored(GT, 1, person),
            R.Person("github", "mira-k", email=person.email),
            pr(GH, 2, "mira-k"),
        ]
    )
    assert shown(store) == {str(mira["id"]): "mira-k", "mira-k": "mira-k"}
