"""``ai_attribution``: evidence per commit, PR and review, the human behind an agent PR,
incremental runs, on DuckDB, PostgreSQL and chDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forgelens import records as R
from forgelens.analytics.ai_attribution import attribute
from forgelens.analytics.ai_rules import load_rules
from forgelens.store import Store

GH = "github:octo/app"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
CLAUDE = "Co-Authored-By: Claude <noreply@anthropic.com>"


def pr(number: int, author: str, **kw: Any) -> R.PullRequest:
    return R.PullRequest(
        repository_id=GH,
        number=number,
        title=f"PR {number}",
        state="merged",
        created_at=T0 + timedelta(hours=number),
        updated_at=T0,
        author=author,
        merged_at=T0 + timedelta(hours=number + 5),
        **kw,
    )


def pc(number: int, sha: str, message: str, login: str = "alice", email: str = "a@x.org") -> Any:
    return R.PrCommit(
        repository_id=GH,
        pr_number=number,
        sha=sha,
        author_name=login,
        author_email=email,
        author_login=login,
        authored_at=T0 + timedelta(hours=number, minutes=len(sha)),
        message=message,
    )


def commit(sha: str, message: str, name: str = "Alice", email: str = "a@x.org") -> R.Commit:
    return R.Commit(
        repository_id=GH,
        sha=sha,
        author_name=name,
        author_email=email,
        authored_at=T0,
        committer_name=name,
        committer_email=email,
        committed_at=T0,
        message=message,
        additions=1,
        deletions=0,
        files_changed=1,
        is_merge=False,
    )


def review(number: int, rid: str, author: str, state: str = "APPROVED") -> R.Review:
    return R.Review(GH, number, rid, author, state, T0 + timedelta(hours=number + 1))


def dataset() -> list[Any]:
    return [
        R.Repository(id=GH, source="github", full_name="octo/app", name="app"),
        commit("c1" * 20, "Add x\n\n" + CLAUDE),
        commit("c2" * 20, "Add y\n\nWe read the Co-authored-by: trailer now."),
        commit("c3" * 20, "Fix z", name="Paul (aider)"),
        commit("c4" * 20, "Docs\n\nMade-with: Cursor"),
        # 1: squash-merged; its commit carried the trailer
        pr(1, "alice"),
        pc(1, "a1" * 20, "wip\n\n" + CLAUDE),
        pc(1, "a2" * 20, "more wip"),
        # 2: the Copilot agent's PR, asked for by bob (its co-author), pushed to by carol
        pr(2, "Copilot", head_ref="copilot/fix-2", merged_by="dave"),
        pc(
            2,
            "b1" * 20,
            "Initial plan",
            login="Copilot",
            email="198982749+Copilot@users.noreply.github.com",
        ),
        pc(
            2,
            "b2" * 20,
            "Fix\n\nCo-authored-by: bob <1234+bob@users.noreply.github.com>",
            login="Copilot",
            email="198982749+Copilot@users.noreply.github.com",
        ),
        pc(2, "b3" * 20, "tweak", login="carol", email="carol@x.org"),
        # 3: labelled; 4: a branch prefix; 5: a PR-body marker; 6: nothing
        pr(3, "alice", labels=["claude-code-assisted"]),
        pr(4, "alice", head_ref="cursor/refactor"),
        pr(
            5,
            "alice",
            body="Summary\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)",
        ),
        pr(6, "alice", head_ref="feature/copilot", body="> Generated with [Claude Code]"),
        # 7: the agent's PR with no human co-author: carol pushed to it
        pr(7, "copilot-swe-agent[bot]"),
        pc(7, "d1" * 20, "plan", login="copilot-swe-agent[bot]", email="x@y"),
        pc(7, "d2" * 20, "fix", login="carol", email="carol@x.org"),
        review(2, "r1", "copilot-pull-request-reviewer[bot]", "COMMENTED"),
        review(2, "r2", "bob"),
        review(3, "r3", "coderabbitai[bot]", "COMMENTED"),
    ]


def asked_dataset() -> list[Any]:
    """Agent PRs whose owner comes from the forge's assignees and review requests."""
    return [
        # 10: assigned to the agent and erin (who asked it): erin, before bob the co-author
        pr(10, "Copilot", assignees=["Copilot", "erin"], requested_reviewers=["bob"]),
        pc(
            10,
            "e1" * 20,
            "Fix\n\nCo-authored-by: bob <1234+bob@users.noreply.github.com>",
            login="Copilot",
            email="198982749+Copilot@users.noreply.github.com",
        ),
        # 11: Devin's, nobody assigned, no commit yet: the human whose review it awaits
        pr(
            11,
            "devin-ai-integration[bot]",
            assignees=[],
            requested_reviewers=["coderabbitai[bot]", "Frank"],
        ),
    ]


