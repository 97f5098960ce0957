"""``analyze``: the one entry point the CLI, the service and the demo call.

Phases, in order (each timed): identities -> scope -> PR facts (base, reviews, paths, file
history) -> risk + features + summaries [-> embedding features, with ``--ai-features``] ->
What Shipped (``repo_prs``, ``pr_facts``) -> Engineer Lens (daily, windows, PR lists,
ownership) -> delivery -> review policy -> state.
Risk and features come before the daily rollups because ``high_risk_prs`` and
``features_merged`` count them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from forgelens.analytics import (
    ai_attribution,
    ai_impact,
    delivery,
    dora,
    engineer_lens,
    ownership,
    prs,
    review_policy,
    scope,
    summaries,
    what_shipped,
)
from forgelens.analytics import risk as risk_mod
from forgelens.analytics._ctx import DIRTY, FILES, PATHS, PRFILE, WORK_TABLES, Ctx
from forgelens.analytics.ai_rules import AiRules, load_rules
from forgelens.analytics.config import AnalyticsConfig
from forgelens.analytics.identity import Overrides, resolve_identities
from forgelens.errors import BadInput
from forgelens.logs import get_logger
from forgelens.store import Store, now_version
from forgelens.store import sql as _sql

TARGETS = ("what_shipped", "engineer_lens", "ai", "dora", "all")
# On ClickHouse, a full recompute of more PRs runs in batches of repositories of about this many
# PRs each (scope.batches): at 10M one batch spilled its joins and sorts to disk; in batches,
# each reading only its repositories' rows, under two thirds of the time. Other stores run one
# batch unless asked (``--batch-prs``): not measured to pay off there (they cannot filter).
BATCH_PRS = 1_000_000
log = get_logger(__name__)


@dataclass
class AnalyzeOptions:
    target: str = "all"
    repos: list[str] | None = None  # full names or repository ids; None = every repository
    force_refresh: bool = False
    config: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    end_date: date | None = None  # default: today (UTC)
    identities_file: Path | None = None
    mailmaps: list[Path] = field(default_factory=list)
    blame: Path | None = None  # a local checkout of the (one) repository analysed
    llm_summaries: bool = False
    llm_limit: int = 200
    ai_store: Path | None = None  # Milvus Lite database; default beside the store
    ai_learn: bool = False  # add this run's confidently ruled PRs as labelled examples
    ai_rules: Path | None = None  # a rules file extending analytics/ai_rules.yaml
    # PRs recomputed in full per batch of repositories (0: one batch; None: BATCH_PRS on
    # ClickHouse, one batch elsewhere)
    batch_prs: int | None = None


@dataclass
class AnalyzeResult:
    target: str
    repositories: int = 0
    repositories_skipped: int = 0
    prs: int = 0
    dirty_days: int = 0
    batches: int = 0  # batches of repositories the PR phases ran in (scope.batches)
    dora: dict[str, int] = field(default_factory=dict)  # repositories, deployments, ... written
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds
    phases_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds, all threads
    modes: dict[str, int] = field(default_factory=dict)
    llm_calls: int = 0
    ai: dict[str, int] = field(default_factory=dict)  # embedding classifier counts
    ai_work: dict[str, int] = field(default_factory=dict)  # analyze ai: rows read and written

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def analyze(
    store: Store, opts: AnalyzeOptions, on_phase: Callable[[str, float], None] | None = None
) -> AnalyzeResult:
    """Run the analytics ``opts.target`` needs, incrementally unless forced."""
    if opts.target not in TARGETS:
        raise BadInput(f"unknown analysis {opts.target!r}: use {', '.join(TARGETS)}")
    if opts.blame is not None and (opts.repos is None or len(opts.repos) != 1):
        raise BadInput("--blame needs exactly one --repo (the repository checked out there)")
    if opts.config.ai_features:
        from forgelens.analytics import ai_features

        ai_features.check(opts.config, store)  # fail before any work, not half-way
    rules = _shipped_rules() if opts.ai_rules is None else load_rules(opts.ai_rules)
    now = datetime.now(UTC)
    ctx = Ctx(
        store=store,
        config=opts.config,
        version=now_version(),
        now=now,
        end_date=opts.end_date or now.date(),
        rules_digest=rules.digest,
    )
    result = AnalyzeResult(target=opts.target)

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        yield
        took = time.perf_counter() - started
        result.phases[name] = result.phases.get(name, 0.0) + took
        result.phases_cpu[name] = result.phases_cpu.get(name, 0.0) + time.process_time() - cpu
        log.debug("analytics phase", phase=name, seconds=round(took, 3))
        if on_phase is not None:
            on_phase(name, took)

    if opts.target == "dora":
        with phase("dora"):
            result.dora = dora.run(
                ctx, scope.select_repositories(ctx, opts.repos), opts.force_refresh
            )
        result.repositories = result.dora["repositories"]
        result.repositories_skipped = result.dora["skipped"]
        return result
    try:
        _sql.tune_session(store, opts.config.duckdb_memory_limit)
        with phase("identities"):
            overrides = Overrides.load(opts.identities_file, opts.mailmaps)
            ident = resolve_identities(
                store,
                overrides,
                opts.config.bots,
                full=opts.force_refresh,
                generic_emails=opts.config.generic_emails,
            )
        # Every target: the review facts leave AI reviews and agent owners' approvals out.
        with phase("ai_attribution"):
            done = ai_attribution.attribute(store, rules, full=opts.force_refresh)
        if opts.target == "ai":
            _ai_impact(ctx, done, phase, result, opts.force_refresh)
            return result
        with phase("scope"):
            repos = scope.select_repositories(ctx, opts.repos)
            if opts.force_refresh:
                scope.clear_repositories(ctx, [n for _, n in repos])
            plans = scope.plan(ctx, repos, opts.target, opts.force_refresh, ident.changed_aliases)
            size = opts.batch_prs
            if size is None:
                size = BATCH_PRS if _sql.dialect(store) == "clickhouse" else 0
            batches = scope.batches(ctx, plans, size)
        for p in plans:
            result.modes[p.mode] = result.modes.get(p.mode, 0) + 1
        result.repositories = sum(1 for p in plans if p.mode != "skip")
        result.repositories_skipped = len(plans) - result.repositories
        result.batches = len(batches)
        teams = scope.teams_print(ctx)
        all_teams = scope.teams_changed(ctx, opts.target, plans, bool(ident.changed_aliases))
        weeks: set[date] = set()  # of the PRs recomputed (ai_impact's old weeks among them)
        for batch in batches:
            # of several batches, each reads its repositories' rows alone (on chDB)
            part = batch if len(batches) > 1 else []
            ids, names = [p.repository_id for p in part], [p.repo_name for p in part]
            with _sql.repository_scope(store, ids, names):
                with phase("scope"):
                    scope.build_dirty(ctx, batch, ident.changed_aliases)
                    if any(p.mode == "incremental" for p in batch):
                        scope.add_history_followers(ctx)
                    result.prs += ctx.count(DIRTY)
                # a team's rows read every repository's PRs: made once, after the last batch
                teams_now = all_teams if len(batches) == 1 else None
                _run_phases(ctx, opts, phase, result, [n for _, n in repos], teams_now)
                weeks |= ai_impact.recomputed_weeks(ctx)
        if opts.target == "all" and (len(batches) > 1 or (not batches and all_teams)):
            with phase("delivery"):
                delivery.write_team_rows(ctx, None)
        with phase("state"):
            scope.save_state(ctx, plans, opts.target, teams)
        if opts.target == "all":
            _ai_impact(ctx, done, phase, result, opts.force_refresh, weeks)
            with phase("dora"):  # after What Shipped: it fills repo_prs.deployed_at
                result.dora = dora.run(ctx, repos, opts.force_refresh)
    finally:
        for name in WORK_TABLES:
            _sql.drop_work_table(store, name)
    return result


@cache
def _shipped_rules() -> AiRules:
    """The shipped AI rules, parsed once per process: the YAML parse took 0.1 s of every
    run, a quarter of a small store's incremental run (a rules file given is read each run)."""
    return load_rules(None)


