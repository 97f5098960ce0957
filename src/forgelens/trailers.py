"""Commit-message trailers (``Key: value`` lines), read by git's own rules.

Shared by the git miner (which stores ``Co-authored-by`` trailers) and the analytics (which read
AI markers), so it imports nothing of forgelens.

**The trailer block** is what ``git interpret-trailers --parse`` and ``%(trailers)`` read
(git's ``trailer.c``): the last paragraph of the message after trailing blank and comment
(``#``) lines, never the first paragraph (the title). It is a block when every line in it is a
trailer or a continuation (a line starting with whitespace, folded into the trailer above it),
or when one line starts with a prefix git itself writes (``Signed-off-by:``, ``(cherry picked
from commit``) and at least a quarter of its lines are trailers. A trailer line is a token of
ASCII letters, digits and ``-``, optional spaces, ``:``, then the value: ``Co-Authored-By :
x`` is one, ``> Co-authored-by: x`` (a quote) and ``   Co-authored-by: x`` (indented) are not.
Tokens compare case-insensitively.

**Trailer paragraphs elsewhere**: a squash merge joins its commits' messages, so their trailer
blocks end up in the middle of the body (``* first commit`` / blank / ``Co-authored-by: ...`` /
blank / ``* second commit``). :func:`trailers` also returns the trailers of every paragraph
after the title made of trailer lines only (no prose line at all).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_GIT_PREFIXES = ("signed-off-by:", "(cherry picked from commit ")
_TOKEN = re.compile(r"[A-Za-z0-9-]+[ \t]*:")  # git: token chars, then spaces, then ':'
_IDENT = re.compile(r"^(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]*)>\s*$")
_HAS_COAUTHOR = re.compile(r"co-authored-by", re.IGNORECASE)
COAUTHOR_KEY = "co-authored-by"


class Trailer(NamedTuple):
    key: str  # lower case, as git compares tokens
    value: str  # continuation lines folded in with one space
    in_block: bool  # in git's trailer block (False: a trailer-only paragraph before it)


class Person(NamedTuple):
    name: str
    email: str


def _separator(line: str) -> int:
    """git's ``find_separator`` (and its caller's test that the token is not empty): the
    index of ``:`` after a token and optional spaces, or -1 when the line is not one."""
    found = _TOKEN.match(line)
    return found.end() - 1 if found else -1


def _is_trailer_line(line: str) -> bool:
    return _TOKEN.match(line) is not None


def _is_git_prefix(line: str) -> bool:
    low = line[:32].lower()
    return low.startswith(_GIT_PREFIXES)


def _paragraphs(lines: list[str], start: int) -> list[tuple[int, int]]:
    """(first, end) line ranges of the paragraphs of ``lines[start:]`` (blank lines between;
    comment lines are neither text nor a break, as git reads them)."""
    out: list[tuple[int, int]] = []
    first = -1
    for i in range(start, len(lines)):
        line = lines[i]
        if not line.strip():
            if first >= 0:
                out.append((first, i))
                first = -1
        elif first < 0 and not line.startswith("#"):
            first = i
    if first >= 0:
        out.append((first, len(lines)))
    return out


def _title_end(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        if not line.startswith("#") and not line.strip():
            return i
    return len(lines)


def _is_block(lines: list[str]) -> bool:
    """git's test of the last paragraph (comment lines already dropped)."""
    trailers = non_trailers = continuations = 0
    git_prefix = False
    for line in reversed(lines):
        if _is_git_prefix(line):
            trailers += 1
            continuations = 0
            git_prefix = True
        elif line[:1] in (" ", "\t"):
            continuations += 1
        elif _is_trailer_line(line):
            trailers += 1
            continuations = 0
        else:
            non_trailers += 1 + continuations
            continuations = 0
    non_trailers += continuations  # continuations of nothing (the paragraph's first lines)
    if trailers and not non_trailers:
        return True
    return git_prefix and trailers * 3 >= non_trailers


