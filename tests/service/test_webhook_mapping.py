"""Webhook payloads land in the store at once (the sources' own mappers), carry only what they
carry, never overwrite newer or richer data, and queue the targeted sync of the rest."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from forgelens.records import PullRequest
from forgelens.sources.webhook import hub_signature
from tests.engine.collecthelp import swap_collector
from tests.service.conftest import SECRETS, Service, fake_forge

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
GH_REPO = "github:octocat/Hello-World"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


@pytest.fixture(autouse=True)
def test_collectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The targeted syncs run the test collector (no forge on the network here)."""
    for kind in ("github", "gitlab", "bitbucket", "bitbucket-server"):
        swap_collector(monkeypatch, kind, fake_forge)


def post(
    service: Service, forge: str, event: str, payload: dict[str, Any], delivery: str = ""
) -> Any:
    body = json.dumps(payload).encode()
    delivery = delivery or str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    if forge == "github":
        headers |= {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": hub_signature(SECRETS["github"], body),
        }
    elif forge == "gitlab":
        headers |= {
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": SECRETS["gitlab"],
            "Idempotency-Key": delivery,
        }
    else:
        cloud = event.startswith(("pullrequest:", "repo:push"))
        headers |= {
            "X-Event-Key": event,
            ("X-Request-UUID" if cloud else "X-Request-Id"): delivery,
            "X-Hub-Signature": hub_signature(SECRETS["bitbucket"], body),
        }
    return service.client.post(f"/api/v1/webhooks/{forge}", content=body, headers=headers)


def rows(service: Service, sql: str) -> list[dict[str, Any]]:
    return service.store().query_dicts(sql)