def _ai_impact(
    ctx: Ctx,
    done: ai_attribution.AttributionResult,
    phase: Callable[[str], AbstractContextManager[None]],
    result: AnalyzeResult,
    force: bool,
    dirty_weeks: Iterable[date] = (),
) -> None:
    """``analyze ai`` (and the end of ``analyze all``): the weekly impact, after attribution
    (incremental unless forced or the attribution was recomputed in full)."""
    with phase("ai_impact"):
        full = force or done.mode == "full"
        weekly = ai_impact.write_impact(ctx, full=full, dirty_weeks=dirty_weeks)
    result.ai_work = {
        "recomputed in full": int(done.mode == "full"),
        "commits read": done.commits,
        "PRs read": done.prs,
        "AI reviews read": done.reviews,
        **{f"{kind} rows written": n for kind, n in sorted(done.rows.items())},
        "ai_impact_weekly rows": weekly,
    }


def _run_phases(
    ctx: Ctx,
    opts: AnalyzeOptions,
    phase: Callable[[str], AbstractContextManager[None]],
    result: AnalyzeResult,
    repo_names: list[str],
    team_rows: bool | None,
) -> None:
    """Every phase after the scope, on the PRs of ``_fl_dirty``. ``team_rows``: the delivery
    team rows of the dirty weeks (False), every one (True) or none (None: the caller's)."""
    with phase("pr_facts"):
        prs.build_pr_base(ctx)
        prs.build_reviews(ctx)
        prs.build_paths(ctx)
    with phase("file_history"):
        prs.build_files(ctx)
    with phase("risk_features"):
        risk_mod.build_file_aggregates(ctx)
        risk_mod.build_risk(ctx)
        for name in (FILES, PATHS, PRFILE):  # free memory early
            _sql.drop_work_table(ctx.store, name)
    if ctx.config.ai_features:
        from forgelens.analytics import ai_features

        with phase("ai_features"):
            result.ai = ai_features.classify(ctx, opts.ai_store, learn=opts.ai_learn).as_dict()
    with phase("what_shipped"):
        scope.build_dirty_periods(ctx)
        what_shipped.write_what_shipped(ctx)
    if opts.target in ("engineer_lens", "all"):
        with phase("daily"):
            result.dirty_days += engineer_lens.write_daily(ctx)
        # The window and ownership snapshots are written in one transaction: on a new end date
        # both are inserted whole, and one commit (with DuckDB's checkpoint of the write-ahead
        # log it triggers) costs less than two. It is made, and timed, in "ownership".
        with ExitStack() as snapshots:
            with phase("windows"):
                snapshots.enter_context(ctx.store.transaction())
                engineer_lens.write_windows(ctx)
            with phase("ownership"):
                ownership.write_ownership(ctx)
                if opts.blame is not None:
                    ownership.blame_ownership(ctx, repo_names[0], opts.blame)
                snapshots.close()  # the commit
    if opts.target == "all":
        with phase("delivery"):
            delivery.write_delivery(ctx, team_rows)
        with phase("review_policy"):
            review_policy.write_review_policy(ctx)
    if opts.llm_summaries:
        llm = summaries.LlmSettings.from_env(opts.llm_limit)
        if llm is None:
            raise BadInput(
                "--llm-summaries needs OPENAI_API_KEY (and OPENAI_BASE_URL if not OpenAI)"
            )
        with phase("llm_summaries"):
            result.llm_calls = summaries.llm_summaries(ctx, llm)
