"""``analyze dora``: read each repository's deployments, commit graph, incidents, issues and PRs
from the store, compute DORA (``dora_model``, ``dora_metrics``) and write ``deployment_commits``,
``change_failures``, ``dora_deployments``, ``dora_metrics_weekly`` / ``_monthly``, the incidents
found in issues and ``repo_prs.deployed_at``.

Incremental: a repository is recomputed whole when any of its inputs has a row newer than the
watermark kept in ``analytics_state`` (target ``dora``), or the ``[dora]`` rules changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from forgelens.analytics._ctx import Ctx
from forgelens.analytics.dora_link import Deploy
from forgelens.analytics.dora_metrics import MONTHLY, WEEKLY, metric_rows
from forgelens.analytics.dora_model import (
    PRODUCTION,
    Change,
    Incident,
    Pr,
    RepoDora,
    Rules,
    analyze_repo,
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
_LINK_COLUMNS = (
    "repository_id",
    "deployment_id",
    "sha",
    "environment",
    "committed_at",
    "deployed_at",
    "lead_time_hours",
)
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


def dirty_repositories(
    store: Store, repos: Sequence[tuple[str, str]], rules: Rules, force: bool
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The repositories to recompute, and each one's newest input version now."""
    state = {
        str(name): (int(wm or 0), ch)
        for name, wm, ch in store.query(
            "SELECT repo_name, watermark, config_hash FROM analytics_state WHERE target = ?",
            [TARGET],
        )
    }
    floor = 0 if force else min((state.get(n, (0, ""))[0] for _, n in repos), default=0)
    parts = [
        f"SELECT repository_id, max(_version) AS v FROM {t} WHERE _version > {floor} "
        "GROUP BY repository_id"
        for t in _INPUTS
    ]
    parts.append(
        f"SELECT r.id AS repository_id, max(p._version) AS v FROM repo_prs p "
        f"JOIN repositories r ON r.full_name = p.repo_name WHERE p._version > {floor} "
        "GROUP BY r.id"
    )
    parts.append(
        f"SELECT repository_id, max(_version) AS v FROM incidents WHERE _version > {floor} "
        f"AND source <> '{ISSUE_SOURCE}' GROUP BY repository_id"
    )
    newest = {
        str(r): int(v)
        for r, v in store.query(
            f"SELECT repository_id, max(v) FROM ({' UNION ALL '.join(parts)}) u "
            "GROUP BY repository_id"
        )
    }
    h = rules_hash(rules)
    dirty = []
    for rid, name in repos:
        wm, old_hash = state.get(name, (0, ""))
        if force or old_hash != h or newest.get(rid, 0) > wm:
            dirty.append((rid, name))
    return dirty, newest