def test_github_events_store_what_they_carry_and_queue_a_sync(service: Service) -> None:
    pr_event = fixture("github_pull_request")
    answer = post(service, "github", "pull_request", pr_event, "d-pr")
    assert (answer.status_code, answer.json()["status"]) == (202, "queued"), answer.text
    pr = rows(service, "SELECT * FROM pull_requests")
    assert len(pr) == 1
    assert (pr[0]["repository_id"], pr[0]["number"], pr[0]["state"]) == (GH_REPO, 2, "open")
    assert (pr[0]["author"], pr[0]["head_ref"], pr[0]["base_ref"]) == (
        "Codertocat",
        "changes",
        "master",
    )
    assert (pr[0]["additions"], pr[0]["deletions"], pr[0]["changed_files"]) == (1, 1, 1)
    assert pr[0]["forge_id"] == "MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3"
    assert pr[0]["created_at"] == datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC)
    # the author's account id comes along: a later rename of the login is the same person
    people = rows(service, "SELECT login, forge_id FROM people")
    assert people == [{"login": "Codertocat", "forge_id": "21031067"}]

    simple = {
        k: v
        for k, v in pr_event["pull_request"].items()
        if k not in ("additions", "deletions", "changed_files", "commits", "merged_by")
    }
    simple["updated_at"] = "2019-05-15T15:30:00Z"
    review = {
        "action": "submitted",
        "review": {
            "id": 237895671,
            "node_id": "MDE3OlB1bGxSZXF1ZXN0UmV2aWV3MjM3ODk1Njcx",
            "user": {"login": "Octocat", "id": 1, "type": "User"},
            "body": "Looks good",
            "commit_id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "submitted_at": "2019-05-15T15:29:59Z",
            "state": "approved",
            "html_url": "https://github.com/octocat/Hello-World/pull/2#pullrequestreview-237895671",
        },
        "pull_request": simple,
        "repository": pr_event["repository"],
        "sender": {"login": "Octocat", "id": 1},
    }
    assert post(service, "github", "pull_request_review", review).status_code == 202
    reviews = rows(service, "SELECT * FROM pr_reviews")
    assert [(r["pr_number"], r["review_id"], r["author"], r["state"]) for r in reviews] == [
        (2, "237895671", "Octocat", "APPROVED")
    ]
    # the review's "simple" pull request lacks line counts: the stored ones stay
    pr = rows(service, "SELECT additions, deletions, changed_files FROM pull_requests")
    assert pr == [{"additions": 1, "deletions": 1, "changed_files": 1}]

    comment = {
        "action": "created",
        "comment": {
            "id": 2748,
            "path": "README.md",
            "line": 1,
            "user": {"login": "Octocat", "id": 1, "type": "User"},
            "body": "Maybe say more?",
            "created_at": "2019-05-15T15:31:00Z",
            "updated_at": "2019-05-15T15:31:00Z",
        },
        "pull_request": simple,
        "repository": pr_event["repository"],
    }
    assert post(service, "github", "pull_request_review_comment", comment).status_code == 202
    on_pr = {
        "action": "created",
        "issue": {
            "number": 2,
            "title": "x",
            "pull_request": {"url": "u"},
            "state": "open",
            "created_at": "2019-05-15T15:20:33Z",
            "updated_at": "2019-05-15T15:32:00Z",
        },
        "comment": {
            "id": 2749,
            "user": {"login": "Codertocat"},
            "body": "Sure",
            "created_at": "2019-05-15T15:32:00Z",
            "updated_at": "2019-05-15T15:32:00Z",
        },
        "repository": pr_event["repository"],
    }
    assert post(service, "github", "issue_comment", on_pr).status_code == 202
    comments = rows(
        service, "SELECT comment_id, kind, path, line, author FROM pr_comments ORDER BY 1"
    )
    assert comments == [
        {
            "comment_id": "2748",
            "kind": "review",
            "path": "README.md",
            "line": 1,
            "author": "Octocat",
        },
        {
            "comment_id": "2749",
            "kind": "conversation",
            "path": None,
            "line": None,
            "author": "Codertocat",
        },
    ]

    issue = {
        "action": "opened",
        "issue": {
            "number": 1,
            "node_id": "I_1",
            "title": "Spelling error in the README file",
            "user": {"login": "Codertocat"},
            "labels": [{"name": "bug"}],
            "state": "open",
            "comments": 0,
            "created_at": "2019-05-15T15:20:18Z",
            "updated_at": "2019-05-15T15:20:18Z",
            "closed_at": None,
            "body": "It looks",
        },
        "repository": pr_event["repository"],
    }
    assert post(service, "github", "issues", issue).status_code == 202
    issue_comment = {
        "action": "created",
        "issue": {**issue["issue"], "comments": 1, "updated_at": "2019-05-15T15:21:00Z"},
        "comment": {
            "id": 492700400,
            "user": {"login": "Codertocat"},
            "body": "You are right",
            "created_at": "2019-05-15T15:21:00Z",
            "updated_at": "2019-05-15T15:21:00Z",
        },
        "repository": pr_event["repository"],
    }
    assert post(service, "github", "issue_comment", issue_comment).status_code == 202
    assert rows(service, "SELECT number, title, labels, comments_count FROM issues") == [
        {
            "number": 1,
            "title": "Spelling error in the README file",
            "labels": '["bug"]',
            "comments_count": 1,
        }
    ]
    assert rows(service, "SELECT issue_number, comment_id, body FROM issue_comments") == [
        {"issue_number": 1, "comment_id": "492700400", "body": "You are right"}
    ]

    assert post(service, "github", "push", fixture("github_push")).status_code == 202
    commits = rows(service, "SELECT * FROM commits")
    assert len(commits) == 1
    c = commits[0]
    assert (c["sha"], c["message"], c["author_login"]) == (
        "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "Update README.md",
        "Codertocat",
    )
    assert (c["additions"], c["deletions"], c["files_changed"]) == (
        None,
        None,
        1,
    )  # no stats invented
    assert rows(service, "SELECT path, additions, change_type FROM commit_files") == [
        {"path": "README.md", "additions": None, "change_type": "modified"}
    ]
    assert service.wait_idle(GH_REPO)["status"] == "completed"
    jobs = rows(service, "SELECT reason FROM service_jobs")
    assert jobs
    assert {j["reason"] for j in jobs} == {"webhook"}


def test_a_webhook_never_blanks_richer_collected_data(service: Service) -> None:
    collected = PullRequest(
        repository_id=GH_REPO,
        number=2,
        title="Old title",
        state="open",
        created_at=datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC),
        updated_at=datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC),
        additions=40,
        deletions=3,
        changed_files=5,
        commits=4,
        merged_by=None,
        labels=["docs"],
        files_truncated=False,
    )
    service.store().upsert("pull_requests", [collected], version=1)
    event = fixture("github_pull_request")
    pr = event["pull_request"]
    for key in ("additions", "deletions", "changed_files", "commits", "labels"):
        pr.pop(key, None)
    pr["title"], pr["updated_at"] = "New title", "2019-05-16T10:00:00Z"
    assert post(service, "github", "pull_request", event).status_code == 202
    got = rows(
        service,
        "SELECT title, additions, deletions, changed_files, commits, labels FROM pull_requests",
    )
    assert got == [
        {
            "title": "New title",
            "additions": 40,
            "deletions": 3,
            "changed_files": 5,
            "commits": 4,
            "labels": '["docs"]',
        }
    ]


