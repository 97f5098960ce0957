"""GitHub GraphQL documents (as data) and the paging of pull requests and issues through them.

One ``PullRequests`` page carries up to ``first`` PRs with their files, reviews (with their
review comments), conversation comments, commits and labels; only PRs whose nested lists
overflow get follow-up queries (``PullRequestFiles`` ...). Page sizes shrink when GitHub
answers that the query took too long (502/504).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forgelens.errors import ForgeError
from forgelens.records import repository_id
from forgelens.sources._pagination import GraphQLCursorPaginator
from forgelens.sources.base import PrBundle, RepoRef
from forgelens.sources.github import _map as m
from forgelens.sources.github._base import (
    _BAD_ITEM,
    FILE_CAP,
    GitHubBase,
    _finish,
    _issue_item,
    _older,
    log,
    next_cursor,
)

# An actor's account id is a field of its types (Actor has none): the same number as a REST
# user's ``id``, the key that joins a renamed login's two names. Scalars cost nothing.
ACTOR_FIELDS = (
    "__typename login avatarUrl ... on User { databaseId } ... on Bot { databaseId } "
    "... on Mannequin { databaseId } ... on Organization { databaseId }"
)
ACTOR = f"author {{ {ACTOR_FIELDS} }}"
COMMENT = f"databaseId body createdAt updatedAt {ACTOR}"
REVIEW_COMMENT = f"databaseId body createdAt updatedAt path line originalLine {ACTOR}"
PAGE_INFO = "totalCount pageInfo { hasNextPage endCursor }"
REVIEW = (
    f"id databaseId state body submittedAt {ACTOR} commit {{ oid }} "
    f"comments(first: $reviewComments) {{ {PAGE_INFO} nodes {{ {REVIEW_COMMENT} }} }}"
)
FILE = "path additions deletions changeType"
COMMIT = "commit { oid message authoredDate author { name email user { login } } }"
RATE = "rateLimit { limit cost remaining resetAt }"
# Who a PR is assigned to and whose review it awaits. A requested reviewer is a union (User,
# Team, Mannequin, and Bot where the server knows one): the Actor interface spreads into every
# version of it, where a fragment on a member an older Enterprise Server lacks fails the whole
# query; a Team has no login, and a token that may not read teams gets a null reviewer.
PEOPLE = (
    "assignees(first: 10) { nodes { login } } "
    "reviewRequests(first: 10) { nodes { requestedReviewer { "
    "__typename ... on Actor { login } } } }"
)

PR_FIELDS = (
    "id databaseId number title body state isDraft createdAt updatedAt mergedAt closedAt "
    "baseRefName headRefName additions deletions changedFiles url "
    f"{ACTOR} mergedBy {{ {ACTOR_FIELDS} }} labels(first: 20) {{ nodes {{ name }} }} "
    f"{PEOPLE} files(first: $files) {{ {PAGE_INFO} nodes {{ {FILE} }} }} "
    f"reviews(first: $reviews) {{ {PAGE_INFO} nodes {{ {REVIEW} }} }} "
    f"comments(first: $comments) {{ {PAGE_INFO} nodes {{ {COMMENT} }} }} "
    f"commits(first: $commits) {{ {PAGE_INFO} nodes {{ {COMMIT} }} }}"
)

# The probe's look at the newest deployments and releases: a change among them (a new one, a
# status added, a draft published) lets the REST listings run; a change only older ones see (a
# status on the 11th newest deployment) waits for ``collect --full``. Two connections more per
# repository: no more points for one, +1 per 50 in a RepoProbes batch.
REPO_FIELDS = """databaseId id name nameWithOwner owner { login } description isPrivate
    isFork isArchived primaryLanguage { name } stargazerCount forkCount url createdAt updatedAt
    pushedAt
    openIssues: issues(states: OPEN) { totalCount }
    openPullRequests: pullRequests(states: OPEN) { totalCount }
    defaultBranchRef { name }
    branchProtectionRules(first: 20) { nodes { pattern requiredApprovingReviewCount
      requiresCodeOwnerReviews dismissesStaleReviews requiredStatusCheckContexts
      isAdminEnforced allowsForcePushes } }
    pullRequests(first: 1, orderBy: {field: UPDATED_AT, direction: DESC}) {
      nodes { updatedAt } }
    issues(first: 1, orderBy: {field: UPDATED_AT, direction: DESC}) {
      nodes { updatedAt } }
    allPullRequests: pullRequests { totalCount }
    deployments(first: 10, orderBy: {field: CREATED_AT, direction: DESC}) {
      nodes { updatedAt latestStatus { createdAt } } }
    releases(first: 10, orderBy: {field: CREATED_AT, direction: DESC}) {
      nodes { publishedAt isDraft } }"""

REPO_PROBE = f"""query RepoProbe($owner: String!, $name: String!) {{
  repository(owner: $owner, name: $name) {{ {REPO_FIELDS} }}
  {RATE}
}}"""
PROBE_BATCH = 50  # repositories per RepoProbes query: 3 connections each, 2 points per 50


def repo_probes(count: int) -> str:
    """One query probing ``count`` repositories (aliases ``r0`` ...; variables ``o0``/``n0``
    ...): an org's unchanged repositories cost 2 points per 50 instead of 1 point each."""
    params = ", ".join(f"$o{i}: String!, $n{i}: String!" for i in range(count))
    body = "\n".join(
        f"  r{i}: repository(owner: $o{i}, name: $n{i}) {{ {REPO_FIELDS} }}" for i in range(count)
    )
    return f"query RepoProbes({params}) {{\n{body}\n  {RATE}\n}}"