def _chunks(items: Sequence[tuple[str, str]], size: int) -> Iterator[Sequence[tuple[str, str]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class _Inputs:
    parents: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    commits: dict[str, dict[str, Change]] = field(default_factory=dict)
    deploys: dict[str, list[Deploy]] = field(default_factory=dict)
    incidents: dict[str, list[Incident]] = field(default_factory=dict)
    issue_incidents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    prs: dict[str, list[Pr]] = field(default_factory=dict)


def _read(store: Store, ids: list[str], rules: Rules) -> _Inputs:
    inp = _Inputs(
        parents={i: {} for i in ids},
        commits={i: {} for i in ids},
        deploys={i: [] for i in ids},
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
    # times as integer microseconds: Arrow makes zone-aware datetimes slowly, one by one
    micros = table.column(3).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    cols = [table.column(i).to_pylist() for i in range(3)]
    for rid, sha, parents, us in zip(*cols, micros, strict=True):
        inp.parents[rid][sha] = _parents(parents)
        at = None if us is None else _EPOCH + timedelta(microseconds=us)
        inp.commits[rid][sha] = Change(sha, at)
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
    for rid, dep_id, env, kind, sha, status, at, source in store.query(
        "SELECT repository_id, deployment_id, environment, environment_kind, sha, status, "
        f"COALESCE(finished_at, created_at), source FROM deployments WHERE repository_id IN ({m})",
        ids,
    ):
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
    for rid, number, merged, head, labels in store.query(
        "SELECT repository_id, number, merged_at, head_ref, labels FROM pull_requests "
        f"WHERE repository_id IN ({m}) AND merged_at IS NOT NULL",
        ids,
    ):
        n = int(number)
        inp.prs[rid].append(
            Pr(n, _utc(merged), head, _labels(labels), tuple(shas.get((rid, n), ())))
        )
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
    dirty, newest = dirty_repositories(store, repos, rules, force)
    result.repositories, result.skipped = len(dirty), len(repos) - len(dirty)
    h = rules_hash(rules)
    active = _with_deployments(store, dirty)
    idle = [(rid, name) for rid, name in dirty if rid not in active]
    if idle:  # no deployments, now or before: nothing to read or write but the watermark
        store.upsert(
            "analytics_state", _state_rows(idle, newest, h, now, set(), version), version=version
        )
    for chunk in _chunks([r for r in dirty if r[0] in active], batch_repos):
        ids = [rid for rid, _ in chunk]
        inp = _read(store, ids, rules)
        out = _Rows()
        for rid, name in chunk:
            dora = analyze_repo(
                inp.parents[rid],
                inp.commits[rid],
                inp.deploys[rid],
                inp.incidents[rid],
                inp.prs[rid],
                rules,
            )
            out.add(rid, name, dora, inp, now)
            result.per_repo[name] = len(dora.facts)
        result.deployments += len(out.deployments)
        result.linked_commits += len(out.commits["sha"])
        result.failures += len(out.failures)
        result.incidents += sum(len(inp.issue_incidents[i]) for i in ids)
        with store.transaction():
            _replace(store, ids, [n for _, n in chunk])
            _write_links(store, ids, out.commits, version)
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
                _state_rows(chunk, newest, h, now, touched, version),
                version=version,
            )
    return result


def _link_table(cols: dict[str, list[Any]], version: int) -> pa.Table:
    ts = pa.timestamp("us", tz="UTC")
    n = len(cols["sha"])
    return pa.table(
        {
            **{k: pa.array(cols[k], pa.string()) for k in _LINK_COLUMNS[:4]},
            "committed_at": pa.array(cols["committed_at"], ts),
            "deployed_at": pa.array(cols["deployed_at"], ts),
            "lead_time_hours": pa.array(cols["lead_time_hours"], pa.float64()),
            "_version": pa.array([version] * n, pa.int64()),
            "_source": pa.array(["analytics"] * n, pa.string()),
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


def _write_links(store: Store, ids: list[str], cols: dict[str, list[Any]], version: int) -> None:
    """``deployment_commits`` of these repositories: only the deployments whose links changed
    are rewritten (a new deployment adds its rows; the earlier ones stay as they are, also on a
    forced run: deleting index entries costs far more than comparing)."""
    m = _marks(len(ids))
    old = store.query_arrow(
        "SELECT deployment_id, sha, deployed_at FROM deployment_commits "
        f"WHERE repository_id IN ({m})",
        ids,
    )
    if old.num_rows == 0:  # a first analysis: everything is new
        if cols["sha"]:
            store.upsert("deployment_commits", _link_table(cols, version))
        return
    new = set(zip(cols["deployment_id"], cols["sha"], _micros(cols["deployed_at"]), strict=True))
    stored = set(
        zip(
            old.column(0).to_pylist(),
            old.column(1).to_pylist(),
            old.column(2).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist(),
            strict=True,
        )
    )
    changed = {k[0] for k in stored ^ new}
    if not changed:
        return
    gone = sorted({k[0] for k in stored} & changed)
    for i in range(0, len(gone), _MAX_CHANGED):
        part = gone[i : i + _MAX_CHANGED]
        store.execute(
            f"DELETE FROM deployment_commits WHERE repository_id IN ({m}) "
            f"AND deployment_id IN ({_marks(len(part))})",
            [*ids, *part],
        )
    keep = [i for i, d in enumerate(cols["deployment_id"]) if d in changed]
    if keep:
        store.upsert(
            "deployment_commits",
            _link_table({k: [v[i] for i in keep] for k, v in cols.items()}, version),
        )


def _micros(values: list[datetime]) -> list[int]:
    out: list[int] = pa.array(values, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    return out


def _replace(store: Store, ids: list[str], names: list[str]) -> None:
    m = _marks(len(ids))
    for t in _OUTPUTS_BY_ID:
        store.execute(f"DELETE FROM {t} WHERE repository_id IN ({m})", ids)
    store.execute(
        f"DELETE FROM incidents WHERE repository_id IN ({m}) AND source = '{ISSUE_SOURCE}'", ids
    )
    for t in _OUTPUTS_BY_NAME:
        store.execute(f"DELETE FROM {t} WHERE repo_name IN ({_marks(len(names))})", names)


@dataclass
class _Rows:
    commits: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in _LINK_COLUMNS})
    failures: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    weekly: list[dict[str, Any]] = field(default_factory=list)
    monthly: list[dict[str, Any]] = field(default_factory=list)
    pr_deployed: dict[tuple[str, int], tuple[datetime, str]] = field(default_factory=dict)

    def add(self, rid: str, name: str, dora: RepoDora, inp: _Inputs, now: datetime) -> None:
        commits = inp.commits[rid]
        c = self.commits
        for dep_id, shas in dora.links.commits.items():
            d = dora.facts[dep_id].deploy
            n = len(shas)
            c["repository_id"] += [rid] * n
            c["deployment_id"] += [dep_id] * n
            c["sha"] += shas
            c["environment"] += [d.environment] * n
            c["deployed_at"] += [d.at] * n
            for sha in shas:
                at = commits[sha].committed_at
                c["committed_at"].append(at)
                c["lead_time_hours"].append((d.at - at).total_seconds() / 3600 if at else None)
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
        for period, target in ((WEEKLY, self.weekly), (MONTHLY, self.monthly)):
            target.extend(
                {**r, "updated_at": now} for r in metric_rows(name, dora, commits, prs, period)
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
