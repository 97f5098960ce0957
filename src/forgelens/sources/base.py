"""The forge-neutral source interface the engine (sync, backfill) programs against.

Every forge source (GitHub, GitLab, Bitbucket Server, Bitbucket Cloud) implements
``ForgeSource``: it lists repositories, describes one repository (``RepoSnapshot``: the record,
its branch protection, and "latest change" marks that let an incremental sync skip unchanged
entities), and pages each entity newest-change-first as ``Page``s. A page carries its records,
the newest change time it saw (``high``: the next watermark) and an opaque ``resume`` token
that fetches the page after it -- store it and hand it back to continue after a crash or in a
later backfill chunk. Sources map payloads to ``records`` and nothing else: no store, no sink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from forgelens.records import (
    BranchProtection,
    Comment,
    Person,
    PrCommit,
    PrFile,
    PullRequest,
    Repository,
    Review,
)

# Entities a forge sync pages through, in the order the engine syncs them.
PULL_REQUESTS = "pull_requests"
ISSUES = "issues"
CI_RUNS = "ci_runs"
CONTRIBUTORS = "contributors"
DEPLOYMENTS = "deployments"  # only sources that have them (``DeploymentSource``)
RELEASES = "releases"  # published releases as deployments (``ReleaseSource``)
ENTITIES = (PULL_REQUESTS, ISSUES, CI_RUNS, CONTRIBUTORS)


@dataclass(frozen=True, slots=True)
class RepoRef:
    """A repository as the forge names it (``owner/name``; GitLab groups may nest).
    ``weight``: how big the forge says it is (GitHub's ``size``, KB), when the listing said;
    an org's repositories are scheduled largest first so a few giants don't finish last."""

    owner: str
    name: str
    weight: int = field(default=0, compare=False)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}" if self.owner else self.name  # a Gerrit top project

    @classmethod
    def parse(cls, full_name: str) -> RepoRef:
        owner, _, name = full_name.strip("/").rpartition("/")
        return cls(owner, name)


@dataclass
class PrBundle:
    """One pull request with everything hanging off it."""

    pr: PullRequest
    reviews: list[Review] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    files: list[PrFile] = field(default_factory=list)
    commits: list[PrCommit] = field(default_factory=list)

    def records(self) -> list[Any]:
        return [self.pr, *self.reviews, *self.comments, *self.files, *self.commits]


@dataclass
class Page:
    """One page of an entity, newest change first."""

    records: list[Any]
    items: int  # primary items on the page (PRs, issues, runs ...) for the run counters
    high: datetime | None = None  # newest change time seen on this page
    resume: str | None = None  # token for the page after this one; None on the last page
    errors: int = 0  # items skipped because the forge sent something unusable
    done: bool = False  # the source reached the ``since`` watermark (nothing older needed)


@dataclass
class RepoSnapshot:
    """A repository's own record, the records that come with it, and its change marks."""

    repository: Repository
    ref: RepoRef  # the canonical name (after a rename)
    records: list[Any] = field(default_factory=list)  # e.g. BranchProtection, Person
    # entity -> latest change; None for an entity present here: the forge has none of it
    marks: dict[str, datetime | None] = field(default_factory=dict)
    # entity -> how many the forge counts (e.g. Gitea's ``release_counter``): a count equal to
    # the one the last complete pass saw skips the entity (no time mark to compare)
    counts: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class ForgeSource(Protocol):
    """What the engine needs from a forge. Implementations are thread-safe."""

    kind: str  # "github", "gitlab", ... (the spec prefix and records' ``source``)
    data_source: str  # seed 000: "insight_github", ...

    def list_repositories(self, target: str) -> list[RepoRef]:
        """``owner/repo`` -> that one; ``owner`` -> every repository of the org or user."""
        ...

    def repository(self, ref: RepoRef) -> RepoSnapshot: ...

    def pull_requests(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Pages of PR bundles (``Page.records`` = PR + reviews + comments + files + commits),
        newest update first, stopping at ``since``; ``resume`` continues a previous pass."""
        ...

    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]: ...

    def ci_runs(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]: ...

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]: ...

    def teams(self, owner: str) -> list[Any]:
        """Teams and team members of an organization ([] for users or without access)."""
        ...

    def branch_protection(self, ref: RepoRef, branch: str) -> BranchProtection | None: ...

    @property
    def api_calls(self) -> int:
        """Requests sent so far (exact; retries, redirects and 304s included)."""
        ...

    def set_note(self, note: Callable[[str], None]) -> None:
        """Where to say what the source waits for (e.g. "waiting for the rate limit until
        12:00:00 UTC"); the engine points it at the progress bar."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DeploymentSource(Protocol):
    """A forge source that also pages deployments (records.Deployment), newest first."""

    def deployments(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]: ...


@runtime_checkable
class ReleaseSource(Protocol):
    """A forge source that pages its published releases as deployments (``sources/_release``),
    newest first; drafts are skipped."""

    def releases(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]: ...


@runtime_checkable
class CompareSource(Protocol):
    """A forge source that lists the commits between two commits (``base...head``), with their
    parents, for linking deployments when the repository is not mined locally."""

    def compare(self, ref: RepoRef, base: str, head: str, *, need_base: bool = True) -> Comparison:
        """``need_base``: also the base commit (GitHub sends it anyway; Gitea costs a request)."""
        ...


COMPARE = "compare"  # the ``_source`` of commit rows that came from a compare answer


@dataclass
class Comparison:
    """What ``base...head`` holds: the commits reachable from head and not from base (with
    parents), the base commit itself when the forge sends it, and how many commits the forge
    counts (``total``); ``truncated`` when fewer were listed than it counts."""

    commits: list[Any]  # records.Commit
    total: int
    base: Any = None  # records.Commit of ``base`` (None when the forge does not send it)
    status: str = ""  # ahead | behind | diverged | identical (GitHub), "" when not said

    @property
    def truncated(self) -> bool:
        return len(self.commits) < self.total


@runtime_checkable
class BackfillSource(Protocol):
    """What progressive backfill and the reconciliation sweep need beyond ``ForgeSource``:
    one resumable chunk of pull requests, the totals the forge reports, the remaining API
    budget, a re-check of stored items, and an issue for a critical failure."""

    def totals(self, ref: RepoRef) -> dict[str, int]:
        """``{"pull_requests": n, "issues": m}`` as the forge counts them."""
        ...

    def pull_request_chunk(
        self, ref: RepoRef, resume: str | None, size: int, since: datetime | None = None
    ) -> Page:
        """Up to ``size`` PR bundles (newest update first) after ``resume``, none updated
        before ``since``; ``Page.resume`` is the token of the next chunk, None at the end."""
        ...

    def budget(self) -> tuple[int | None, datetime | None]:
        """(points left, reset time) of the budget chunks spend; (None, None) when unknown."""
        ...

    def recheck(self, ref: RepoRef, entity: str, numbers: list[int]) -> dict[int, list[Any]]:
        """Fresh records of pull requests / issues by number; a number the forge no longer
        has is absent from the answer."""
        ...

    def open_issue(self, ref: RepoRef, title: str, body: str) -> str:
        """Open an issue on ``ref``; return its URL."""
        ...


def people_from(logins: dict[str, Person], *candidates: Person | None) -> None:
    """Collect distinct ``Person`` records by login (helper for sources)."""
    for p in candidates:
        if p is not None and p.login and p.login not in logins:
            logins[p.login] = p