def _parse(lines: list[str], in_block: bool) -> list[Trailer]:
    out: list[Trailer] = []
    key = value = ""
    for line in lines:
        if line[:1] in (" ", "\t"):
            if key:
                value = f"{value} {line.strip()}".strip()
            continue
        if key:
            out.append(Trailer(key, value, in_block))
            key = value = ""
        sep = _separator(line)
        if sep >= 1:
            key, value = line[:sep].strip().lower(), line[sep + 1 :].strip()
    if key:
        out.append(Trailer(key, value, in_block))
    return out


def trailers(message: str) -> list[Trailer]:
    """Every trailer of ``message``: those of git's trailer block, and those of the
    trailer-only paragraphs before it (see the module docstring), in message order."""
    if _is_plain(message):
        found = _plain_trailers(message)
        if found is not None:
            return found
    return _trailers(message)


# a line after the first that starts with "#" (a comment) or whitespace but a newline (a
# continuation, or a blank line of spaces): a literal first, which the engine scans for fast
_UNPLAIN = re.compile(r"\n(?:#|[^\S\n])")


def _is_plain(message: str) -> bool:
    """No line starts with ``#`` or whitespace (a line break aside), no carriage return."""
    first = message[:1]
    return (
        _UNPLAIN.search(message) is None
        and "\r" not in message
        and first != "#"
        and (first == "\n" or not first.isspace())
    )


_BLANK_LINES = re.compile(r"\n\n+")
_TRAILER_PARAGRAPH = re.compile(r"[A-Za-z0-9-]+[ \t]*:[^\n]*(?:\n[A-Za-z0-9-]+[ \t]*:[^\n]*)*")
_TRAILER = re.compile(r"^([A-Za-z0-9-]+)[ \t]*:(.*)$", re.MULTILINE)


def _plain_trailers(message: str) -> list[Trailer] | None:
    """:func:`trailers` of a plain message (see ``_UNPLAIN``), by a few regular expressions
    instead of a walk over its lines (the same result: blank lines are empty, a paragraph
    holds no comment or continuation line); None when the last paragraph may be a block by
    git's own prefixes (the general walk decides)."""
    if message.startswith("\n"):  # no title: every paragraph counts
        rest = message
    else:
        cut = message.find("\n\n")
        if cut < 0:
            return []
        rest = message[cut:]
    paragraphs = _BLANK_LINES.split(rest.strip("\n"))
    last = len(paragraphs) - 1
    out: list[Trailer] = []
    for n, paragraph in enumerate(paragraphs):
        if paragraph and _TRAILER_PARAGRAPH.fullmatch(paragraph):
            out.extend(
                Trailer(key.lower(), value.strip(), n == last)
                for key, value in _TRAILER.findall(paragraph)
            )
        elif n == last and _MAYBE_GIT_PREFIX.search(paragraph):
            return None
    return out


_MAYBE_GIT_PREFIX = re.compile(r"signed-off-by|\(cherry picked", re.IGNORECASE)


def _trailers(message: str) -> list[Trailer]:
    """:func:`trailers` by git's walk over the lines (any message)."""
    lines = list(message.replace("\r\n", "\n").split("\n"))
    paras = _paragraphs(lines, _title_end(lines))
    out: list[Trailer] = []
    for n, (first, end) in enumerate(paras):
        body = [line for line in lines[first:end] if not line.startswith("#")]
        last = n == len(paras) - 1
        if last and _is_block(body):
            out.extend(_parse(body, True))
        elif not last and body and all(_is_trailer_line(line) for line in body):
            out.extend(_parse(body, False))
    return out


def person(value: str) -> Person | None:
    """``Name <email>`` of a trailer value, or None when the value is not one (prose)."""
    found = _IDENT.match(value)
    if found is None or not found["email"]:
        return None
    return Person(found["name"].strip().strip('"'), found["email"].strip().lower())


def coauthors(message: str) -> list[Person]:
    """The people of ``message``'s ``Co-authored-by`` trailers, in order, each once.

    Cheap for the messages without one (a case-insensitive search, no parsing): the git
    miner calls it on every commit.
    """
    if _HAS_COAUTHOR.search(message) is None:
        return []
    seen: set[str] = set()
    out: list[Person] = []
    for t in trailers(message):
        if t.key == COAUTHOR_KEY and (p := person(t.value)) is not None and p.email not in seen:
            seen.add(p.email)
            out.append(p)
    return out
