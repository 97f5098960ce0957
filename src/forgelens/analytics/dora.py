"""``analyze dora``: read each repository's deployments, commit graph, incidents, issues and PRs
from the store, compute DORA (``dora_model``, ``dora_metrics``) and write ``deployment_commits``,
``change_failures``, ``dora_deployments``, ``dora_metrics_weekly`` / ``_monthly``, the incidents
found in issues and ``repo_prs.deployed_at``.

Incremental: a repository is recomputed whole when any of its inputs has a row newer than the
watermark kept in ``analytics_state`` (target ``dora``), or the ``[dora]`` rules changed.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forgelens.analytics._ctx import Ctx
from forgelens.analytics.dora_link import Deploy, Graph
from forgelens.analytics.dora_metrics import MONTHLY, WEEKLY, metric_rows
from forgelens.analytics.dora_model import (
    PRODUCTION,
    Change,
    Incident,
    Pr,
    RepoDora,
    Rules,
    analyze_repo,
    micros,
)
from forgelens.store import Store
from forgelens.store import sql as _sql

TARGET = "dora"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ISSUE_SOURCE = "issue"  # incidents this analysis derives from issues
# inputs whose newer rows make a repository dirty (incidents: those pushed, not ours; repo_prs:
# What Shipped rewrites its rows without deployed_at, which this analysis then fills again)
_INPUTS = ("deployments", "commits", "issues", "pull_requests", "pr_commits")
_OUTPUTS_BY_ID = ("change_failures", "dora_deployments")  # + deployment_commits, by diff
_MAX_CHANGED = 500  # deployment ids per DELETE statement
_NEVER = 2**62  # a scope's start for an environment none of whose links may change
_FIRST = 0  # the earliest start read (1970: in range on every store, before any deployment)
_OUTPUTS_BY_NAME = ("dora_metrics_weekly", "dora_metrics_monthly")


@dataclass
class DoraResult:
    repositories: int = 0
    skipped: int = 0
    deployments: int = 0
    linked_commits: int = 0
    failures: int = 0
    incidents: int = 0
    per_repo: dict[str, int] = field(default_factory=dict)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    raise TypeError(f"not a timestamp: {value!r}")


def _parents(value: Any) -> list[str]:
    """``commits.parents``: a JSON array of shas (text on DuckDB and ClickHouse, a list on
    PostgreSQL). Shas need no JSON unescaping: split the common shape directly."""
    if value is None:
        return []
    if isinstance(value, str):
        if value in ("", "[]"):
            return []
        if value.startswith('["') and "\\" not in value:
            return value[2:-2].split('", "') if ", " in value else value[2:-2].split('","')
        return list(json.loads(value))
    return list(value)


def _labels(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(str(v) for v in json.loads(value or "[]"))
    return tuple(str(v) for v in value)


def rules_hash(rules: Rules) -> str:
    blob = json.dumps(asdict(rules), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


@dataclass
class Dirty:
    """What ``dirty_repositories`` found: the repositories to recompute, each one's newest input
    version now, the newest ``commits`` version of each, and the watermark each was analysed
    at with unchanged rules (absent: a first analysis, new rules or a forced run)."""

    repos: list[tuple[str, str]]
    newest: dict[str, int]
    graph: dict[str, int]  # commits
    others: dict[str, int]  # every input but deployments
    analysed: dict[str, int]


def dirty_repositories(
    store: Store, repos: Sequence[tuple[str, str]], rules: Rules, force: bool
) -> Dirty:
    """The repositories to recompute, and what changed since each one's last analysis."""
    state = {
        str(name): (int(wm or 0), ch)
        for name, wm, ch in store.query(
            "SELECT repo_name, watermark, config_hash FROM analytics_state WHERE target = ?",
            [TARGET],
        )
    }
    floor = 0 if force else min((state.get(n, (0, ""))[0] for _, n in repos), default=0)
    parts = [
        f"SELECT repository_id, max(_version) AS v, '{t}' AS t FROM {t} WHERE _version > {floor} "
        "GROUP BY repository_id"
        for t in _INPUTS
    ]
    parts.append(
        f"SELECT r.id AS repository_id, max(p._version) AS v, 'repo_prs' AS t FROM repo_prs p "
        f"JOIN repositories r ON r.full_name = p.repo_name WHERE p._version > {floor} "
        "GROUP BY r.id"
    )
    parts.append(  # a team's membership: its forge's repositories (their team rows)
        f"SELECT r.id AS repository_id, max(tm._version) AS v, 'team_members' AS t "
        f"FROM team_members tm JOIN repositories r ON lower(r.source) = lower(tm.source) "
        f"WHERE tm._version > {floor} GROUP BY r.id"
    )
    parts.append(
        f"SELECT repository_id, max(_version) AS v, 'incidents' AS t FROM incidents "
        f"WHERE _version > {floor} AND source <> '{ISSUE_SOURCE}' GROUP BY repository_id"
    )
    newest: dict[str, int] = {}
    graph: dict[str, int] = {}
    others: dict[str, int] = {}
    for r, v, t in store.query(" UNION ALL ".join(parts)):
        rid = str(r)
        newest[rid] = max(newest.get(rid, 0), int(v))
        if t == "commits":
            graph[rid] = int(v)
        if t != "deployments":
            others[rid] = max(others.get(rid, 0), int(v))
    h = rules_hash(rules)
    dirty = []
    analysed = {}
    for rid, name in repos:
        wm, old_hash = state.get(name, (0, ""))
        if not force and old_hash == h and wm > 0:
            analysed[rid] = wm
        if force or old_hash != h or newest.get(rid, 0) > wm:
            dirty.append((rid, name))
    return Dirty(dirty, newest, graph, others, analysed)


