"""``withdraw``: which approval a withdrawal ends (GitLab unapprove notes, Bitbucket Server
``UNAPPROVED`` activities)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forgelens.records import Review
from forgelens.sources._forge_common import withdraw

T = datetime(2026, 3, 2, 9, tzinfo=UTC)


def approval(rid: str, who: str, minutes: int) -> Review:
    return Review("r", 1, rid, who, "APPROVED", T + timedelta(minutes=minutes))


def states(reviews: list[Review]) -> dict[str, str]:
    return {r.review_id: r.state for r in reviews}


def test_a_withdrawal_ends_its_authors_latest_approval_before_it() -> None:
    reviews = [approval("1", "bob", 0), approval("2", "bob", 10), approval("3", "ann", 5)]
    withdraw(reviews, [("bob", T + timedelta(minutes=20))], merged_at=None)
    assert states(reviews) == {"1": "APPROVED", "2": "DISMISSED", "3": "APPROVED"}


def test_a_re_approval_after_the_withdrawal_stands() -> None:
    reviews = [approval("1", "bob", 0), approval("2", "bob", 10)]
    withdraw(reviews, [("bob", T + timedelta(minutes=5))], merged_at=T + timedelta(hours=1))
    assert states(reviews) == {"1": "DISMISSED", "2": "APPROVED"}


def test_a_withdrawal_after_the_merge_leaves_the_approval_that_merged_it() -> None:
    reviews = [approval("1", "bob", 0)]
    withdraw(reviews, [("bob", T + timedelta(hours=2))], merged_at=T + timedelta(hours=1))
    assert states(reviews) == {"1": "APPROVED"}


def test_two_withdrawals_end_two_approvals() -> None:
    reviews = [approval("1", "bob", 0), approval("2", "bob", 10)]
    withdraw(reviews, [("bob", T + timedelta(minutes=15)), ("bob", T + timedelta(minutes=5))], None)
    assert states(reviews) == {"1": "DISMISSED", "2": "DISMISSED"}
