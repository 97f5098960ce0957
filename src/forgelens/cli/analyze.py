"""``forgelens analyze``: Engineer Lens, What Shipped, delivery metrics and review policy."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, AnalyzeResult, analyze
from forgelens.cli._common import DbOption, FormatOption, print_rows, store_for
from forgelens.errors import BadInput
from forgelens.pipeline_runs.self_record import recorded

app = typer.Typer(
    help="Turn collected data into analytics tables (incremental by default).",
    no_args_is_help=True,
)

RepoOption = Annotated[
    list[str] | None,
    typer.Option("--repo", help="OWNER/REPO (or repository id); repeat for several."),
]
AllReposOption = Annotated[
    bool, typer.Option("--all-repos", help="Every repository in the store (the default).")
]
ForceOption = Annotated[
    bool,
    typer.Option("--force-refresh", help="Clear these repositories' analytics rows and recompute."),
]
IncrementalOption = Annotated[
    bool,
    typer.Option(
        "--incremental", help="Recompute only what changed since the last analysis (default)."
    ),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML file overriding weights and thresholds.")
]
EndOption = Annotated[
    str | None,
    typer.Option("--end-date", help="Last day (UTC) of the window snapshots; default today."),
]
IdentitiesOption = Annotated[
    Path | None, typer.Option("--identities", help="identities.yml merging logins and emails.")
]
MailmapOption = Annotated[
    list[Path] | None, typer.Option("--mailmap", help="A .mailmap file; repeat for several.")
]
BotsOption = Annotated[
    bool, typer.Option("--include-bots", help="Count bots in engineer metrics too.")
]
AiFeaturesOption = Annotated[
    bool,
    typer.Option(
        "--ai-features",
        help="Classify PRs the rules are unsure of by embedding (needs forgelens[ai]).",
    ),
]
AiLearnOption = Annotated[
    bool,
    typer.Option(
        "--ai-learn", help="With --ai-features: add this run's confidently ruled PRs as examples."
    ),
]
AiRulesOption = Annotated[
    Path | None,
    typer.Option(
        "--ai-rules",
        envvar="FORGELENS_AI_RULES",
        help="YAML adding AI identities, markers, labels, branches (shape of ai_rules.yaml).",
    ),
]
AiStoreOption = Annotated[
    Path | None,
    typer.Option(
        "--ai-store",
        envvar="FORGELENS_AI_STORE",
        help="Milvus Lite database of the examples and embeddings (default <db>.milvus.db).",
    ),
]


def _run(
    target: str,
    *,
    repo: list[str] | None = None,
    all_repos: bool = False,
    force_refresh: bool = False,
    incremental: bool = False,
    config: Path | None = None,
    end_date: str | None = None,
    identities: Path | None = None,
    mailmap: list[Path] | None = None,
    include_bots: bool = False,
    db: str | None = None,
    fmt: str = "table",
    blame: Path | None = None,
    llm_summaries: bool = False,
    llm_limit: int = 200,
    ai_features: bool = False,
    ai_learn: bool = False,
    ai_store: Path | None = None,
    ai_rules: Path | None = None,
    batch_prs: int | None = None,
) -> AnalyzeResult:
    if repo and all_repos:
        raise BadInput("pass either --repo OWNER/REPO or --all-repos, not both")
    if force_refresh and incremental:
        raise BadInput("pass either --force-refresh or --incremental, not both")
    try:
        end = date.fromisoformat(end_date) if end_date else None
    except ValueError:
        raise BadInput(f"--end-date {end_date!r}: write a date like 2026-01-31") from None
    cfg = AnalyticsConfig.load(config)
    if include_bots:
        cfg = dataclasses.replace(cfg, include_bots=True)
    if ai_features:
        cfg = dataclasses.replace(cfg, ai_features=True)
    if ai_learn and not cfg.ai_features:
        raise BadInput("--ai-learn goes with --ai-features (or ai_features = true in --config)")
    opts = AnalyzeOptions(
        target=target,
        repos=list(repo) if repo else None,
        force_refresh=force_refresh,
        config=cfg,
        end_date=end,
        identities_file=identities,
        mailmaps=list(mailmap or []),
        blame=blame,
        llm_summaries=llm_summaries,
        llm_limit=llm_limit,
        ai_store=ai_store,
        ai_learn=ai_learn,
        ai_rules=ai_rules,
        batch_prs=batch_prs,
    )
    store = store_for(db)
    try:
        result = recorded(store, "analyze", lambda: analyze(store, opts))  # pipeline_runs
    finally:
        store.close()
    rows: list[dict[str, object]] = [
        {"what": "repositories analysed", "value": result.repositories},
        {"what": "repositories unchanged", "value": result.repositories_skipped},
        {"what": "PRs (re)computed", "value": result.prs},
        {"what": "batches of repositories", "value": result.batches},
    ]
    rows += [{"what": f"embedding {k}", "value": v} for k, v in result.ai.items()]
    rows += [{"what": f"ai {k}", "value": v} for k, v in result.ai_work.items()]
    rows += [{"what": f"dora {k}", "value": v} for k, v in result.dora.items()]
    rows += [{"what": f"phase {k} (s)", "value": f"{v:.3f}"} for k, v in result.phases.items()]
    rows.append({"what": "total (s)", "value": f"{result.seconds:.3f}"})
    print_rows(rows, fmt, f"forgelens analyze {target.replace('_', '-')}")
    return result


@app.command("engineer-lens")
def engineer_lens(
    repo: RepoOption = None,
    all_repos: AllReposOption = False,
    force_refresh: ForceOption = False,
    incremental: IncrementalOption = False,
    config: ConfigOption = None,
    end_date: EndOption = None,
    identities: IdentitiesOption = None,
    mailmap: MailmapOption = None,
    include_bots: BotsOption = False,
    blame: Annotated[
        Path | None,
        typer.Option("--blame", help="Local checkout of the --repo: add HEAD line ownership."),
    ] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Fill authors, author_metrics_daily/_window, author_file_ownership, author_prs_window.

    Example: forgelens analyze engineer-lens --repo octo/hello --force-refresh
    """
    _run(
        "engineer_lens",
        repo=repo,
        all_repos=all_repos,
        force_refresh=force_refresh,
        incremental=incremental,
        config=config,
        end_date=end_date,
        identities=identities,
        mailmap=mailmap,
        include_bots=include_bots,
        db=db,
        fmt=fmt,
        blame=blame,
    )


