"""Trailers read as git reads them: every case is also checked against ``git
interpret-trailers --parse --no-divider`` (what ``%(trailers)`` shows for a commit)."""

from __future__ import annotations

import subprocess

import pytest

from forgelens.trailers import Person, coauthors, person, trailers

CLAUDE = "Claude <noreply@anthropic.com>"

# (message, the trailers of git's block as (key, value))
BLOCK_CASES = [
    ("Fix\n\nCo-authored-by: " + CLAUDE, [("co-authored-by", CLAUDE)]),
    ("Fix\n\nCo-Authored-By: " + CLAUDE + "\n", [("co-authored-by", CLAUDE)]),
    ("Fix\n\nCO-AUTHORED-BY:" + CLAUDE, [("co-authored-by", CLAUDE)]),
    ("Fix\n\nco-authored-by :   " + CLAUDE + "  ", [("co-authored-by", CLAUDE)]),
    ("Fix\n\nCo-authored-by:\t" + CLAUDE, [("co-authored-by", CLAUDE)]),
    (
        "Fix\n\nbody\n\nCo-authored-by: A <a@x.org>\nCo-authored-by: B <b@x.org>\n"
        "Signed-off-by: C <c@x.org>\n",
        [
            ("co-authored-by", "A <a@x.org>"),
            ("co-authored-by", "B <b@x.org>"),
            ("signed-off-by", "C <c@x.org>"),
        ],
    ),
    # trailing blank lines and comment lines after the block
    ("Fix\n\nCo-authored-by: " + CLAUDE + "\n\n\n# a comment\n\n", [("co-authored-by", CLAUDE)]),
    # a continuation line is folded into its trailer
    ("Fix\n\nAssisted-by: Claude\n  claude-opus-4", [("assisted-by", "Claude claude-opus-4")]),
    # git's 25 % rule: one git-written trailer among prose lines
    (
        "Fix\n\nSigned-off-by: A <a@x>\nCo-authored-by: B <b@x>\nsome words here\n",
        [("signed-off-by", "A <a@x>"), ("co-authored-by", "B <b@x>")],
    ),
    # ...which needs a git-written trailer: without one, a prose line breaks the block
    ("Fix\n\nCo-authored-by: B <b@x>\nsome words here\n", []),
    # the title is never a trailer block
    ("Co-authored-by: " + CLAUDE, []),
    ("Co-authored-by: " + CLAUDE + "\nsecond title line", []),
    # not the last paragraph, and prose in it: no trailer
    ("Fix\n\nCo-authored-by: " + CLAUDE + "\nwas added by mistake\n\nmore text", []),
    # quoted and indented lines are not trailers
    ("Fix\n\n> Co-authored-by: " + CLAUDE, []),
    ("Fix\n\n    Co-authored-by: " + CLAUDE, []),
    # prose that mentions the trailer
    ("Fix\n\nWe now parse the Co-authored-by: trailer of commits.", []),
    ("Fix\n\nSee how Co-authored-by: works", []),
    # a space before the token, or a token with other characters
    ("Fix\n\n Co-authored-by: " + CLAUDE, []),
    ("Fix\n\nCo_authored_by: " + CLAUDE, []),
    ("Fix\n\nCo-authored by: " + CLAUDE, []),
    # CRLF line ends
    ("Fix\r\n\r\nCo-authored-by: " + CLAUDE + "\r\n", [("co-authored-by", CLAUDE)]),
]


def _git_block(message: str) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse", "--no-divider"],
        input=message.replace("\r\n", "\n").encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    pairs = []
    for line in out.splitlines():
        key, _, value = line.partition(":")
        pairs.append((key.strip().lower(), value.strip()))
    return pairs


@pytest.mark.parametrize(("message", "expected"), BLOCK_CASES)
def test_the_trailer_block_is_what_git_reads(message: str, expected: list[tuple[str, str]]) -> None:
    ours = [(t.key, t.value) for t in trailers(message) if t.in_block]
    assert ours == expected
    assert ours == _git_block(message)


