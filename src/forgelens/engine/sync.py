"""Generic forge sync: any ``ForgeSource`` -> store (+ ``opts.sink``), full or incremental.

For each repository: write its snapshot (record, branch protection), then page every entity
(pull requests, issues, CI runs, contributors) newest change first. Records are buffered and
committed in chunks (a chunk ends when one table has ``batch_size`` rows waiting); each chunk
commits **in one transaction with the cursor that describes it** (and is published to the
sink, flushed, before that commit). A cursor per
(repository, entity) holds the watermark of the last complete pass (``since``, never later
than the run's start) and, during a pass, the ``resume`` token of the next page and the newest
change seen so far (``high``) -- so a run stopped by Ctrl-C or ``kill -9`` resumes where the last
committed chunk ended, and the next complete pass moves the watermark forward.

Every forge of the registry (``sources/forges.py``) is synced here: its descriptor's
``source`` factory builds the source ``collect`` runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from forgelens.engine.collect import CollectOptions, CollectResult
from forgelens.engine.deploy_compare import link_by_compare
from forgelens.engine.progress import NullProgress, Progress
from forgelens.engine.runs import Run, run_settings, start_run
from forgelens.errors import BadInput, ForgeError, ForgelensError, Interrupted, NotFound
from forgelens.logs import get_logger
from forgelens.records import Commit, Person, PrCommit, repository_id
from forgelens.sources.base import (
    CI_RUNS,
    CONTRIBUTORS,
    DEPLOYMENTS,
    ISSUES,
    PULL_REQUESTS,
    RELEASES,
    CompareSource,
    DeploymentSource,
    ForgeSource,
    Page,
    ReleaseSource,
    RepoRef,
)
from forgelens.sources.forge import Forge
from forgelens.sources.spec import SourceSpec
from forgelens.store import Store

log = get_logger(__name__)

PII_MODES = ("keep", "hash", "drop")
# How far our clock and the forge's may disagree: a watermark set from our clock stays this
# far behind the run's start, and a forge's second counts as over only this long after it.
CLOCK_MARGIN = timedelta(minutes=5)


@dataclass
class EntityCursor:
    """What ``collection_cursors.cursor`` holds for a forge entity (JSON)."""

    since: datetime | None = None  # watermark of the last complete pass
    resume: str | None = None  # next page of an unfinished pass
    high: datetime | None = None  # newest change seen by the unfinished pass
    count: int | None = None  # how many the forge counted at the last complete pass

    def dumps(self) -> str:
        raw: dict[str, Any] = {
            "since": _iso(self.since),
            "resume": self.resume,
            "high": _iso(self.high),
        }
        if self.count is not None:
            raw["count"] = self.count
        return json.dumps(raw)

    @classmethod
    def loads(cls, text: str | None) -> EntityCursor:
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            count = raw.get("count")
            return cls(
                _dt(raw.get("since")),
                raw.get("resume"),
                _dt(raw.get("high")),
                count if isinstance(count, int) else None,
            )
        except (ValueError, AttributeError, TypeError):
            log.warning("unreadable cursor ignored (full pass)", cursor=text[:100])
            return cls()


class StoreEtagCache:
    """ETags and bodies kept in the store's ``http_cache`` table, so a 304 works across runs.

    New entries wait in memory and are written by ``flush`` -- inside the transaction that
    commits the data they produced, so the cache never claims what the store does not hold.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, bytes] | None:
        with self._lock:
            if key in self._pending:
                return self._pending[key]
        rows = self.store.query("SELECT etag, body FROM http_cache WHERE key = ?", [_key(key)])
        return (rows[0][0], rows[0][1].encode()) if rows else None

    def put(self, key: str, etag: str, body: bytes) -> None:
        if len(body) <= 512_000:
            with self._lock:
                self._pending[key] = (etag, body)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        now = datetime.now(UTC)
        rows = [
            {"key": _key(k), "etag": e, "body": b.decode("utf-8", "replace"), "updated_at": now}
            for k, (e, b) in pending.items()
        ]
        if rows:
            self.store.upsert("http_cache", rows)


