"""Which commits, pull requests and reviews carry evidence of AI, by the rules in
``ai_rules.yaml`` (shipped) extended by a user's rules file of the same shape.

Evidence, strongest first (:data:`RANKS`): an agent account authored it; a ``Co-authored-by``
trailer names a known assistant; a marker (``Assisted-by:``/``Made-with:`` trailers, a
``Generated with [Claude Code]`` line, Aider's ``(aider)`` author suffix); a PR label; a PR
head-branch prefix; a marker line in the PR body. A PR also takes the evidence of its commits
(``pr_commits``' messages: a squash merge keeps it), ranked as the commit's. docs/metrics.md
states every rule.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from forgelens.errors import BadInput
from forgelens.trailers import COAUTHOR_KEY, Person, person, trailers

UNKNOWN = "unknown-ai"
ASSISTANT, AGENT, REVIEWER = "assistant_coauthor", "autonomous_agent", "ai_reviewer"
HIGH, MEDIUM, LOW = "high", "medium", "low"
RANKS = {
    "agent_author": 1,
    "coauthor_trailer": 2,
    "marker": 3,
    "label": 4,
    "branch": 5,
    "pr_body": 6,
    "reviewer": 1,  # a review by an AI reviewer account
}
MEMO_SIZE = 500_000  # messages whose evidence is kept (about 100 MB at most)
OWNER_RULES = ("assignee", "coauthor", "review_request", "committer", "merged_by")
_LISTS = ("tools", "agents", "coauthors", "reviewers", "markers", "coauthor_names", "trailers")
_MAPS = ("labels", "branches", "author_suffixes")


@dataclass(frozen=True, slots=True)
class Evidence:
    tool: str
    mode: str
    confidence: str
    kind: str  # a key of RANKS
    text: str  # the login, trailer, line, label or branch that decided it

    @property
    def rank(self) -> int:
        return RANKS[self.kind]

    @property
    def columns(self) -> tuple[str, str, str, str, str]:
        """``ai_attribution``'s tool, mode, confidence, evidence_kind and evidence."""
        return self.tool, self.mode, self.confidence, self.kind, self.text


_UNSEEN = Evidence("", "", "", "", "")  # a memo's miss (None is a remembered "no evidence")


def _glob(pattern: str) -> str:
    """The regular expression (of a lower-cased name) where ``*`` is any text and nothing
    else is special (``[bot]`` is literal, unlike fnmatch's character classes)."""
    return ".*".join(re.escape(p) for p in pattern.lower().split("*"))


class _Names:
    """Exact names and ``*`` globs, each mapped to a tool (the first entry of a name wins).
    The globs are one regular expression: one match, whatever their number."""

    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        self.globs: list[tuple[str, str]] = []
        self.patterns: list[str] = []  # the globs as written, lower case
        self._any: re.Pattern[str] | None = None

    def add(self, names: Iterable[str], tool: str) -> None:
        for name in names:
            if "*" in name:
                self.globs.append((_glob(name), tool))
                self.patterns.append(name.lower())
                self._any = None
            else:
                self.exact.setdefault(name.lower(), tool)

    def sql(self, expr: str, literal: Callable[[str], str]) -> str | None:
        """A SQL condition true where ``get(expr)`` may find a tool (``LIKE`` for the globs),
        or None when a glob holds ``_`` or ``%`` (LIKE's own wildcards)."""
        if any(c in p for p in self.patterns for c in "_%"):
            return None
        low = f"lower({expr})"
        parts = [f"{low} LIKE {literal(p.replace('*', '%'))}" for p in self.patterns]
        if self.exact:
            parts.append(f"{low} IN ({', '.join(literal(n) for n in sorted(self.exact))})")
        return " OR ".join(parts) if parts else "FALSE"

    def get(self, name: str | None) -> str | None:
        if not name:
            return None
        low = name.lower()
        tool = self.exact.get(low)
        if tool is not None or not self.globs:
            return tool
        if self._any is None:
            self._any = re.compile("|".join(f"({g})" for g, _ in self.globs))
        found = self._any.fullmatch(low)
        return self.globs[found.lastindex - 1][1] if found and found.lastindex else None