def test_redelivery_changes_nothing_and_older_deliveries_lose(service: Service) -> None:
    newer = fixture("github_pull_request")
    newer["pull_request"] |= {
        "title": "Newer",
        "updated_at": "2019-05-16T10:00:00Z",
        "state": "closed",
        "closed_at": "2019-05-16T10:00:00Z",
    }
    older = copy.deepcopy(fixture("github_pull_request"))
    older["pull_request"] |= {"title": "Older", "updated_at": "2019-05-15T15:20:33Z"}
    assert post(service, "github", "pull_request", newer, "d-new").status_code == 202
    before = rows(service, "SELECT * FROM pull_requests")
    again = post(service, "github", "pull_request", newer, "d-new")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert rows(service, "SELECT * FROM pull_requests") == before
    late = post(service, "github", "pull_request", older, "d-old")
    assert late.status_code == 202  # recorded and synced, but it does not win
    got = rows(service, "SELECT title, state, closed_at FROM pull_requests")
    assert got == [
        {"title": "Newer", "state": "closed", "closed_at": datetime(2019, 5, 16, 10, tzinfo=UTC)}
    ]
    outcomes = rows(service, "SELECT delivery_id, outcome FROM webhook_deliveries ORDER BY 1")
    assert [r["delivery_id"] for r in outcomes] == ["d-new", "d-old"]


@pytest.mark.parametrize(
    ("event", "payload", "says"),
    [
        ("pull_request", {"action": "opened", "pull_request": {"title": "no number"}}, "number"),
        ("pull_request", {"action": "opened", "pull_request": "not an object"}, "pull_request"),
        ("issue_comment", {"action": "created", "issue": {"number": 1}}, "comment"),
        ("push", {"commits": [{"message": "no id"}]}, "id"),
    ],
)
def test_a_malformed_payload_is_refused_clearly_and_recorded(
    service: Service, event: str, payload: dict[str, Any], says: str
) -> None:
    payload["repository"] = {"full_name": "octocat/Hello-World"}
    answer = post(service, "github", event, payload, "d-bad")
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert f"github {event} payload cannot be stored" in detail
    assert says in detail
    assert rows(service, "SELECT delivery_id, outcome, job_id FROM webhook_deliveries") == [
        {"delivery_id": "d-bad", "outcome": "malformed", "job_id": None}
    ]
    for table in ("pull_requests", "issue_comments", "commits", "service_jobs"):
        assert service.store().query(f"SELECT count(*) FROM {table}") == [(0,)]
    assert ("webhook.github", "malformed") in service.store().query(
        "SELECT action, outcome FROM audit_log"
    )
    text = service.client.get("/metrics", headers=service.headers("viewer")).text
    assert f'event="{event}",forge="github",outcome="malformed"' in text
    again = post(service, "github", event, payload, "d-bad")
    assert again.json()["status"] == "duplicate"


def test_an_unexpected_event_is_recorded_and_skipped(service: Service) -> None:
    payload = {"action": "started", "repository": {"full_name": "octocat/Hello-World"}}
    answer = post(service, "github", "star", payload)
    assert (answer.status_code, answer.json()["status"]) == (202, "recorded")
    assert rows(service, "SELECT event, outcome FROM webhook_deliveries") == [
        {"event": "star", "outcome": "recorded"}
    ]
    assert service.store().query("SELECT count(*) FROM service_jobs") == [(0,)]