@app.command("what-shipped")
def what_shipped(
    repo: RepoOption = None,
    all_repos: AllReposOption = False,
    force_refresh: ForceOption = False,
    incremental: IncrementalOption = False,
    config: ConfigOption = None,
    identities: IdentitiesOption = None,
    mailmap: MailmapOption = None,
    llm_summaries: Annotated[
        bool,
        typer.Option(
            "--llm-summaries", help="Summaries from OPENAI_BASE_URL (cached by content hash)."
        ),
    ] = False,
    llm_limit: Annotated[int, typer.Option(help="At most this many LLM summaries a run.")] = 200,
    ai_features: AiFeaturesOption = False,
    ai_learn: AiLearnOption = False,
    ai_store: AiStoreOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Fill repo_prs: features, risk score and reasons, risky files, summaries.

    Example: forgelens analyze what-shipped --repo octo/hello --incremental --ai-features
    """
    _run(
        "what_shipped",
        repo=repo,
        all_repos=all_repos,
        force_refresh=force_refresh,
        incremental=incremental,
        config=config,
        identities=identities,
        mailmap=mailmap,
        db=db,
        fmt=fmt,
        llm_summaries=llm_summaries,
        llm_limit=llm_limit,
        ai_features=ai_features,
        ai_learn=ai_learn,
        ai_store=ai_store,
    )


@app.command("dora")
def dora(
    repo: RepoOption = None,
    all_repos: AllReposOption = False,
    force_refresh: ForceOption = False,
    incremental: IncrementalOption = False,
    config: ConfigOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Link deployments to their commits by ancestry; fill change_failures and the five DORA
    metrics (dora_metrics_weekly / _monthly). Rules: [dora] of --config.

    Example: forgelens analyze dora --repo octo/hello
    """
    _run(
        "dora",
        repo=repo,
        all_repos=all_repos,
        force_refresh=force_refresh,
        incremental=incremental,
        config=config,
        db=db,
        fmt=fmt,
    )


@app.command("all")
def all_(
    repo: RepoOption = None,
    all_repos: AllReposOption = False,
    force_refresh: ForceOption = False,
    incremental: IncrementalOption = False,
    config: ConfigOption = None,
    end_date: EndOption = None,
    identities: IdentitiesOption = None,
    mailmap: MailmapOption = None,
    include_bots: BotsOption = False,
    ai_features: AiFeaturesOption = False,
    ai_learn: AiLearnOption = False,
    ai_store: AiStoreOption = None,
    ai_rules: AiRulesOption = None,
    batch_prs: Annotated[
        int | None,
        typer.Option(
            "--batch-prs",
            help="A full recompute of more PRs runs in batches of repositories this size "
            "(default 1,000,000 on ClickHouse, one batch elsewhere; 0: one batch).",
        ),
    ] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Everything: What Shipped, Engineer Lens, delivery metrics, review policy, AI work, DORA.

    Example: forgelens analyze all --all-repos
    """
    _run(
        "all",
        repo=repo,
        all_repos=all_repos,
        force_refresh=force_refresh,
        incremental=incremental,
        config=config,
        end_date=end_date,
        identities=identities,
        mailmap=mailmap,
        include_bots=include_bots,
        db=db,
        fmt=fmt,
        ai_features=ai_features,
        ai_learn=ai_learn,
        ai_store=ai_store,
        ai_rules=ai_rules,
        batch_prs=batch_prs,
    )


@app.command("ai")
def ai(
    force_refresh: ForceOption = False,
    incremental: IncrementalOption = False,
    identities: IdentitiesOption = None,
    mailmap: MailmapOption = None,
    ai_rules: AiRulesOption = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Fill ai_attribution (AI evidence per commit, PR and review) and ai_impact_weekly.

    Every repository; incremental unless --force-refresh (or the rules changed). Shares are
    lower bounds: a change made with AI that left no marker counts as other work. The
    comparisons read pr_facts: run `analyze all` (which ends with this) to refresh them.

    Example: forgelens analyze ai --ai-rules our-ai-rules.yaml
    """
    _run(
        "ai",
        force_refresh=force_refresh,
        incremental=incremental,
        identities=identities,
        mailmap=mailmap,
        db=db,
        fmt=fmt,
        ai_rules=ai_rules,
    )
