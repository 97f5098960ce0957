"""GitHub's GraphQL cost rule, on the examples of GitHub's own documentation ("Rate limits and
node limits for the GraphQL API") and on the queries forgelens sends."""

from __future__ import annotations

import pytest

from forgelens.sources.github import _graphql as gq
from forgelens.testing.forge_sim.github_cost import QueryError, query_cost

# GitHub docs: 1 (repositories) + 100 (issues) + 100 x 50 (labels) = 5,101 requests -> 51 points
DOCS_COST_EXAMPLE = """
query {
  viewer {
    login
    repositories(first: 100) {
      edges { node { id
          issues(first: 50) {
            edges { node { id
                labels(first: 60) { edges { node { id name } } }
            } }
          }
      } }
    }
  }
}
"""

# GitHub docs' node-limit example: 50 + 1,000 + 10,000 + 1,000 + 10,000 + 10 = 22,060 nodes
DOCS_NODE_EXAMPLE = """
query {
  viewer {
    repositories(first: 50) {
      edges {
        repository:node {
          name
          pullRequests(first: 20) {
            edges { pullRequest:node { title
                comments(first: 10) { edges { comment:node { bodyHTML } } } } }
          }
          issues(first: 20) {
            totalCount
            edges { issue:node { title bodyHTML
                comments(first: 10) { edges { comment:node { bodyHTML } } } } }
          }
        }
      }
    }
    followers(first: 10) { edges { follower:node { login } } }
  }
}
"""


def test_the_docs_cost_example_is_51_points() -> None:
    cost = query_cost(DOCS_COST_EXAMPLE)
    assert (cost.requests, cost.points) == (5101, 51)
    assert cost.nodes == 100 + 100 * 50 + 100 * 50 * 60


def test_the_docs_node_limit_example() -> None:
    cost = query_cost(DOCS_NODE_EXAMPLE)
    assert cost.nodes == 22_060
    assert cost.requests == 1 + 50 + 50 * 20 + 50 + 50 * 20 + 1  # 2,102 -> 21 points
    assert cost.points == 21


def test_a_small_query_costs_one_point_and_variables_size_connections() -> None:
    assert query_cost("query { viewer { login } }").points == 1
    doc = 'query Q($n: Int!) { repository(owner: "a") { issues(first: $n) { nodes { id } } } }'
    assert query_cost(doc, {"n": 100}).requests == 1
    assert query_cost(doc, {"n": 100}).nodes == 100
    assert query_cost(doc, {"n": 7}).nodes == 7


def test_forgelens_pull_request_page_cost() -> None:
    sizes = {**gq.NESTED_SIZES, "owner": "acme", "name": "x", "first": 50, "after": None}
    cost = query_cost(gq.PULL_REQUESTS, sizes)
    # pullRequests 1; per PR each of its connections (labels, assignees, review requests,
    # files, reviews, comments, commits); per review its comments
    per_pr = gq.PR_FIELDS.count("(first:") - 1  # the review comments' is inside REVIEW
    assert per_pr >= 5
    assert cost.requests == 1 + 50 * per_pr + 50 * gq.NESTED_SIZES["reviews"]
    assert cost.points == round(cost.requests / 100)
    # the probe: branch protection rules, the newest PR and issue, the newest deployments and
    # releases (totalCount-only not counted)
    probe = query_cost(gq.REPO_PROBE, {"owner": "acme", "name": "x"})
    assert (probe.requests, probe.points) == (5, 1)


def test_out_of_bounds_first_is_refused() -> None:
    with pytest.raises(QueryError):
        query_cost("query { viewer { repositories(first: 101) { nodes { id } } } }")
