"""Progressive backfill (seed 004): years of pull-request history in small resumable chunks.

One invocation (``backfill``):

1. recovers chunks stuck ``processing`` (older than ``stuck_minutes`` or whose process died)
   and wakes ``graphql_rate_limit_low`` backfills whose resume time has come;
2. selects repositories: those with a backfill ``active``, plus new ones with more than
   ``min_prs`` pull requests whose completeness (stored / forge-reported) is under
   ``completeness_threshold`` (``--repository-id`` picks one regardless);
3. per repository, newest history first, claims chunks (``_backfill_state.claim``), fetches
   each from the stored cursor through the forge's ``BackfillSource`` and commits the records,
   the chunk's ``completed`` status and the advanced cursor in one transaction -- so a crash
   at any moment loses at most the chunk in flight, which the next run retries;
4. adapts the chunk size (halves after a failed chunk or under rate pressure, grows by half
   after ``grow_after`` clean chunks, never above ``--chunk-size``), trips the circuit breaker
   (``paused`` after ``max_consecutive_errors``), pauses as ``graphql_rate_limit_low`` with a
   resume time when the budget runs under ``rate_limit_floor``;
5. runs the reconciliation sweep (``engine/reconcile.py``) within its budget;
6. records everything as one ``git_collection_runs`` run and stores the error summary.

Records go through the store's idempotent upserts, the same as incremental sync, so running
both at once or a chunk twice never duplicates or loses a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from forgelens.engine import _backfill_state as st
from forgelens.engine._backfill_report import BackfillSettings, ErrorSummary, store_summary
from forgelens.engine.collect import CollectOptions
from forgelens.engine.runs import Run, run_settings, start_run
from forgelens.errors import AuthError, BadInput, ForgelensError, RateLimited
from forgelens.logs import get_logger
from forgelens.records import PullRequest
from forgelens.sources import forges
from forgelens.sources.base import BackfillSource, ForgeSource, RepoRef
from forgelens.store import Store

log = get_logger(__name__)

Clock = Callable[[], datetime]
SourcePair = tuple[ForgeSource, BackfillSource]
SourceFactory = Callable[[str], SourcePair]  # kind -> (source, its backfill view)
# A catch-up pass re-reads a little before its watermark: forges round update times to the
# second and their clock is not ours.
CATCH_UP_LAG = timedelta(minutes=10)


def _api(kind: str) -> str:
    """Which budget a forge's chunks spend, as its rate-limit messages name it."""
    return "GraphQL" if kind == "github" else "REST API"


def backfills(kind: str) -> bool:
    """Whether the registered forge ``kind`` has a backfill (``git`` and unknown kinds: no)."""
    forge = forges.BY_KIND.get(kind)
    return forge is not None and forge.backfill is not None


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class BackfillOptions:
    repository_id: str | None = None
    chunk_size: int | None = None  # default: settings.chunk_size
    max_chunks: int | None = None
    dry_run: bool = False
    api_url: str | None = None
    report_issues: bool = False
    sweep: bool = True
    settings: BackfillSettings = field(default_factory=BackfillSettings)
    clock: Clock = utcnow
    flush_seconds: float = 5.0  # run counters written at most this often (and at the end)

    @property
    def size(self) -> int:
        return self.chunk_size or self.settings.chunk_size

    @property
    def chunks(self) -> int:
        return self.max_chunks or self.settings.max_chunks


@dataclass
class BackfillResult:
    run_id: str | None
    summary: ErrorSummary
    chunks: int = 0
    prs: int = 0
    api_calls: int = 0
    repositories: list[dict[str, Any]] = field(default_factory=list)  # per repo outcome
    plan: list[dict[str, Any]] = field(default_factory=list)  # --dry-run
    recovered: list[dict[str, Any]] = field(default_factory=list)
    sweep: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "chunks": self.chunks,
            "prs": self.prs,
            "api_calls": self.api_calls,
            "repositories": self.repositories,
            "plan": self.plan,
            "recovered": self.recovered,
            "sweep": self.sweep,
            "errors": self.summary.as_dict(),
        }


