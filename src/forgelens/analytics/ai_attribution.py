"""``ai_attribution``: the AI evidence of every commit, PR and review (``forgelens analyze ai``).

Reads the store's commits, PRs with their ``pr_commits`` (messages from ``commits`` when the
forge gave none) and reviews, decides each one's evidence with :mod:`ai_rules` and writes a row
per key that has some. Incremental: only rows written since the last run (their ``_version``
above the watermark kept in ``ai_state``) are read again, and a PR is read again when one of
its commits changed; their old rows are replaced. A change of rules (their digest, also in
``ai_state``) or ``--force-refresh`` redoes everything.

Where the time goes (benchmarks/ai_attribution.py): the store rejects what cannot carry
evidence (one regular expression over each lower-cased message, SQL on the author columns), so
Python decides only the candidate commits and PR commits (:meth:`AiRules.commit`, git's trailer
rules: that is the hot path, a few microseconds a message); the PRs are read once each with
light columns, and only the agent PRs' commits come back for their owners. The rows go to the
store as one Arrow table.

An agent PR's ``owner`` is the human behind it (``agent_owner`` rules: the first human
co-author of its commits, else the first human who pushed a commit to it, else who merged it),
as an analytics username when the identity map knows the person.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forgelens.analytics.ai_rules import AiRules, Evidence
from forgelens.analytics.identity import email_alias, login_alias
from forgelens.store import Store
from forgelens.store import sql as _sql
from forgelens.store._arrow import ARROW_TYPES, now_version, writable_columns
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


def _tuples(store: Store, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` as tuples (the hot loops: no dict per row)."""
    for batch in store.iter_batches(sql, batch_size=50_000):
        yield from zip(*(col.to_pylist() for col in batch.columns), strict=True)


def _candidates(rules: AiRules, store: Store, table: str = "", message: str = "message") -> str:
    """The commits that may carry evidence: a hinted message or a telling author (the store
    leaves the others out; they are most of a history). ``table``: the alias of the author
    columns' table (with its dot). A message whose only hint is ``co-authored-by`` is one
    when it also holds a piece of a known assistant's name or email (humans' co-authors,
    the most of them, stay in the store). Each test is one regular expression over the
    lower-cased message (a pass per word cost the store more than the rest of the run)."""
    author = _author_sql(rules, store, table)
    if author is None or "" in rules.hints:
        return "TRUE"
    low = f"lower({message})"
    pieces = rules.identity_pieces()
    if pieces is None or COAUTHOR_KEY not in rules.hints:
        return f"({_sql.contains_any(store, low, rules.hints)} OR {author})"
    others = [w for w in rules.hints if w != COAUTHOR_KEY]
    coauthor = (
        f"position({_sql.literal(COAUTHOR_KEY, store)} IN {low}) > 0 "
        f"AND {_sql.contains_any(store, low, pieces)}"
    )
    return f"({_sql.contains_any(store, low, others)} OR ({coauthor}) OR {author})"


def _author_sql(rules: AiRules, store: Store, table: str = "") -> str | None:
    """Where a commit's author columns may decide (an agent account, a name suffix)."""
    return rules.commit_sql(
        f"{table}author_name",
        f"{table}author_email",
        f"{table}author_login",
        lambda value: _sql.literal(value, store),
    )


def hinted_sql(rules: AiRules, expr: str, store: Store) -> str:
    """``expr`` where it may carry a trailer or marker, else NULL: the store tests the words
    (vectorised) so that only those messages travel to Python."""
    if "" in rules.hints:
        return expr
    return f"CASE WHEN {_sql.contains_any(store, f'lower({expr})', rules.hints)} THEN {expr} END"


# A row of ``ai_attribution`` as a run builds it: a list in this column order (``at`` in epoch
# milliseconds; ``owner`` filled in later); the columns go to Arrow with one zip.
COLUMNS = (
    "repository_id",
    "kind",
    "key",
    "pr_number",
    "tool",
    "mode",
    "confidence",
    "evidence_kind",
    "evidence",
    "author",
    "owner",
    "at",
)
_KIND, _OWNER = COLUMNS.index("kind"), COLUMNS.index("owner")
Row = list[Any]


