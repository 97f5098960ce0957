"""The Bitbucket Cloud source against recorded API 2.0 answers: ``next`` links (cursor ``ctx``
on activity), fractional seconds with offsets, team and app accounts, a PR from a deleted fork,
a 429 without any header, a truncated body, and pipelines pages that carry no ``next``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from forgelens.errors import ForgeError
from forgelens.records import (
    CiRun,
    Comment,
    Deployment,
    Person,
    PrCommit,
    PrFile,
    PullRequest,
    Review,
)
from forgelens.sources.base import RepoRef
from forgelens.sources.bitbucket_cloud import BitbucketCloudBackfill
from tests.sources.recordedhelp import RECORDED, replayed

REF = RepoRef("acme-ws", "web-app")
PRS = "/2.0/repositories/acme-ws/web-app/pullrequests"
APP_ID = "712020:cafe0000-3333-4444-5555-666666666666"
ALICE = "557058:0a1b2c3d-aaaa-4bbb-8ccc-111111111111"  # nickname "alice"
BOB = "557058:0a1b2c3d-bbbb-4bbb-8ccc-222222222222"  # nickname "Bob Marley"
TEAM = "{dddd0000-4444-4a2b-9c3d-0e1f2a3b4c5d}"  # the team account acme-ws (no account id)


def _pull_requests() -> tuple[list[Any], list[Any], Any]:
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    return [r for p in pages for r in p.records], pages, replay


def test_repository_and_branch_restrictions() -> None:
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        snap = source.repository(REF)
        assert list(source.issues(snap.ref, None)) == []  # has_issues: false
    assert replay.unmatched == []
    repo = snap.repository
    assert (repo.owner, repo.default_branch, repo.language) == ("acme-ws", "main", "typescript")
    assert repo.created_at == datetime(2019, 5, 2, 14, 1, 9, 771253, tzinfo=UTC)
    [protection] = snap.records
    assert protection.required_approvals == 2
    assert protection.allow_force_pushes is False


def test_pull_requests_over_pages_with_a_bare_429_and_a_truncated_body() -> None:
    records, pages, replay = _pull_requests()
    prs = {r.number: r for r in records if isinstance(r, PullRequest)}
    assert list(prs) == [13, 12, 9]
    assert replay.hits(PRS, page="2") == 2  # 429 without Retry-After, then the page
    assert replay.hits(f"{PRS}/13/activity") == 2  # a truncated JSON body is read again
    assert sum(p.errors for p in pages) == 0

    merged = prs[12]
    assert merged.state == "merged"
    assert merged.merged_by == ALICE
    assert merged.merged_at == datetime(2024, 3, 6, 10, 30, 0, 654321, tzinfo=UTC)
    assert merged.closed_at == merged.merged_at
    assert merged.body is None or merged.body == ""
    draft = prs[13]
    assert draft.draft
    assert draft.state == "open"
    assert draft.closed_at is None
    assert draft.body is not None
    assert len(draft.body) > 28_000  # a long body arrives whole
    assert draft.body.endswith("make a long body.\n")
    assert "支付" in draft.body
    assert (draft.additions, draft.deletions, draft.changed_files, draft.commits) == (122, 77, 4, 2)
    declined = prs[9]
    assert declined.state == "closed"
    assert declined.merged_by is None
    assert declined.closed_at == datetime(2024, 2, 21, 12, 0, tzinfo=UTC)
    assert declined.author == TEAM  # a team account has a uuid and a username, no account id


def test_reviews_comments_files_commits() -> None:
    records, _, _ = _pull_requests()
    reviews = sorted((r.pr_number, r.author, r.state) for r in records if isinstance(r, Review))
    assert reviews == [(12, ALICE, "APPROVED"), (13, BOB, "CHANGES_REQUESTED")]
    comments = {c.comment_id: c for c in records if isinstance(c, Comment)}
    assert set(comments) == {"501", "601", "602"}  # #12's second activity page too
    inline = comments["501"]
    assert (inline.kind, inline.path, inline.line) == ("review", "package.json", 27)
    assert inline.created_at == datetime(2024, 3, 5, 7, 0, 0, 500000, tzinfo=UTC)
    assert inline.created_at.utcoffset() == timedelta(0)
    assert comments["601"].deleted_at == datetime(2024, 3, 6, 12, 30, tzinfo=UTC)
    files = {f.path: f for f in records if isinstance(f, PrFile) and f.pr_number == 13}
    assert files["src/checkout/OldForm.tsx"].change_type == "deleted"
    assert files["src/checkout/form.css"].old_path == "src/styles/form.css"
    assert (files["public/logo.png"].additions, files["public/logo.png"].deletions) == (0, 0)
    commits = {c.sha[:4]: c for c in records if isinstance(c, PrCommit) and c.pr_number == 13}
    assert commits["1a2b"].author_login == ALICE
    assert commits["1a2b"].author_email == "alice@example.com"
    assert commits["1a2b"].authored_at == datetime(
        2024, 3, 7, 8, 40, tzinfo=timezone(timedelta(hours=1))
    )
    assert (commits["0f1e"].author_name, commits["0f1e"].author_email) == ("alice", None)


def test_a_pull_request_from_a_deleted_fork_keeps_what_is_left() -> None:
    """``source.repository`` is null and diffstat / commits answer 404: the PR, its activity
    and its people stay; its size and commit count are unknown."""
    records, pages, _ = _pull_requests()
    declined = next(r for r in records if isinstance(r, PullRequest) and r.number == 9)
    assert (declined.changed_files, declined.commits, declined.additions) == (None, None, None)
    assert sum(p.items for p in pages) == 3


def test_an_app_account_without_nickname_keeps_its_pull_requests_author() -> None:
    """App users (``type: app_user``, Bitbucket 2023) have no nickname nor username: they
    are named by their account id, and are bots."""
    records, _, _ = _pull_requests()
    merged = next(r for r in records if isinstance(r, PullRequest) and r.number == 12)
    assert merged.author == APP_ID
    people = {p.login: p for p in records if isinstance(p, Person)}
    assert people[APP_ID].is_bot
    assert people[APP_ID].name == "Renovate Bot"
    assert not people[ALICE].is_bot
    assert (people[ALICE].name, people[ALICE].forge_id) == ("Alice Nguyễn", ALICE)
    assert people[TEAM].name == "ACME Workspace"


def test_pipelines_pages_without_next_are_all_read() -> None:
    """Bitbucket Cloud's pipelines list sends ``page``/``pagelen``/``size`` but no ``next``
    (BCLOUD-20639; atlassian-python-api#740): the pages ``size`` announces are read."""
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        pages = list(source.ci_runs(REF, None))
    assert replay.unmatched == []
    runs = {r.run_id: r for p in pages for r in p.records if isinstance(r, CiRun)}
    assert list(runs) == ["58", "57", "56"]
    assert (runs["58"].status, runs["58"].conclusion, runs["58"].completed_at) == (
        "in_progress",
        None,
        None,
    )
    assert runs["56"].conclusion == "failure"
    assert runs["57"].completed_at == datetime(2024, 3, 6, 10, 35, 40, 100000, tzinfo=UTC)
    assert replay.hits("/2.0/repositories/acme-ws/web-app/pipelines/", page="2") == 1


def test_a_next_link_back_to_the_same_page_is_an_error_not_a_loop() -> None:
    """Bitbucket Cloud's ``next`` "can be missing or wrong": one that leads back to a page
    already read stops the pass with an error instead of requesting it forever."""
    looping = {
        "path": "/2.0/repositories/acme-ws/web-app/pullrequests/12/commits",
        "responses": [
            {
                "text": '{"pagelen": 10, "values": [], "next": '
                '"{base}/2.0/repositories/acme-ws/web-app/pullrequests/12/commits?pagelen=100"}'
            }
        ],
    }
    with (
        replayed("bitbucket_cloud", "bitbucket", [looping]) as (source, replay),
        pytest.raises(ForgeError, match="same page"),
    ):
        list(source.pull_requests(REF, None))
    assert replay.hits(f"{PRS}/12/commits") == 2


def test_an_incremental_pass_filters_with_an_offset_bitbucket_can_parse() -> None:
    """BBQL refuses a ``Z`` ("Invalid filter query expression: Illegal character in input:
    'Z'", bitbucket.org/site/master/issues/15967): the watermark goes as ``+00:00``."""
    since = datetime(2024, 3, 5, 0, 0, tzinfo=UTC)
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        pages = list(source.pull_requests(REF, since))
    prs = [r.number for p in pages for r in p.records if isinstance(r, PullRequest)]
    assert prs == [13, 12]
    first = next(q for _, p, q, _ in replay.log if p == PRS)  # the next links carry it on
    assert first["q"] == "updated_on >= 2024-03-05T00:00:00+00:00"


def test_a_backfill_window_filters_with_offsets_too() -> None:
    since = datetime(2024, 1, 1, tzinfo=UTC)
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        BitbucketCloudBackfill(source).pull_request_chunk(
            REF, "2024-03-06T10:30:00.654321Z", 2, since
        )
    first = next(q for _, p, q, _ in replay.log if p == PRS)
    assert first["q"] == (
        "updated_on >= 2024-01-01T00:00:00+00:00 AND updated_on <= 2024-03-06T10:30:00.654321+00:00"
    )


def _user(account_id: str, nickname: str, display: str) -> dict[str, Any]:
    uuid = "{" + account_id.rsplit(":", 1)[-1] + "}"
    return {
        "type": "user",
        "account_id": account_id,
        "uuid": uuid,
        "nickname": nickname,
        "display_name": display,
    }


def _activity_comment(cid: int, user: dict[str, Any]) -> dict[str, Any]:
    when = "2024-02-21T11:00:00+00:00"
    comment = {
        "id": cid,
        "content": {"raw": f"comment {cid}"},
        "user": user,
        "created_on": when,
        "updated_on": when,
    }
    return {"comment": comment, "pull_request": {"type": "pullrequest", "id": 9}}


def test_people_are_keyed_by_account_id_not_by_nickname() -> None:
    """A nickname is neither unique nor stable (Atlassian: ``account_id`` is the key): one
    account seen under two nicknames is one person, two accounts sharing a nickname are two,
    and the display name is what is shown."""
    other = "557058:0a1b2c3d-cccc-4bbb-8ccc-333333333333"
    activity = {
        "pagelen": 50,
        "values": [
            _activity_comment(901, _user(ALICE, "alice-n", "Alice Nguyễn")),  # renamed nickname
            _activity_comment(902, _user(other, "alice", "Alice Other")),  # alice's old nickname
        ],
    }
    extra = [{"path": f"{PRS}/9/activity", "responses": [{"text": json.dumps(activity)}]}]
    with replayed("bitbucket_cloud", "bitbucket", extra) as (source, replay):
        records = [r for p in source.pull_requests(REF, None) for r in p.records]
    assert replay.unmatched == []
    authors = {c.comment_id: c.author for c in records if isinstance(c, Comment)}
    assert (authors["901"], authors["902"]) == (ALICE, other)
    people: dict[str, set[Any]] = {}
    for p in records:
        if isinstance(p, Person):
            people.setdefault(p.login, set()).add(p.name)
    assert people[ALICE] == {"Alice Nguyễn"}
    assert people[other] == {"Alice Other"}
    assert not {"alice", "alice-n", "Bob Marley"} & set(people)


def test_an_approval_withdrawn_is_dismissed() -> None:
    """Bitbucket Cloud's activity lists an approval, the pull request's ``participants`` say
    it no longer stands (``approved: false``): the approval is DISMISSED. The listing asks
    for the participants, which it leaves out by default."""
    page = json.loads((RECORDED / "bitbucket_cloud" / "prs-page1.json").read_text("utf-8"))
    for pr in page["values"]:
        if pr["id"] == 12:
            pr["participants"] = [
                {
                    "type": "participant",
                    "role": "REVIEWER",
                    "approved": False,
                    "state": None,
                    "user": _user(ALICE, "alice", "Alice"),
                }
            ]
    listing = {"sort": "-updated_on", "fields": "+values.participants"}
    extra = [
        {"path": PRS, "query": listing, "responses": [{"text": json.dumps(page)}]},
        {"path": PRS, "query": {"page": "2"}, "responses": [{"body": "prs-page2.json"}]},
    ]
    with replayed("bitbucket_cloud", "bitbucket", extra) as (source, replay):
        records = [r for p in source.pull_requests(REF, None) for r in p.records]
    assert replay.unmatched == []
    assert replay.hits(PRS, fields="+values.participants") == 1
    reviews = sorted((r.pr_number, r.author, r.state) for r in records if isinstance(r, Review))
    assert reviews == [(12, ALICE, "DISMISSED"), (13, BOB, "CHANGES_REQUESTED")]


def test_deployments_with_environment_types_and_every_state() -> None:
    """Two ``next`` pages newest start first: an UNDEPLOYED step (never ran: not kept), one in
    progress, a success to "EU live" (type Production), a stopped one to Test, a failed one by
    the Pipelines app user; no ``last_update_time``: the completion (else the start) is the
    change time. The environments are read once."""
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        pages = list(source.deployments(REF, None))
    assert replay.unmatched == []
    assert replay.hits("/2.0/repositories/acme-ws/web-app/environments/") == 1
    got = {r.deployment_id[-3:-1]: r for p in pages for r in p.records if isinstance(r, Deployment)}
    assert sum(p.errors for p in pages) == 0
    assert {k: (d.status, d.environment, d.environment_kind) for k, d in got.items()} == {
        "13": ("in_progress", "Staging", "staging"),
        "12": ("success", "EU live", "production"),
        "11": ("canceled", "Test", "other"),
        "10": ("failure", "EU live", "production"),
    }
    ok = got["12"]
    assert ok.deployment_id == "bitbucket:{d0000000-0000-4000-8000-000000000012}"
    assert ok.created_at == datetime(2024, 3, 6, 10, 0, 5, 500000, tzinfo=UTC)
    assert ok.finished_at == datetime(2024, 3, 6, 10, 4, 41, 250000, tzinfo=UTC)
    assert (ok.sha, ok.ref, ok.creator) == ("3" * 40, None, "557058:dana-0042")
    assert (
        ok.url == "https://bitbucket.org/acme-ws/web-app/addon/pipelines/home#!/results/112/steps"
    )
    assert got["13"].finished_at is None
    assert got["10"].creator == "{a0000000-0000-4000-8000-000000000001}"  # an app user: its uuid
    people = {p.login: p for page in pages for p in page.records if isinstance(p, Person)}
    assert people["{a0000000-0000-4000-8000-000000000001}"].is_bot


def test_an_incremental_deployments_pass_stops_a_day_before_the_watermark() -> None:
    """Only what changed after the watermark is kept; the listing stops on the page that
    reaches deployments started more than a day before the watermark (finished by then)."""
    since = datetime(2024, 3, 6, 10, 4, 41, 250000, tzinfo=UTC)  # the success's completion
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        pages = list(source.deployments(REF, since))
    got = [r.deployment_id[-3:-1] for p in pages for r in p.records if isinstance(r, Deployment)]
    assert got == ["13"]  # in progress, started after it; the success is already stored
    # page 2 starts within the day before the watermark (03-05 10:00 is not a day before)...
    assert replay.hits("/2.0/repositories/acme-ws/web-app/deployments/", page="2") == 1
    assert pages[-1].done
    later = datetime(2024, 3, 7, 12, 0, tzinfo=UTC)
    with replayed("bitbucket_cloud", "bitbucket") as (source, replay):
        pages = list(source.deployments(REF, later))
    assert [r for p in pages for r in p.records] == []
    # ... while a day after the first page's oldest start, nothing more is read
    assert replay.hits("/2.0/repositories/acme-ws/web-app/deployments/", page="2") == 0
    assert replay.hits("/2.0/repositories/acme-ws/web-app/environments/") == 0