def test_trailer_paragraphs_of_a_squash_merge_count_where_git_sees_none() -> None:
    message = (
        "Add export (#12)\n\n"
        "* first step\n\n"
        "Co-authored-by: Claude <noreply@anthropic.com>\n\n"
        "* second step\n\n"
        "Made-with: Cursor\n\n"
        "* third step, with prose after it\n"
    )
    found = [(t.key, t.value, t.in_block) for t in trailers(message)]
    assert found == [
        ("co-authored-by", "Claude <noreply@anthropic.com>", False),
        ("made-with", "Cursor", False),
    ]
    assert _git_block(message) == []  # git itself reads no block: the last paragraph is prose


def test_a_paragraph_mixing_prose_and_a_trailer_line_is_not_a_trailer_paragraph() -> None:
    message = "Fix\n\nWe credit\nCo-authored-by: A <a@x>\nin prose.\n\nEnd."
    assert trailers(message) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Claude <noreply@anthropic.com>", Person("Claude", "noreply@anthropic.com")),
        (
            "Claude Opus 4.1 <NoReply@Anthropic.com>",
            Person("Claude Opus 4.1", "noreply@anthropic.com"),
        ),
        ('"Jane Doe" <jane@x.org>', Person("Jane Doe", "jane@x.org")),
        ("<anon@x.org>", Person("", "anon@x.org")),
        ("is a trailer GitHub reads", None),
        ("Jane <>", None),
        ("Jane <a b@x>", None),
    ],
)
def test_person_of_a_trailer_value(value: str, expected: Person | None) -> None:
    assert person(value) == expected


def test_coauthors_in_order_each_once_and_only_from_trailers() -> None:
    message = (
        "Fix\n\nThe Co-authored-by: lines below credit people.\n\n"
        "Co-authored-by: Jane <jane@x.org>\n"
        "co-authored-by: Claude <noreply@anthropic.com>\n"
        "Co-Authored-By: Jane Again <JANE@x.org>\n"
        "Co-authored-by: nobody in particular\n"
    )
    assert coauthors(message) == [
        Person("Jane", "jane@x.org"),
        Person("Claude", "noreply@anthropic.com"),
    ]
    assert coauthors("Fix\n\nno trailers here") == []


# Lines that make the walk over a message's lines take each of its turns: blank and
# whitespace-only lines, comments, continuations, git's own prefixes, prose with a colon,
# tokens with spaces before the colon, a carriage return, non-ASCII whitespace.
_PIECES = [
    "",
    "",
    "",
    " ",
    "\t",
    "# a comment",
    "#",
    "Co-authored-by: Claude <noreply@anthropic.com>",
    "co-authored-by:Alice <a@x.org>",
    "Co-Authored-By : Bob <b@x.org>",
    "Assisted-by: GitHub Copilot",
    "Made-with: Cursor",
    "Signed-off-by: Dev <dev@x.org>",
    "(cherry picked from commit 0123456789abcdef)",
    "  folded onto the trailer above",
    "\tfolded by a tab",
    "prose: with a colon in it",
    "Just prose, no colon",
    "> Co-authored-by: quoted <q@x.org>",
    "Key:",
    "Key-2:   spaced value  ",
    "a line with a carriage return\r",
    "\u2003Co-authored-by: em space <e@x.org>",
    "Fixes: #12",
    "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
]


def test_plain_messages_read_as_git_reads_them() -> None:
    """The regular-expression reading of plain messages gives what the walk over the lines
    gives, for thousands of messages built from lines that take every turn of the walk (and
    both readings see each kind of message: plain and not)."""
    import random

    from forgelens import trailers as t

    rng = random.Random(19)
    plain = 0
    for _ in range(20_000):
        message = "\n".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 9)))
        if rng.random() < 0.3:
            message = "Title line\n\n" + message
        elif rng.random() < 0.1:
            message = rng.choice(["\n", " ", "#", "\t", "\u2003"]) + message
        plain += t._is_plain(message)
        assert t.trailers(message) == t._trailers(message), repr(message)
    assert 2_000 < plain < 18_000
