"""Canonical record types: what every source produces and every store keeps.

A record is a plain slotted dataclass. Its class attribute ``TABLE`` names the store table and
its field names are the table's columns (the store adds ``_version`` and ``_source``). Sources
build records; stores write them in batches; nothing else needs to know a forge's JSON shape.

Timestamps are timezone-aware UTC ``datetime`` objects. Line counts are ``None`` where the
forge or git cannot say (binary files), never a made-up zero.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


def now_version() -> int:
    """A ``_version`` for a write made now: epoch milliseconds."""
    return time.time_ns() // 1_000_000


def repository_id(source: str, full_name: str) -> str:
    """The stable id every table uses for a repository: ``{source}:{full_name}``."""
    return f"{source}:{full_name}"


@dataclass(slots=True)
class Repository:
    TABLE: ClassVar[str] = "repositories"
    id: str
    source: str
    full_name: str
    name: str
    owner: str | None = None
    forge_id: str | None = None
    description: str | None = None
    default_branch: str | None = None
    url: str | None = None
    is_private: bool | None = None
    is_fork: bool | None = None
    is_archived: bool | None = None
    language: str | None = None
    stars: int | None = None
    forks: int | None = None
    open_issues: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    pushed_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(slots=True)
class Person:
    TABLE: ClassVar[str] = "people"
    source: str
    login: str
    name: str | None = None
    email: str | None = None
    forge_id: str | None = None
    is_bot: bool = False
    avatar_url: str | None = None


@dataclass(slots=True)
class Commit:
    TABLE: ClassVar[str] = "commits"
    repository_id: str
    sha: str
    author_name: str | None
    author_email: str | None
    authored_at: datetime | None
    committer_name: str | None
    committer_email: str | None
    committed_at: datetime | None
    message: str
    additions: int | None
    deletions: int | None
    files_changed: int
    is_merge: bool
    parents: list[str] = field(default_factory=list)
    author_login: str | None = None


@dataclass(slots=True)
class CommitFile:
    TABLE: ClassVar[str] = "commit_files"
    repository_id: str
    sha: str
    path: str
    additions: int | None
    deletions: int | None
    change_type: str
    old_path: str | None = None


@dataclass(slots=True)
class PullRequest:
    TABLE: ClassVar[str] = "pull_requests"
    repository_id: str
    number: int
    title: str
    state: str  # open | closed | merged
    created_at: datetime
    updated_at: datetime
    forge_id: str | None = None
    body: str | None = None
    author: str | None = None
    draft: bool = False
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    base_ref: str | None = None
    head_ref: str | None = None
    additions: int | None = None
    deletions: int | None = None
    changed_files: int | None = None
    labels: list[str] = field(default_factory=list)
    merged_by: str | None = None
    commits: int | None = None
    url: str | None = None
    files_truncated: bool = False
    deleted_at: datetime | None = None
    # logins: the PR's assignees, and the users (or bots) whose review is requested and
    # still pending (a forge drops a request once its reviewer reviews)
    assignees: list[str] | None = None
    requested_reviewers: list[str] | None = None


@dataclass(slots=True)
class Review:
    TABLE: ClassVar[str] = "pr_reviews"
    repository_id: str
    pr_number: int
    review_id: str
    author: str | None
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING (| "Verified+1")
    submitted_at: datetime | None
    body: str | None = None
    commit_sha: str | None = None


@dataclass(slots=True)
class Comment:
    TABLE: ClassVar[str] = "pr_comments"
    repository_id: str
    pr_number: int
    comment_id: str
    author: str | None
    body: str | None
    created_at: datetime | None
    updated_at: datetime | None = None
    kind: str = "conversation"  # conversation | review
    path: str | None = None
    line: int | None = None
    deleted_at: datetime | None = None  # deleted on the forge (a webhook said so)


@dataclass(slots=True)
class PrFile:
    TABLE: ClassVar[str] = "pr_files"
    repository_id: str
    pr_number: int
    path: str
    additions: int | None
    deletions: int | None
    change_type: str
    old_path: str | None = None


@dataclass(slots=True)
class PrCommit:
    TABLE: ClassVar[str] = "pr_commits"
    repository_id: str
    pr_number: int
    sha: str
    author_name: str | None = None
    author_email: str | None = None
    author_login: str | None = None
    authored_at: datetime | None = None
    message: str | None = None
    # Gerrit: the patch set (revision) number this commit is, 1 for the first upload. NULL on
    # forges whose pull requests are a series of commits, not numbered revisions of one.
    patch_set: int | None = None


@dataclass(slots=True)
class Issue:
    TABLE: ClassVar[str] = "issues"
    repository_id: str
    number: int
    title: str
    state: str
    created_at: datetime
    updated_at: datetime
    forge_id: str | None = None
    body: str | None = None
    author: str | None = None
    closed_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    comments_count: int | None = None
    url: str | None = None
    deleted_at: datetime | None = None
    # the forge's own kind of issue where it has one: GitLab's issue_type (issue, incident,
    # test_case, task); None elsewhere
    issue_type: str | None = None


@dataclass(slots=True)
class IssueComment:
    TABLE: ClassVar[str] = "issue_comments"
    repository_id: str
    issue_number: int
    comment_id: str
    author: str | None
    body: str | None
    created_at: datetime | None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None  # deleted on the forge (a webhook said so)


@dataclass(slots=True)
class Team:
    TABLE: ClassVar[str] = "teams"
    source: str
    org: str
    slug: str
    name: str | None = None
    description: str | None = None
    parent_slug: str | None = None


@dataclass(slots=True)
class TeamMember:
    TABLE: ClassVar[str] = "team_members"
    source: str
    org: str
    team_slug: str
    login: str
    role: str | None = None


@dataclass(slots=True)
class BranchProtection:
    TABLE: ClassVar[str] = "branch_protections"
    repository_id: str
    branch: str
    required_approvals: int | None = None
    require_code_owner_reviews: bool | None = None
    dismiss_stale_reviews: bool | None = None
    required_checks: list[str] = field(default_factory=list)
    enforce_admins: bool | None = None
    allow_force_pushes: bool | None = None
    raw: dict[str, Any] | None = None


@dataclass(slots=True)
class CiRun:
    TABLE: ClassVar[str] = "ci_runs"
    repository_id: str
    run_id: str
    name: str | None
    status: str | None
    conclusion: str | None
    created_at: datetime | None
    updated_at: datetime | None = None
    head_sha: str | None = None
    head_branch: str | None = None
    event: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    url: str | None = None


_PRODUCTION = re.compile(r"^(prod|production|live|prd)([-_ ./].*)?$", re.IGNORECASE)
_STAGING = re.compile(r"^(stag|staging|stage|preprod|pre-prod|uat|qa)([-_ ./].*)?$", re.IGNORECASE)


def environment_kind(name: str, production: bool | None = None) -> str:
    """production | staging | other, from the forge's flag or else the environment's name."""
    if production:
        return "production"
    if _PRODUCTION.match(name.strip()):
        return "production"
    if _STAGING.match(name.strip()):
        return "staging"
    return "other"


@dataclass(slots=True)
class Deployment:
    """A deployment a forge reports (GitHub Deployments): ``status`` is success | failure |
    in_progress | canceled, decided by its latest terminal status (docs/metrics.md, DORA)."""

    TABLE: ClassVar[str] = "deployments"
    repository_id: str
    deployment_id: str
    environment: str
    environment_kind: str
    sha: str
    status: str
    created_at: datetime
    source: str
    ref: str | None = None
    finished_at: datetime | None = None
    creator: str | None = None
    transient_environment: bool | None = None
    production_environment: bool | None = None
    description: str | None = None
    url: str | None = None


@dataclass(slots=True)
class Contributor:
    """A person's contribution count to one repository (GitHub /contributors and the like)."""

    TABLE: ClassVar[str] = "contributors"
    repository_id: str
    login: str
    contributions: int | None = None


Record = (
    Repository
    | Person
    | Commit
    | CommitFile
    | PullRequest
    | Review
    | Comment
    | PrFile
    | PrCommit
    | Issue
    | IssueComment
    | Team
    | TeamMember
    | BranchProtection
    | CiRun
    | Contributor
    | Deployment
)

RECORD_TYPES: tuple[type[Any], ...] = (
    Repository,
    Person,
    Commit,
    CommitFile,
    PullRequest,
    Review,
    Comment,
    PrFile,
    PrCommit,
    Issue,
    IssueComment,
    Team,
    TeamMember,
    BranchProtection,
    CiRun,
    Contributor,
)  # Deployment's table is declared with the delivery tables (store/schema_delivery.py)
