"""A forge-neutral organization: repositories, people, pull requests with reviews, comments,
files and commits, issues, CI runs, teams and branch protection -- generated deterministically
from a seed and a size. Renderers (``github.py``; GitLab and Bitbucket later) show the same
dataset through each forge's API shape; mutations (rename, delete, touch) model what happens
to an organization while a collector runs.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
# 2026-10-03: no change is stamped later. A real forge never returns a stamp after its own
# "now"; a dataset that did (issues of the 1,000th repository reached 2027) had those items
# read again by every incremental run, as a collector must when a stamp is ahead of its clock.
END = EPOCH + timedelta(days=640)
GITHUB_FILE_CAP = 3000  # GitHub lists at most 3,000 files of a pull request


@dataclass
class SimSize:
    repos: int = 3
    prs_per_repo: int = 40
    issues_per_repo: int = 10
    runs_per_repo: int = 10
    people: int = 12
    teams: int = 2
    reviews: float = 3.0  # averages per pull request
    comments: float = 5.0
    files: float = 8.0
    commits: float = 3.0
    huge_pr_files: int = 0  # >0: the first repository's PR #1 changes this many files


@dataclass
class SimPerson:
    id: int
    login: str
    name: str
    email: str
    is_bot: bool = False


@dataclass
class SimComment:
    id: int
    author: str | None
    body: str
    created_at: datetime
    updated_at: datetime
    path: str | None = None  # review comments only
    line: int | None = None


@dataclass
class SimReview:
    id: int
    author: str | None
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED
    body: str
    submitted_at: datetime
    commit_sha: str
    comments: list[SimComment] = field(default_factory=list)


@dataclass
class SimFile:
    path: str
    additions: int
    deletions: int
    status: str  # added | modified | removed | renamed


@dataclass
class SimCommit:
    sha: str
    message: str
    author: str | None
    author_name: str
    author_email: str
    authored_at: datetime


@dataclass
class SimPR:
    number: int
    id: int
    title: str
    body: str
    state: str  # open | closed | merged
    draft: bool
    author: str | None
    created_at: datetime
    updated_at: datetime
    merged_at: datetime | None
    closed_at: datetime | None
    merged_by: str | None
    base: str
    head: str
    labels: list[str]
    reviews: list[SimReview] = field(default_factory=list)
    comments: list[SimComment] = field(default_factory=list)
    files: list[SimFile] = field(default_factory=list)
    commits: list[SimCommit] = field(default_factory=list)
    changed_files: int = 0
    assignees: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)  # still pending
    merge_method: str = "merge"  # of a merged PR: merge | squash

    @property
    def squashed(self) -> bool:
        return self.state == "merged" and self.merge_method == "squash"

    def squash_message(self) -> str:
        """GitHub's default message of a squash merge: ``<title> (#n)``, each commit's message
        as a ``*`` item (its trailers with it, mid-body), then after a ``---------`` line a
        ``Co-authored-by`` trailer per other author of its commits."""
        items = "\n\n".join(f"* {c.message}" for c in self.commits)
        others: dict[str, str] = {}
        for c in self.commits:
            if c.author != self.author:
                others.setdefault(c.author_email.lower(), f"{c.author_name} <{c.author_email}>")
        tail = "".join(f"\nCo-authored-by: {who}" for who in others.values())
        return f"{self.title} (#{self.number})\n\n{items}" + (
            f"\n\n---------\n{tail}" if tail else ""
        )

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)

    @property
    def review_comments(self) -> list[SimComment]:
        return [c for r in self.reviews for c in r.comments]


@dataclass
class SimIssue:
    number: int
    id: int
    title: str
    body: str
    state: str  # open | closed
    author: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    labels: list[str]
    comments: list[SimComment] = field(default_factory=list)


@dataclass
class SimRun:
    id: int
    name: str
    status: str
    conclusion: str | None
    created_at: datetime
    updated_at: datetime
    head_sha: str
    head_branch: str
    event: str


@dataclass
class SimDeploymentStatus:
    id: int
    state: str  # queued | in_progress | success | failure | error | inactive
    created_at: datetime
    creator: str | None


@dataclass
class SimDeployment:
    id: int
    environment: str
    sha: str
    ref: str
    creator: str | None
    created_at: datetime
    updated_at: datetime  # moves with each status, as GitHub's does
    production: bool
    transient: bool = False
    statuses: list[SimDeploymentStatus] = field(default_factory=list)

    def add_status(self, status: SimDeploymentStatus) -> None:
        self.statuses.append(status)
        self.updated_at = max(self.updated_at, status.created_at)


@dataclass
class SimRelease:
    id: int
    tag: str
    sha: str  # the commit the tag points to
    target_commitish: str  # what the release was drafted from (a branch name, usually)
    author: str | None
    created_at: datetime
    published_at: datetime | None  # None: a draft
    prerelease: bool = False
    annotated: bool = False  # an annotated tag object between the ref and the commit
    tag_deleted: bool = False  # the tag was deleted after the release was published

    @property
    def draft(self) -> bool:
        return self.published_at is None

    @property
    def tag_object(self) -> str:
        return _sha("tag-object", self.tag, self.sha)


@dataclass
class SimGitCommit:
    """A commit of the default branch's history (PR commits in merge order, one line)."""

    sha: str
    parents: list[str]
    message: str
    author: str | None
    author_name: str
    author_email: str
    at: datetime