@dataclass
class AiRules:
    """The compiled rules; build with :func:`load_rules`."""

    data: dict[str, Any]
    digest: str
    tools: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    agent_logins: _Names = field(default_factory=_Names)
    agent_emails: _Names = field(default_factory=_Names)
    coauthor_emails: _Names = field(default_factory=_Names)
    coauthor_names: frozenset[str] = frozenset()
    reviewer_logins: _Names = field(default_factory=_Names)
    trailer_keys: frozenset[str] = frozenset()
    markers: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    branches: list[tuple[str, str]] = field(default_factory=list)
    author_suffixes: list[tuple[str, str]] = field(default_factory=list)
    owner_rules: tuple[str, ...] = OWNER_RULES
    hints: tuple[str, ...] = ()  # lower-case text one of which any evidence line contains
    # a line of the lower-cased message that may start a trailer message_evidence reads
    # (``trailers`` keys are an ASCII token at a line's start, compared lower-cased): without
    # one, the message's trailers cannot decide
    _trailer_line: re.Pattern[str] = field(default=re.compile("(?!)"), repr=False)
    _hinted: Callable[[str], object] = field(default=lambda _low: True, repr=False)
    _branch_prefixes: list[tuple[str, str]] = field(default_factory=list, repr=False)
    _memo: dict[str, Evidence | None] = field(default_factory=dict, repr=False)
    # (trailer key, value) -> the evidence that trailer gives (``_NONE``: none); the same few
    # values recur over a history (``Claude <noreply@anthropic.com>``)
    _trailer_memo: dict[tuple[str, str], Evidence | None] = field(default_factory=dict, repr=False)
    _authors: dict[
        tuple[str | None, str | None, str | None], tuple[Evidence | None, Evidence | None]
    ] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        d = self.data
        self.tools = [(t["tool"], tuple(w.lower() for w in t["words"])) for t in d["tools"]]
        for a in d["agents"]:
            self.agent_logins.add(a.get("logins", []), a["tool"])
            self.agent_emails.add(a.get("emails", []), a["tool"])
        for c in d["coauthors"]:
            self.coauthor_emails.add(c.get("emails", []), c["tool"])
        self.coauthor_names = frozenset(n.lower() for n in d["coauthor_names"])
        for r in d["reviewers"]:
            self.reviewer_logins.add(r.get("logins", []), r["tool"])
        self.trailer_keys = frozenset(k.lower() for k in d["trailers"])
        try:
            self.markers = [
                (re.compile(m["pattern"], re.IGNORECASE), m["tool"]) for m in d["markers"]
            ]
        except re.error as exc:
            raise BadInput(
                f"AI rules: a marker pattern is not a regular expression: {exc}"
            ) from exc
        self.labels = {k.lower(): v for k, v in d["labels"].items()}
        self.branches = sorted(d["branches"].items(), key=lambda kv: -len(kv[0]))
        self._branch_prefixes = [(prefix.lower(), tool) for prefix, tool in self.branches]
        self.author_suffixes = [(k.lower(), v) for k, v in d["author_suffixes"].items()]
        owner = tuple(d.get("agent_owner") or OWNER_RULES)
        bad = sorted(set(owner) - set(OWNER_RULES))
        if bad:
            raise BadInput(
                f"AI rules: unknown agent_owner rule(s) {', '.join(bad)}; "
                f"use {', '.join(OWNER_RULES)}"
            )
        self.owner_rules = owner
        # A message none of these words occur in carries no trailer or marker: a few
        # substring tests of its lower-cased text decide for most commits.
        words = [COAUTHOR_KEY, *(f"{k}" for k in self.trailer_keys)]
        for m in d["markers"]:
            words.append(str(m["word"]).lower() if m.get("word") else "")
        self.hints = tuple(sorted(set(words)))  # "" (a marker without a word): always
        if "" not in self.hints:  # one search of the text for any hint (not one per word)
            self._hinted = re.compile("|".join(re.escape(w) for w in self.hints)).search
        keys = "|".join(re.escape(k) for k in sorted({COAUTHOR_KEY, *self.trailer_keys}))
        self._trailer_line = re.compile(rf"^(?:{keys})[ \t]*:", re.MULTILINE)

    def commit_sql(
        self, name: str, email: str, login: str, literal: Callable[[str], str]
    ) -> str | None:
        """A SQL condition on a commit's author columns true where :meth:`commit` may find
        evidence without its message (an agent author, an author-name suffix), or None when
        it cannot be told in SQL."""
        parts = [
            self.agent_logins.sql(login, literal),
            self.agent_emails.sql(email, literal),
            self.agent_logins.sql(name, literal),
        ]
        # contains, not ends with: author_suffix strips trailing whitespace first
        parts += [f"lower({name}) LIKE {literal('%' + s + '%')}" for s, _ in self.author_suffixes]
        if any(p is None for p in parts) or any(
            c in s for s, _ in self.author_suffixes for c in "_%"
        ):
            return None
        return " OR ".join(f"({p})" for p in parts if p)

    def identity_pieces(self) -> tuple[str, ...] | None:
        """Lower-case text a message contains when one of its ``Co-authored-by`` trailers may
        name an assistant (:meth:`ai_coauthor`): the longest word of a known name (a name's
        words stay whole when its trailer folds over lines) or the longest literal part of a
        known email (an email has no space). None when any text would match (a glob of
        ``*`` only, a blank name)."""
        pieces = {max(n.split(), key=len, default="") for n in self.coauthor_names}
        if "" in pieces:
            return None
        for names in (self.coauthor_emails, self.agent_emails):
            pieces.update(names.exact)
            for pattern in names.patterns:
                longest = max(pattern.split("*"), key=len)
                if not longest:
                    return None
                pieces.add(longest)
        # a piece holding another is redundant: the shorter one is in the message too
        return tuple(sorted(p for p in pieces if not any(q != p and q in p for q in pieces)))

    def hinted(self, text: str) -> bool:
        """Whether ``text`` may carry a trailer or marker (cheap; no false negative)."""
        return self._hinted(text.lower()) is not None

    # --- the pieces -------------------------------------------------------------------------
    def tool_named(self, text: str) -> str:
        """The tool a free-text value names (``Assisted-by: Claude:claude-3-opus``)."""
        low = text.lower()
        for tool, words in self.tools:
            if any(w in low for w in words):
                return tool
        return UNKNOWN

    def agent(self, login: str | None, email: str | None = None) -> str | None:
        """The agent tool behind an author login or email, if it is an agent account."""
        return self.agent_logins.get(login) or self.agent_emails.get(email)

    def reviewer(self, login: str | None) -> str | None:
        """The AI reviewer tool of a review author's login."""
        return self.reviewer_logins.get(login)

    def ai_coauthor(self, p: Person) -> tuple[str, str] | None:
        """(tool, confidence) when a co-author is a known assistant."""
        tool = self.coauthor_emails.get(p.email) or self.agent_emails.get(p.email)
        if tool is not None:
            return tool, HIGH
        name = p.name.lower()
        if name in self.coauthor_names or name.split(" (", 1)[0] in self.coauthor_names:
            return self.tool_named(name), MEDIUM
        return None

    def is_human_coauthor(self, p: Person) -> bool:
        return self.ai_coauthor(p) is None and "[bot]" not in p.email and "[bot]" not in p.name

    def message_evidence(self, message: str | None) -> Evidence | None:
        """The strongest evidence of a commit message (trailers, then marker lines); a
        message decided before is not parsed again (a merged PR's commits are read twice:
        from ``commits`` and from ``pr_commits``)."""
        if not message:
            return None
        low = message.lower()  # once: the hints, then the trailer lines
        if self._hinted(low) is None:
            return None
        memo = self._memo
        found = memo.get(message, _UNSEEN)
        if found is not _UNSEEN:
            return found
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        found = memo[message] = self._message_evidence(message, low)
        return found

    def _message_evidence(self, message: str, low: str) -> Evidence | None:
        best: Evidence | None = None
        if self._trailer_line.search(low) is not None:
            memo = self._trailer_memo
            for t in trailers(message):
                pair = (t.key, t.value)
                ev = memo.get(pair, _UNSEEN)
                if ev is _UNSEEN:
                    if len(memo) >= MEMO_SIZE:
                        memo.clear()
                    ev = memo[pair] = self._trailer_evidence(t.key, t.value)
                if ev is None:
                    continue
                if ev.kind == "coauthor_trailer":
                    return ev
                if best is None:
                    best = ev
        return best or self.marker_line(message, "marker", HIGH)

    def _trailer_evidence(self, key: str, value: str) -> Evidence | None:
        """The evidence one trailer gives: an assistant's ``Co-authored-by`` (which decides
        the message) or a marker trailer naming a tool (the first one counts when no
        assistant co-author follows)."""
        if key == COAUTHOR_KEY:
            p = person(value)
            found = self.ai_coauthor(p) if p is not None else None
            if found is None:
                return None
            return Evidence(
                found[0], ASSISTANT, found[1], "coauthor_trailer", f"Co-authored-by: {value}"
            )
        if key in self.trailer_keys and value:
            return Evidence(
                self.tool_named(value), ASSISTANT, HIGH, "marker", f"{key.capitalize()}: {value}"
            )
        return None

    def marker_line(self, text: str, kind: str, confidence: str) -> Evidence | None:
        """The first line of ``text`` a marker matches (quoted ``>`` and indented code lines
        skipped: they quote, not state)."""
        for line in text.splitlines():
            if line[:1] in (">", "\t") or line.startswith("    "):
                continue
            for pattern, tool in self.markers:
                if pattern.search(line):
                    return Evidence(tool, ASSISTANT, confidence, kind, line.strip()[:200])
        return None

    def author_suffix(self, name: str | None) -> Evidence | None:
        if not name:
            return None
        low = name.lower().rstrip()
        for suffix, tool in self.author_suffixes:
            if low.endswith(suffix):
                return Evidence(tool, ASSISTANT, HIGH, "marker", f"author {name}")
        return None

    # --- the decisions ----------------------------------------------------------------------
    def commit(
        self,
        author_name: str | None,
        author_email: str | None,
        author_login: str | None,
        message: str | None,
    ) -> Evidence | None:
        """The strongest evidence of one commit, or None."""
        agent, suffix = self._author(author_name, author_email, author_login)
        if agent is not None:
            return agent
        return self.message_evidence(message) or suffix

    def _author(
        self, name: str | None, email: str | None, login: str | None
    ) -> tuple[Evidence | None, Evidence | None]:
        """A commit author's evidence: (an agent account's, the name suffix's); remembered
        per author (a history has far fewer authors than commits)."""
        key = (name, email, login)
        found = self._authors.get(key)
        if found is None:
            if len(self._authors) >= MEMO_SIZE:
                self._authors.clear()
            agent: Evidence | None = None
            tool = self.agent(login, email) or self.agent_logins.get(name)
            if tool is not None:
                who = login or f"{name} <{email}>"
                agent = Evidence(tool, AGENT, HIGH, "agent_author", f"author {who}")
            found = self._authors[key] = (agent, self.author_suffix(name))
        return found

    def pr(
        self,
        author: str | None,
        labels: Sequence[str],
        head_ref: str | None,
        body: str | None,
        commits: Sequence[tuple[str, Evidence]] = (),
    ) -> Evidence | None:
        """The strongest evidence of a PR; ``commits`` are its commits' (sha, evidence)."""
        tool = self.agent(author)
        if tool is not None:
            return Evidence(tool, AGENT, HIGH, "agent_author", f"author {author}")
        best: Evidence | None = None
        for sha, ev in commits:
            if best is None or ev.rank < best.rank:
                best = Evidence(
                    ev.tool, ev.mode, ev.confidence, ev.kind, f"commit {sha[:12]}: {ev.text}"
                )
        if best is not None:
            return best
        for label in labels:
            found_tool = self.labels.get(label.lower())
            if found_tool is not None:
                conf = LOW if found_tool == UNKNOWN else MEDIUM
                return Evidence(found_tool, ASSISTANT, conf, "label", f"label {label}")
        if head_ref:
            ref = head_ref.lower()
            for prefix, btool in self._branch_prefixes:
                if ref.startswith(prefix):
                    return Evidence(btool, AGENT, MEDIUM, "branch", f"branch {head_ref}")
        if body and self.hinted(body):
            return self.marker_line(body, "pr_body", MEDIUM)
        return None