def _row(
    kind: str,
    repo: str,
    key: str,
    ev: Evidence,
    pr_number: int | None = None,
    author: str | None = None,
    at: int | None = None,
) -> Row:
    return [repo, kind, key, pr_number, *ev.columns, author, None, at]


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A run makes millions of small objects (rows, evidence, memo entries) that all live
    until the write and hold no cycles: the cyclic collector, triggered by their number,
    would walk them again and again (a tenth of a run's CPU on a million commits)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def attribute(store: Store, rules: AiRules, *, full: bool = False) -> AttributionResult:
    """Bring ``ai_attribution`` up to date with the store; see the module docstring."""
    with _without_cycle_collection():
        return _attribute(store, rules, full)


def _attribute(store: Store, rules: AiRules, full: bool) -> AttributionResult:
    state = _state(store)
    full = full or state.get(STATE_DIGEST) != rules.digest or STATE_WATERMARK not in state
    since = -1 if full else int(state[STATE_WATERMARK])
    # read before the rows: what is written meanwhile is read by the next run
    top = max(
        int(store.query(f"SELECT COALESCE(max(_version), -1) FROM {t}")[0][0]) for t in SOURCES
    )
    result = AttributionResult(mode="full" if full else "incremental")
    out: list[Row] = []
    newer = f"_version > {since}"
    decide = rules.commit
    result.commits = int(store.query(f"SELECT count(*) FROM commits WHERE {newer}")[0][0])
    # the hot loop: one Python decision per candidate commit (the store leaves the others out)
    for repo, sha, name, email, login, at, message in _tuples(
        store,
        "SELECT repository_id, sha, author_name, author_email, author_login, "
        f"{_sql.epoch_ms(store, 'authored_at')}, message "
        f"FROM commits WHERE {newer} AND {_candidates(rules, store)}",
    ):
        ev = decide(name, email, login, message)
        if ev is not None:
            out.append([repo, "commit", sha, None, *ev.columns, login or email or name, None, at])
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
        for row in out:
            result.rows[row[_KIND]] = result.rows.get(row[_KIND], 0) + 1
        stamp = datetime.now(UTC)
        with store.transaction():
            if full:
                store.execute("DELETE FROM ai_attribution WHERE 1 = 1")  # ClickHouse: a WHERE
                # every key once (their sources' keys): inserted as new, no look-up of the
                # stored rows (which an upsert makes, and is most of the write)
                with store.bulk_load(new_keys=("ai_attribution",)):
                    if out:
                        store.upsert("ai_attribution", _table(store, out, stamp, now_version()))
            else:
                _delete_stale(store, newer)
                if out:
                    store.upsert("ai_attribution", _table(store, out, stamp, now_version()))
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


def _table(store: Store, rows: list[Row], stamp: datetime, version: int) -> pa.Table:
    """``rows`` (``COLUMNS``, ``at`` in epoch milliseconds) as an Arrow table of
    ``ai_attribution``'s columns, built column by column (one zip of the rows)."""
    ts = pa.timestamp("us", tz="UTC")
    types = dict(writable_columns(store.table_spec("ai_attribution")))
    values = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    arrays = {
        name: pc.multiply(pa.array(v, pa.int64()), 1000).cast(ts)
        if name == "at"
        else pa.array(v, ARROW_TYPES[types[name]])
        for name, v in zip(COLUMNS, values, strict=True)
    }
    n = len(rows)
    return pa.table(
        {
            **arrays,
            # a timestamp per row from a number (from datetimes: a time zone lookup each)
            "updated_at": pa.array([int(stamp.timestamp() * 1_000_000)] * n, pa.int64()).cast(ts),
            "_version": pa.array([version] * n, pa.int64()),
            "_source": pa.array(["analytics"] * n, pa.string()),
        }
    )


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


def _attribute_prs(store: Store, rules: AiRules, out: list[Row]) -> int:
    """PR rows into ``out``; returns the number of PRs read. Three queries, none of which
    sends a PR's columns once per commit: the evidence of the PRs' candidate commits, the
    PRs (a body or labels only when they may decide), and the commits of the agent PRs,
    whose owner they name."""
    found = _pr_commit_evidence(store, rules)
    body = hinted_sql(rules, "p.body", store)
    names = list(rules.labels)
    labels = "p.labels"
    if names and all(_PLAIN_LABEL.fullmatch(n) for n in names):
        # JSON text holds a plain label verbatim: the others never decide
        test = _sql.contains_any(store, _sql.json_text("p.labels"), names)
        labels = f"CASE WHEN {test} THEN p.labels END"
    sql = f"""
        SELECT p.repository_id, p.number, lower(r.source), p.author, {labels}, p.head_ref,
            {body}, p.merged_by, {_sql.epoch_ms(store, "p.created_at")}, p.assignees,
            p.requested_reviewers
        FROM {CHANGED_PRS} d
        JOIN pull_requests p ON p.repository_id = d.repository_id AND p.number = d.number
        JOIN repositories r ON r.id = p.repository_id
    """
    count = 0
    agents: dict[tuple[str, int], tuple[Row, str, _PrPeople]] = {}
    decide = rules.pr
    for (
        repo,
        number,
        source,
        author,
        label_list,
        head_ref,
        text,
        merged_by,
        at,
        assignees,
        requested,
    ) in _tuples(store, sql):
        count += 1
        ev = decide(author, _labels(label_list), head_ref, text, found.get((repo, number), ()))
        if ev is None:
            continue
        row = _row("pr", repo, str(number), ev, pr_number=number, author=author, at=at)
        out.append(row)
        if ev.mode == "autonomous_agent":
            people = {"merged_by": merged_by, "assignees": assignees}
            agents[(repo, number)] = (row, source, people | {"requested_reviewers": requested})
    if agents:
        for key, commits in _agent_pr_commits(store, rules):
            agent = agents.get(key)
            if agent is not None:
                row, source, people = agent
                row[_OWNER] = _owner(rules, source, people, commits)
                del agents[key]
        for row, source, people in agents.values():  # no commits
            row[_OWNER] = _owner(rules, source, people, [])
    return count


_PLAIN_LABEL = re.compile(r"[a-z0-9 _.:-]+")


def _pr_commit_evidence(
    store: Store, rules: AiRules
) -> dict[tuple[str, int], list[tuple[str, Evidence]]]:
    """(repository, PR number) -> (sha, evidence) of its commits that carry some, in the
    PR's commit order (``pr_commits``' messages, else those of ``commits``)."""
    message = "COALESCE(pc.message, c.message)"
    found: dict[tuple[str, int], list[tuple[str, Evidence]]] = {}
    decide = rules.commit
    for repo, number, sha, name, email, login, text in _tuples(
        store,
        f"""
        SELECT pc.repository_id, pc.pr_number, pc.sha, pc.author_name, pc.author_email,
            pc.author_login, {message}
        FROM {CHANGED_PRS} d
        JOIN pr_commits pc ON pc.repository_id = d.repository_id AND pc.pr_number = d.number
        LEFT JOIN commits c ON c.repository_id = pc.repository_id AND c.sha = pc.sha
        WHERE {_candidates(rules, store, "pc.", message)}
        ORDER BY pc.repository_id, pc.pr_number, pc.authored_at, pc.sha
        """,
    ):
        ev = decide(name, email, login, text)
        if ev is not None:
            found.setdefault((repo, number), []).append((sha, ev))
    return found


def _agent_pr_commits(
    store: Store, rules: AiRules
) -> Iterator[tuple[tuple[str, int], list[tuple[str, str | None, str | None, str | None]]]]:
    """(repository, PR number) and (sha, login, email, hinted message) of every commit, in
    order, of the PRs that may be agent PRs: an agent author, an agent branch, or a commit by
    an agent (what gives a PR the mode ``autonomous_agent``)."""

    def lit(value: str) -> str:
        return _sql.literal(value, store)

    by_author = rules.agent_logins.sql("p.author", lit)
    by_commit = _author_sql(rules, store, "pc.")
    prefixes = [prefix.lower() for prefix, _ in rules.branches]
    if by_author is None or by_commit is None or not all(p.isascii() for p in prefixes):
        may_be = f"SELECT repository_id, number FROM {CHANGED_PRS}"
    else:
        branch = " OR ".join(f"position({lit(p)} IN lower(p.head_ref)) = 1" for p in prefixes)
        may_be = f"""
            SELECT p.repository_id AS repository_id, p.number AS number FROM {CHANGED_PRS} d
            JOIN pull_requests p ON p.repository_id = d.repository_id AND p.number = d.number
            WHERE ({by_author}) OR ({branch or "FALSE"})
            UNION
            SELECT pc.repository_id AS repository_id, pc.pr_number AS number
            FROM {CHANGED_PRS} d
            JOIN pr_commits pc ON pc.repository_id = d.repository_id AND pc.pr_number = d.number
            WHERE {by_commit}
        """
    message = hinted_sql(rules, "COALESCE(pc.message, c.message)", store)
    key: tuple[str, int] | None = None
    group: list[tuple[str, str | None, str | None, str | None]] = []
    for repo, number, sha, login, email, text in _tuples(
        store,
        f"""
        SELECT pc.repository_id, pc.pr_number, pc.sha, pc.author_login, pc.author_email,
            {message}
        FROM ({may_be}) a
        JOIN pr_commits pc ON pc.repository_id = a.repository_id AND pc.pr_number = a.number
        LEFT JOIN commits c ON c.repository_id = pc.repository_id AND c.sha = pc.sha
        ORDER BY pc.repository_id, pc.pr_number, pc.authored_at, pc.sha
        """,
    ):
        if key != (repo, number):
            if key is not None:
                yield key, group
            key, group = (repo, number), []
        group.append((sha, login, email, text))
    if key is not None:
        yield key, group


def _owner(
    rules: AiRules,
    source: str,
    people: _PrPeople,
    commits: Sequence[tuple[str, str | None, str | None, str | None]],
) -> str | None:
    """The identity-map alias of the human behind an agent PR (resolved to a username later);
    ``people``: the PR's ``merged_by``, ``assignees`` and ``requested_reviewers``;
    ``commits``: its commits' (sha, login, email, message) in order."""
    merged_by = people["merged_by"]
    for rule in rules.owner_rules:
        if rule in LISTED_OWNERS:
            found = _listed_owner(rules, _labels(people[LISTED_OWNERS[rule]]))
            if found:
                return login_alias(source, found)
        elif rule == "coauthor":
            for _sha, _login, _email, message in commits:
                for person in coauthors(message or ""):
                    if rules.is_human_coauthor(person) and rules.agent(None, person.email) is None:
                        return email_alias(person.email)
        elif rule == "committer":
            for _sha, login, email, _message in commits:
                if rules.agent(login, email):
                    continue
                if login and not login.endswith("[bot]"):
                    return login_alias(source, login)
                if email and not login and "[bot]" not in email:
                    return email_alias(email)
        elif (
            rule == "merged_by"
            and merged_by
            and not rules.agent(merged_by)
            and not merged_by.endswith("[bot]")
        ):
            return login_alias(source, merged_by)
    return None


# owner rules read from a list of logins the forge keeps on the PR
LISTED_OWNERS = {"assignee": "assignees", "review_request": "requested_reviewers"}
_PrPeople = dict[str, Any]  # merged_by, assignees, requested_reviewers of an agent PR


def _listed_owner(rules: AiRules, logins: Sequence[str]) -> str | None:
    """The first human of a PR's assignees or requested reviewers (an agent account, an AI
    reviewer or any ``[bot]`` is none)."""
    for login in logins:
        bot = not login or login.lower().endswith("[bot]")
        if not bot and not rules.agent(login) and not rules.reviewer(login):
            return login
    return None


def _reviewer_rows(store: Store, rules: AiRules, newer: str) -> list[Row]:
    names = sorted(rules.reviewer_logins.exact)
    who = ""
    if not rules.reviewer_logins.globs:
        if not names:
            return []
        who = " AND lower(author) IN (" + ", ".join(_sql.literal(n) for n in names) + ")"
    out: list[Row] = []
    seen: set[tuple[str, str]] = set()  # a key is written once (``1:2:3`` could be two)
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
        if (r["repository_id"], key) in seen:
            continue
        seen.add((r["repository_id"], key))
        out.append(
            _row(
                "review",
                r["repository_id"],
                key,
                ev,
                pr_number=r["pr_number"],
                author=r["author"],
                at=r["submitted_at"],
            )
        )
    return out


def _resolve_owners(store: Store, rows: list[Row]) -> None:
    """Owner aliases to analytics usernames (the identity map), else the login or email; a
    GitHub noreply address (``ID+login@users.noreply.github.com``) is its login."""
    owned = [r for r in rows if r[_OWNER]]
    for r in owned:
        alias = r[_OWNER]
        found = _NOREPLY.match(alias[len("email:") :]) if alias.startswith("email:") else None
        if found:
            r[_OWNER] = login_alias("github", found[1])
    aliases = sorted({r[_OWNER] for r in owned})
    known: dict[str, str] = {}
    for i in range(0, len(aliases), 500):
        chunk = aliases[i : i + 500]
        marks = ", ".join("?" for _ in chunk)
        for alias, username in store.query(
            f"SELECT alias, username FROM analytics_identity_map WHERE alias IN ({marks})", chunk
        ):
            known[alias] = username
    for r in owned:
        alias = r[_OWNER]
        r[_OWNER] = known.get(alias) or alias.split(":", 2)[-1]