@dataclass
class SyncContext:
    store: Store
    source: ForgeSource
    opts: CollectOptions
    run: Run
    progress: Progress
    started_at: datetime
    cancel: threading.Event = field(default_factory=threading.Event)
    pii: str = "keep"
    etags: StoreEtagCache | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def apply_pii(records: Sequence[Any], mode: str) -> None:
    """Hash or drop names and emails in place (``keep`` leaves them)."""
    if mode == "keep":
        return
    for rec in records:
        if isinstance(rec, Person):
            rec.name, rec.email = _pii(rec.name, mode), _pii(rec.email, mode)
        elif isinstance(rec, Commit):
            rec.author_name, rec.author_email = (
                _pii(rec.author_name, mode),
                _pii(rec.author_email, mode),
            )
            rec.committer_name, rec.committer_email = (
                _pii(rec.committer_name, mode),
                _pii(rec.committer_email, mode),
            )
        elif isinstance(rec, PrCommit):
            rec.author_name, rec.author_email = (
                _pii(rec.author_name, mode),
                _pii(rec.author_email, mode),
            )


def _pii(value: str | None, mode: str) -> str | None:
    if value is None or mode == "keep":
        return value
    if mode == "drop":
        return None
    return "sha256:" + hashlib.sha256(value.strip().lower().encode()).hexdigest()[:16]


def commit_chunk(
    ctx: SyncContext, repo_id: str, entity: str, records: list[Any], cursor: EntityCursor
) -> None:
    """Write ``records`` and the cursor describing them in one transaction; the sink gets the
    records (and is flushed) before the commit, so the cursor never passes what it missed."""
    kind = ctx.source.kind
    apply_pii(records, ctx.pii)
    with ctx.store.transaction():
        if records:
            ctx.store.write_records(records, source=kind)
        ctx.store.set_cursor(repo_id, entity, cursor.dumps(), ctx.run.run_id)
        if ctx.etags is not None:
            ctx.etags.flush()
        if ctx.opts.sink is not None and records:
            ctx.opts.sink.publish(records, source=kind)
            ctx.opts.sink.flush()
    ctx.run.set(api_calls=ctx.source.api_calls)
    ctx.run.flush_if_due()


_DONE = object()