def _merge(base: dict[str, Any], extra: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(extra) - {*_LISTS, *_MAPS, "agent_owner"})
    if unknown:
        raise BadInput(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted({*_LISTS, *_MAPS, 'agent_owner'}))}"
        )
    out = dict(base)
    for key in _LISTS:
        value = extra.get(key) or []
        if not isinstance(value, list):
            raise BadInput(f"{where}: {key} must be a list")
        out[key] = [*value, *base.get(key, [])]  # the user's first: they win lookups
    for key in _MAPS:
        value = extra.get(key) or {}
        if not isinstance(value, dict):
            raise BadInput(f"{where}: {key} must be a mapping")
        out[key] = {**base.get(key, {}), **value}
    if extra.get("agent_owner"):
        out["agent_owner"] = extra["agent_owner"]
    return out


@cache
def _shipped() -> str:
    return resources.files("forgelens.analytics").joinpath("ai_rules.yaml").read_text("utf-8")


def load_rules(path: Path | None = None) -> AiRules:
    """The shipped rules, extended by the rules file at ``path`` when given."""
    data: dict[str, Any] = yaml.safe_load(_shipped())
    if path is not None:
        try:
            extra = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise BadInput(f"AI rules file {path}: {exc}; fix it or drop --ai-rules") from exc
        if not isinstance(extra, dict):
            raise BadInput(f"AI rules file {path}: expected a mapping of lists (see ai_rules.yaml)")
        data = _merge(data, extra, f"AI rules file {path}")
    try:
        blob = json.dumps(data, sort_keys=True)
        return AiRules(data, hashlib.sha256(blob.encode()).hexdigest()[:16])
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadInput(f"AI rules: an entry lacks a field or has the wrong shape ({exc})") from exc
