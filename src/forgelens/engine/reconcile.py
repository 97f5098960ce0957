"""The reconciliation sweep and the completeness report.

Incremental collectors page by "updated since", so they can leave a pull request ``open`` in the
store after the forge merged or closed it (an update they missed), and they never notice issues
or pull requests that the forge deleted. The sweep, part of every backfill invocation and
bounded by ``sweep_budget`` items, re-checks stored open PRs and issues not updated for
``sweep_stale_hours``: a fresh record replaces the stale one; an item the forge no longer has
gets ``deleted_at`` (rows are never removed). A cursor per (repository, entity) remembers where
the last sweep stopped, so successive sweeps cover every stale item in turn.

``completeness`` reports, per repository, PRs and issues stored vs what the forge reports, open
items older than the last sweep and the last full verification.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from forgelens.engine._backfill_report import ErrorSummary
from forgelens.errors import AuthError, ForgelensError
from forgelens.logs import get_logger
from forgelens.sources.base import ISSUES, PULL_REQUESTS, BackfillSource, ForgeSource, RepoRef
from forgelens.store import Store

if TYPE_CHECKING:
    from forgelens.engine.backfill import BackfillOptions

log = get_logger(__name__)

TABLES = {PULL_REQUESTS: "pull_requests", ISSUES: "issues"}
BATCH = 20


def _due(store: Store, repo_id: str, entity: str, stale: datetime, budget: int) -> list[int]:
    """Stale open items after the sweep cursor (wrapping around to the start)."""
    key = f"sweep:{entity}"
    after = int(store.get_cursor(repo_id, key) or 0)
    sql = (
        f"SELECT number FROM {TABLES[entity]} WHERE repository_id = ? AND state = 'open' "
        "AND deleted_at IS NULL AND updated_at < ? AND number > ? ORDER BY number LIMIT ?"
    )
    numbers = [int(r[0]) for r in store.query(sql, [repo_id, stale, after, budget])]
    if len(numbers) < budget and after > 0:
        more = store.query(sql, [repo_id, stale, 0, budget - len(numbers)])
        numbers += [int(r[0]) for r in more if int(r[0]) <= after]
    return numbers


def sweep(
    store: Store,
    pair: Callable[[str], tuple[ForgeSource, BackfillSource]],
    opts: BackfillOptions,
    summary: ErrorSummary,
    stopped: set[str] | None = None,
) -> dict[str, Any]:
    """One bounded sweep over the repositories the store knows; returns what it did."""
    cfg = opts.settings
    now = opts.clock()
    stale = now - timedelta(hours=cfg.sweep_stale_hours)
    budget = cfg.sweep_budget
    done: dict[str, Any] = {"checked": 0, "refreshed": 0, "deleted": 0, "repositories": []}
    if budget <= 0:
        return done
    from forgelens.engine.backfill import backfills

    rows = store.query_dicts(
        "SELECT id, source, full_name FROM repositories WHERE deleted_at IS NULL ORDER BY id"
    )
    if opts.repository_id:
        rows = [r for r in rows if r["id"] == opts.repository_id]
    for row in rows:
        kind = row["source"]
        if budget <= 0 or not backfills(kind) or kind in (stopped or set()):
            continue
        repo_id, ref = row["id"], RepoRef.parse(row["full_name"])
        try:
            _, view = pair(kind)
            for entity in (PULL_REQUESTS, ISSUES):
                numbers = _due(store, repo_id, entity, stale, budget)
                for start in range(0, len(numbers), BATCH):
                    batch = numbers[start : start + BATCH]
                    fresh = view.recheck(ref, entity, batch)
                    _apply(store, kind, repo_id, entity, batch, fresh, now)
                    store.set_cursor(repo_id, f"sweep:{entity}", str(batch[-1]), None)
                    budget -= len(batch)
                    done["checked"] += len(batch)
                    done["refreshed"] += len(fresh)
                    done["deleted"] += len(batch) - len(fresh)
                if numbers:
                    done["repositories"].append(repo_id)
            store.execute(
                "INSERT INTO repository_completeness (repository_id, last_sweep_at) "
                "VALUES (?, ?) ON CONFLICT (repository_id) DO UPDATE SET "
                "last_sweep_at = excluded.last_sweep_at",
                [repo_id, now],
            )
        except AuthError as exc:
            summary.critical(repo_id, f"sweep: {exc.message}", "auth", now)
            (stopped if stopped is not None else set()).add(kind)
        except ForgelensError as exc:
            summary.warning(repo_id, f"sweep: {exc.message}", "sweep", now)
    return done


def _apply(
    store: Store,
    kind: str,
    repo_id: str,
    entity: str,
    numbers: list[int],
    fresh: dict[int, list[Any]],
    now: datetime,
) -> None:
    gone = [n for n in numbers if n not in fresh]
    with store.transaction():
        records = [r for n in numbers for r in fresh.get(n, [])]
        if records:
            store.write_records(records, source=kind)
        for n in gone:
            store.execute(
                f"UPDATE {TABLES[entity]} SET deleted_at = ? "
                "WHERE repository_id = ? AND number = ? AND deleted_at IS NULL",
                [now, repo_id, n],
            )
    if gone:
        log.info("marked deleted", repository=repo_id, entity=entity, numbers=gone[:20])


COMPLETENESS_SQL = """
SELECT r.id AS repository_id,
       c.forge_prs,
       (SELECT count(*) FROM pull_requests p
         WHERE p.repository_id = r.id AND p.deleted_at IS NULL) AS stored_prs,
       c.forge_issues,
       (SELECT count(*) FROM issues i
         WHERE i.repository_id = r.id AND i.deleted_at IS NULL) AS stored_issues,
       (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id
         AND p.deleted_at IS NOT NULL)
       + (SELECT count(*) FROM issues i WHERE i.repository_id = r.id
         AND i.deleted_at IS NOT NULL) AS marked_deleted,
       (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id AND p.state = 'open'
         AND p.deleted_at IS NULL AND p.updated_at < c.last_sweep_at)
       + (SELECT count(*) FROM issues i WHERE i.repository_id = r.id AND i.state = 'open'
         AND i.deleted_at IS NULL AND i.updated_at < c.last_sweep_at) AS open_older_than_sweep,
       c.last_sweep_at,
       c.last_full_verification_at,
       s.status AS backfill_status
FROM repositories r
LEFT JOIN repository_completeness c ON c.repository_id = r.id
LEFT JOIN backfill_state s ON s.repository_id = r.id
WHERE r.deleted_at IS NULL
ORDER BY r.id
"""


def completeness(store: Store, repository_id: str | None = None) -> list[dict[str, Any]]:
    """Per repository: stored vs forge-reported PRs and issues (share in %), deletions marked,
    open items older than the last sweep, the last sweep and full verification."""
    out = []
    for row in store.query_dicts(COMPLETENESS_SQL):
        if repository_id and row["repository_id"] != repository_id:
            continue
        for kind in ("prs", "issues"):
            forge, stored = row[f"forge_{kind}"], row[f"stored_{kind}"]
            row[f"{kind}_pct"] = round(100.0 * stored / forge, 2) if forge else None
        out.append(row)
    return out