PULL_REQUESTS = f"""query PullRequests($owner: String!, $name: String!, $first: Int!,
  $after: String, $files: Int!, $reviews: Int!, $reviewComments: Int!, $comments: Int!,
  $commits: Int!) {{
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {PR_FIELDS} }}
    }}
  }}
  {RATE}
}}"""


def _nested(op: str, connection: str, nodes: str, extra: str = "") -> str:
    return f"""query {op}($owner: String!, $name: String!, $number: Int!, $first: Int!,
  $after: String{extra}) {{
  repository(owner: $owner, name: $name) {{
    pullRequest(number: $number) {{
      {connection}(first: $first, after: $after) {{ {PAGE_INFO} nodes {{ {nodes} }} }}
    }}
  }}
  {RATE}
}}"""


@dataclass(frozen=True)
class Nested:
    """A nested list of a pull request that may need follow-up pages."""

    key: str  # field in the PR node
    operation: str
    document: str
    size_var: str  # the variable that sizes it inside a PullRequests page


NESTED = (
    Nested("files", "PullRequestFiles", _nested("PullRequestFiles", "files", FILE), "files"),
    Nested(
        "reviews",
        "PullRequestReviews",
        _nested("PullRequestReviews", "reviews", REVIEW, ", $reviewComments: Int!"),
        "reviews",
    ),
    Nested(
        "comments",
        "PullRequestComments",
        _nested("PullRequestComments", "comments", COMMENT),
        "comments",
    ),
    Nested(
        "commits", "PullRequestCommits", _nested("PullRequestCommits", "commits", COMMIT), "commits"
    ),
)

REVIEW_COMMENTS = f"""query ReviewComments($id: ID!, $first: Int!, $after: String) {{
  node(id: $id) {{
    ... on PullRequestReview {{
      comments(first: $first, after: $after) {{ {PAGE_INFO} nodes {{ {REVIEW_COMMENT} }} }}
    }}
  }}
  {RATE}
}}"""

ISSUES = f"""query Issues($owner: String!, $name: String!, $first: Int!, $after: String,
  $since: DateTime, $comments: Int!) {{
  repository(owner: $owner, name: $name) {{
    issues(first: $first, after: $after, filterBy: {{since: $since}},
           orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        id databaseId number title body state createdAt updatedAt closedAt url {ACTOR}
        labels(first: 20) {{ nodes {{ name }} }}
        comments(first: $comments) {{ {PAGE_INFO} nodes {{ {COMMENT} }} }}
      }}
    }}
  }}
  {RATE}
}}"""

