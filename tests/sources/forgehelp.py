"""Every forge source against the one simulator: how to point each at it, and how to read the
store back as forge-neutral rows that can be compared across forges."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forgelens.config import Settings
from forgelens.engine.collect import CollectOptions, CollectResult
from forgelens.engine.sync import sync_forge
from forgelens.records import Comment
from forgelens.sources import bitbucket_cloud, bitbucket_server, gerrit, gitea, github, gitlab
from forgelens.sources.base import ForgeSource
from forgelens.sources.http import ClientPolicy
from forgelens.store import Store
from forgelens.testing.forge_sim import serve
from forgelens.testing.forge_sim.bitbucket_cloud import BitbucketCloudRenderer
from forgelens.testing.forge_sim.dataset import Dataset

FACTORIES: dict[str, Callable[..., Any]] = {
    "github": github.from_options,
    "gitlab": gitlab.from_options,
    "bitbucket-server": bitbucket_server.from_options,
    "bitbucket": bitbucket_cloud.from_options,
    "gitea": gitea.from_options,
    "gerrit": gerrit.from_options,
}
KINDS = tuple(FACTORIES)
API_SUFFIX = {
    "github": "",
    "gitlab": "",
    "bitbucket-server": "",
    "bitbucket": "/2.0",
    "gitea": "",
    "gerrit": "/gerrit",  # the simulated server's context path
}
ORG_TARGET = {
    "github": "acme",
    "gitlab": "acme",
    "bitbucket-server": "ACME",
    "bitbucket": "acme",
    "gitea": "acme",
    "gerrit": "acme",  # every project under acme/
}
REPO_TARGET = {
    "github": "acme/service-0",
    "gitlab": "acme/service-0",
    "bitbucket-server": "ACME/service-0",
    "bitbucket": "acme/service-0",
    "gitea": "acme/service-0",
    "gerrit": "acme/service-0",
}
DATA_SOURCES = {
    "github": "insight_github",
    "gitlab": "insight_gitlab",
    "bitbucket-server": "insight_bitbucket_server",
    "bitbucket": "insight_bitbucket_cloud",
    "gitea": "insight_gitea",
    "gerrit": "insight_gerrit",
}


def options(kind: str, url: str, **extra: Any) -> CollectOptions:
    return CollectOptions(
        api_url=url + API_SUFFIX[kind],
        extra={"concurrency": 1, **extra},
        flush_seconds=0.0,
    )


def source_for(kind: str, url: str, token: str | None = "t1", **extra: Any) -> Any:
    """A source of ``kind`` pointed at the simulator, with no real sleeping."""
    settings = Settings(
        github_token=token,
        gitlab_token=token,
        bitbucket_token=token,
        gitea_token=token,
        gerrit_username="forgelens" if token else None,
        gerrit_token=token,
    )
    source = FACTORIES[kind](options(kind, url, **extra), settings=settings)
    client = source.client
    client._sleep = lambda _s: None
    client.policy = ClientPolicy(
        **{**client.policy.__dict__, "secondary_wait": 0.0, "backoff_base": 0.0}
    )
    return source


def pr_comments(sim: Any, kind: str, repo: Any, pr: Any) -> dict[str, Comment]:
    """The comments ``kind``'s source collects from ``sim`` for the simulated PR ``pr``, by id;
    asserts every comment the simulator holds for it was collected."""
    with serve(sim) as url, source_for(kind, url) as source:
        records = [r for page in source.pull_requests(repo, None) for r in page.records]
    found = {
        c.comment_id: c for c in records if isinstance(c, Comment) and c.pr_number == pr.number
    }
    assert set(found) == {str(c.id) for c in [*pr.comments, *pr.review_comments]}
    return found


def sync(
    store: Store, kind: str, url: str, target: str | None = None, **extra: Any
) -> tuple[CollectResult, ForgeSource]:
    token = extra.pop("token", "t1")
    source = source_for(kind, url, token, **extra)
    try:
        opts = options(kind, url, **extra)
        result = sync_forge(store, source, [target or ORG_TARGET[kind]], opts)
    finally:
        source.close()
    return result, source


# -- forge-neutral rows --------------------------------------------------------------------------
# Columns compared per table; ids that name the forge are lower-cased without the ``source:``.
COLUMNS: dict[str, tuple[str, ...]] = {
    "repositories": ("full_name", "name", "owner", "default_branch", "is_private", "description"),
    "pull_requests": (
        "repository_id",
        "number",
        "title",
        "state",
        "created_at",
        "updated_at",
        "body",
        "author",
        "draft",
        "merged_at",
        "closed_at",
        "base_ref",
        "head_ref",
        "additions",
        "deletions",
        "changed_files",
        "labels",
        "merged_by",
        "commits",
    ),
    "pr_reviews": ("repository_id", "pr_number", "author", "state", "submitted_at"),
    "pr_comments": (
        "repository_id",
        "pr_number",
        "comment_id",
        "author",
        "body",
        "created_at",
        "updated_at",
        "kind",
        "path",
        "line",
    ),
    "pr_files": ("repository_id", "pr_number", "path", "additions", "deletions", "change_type"),
    "pr_commits": (
        "repository_id",
        "pr_number",
        "sha",
        "author_name",
        "author_email",
        "author_login",
        "authored_at",
        "message",
    ),
    "issues": (
        "repository_id",
        "number",
        "title",
        "state",
        "created_at",
        "updated_at",
        "body",
        "author",
        "closed_at",
        "labels",
        "comments_count",
    ),
    "issue_comments": (
        "repository_id",
        "issue_number",
        "comment_id",
        "author",
        "body",
        "created_at",
        "updated_at",
    ),
    "ci_runs": (
        "repository_id",
        "run_id",
        "name",
        "status",
        "conclusion",
        "created_at",
        "updated_at",
        "head_sha",
        "head_branch",
        "event",
        "completed_at",
    ),
    "branch_protections": (
        "repository_id",
        "branch",
        "required_approvals",
        "require_code_owner_reviews",
        "dismiss_stale_reviews",
        "allow_force_pushes",
    ),
    "teams": ("org", "slug", "name", "description", "parent_slug"),
    "team_members": ("org", "team_slug", "login", "role"),
    "contributors": ("repository_id", "login", "contributions"),
    # the forge's own deployment ids differ (GitHub's number, Bitbucket's UUID): not compared
    "deployments": (
        "repository_id",
        "environment",
        "environment_kind",
        "sha",
        "ref",
        "status",
        "created_at",
        "finished_at",
        "creator",
    ),
}
# What a forge's API cannot express: those columns (or whole tables) are not compared.
NOT_EXPRESSIBLE: dict[str, dict[str, tuple[str, ...]]] = {
    "gitlab": {
        "pr_commits": ("author_login",),  # commits name authors, not accounts
        "ci_runs": (),
        "branch_protections": (),
        "contributors": ("*",),
    },
    "bitbucket-server": {
        "deployments": ("*",),  # no deployments API
        "repositories": (),
        "pull_requests": ("labels",),
        "issues": ("*",),  # Jira, not Bitbucket
        "issue_comments": ("*",),
        "ci_runs": ("updated_at", "head_branch", "event", "completed_at"),
        "branch_protections": ("require_code_owner_reviews", "dismiss_stale_reviews"),
        "teams": ("*",),
        "team_members": ("*",),
        "contributors": ("*",),
    },
    "bitbucket": {
        "deployments": ("ref",),  # a deployment names its commit, not a branch
        "pull_requests": ("labels",),
        "issues": ("closed_at", "labels"),
        "ci_runs": ("name", "updated_at"),
        "branch_protections": ("require_code_owner_reviews",),
        "teams": ("*",),
        "team_members": ("*",),
        "contributors": ("*",),
    },
    "gitea": {
        # a run names its workflow file and display title, not the workflow; it has no update time
        "ci_runs": ("name", "updated_at"),
        "branch_protections": ("require_code_owner_reviews",),
        "teams": ("name", "parent_slug"),  # flat teams, named by their slug
        "team_members": ("role",),  # a permission per team, not a role per member
        "contributors": ("*",),  # no contributor statistics in the API
        "deployments": ("*",),  # releases, not deployments: another dataset
    },
    "gerrit": {
        "deployments": ("*",),  # no deployments
        "repositories": ("is_private",),  # read access rules, not a flag
        # a change is one commit, amended: the current patch set carries the change's
        # description; commits name authors by name and email, not accounts
        "pr_commits": ("message", "author_login"),
        "issues": ("*",),  # no issue tracker
        "issue_comments": ("*",),
        "ci_runs": ("*",),  # CI verdicts are votes (Verified), kept as reviews
        "branch_protections": ("allow_force_pushes",),  # access rights, not submit rules
        "teams": ("name",),  # a group has a name only: the slug
        "team_members": ("role",),  # a group gives its members no roles
        "contributors": ("*",),
    },
}
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED")  # what every forge can say about a review


def _norm(column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    if isinstance(value, list | tuple):
        return tuple(sorted(map(str, value)))
    if column in ("repository_id", "full_name", "owner", "org") and isinstance(value, str):
        return value.split(":", 1)[-1].lower()
    return value


# Columns naming a person by the forge's key for people (a login, or an account id).
PERSON_COLUMNS = ("author", "merged_by", "author_login", "login", "creator")


def account_logins(kind: str, dataset: Dataset) -> dict[str, str]:
    """The simulated people's key on ``kind`` -> their login, for forges that key people by
    an account id (Bitbucket Cloud's ``account_id``, Gerrit's ``_account_id``, Gitea's ``id``)
    rather than by login."""
    if kind in ("gerrit", "gitea"):
        return {str(p.id): p.login for p in dataset.people}
    if kind != "bitbucket":
        return {}
    renderer = BitbucketCloudRenderer(dataset)
    out: dict[str, str] = {}
    for p in dataset.people:
        user = renderer.user(p.login)
        assert user is not None
        out[str(user["account_id"])] = p.login
    return out


def canonical(
    store: Store, kind: str, against: str = "github", logins: dict[str, str] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per table with only the columns both ``kind`` and ``against`` can express;
    ``logins`` names people by login where the store keys them otherwise (``account_logins``)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    logins = logins or {}
    for table, columns in COLUMNS.items():
        masked = {*NOT_EXPRESSIBLE.get(kind, {}).get(table, ())}
        masked |= {*NOT_EXPRESSIBLE.get(against, {}).get(table, ())}
        if "*" in masked:
            continue
        cols = [c for c in columns if c not in masked]
        rows = store.query_dicts(f"SELECT * FROM {table}")
        if table == "pr_reviews":
            rows = [r for r in rows if r["state"] in REVIEW_STATES]
        if table == "deployments":  # the forge's deployments; releases are another dataset
            rows = [r for r in rows if r["source"] != "release"]
        for r in rows:
            for c in PERSON_COLUMNS:
                if c in r and r[c] in logins:
                    r[c] = logins[r[c]]
        out[table] = sorted(
            (tuple(_norm(c, r[c]) for c in cols) for r in rows), key=lambda t: tuple(map(str, t))
        )
    return out


def self_signed_cert(tmp: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself (and its key), made with openssl."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)