def prefetch(pages: Iterator[Page], cancel: threading.Event, depth: int = 2) -> Iterator[Page]:
    """Fetch (HTTP, decode, map) the next pages in a worker thread while the caller writes
    the current one: network, DuckDB and Python overlap. Errors surface in the caller; once
    ``cancel`` is set, the caller gets ``Interrupted`` instead of waiting for a page."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not (stop.is_set() or cancel.is_set()):
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(page):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if cancel.is_set():
                    raise Interrupted("stopped: the run was cancelled") from None
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        close = getattr(pages, "close", None)
        if close is not None and not worker.is_alive():
            close()


def advance(since: datetime | None, newest: datetime | None, started_at: datetime) -> datetime:
    """The watermark a complete pass that began at ``started_at`` leaves behind.

    ``newest`` is the newest change the pass read (the forge's clock). A second that ended
    before the pass began (with ``CLOCK_MARGIN`` for the two clocks) holds no change the pass
    could have missed, so the watermark moves just past it and the next pass does not read
    that item again; a more recent second stays inclusive (``cut(overlap=True)`` re-reads it).
    A pass that read nothing keeps its watermark, and a first one sets it to ``started_at``
    less the margin: e.g. GitHub's issues endpoint of a repository without issues lists only
    pull requests, which left the watermark empty and every page read again on every run."""
    if newest is None:
        return since if since is not None else started_at - CLOCK_MARGIN
    if newest + timedelta(seconds=1) + CLOCK_MARGIN <= started_at:
        return newest + timedelta(microseconds=1)
    return min(newest, started_at)


def sync_entity(
    ctx: SyncContext,
    repo_id: str,
    entity: str,
    pages: Callable[[datetime | None, str | None], Iterator[Page]],
    mark: datetime | None,
    *,
    empty: bool = False,
    count: int | None = None,
) -> int:
    """Page one entity of one repository into the store; return the items written.

    ``mark`` is the forge's latest change of the entity (None: not known) and ``empty`` says
    the forge has none of it; a complete earlier pass that read up to ``mark`` ends here, as
    does one that saw the same ``count`` of items the forge counts now (Gitea's releases)."""
    stored = None if ctx.opts.full else ctx.store.get_cursor(repo_id, entity)
    cursor = EntityCursor.loads(stored)  # --full: a fresh pass from the newest change
    same_count = count is not None and cursor.count == count
    if (
        cursor.since
        and not cursor.resume
        and (empty or (mark and mark <= cursor.since) or same_count)
    ):
        return 0  # the forge says nothing changed (or it has none) since the last complete pass
    buffer: list[Any] = []
    per_table: Counter[str] = Counter()  # a chunk commits when one table's batch is full
    items = pending = 0
    high = cursor.high
    for page in prefetch(pages(cursor.since, cursor.resume), ctx.cancel):
        if ctx.cancel.is_set():
            raise Interrupted("interrupted by the user (Ctrl-C)")
        buffer.extend(page.records)
        per_table.update(r.TABLE for r in page.records)
        items += page.items
        pending += page.items
        if entity == PULL_REQUESTS:
            ctx.progress.advance(page.items)
        if page.errors:
            ctx.run.add(errors=page.errors)
        if page.high is not None and (high is None or page.high > high):
            high = page.high
        last = page.resume is None or page.done
        if last or max(per_table.values(), default=0) >= ctx.opts.batch_size:
            nxt = EntityCursor(cursor.since, None if last else page.resume, high)
            if last:
                newest = high or mark  # e.g. contributors: the push time the forge reported
                since = advance(cursor.since, newest, ctx.started_at)
                nxt = EntityCursor(since, None, None, count)
            commit_chunk(ctx, repo_id, entity, buffer, nxt)
            if entity == PULL_REQUESTS:  # counted once committed: a failed run's count is exact
                ctx.run.add(prs_collected=pending)
            buffer, per_table, pending = [], Counter(), 0
            if last:
                break
    return items


def sync_repository(ctx: SyncContext, ref: RepoRef) -> int:
    """Sync one repository; return the pull requests written."""
    source = ctx.source
    snap = source.repository(ref)
    repo_id = snap.repository.id
    records = [snap.repository, *snap.records]
    apply_pii(records, ctx.pii)
    ctx.store.write_records(records, source=source.kind)
    prs = 0
    entity_pages = {
        PULL_REQUESTS: source.pull_requests,
        ISSUES: source.issues,
        CI_RUNS: source.ci_runs,
        CONTRIBUTORS: source.contributors,
    }
    if isinstance(source, DeploymentSource):
        entity_pages[DEPLOYMENTS] = source.deployments
    if isinstance(source, ReleaseSource):
        entity_pages[RELEASES] = source.releases
    for entity, fetch in entity_pages.items():
        mark = snap.marks.get(entity)
        empty = entity in snap.marks and mark is None  # the forge says it has none of it
        count = snap.counts.get(entity)
        n = sync_entity(
            ctx, repo_id, entity, partial(fetch, snap.ref), mark, empty=empty, count=count
        )
        if entity == PULL_REQUESTS:
            prs = n
    if isinstance(source, CompareSource):
        link_by_compare(ctx.store, source, snap.ref, repo_id, ctx.run.add)
    return prs


def sync_forge(
    store: Store,
    source: ForgeSource,
    targets: Sequence[str],
    opts: CollectOptions,
    progress: Progress | None = None,
    *,
    etags: StoreEtagCache | None = None,
) -> CollectResult:
    """Collect every target (``owner/repo`` or ``owner``) of one forge in one run."""
    progress = progress or NullProgress()
    pii = str(opts.extra.get("pii", "keep"))
    if pii not in PII_MODES:
        raise BadInput(f"--pii {pii!r}: use keep, hash or drop")
    concurrency = max(1, int(str(opts.extra.get("concurrency", 4))))
    settings = run_settings(
        since=opts.since.isoformat() if opts.since else None,
        repositories=list(targets),
        collect_prs=True,
        collect_reviews=True,
        collect_comments=True,
        force_refetch=opts.full,
        batch_size=opts.batch_size,
        api=opts.extra.get("api", "graphql"),
        api_url=opts.api_url,
        pii=pii,
        concurrency=concurrency,
    )
    with start_run(
        store,
        source.data_source,
        settings,
        flush_seconds=opts.flush_seconds,
        stuck_after=opts.stuck_after,
    ) as run:
        source.set_note(progress.note)
        ctx = SyncContext(store, source, opts, run, progress, run.started_at, pii=pii, etags=etags)
        try:
            result = _sync_all(ctx, targets, concurrency)
            if etags is not None:
                etags.flush()
        finally:
            run.set(api_calls=source.api_calls)
            progress.finish()
            log.info(
                "forge requests",
                run_id=run.run_id,
                total=source.api_calls,
                by_endpoint=dict(getattr(source, "requests_by_endpoint", {})),
            )
    result.api_calls = source.api_calls
    result.errors = run.counters["errors"]
    return result


def _sync_all(ctx: SyncContext, targets: Sequence[str], concurrency: int) -> CollectResult:
    source, run = ctx.source, ctx.run
    refs: list[RepoRef] = []
    for target in targets:
        refs.extend(source.list_repositories(target))
        if "/" not in target:
            team_records = source.teams(target)
            if team_records:
                ctx.store.write_records(team_records, source=source.kind)
    # largest first (the forge's size hint; stable for equal sizes): with several workers the
    # giants start at once and the many small repositories fill in around them
    refs.sort(key=lambda ref: -ref.weight)
    prefetch = getattr(source, "prefetch", None)  # a forge that probes many repos at once
    if prefetch is not None and len(refs) > 1:
        prefetch(refs)
    result = CollectResult(source.kind, run.run_id, [])
    ctx.progress.start(f"{source.kind} pull requests", None)
    failures: list[ForgelensError] = []
    broken: list[tuple[RepoRef, Exception]] = []  # unexpected errors: the run fails at the end

    def one(ref: RepoRef) -> None:
        if ctx.cancel.is_set():
            return
        try:
            prs = sync_repository(ctx, ref)
        except (NotFound, ForgeError) as exc:  # this repository only; the others continue
            failures.append(exc)
            run.add(errors=1)
            ctx.progress.note(f"{ref.full_name}: {exc.message}")
            log.warning("repository failed", repository=ref.full_name, error=exc.message)
            return
        except ForgelensError:
            raise  # the whole run's (credentials, budget, store, Ctrl-C): stop every worker
        except Exception as exc:  # a fault of ours in this repository; the others finish
            with ctx.lock:
                broken.append((ref, exc))
            run.add(errors=1)
            ctx.progress.note(f"{ref.full_name}: {type(exc).__name__}: {exc}")
            log.exception("repository failed unexpectedly", repository=ref.full_name)
            return
        with ctx.lock:
            result.repositories.append(repository_id(source.kind, ref.full_name))
            result.prs += prs
        run.add(repos_processed=1)
        run.flush_if_due()

    if concurrency == 1 or len(refs) <= 1:
        for ref in refs:
            one(ref)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sync") as pool:
            futures = [pool.submit(one, ref) for ref in refs]
            try:
                for fut in as_completed(futures):
                    fut.result()
            except BaseException:
                ctx.cancel.set()
                raise
    if broken:
        ref, exc = broken[0]
        if len(broken) == len(refs):
            raise exc  # nothing else was collected: the error itself
        raise ForgelensError(
            f"{source.kind}:{ref.full_name}: {type(exc).__name__}: {exc} ({len(broken)} of "
            f"{len(refs)} repositories failed this way, the others were collected); this is a "
            "fault of forgelens: please report it with the log"
        ) from exc
    if refs and len(failures) == len(refs):
        first = failures[0]
        raise type(first)(first.message) from first
    return result


def collect_forge(
    forge: Forge,
    store: Store,
    specs: list[SourceSpec],
    opts: CollectOptions,
    progress: Progress,
) -> CollectResult:
    """Collect ``specs`` of ``forge`` through the source its descriptor builds."""
    etags = StoreEtagCache(store)
    source = forge.source(opts, etags)
    try:
        return sync_forge(store, source, [s.target for s in specs], opts, progress, etags=etags)
    finally:
        source.close()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