ISSUE_COMMENTS = f"""query IssueComments($owner: String!, $name: String!, $number: Int!,
  $first: Int!, $after: String) {{
  repository(owner: $owner, name: $name) {{
    issue(number: $number) {{
      comments(first: $first, after: $after) {{ {PAGE_INFO} nodes {{ {COMMENT} }} }}
    }}
  }}
  {RATE}
}}"""

# Nested sizes inside one PullRequests page: generous enough that follow-ups are rare, small
# enough that a page of 50 PRs stays well under GitHub's 500,000-node and 10-second limits.
NESTED_SIZES = {"files": 50, "reviews": 20, "reviewComments": 10, "comments": 30, "commits": 30}


MIN_NESTED = {"files": 10, "reviews": 5, "reviewComments": 5, "comments": 5, "commits": 5}
GROW_AFTER = 4  # pages in a row that went through before page sizes grow back
INCREMENTAL_FIRST = 5  # PRs on an incremental run's first page (1 point), doubling after


class GraphQLFetch(GitHubBase):
    def _shrink(self, nested: dict[str, int]) -> bool:
        """GitHub gave up on a page (502/504 after ~10 s, ``stream error: CANCEL``): ask for
        half as many PRs, then -- one PR per page already -- half as many nested items (the
        rest come through follow-up queries). False when nothing is left to shrink."""
        if self.pr_page > 1:
            self.pr_page = max(1, self.pr_page // 2)
        elif any(nested[k] > MIN_NESTED[k] for k in nested):
            for k in nested:
                nested[k] = max(MIN_NESTED[k], nested[k] // 2)
        else:
            return False
        log.info("graphql page size reduced", size=self.pr_page, nested=dict(nested))
        return True

    def _grow(self, nested: dict[str, int]) -> None:
        """Back toward the usual sizes after pages went through: one heavy stretch of a
        repository must not make every later page small (a small page costs more per PR)."""
        for k in nested:
            nested[k] = min(NESTED_SIZES[k], nested[k] * 2)
        self.pr_page = min(self.pr_page_max, self.pr_page * 2)

    def _graphql_pr_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        after = resume or None
        seen = {after} if after else set()
        paginator = GraphQLCursorPaginator(("repository", "pullRequests"))
        nested = dict(NESTED_SIZES)
        good = 0
        # GitHub charges for ``first``, not for what comes back: a repository of 3 PRs asked
        # for 50 costs 13 points. The first page is sized by what the probe counted (a full
        # run) or starts small and doubles (an incremental run usually finds a few changes).
        with self._probe_lock:
            total = self._pr_totals.get(ref.full_name.lower())
        cap = INCREMENTAL_FIRST if since is not None else max(1, total or self.pr_page_max)
        while True:
            variables = {
                "owner": ref.owner,
                "name": ref.name,
                "first": min(self.pr_page, cap),
                "after": after,
                **nested,
            }
            smallest = self.pr_page == 1 and all(nested[k] <= MIN_NESTED[k] for k in nested)
            try:
                # a large page may time out (502/504) or be cancelled: after two tries ask
                # for a smaller one instead of retrying the same page
                attempts = None if smallest else 2
                data, errors = self.graphql(PULL_REQUESTS, "PullRequests", variables, attempts)
            except ForgeError:
                if not self._shrink(nested):
                    raise
                good = 0
                continue
            good += 1
            conn = paginator.connection({"data": data})
            out: list[tuple[datetime, list[Any]]] = []
            nodes: list[Any] = conn.get("nodes") or []
            for node in nodes:
                if not isinstance(node, dict):
                    continue  # counted in ``errors`` (partial data)
                if _older(node.get("updatedAt"), since):
                    yield out, errors, None  # reached the watermark
                    return
                try:
                    out.append(self._graphql_bundle(ref, repo_id, node))
                except _BAD_ITEM as exc:
                    errors += 1
                    log.warning("pull request skipped", repository=ref.full_name, error=repr(exc))
            nxt = next_cursor(conn.get("pageInfo"), seen, "PullRequests")
            yield out, errors, nxt
            if not nxt:
                return
            after = nxt
            cap = self.pr_page_max if since is None else cap * 2
            if good >= GROW_AFTER and (self.pr_page < self.pr_page_max or nested != NESTED_SIZES):
                self._grow(nested)
                good = 0

    def _follow(
        self,
        conn: Any,
        document: str,
        operation: str,
        variables: dict[str, Any],
        path: tuple[str, ...],
        cap: int | None = None,
    ) -> list[Any]:
        """A connection's nodes plus the pages after them (follow-up queries for overflow)."""
        conn = conn if isinstance(conn, dict) else {}
        nodes = [n for n in conn.get("nodes") or [] if isinstance(n, dict)]
        seen: set[str] = set()
        after = next_cursor(conn.get("pageInfo"), seen, operation)
        size = 100
        while after:
            if cap is not None and len(nodes) >= cap:
                break
            try:  # a page GitHub gives up on: half as many items (down to 10), then fail
                data, _ = self.graphql(
                    document,
                    operation,
                    {**variables, "first": size, "after": after},
                    None if size <= 10 else 2,
                )
            except ForgeError:
                if size <= 10:
                    raise
                size = max(10, size // 2)
                continue
            for key in path:
                data = data.get(key) if isinstance(data, dict) else None
            conn = data if isinstance(data, dict) else {}
            nodes.extend(n for n in conn.get("nodes") or [] if isinstance(n, dict))
            after = next_cursor(conn.get("pageInfo"), seen, operation)
        return nodes

    def _graphql_bundle(
        self, ref: RepoRef, repo_id: str, node: dict[str, Any]
    ) -> tuple[datetime, list[Any]]:
        pr = m.pr_graphql(repo_id, node)
        n = pr.number
        pr_vars = {"owner": ref.owner, "name": ref.name, "number": n}
        pr_vars["reviewComments"] = NESTED_SIZES["reviewComments"]  # follow-ups: full size
        nested = {
            x.key: self._follow(
                node.get(x.key),
                x.document,
                x.operation,
                pr_vars,
                ("repository", "pullRequest", x.key),
                FILE_CAP if x.key == "files" else None,
            )
            for x in NESTED
        }
        b = PrBundle(pr)
        people = [m.person(node.get("author")), m.person(node.get("mergedBy"))]
        review_comments = []
        for r in nested["reviews"]:
            b.reviews.append(m.review(repo_id, n, r))
            people.append(m.person(r.get("author")))
            review_comments.extend(
                self._follow(
                    r.get("comments"),
                    REVIEW_COMMENTS,
                    "ReviewComments",
                    {"id": r.get("id")},
                    ("node", "comments"),
                )
            )
        for c in review_comments:
            b.comments.append(m.comment(repo_id, n, c, "review"))
            people.append(m.person(c.get("author")))
        for c in nested["comments"]:
            b.comments.append(m.comment(repo_id, n, c, "conversation"))
            people.append(m.person(c.get("author")))
        b.files = [m.pr_file(repo_id, n, f) for f in nested["files"]]
        b.commits = [m.pr_commit(repo_id, n, c) for c in nested["commits"]]
        return pr.updated_at, _finish(b, people)

    def _graphql_issue_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None
    ) -> Iterator[tuple[list[tuple[datetime, list[Any]]], int, str | None]]:
        repo_id = repository_id(self.kind, ref.full_name)
        after = resume or None
        seen = {after} if after else set()
        while True:
            variables = {
                "owner": ref.owner,
                "name": ref.name,
                "first": 50,
                "after": after,
                "since": since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None,
                "comments": NESTED_SIZES["comments"],
            }
            data, errors = self.graphql(ISSUES, "Issues", variables)
            conn = (data.get("repository") or {}).get("issues") or {}
            out: list[tuple[datetime, list[Any]]] = []
            for node in conn.get("nodes") or []:
                if not isinstance(node, dict):
                    continue
                try:
                    issue = m.issue(repo_id, node)
                    comments = self._follow(
                        node.get("comments"),
                        ISSUE_COMMENTS,
                        "IssueComments",
                        {"owner": ref.owner, "name": ref.name, "number": issue.number},
                        ("repository", "issue", "comments"),
                    )
                    out.append(_issue_item(repo_id, issue, node, comments))
                except _BAD_ITEM:
                    errors += 1
            nxt = next_cursor(conn.get("pageInfo"), seen, "Issues")
            yield out, errors, nxt
            if not nxt:
                return
            after = nxt
