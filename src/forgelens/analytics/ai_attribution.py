"""``ai_attribution``: the AI evidence of every commit, PR and review (``forgelens analyze ai``).

Reads the store's commits, PRs with their ``pr_commits`` (messages from ``commits`` when the
forge gave none) and reviews, decides each one's evidence with :mod:`ai_rules` and writes a row
per key that has some. Incremental: only rows written since the last run (their ``_version``
above the watermark kept in ``ai_state``) are read again, and a PR is read again when one of
its commits changed; their old rows are replaced. A change of rules (their digest, also in
``ai_state``) or ``--force-refresh`` redoes everything.

An agent PR's ``owner`` is the human behind it (``agent_owner`` rules: the first human
co-author of its commits, else the first human who pushed a commit to it, else who merged it),
as an analytics username when the identity map knows the person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from forgelens.analytics.ai_rules import AiRules, Evidence
from forgelens.analytics.identity import email_alias, login_alias
from forgelens.store import Store
from forgelens.store import sql as _sql
from forgelens.store._arrow import now_version
from forgelens.trailers import COAUTHOR_KEY, coauthors

_NOREPLY = re.compile(r"^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$")
CHANGED_PRS = "_fl_ai_prs"  # (repository_id, number) of the PRs this run reads again
STATE_WATERMARK, STATE_DIGEST = "watermark", "rules_digest"
SOURCES = ("commits", "pull_requests", "pr_commits", "pr_reviews")


@dataclass
class AttributionResult:
    mode: str = "incremental"  # or full
    commits: int = 0  # read
    prs: int = 0
    reviews: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # written, per kind


def _state(store: Store) -> dict[str, str]:
    return {str(n): str(v) for n, v in store.query("SELECT name, value FROM ai_state")}


def _labels(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return []
    return [str(v) for v in parsed] if isinstance(parsed, list) else []


def _rows(store: Store, sql: str) -> Iterator[dict[str, Any]]:
    for batch in store.iter_batches(sql, batch_size=50_000):
        cols = {name: batch.column(i).to_pylist() for i, name in enumerate(batch.schema.names)}
        for i in range(batch.num_rows):
            yield {name: values[i] for name, values in cols.items()}


def _when(ms: int | None) -> datetime | None:
    """A UTC datetime of epoch milliseconds (timestamps are read as numbers: converting Arrow
    timestamps with a time zone to Python imports pandas, 3 s of a run)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _tuples(store: Store, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` as tuples (the hot loops: no dict per row)."""
    for batch in store.iter_batches(sql, batch_size=50_000):
        yield from zip(*(col.to_pylist() for col in batch.columns), strict=True)


def _candidates(rules: AiRules, store: Store, table: str = "", message: str = "message") -> str:
    """The commits that may carry evidence: a hinted message or a telling author (the store
    leaves the others out; they are most of a history). ``table``: the alias of the author
    columns' table (with its dot). A message whose only hint is ``co-authored-by`` is one
    when it also holds a piece of a known assistant's name or email (humans' co-authors,
    the most of them, stay in the store)."""

    def lit(value: str) -> str:
        return _sql.literal(value, store)

    author = rules.commit_sql(
        f"{table}author_name", f"{table}author_email", f"{table}author_login", lit
    )
    if author is None or "" in rules.hints:
        return "TRUE"
    low = f"lower({message})"

    def any_of(words: Sequence[str]) -> str:
        return " OR ".join(f"position({lit(w)} IN {low}) > 0" for w in words) or "FALSE"

    pieces = rules.identity_pieces()
    if pieces is None or COAUTHOR_KEY not in rules.hints:
        return f"(({any_of(rules.hints)}) OR {author})"
    others = [w for w in rules.hints if w != COAUTHOR_KEY]
    coauthor = f"position({lit(COAUTHOR_KEY)} IN {low}) > 0 AND ({any_of(pieces)})"
    return f"(({any_of(others)}) OR ({coauthor}) OR {author})"


def hinted_sql(rules: AiRules, expr: str) -> str:
    """``expr`` where it may carry a trailer or marker, else NULL: the store tests the words
    (vectorised) so that only those messages travel to Python."""
    if "" in rules.hints:
        return expr
    low = f"lower({expr})"
    test = " OR ".join(f"position({_sql.literal(w)} IN {low}) > 0" for w in rules.hints)
    return f"CASE WHEN {test} THEN {expr} END"


def _row(kind: str, repo: str, key: str, ev: Evidence, **extra: Any) -> dict[str, Any]:
    return {
        "repository_id": repo,
        "kind": kind,
        "key": key,
        "tool": ev.tool,
        "mode": ev.mode,
        "confidence": ev.confidence,
        "evidence_kind": ev.kind,
        "evidence": ev.text,
        **extra,
    }


def attribute(store: Store, rules: AiRules, *, full: bool = False) -> AttributionResult:
    """Bring ``ai_attribution`` up to date with the store; see the module docstring."""
    state = _state(store)
    full = full or state.get(STATE_DIGEST) != rules.digest or STATE_WATERMARK not in state
    since = -1 if full else int(state[STATE_WATERMARK])
    # read before the rows: what is written meanwhile is read by the next run
    top = max(
        int(store.query(f"SELECT COALESCE(max(_version), -1) FROM {t}")[0][0]) for t in SOURCES
    )
    result = AttributionResult(mode="full" if full else "incremental")
    out: list[dict[str, Any]] = []
    newer = f"_version > {since}"
    decide = rules.commit
    result.commits = int(store.query(f"SELECT count(*) FROM commits WHERE {newer}")[0][0])
    for repo, sha, name, email, login, at, message in _tuples(
        store,
        "SELECT repository_id, sha, author_name, author_email, author_login, "
        f"{_sql.epoch_ms(store, 'authored_at')}, {hinted_sql(rules, 'message')} "
        f"FROM commits WHERE {newer} AND {_candidates(rules, store)}",
    ):
        ev = decide(name, email, login, message)
        if ev is not None:
            who = login or email or name
            out.append(_row("commit", repo, sha, ev, author=who, at=_when(at)))
    _sql.create_work_table(
        store,
        CHANGED_PRS,
        f"SELECT repository_id, number FROM pull_requests WHERE {newer} UNION "
        f"SELECT repository_id, pr_number AS number FROM pr_commits WHERE {newer}",
    )
    try:
        result.prs = _attribute_prs(store, rules, out)
        reviews = _reviewer_rows(store, rules, newer)
        result.reviews = len(reviews)
        out.extend(reviews)
        _resolve_owners(store, out)
        stamp = datetime.now(UTC)
        for row in out:
            row.setdefault("updated_at", stamp)
            result.rows[row["kind"]] = result.rows.get(row["kind"], 0) + 1
        with store.transaction():
            if full:
                store.execute("DELETE FROM ai_attribution WHERE 1 = 1")  # ClickHouse: a WHERE
            else:
                _delete_stale(store, newer)
            if out:
                store.upsert("ai_attribution", out, version=now_version(), source="analytics")
            store.upsert(
                "ai_state",
                [
                    {"name": STATE_WATERMARK, "value": str(top), "updated_at": stamp},
                    {"name": STATE_DIGEST, "value": rules.digest, "updated_at": stamp},
                ],
                version=now_version(),
                source="analytics",
            )
    finally:
        _sql.drop_work_table(store, CHANGED_PRS)
    return result


def _delete_stale(store: Store, newer: str) -> None:
    """The rows of the keys this run read again (their evidence may be gone)."""
    t = "ai_attribution"
    for kind, source, inner in (
        (
            "commit",
            f"(SELECT repository_id, sha FROM commits WHERE {newer})",
            ["repository_id", "sha"],
        ),
        (
            "pr",
            f"(SELECT repository_id, CAST(number AS VARCHAR) AS k FROM {CHANGED_PRS})",
            ["repository_id", "k"],
        ),
        (
            "review",
            "(SELECT repository_id, CAST(pr_number AS VARCHAR) || ':' || review_id AS k "
            f"FROM pr_reviews WHERE {newer})",
            ["repository_id", "k"],
        ),
    ):
        cond = _sql.key_in(store, [f"{t}.repository_id", f"{t}.key"], source, inner)
        store.execute(f"DELETE FROM {t} WHERE {t}.kind = '{kind}' AND {cond}")


def _attribute_prs(store: Store, rules: AiRules, out: list[dict[str, Any]]) -> int:
    """PR rows into ``out``; returns the number of PRs read. One query, a PR's commits on
    consecutive rows (the store answers one query at a time)."""
    candidate = _candidates(rules, store, "pc.", "COALESCE(pc.message, c.message)")
    sql = f"""
        SELECT p.repository_id AS repository_id, p.number AS number,
            lower(r.source) AS source, p.author AS author, p.labels AS labels,
            p.head_ref AS head_ref, p.body AS body, p.merged_by AS merged_by,
            {_sql.epoch_ms(store, "p.created_at")} AS created_at,
            p.assignees AS assignees, p.requested_reviewers AS requested_reviewers,
            pc.sha AS sha,
            {hinted_sql(rules, "COALESCE(pc.message, c.message)")} AS message,
            pc.author_name AS author_name,
            pc.author_email AS author_email, pc.author_login AS author_login,
            pc.sha IS NOT NULL AND {candidate} AS candidate
        FROM {CHANGED_PRS} d
        JOIN pull_requests p ON p.repository_id = d.repository_id AND p.number = d.number
        JOIN repositories r ON r.id = p.repository_id
        LEFT JOIN pr_commits pc ON pc.repository_id = p.repository_id AND pc.pr_number = p.number
        LEFT JOIN commits c ON c.repository_id = pc.repository_id AND c.sha = pc.sha
        ORDER BY p.repository_id, p.number, pc.authored_at, pc.sha
    """
    count = 0
    group: list[tuple[Any, ...]] = []
    for r in _tuples(store, sql):
        if group and (r[0], r[1]) != (group[0][0], group[0][1]):
            _one_pr(rules, group, out)
            count += 1
            group = []
        group.append(r)
    if group:
        _one_pr(rules, group, out)
        count += 1
    return count


# the columns of _attribute_prs's rows: the PR's, then one of its commits'
PR_COLUMNS = (
    "repository_id",
    "number",
    "source",
    "author",
    "labels",
    "head_ref",
    "body",
    "merged_by",
    "created_at",
    "assignees",
    "requested_reviewers",
)
SHA, MESSAGE, NAME, EMAIL, LOGIN, CANDIDATE = range(len(PR_COLUMNS), len(PR_COLUMNS) + 6)


def _one_pr(rules: AiRules, group: Sequence[tuple[Any, ...]], out: list[dict[str, Any]]) -> None:
    p = dict(zip(PR_COLUMNS, group[0], strict=False))
    commits: list[tuple[str, Evidence]] = []
    decide = rules.commit
    for c in group:
        if c[CANDIDATE]:  # the store's test: it may carry evidence (as for commits)
            ev = decide(c[NAME], c[EMAIL], c[LOGIN], c[MESSAGE])
            if ev is not None:
                commits.append((c[SHA], ev))
    ev = rules.pr(p["author"], _labels(p["labels"]), p["head_ref"], p["body"], commits)
    if ev is None:
        return
    owner = _owner(rules, p, group) if ev.mode == "autonomous_agent" else None
    out.append(
        _row(
            "pr",
            p["repository_id"],
            str(p["number"]),
            ev,
            pr_number=p["number"],
            author=p["author"],
            owner=owner,
            at=_when(p["created_at"]),
        )
    )


def _owner(rules: AiRules, p: dict[str, Any], group: Sequence[tuple[Any, ...]]) -> str | None:
    """The identity-map alias of the human behind an agent PR (resolved to a username later)."""
    source = p["source"]
    for rule in rules.owner_rules:
        if rule in LISTED_OWNERS:
            found = _listed_owner(rules, _labels(p[LISTED_OWNERS[rule]]))
            if found:
                return login_alias(source, found)
        elif rule == "coauthor":
            for c in group:
                for person in coauthors(c[MESSAGE] or ""):
                    if rules.is_human_coauthor(person) and rules.agent(None, person.email) is None:
                        return email_alias(person.email)
        elif rule == "committer":
            for c in group:
                if c[SHA] is None or rules.agent(c[LOGIN], c[EMAIL]):
                    continue
                login, email = c[LOGIN], c[EMAIL]
                if login and not login.endswith("[bot]"):
                    return login_alias(source, login)
                if email and not login and "[bot]" not in email:
                    return email_alias(email)
        elif rule == "merged_by":
            merged_by = p["merged_by"]
            if merged_by and not rules.agent(merged_by) and not merged_by.endswith("[bot]"):
                return login_alias(source, merged_by)
    return None


# owner rules read from a list of logins the forge keeps on the PR
LISTED_OWNERS = {"assignee": "assignees", "review_request": "requested_reviewers"}


def _listed_owner(rules: AiRules, logins: Sequence[str]) -> str | None:
    """The first human of a PR's assignees or requested reviewers (an agent account, an AI
    reviewer or any ``[bot]`` is none)."""
    for login in logins:
        bot = not login or login.lower().endswith("[bot]")
        if not bot and not rules.agent(login) and not rules.reviewer(login):
            return login
    return None


def _reviewer_rows(store: Store, rules: AiRules, newer: str) -> list[dict[str, Any]]:
    names = sorted(rules.reviewer_logins.exact)
    who = ""
    if not rules.reviewer_logins.globs:
        if not names:
            return []
        who = " AND lower(author) IN (" + ", ".join(_sql.literal(n) for n in names) + ")"
    out = []
    for r in _rows(
        store,
        "SELECT repository_id, pr_number, review_id, author, "
        f"{_sql.epoch_ms(store, 'submitted_at')} AS submitted_at FROM pr_reviews "
        f"WHERE {newer}{who}",
    ):
        tool = rules.reviewer(r["author"])
        if tool is None:
            continue
        ev = Evidence(tool, "ai_reviewer", "high", "reviewer", f"reviewer {r['author']}")
        key = f"{r['pr_number']}:{r['review_id']}"
        out.append(
            _row(
                "review",
                r["repository_id"],
                key,
                ev,
                pr_number=r["pr_number"],
                author=r["author"],
                at=_when(r["submitted_at"]),
            )
        )
    return out


def _resolve_owners(store: Store, rows: list[dict[str, Any]]) -> None:
    """Owner aliases to analytics usernames (the identity map), else the login or email; a
    GitHub noreply address (``ID+login@users.noreply.github.com``) is its login."""
    for r in rows:
        alias = r.get("owner")
        found = (
            _NOREPLY.match(alias[len("email:") :]) if alias and alias.startswith("email:") else None
        )
        if found:
            r["owner"] = login_alias("github", found[1])
    aliases = sorted({r["owner"] for r in rows if r.get("owner")})
    known: dict[str, str] = {}
    for i in range(0, len(aliases), 500):
        chunk = aliases[i : i + 500]
        marks = ", ".join("?" for _ in chunk)
        for alias, username in store.query(
            f"SELECT alias, username FROM analytics_identity_map WHERE alias IN ({marks})", chunk
        ):
            known[alias] = username
    for r in rows:
        alias = r.get("owner")
        if alias:
            r["owner"] = known.get(alias) or alias.split(":", 2)[-1]