@dataclass
class SimProtection:
    branch: str
    required_approvals: int
    code_owner_reviews: bool
    dismiss_stale: bool
    checks: list[str]
    enforce_admins: bool
    allow_force_pushes: bool


@dataclass
class SimRepo:
    id: int
    owner: str
    name: str
    description: str
    default_branch: str
    private: bool
    language: str
    stars: int
    created_at: datetime
    updated_at: datetime
    pushed_at: datetime
    prs: list[SimPR] = field(default_factory=list)
    issues: list[SimIssue] = field(default_factory=list)
    runs: list[SimRun] = field(default_factory=list)
    deployments: list[SimDeployment] = field(default_factory=list)
    releases: list[SimRelease] = field(default_factory=list)
    protection: SimProtection | None = None
    contributors: dict[str, int] = field(default_factory=dict)
    deleted: bool = False
    _by_updated: list[SimPR] | None = None
    _history: list[SimGitCommit] | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def prs_by_updated(self) -> list[SimPR]:
        """Pull requests, newest update first (ties: higher number first)."""
        if self._by_updated is None:
            self._by_updated = sorted(
                self.prs, key=lambda p: (p.updated_at, p.number), reverse=True
            )
        return self._by_updated

    def history(self) -> list[SimGitCommit]:
        """The default branch, oldest first: merged PRs in merge order, each PR's commits in
        order (a PR without commits as one merge commit), each commit the parent of the next.
        Deployments and releases ship shas of this line (``shipped_sha``)."""
        if self._history is None:
            line: list[SimGitCommit] = []
            merged = sorted(
                (p for p in self.prs if p.merged_at), key=lambda p: p.merged_at or EPOCH
            )
            for pr in merged:
                commits = pr.commits or [
                    SimCommit(
                        shipped_sha(self, pr),
                        f"Merge #{pr.number}",
                        pr.author,
                        "",
                        "",
                        pr.merged_at or EPOCH,
                    )
                ]
                for c in commits:
                    parents = [line[-1].sha] if line else []
                    line.append(
                        SimGitCommit(
                            c.sha,
                            parents,
                            c.message,
                            c.author,
                            c.author_name,
                            c.author_email,
                            c.authored_at,
                        )
                    )
            self._history = line
        return self._history

    def pr(self, number: int) -> SimPR | None:
        if 1 <= number <= len(self.prs) and self.prs[number - 1].number == number:
            return self.prs[number - 1]
        return next((p for p in self.prs if p.number == number), None)

    def issue(self, number: int) -> SimIssue | None:
        return next((i for i in self.issues if i.number == number), None)

    def open_prs(self) -> int:
        return sum(p.state == "open" for p in self.prs)

    def size_kb(self) -> int:
        """What GitHub's ``size`` says (KB of git data): grows with the history."""
        return 200 + 40 * len(self.prs)


