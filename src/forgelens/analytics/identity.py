"""Identity merging: one engineer with several emails and logins is one author.

Aliases are ``login:<source>:<login>`` and ``email:<address>`` (lower-cased). They are joined
(union-find) by, in this order of evidence:

1. ``identities.yml`` (``--identities``): ``people: {username: {logins, emails, display_name}}``
   and ``bots: [...]``; its usernames win;
2. ``.mailmap`` files (``--mailmap``): every address on a line is the same person;
3. GitHub noreply addresses ``ID+login@users.noreply.github.com`` (and ``login@...``);
4. the store: ``people`` (login with email, logins sharing a forge user id), ``identities``
   (login -> identity), ``pr_commits`` / ``commits`` rows carrying both a login and an email.

The addresses of ``Co-authored-by`` trailers (``commit_coauthors``) are aliases too, with the
trailer's name, but link nothing by themselves (a trailer names no login): a co-author's
address is its person's when that person committed with it, when an override or ``.mailmap``
says so, or when it is a GitHub noreply address (rule 3).

A group's username is the override's, else its smallest forge login that is no account id and
was not renamed (of the logins that share one forge user id -- GitHub and GitLab key people by a
login that its owner can rename, and carry the id -- only the one whose ``people`` row was written
last counts: the forge answers with the current login only, so that is the account's name now),
else the name its forge shows for an account id (Bitbucket Cloud, Gerrit and Gitea key people by
the id: ``people.login == people.forge_id``; their display name, nickname or login is shown, with
``(source:id)`` added when another author has that name), else its smallest account id, else its
smallest email.
Bots (login ending ``[bot]``, a configured bot name, ``people.is_bot``) are flagged; the author
``ghost`` (deleted users, or no author at all) is never merged with anyone.

Generic addresses (``GENERIC_EMAILS`` plus config ``generic_emails``: ``root@localhost``,
``*@localhost``, ``noreply@github.com``, empty, ...) are shared by people who never set their
own: they are never evidence (no login, person or other address is joined through them); only
the override files can still name them with a person.

Each alias's row keeps its group's display name and avatar and the usernames it had before
(``previous_usernames``, oldest first, with ``renamed_at``). ``authors`` is then rebuilt from
the map (``write_authors``): one row per username of a PR author or reviewer of a PR that is
not deleted, and no other (rows of people no longer such are deleted).

A run resolves incrementally: the last resolution's evidence watermark and rules are kept in
``collection_cursors`` (repository ``*``, entity ``analytics_identities``); when the PRs,
reviews and commits since bring no new alias and no new link, the stored map stands (a full
resolution reads every PR, review and commit author). ``--force-refresh`` resolves in full.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from forgelens.errors import BadInput
from forgelens.store import Store

GHOST = "ghost"
RULES = 5  # the merging rules' revision: bump it when they change, so stored maps are redone
CURSOR = ("*", "analytics_identities")  # collection_cursors row of the last resolution
_NOREPLY = re.compile(r"^(?:(\d+)\+)?([^@+]+)@users\.noreply\.github\.com$")
_MAILMAP_EMAIL = re.compile(r"<([^>]*)>")
# Addresses many people share (tool defaults, placeholders): never evidence that two aliases
# are one person. Patterns as in fnmatch, matched lower-case; the empty address is generic too.
GENERIC_EMAILS = (
    "root@localhost",
    "dev@localhost",
    "*@localhost",
    "*@localhost.localdomain",
    "*@*.localhost",
    "noreply@github.com",
    "user@example.com",
    "none@none",
    "nobody@nowhere",
)


def generic_email_test(configured: Iterable[str] = ()) -> Callable[[str | None], bool]:
    """A predicate: is this address generic (built-in list plus ``configured`` patterns)?"""
    patterns = [p.strip().lower() for p in (*GENERIC_EMAILS, *configured) if p.strip()]

    def is_generic(email: str | None) -> bool:
        address = (email or "").strip().lower()
        return not address or any(fnmatch.fnmatchcase(address, p) for p in patterns)

    return is_generic


def login_alias(source: str, login: str) -> str:
    return f"login:{source.lower()}:{login.strip().lower()}"


def email_alias(email: str) -> str:
    return f"email:{email.strip().lower()}"


@dataclass
class Overrides:
    """What ``identities.yml`` and ``.mailmap`` files say."""

    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    bots: set[str] = field(default_factory=set)
    mailmap_groups: list[list[str]] = field(default_factory=list)

    @classmethod
    def load(cls, identities: Path | None, mailmaps: list[Path]) -> Overrides:
        out = cls()
        if identities is not None:
            try:
                data = yaml.safe_load(identities.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise BadInput(f"identities file {identities}: {exc}; fix it or drop it") from exc
            if not isinstance(data, dict) or not isinstance(data.get("people", {}), dict):
                raise BadInput(
                    f"identities file {identities}: expected 'people: {{username: {{logins: [..], "
                    "emails: [..]}}}}' and optionally 'bots: [..]'"
                )
            out.people = {str(k): dict(v or {}) for k, v in (data.get("people") or {}).items()}
            out.bots = {str(b).lower() for b in data.get("bots") or []}
        for path in mailmaps:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise BadInput(f"mailmap {path}: {exc}; pass an existing file") from exc
            for line in text.splitlines():
                line = line.split("#", 1)[0]
                emails = [e.strip().lower() for e in _MAILMAP_EMAIL.findall(line) if e.strip()]
                if emails:
                    out.mailmap_groups.append(emails)
        return out


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        if parent != x:
            root = self.find(parent)
            self.parent[x] = root
            return root
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class IdentityResult:
    mapping: dict[str, tuple[str, bool]]  # alias -> (username, is_bot)
    changed_aliases: list[str]


def _is_bot_login(login: str, bots: set[str]) -> bool:
    low = login.lower()
    return low.endswith("[bot]") or low.removesuffix("[bot]") in bots or low in bots


def _logins_sql(cond: str = "") -> str:
    """Forge logins of PR authors and reviewers (rows matching ``cond`` on ``x``; without a
    condition also every ``people`` login)."""
    where = f" AND {cond}" if cond else ""
    return " UNION ".join(
        [
            f"SELECT DISTINCT r.source, x.author FROM {table} x JOIN repositories r "
            f"ON r.id = x.repository_id WHERE x.author IS NOT NULL{where}"
            for table in ("pull_requests", "pr_reviews")
        ]
        + ([] if cond else ["SELECT source, login FROM people"])
    )


def _commit_people_sql(cond: str = "") -> str:
    """``(source, email, login, name)`` of commit authors (rows matching ``cond`` on ``x``)."""
    where = f" AND {cond}" if cond else ""
    return " UNION ".join(
        f"SELECT DISTINCT r.source, x.author_email, x.author_login, x.author_name FROM {table} x "
        f"JOIN repositories r ON r.id = x.repository_id WHERE x.author_email IS NOT NULL{where}"
        for table in ("pr_commits", "commits")
    )


def _coauthors_sql(cond: str = "") -> str:
    """``(email, name)`` of ``Co-authored-by`` trailers (rows matching ``cond`` on ``x``)."""
    where = f" AND {cond}" if cond else ""
    return (
        f"SELECT DISTINCT x.email, x.name FROM commit_coauthors x WHERE x.email IS NOT NULL{where}"
    )


def _evidence_versions(store: Store) -> dict[str, int]:
    """The newest ``_version`` of the directory tables and of the activity tables."""

    def newest(tables: tuple[str, ...]) -> int:
        parts = " UNION ALL ".join(f"SELECT max(_version) AS v FROM {t}" for t in tables)
        return int(store.query(f"SELECT COALESCE(max(v), 0) FROM ({parts}) q")[0][0])

    return {
        "directory": newest(("people", "identities")),
        "activity": newest(
            ("pull_requests", "pr_reviews", "pr_commits", "commits", "commit_coauthors")
        ),
    }


def _rules_hash(overrides: Overrides, bot_names: set[str], generic: list[str]) -> str:
    """What, besides the store, decides the identities (bump RULES when the merging changes)."""
    blob = json.dumps(
        {
            "rules": RULES,
            "people": overrides.people,
            "mailmap": overrides.mailmap_groups,
            "bots": sorted(bot_names),
            "generic": generic,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _unchanged(
    store: Store,
    cursor: dict[str, Any],
    versions: dict[str, int],
    rules: str,
    generic: Callable[[str | None], bool],
) -> dict[str, tuple[str, bool]] | None:
    """The stored map when nothing since the last resolution can change it, else None.

    That is: the same override files and bot names, no new ``people`` / ``identities`` row,
    and every PR author, reviewer and commit author seen since already known, a commit's
    email and login already one author, and no name for an address that had none.
    """
    if cursor.get("rules") != rules or cursor.get("directory") != versions["directory"]:
        return None
    seen = int(cursor.get("activity", 0))
    newer = f"x._version > {seen}"
    old: dict[str, tuple[str, bool]] = {
        str(a): (str(u), bool(b))
        for a, u, b in store.query("SELECT alias, username, is_bot FROM analytics_identity_map")
    }
    for source, login in store.query(_logins_sql(newer)):
        if login.lower() != GHOST and login_alias(source, login) not in old:
            return None
    named: set[tuple[str, str]] = set()
    for source, email, login, name in store.query(_commit_people_sql(newer)):
        if not email.strip():
            continue  # no address: no alias
        known = old.get(email_alias(email))
        if known is None:
            return None
        if (
            login
            and login.lower() != GHOST
            and not generic(email)
            and old.get(login_alias(source, login)) != known
        ):
            return None
        if name and not generic(email):
            named.add((email.strip().lower(), str(name)))
    for email, name in store.query(_coauthors_sql(newer)):
        if not email.strip():
            continue
        if email_alias(email) not in old:
            return None
        if name and not generic(email):
            named.add((email.strip().lower(), str(name)))
    if named:  # a name new for its address may become its author's display name
        addresses = sorted({e for e, _ in named})
        marks = ", ".join("?" for _ in addresses)
        named_by = (
            ("pr_commits", "author_email", "author_name"),
            ("commits", "author_email", "author_name"),
            ("commit_coauthors", "email", "name"),
        )
        had = store.query(
            " UNION ".join(
                f"SELECT DISTINCT lower(trim({e})), {n} FROM {table} WHERE _version <= {seen} "
                f"AND {n} IS NOT NULL AND lower(trim({e})) IN ({marks})"
                for table, e, n in named_by
            ),
            addresses * len(named_by),
        )
        if named - {(str(e), str(n)) for e, n in had}:
            return None
    return old


def _analysed_prs_rewritten(store: Store, seen: int) -> bool:
    """Whether a PR analysed before (in ``pr_facts``) was written again since ``seen``: only
    then can an author or reviewer have lost its last row (new PRs only add evidence), and
    only then is the evidence read whole (``_evidenced_aliases``, 0.7 CPU s at 1M PRs)."""
    return bool(
        store.query(
            "SELECT 1 FROM pull_requests p JOIN pr_facts f ON f.repository_id = p.repository_id "
            f"AND f.pr_number = p.number WHERE p._version > {int(seen)} LIMIT 1"
        )
    )


def _evidenced_aliases(
    store: Store, overrides: Overrides, generic: Callable[[str | None], bool]
) -> set[str]:
    """The login and email aliases a full resolution gives a row of the map (the nodes of its
    union-find, the same evidence read the same way): an alias of the stored map outside this
    set lost its last evidence (a PR's author edited away) and the map must be rebuilt."""
    logins = {
        login_alias(source, login)
        for source, login in store.query(_logins_sql())
        if login.lower() != GHOST
    }
    logins |= {login_alias(s, x) for s, x in store.query("SELECT source, login FROM identities")}
    emails: set[str] = set()
    for email, is_generic in (
        (str(e), generic(str(e)))
        for (e,) in store.query("SELECT email FROM people WHERE email IS NOT NULL")
    ):
        if not is_generic:
            emails.add(email_alias(email))
    for source, email, login in store.query(
        f"SELECT DISTINCT source, author_email, author_login FROM ({_commit_people_sql()}) q"
    ):
        if not email.strip():
            continue
        emails.add(email_alias(email))
        if login and login.lower() != GHOST and not generic(email):
            logins.add(login_alias(source, login))
    emails |= {
        email_alias(e) for e, _ in store.query(_coauthors_sql()) if e.strip()
    }  # Co-authored-by addresses
    known_sources = defaultdict(set)
    for alias in logins:
        _, source, login = alias.split(":", 2)
        known_sources[login].add(source)
    for alias in list(emails):
        match = _NOREPLY.match(alias[len("email:") :])
        if match:
            logins.add(login_alias("github", match[2]))
    emails |= {email_alias(e) for group in overrides.mailmap_groups for e in group}
    for spec in overrides.people.values():
        for login in spec.get("logins") or []:
            text = str(login)
            if ":" in text:
                source, name = text.split(":", 1)
                logins.add(login_alias(source, name))
            else:
                logins |= {
                    login_alias(s, text) for s in known_sources.get(text.lower(), {"github"})
                }
        emails |= {email_alias(str(e)) for e in spec.get("emails") or []}
    return logins | emails


def resolve_identities(
    store: Store,
    overrides: Overrides,
    bots: list[str],
    *,
    full: bool = False,
    generic_emails: Iterable[str] = (),
) -> IdentityResult:
    """Merge every alias the store knows into authors; write the map and ``authors``.

    Incremental unless ``full``: when the activity since the last resolution brings no new
    alias and no new link (``_unchanged``), the stored map stands and nothing is re-read.
    """
    bot_names = {b.lower() for b in bots} | overrides.bots
    configured = sorted({g.strip().lower() for g in generic_emails if g.strip()})
    generic = generic_email_test(configured)
    rules = _rules_hash(overrides, bot_names, configured)
    versions = _evidence_versions(store)  # before reading: later rows are seen next time
    saved = store.get_cursor(*CURSOR)
    cursor = json.loads(saved) if saved else {}
    if saved and not full:
        old = _unchanged(store, cursor, versions, rules, generic)
        if (
            old is not None
            and _analysed_prs_rewritten(store, int(cursor.get("activity", 0)))
            and set(old) - _evidenced_aliases(store, overrides, generic)
        ):
            old = None  # an author or reviewer no row names any more (a PR edited)
        if old is not None:
            if {k: cursor.get(k) for k in versions} != versions:
                write_authors(store)  # PRs or reviews came or went
            store.set_cursor(*CURSOR, json.dumps({"rules": rules, **versions}), None)
            return IdentityResult(mapping=old, changed_aliases=[])
    uf = _UnionFind()
    display: dict[str, str] = {}
    avatar: dict[str, str] = {}
    bot_alias: set[str] = set()
    forced: dict[str, str] = {}  # alias -> override username
    # logins that are a forge's account id (Bitbucket Cloud, Gerrit, Gitea) -> the name shown
    opaque: dict[str, str | None] = {}

    for source, login in store.query(_logins_sql()):
        if login.lower() != GHOST:
            uf.find(login_alias(source, login))

    # Read in a fixed order: the first name and avatar seen for an alias are its own.
    # logins of one forge account (renamed: GitHub, GitLab) -> (newest people row, login)
    account_logins: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for source, login, name, email, forge_id, is_bot, url, version in store.query(
        "SELECT source, login, name, email, forge_id, is_bot, avatar_url, _version FROM people "
        "ORDER BY source, login"
    ):
        a = login_alias(source, login)
        if name:
            display.setdefault(a, name)
        if url:
            avatar.setdefault(a, url)
        if is_bot:
            bot_alias.add(a)
        if email and not generic(email):
            uf.union(a, email_alias(email))
        if forge_id:
            uf.union(a, f"id:{source.lower()}:{forge_id}")
            if str(forge_id).strip().lower() == str(login).strip().lower():
                opaque[a] = name or opaque.get(a)
            else:
                account_logins[f"{source.lower()}:{forge_id}"].append((int(version or 0), a))
    for source, login, ident, is_bot in store.query(
        "SELECT source, login, identity, is_bot FROM identities"
    ):
        a = login_alias(source, login)
        uf.find(a)
        if ident:
            uf.union(a, f"identity:{ident.lower()}")
        if is_bot:
            bot_alias.add(a)
    for source, email, login, name in store.query(
        f"SELECT * FROM ({_commit_people_sql()}) q ORDER BY 1, 2, 3, 4"
    ):
        if not email.strip():
            continue  # no address: nothing to name or link
        e = email_alias(email)
        uf.find(e)
        if generic(email):
            continue  # shared by many: neither a name nor a link
        if name:
            display.setdefault(e, name)
        if login and login.lower() != GHOST:
            uf.union(e, login_alias(source, login))
    for email, name in store.query(f"SELECT * FROM ({_coauthors_sql()}) q ORDER BY 1, 2"):
        if not email.strip():
            continue
        e = email_alias(email)
        uf.find(e)  # an alias; its links come from the rules above and below
        if name and not generic(email):
            display.setdefault(e, name)

    # Evidence from addresses themselves and from the override files.
    known_sources = defaultdict(set)
    for alias in list(uf.parent):
        if alias.startswith("login:"):
            _, source, login = alias.split(":", 2)
            known_sources[login].add(source)
    for alias in list(uf.parent):
        if alias.startswith("email:"):
            match = _NOREPLY.match(alias[len("email:") :])
            if match:
                uf.union(alias, login_alias("github", match[2]))
    for group in overrides.mailmap_groups:
        for other in group[1:]:
            uf.union(email_alias(group[0]), email_alias(other))
    for username, spec in overrides.people.items():
        anchor = f"override:{username}"
        uf.find(anchor)
        for login in spec.get("logins") or []:
            text = str(login)
            if ":" in text:
                source, name = text.split(":", 1)
                uf.union(anchor, login_alias(source, name))
            else:
                for source in known_sources.get(text.lower(), {"github"}):
                    uf.union(anchor, login_alias(source, text))
        for email in spec.get("emails") or []:
            uf.union(anchor, email_alias(str(email)))
        if spec.get("display_name"):
            display[anchor] = str(spec["display_name"])
        forced[anchor] = username

    # A renamed account's older logins are not its name: the login written last is the one
    # the forge shows now (it answers every request with the current login); a tie (both
    # written in one batch) leaves both, and the smallest is shown.
    superseded = {
        a
        for seen in account_logins.values()
        for version, a in seen
        if version < max(v for v, _ in seen)
    }
    groups: dict[str, list[str]] = defaultdict(list)
    for alias in list(uf.parent):
        groups[uf.find(alias)].append(alias)
    mapping: dict[str, tuple[str, bool]] = {}
    facts: dict[str, tuple[str | None, str | None]] = {}  # alias -> (display name, avatar)
    chosen: list[tuple[list[str], str, str | None, bool, tuple[str | None, str | None]]] = []
    for members in groups.values():
        members.sort()
        names = [forced[m] for m in members if m in forced]
        login_names = [m.split(":", 2)[2] for m in members if m.startswith("login:")]
        readable = [
            m.split(":", 2)[2]
            for m in members
            if m.startswith("login:") and m not in opaque and m not in superseded
        ]
        shown = next(((m, opaque[m]) for m in members if (opaque.get(m) or "").strip()), None)
        emails = [m[len("email:") :] for m in members if m.startswith("email:")]
        key: str | None = None  # set when the username is a shown name: told apart by it
        if names:
            username = names[0]
        elif readable:
            username = min(readable)
        elif shown is not None:
            username, key = str(shown[1]).strip(), shown[0].split(":", 1)[1]
        elif login_names:
            username = min(login_names)
        elif emails:
            username = min(emails)
        else:
            continue
        is_bot = (
            any(m in bot_alias for m in members)
            or any(_is_bot_login(n, bot_names) for n in login_names)
            or any(e.split("@", 1)[0].endswith("[bot]") for e in emails)
        )
        group_facts = (
            next((display[m] for m in members if m in display), None),
            next((avatar[m] for m in members if m in avatar), None),
        )
        chosen.append((members, username, key, is_bot, group_facts))
    # A shown name is a username only while no other author has it (two people may share a
    # name, or a nickname): those that share one are told apart by their forge key.
    taken = Counter(u.lower() for _, u, *_ in chosen)
    for members, username, key, is_bot, group_facts in chosen:
        if key is not None and (taken[username.lower()] > 1 or username.lower() == GHOST):
            username = f"{username} ({key})"
        for m in members:
            if m.startswith(("login:", "email:")):
                mapping[m] = (username, is_bot)
                facts[m] = group_facts

    old_rows = store.query(
        "SELECT alias, username, is_bot, display_name, avatar_url, "
        "CAST(previous_usernames AS VARCHAR) FROM analytics_identity_map"
    )
    old = {str(a): (str(u), bool(b)) for a, u, b, *_ in old_rows}
    old_facts = {str(r[0]): (r[3], r[4]) for r in old_rows}
    history = {str(r[0]): list(json.loads(r[5])) if r[5] else [] for r in old_rows}
    changed = [a for a, v in mapping.items() if a in old and old[a] != v]
    gone = sorted(set(old) - set(mapping))
    now = datetime.now(UTC)
    with store.transaction():
        # Only new or changed rows are written (an incremental run usually has none).
        rows = []
        for a in sorted(mapping):
            if old.get(a) == mapping[a] and old_facts.get(a) == facts[a]:
                continue
            before = old.get(a)
            renamed = before is not None and before[0] != mapping[a][0]
            previous = history.get(a, [])
            if renamed and before is not None:
                previous = [p for p in previous if p != before[0]] + [before[0]]
            rows.append(
                {
                    "alias": a,
                    "username": mapping[a][0],
                    "is_bot": mapping[a][1],
                    "display_name": facts[a][0],
                    "avatar_url": facts[a][1],
                    "previous_usernames": previous or None,
                    "renamed_at": now if renamed else None,
                }
            )
        if rows:
            _keep_renamed_at(store, rows)
            store.upsert("analytics_identity_map", rows)
        if gone:  # aliases no evidence names any more (an override dropped)
            _delete_in(store, "analytics_identity_map", "alias", gone)
        write_authors(store)
        store.set_cursor(*CURSOR, json.dumps({"rules": rules, **versions}), None)
    return IdentityResult(mapping=mapping, changed_aliases=sorted({*changed, *gone}))


def _keep_renamed_at(store: Store, rows: list[dict[str, Any]]) -> None:
    """A row rewritten without a rename (a new display name) keeps its last rename's time."""
    keep = [r["alias"] for r in rows if r["renamed_at"] is None and r["previous_usernames"]]
    if not keep:
        return
    marks = ", ".join("?" for _ in keep)
    when = dict(
        store.query(
            f"SELECT alias, renamed_at FROM analytics_identity_map WHERE alias IN ({marks})", keep
        )
    )
    for r in rows:
        if r["renamed_at"] is None and r["alias"] in when:
            r["renamed_at"] = when[r["alias"]]


def _delete_in(store: Store, table: str, column: str, values: list[str]) -> None:
    for i in range(0, len(values), 500):
        part = values[i : i + 500]
        store.execute(
            f"DELETE FROM {table} WHERE {column} IN ({', '.join('?' for _ in part)})", part
        )


def _active_logins_sql(any_deleted: bool) -> str:
    """``(source, login)`` of every author and reviewer of a PR that is not deleted (the
    reviews are joined to their PRs only when some PR is deleted)."""
    reviews = (
        "SELECT DISTINCT r.source, v.author FROM pr_reviews v "
        "JOIN pull_requests p ON p.repository_id = v.repository_id AND p.number = v.pr_number "
        "JOIN repositories r ON r.id = v.repository_id "
        "WHERE v.author IS NOT NULL AND p.deleted_at IS NULL"
        if any_deleted
        else "SELECT DISTINCT r.source, v.author FROM pr_reviews v "
        "JOIN repositories r ON r.id = v.repository_id WHERE v.author IS NOT NULL"
    )
    return (
        "SELECT DISTINCT r.source, p.author FROM pull_requests p "
        "JOIN repositories r ON r.id = p.repository_id "
        f"WHERE p.author IS NOT NULL AND p.deleted_at IS NULL UNION {reviews}"
    )


def write_authors(store: Store) -> None:
    """Make ``authors`` the projection of the identity map on PR authors and reviewers: one row
    per username, its display name, avatar and bot flag (the first non-empty of its aliases in
    alias order; a bot when any is); rows of other usernames are deleted."""
    any_deleted = bool(
        store.query("SELECT 1 FROM pull_requests WHERE deleted_at IS NOT NULL LIMIT 1")
    )
    wanted = {
        login_alias(str(source), str(login))
        for source, login in store.query(_active_logins_sql(any_deleted))
        if str(login).strip().lower() != GHOST
    }
    seen: dict[str, dict[str, Any]] = {}
    for alias, username, is_bot, name, url in store.query(
        "SELECT alias, username, is_bot, display_name, avatar_url FROM analytics_identity_map "
        "ORDER BY alias"
    ):
        user = str(username)
        row = seen.setdefault(
            user, {"username": user, "display_name": None, "avatar_url": None, "is_bot": False}
        )
        row["display_name"] = row["display_name"] or name
        row["avatar_url"] = row["avatar_url"] or url
        row["is_bot"] = row["is_bot"] or bool(is_bot)
        row["active"] = row.get("active", False) or alias in wanted
    authors = {u: r for u, r in seen.items() if r.pop("active")}
    have = {
        str(u): (d, a, bool(b))
        for u, d, a, b in store.query(
            "SELECT username, display_name, avatar_url, is_bot FROM authors"
        )
    }
    rows = [
        r
        for u, r in authors.items()
        if have.get(u) != (r["display_name"], r["avatar_url"], bool(r["is_bot"]))
    ]
    with store.transaction():
        gone = sorted(set(have) - set(authors))
        if gone:
            _delete_in(store, "authors", "username", gone)
        if rows:
            store.upsert("authors", rows)