def _chunks(items: Sequence[tuple[str, str]], size: int) -> Iterator[Sequence[tuple[str, str]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class _Inputs:
    parents: dict[str, Graph] = field(default_factory=dict)
    times: dict[str, dict[str, int | None]] = field(default_factory=dict)  # epoch micros
    commits: dict[str, dict[str, Change]] = field(default_factory=dict)  # those with a message
    deploys: dict[str, list[Deploy]] = field(default_factory=dict)
    versions: dict[str, dict[str, int]] = field(default_factory=dict)  # deployment _version
    incidents: dict[str, list[Incident]] = field(default_factory=dict)
    issue_incidents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    prs: dict[str, list[Pr]] = field(default_factory=dict)
    # {repository: {team: its members' merged PRs}} (team_members, by login on the same forge)
    teams: dict[str, dict[str, set[int]]] = field(default_factory=dict)


# ``commits.parents`` as our writers store it: a JSON array of hex shas
_PARENTS_SHAPE = r'^\[("[0-9A-Za-z]*"(,\s*"[0-9A-Za-z]*")*)?\]$'


def _parent_parts(column: pa.ChunkedArray) -> tuple[list[str | None], dict[int, list[str]]]:
    """Each commit's only parent (None for a root or a merge) and, by row, the parents of the
    merges (``Graph``). Split by Arrow when every value has the plain shape, so a million
    commits need no million JSON parses nor a list each; anything else by ``_parents``.
    Parents are kept as they are: linking skips one that was not mined."""
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if text and pc.all(pc.match_substring_regex(column, _PARENTS_SHAPE)).as_py() is not False:
        inner = pc.utf8_slice_codeunits(column, 2, -2).combine_chunks()
        split = pc.split_pattern_regex(inner, r'",\s*"')
        merge = pc.greater(pc.list_value_length(split), 1)
        first = pc.list_element(split, 0)  # "" for a root ("[]")
        none = pa.scalar(None, first.type)
        first = pc.if_else(pc.or_(merge, pc.equal(first, "")), none, first)
        merges = pc.indices_nonzero(merge)
        lists = split.take(merges).to_pylist()
        return first.to_pylist(), dict(zip(merges.to_pylist(), lists, strict=True))
    lists = [v if isinstance(v, list) else _parents(v) for v in column.to_pylist()]
    firsts = [str(ps[0]) if len(ps) == 1 else None for ps in lists]
    return firsts, {i: [str(p) for p in ps] for i, ps in enumerate(lists) if len(ps) > 1}


def _run_starts(idx: pa.Array) -> list[int]:
    """The rows where a run of equal values starts."""
    changes = pc.indices_nonzero(pc.not_equal(idx[1:], idx[:-1])).to_pylist()
    return [0, *(i + 1 for i in changes)]


def _graphs(table: pa.Table) -> Iterator[tuple[str, list[str], Graph, list[Any]]]:
    """(repository id, shas, graph, committed_at micros) per repository of ``table``
    (repository_id, sha, parents, committed_at). The store returns one repository's commits
    in a few runs of rows (one each, most often): each run is added to its repository's
    graph; rows in no order at all are sorted by repository first."""
    if table.num_rows == 0:
        return
    rids = pc.dictionary_encode(table.column(0)).combine_chunks()
    idx = rids.indices
    starts = _run_starts(idx)
    if len(starts) > 4 * len(rids.dictionary):
        order = pc.sort_indices(idx)
        table, idx = table.take(order), idx.take(order)
        starts = _run_starts(idx)
    names = rids.dictionary.to_pylist()
    shas = table.column(1).to_pylist()
    firsts, rest = _parent_parts(table.column(2))
    merges = sorted(rest)
    micros = table.column(3).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    found: dict[str, tuple[list[str], Graph, list[Any]]] = {}
    m = 0
    for start, end in itertools.pairwise([*starts, table.num_rows]):
        rid = str(names[idx[start].as_py()])
        mine = found.get(rid)
        if mine is None:
            mine = found[rid] = ([], Graph({}, {}), [])
        mine[0].extend(shas[start:end])
        mine[1].first.update(zip(shas[start:end], firsts[start:end], strict=True))
        mine[2].extend(micros[start:end])
        while m < len(merges) and merges[m] < end:
            mine[1].rest[shas[merges[m]]] = rest[merges[m]]
            m += 1
    for rid, (repo_shas, graph, times) in found.items():
        yield rid, repo_shas, graph, times


def _read(store: Store, ids: list[str], rules: Rules) -> _Inputs:
    inp = _Inputs(
        parents={i: Graph({}, {}) for i in ids},
        times={i: {} for i in ids},
        commits={i: {} for i in ids},
        deploys={i: [] for i in ids},
        versions={i: {} for i in ids},
        incidents={i: [] for i in ids},
        issue_incidents={i: [] for i in ids},
        prs={i: [] for i in ids},
    )
    m = _marks(len(ids))
    table = store.query_arrow(
        "SELECT repository_id, sha, parents, committed_at FROM commits "
        f"WHERE repository_id IN ({m})",
        ids,
    )
    for rid, graph_shas, graph, times in _graphs(table):
        inp.parents[rid] = graph
        inp.times[rid] = dict(zip(graph_shas, times, strict=True))
    del table
    like = " OR ".join(
        ["message LIKE '%This reverts commit %'"]
        + [
            f"lower(message) LIKE {_sql.literal(p.lower() + '%', store)}"
            for p in rules.hotfix_prefixes
        ]
    )
    for rid, sha, at, message in store.query(
        f"SELECT repository_id, sha, committed_at, message FROM commits "
        f"WHERE repository_id IN ({m}) AND ({like})",
        ids,
    ):
        inp.commits[rid][sha] = Change(sha, _utc(at), message or "")
    for rid, dep_id, env, kind, sha, status, at, source, v in store.query(
        "SELECT repository_id, deployment_id, environment, environment_kind, sha, status, "
        "COALESCE(finished_at, created_at), source, _version FROM deployments "
        f"WHERE repository_id IN ({m})",
        ids,
    ):
        inp.versions[rid][str(dep_id)] = int(v or 0)
        when = _utc(at)
        if when is None or not sha:
            continue  # a deployment without a time or sha cannot be placed
        inp.deploys[rid].append(
            Deploy(
                str(dep_id),
                env or "production",
                sha,
                status or "",
                when,
                source or "",
                kind or "other",
            )
        )
    for rid, inc_id, created, resolved, sha, dep_id in store.query(
        "SELECT repository_id, incident_id, created_at, resolved_at, sha, deployment_id "
        f"FROM incidents WHERE repository_id IN ({m}) AND source <> '{ISSUE_SOURCE}'",
        ids,
    ):
        c = _utc(created)
        if c is not None:
            inp.incidents[rid].append(Incident(str(inc_id), c, _utc(resolved), sha, dep_id))
    title_re = re.compile(rules.incident_title, re.IGNORECASE)
    wanted = {lab.lower() for lab in rules.incident_labels}
    types = {t.lower() for t in rules.incident_issue_types}
    for rid, number, title, labels, created, closed, url, typ in store.query(
        "SELECT repository_id, number, title, labels, created_at, closed_at, url, issue_type "
        f"FROM issues WHERE repository_id IN ({m}) AND deleted_at IS NULL",
        ids,
    ):
        labs = {lab.lower() for lab in _labels(labels)}
        if not (labs & wanted or title_re.search(title or "") or (typ or "").lower() in types):
            continue
        c = _utc(created)
        if c is None:
            continue
        inc = Incident(f"issue:{number}", c, _utc(closed))
        inp.incidents[rid].append(inc)
        inp.issue_incidents[rid].append(
            {
                "repository_id": rid,
                "incident_id": inc.id,
                "title": title,
                "source": ISSUE_SOURCE,
                "created_at": c,
                "resolved_at": inc.resolved_at,
                "url": url,
            }
        )
    shas: dict[tuple[str, int], list[str]] = {}
    for rid, number, sha in store.query(
        f"SELECT repository_id, pr_number, sha FROM pr_commits WHERE repository_id IN ({m})", ids
    ):
        shas.setdefault((rid, int(number)), []).append(sha)
    for rid, number, merged, head, labels, author in store.query(
        "SELECT repository_id, number, merged_at, head_ref, labels, author FROM pull_requests "
        f"WHERE repository_id IN ({m}) AND merged_at IS NOT NULL",
        ids,
    ):
        n = int(number)
        pr = Pr(n, _utc(merged), head, _labels(labels), tuple(shas.get((rid, n), ())), author)
        inp.prs[rid].append(pr)
    members: dict[tuple[str, str], set[str]] = {}
    for source, team, login in store.query(
        "SELECT lower(source), org || '/' || team_slug, lower(login) FROM team_members"
    ):
        members.setdefault((str(source), str(login)), set()).add(str(team))
    if members:
        for rid, source in store.query(
            f"SELECT id, lower(source) FROM repositories WHERE id IN ({m})", ids
        ):
            for pr in inp.prs.get(str(rid), ()):
                for team in members.get((str(source), (pr.author or "").lower()), ()):
                    inp.teams.setdefault(str(rid), {}).setdefault(team, set()).add(pr.number)
    return inp


def run(ctx: Ctx, repos: Sequence[tuple[str, str]], force: bool) -> dict[str, int]:
    """The runner's phase: DORA for ``repos`` with the ``[dora]`` rules of the config."""
    res = write_dora(
        ctx.store,
        repos,
        Rules.from_mapping(ctx.config.dora),
        force=force,
        version=ctx.version,
        now=ctx.now,
    )
    return {k: v for k, v in asdict(res).items() if isinstance(v, int)}


def write_dora(
    store: Store,
    repos: Sequence[tuple[str, str]],
    rules: Rules,
    *,
    force: bool = False,
    version: int,
    now: datetime,
    batch_repos: int = 200,
) -> DoraResult:
    """Recompute DORA for the repositories ``(repository_id, full_name)`` that changed."""
    result = DoraResult()
    found = dirty_repositories(store, repos, rules, force)
    dirty, newest = found.repos, found.newest
    result.repositories, result.skipped = len(dirty), len(repos) - len(dirty)
    h = rules_hash(rules)
    active = _with_deployments(store, dirty)
    idle = [(rid, name) for rid, name in dirty if rid not in active]
    if idle:  # no deployments, now or before: nothing to read or write but the watermark
        store.upsert(
            "analytics_state", _state_rows(idle, newest, h, now, set(), version), version=version
        )
    # links are inserted plainly: on a first analysis of the store (no links stored) as they
    # are, else once the rows of the deployments they replace are deleted (``_write_links``)
    first = not store.query("SELECT 1 FROM deployment_commits LIMIT 1")
    with store.bulk_load(fresh=("deployment_commits",)), _no_gc():
        for chunk in _chunks([r for r in dirty if r[0] in active], batch_repos):
            _write_chunk(store, chunk, rules, found, result, version=version, now=now, first=first)
    return result


@contextmanager
def _no_gc() -> Iterator[None]:
    """Python's cycle collector paused: the graphs are millions of small lists and strings
    (no cycles), which it would otherwise walk again and again as they are built (40% of the
    time reading a graph)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _write_chunk(
    store: Store,
    chunk: Sequence[tuple[str, str]],
    rules: Rules,
    found: Dirty,
    result: DoraResult,
    *,
    version: int,
    now: datetime,
    first: bool,
) -> None:
    ids = [rid for rid, _ in chunk]
    inp = _read(store, ids, rules)
    placed = _placed(store, ids)
    out = _Rows()
    scopes: dict[str, dict[str, int] | None] = {}
    envs: dict[str, set[str] | None] = {}
    for rid, name in chunk:
        wm = found.analysed.get(rid)
        if wm is None or found.graph.get(rid, 0) > wm:
            scopes[rid] = None  # a new graph (or rules, or no earlier run): any link may change
        else:
            scopes[rid] = link_scope(
                inp.deploys[rid], inp.versions[rid], wm, placed.get(rid, {}), rules
            )
        deploys = inp.deploys[rid]
        envs[rid] = None
        scope = scopes[rid]
        if scope is not None and wm is not None and found.others.get(rid, 0) <= wm:
            envs[rid] = recomputed_environments(deploys, scope, inp.incidents[rid])
            deploys = [d for d in deploys if d.environment in (envs[rid] or ())]
        dora = analyze_repo(
            inp.parents[rid],
            inp.commits[rid],
            deploys,
            inp.incidents[rid],
            inp.prs[rid],
            rules,
            inp.times[rid],
        )
        out.add(rid, name, dora, inp, now, scope)
        result.per_repo[name] = len(dora.facts)
        result.linked_commits += sum(len(v) for v in dora.links.commits.values())
    inp.parents.clear()  # the graphs are the bulk of the memory: not kept while writing
    result.deployments += len(out.deployments)
    result.failures += len(out.failures)
    result.incidents += sum(len(inp.issue_incidents[i]) for i in ids)
    with store.transaction():
        _replace(store, chunk, envs)
        _write_links(store, scopes, out.links, version, placed, first=first)
        for table, rows in (
            ("change_failures", out.failures),
            ("dora_deployments", out.deployments),
            ("dora_metrics_weekly", out.weekly),
            ("dora_metrics_monthly", out.monthly),
            ("incidents", [r for i in ids for r in inp.issue_incidents[i]]),
        ):
            if rows:
                store.upsert(table, rows, version=version, source="analytics")
        touched = _repo_prs(store, [n for _, n in chunk], out.pr_deployed, version)
        store.upsert(
            "analytics_state",
            _state_rows(chunk, found.newest, rules_hash(rules), now, touched, version),
            version=version,
        )


def _placed(store: Store, ids: list[str]) -> dict[str, dict[str, tuple[str, int | None]]]:
    """Where the last analysis placed each deployment: {repository: {id: (environment,
    deployed_at micros)}}."""
    out: dict[str, dict[str, tuple[str, int | None]]] = {}
    for rid, dep_id, env, at in store.query(
        "SELECT repository_id, deployment_id, environment, deployed_at FROM dora_deployments "
        f"WHERE repository_id IN ({_marks(len(ids))})",
        ids,
    ):
        out.setdefault(str(rid), {})[str(dep_id)] = (str(env), micros(_utc(at)))
    return out


def link_scope(
    deploys: Sequence[Deploy],
    versions: Mapping[str, int],
    watermark: int,
    placed: Mapping[str, tuple[str, int | None]],
    rules: Rules,
) -> dict[str, int]:
    """{environment: epoch micros}: the only links that may differ from the stored ones, with
    the commit graph unchanged since ``watermark``. Linking walks each environment's
    deployments in time order, so a deployment added, changed or gone (at its old place and its
    new one) changes no link of its environment's deployments before it, less the dedupe
    window (a later duplicate can take an earlier deployment's place); other environments'
    links stay as they are."""
    now = {d.id: d for d in deploys}
    changed = {i for i, v in versions.items() if v > watermark}
    changed |= set(placed) ^ set(now)
    window = int(rules.dedupe_window.total_seconds() * 1_000_000)
    out: dict[str, int] = {}
    for dep_id in changed:
        where = []
        if dep_id in now:
            where.append((now[dep_id].environment, micros(now[dep_id].at)))
        if dep_id in placed:
            where.append(placed[dep_id])
        for env, at in where:
            first = -(2**62) if at is None else at - window
            out[env] = min(out.get(env, first), first)
    return out


@dataclass
class _Links:
    """``deployment_commits`` rows being collected: per deployment (run-length) its repository,
    id, environment and time (epoch micros); per commit its sha and committed_at."""

    repository_id: list[str] = field(default_factory=list)
    deployment_id: list[str] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    deployed_at: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # cumulative row count after each deployment
    sha: list[str] = field(default_factory=list)
    committed_at: list[int | None] = field(default_factory=list)

    def add(
        self, rid: str, d: Deploy, at: int, shas: list[str], committed: list[int | None]
    ) -> None:
        self.repository_id.append(rid)
        self.deployment_id.append(d.id)
        self.environment.append(d.environment)
        self.deployed_at.append(at)
        self.sha += shas
        self.ends.append(len(self.sha))
        self.committed_at += committed

    def table(self, version: int) -> pa.Table:
        """The rows; the lead time computed by Arrow (deployed - committed, in hours; NULL
        without a commit time)."""
        ts = pa.timestamp("us", tz="UTC")
        ends = pa.array(self.ends, pa.int64())

        def per_row(values: list[Any], kind: pa.DataType) -> pa.Array:
            return pc.run_end_decode(
                pa.RunEndEncodedArray.from_arrays(ends, pa.array(values, kind))
            )

        def same(value: Any, kind: pa.DataType) -> pa.Array:  # no list of a million items
            if not self.sha:
                return pa.array([], kind)
            run = pa.array([len(self.sha)], pa.int64())
            return pc.run_end_decode(
                pa.RunEndEncodedArray.from_arrays(run, pa.array([value], kind))
            )

        committed = pa.array(self.committed_at, pa.int64())
        deployed = per_row(self.deployed_at, pa.int64())
        lead = pc.divide(pc.cast(pc.subtract(deployed, committed), pa.float64()), 3_600_000_000.0)
        return pa.table(
            {
                "repository_id": per_row(self.repository_id, pa.string()),
                "deployment_id": per_row(self.deployment_id, pa.string()),
                "sha": pa.array(self.sha, pa.string()),
                "environment": per_row(self.environment, pa.string()),
                "committed_at": committed.cast(ts),
                "deployed_at": deployed.cast(ts),
                "lead_time_hours": lead,
                "_version": same(version, pa.int64()),
                "_source": same("analytics", pa.string()),
            }
        )


def _with_deployments(store: Store, repos: Sequence[tuple[str, str]]) -> set[str]:
    """The repositories among ``repos`` that have deployments or DORA rows to replace."""
    found: set[str] = set()
    for chunk in _chunks(repos, 500):
        ids = [rid for rid, _ in chunk]
        m = _marks(len(ids))
        found |= {
            str(r[0])
            for r in store.query(
                f"SELECT DISTINCT repository_id FROM deployments WHERE repository_id IN ({m}) "
                f"UNION ALL SELECT DISTINCT repository_id FROM dora_deployments "
                f"WHERE repository_id IN ({m})",
                [*ids, *ids],
            )
        }
    return found


def _state_rows(
    repos: Sequence[tuple[str, str]],
    newest: dict[str, int],
    config_hash: str,
    now: datetime,
    touched: set[str],
    version: int,
) -> list[dict[str, Any]]:
    return [
        {
            "repo_name": name,
            "target": TARGET,
            "repository_id": rid,
            # our own repo_prs write is no new input
            "watermark": max(newest.get(rid, 0), version if name in touched else 0),
            "config_hash": config_hash,
            "analyzed_at": now,
        }
        for rid, name in repos
    ]


def _write_links(
    store: Store,
    scopes: Mapping[str, Mapping[str, int] | None],
    links: _Links,
    version: int,
    placed: Mapping[str, Mapping[str, tuple[str, int | None]]],
    *,
    first: bool = False,
) -> None:
    """``deployment_commits`` of these repositories within their scopes (``link_scope``; None:
    the whole repository): only the deployments whose links changed are rewritten (a new
    deployment adds its rows; the earlier ones stay as they are, also on a forced run: deleting
    index entries costs far more than comparing). The rows written are always new keys (the
    store's ``bulk_load(fresh=...)``): with ``first`` (no links stored when the run started:
    every repository's links are written once) as they are, else after deleting every stored
    row of the deployments rewritten (those stored in scope, and any other row of a
    deployment the last analysis placed)."""
    if first:
        if links.sha:
            store.upsert("deployment_commits", links.table(version))
        return
    whole = [rid for rid, scope in scopes.items() if scope is None]
    cut = {(rid, env): at for rid, scope in scopes.items() for env, at in (scope or {}).items()}
    cols = (
        "SELECT repository_id, deployment_id, sha, deployed_at, environment FROM deployment_commits"
    )
    parts = []
    if whole:
        parts.append(
            store.query_arrow(f"{cols} WHERE repository_id IN ({_marks(len(whole))})", whole)
        )
    if cut:  # one scan for every scoped repository, from the earliest start on; then each's own
        rids = sorted({rid for rid, _ in cut})
        envs = sorted({env for _, env in cut})
        first_at = _EPOCH + timedelta(microseconds=max(min(cut.values()), _FIRST))
        found = store.query_arrow(
            f"{cols} WHERE repository_id IN ({_marks(len(rids))}) "
            f"AND environment IN ({_marks(len(envs))}) AND deployed_at >= ?",
            [*rids, *envs, first_at],
        )
        keep = [
            cut.get((r, e), _NEVER) <= at
            for r, e, at in zip(
                _plain(found, "repository_id"),
                _plain(found, "environment"),
                _plain(found, "deployed_at"),
                strict=True,
            )
        ]
        parts.append(found.filter(pa.array(keep, pa.bool_())))
    if not parts:
        return  # nothing any link depends on changed
    old = pa.concat_tables(parts)
    if not links.sha and old.num_rows == 0:
        return
    new = links.table(version)
    a, b = _link_keys(new), _link_keys(old)
    keys = ["r", "d", "s", "at"]  # rows on one side only, by hash joins (no tuple per row)
    only = pa.concat_tables(
        [a.join(b, keys, join_type="left anti"), b.join(a, keys, join_type="left anti")]
    )
    changed = set(zip(_plain(only, "r"), _plain(only, "d"), strict=True))
    if not changed:
        return
    pairs = b.group_by(["r", "d"]).aggregate([])
    known = set(zip(_plain(pairs, "r"), _plain(pairs, "d"), strict=True))
    known |= {(rid, dep_id) for rid in scopes for dep_id in placed.get(rid, {})}
    gone: dict[str, list[str]] = {}
    for rid, dep_id in sorted(known & changed):
        gone.setdefault(rid, []).append(dep_id)
    for rid, deps in gone.items():
        for i in range(0, len(deps), _MAX_CHANGED):
            part = deps[i : i + _MAX_CHANGED]
            store.execute(
                "DELETE FROM deployment_commits WHERE repository_id = ? "
                f"AND deployment_id IN ({_marks(len(part))})",
                [rid, *part],
            )
    wanted = pa.array([f"{rid}\x00{dep_id}" for rid, dep_id in sorted(changed)], pa.string())
    mask = pc.is_in(pc.binary_join_element_wise(a.column("r"), a.column("d"), "\x00"), wanted)
    if pc.any(mask).as_py():
        store.upsert("deployment_commits", new.filter(mask))


def _link_keys(table: pa.Table) -> pa.Table:
    """What tells two ``deployment_commits`` rows apart here: repository, deployment, sha and
    deployed_at (epoch micros), as plain Arrow types whatever the store returned."""
    at = table.column("deployed_at").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return pa.table(
        {
            "r": table.column("repository_id").cast(pa.string()),
            "d": table.column("deployment_id").cast(pa.string()),
            "s": table.column("sha").cast(pa.string()),
            "at": at,
        }
    )


def _plain(table: pa.Table, column: str) -> list[Any]:
    """A column as Python values; times as epoch micros."""
    col = table.column(column)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    out: list[Any] = col.to_pylist()
    return out


def _replace(
    store: Store, chunk: Sequence[tuple[str, str]], envs: Mapping[str, set[str] | None]
) -> None:
    """Delete the rows about to be written again: of the whole repository, or of the
    environments recomputed (``envs``)."""
    ids = [rid for rid, _ in chunk]
    m = _marks(len(ids))
    store.execute(
        f"DELETE FROM incidents WHERE repository_id IN ({m}) AND source = '{ISSUE_SOURCE}'", ids
    )
    groups: dict[tuple[str, ...] | None, list[tuple[str, str]]] = {}
    for rid, name in chunk:  # one statement per set of environments (most share one)
        mine = envs.get(rid)
        groups.setdefault(None if mine is None else tuple(sorted(mine)), []).append((rid, name))
    for some, repos in groups.items():
        if some is not None and not some:
            continue
        only, params = "", list(some or ())
        if some is not None:
            only = f" AND environment IN ({_marks(len(some))})"
        m = _marks(len(repos))
        for t in _OUTPUTS_BY_ID:
            store.execute(
                f"DELETE FROM {t} WHERE repository_id IN ({m}){only}",
                [*(r for r, _ in repos), *params],
            )
        for t in _OUTPUTS_BY_NAME:
            store.execute(
                f"DELETE FROM {t} WHERE repo_name IN ({m}){only}", [*(n for _, n in repos), *params]
            )


def recomputed_environments(
    deploys: Sequence[Deploy], scope: Mapping[str, int], incidents: Sequence[Incident]
) -> set[str]:
    """When only deployments changed: the environments whose rows may change — those with a
    changed deployment (``scope``), every production one (an incident without a deployment
    of its own links to the latest production deployment of the repository, whatever its
    environment) and those of the deployments incidents name (a named deployment takes the
    incident from them). Every other environment's facts depend on its own deployments and
    the (unchanged) commits, PRs and incidents alone."""
    named = {i.deployment_id for i in incidents if i.deployment_id}
    return (
        set(scope)
        | {d.environment for d in deploys if d.kind == PRODUCTION}
        | {d.environment for d in deploys if d.id in named}
    )


@dataclass
class _Rows:
    links: _Links = field(default_factory=_Links)
    failures: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    weekly: list[dict[str, Any]] = field(default_factory=list)
    monthly: list[dict[str, Any]] = field(default_factory=list)
    pr_deployed: dict[tuple[str, int], tuple[datetime, str]] = field(default_factory=dict)

    def add(
        self,
        rid: str,
        name: str,
        dora: RepoDora,
        inp: _Inputs,
        now: datetime,
        scope: Mapping[str, int] | None,
    ) -> None:
        """The rows of one repository; ``deployment_commits`` only within ``scope``."""
        for dep_id, shas in dora.links.commits.items():
            fact = dora.facts[dep_id]
            d = fact.deploy
            at = micros(d.at)
            assert at is not None
            if not shas or (scope is not None and at < scope.get(d.environment, _NEVER)):
                continue
            self.links.add(rid, d, at, shas, fact.committed)
        for f in dora.failures:
            row = asdict(f)
            self.failures.append({**row, "repository_id": rid, "updated_at": now})
        for dep_id, fact in dora.facts.items():
            d = fact.deploy
            self.deployments.append(
                {
                    "repository_id": rid,
                    "deployment_id": dep_id,
                    "repo_name": name,
                    "environment": d.environment,
                    "environment_kind": d.kind,
                    "sha": d.sha,
                    "status": d.status,
                    "deployed_at": d.at,
                    "counted": fact.counted,
                    "duplicate_of": fact.duplicate_of,
                    "baseline": fact.baseline,
                    "changes": fact.changes,
                    "lead_time_hours_p50": fact.lead_time_hours_p50,
                    "failed": fact.failed,
                    "failure_kinds": sorted(fact.failure_kinds),
                    "unplanned": fact.unplanned,
                    "unplanned_kinds": sorted(fact.unplanned_kinds),
                    "restored_at": fact.restored_at,
                    "recovery_hours": fact.recovery_hours,
                    "updated_at": now,
                }
            )
        prs = inp.prs[rid]
        teams: list[tuple[str, set[int] | None]] = [("*", None)]
        teams += sorted(inp.teams.get(rid, {}).items())
        for period, target in ((WEEKLY, self.weekly), (MONTHLY, self.monthly)):
            for team, numbers in teams:
                target.extend(
                    {**r, "updated_at": now}
                    for r in metric_rows(name, dora, inp.commits[rid], prs, period, team, numbers)
                )
        for (_env, number), d in dora.pr_deploys.items():
            if d.kind != PRODUCTION:
                continue
            old = self.pr_deployed.get((name, number))
            if old is None or (d.at, d.id) < old:
                self.pr_deployed[(name, number)] = (d.at, d.id)


def _repo_prs(
    store: Store,
    names: list[str],
    deployed: dict[tuple[str, int], tuple[datetime, str]],
    version: int,
) -> set[str]:
    """``repo_prs.deployed_at`` / ``deployment_id`` of these repositories' PRs, where changed."""
    rows = store.query_dicts(
        f"SELECT * FROM repo_prs WHERE repo_name IN ({_marks(len(names))})", names
    )
    changed = []
    for r in rows:
        at, dep = deployed.get((r["repo_name"], int(r["pr_number"])), (None, None))
        if _utc(r.get("deployed_at")) != at or r.get("deployment_id") != dep:
            changed.append({**r, "deployed_at": at, "deployment_id": dep, "_version": version})
    if changed:
        store.upsert("repo_prs", changed, version=version, source="analytics")
    return {r["repo_name"] for r in changed}