@dataclass
class SimTeam:
    slug: str
    name: str
    description: str
    parent: str | None
    members: list[tuple[str, str]]  # (login, role)


@dataclass
class Dataset:
    org: str
    is_org: bool
    people: list[SimPerson]
    repos: list[SimRepo]
    teams: list[SimTeam]
    renamed: dict[str, int] = field(default_factory=dict)  # old full name -> repo id
    lock: threading.RLock = field(default_factory=threading.RLock)

    def person(self, login: str | None) -> SimPerson | None:
        return next((p for p in self.people if p.login == login), None) if login else None

    def repo(self, owner: str, name: str) -> SimRepo | None:
        """The live repository called ``owner/name`` (not renamed-away or deleted)."""
        full = f"{owner}/{name}".lower()
        return next((r for r in self.repos if r.full_name.lower() == full and not r.deleted), None)

    def repo_by_id(self, repo_id: int) -> SimRepo | None:
        return next((r for r in self.repos if r.id == repo_id and not r.deleted), None)

    def live_repos(self) -> list[SimRepo]:
        return [r for r in self.repos if not r.deleted]

    # -- mutations ---------------------------------------------------------------------------
    def rename(self, full_name: str, new_name: str) -> None:
        with self.lock:
            owner, name = full_name.split("/")
            repo = self.repo(owner, name)
            if repo is None:
                raise KeyError(full_name)
            self.renamed[full_name.lower()] = repo.id
            repo.name = new_name

    def rename_person(self, login: str, new_login: str) -> None:
        """A user renames their account: the id stays, and every answer from now on names
        them ``new_login`` (their past PRs, reviews, comments and commits included)."""
        with self.lock:
            if self.person(login) is None:
                raise KeyError(login)
            _rename_in(self, login, new_login)
            for team in self.teams:
                team.members = [(new_login if m == login else m, r) for m, r in team.members]
            for repo in self.repos:
                counts = repo.contributors
                repo.contributors = {new_login if k == login else k: v for k, v in counts.items()}

    def delete(self, full_name: str) -> None:
        with self.lock:
            owner, name = full_name.split("/")
            repo = self.repo(owner, name)
            if repo is None:
                raise KeyError(full_name)
            repo.deleted = True

    def touch_pr(self, full_name: str, number: int, at: datetime, title: str | None = None) -> None:
        """Update a pull request (its ``updated_at`` moves to ``at``)."""
        with self.lock:
            owner, name = full_name.split("/")
            repo = self.repo(owner, name)
            pr = repo.pr(number) if repo else None
            if repo is None or pr is None:
                raise KeyError(f"{full_name}#{number}")
            pr.updated_at = at
            if title is not None:
                pr.title = title
            repo.updated_at = max(repo.updated_at, at)
            repo._by_updated = None


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()  # noqa: S324


def _count(rng: random.Random, mean: float) -> int:
    """A small count with the given mean (uniform 0..2*mean)."""
    return rng.randint(0, max(0, round(2 * mean)))


WORDS = [
    "fix",
    "add",
    "remove",
    "refactor",
    "update",
    "parser",
    "cache",
    "store",
    "api",
    "docs",
    "test",
    "build",
    "ci",
    "auth",
]
DIRS = ("src/core", "src/api", "src/ui", "tests", "docs", "scripts")


