"""What the GitLab and Bitbucket renderers share: a route table under a path prefix, error
shapes, and the dataset's derived views every forge shows the same way (repository commits
that CI runs point at, review outcomes).

A new forge renderer subclasses ``RestRenderer``, sets ``prefix``, fills ``routes`` and
overrides the error/limit shapes its forge uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from forgelens.testing.forge_sim.app import SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import Dataset, SimDeployment, SimIssue, SimPR, SimRepo
from forgelens.testing.forge_sim.faults import Budget

Route = tuple[str, "re.Pattern[str]", Callable[..., SimResponse]]
# Review outcomes the non-GitHub forges can express (a GitHub "COMMENTED" review has no
# equivalent there; its inline comments still appear as comments).
EXPRESSIBLE_REVIEWS = ("APPROVED", "CHANGES_REQUESTED")


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="milliseconds") if value else None


def epoch_ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def reviews_of(pr: SimPR) -> list[Any]:
    return [r for r in pr.reviews if r.state in EXPRESSIBLE_REVIEWS]


def deployment_outcome(d: SimDeployment) -> tuple[str, datetime | None]:
    """A deployment's one current state on forges that keep one (GitLab, Bitbucket Cloud) and
    its finish time: its latest terminal GitHub-style status (success, or failure / error ->
    failure), else canceled when only ``inactive`` ended it, else ``running`` once its job
    started, else ``created`` -- the rule docs/metrics.md gives GitHub's statuses."""
    ordered = sorted(d.statuses, key=lambda s: (s.created_at, s.id))
    terminal = [s for s in ordered if s.state in ("success", "failure", "error")]
    if terminal:
        last = terminal[-1]
        return ("success" if last.state == "success" else "failure"), last.created_at
    if ordered and ordered[-1].state == "inactive":
        return "canceled", None
    return ("running" if any(s.state == "in_progress" for s in ordered) else "created"), None


def diff_text(additions: int, deletions: int) -> str:
    """A unified diff hunk with exactly this many added and removed lines."""
    head = f"@@ -1,{deletions} +1,{additions} @@\n"
    return head + "-old\n" * deletions + "+new\n" * additions


def new_issue(repo: SimRepo, title: str, body: str, labels: str | list[str] = "") -> SimIssue:
    """An issue opened through the API (the backfill's failure reports), added to ``repo``."""
    now = datetime.now(UTC).replace(microsecond=0)
    number = max([i.number for i in repo.issues] + [p.number for p in repo.prs] + [0]) + 1
    names = labels.split(",") if isinstance(labels, str) else labels
    issue = SimIssue(
        id=10_000_000 + number,
        number=number,
        title=title,
        body=body,
        state="open",
        author=None,
        labels=[str(x) for x in names if x],
        created_at=now,
        updated_at=now,
        closed_at=None,
    )
    repo.issues.append(issue)
    return issue


class RestRenderer:
    prefix = "/"
    routes: list[Route]

    def accepts(self, req: SimRequest) -> bool:
        """No credentials of the forge's own beyond the configured tokens."""
        return False

    def __init__(self, dataset: Dataset) -> None:
        self.ds = dataset
        self.routes = []

    def add(self, method: str, pattern: str, fn: Callable[..., SimResponse]) -> None:
        self.routes.append((method, re.compile("^" + pattern + "$"), fn))

    # -- protocol -----------------------------------------------------------------------------
    def token(self, req: SimRequest) -> str | None:
        scheme, _, secret = req.headers.get("authorization", "").partition(" ")
        return secret.strip() or None if scheme.lower() == "bearer" else None

    def handle(self, req: SimRequest) -> SimResponse:
        path = req.path[len(self.prefix) :] if self.prefix != "/" else req.path
        for method, pattern, fn in self.routes:
            m = pattern.match(path)
            if m and method == req.method:
                return fn(req, **m.groupdict())
        return self.not_found()

    def not_found(self) -> SimResponse:
        return SimResponse(404, {"message": "404 Not Found"})

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return SimResponse(401, {"message": "401 Unauthorized"})

    def server_error(self, req: SimRequest) -> SimResponse:
        return SimResponse(
            503,
            b"<html><body>503 Service Unavailable</body></html>",
            {"content-type": "text/html"},
        )

    def secondary_limit(self, req: SimRequest, retry_after: float | None) -> SimResponse:
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        return SimResponse(429, {"message": "Too Many Requests"}, headers)

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse:
        return SimResponse(429, {"message": "Too Many Requests"}, cost=0)

    def rate_headers(self, resource: str, budget: Budget) -> dict[str, str]:
        return {}

    # -- dataset views ------------------------------------------------------------------------
    def find_repo(self, owner: str, name: str) -> SimRepo | SimResponse:
        repo = self.ds.repo(owner, name)
        return repo if repo is not None else self.not_found()

    @staticmethod
    def repo_commits(repo: SimRepo) -> list[tuple[str, datetime]]:
        """Commits CI ran on, newest first: the head commit of each run."""
        runs = sorted(repo.runs, key=lambda r: (r.created_at, r.id), reverse=True)
        return [(r.head_sha, r.created_at) for r in runs]