def test_gitlab_hooks(service: Service) -> None:
    mr = fixture("gitlab_merge_request")
    mr["user"]["id"] = mr["object_attributes"]["author_id"] = 51
    mr["object_attributes"]["labels"] = [{"id": 206, "title": "API"}]
    answer = post(service, "gitlab", "Merge Request Hook", mr)
    assert (answer.status_code, answer.json()["status"]) == (202, "queued"), answer.text
    repo = "gitlab:gitlabhq/gitlab-test"
    got = rows(
        service,
        "SELECT repository_id, number, title, state, author, base_ref, head_ref, labels, url, "
        "forge_id FROM pull_requests",
    )
    assert got == [
        {
            "repository_id": repo,
            "number": 1,
            "title": "MS-Viewport",
            "state": "open",
            "author": "root",
            "base_ref": "master",
            "head_ref": "ms-viewport",
            "labels": '["API"]',
            "url": "https://gitlab.com/gitlabhq/gitlab-test/-/merge_requests/1",
            "forge_id": "99",
        }
    ]
    merged = copy.deepcopy(mr)
    merged["object_attributes"] |= {
        "state": "merged",
        "action": "merge",
        "updated_at": "2013-12-04T10:00:00Z",
    }
    merged["user"]["id"] = 7  # someone else merged: the author is not overwritten
    merged["user"]["username"] = "maintainer"
    assert post(service, "gitlab", "Merge Request Hook", merged).status_code == 202
    assert rows(service, "SELECT state, author FROM pull_requests") == [
        {"state": "merged", "author": "root"}
    ]

    note = {
        "object_kind": "note",
        "event_type": "note",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project_id": 5,
        "project": mr["project"],
        "repository": mr["repository"],
        "object_attributes": {
            "id": 1244,
            "note": "This MR needs work.",
            "noteable_type": "MergeRequest",
            "author_id": 1,
            "created_at": "2015-05-17 18:21:36 UTC",
            "updated_at": "2015-05-17T18:21:36Z",
            "system": False,
            "url": "https://gitlab.com/gitlabhq/gitlab-test/-/merge_requests/1#note_1244",
        },
        "merge_request": merged["object_attributes"],
    }
    assert post(service, "gitlab", "Note Hook", note).status_code == 202
    got = rows(
        service, "SELECT pr_number, comment_id, body, author, kind, created_at FROM pr_comments"
    )
    assert got == [
        {
            "created_at": datetime(2015, 5, 17, 18, 21, 36, tzinfo=UTC),
            "pr_number": 1,
            "comment_id": "1244",
            "body": "This MR needs work.",
            "author": "root",
            "kind": "conversation",
        }
    ]
    issue = {
        "object_kind": "issue",
        "event_type": "issue",
        "user": {"id": 1, "username": "root"},
        "project": mr["project"],
        "object_attributes": {
            "id": 301,
            "iid": 23,
            "title": "New API: create/update/delete file",
            "author_id": 1,
            "state": "opened",
            "created_at": "2013-12-03T17:15:43Z",
            "updated_at": "2013-12-03T17:15:43Z",
            "description": "Create new API",
            "url": "https://gitlab.com/gitlabhq/gitlab-test/-/issues/23",
            "labels": [{"title": "API"}],
            "action": "open",
            "type": "Incident",  # GitLab's issue type: a DORA incident whatever its labels
        },
    }
    assert post(service, "gitlab", "Issue Hook", issue).status_code == 202
    assert rows(service, "SELECT number, state, author, labels, issue_type FROM issues") == [
        {
            "number": 23,
            "state": "open",
            "author": "root",
            "labels": '["API"]',
            "issue_type": "incident",
        }
    ]
    assert post(service, "gitlab", "Push Hook", fixture("gitlab_push")).status_code == 202
    assert rows(service, "SELECT repository_id, sha, additions, files_changed FROM commits") == [
        {
            "repository_id": "gitlab:mike/diaspora",
            "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "additions": None,
            "files_changed": 2,
        }
    ]
    assert rows(service, "SELECT path, change_type FROM commit_files ORDER BY 1") == [
        {"path": "CHANGELOG", "change_type": "added"},
        {"path": "app/controller/application.rb", "change_type": "modified"},
    ]
    assert service.wait_idle(repo)["status"] == "completed"