def generate(seed: int = 1, size: SimSize | None = None, org: str = "acme") -> Dataset:
    """A deterministic organization: the same seed and size give the same data."""
    size = size or SimSize()
    rng = random.Random(seed)
    people = [
        SimPerson(1000 + i, f"dev{i}", f"Developer {i}", f"dev{i}@{org}.example")
        for i in range(size.people)
    ]
    people.append(SimPerson(999, "ci-bot[bot]", "CI Bot", "bot@noreply.example", is_bot=True))
    logins = [p.login for p in people[:-1]]
    ids = iter(range(10_000_000, 10**9))
    repos: list[SimRepo] = []
    for r in range(size.repos):
        created = EPOCH - timedelta(days=400 - r)
        repo = SimRepo(
            id=500 + r,
            owner=org,
            name=f"service-{r}",
            description=f"Service {r}",
            default_branch="main",
            private=r % 2 == 1,
            language="Python",
            stars=rng.randint(0, 500),
            created_at=created,
            updated_at=created,
            pushed_at=created,
        )
        ai_rng = random.Random(f"ai-{seed}-{r}")  # its own stream: the rest stays as it was
        for n in range(1, size.prs_per_repo + 1):
            pr = _ai_work(ai_rng, _pr(rng, repo, n, logins, ids, size))
            repo.prs.append(_asked(pr, logins))
        for k in range(size.issues_per_repo):
            repo.issues.append(_issue(rng, repo, size.prs_per_repo + 1 + k, logins, ids))
        for k in range(size.runs_per_repo):
            at = EPOCH + timedelta(hours=7 * k + r, minutes=rng.randint(0, 59))
            done = rng.random() < 0.9
            repo.runs.append(
                SimRun(
                    next(ids),
                    rng.choice(["CI", "Lint", "Release"]),
                    "completed" if done else "in_progress",
                    rng.choice(["success", "success", "failure"]) if done else None,
                    at,
                    at + timedelta(minutes=rng.randint(1, 30)),
                    _sha(repo.id, "run", k),
                    rng.choice(["main", f"feature/{k}"]),
                    rng.choice(["push", "pull_request"]),
                )
            )
        if r % 3 != 2:  # some repositories deploy through GitHub Deployments
            repo.deployments = _deployments(random.Random(f"deploy-{seed}-{r}"), repo, logins)
        if r % 3 != 1:  # some publish releases (with deployments or without)
            repo.releases = _releases(random.Random(f"release-{seed}-{r}"), repo, logins)
        if r % 3 != 2:
            repo.protection = SimProtection(
                "main",
                rng.randint(1, 2),
                rng.random() < 0.5,
                True,
                ["ci/test", "lint"],
                r % 2 == 0,
                False,
            )
        for pr in repo.prs:
            for c in pr.commits:
                if c.author:
                    repo.contributors[c.author] = repo.contributors.get(c.author, 0) + 1
        stamps = [p.updated_at for p in repo.prs] + [i.updated_at for i in repo.issues]
        repo.updated_at = max([created, *stamps])
        repo.pushed_at = max([created, *(c.authored_at for p in repo.prs for c in p.commits)])
        repos.append(repo)
    if size.huge_pr_files and repos and repos[0].prs:
        pr = repos[0].prs[0]
        pr.files = [
            SimFile(f"gen/file_{i:05d}.txt", 1, 0, "added") for i in range(size.huge_pr_files)
        ]
        pr.changed_files = len(pr.files)
    teams = []
    for t in range(size.teams):
        members = [
            (logins[(t * 3 + k) % len(logins)], "maintainer" if k == 0 else "member")
            for k in range(4)
        ]
        teams.append(
            SimTeam(f"team-{t}", f"Team {t}", f"Team number {t}", "team-0" if t else None, members)
        )
    return Dataset(org, True, people, repos, teams)


def shipped_sha(repo: SimRepo, pr: SimPR) -> str:
    """The sha a merged PR leaves on the default branch (its last commit)."""
    return pr.commits[-1].sha if pr.commits else _sha(repo.id, "merge", pr.number)