def default_sources(opts: BackfillOptions) -> SourceFactory:
    """Sources as ``collect`` builds them (same client, tokens, ``--api-url``)."""

    def make(kind: str) -> SourcePair:
        forge = forges.BY_KIND.get(kind)
        if forge is None or forge.backfill is None:
            raise BadInput(f"backfill of {kind} repositories is not available in this version")
        api_url = opts.api_url or opts.settings.api_url
        source = forge.source(CollectOptions(api_url=api_url, extra={"concurrency": 1}), None)
        return source, forge.backfill(source)

    return make


def stored_prs(store: Store, repo_id: str) -> int:
    return int(
        store.query(
            "SELECT count(*) FROM pull_requests WHERE repository_id = ? AND deleted_at IS NULL",
            [repo_id],
        )[0][0]
    )


def record_totals(
    store: Store, repo_id: str, totals: dict[str, int], now: datetime, *, dry_run: bool = False
) -> None:
    if dry_run:
        return
    store.execute(
        "INSERT INTO repository_completeness (repository_id, forge_prs, forge_issues, "
        "checked_at) VALUES (?, ?, ?, ?) ON CONFLICT (repository_id) DO UPDATE SET "
        "forge_prs = excluded.forge_prs, forge_issues = excluded.forge_issues, "
        "checked_at = excluded.checked_at",
        [repo_id, totals.get("pull_requests", 0), totals.get("issues", 0), now],
    )


def candidates(store: Store, opts: BackfillOptions) -> list[dict[str, Any]]:
    """Repositories the store knows, with their backfill state (if any)."""
    rows = store.query_dicts(
        "SELECT r.id, r.source, r.full_name, s.status FROM repositories r "
        "LEFT JOIN backfill_state s ON s.repository_id = r.id "
        "WHERE r.deleted_at IS NULL ORDER BY r.id"
    )
    if opts.repository_id:
        rows = [r for r in rows if r["id"] == opts.repository_id]
        kind, _, full_name = opts.repository_id.partition(":")
        if not rows and (not backfills(kind) or "/" not in full_name):
            raise BadInput(
                f"--repository-id {opts.repository_id!r}: give a forge repository id such as "
                "github:owner/repo"
            )
        if not rows:
            rows = [
                {"id": opts.repository_id, "source": kind, "full_name": full_name, "status": None}
            ]
    return rows