def rows(store: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
    got = store.query(
        "SELECT kind, key, tool, mode, confidence, evidence_kind, owner FROM ai_attribution"
    )
    return {(k, key): tuple(rest) for k, key, *rest in got}


EXPECTED = {
    ("commit", "c1" * 20): ("Claude Code", "assistant_coauthor", "high", "coauthor_trailer", None),
    ("commit", "c3" * 20): ("Aider", "assistant_coauthor", "high", "marker", None),
    ("commit", "c4" * 20): ("Cursor", "assistant_coauthor", "high", "marker", None),
    ("pr", "1"): ("Claude Code", "assistant_coauthor", "high", "coauthor_trailer", None),
    ("pr", "2"): ("Copilot coding agent", "autonomous_agent", "high", "agent_author", "bob"),
    ("pr", "3"): ("Claude Code", "assistant_coauthor", "medium", "label", None),
    ("pr", "4"): ("Cursor", "autonomous_agent", "medium", "branch", None),
    ("pr", "5"): ("Claude Code", "assistant_coauthor", "medium", "pr_body", None),
    ("pr", "7"): ("Copilot coding agent", "autonomous_agent", "high", "agent_author", "carol"),
    ("review", "2:r1"): ("GitHub Copilot", "ai_reviewer", "high", "reviewer", None),
    ("review", "3:r3"): ("CodeRabbit", "ai_reviewer", "high", "reviewer", None),
}
ASKED = {
    ("pr", "10"): ("Copilot coding agent", "autonomous_agent", "high", "agent_author", "erin"),
    ("pr", "11"): ("Devin", "autonomous_agent", "high", "agent_author", "frank"),
}


def check(store: Store) -> None:
    store.write_records([*dataset(), *asked_dataset()])
    result = attribute(store, load_rules())
    assert result.mode == "full"
    assert rows(store) == {**EXPECTED, **ASKED}
    evidence = store.query("SELECT evidence FROM ai_attribution WHERE kind = 'pr' AND key = '1'")[
        0
    ][0]
    assert evidence == "commit " + "a1" * 6 + ": " + CLAUDE.replace(
        "Co-Authored-By", "Co-authored-by"
    )


def test_attribution_duckdb(store: Store) -> None:
    check(store)


@pytest.mark.integration
def test_attribution_postgres(pg_url: str) -> None:
    from forgelens.store import open_store

    s = open_store(pg_url)
    try:
        check(s)
    finally:
        s.close()


def test_attribution_chdb(chdb_store: Store) -> None:
    check(chdb_store)


def test_incremental_reads_only_what_changed_and_drops_evidence_gone(store: Store) -> None:
    store.write_records(dataset())
    rules = load_rules()
    attribute(store, rules)
    again = attribute(store, rules)
    assert (again.mode, again.commits, again.prs, again.reviews) == ("incremental", 0, 0, 0)
    assert rows(store) == EXPECTED
    # the label removed, a commit added to PR 6 with a trailer, a new AI review
    store.write_records(
        [
            pr(3, "alice"),
            pc(6, "e1" * 20, "x\n\nAssisted-by: Gemini"),
            review(6, "r9", "gemini-code-assist[bot]", "COMMENTED"),
        ]
    )
    third = attribute(store, rules)
    assert (third.mode, third.commits, third.prs, third.reviews) == ("incremental", 0, 2, 1)
    want = dict(EXPECTED)
    del want[("pr", "3")]
    want[("pr", "6")] = ("Gemini", "assistant_coauthor", "high", "marker", None)
    want[("review", "6:r9")] = ("Gemini", "ai_reviewer", "high", "reviewer", None)
    assert rows(store) == want
    # the same store analysed in full gives the same rows
    assert attribute(store, rules, full=True).mode == "full"
    assert rows(store) == want


# co-author spellings the store's prefilter must let through when the rules find an assistant
# (and may leave out when they find a human): folded over lines, name only, glob emails, a
# user's rules
COAUTHOR_SPELLINGS = [
    "Co-authored-by: Amazon\n  Q <q@corp.example>",
    "Co-authored-by: Claude\n Code <someone@corp.example>",
    'Co-authored-by: "Cursor" <x@corp.example>',
    "CO-AUTHORED-BY : GitHub Copilot <12+Copilot@users.noreply.github.com>",
    "Co-authored-by: Robo Helper (bot) <r@corp.example>",
    "Co-authored-by: Someone <build@AI.example>",
    "Co-authored-by: Dev 7 <dev7@example.com>",
    "Co-authored-by: Ada <ada@example.com>\nCo-authored-by: Bob <bob@example.com>",
    "Co-authored-by: Copilot Fan <fan@example.com>",
    # regular-expression characters in the email the store's test looks for
    "Co-authored-by: R <7+robo.x[bot]@users.noreply.github.com>",
]


def test_store_prefilter_keeps_every_commit_the_rules_attribute(
    store: Store, tmp_path: Path
) -> None:
    _prefilter_keeps_every_commit(store, tmp_path)


@pytest.mark.integration
def test_store_prefilter_keeps_every_commit_postgres(pg_url: str, tmp_path: Path) -> None:
    from forgelens.store import open_store

    s = open_store(pg_url)
    try:
        _prefilter_keeps_every_commit(s, tmp_path)
    finally:
        s.close()


def test_store_prefilter_keeps_every_commit_chdb(chdb_store: Store, tmp_path: Path) -> None:
    _prefilter_keeps_every_commit(chdb_store, tmp_path)


def _prefilter_keeps_every_commit(store: Store, tmp_path: Path) -> None:
    extra = tmp_path / "rules.yaml"
    extra.write_text(
        "coauthors:\n  - {tool: Robo, emails: ['*@ai.example', "
        "'*+robo.x[bot]@users.noreply.github.com']}\ncoauthor_names: [robo helper]\n"
    )
    rules = load_rules(extra)
    repo = R.Repository(id=GH, source="github", full_name="octo/app", name="app")
    commits = [
        commit(f"{i:040x}", f"Change {i}\n\nBody.\n\n{trailer}")
        for i, trailer in enumerate(COAUTHOR_SPELLINGS)
    ]
    store.write_records([repo, *commits])
    attribute(store, rules)
    got = {key: (v[0], v[3]) for (kind, key), v in rows(store).items() if kind == "commit"}
    want = {}
    for c in commits:
        ev = rules.commit(c.author_name, c.author_email, None, c.message)
        if ev is not None:
            want[c.sha] = (ev.tool, ev.kind)
    assert got == want
    # the human co-authors stay out, the assistants are all in
    assert len(want) == 7