def _releases(rng: random.Random, repo: SimRepo, logins: list[str]) -> list[SimRelease]:
    """Releases of every fourth merged PR: published some hours after the merge (drafted a
    while before, from ``main``), lightweight and annotated tags, every fifth a prerelease
    (``-rc``), and a newest draft not yet published. Ids from 9,000,000 + repository id *
    1,000."""
    merged = sorted((p for p in repo.prs if p.merged_at), key=lambda p: p.merged_at or EPOCH)
    out: list[SimRelease] = []
    for k, pr in enumerate(merged[3::4]):
        merged_at = pr.merged_at or EPOCH
        pre = k % 5 == 4
        published = merged_at + timedelta(hours=rng.randint(2, 30))
        out.append(
            SimRelease(
                9_000_000 + repo.id * 1_000 + k,
                f"v1.{k}.0" + ("-rc.1" if pre else ""),
                shipped_sha(repo, pr),
                "main",
                rng.choice(logins),
                published - timedelta(days=rng.randint(0, 3)),
                published,
                prerelease=pre,
                annotated=k % 2 == 1,
            )
        )
    if out:
        last = out[-1]
        out.append(
            SimRelease(last.id + 1, "v9.9.9", last.sha, "main", last.author, last.created_at, None)
        )
    return out


def _deployments(rng: random.Random, repo: SimRepo, logins: list[str]) -> list[SimDeployment]:
    """Deployments of merged work: staging then production, some failing (error or failure)
    and deployed again, some re-deploying an older sha (a rollback), now and then a transient
    preview environment, the newest production one still in progress. Ids: deployments from
    7,000,000 + repository id * 10,000, their statuses from 8,000,000 + the same (then from
    100,000,000 + repository id * 1,000,000)."""
    merged = sorted((p for p in repo.prs if p.merged_at), key=lambda p: p.merged_at or EPOCH)
    out: list[SimDeployment] = []
    first = range(8_000_000 + repo.id * 10_000, 8_000_000 + (repo.id + 1) * 10_000)
    # past 10,000 statuses (a repository of some 3,000 merged PRs) on from 100,000,000 + id *
    # 1,000,000: still rising, so a repository's statuses keep their order of creation
    sid = itertools.chain(first, itertools.count(100_000_000 + repo.id * 1_000_000))
    shipped: list[str] = []

    def status(dep: SimDeployment, state: str, at: datetime) -> None:
        dep.add_status(SimDeploymentStatus(next(sid), state, at, dep.creator))

    def start(env: str, sha: str, at: datetime, prod: bool, transient: bool) -> SimDeployment:
        dep = SimDeployment(
            7_000_000 + repo.id * 10_000 + len(out), env, sha, "main", who, at, at, prod, transient
        )
        out.append(dep)
        status(dep, "queued", at)
        status(dep, "in_progress", at + timedelta(minutes=1))
        return dep

    for k, pr in enumerate(merged):
        sha = shipped_sha(repo, pr)
        at = (pr.merged_at or EPOCH) + timedelta(minutes=rng.randint(5, 90))
        who = rng.choice(logins)
        plan = [("staging", False, False), ("production", True, False)]
        if k % 7 == 3:
            plan.insert(0, ("preview", False, True))
        for env, prod, transient in plan:
            rollback = prod and shipped and rng.random() < 0.15
            sha_now = rng.choice(shipped[-3:]) if rollback else sha  # an older sha again
            dep = start(env, sha_now, at, prod, transient)
            roll = rng.random()
            end = at + timedelta(minutes=rng.randint(2, 25))
            if k == len(merged) - 1 and prod:
                continue  # the newest production deployment is still in progress
            if roll < 0.16:
                status(dep, "failure" if roll < 0.12 else "error", end)
                if not prod:
                    at = end + timedelta(minutes=rng.randint(10, 120))
                    continue
                at = end + timedelta(minutes=rng.randint(10, 60))
                dep = start(env, sha_now, at, prod, transient)  # deployed again, the same sha
                end = at + timedelta(minutes=rng.randint(2, 25))
            status(dep, "success", end)
            if prod:
                shipped.append(sha_now)
            at = end + timedelta(minutes=rng.randint(10, 120))
    return out


