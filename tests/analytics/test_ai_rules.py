"""AI evidence of commits, PRs and reviews: every shipped spelling, and the order of evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgelens.analytics.ai_rules import (
    AGENT,
    ASSISTANT,
    HIGH,
    LOW,
    MEDIUM,
    UNKNOWN,
    Evidence,
    load_rules,
)
from forgelens.errors import BadInput

RULES = load_rules()


def commit(message: str, name: str = "Jane", email: str = "jane@x.org", login: str | None = None):
    return RULES.commit(name, email, login, message)


@pytest.mark.parametrize(
    ("message", "tool"),
    [
        ("Fix\n\nCo-Authored-By: Claude <noreply@anthropic.com>", "Claude Code"),
        ("Fix\n\nco-authored-by: claude <NOREPLY@anthropic.com>", "Claude Code"),
        ("Fix\n\nCo-authored-by: Claude Sonnet 4.5 <noreply@anthropic.com>", "Claude Code"),
        ("Fix\n\nCo-authored-by: Cursor Agent <cursoragent@cursor.com>", "Cursor"),
        (
            "Fix\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
            "GitHub Copilot",
        ),
        (
            "Fix\n\nCo-authored-by: copilot-swe-agent[bot] "
            "<198982749+copilot-swe-agent[bot]@users.noreply.github.com>",
            "Copilot coding agent",
        ),
        ("Fix\n\nCo-authored-by: aider (gpt-4o) <noreply@aider.chat>", "Aider"),
        (
            "Fix\n\nCo-authored-by: devin-ai-integration[bot] "
            "<158243242+devin-ai-integration[bot]@users.noreply.github.com>",
            "Devin",
        ),
        (
            "Fix\n\nCo-authored-by: Jane <jane@x.org>\n"
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Claude Code",
        ),
    ],
)
def test_ai_coauthor_trailers(message: str, tool: str) -> None:
    ev = commit(message)
    assert ev is not None
    assert (ev.tool, ev.mode, ev.confidence, ev.kind) == (tool, ASSISTANT, HIGH, "coauthor_trailer")
    assert ev.text.startswith("Co-authored-by: ")


def test_a_coauthor_known_by_name_only_is_medium() -> None:
    ev = commit("Fix\n\nCo-authored-by: Claude <claude@example.com>")
    assert ev is not None
    assert (ev.tool, ev.confidence) == ("Claude Code", MEDIUM)


@pytest.mark.parametrize(
    ("message", "tool", "text"),
    [
        (
            "Fix\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)",
            "Claude Code",
            "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
        ),
        ("Fix\n\ngenerated with claude code", "Claude Code", "generated with claude code"),
        ("Fix\n\nMade-with: Cursor", "Cursor", "Made-with: Cursor"),
        ("Fix\n\nmade-with:cursor", "Cursor", "Made-with: cursor"),
        ("Fix\n\nAssisted-by: GitHub Copilot", "GitHub Copilot", "Assisted-by: GitHub Copilot"),
        (
            "Fix\n\nAssisted-by: Claude:claude-3-opus",
            "Claude Code",
            "Assisted-by: Claude:claude-3-opus",
        ),
        ("Fix\n\nAssisted-by: gemini-2.5-pro", "Gemini", "Assisted-by: gemini-2.5-pro"),
        ("Fix\n\nAssisted-by: some in-house model", UNKNOWN, "Assisted-by: some in-house model"),
        ("Fix\n\nGenerated-by: OpenAI Codex", "OpenAI Codex", "Generated-by: OpenAI Codex"),
        # the trailer not at the end: a squash merge's inner paragraph
        ("Fix (#3)\n\n* step\n\nMade-with: Cursor\n\n* step two", "Cursor", "Made-with: Cursor"),
    ],
)
def test_markers(message: str, tool: str, text: str) -> None:
    ev = commit(message)
    assert ev is not None
    assert (ev.tool, ev.mode, ev.confidence, ev.kind, ev.text) == (
        tool,
        ASSISTANT,
        HIGH,
        "marker",
        text,
    )


@pytest.mark.parametrize(
    "message",
    [
        "Fix\n\nThis parses Co-authored-by: Claude <noreply@anthropic.com> in prose lines.",
        "Fix\n\n> Co-authored-by: Claude <noreply@anthropic.com>",
        "Fix\n\n    Co-authored-by: Claude <noreply@anthropic.com>",
        "Fix\n\n> 🤖 Generated with [Claude Code](https://claude.com/claude-code)",
        "Fix\n\nDocs: how the 'Generated with [Claude Code]' line is detected",
        "Co-authored-by: Claude <noreply@anthropic.com>",  # a title
        "Fix\n\nCo-authored-by: Jane <jane@x.org>",  # a human
        "Fix\n\nCo-authored-by: dependabot[bot] <support@github.com>",
        "Regenerated the lockfile\n\nmade with care",
        "Fix\n\nAssisted-by:",
    ],
)
def test_no_evidence(message: str) -> None:
    assert commit(message) is None


def test_aider_author_suffix() -> None:
    ev = RULES.commit("Paul Gauthier (aider)", "paul@x.org", None, "feat: add x")
    assert ev is not None
    assert (ev.tool, ev.kind, ev.confidence) == ("Aider", "marker", HIGH)
    assert ev.text == "author Paul Gauthier (aider)"
    assert RULES.commit("Aider Fan", "a@x.org", None, "feat") is None


@pytest.mark.parametrize(
    ("name", "email", "login", "tool"),
    [
        ("Copilot", "198982749+Copilot@users.noreply.github.com", None, "Copilot coding agent"),
        ("x", "x@x", "copilot-swe-agent[bot]", "Copilot coding agent"),
        ("x", "x@x", "Copilot", "Copilot coding agent"),
        (
            "devin-ai-integration[bot]",
            "158243242+devin-ai-integration[bot]@users.noreply.github.com",
            None,
            "Devin",
        ),
        ("x", "x@x", "chatgpt-codex-connector[bot]", "OpenAI Codex"),
        ("x", "x@x", "google-labs-jules[bot]", "Gemini"),
    ],
)
def test_agent_authored_commits(name: str, email: str, login: str | None, tool: str) -> None:
    # an agent author wins over any trailer in the message
    ev = RULES.commit(name, email, login, "Fix\n\nCo-authored-by: Jane <jane@x.org>")
    assert ev is not None
    assert (ev.tool, ev.mode, ev.kind, ev.confidence) == (
        tool,
        AGENT,
        "agent_author",
        HIGH,
    )


def test_coauthor_trailer_outranks_a_marker_line_of_the_same_message() -> None:
    message = (
        "Fix\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
        "Co-Authored-By: Cursor Agent <cursoragent@cursor.com>"
    )
    ev = commit(message)
    assert ev is not None
    assert (ev.kind, ev.tool) == ("coauthor_trailer", "Cursor")


def test_pr_evidence_order() -> None:
    trailer = Evidence("Claude Code", ASSISTANT, HIGH, "coauthor_trailer", "Co-authored-by: C")
    marker = Evidence("Cursor", ASSISTANT, HIGH, "marker", "Made-with: Cursor")
    body = "Summary\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)"
    # the agent author first
    ev = RULES.pr("Copilot", ["ai-assisted"], "cursor/x", body, [("a" * 40, trailer)])
    assert ev is not None
    assert (ev.kind, ev.tool, ev.mode) == (
        "agent_author",
        "Copilot coding agent",
        AGENT,
    )
    # then the commits' evidence, strongest of them, whatever their order
    ev = RULES.pr(
        "jane", ["ai-assisted"], "cursor/x", body, [("b" * 40, marker), ("a" * 40, trailer)]
    )
    assert ev is not None
    assert ev.kind == "coauthor_trailer"
    assert ev.text == "commit aaaaaaaaaaaa: Co-authored-by: C"
    # then labels, branches, the body
    ev = RULES.pr("jane", ["bug", "Claude-Code-Assisted"], "cursor/x", body)
    assert ev is not None
    assert (ev.kind, ev.tool, ev.confidence) == ("label", "Claude Code", MEDIUM)
    ev = RULES.pr("jane", ["ai-assisted"], None, None)
    assert ev is not None
    assert (ev.tool, ev.confidence) == (UNKNOWN, LOW)
    ev = RULES.pr("jane", [], "copilot/fix-123", body)
    assert ev is not None
    assert (ev.kind, ev.tool, ev.mode) == (
        "branch",
        "Copilot coding agent",
        AGENT,
    )
    ev = RULES.pr("jane", [], "feature/x", body)
    assert ev is not None
    assert (ev.kind, ev.tool, ev.confidence) == (
        "pr_body",
        "Claude Code",
        MEDIUM,
    )
    assert RULES.pr("jane", ["bug"], "feature/copilot/x", "Generated by hand") is None


def test_ai_reviewers() -> None:
    for login, tool in [
        ("copilot-pull-request-reviewer[bot]", "GitHub Copilot"),
        ("Copilot", "GitHub Copilot"),
        ("coderabbitai[bot]", "CodeRabbit"),
        ("CodeRabbitAI", "CodeRabbit"),
        ("gemini-code-assist[bot]", "Gemini"),
    ]:
        assert RULES.reviewer(login) == tool
    assert RULES.reviewer("jane") is None
    assert RULES.reviewer("dependabot[bot]") is None


def test_a_user_rules_file_adds_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "agents:\n  - {tool: Acme Bot, logins: [acme-agent], emails: ['*@agents.acme.test']}\n"
        "labels:\n  ai-assisted: Acme Bot\n  built-by-acme: Acme Bot\n"
        "branches:\n  acme/: Acme Bot\n"
        "agent_owner: [merged_by]\n",
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert rules.agent("acme-agent") == "Acme Bot"
    assert rules.agent(None, "run-7@agents.acme.test") == "Acme Bot"
    assert rules.agent("copilot-swe-agent[bot]") == "Copilot coding agent"  # built-ins stay
    ev = rules.pr("jane", ["AI-Assisted"], None, None)
    assert ev is not None
    assert ev.tool == "Acme Bot"
    ev = rules.pr("jane", [], "acme/fix", None)
    assert ev is not None
    assert ev.tool == "Acme Bot"
    assert rules.owner_rules == ("merged_by",)
    assert rules.digest != RULES.digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agents: {a: 1}\n", "agents must be a list"),
        ("robots: []\n", "unknown key(s) robots"),
        ("agent_owner: [assignee_of_moon]\n", "unknown agent_owner rule(s) assignee_of_moon"),
        ("markers:\n  - {tool: X, pattern: '('}\n", "not a regular expression"),
        ("agents:\n  - {logins: [x]}\n", "lacks a field"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_bad_rules_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rules(path)