class _Invocation:
    """The state of one ``backfill`` call."""

    def __init__(self, store: Store, opts: BackfillOptions, sources: SourceFactory) -> None:
        self.store, self.opts, self.sources = store, opts, sources
        self.cfg = opts.settings
        self.owner = st.worker_id()
        self.summary = ErrorSummary()
        self.result = BackfillResult(None, self.summary)
        self.left = opts.chunks
        self.run: Run | None = None
        self.pairs: dict[str, SourcePair] = {}
        self.stopped: set[str] = set()  # kinds stopped by a rate pause or a rejected token

    @property
    def now(self) -> datetime:
        return self.opts.clock()

    def pair(self, kind: str) -> SourcePair:
        if kind not in self.pairs:
            self.pairs[kind] = self.sources(kind)
        return self.pairs[kind]

    def api_calls(self) -> int:
        return sum(src.api_calls for src, _ in self.pairs.values())

    # -- selection ----------------------------------------------------------------------------
    def select(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The state to work on for this repository, creating it if it qualifies."""
        repo_id = row["id"]
        state = st.get_state(self.store, repo_id)
        if state is not None:
            if state["status"] == st.ACTIVE or (
                self.opts.dry_run and state["status"] == st.RATE_LOW
            ):
                return state
            if state["status"] in (st.PAUSED, st.RATE_LOW) and self.opts.repository_id:
                when = state["resume_at"]
                self.summary.warning(
                    repo_id,
                    f"backfill is {state['status']}: {state['pause_reason']}"
                    + (f" (resumes after {when:%Y-%m-%d %H:%M} UTC)" if when else "")
                    + (
                        f"; run `forgelens backfill resume {repo_id}`"
                        if state["status"] == st.PAUSED
                        else ""
                    ),
                    state["status"],
                    self.now,
                )
            return None
        source, view = self.pair(row["source"])
        ref = RepoRef.parse(row["full_name"])
        if row.get("status", "") is None and not self.opts.dry_run and not self._known(repo_id):
            snap = source.repository(ref)  # a repository never collected: record it first
            self.store.write_records([snap.repository, *snap.records], source=source.kind)
        totals = view.totals(ref)
        record_totals(self.store, repo_id, totals, self.now, dry_run=self.opts.dry_run)
        forge, stored = totals.get("pull_requests", 0), stored_prs(self.store, repo_id)
        share = stored / forge if forge else 1.0
        wanted = forge > self.cfg.min_prs and share < self.cfg.completeness_threshold
        if not (wanted or (self.opts.repository_id and forge > stored)):
            return None
        if self.opts.dry_run:
            return {
                "repository_id": repo_id,
                "status": "new",
                "total_prs": forge,
                "processed_prs": 0,
                "chunk_size": self.opts.size,
                "stored": stored,
            }
        st.create_state(self.store, repo_id, forge, self.opts.size, self.now)
        return st.get_state(self.store, repo_id)

    def _known(self, repo_id: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM repositories WHERE id = ?", [repo_id]))

    # -- one repository -----------------------------------------------------------------------
    def plan(self, row: dict[str, Any], state: dict[str, Any]) -> None:
        remaining = max(0, int(state["total_prs"] or 0) - int(state["processed_prs"] or 0))
        size = int(state["chunk_size"] or self.opts.size)
        chunks = min(self.left, math.ceil(remaining / size)) if remaining else 0
        history = self.store.query(
            "SELECT avg(api_calls) FROM backfill_chunks WHERE repository_id = ? "
            "AND status = 'completed'",
            [row["id"]],
        )
        per_chunk = float(history[0][0] or 0) or 1.2  # GraphQL: one query (+ rare follow-ups)
        self.left -= chunks
        self.result.plan.append(
            {
                "repository_id": row["id"],
                "status": state["status"],
                "forge_prs": state["total_prs"],
                "processed_prs": state["processed_prs"],
                "remaining_prs": remaining,
                "chunk_size": size,
                "chunks_this_run": chunks,
                "prs_this_run": min(remaining, chunks * size),
                "estimated_api_calls": math.ceil(chunks * per_chunk) + 1,
            }
        )

    def process(self, row: dict[str, Any], state: dict[str, Any]) -> None:
        repo_id, kind = row["id"], row["source"]
        ref = RepoRef.parse(row["full_name"])
        _, view = self.pair(kind)
        outcome = {"repository_id": repo_id, "chunks": 0, "prs": 0, "status": state["status"]}
        self.result.repositories.append(outcome)
        try:
            while self.left > 0 and kind not in self.stopped:
                if not self._budget_ok(repo_id, kind, view):
                    break
                claim = st.claim(self.store, repo_id, self.owner, self.now, self._lease)
                if claim is None:
                    break  # completed, paused, or another backfiller holds it
                self.left -= 1
                if not self._chunk(repo_id, kind, ref, view, claim, outcome):
                    break
        finally:
            st.release(self.store, repo_id, self.owner)
            after = st.get_state(self.store, repo_id)
            outcome["status"] = after["status"] if after else None
            if self.run is not None:
                self.run.add(repos_processed=1)

    @property
    def _lease(self) -> timedelta:
        return timedelta(minutes=self.cfg.lease_minutes)

    def _budget_ok(self, repo_id: str, kind: str, view: BackfillSource) -> bool:
        remaining, reset = view.budget()
        if remaining is None or remaining >= self.cfg.rate_limit_floor:
            return True
        resume_at = reset or self.now + timedelta(hours=1)
        self._rate_pause(
            repo_id, kind, f"{_api(kind)} rate limit too low ({remaining} points left)", resume_at
        )
        return False

    def _rate_pause(self, repo_id: str, kind: str, reason: str, resume_at: datetime) -> None:
        st.pause(self.store, repo_id, st.RATE_LOW, reason, self.now, resume_at)
        self.stopped.add(kind)
        self.summary.warning(
            repo_id,
            f"{reason}; paused until {resume_at:%Y-%m-%d %H:%M:%S} UTC",
            "rate_limit",
            self.now,
        )

    def _chunk(
        self,
        repo_id: str,
        kind: str,
        ref: RepoRef,
        view: BackfillSource,
        claim: st.Claim,
        outcome: dict[str, Any],
    ) -> bool:
        """Fetch and commit one chunk; False stops this repository for this invocation."""
        before = self.api_calls()
        size = min(claim.size, self.opts.size)
        verdict, stored, forge = st.MORE, 0, None
        try:
            since = claim.since - CATCH_UP_LAG if claim.since else None
            page = view.pull_request_chunk(ref, claim.cursor, size, since)
            if page.errors:
                raise _Incomplete(
                    f"{page.errors} pull request(s) in this chunk came back unusable; the chunk "
                    "is retried (the breaker pauses the backfill if it keeps happening)"
                )
            if page.resume is None or page.done:
                verdict, stored, forge = self._end_of_pass(repo_id, ref, view, page, claim)
        except RateLimited as exc:
            self._fail(claim, f"rate limited: {exc.message}", before, size, critical=False)
            reset = exc.reset_at
            resume_at = (
                datetime.fromtimestamp(reset, UTC) if reset else self.now + timedelta(minutes=15)
            )
            self._rate_pause(repo_id, kind, f"{_api(kind)} rate limit too low", resume_at)
            return False
        except AuthError as exc:
            self._fail(claim, exc.message, before, size, critical=True, kind="auth")
            st.pause(
                self.store, repo_id, st.PAUSED, f"token rejected: {exc.message}", self.now, None
            )
            self.stopped.add(kind)
            return False
        except (ForgelensError, _Incomplete) as exc:
            message = exc.message if isinstance(exc, ForgelensError) else str(exc)
            state = self._fail(claim, message, before, max(self.cfg.min_chunk_size, size // 2))
            return bool(state["status"] == st.ACTIVE)
        calls = self.api_calls() - before
        next_size = self._next_size(claim, page.items, page.resume is not None, view)
        records = page.records
        with self.store.transaction():
            if records:
                self.store.write_records(records, source=kind)
            ok = st.finish_chunk(
                self.store,
                claim,
                self.owner,
                cursor_end=page.resume,
                prs=page.items,
                api_calls=calls,
                run_id=self.run.run_id if self.run else None,
                next_size=next_size,
                now=self.now,
                outcome=verdict,
                stored=stored,
            )
            if not ok:
                raise _LeaseLost(repo_id)
            if forge is not None:
                self.store.execute(
                    "UPDATE backfill_state SET total_prs = ? WHERE repository_id = ?",
                    [forge, repo_id],
                )
        outcome["chunks"] += 1
        outcome["prs"] += page.items
        self.result.chunks += 1
        self.result.prs += page.items
        if self.run is not None:
            self.run.add(prs_collected=page.items)
            self.run.set(api_calls=self.api_calls())
            self.run.flush_if_due()
        if verdict == st.DONE:
            self._verified(repo_id)
            return False
        return True

    def _end_of_pass(
        self, repo_id: str, ref: RepoRef, view: BackfillSource, page: Any, claim: st.Claim
    ) -> tuple[str, int, int]:
        """The pass reached its end: done when the store then holds every PR the forge
        reports; otherwise a catch-up pass reads the PRs updated since this pass began (they
        moved ahead of the cursor while it ran) -- unless a catch-up found nothing new."""
        numbers = {r.number for r in page.records if isinstance(r, PullRequest)}
        known = set()
        if numbers:
            marks = ", ".join("?" for _ in numbers)
            known = {
                int(r[0])
                for r in self.store.query(
                    f"SELECT number FROM pull_requests WHERE repository_id = ? "
                    f"AND deleted_at IS NULL AND number IN ({marks})",
                    [repo_id, *sorted(numbers)],
                )
            }
        stored = stored_prs(self.store, repo_id) + len(numbers - known)
        totals = view.totals(ref)
        record_totals(self.store, repo_id, totals, self.now)
        forge = totals.get("pull_requests", 0)
        if stored >= forge:
            return st.DONE, stored, forge
        state = st.get_state(self.store, repo_id) or {}
        if claim.since is not None and stored <= int(state.get("pass_stored") or 0):
            self.summary.warning(
                repo_id,
                f"the forge reports {forge} pull requests but only {stored} could be read; "
                "a catch-up pass found no more",
                "completeness",
                self.now,
            )
            return st.DONE, stored, forge
        return st.RESTART, stored, forge

    def _next_size(self, claim: st.Claim, items: int, more: bool, view: BackfillSource) -> int:
        ceiling = self.opts.size
        size = claim.size
        if more and 0 < items < size:
            size = items  # the source shrank its page (timeouts): keep what it could serve
        remaining, _ = view.budget()
        if remaining is not None and remaining < 3 * self.cfg.rate_limit_floor:
            return max(self.cfg.min_chunk_size, size // 2)  # rate pressure
        state = st.get_state(self.store, claim.repository_id) or {}
        clean = int(state.get("clean_chunks") or 0) + 1
        if clean % self.cfg.grow_after == 0:
            size = math.ceil(size * 1.5)
        return max(self.cfg.min_chunk_size, min(ceiling, size))

    def _fail(
        self,
        claim: st.Claim,
        message: str,
        before: int,
        next_size: int,
        *,
        critical: bool = False,
        kind: str = "forge",
    ) -> dict[str, Any]:
        state = st.fail_chunk(
            self.store,
            claim,
            message,
            run_id=self.run.run_id if self.run else None,
            api_calls=self.api_calls() - before,
            next_size=max(self.cfg.min_chunk_size, min(self.opts.size, next_size)),
            max_errors=self.cfg.max_consecutive_errors,
            now=self.now,
        )
        if self.run is not None:
            self.run.add(errors=1)
        repo = claim.repository_id
        if critical:
            self.summary.critical(repo, message, kind, self.now, chunk_number=claim.chunk_number)
        elif state["status"] == st.PAUSED:
            self.summary.critical(
                repo,
                str(state["pause_reason"]),
                "circuit_breaker",
                self.now,
                chunk_number=claim.chunk_number,
            )
        else:
            self.summary.warning(repo, message, kind, self.now, chunk_number=claim.chunk_number)
        return state

    def _verified(self, repo_id: str) -> None:
        self.store.execute(
            "UPDATE repository_completeness SET last_full_verification_at = ? "
            "WHERE repository_id = ?",
            [self.now, repo_id],
        )


class _Incomplete(Exception):
    pass


class _LeaseLost(ForgelensError):
    def __init__(self, repo_id: str) -> None:
        super().__init__(
            f"{repo_id}: another backfill took over this repository (lease lapsed); its chunk "
            "was not recorded twice -- nothing to do"
        )


def backfill(
    store: Store, opts: BackfillOptions, sources: SourceFactory | None = None
) -> BackfillResult:
    """One backfill invocation (see the module docstring)."""
    st.require_compare_and_set(store)
    inv = _Invocation(store, opts, sources or default_sources(opts))
    try:
        if opts.dry_run:
            _plan(inv)
            return inv.result
        inv.result.recovered = st.recover_stuck(
            store, inv.now, timedelta(minutes=inv.cfg.stuck_minutes)
        )
        st.wake_rate_limited(store, inv.now)
        settings = run_settings(
            repositories=[opts.repository_id] if opts.repository_id else "selected",
            collect_prs=True,
            collect_reviews=True,
            collect_comments=True,
            backfill=True,
            chunk_size=opts.size,
            max_chunks=opts.chunks,
        )
        data_source = _data_source(inv)
        with start_run(store, data_source, settings, flush_seconds=opts.flush_seconds) as run:
            inv.run = run
            inv.result.run_id = run.run_id
            _work(inv)
            if opts.sweep:
                from forgelens.engine.reconcile import sweep

                inv.result.sweep = sweep(store, inv.pair, opts, inv.summary, inv.stopped)
            if opts.report_issues:
                _report_issues(inv)
            inv.result.api_calls = inv.api_calls()
            run.set(api_calls=inv.result.api_calls)
            store_summary(store, run.run_id, inv.summary, inv.now)
        return inv.result
    finally:
        for source, _ in inv.pairs.values():
            source.close()


def scheduled_backfill(store: Store) -> BackfillResult:
    """What the service's schedule runs every ``backfill_interval_minutes`` (defaults)."""
    result = backfill(store, BackfillOptions())
    log.info(
        "scheduled backfill",
        run_id=result.run_id,
        chunks=result.chunks,
        prs=result.prs,
        errors=result.summary.total_errors,
    )
    return result


def _data_source(inv: _Invocation) -> str:
    """Seed 000's discriminator of the one forge backfilled (``insight_github``, ...)."""
    kinds = {r["source"] for r in candidates(inv.store, inv.opts) if backfills(r["source"])}
    if len(kinds) == 1:
        return str(inv.pair(kinds.pop())[0].data_source)
    return "forgelens_backfill"


def _plan(inv: _Invocation) -> None:
    for row in candidates(inv.store, inv.opts):
        if not backfills(row["source"]):
            continue
        state = inv.select(row)
        if state is not None:
            inv.plan(row, state)
    inv.result.api_calls = inv.api_calls()


def _work(inv: _Invocation) -> None:
    rows = sorted(
        (r for r in candidates(inv.store, inv.opts) if backfills(r["source"])),
        key=lambda r: (r["status"] != st.ACTIVE, r["id"]),  # continue running ones first
    )
    for row in rows:
        if inv.left <= 0:
            break
        if row["source"] in inv.stopped:
            continue
        try:
            state = inv.select(row)
        except AuthError as exc:
            inv.summary.critical(row["id"], exc.message, "auth", inv.now)
            inv.stopped.add(row["source"])
            continue
        except ForgelensError as exc:
            inv.summary.warning(row["id"], exc.message, "selection", inv.now)
            continue
        if state is not None and state["status"] == st.ACTIVE:
            try:
                inv.process(row, state)
            except _LeaseLost as exc:
                inv.summary.warning(row["id"], exc.message, "lease", inv.now)


def _report_issues(inv: _Invocation) -> None:
    """One forge issue per critical failure, on the repository it concerns."""
    for item in inv.summary.critical_errors:
        if not item.repository_id or item.kind == "auth":
            continue  # a rejected token cannot open an issue either
        kind, _, full_name = item.repository_id.partition(":")
        try:
            _, view = inv.pair(kind)
            item.issue_url = view.open_issue(
                RepoRef.parse(full_name),
                f"forgelens backfill: {item.kind} on {full_name}",
                (
                    f"The progressive backfill of `{full_name}` stopped.\n\n"
                    f"- error: {item.message}\n- chunk: {item.chunk_number}\n- at: {item.at}\n"
                    f"- run: {inv.result.run_id}\n\nAfter fixing the cause run "
                    f"`forgelens backfill resume {item.repository_id}`."
                ),
            )
        except ForgelensError as exc:
            log.warning("could not open an issue", repository=item.repository_id, error=exc.message)