# AI-assisted work (docs/metrics.md "AI-assisted work"): several spellings of each marker
AI_TRAILERS = (
    "\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
    "Co-Authored-By: Claude <noreply@anthropic.com>",
    "\n\nco-authored-by: Claude Sonnet 4.5 <noreply@anthropic.com>",
    "\n\nCo-authored-by: Cursor Agent <cursoragent@cursor.com>",
    "\n\nMade-with: Cursor",
    "\n\nAssisted-by: GitHub Copilot\nSigned-off-by: Dev <dev@example.com>",
)
AI_REVIEWERS = ("copilot-pull-request-reviewer[bot]", "coderabbitai[bot]")
AGENT = "Copilot"
AGENT_EMAIL = "198982749+Copilot@users.noreply.github.com"


def _ai_work(rng: random.Random, pr: SimPR) -> SimPR:
    """About 1 PR in 25 is the Copilot coding agent's (asked for by the PR's human author,
    credited as co-author; head branch ``copilot/``), 1 in 8 has assistant co-authored
    commits, 1 in 40 only an ``ai-assisted`` label; 1 in 10 reviewed PRs has an AI review."""
    roll = rng.random()
    human = pr.author
    if roll < 0.04 and human and pr.state == "merged":
        pr.author, pr.head = AGENT, f"copilot/fix-{pr.number}"
        pr.assignees = [AGENT, human]  # GitHub assigns it to the agent and who asked it
        for i, c in enumerate(pr.commits):
            c.author, c.author_name, c.author_email = AGENT, AGENT, AGENT_EMAIL
            c.message = (
                "Initial plan"
                if i == 0
                else (
                    f"{c.message}\n\nCo-authored-by: {human} <{1000 + len(human)}+{human}"
                    "@users.noreply.github.com>"
                )
            )
    elif roll < 0.165:
        trailer = rng.choice(AI_TRAILERS)
        for c in pr.commits:
            c.message += trailer
    elif roll < 0.19:
        pr.labels = [*pr.labels, "ai-assisted"]
    if pr.reviews and rng.random() < 0.1:
        pr.reviews[0].author = rng.choice(AI_REVIEWERS)
        pr.reviews[0].state = "COMMENTED"
    return pr


def _asked(pr: SimPR, logins: list[str]) -> SimPR:
    """Assignees and pending review requests (no draw of the random streams: the rest of the
    data stays as it was): every third human PR is assigned to its author (an agent's PR got its
    assignees in ``_ai_work``); an open PR awaits a colleague's review. Every merged agent PR and
    every other merged PR of an even number is squash-merged."""
    if pr.state == "merged" and (pr.author == AGENT or pr.number % 2 == 0):
        pr.merge_method = "squash"  # an agent's PR is squash-merged, as Copilot's usually are
    if pr.author != AGENT and pr.author and pr.number % 3 == 0:
        pr.assignees = [pr.author]
    if pr.state == "open":
        other = logins[pr.number % len(logins)]
        pr.requested_reviewers = [other] if other != pr.author else []
    return pr


def _pick(rng: random.Random, logins: list[str]) -> str | None:
    return None if rng.random() < 0.02 else rng.choice(logins)  # a ghost (deleted) user


