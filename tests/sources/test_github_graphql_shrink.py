"""GitHub gives up on GraphQL pages too big to produce in time (502 / ``stream error: CANCEL``,
devlake#8614): the collector shrinks its page -- PRs per page, then nested items -- and carries
on; nothing of the repository is lost and no page is skipped."""

from __future__ import annotations

from forgelens.records import PrFile, PullRequest, Review
from forgelens.sources.base import RepoRef
from forgelens.testing.forge_sim import Faults, SimSize
from tests.sources.simhelp import github, running, sim_for


def test_cancelled_big_pages_shrink_and_the_repository_completes() -> None:
    size = SimSize(repos=1, prs_per_repo=40, files=20.0, huge_pr_files=400)
    sim = sim_for(size, faults=Faults(graphql_max_nodes=60))
    repo = sim.dataset.repos[0]
    with running(sim) as url, github(url) as source:
        records = [
            r
            for page in source.pull_requests(RepoRef("acme", "service-0"), None)
            for r in page.records
        ]
        cancelled = source.client.stats.by_status[502]
    assert cancelled > 0  # GitHub did cancel pages
    prs = [r for r in records if isinstance(r, PullRequest)]
    assert sorted(p.number for p in prs) == list(range(1, 41))
    files = {(r.pr_number, r.path) for r in records if isinstance(r, PrFile)}
    assert files == {(p.number, f.path) for p in repo.prs for f in p.files}
    reviews = {(r.pr_number, r.review_id) for r in records if isinstance(r, Review)}
    assert reviews == {(p.number, str(v.id)) for p in repo.prs for v in p.reviews}
    assert source.pr_page < 50  # it is still careful where it last had trouble
