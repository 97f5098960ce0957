"""GitHub GraphQL documents (as data) and the paging of pull requests and issues through them.

One ``PullRequests`` page carries up to ``first`` PRs with their files, reviews (with their
review comments), conversation comments, commits and labels; only PRs whose nested lists
overflow get follow-up queries (``PullRequestFiles`` ...). Page sizes shrink when GitHub
answers that the query took too long (502/504).
"""

from __future__ import annotations

from dataclasses import dataclass

ACTOR = "author { __typename login avatarUrl }"
COMMENT = f"databaseId body createdAt updatedAt {ACTOR}"
REVIEW_COMMENT = f"databaseId body createdAt updatedAt path line {ACTOR}"
PAGE_INFO = "totalCount pageInfo { hasNextPage endCursor }"
REVIEW = (
    f"id databaseId state body submittedAt {ACTOR} commit {{ oid }} "
    f"comments(first: $reviewComments) {{ {PAGE_INFO} nodes {{ {REVIEW_COMMENT} }} }}"
)
FILE = "path additions deletions changeType"
COMMIT = "commit { oid message authoredDate author { name email user { login } } }"
RATE = "rateLimit { limit cost remaining resetAt }"

PR_FIELDS = (
    "id databaseId number title body state isDraft createdAt updatedAt mergedAt closedAt "
    "baseRefName headRefName additions deletions changedFiles url "
    f"{ACTOR} mergedBy {{ __typename login avatarUrl }} labels(first: 20) {{ nodes {{ name }} }} "
    f"files(first: $files) {{ {PAGE_INFO} nodes {{ {FILE} }} }} "
    f"reviews(first: $reviews) {{ {PAGE_INFO} nodes {{ {REVIEW} }} }} "
    f"comments(first: $comments) {{ {PAGE_INFO} nodes {{ {COMMENT} }} }} "
    f"commits(first: $commits) {{ {PAGE_INFO} nodes {{ {COMMIT} }} }}"
)

REPO_PROBE = f"""query RepoProbe($owner: String!, $name: String!) {{
  repository(owner: $owner, name: $name) {{
    databaseId id name nameWithOwner owner {{ login }} description isPrivate isFork isArchived
    primaryLanguage {{ name }} stargazerCount forkCount url createdAt updatedAt pushedAt
    openIssues: issues(states: OPEN) {{ totalCount }}
    openPullRequests: pullRequests(states: OPEN) {{ totalCount }}
    defaultBranchRef {{ name }}
    branchProtectionRules(first: 20) {{ nodes {{ pattern requiredApprovingReviewCount
      requiresCodeOwnerReviews dismissesStaleReviews requiredStatusCheckContexts
      isAdminEnforced allowsForcePushes }} }}
    pullRequests(first: 1, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      nodes {{ updatedAt }} }}
    issues(first: 1, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      nodes {{ updatedAt }} }}
  }}
  {RATE}
}}"""

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
PR_PAGE = 50
NESTED_SIZES = {"files": 50, "reviews": 20, "reviewComments": 10, "comments": 30, "commits": 30}