def _pr(
    rng: random.Random,
    repo: SimRepo,
    n: int,
    logins: list[str],
    ids: object,
    size: SimSize,
    stamps: tuple[datetime, datetime, str] | None = None,
) -> SimPR:
    """One pull request; ``stamps`` = (created, updated, state) decided by the caller (the
    lazy org of ``org.py`` orders PRs without generating them)."""
    it = iter(ids)  # type: ignore[call-overload]
    if stamps is None:
        created = repo.created_at + timedelta(
            days=n * 0.05 + rng.random() * 30, seconds=rng.randint(0, 86399)
        )
        updated = created + timedelta(hours=rng.randint(1, 200), seconds=rng.randint(0, 3599))
        roll = rng.random()
        state = "merged" if roll < 0.7 else ("closed" if roll < 0.85 else "open")
    else:
        created, updated, state = stamps
    author = _pick(rng, logins)
    merged_at = updated - timedelta(minutes=5) if state == "merged" else None
    closed_at = merged_at if state == "merged" else (updated if state == "closed" else None)
    pr = SimPR(
        number=n,
        id=next(it),
        title=f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{n}",
        body=f"Body of pull request {n}",
        state=state,
        draft=state == "open" and rng.random() < 0.2,
        author=author,
        created_at=created,
        updated_at=updated,
        merged_at=merged_at,
        closed_at=closed_at,
        merged_by=rng.choice(logins) if state == "merged" else None,
        base="main",
        head=f"feature/{n}",
        labels=rng.sample(["bug", "feature", "chore", "docs"], rng.randint(0, 2)),
    )
    heavy = rng.random() < 0.02
    nfiles = rng.randint(20, 120) if heavy else rng.randint(1, max(1, round(2 * size.files - 4)))
    for f in range(nfiles):
        d = rng.choice(DIRS)
        pr.files.append(
            SimFile(
                f"{d}/m{n}_{f}.py",
                rng.randint(0, 80),
                rng.randint(0, 40),
                rng.choice(["modified", "modified", "added", "removed"]),
            )
        )
    pr.changed_files = len(pr.files)
    for c in range(max(1, _count(rng, size.commits))):
        who = rng.choice(logins)
        pr.commits.append(
            SimCommit(
                _sha(repo.id, n, c),
                f"commit {c} of #{n}",
                who,
                f"Developer {who[3:]}",
                f"{who}@example.com",
                created + timedelta(minutes=c),
            )
        )
    for _ in range(_count(rng, size.reviews)):
        at = created + timedelta(minutes=rng.randint(10, 3000))
        pr.reviews.append(
            SimReview(
                next(it),
                _pick(rng, logins),
                rng.choice(["APPROVED", "COMMENTED", "CHANGES_REQUESTED"]),
                "review",
                min(at, updated),
                pr.commits[-1].sha,
            )
        )
    for _ in range(_count(rng, size.comments)):
        at = min(created + timedelta(minutes=rng.randint(1, 3000)), updated)
        comment = SimComment(next(it), _pick(rng, logins), "a comment", at, at)
        if pr.reviews and pr.files and rng.random() < 0.4:
            comment.path, comment.line = rng.choice(pr.files).path, rng.randint(1, 200)
            rng.choice(pr.reviews).comments.append(comment)
        else:
            pr.comments.append(comment)
    return pr


def _issue(rng: random.Random, repo: SimRepo, n: int, logins: list[str], ids: object) -> SimIssue:
    it = iter(ids)  # type: ignore[call-overload]
    created = repo.created_at + timedelta(days=rng.random() * 300, seconds=rng.randint(0, 86399))
    created = min(created, END - timedelta(hours=500))  # updated, below, stays before END
    updated = created + timedelta(hours=rng.randint(1, 500))
    closed = rng.random() < 0.6
    issue = SimIssue(
        n,
        next(it),
        f"issue {n}",
        f"Issue body {n}",
        "closed" if closed else "open",
        _pick(rng, logins),
        created,
        updated,
        updated if closed else None,
        rng.sample(["bug", "question"], rng.randint(0, 1)),
    )
    for _ in range(rng.randint(0, 3)):
        at = min(created + timedelta(minutes=rng.randint(1, 600)), updated)
        issue.comments.append(SimComment(next(it), _pick(rng, logins), "issue comment", at, at))
    return issue


_PERSON_FIELDS = ("login", "author", "merged_by", "creator")
_PEOPLE_FIELDS = ("assignees", "requested_reviewers")


def _rename_in(obj: object, login: str, new_login: str) -> None:
    """Replace ``login`` by ``new_login`` wherever a record of ``obj`` (recursively) names a
    person."""
    if isinstance(obj, list):
        for item in obj:
            _rename_in(item, login, new_login)
        return
    if not hasattr(obj, "__dataclass_fields__"):
        return
    for name in obj.__dataclass_fields__:
        value = getattr(obj, name)
        if name in _PERSON_FIELDS and value == login:
            setattr(obj, name, new_login)
        elif name in _PEOPLE_FIELDS and isinstance(value, list):
            setattr(obj, name, [new_login if v == login else v for v in value])
        elif isinstance(value, list):
            _rename_in(value, login, new_login)
