"""The Gerrit source against real answers of gerrit-review.googlesource.com (see
``tests/fixtures/recorded/gerrit/README.md``): the ``)]}'`` guard line, votes written in
messages (CI votes, a +1, votes a bot removed on a new patch set), votes only in
``labels.*.all``, inline comments, a merged change with its current patch set, people as bare
account ids or detailed accounts with a service user; a quota plugin's 429 and a proxy's 502
on the way."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from forgelens.records import Comment, Person, PrCommit, PrFile, PullRequest, Review
from forgelens.sources.base import RepoRef
from forgelens.sources.gerrit import _map as m
from tests.sources.recordedhelp import RECORDED, replayed


def _records(ref: RepoRef) -> tuple[list[Any], Any, Any]:
    with replayed("gerrit", "gerrit") as (source, replay):
        records = [r for page in source.pull_requests(ref, None) for r in page.records]
        stats = source.client.stats
    assert replay.unmatched == []
    return records, replay, stats


def _of(records: list[Any], kind: type) -> list[Any]:
    return [r for r in records if isinstance(r, kind)]


def test_votes_in_messages_are_reviews_and_a_removed_vote_is_dismissed() -> None:
    records, _replay, stats = _records(RepoRef("", "gerrit"))
    assert stats.by_status[429] == 1
    assert stats.by_status[502] == 1
    [pr] = _of(records, PullRequest)
    assert (pr.number, pr.state, pr.author, pr.base_ref) == (248756, "open", "1004034", "master")
    assert pr.created_at == datetime(2019, 12, 18, 1, 35, 12, tzinfo=UTC)
    assert pr.updated_at == datetime(2019, 12, 23, 18, 42, 14, tzinfo=UTC)
    assert (pr.additions, pr.deletions, pr.merged_at) == (5, 0, None)
    reviews = {r.review_id: r for r in _of(records, Review)}
    plus_one = reviews["3c24e64bbefda42ec86503cbd16030dd32e3c2d1:Code-Review+1"]
    assert (plus_one.author, plus_one.state) == ("1011323", "COMMENTED")
    assert plus_one.submitted_at == datetime(2019, 12, 18, 7, 37, 58, tzinfo=UTC)
    # the CI's votes keep their label and value; its "-Code-Style -Verified" on patch set 3
    # removes no review (they were none): nothing is dismissed
    ci = sorted(r.state for r in reviews.values() if r.author == "1022687")
    assert ci == ["Code-Style+1"] * 3 + ["Verified+1"] * 3
    assert len(reviews) == 7  # 6 CI votes and one +1; no approval
    assert [r.state for r in reviews.values() if r.author != "1022687"] == ["COMMENTED"]
    comments = {c.comment_id: c for c in _of(records, Comment)}
    said = comments["a1fdb7f2a4bc238cbef12296ddeb5d967472e898"]
    assert (said.kind, said.author) == ("conversation", "1011323")
    assert said.body is not None
    assert said.body.startswith("I am still seeing this failure")
    assert comments["19710f878209888dd81da621e31cc32bff44c09b"].body == "(2 comments)"
    inline = {
        c.comment_id: (c.path, c.line, c.body) for c in comments.values() if c.kind == "review"
    }
    assert inline == {
        "da33351e_8109fa2e": ("playingfield.iml", 1, "is this really needed?"),
        "da33351e_41fff201": (
            "src/ch/tf/playingfield/PlayingField.java",
            None,
            "looks good to me!",
        ),
        "da33351e_21046e14": (
            "src/ch/tf/playingfield/PlayingField.java",
            4,
            "please reformat imports",
        ),
    }
    assert len(comments) == 5  # uploads and the CI's notes are no comments
    people = {p.login: p for p in _of(records, Person)}
    assert people["1000000"].name == "Thomas Forrer"
    assert {"1004034", "1011323", "1022687"} <= set(people)


def test_votes_only_in_detailed_labels_are_reviews_with_their_date() -> None:
    records, replay, _ = _records(RepoRef("plugins", "project-group-structure"))
    assert replay.hits("/gerrit/a/changes/gerrit~249252/comments") == 0  # no comments counted
    [pr] = _of(records, PullRequest)
    assert (pr.number, pr.author, pr.base_ref) == (249252, "1083195", "stable-2.16")
    [vote] = _of(records, Review)
    assert (vote.review_id, vote.author, vote.state) == (
        "1083195:Verified+1",
        "1083195",
        "Verified+1",
    )
    assert vote.submitted_at == datetime(2019, 12, 23, 22, 47, 24, tzinfo=UTC)


def _change_246332() -> dict[str, Any]:
    raw = (RECORDED / "gerrit" / "change-246332.json").read_text(encoding="utf-8")
    assert raw.startswith(")]}'\n")
    body: dict[str, Any] = json.loads(raw[5:])
    return body


def test_a_merged_change_with_its_current_patch_set() -> None:
    c = _change_246332()
    repo_id = "gerrit:gerrit"
    pr = m.change(repo_id, c, "https://gerrit-review.googlesource.com")
    assert (pr.state, pr.merged_by, pr.changed_files, pr.commits) == ("merged", "1029953", 4, 1)
    assert pr.merged_at == pr.closed_at == datetime(2020, 4, 13, 22, 43, 52, tzinfo=UTC)
    assert pr.body == (
        "The UI for uploading is from @Thomas Dr\u00e4bing\n\nScreenshot: https://imgur.com/a/dL91kwI"
    )
    assert pr.url == "https://gerrit-review.googlesource.com/c/gerrit/+/246332"
    files = m.files(repo_id, c)
    assert sorted((f.additions, f.deletions, f.change_type) for f in files) == [
        (4, 1, "modified"),
        (10, 0, "modified"),
        (33, 0, "modified"),
        (48, 0, "modified"),
    ]
    assert sum(f.additions or 0 for f in files) == pr.additions
    reviews = m.vote_reviews(repo_id, c)
    [approved] = [r for r in reviews if r.state == "APPROVED"]
    assert (approved.author, approved.commit_sha) == (
        "1013302",
        "a669b899d3a6af2beee8e045c6a30dcad30fb577",
    )
    assert approved.submitted_at == datetime(2020, 4, 13, 19, 58, 46, tzinfo=UTC)
    assert not [r for r in reviews if r.state == "DISMISSED"]  # the bot's -Label: no review
    assert len(reviews) == 6  # every vote told by a message; labels.all adds none
    [bump] = m.message_comments(repo_id, c)
    assert (bump.author, bump.body) == ("1029953", "bump @ben :)")
    [ps] = m.patch_sets(repo_id, c)
    assert isinstance(ps, PrCommit)
    assert (ps.author_name, ps.authored_at) == (
        "Paladox none",
        datetime(2019, 11, 20, 15, 52, 35, tzinfo=UTC),
    )
    # the current revision only was asked for here: it is the change's 58th patch set
    assert (ps.sha, ps.patch_set) == ("a669b899d3a6af2beee8e045c6a30dcad30fb577", 58)
    people = {p.login: p for p in m.people(c) if p is not None}
    assert people["1022687"].is_bot
    assert people["1022687"].name == "GerritForge CI"
    assert not people["1013302"].is_bot


def test_files_are_read_as_gerrit_lists_them() -> None:
    c = _change_246332()
    f = next(x for x in m.files("r", c) if x.path.endswith("_test.html"))
    assert isinstance(f, PrFile)
    assert (f.additions, f.deletions) == (4, 1)
    assert m.ts("2013-02-01 09:59:32.126000000") == datetime(
        2013, 2, 1, 9, 59, 32, 126000, tzinfo=UTC
    )


def test_a_change_whose_comments_answer_404_is_kept_without_them() -> None:
    """A proxy that decodes ``%2F`` (or a change deleted meanwhile) answers the comments 404."""
    missing = [
        {
            "path": "/gerrit/a/changes/gerrit~248756/comments",
            "responses": [{"status": 404, "text": "Not found: gerrit~248756"}],
        }
    ]
    with replayed("gerrit", "gerrit", missing) as (source, replay):
        pages = list(source.pull_requests(RepoRef("", "gerrit"), None))
    assert replay.unmatched == []
    records = [r for p in pages for r in p.records]
    assert [pr.number for pr in _of(records, PullRequest)] == [248756]
    assert sum(p.errors for p in pages) == 0
    assert not [c for c in _of(records, Comment) if c.kind == "review"]


def test_magic_files_are_no_files_and_old_message_times_are_read() -> None:
    c = _change_246332()
    rev = c["revisions"][c["current_revision"]]
    rev["files"]["/COMMIT_MSG"] = {"status": "A", "lines_inserted": 12}
    assert len(m.files("r", c)) == 4
    old = {"id": "x", "updated": "2013-03-23 21:34:02.419000000", "message": "Patch Set 1:\n\nhi"}
    c["messages"] = [old]
    [said] = m.message_comments("r", c)
    assert said.created_at == datetime(2013, 3, 23, 21, 34, 2, 419000, tzinfo=UTC)