def test_bitbucket_server_and_cloud_events(service: Service) -> None:
    opened = fixture("bitbucket_server_pr_opened")
    answer = post(service, "bitbucket", "pr:opened", opened)
    assert (answer.status_code, answer.json()["status"]) == (202, "queued"), answer.text
    repo = "bitbucket-server:PROJ/repository"
    assert rows(
        service, "SELECT repository_id, number, title, state, author, head_ref FROM pull_requests"
    ) == [
        {
            "repository_id": repo,
            "number": 1,
            "title": "a new file added",
            "state": "open",
            "author": "admin",
            "head_ref": "a-branch",
        }
    ]
    comment = copy.deepcopy(opened)
    comment["eventKey"] = "pr:comment:added"
    comment["pullRequest"]["updatedDate"] = 1505779200000
    comment["comment"] = {
        "id": 62,
        "version": 0,
        "text": "I am a PR comment",
        "author": {"name": "admin", "slug": "admin", "id": 1},
        "createdDate": 1505779200000,
        "updatedDate": 1505779200000,
    }
    assert post(service, "bitbucket", "pr:comment:added", comment).status_code == 202
    assert rows(
        service, "SELECT repository_id, pr_number, comment_id, body, author FROM pr_comments"
    ) == [
        {
            "repository_id": repo,
            "pr_number": 1,
            "comment_id": "62",
            "body": "I am a PR comment",
            "author": "admin",
        }
    ]
    cloud_repo = fixture("bitbucket_cloud_push")["repository"]
    cloud_pr = {
        "id": 7,
        "title": "Fix the build",
        "state": "OPEN",
        "description": "Fixes it",
        "author": {"nickname": "emma", "display_name": "Emma", "account_id": "557058:ba89"},
        "source": {"branch": {"name": "fix"}},
        "destination": {"branch": {"name": "main"}},
        "created_on": "2024-04-11T09:00:00.000000+00:00",
        "updated_on": "2024-04-11T09:20:00.000000+00:00",
        "links": {
            "html": {"href": "https://bitbucket.org/atlassian_tutorial/helloworld/pull-requests/7"}
        },
    }
    approved = {
        "approval": {
            "date": "2024-04-11T09:20:00.000000+00:00",
            "user": {"nickname": "sam", "account_id": "557058:5a4"},
        },
        "pullrequest": cloud_pr,
        "repository": cloud_repo,
        "actor": {"nickname": "sam"},
    }
    assert post(service, "bitbucket", "pullrequest:approved", approved).status_code == 202
    got = rows(
        service,
        "SELECT pr_number, author, state FROM pr_reviews "
        "WHERE repository_id = 'bitbucket:atlassian_tutorial/helloworld'",
    )
    assert got == [{"pr_number": 7, "author": "557058:5a4", "state": "APPROVED"}]
    assert (
        post(service, "bitbucket", "repo:push", fixture("bitbucket_cloud_push")).status_code == 202
    )
    assert rows(service, "SELECT sha, message, additions FROM commits") == [
        {
            "sha": "709d658dc5b6d6afcd46049c2f332ee3f515a67d",
            "message": "Fix the build\n",
            "additions": None,
        }
    ]
    assert service.wait_idle(repo)["status"] == "completed"


def test_a_deleted_comment_stays_stored_and_is_marked_deleted(service: Service) -> None:
    pr_event = fixture("github_pull_request")
    simple = {k: v for k, v in pr_event["pull_request"].items() if k != "merged_by"}
    review_comment = {
        "action": "created",
        "comment": {
            "id": 2748,
            "path": "README.md",
            "line": 1,
            "user": {"login": "Octocat", "id": 1},
            "body": "Maybe say more?",
            "created_at": "2019-05-15T15:31:00Z",
            "updated_at": "2019-05-15T15:31:00Z",
        },
        "pull_request": simple,
        "repository": pr_event["repository"],
    }
    issue = {
        "number": 1,
        "title": "Spelling error",
        "state": "open",
        "created_at": "2019-05-15T15:20:18Z",
        "updated_at": "2019-05-15T15:21:00Z",
    }
    issue_comment = {
        "action": "created",
        "issue": issue,
        "comment": {
            "id": 4927,
            "user": {"login": "Codertocat"},
            "body": "You are right",
            "created_at": "2019-05-15T15:21:00Z",
            "updated_at": "2019-05-15T15:21:00Z",
        },
        "repository": pr_event["repository"],
    }
    for event, payload in (
        ("pull_request_review_comment", review_comment),
        ("issue_comment", issue_comment),
    ):
        assert post(service, "github", event, payload).status_code == 202
        assert post(service, "github", event, {**payload, "action": "deleted"}).status_code == 202
        # a late redelivery of the creation does not bring the comment back to life
        assert post(service, "github", event, payload).status_code == 202
    kept = rows(service, "SELECT comment_id, body, deleted_at FROM pr_comments") + rows(
        service, "SELECT comment_id, body, deleted_at FROM issue_comments"
    )
    assert [(r["comment_id"], r["body"]) for r in kept] == [
        ("2748", "Maybe say more?"),
        ("4927", "You are right"),
    ]
    assert all(r["deleted_at"] is not None for r in kept)

    opened = fixture("bitbucket_server_pr_opened")
    bbs = copy.deepcopy(opened) | {"eventKey": "pr:comment:added"}
    bbs["comment"] = {"id": 62, "text": "A comment", "createdDate": 1505779200000}
    assert post(service, "bitbucket", "pr:comment:added", bbs).status_code == 202
    bbs["eventKey"] = "pr:comment:deleted"
    assert post(service, "bitbucket", "pr:comment:deleted", bbs).status_code == 202
    got = rows(
        service,
        "SELECT body, deleted_at IS NOT NULL AS deleted FROM pr_comments WHERE comment_id = '62'",
    )
    assert got == [{"body": "A comment", "deleted": True}]


def _workflow_run(status: str, conclusion: str | None, updated: str) -> dict[str, Any]:
    run = {
        "id": 30433642,
        "name": "CI",
        "head_branch": "main",
        "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 159038,
        "run_attempt": 1,
        "created_at": "2026-03-05T16:41:10Z",
        "updated_at": updated,
        "run_started_at": "2026-03-05T16:41:12Z",
        "html_url": "https://github.com/octocat/Hello-World/actions/runs/30433642",
    }
    return {
        "action": "completed" if status == "completed" else "in_progress",
        "workflow_run": run,
        "repository": {"full_name": "octocat/Hello-World"},
        "sender": {"login": "octocat", "id": 1, "type": "User"},
    }


def test_ci_runs_from_workflow_run_and_pipeline_hooks_the_later_status_wins(
    service: Service,
) -> None:
    done = _workflow_run("completed", "failure", "2026-03-05T16:49:40Z")
    running = _workflow_run("in_progress", None, "2026-03-05T16:42:00Z")
    for n, payload in enumerate((done, running)):  # the older status arrives late
        answer = post(service, "github", "workflow_run", payload, f"d-run-{n}")
        assert answer.status_code == 202, answer.text
    gl_running = fixture("gitlab_push")  # a project block to borrow
    pipeline = {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": 99001,
            "name": None,
            "ref": "retry-jitter",
            "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "source": "merge_request_event",
            "status": "running",
            "created_at": "2024-03-05 16:41:10 UTC",
            "finished_at": None,
            "url": "https://gitlab.example.com/acme/app/-/pipelines/99001",
        },
        "project": gl_running["project"],
    }
    finished = copy.deepcopy(pipeline)
    finished["object_attributes"] |= {"status": "success", "finished_at": "2024-03-05 16:49:40 UTC"}
    pending = copy.deepcopy(pipeline)
    pending["object_attributes"]["status"] = "pending"
    for n, payload in enumerate((pipeline, finished, pending)):
        answer = post(service, "gitlab", "Pipeline Hook", payload, f"d-pipe-{n}")
        assert answer.status_code == 202, answer.text
    got = rows(
        service,
        "SELECT repository_id, run_id, status, conclusion, head_sha, head_branch, event, "
        "completed_at FROM ci_runs ORDER BY repository_id",
    )
    gl_repo = "gitlab:" + gl_running["project"]["path_with_namespace"]
    assert [(r["repository_id"], r["run_id"], r["status"], r["conclusion"]) for r in got] == sorted(
        [
            ("github:octocat/Hello-World", "30433642", "completed", "failure"),
            (gl_repo, "99001", "completed", "success"),
        ]
    )
    by_repo = {r["repository_id"]: r for r in got}
    assert by_repo[gl_repo]["head_branch"] == "retry-jitter"
    assert by_repo[gl_repo]["event"] == "pull_request"
    assert by_repo[gl_repo]["completed_at"] == datetime(2024, 3, 5, 16, 49, 40, tzinfo=UTC)
    assert by_repo["github:octocat/Hello-World"]["head_sha"].startswith("acb5820")
