"""One entry point for every collection: ``collect(store, specs, options)``.

The CLI, the service and the workers call this; it groups the specs by kind and hands each
group to its collector. Git sources are mined locally; every forge of the registry
(``sources/forges.py``) is synced by ``engine/sync.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.engine.progress import NullProgress, Progress
from forgelens.errors import BadInput
from forgelens.sources import forges
from forgelens.sources.spec import SourceSpec, parse_spec
from forgelens.store import Store


@dataclass
class CollectOptions(GitCollectOptions):
    """The git options (dates, branches, ``full``, batch size, sink, ...) plus the forges'."""

    api_url: str | None = None
    extra: dict[str, object] = field(default_factory=dict)  # forge-specific flags


@dataclass
class CollectResult:
    kind: str
    run_id: str
    repositories: list[str]
    commits: int = 0
    prs: int = 0
    files: int = 0
    authors: int = 0
    api_calls: int = 0
    errors: int = 0


ForgeCollector = Callable[[Store, list[SourceSpec], CollectOptions, Progress], CollectResult]


def collect_forge(
    kind: str, store: Store, specs: list[SourceSpec], opts: CollectOptions, progress: Progress
) -> CollectResult:
    """Sync ``specs`` of the registered forge ``kind`` (``BadInput`` for a kind not there)."""
    if kind not in forges.BY_KIND:
        raise BadInput(f"collecting {kind} sources is not available in this version")
    from forgelens.engine.sync import collect_forge as sync_forge_specs  # sync imports this

    return sync_forge_specs(forges.BY_KIND[kind], store, specs, opts, progress)


def collect(
    store: Store,
    specs: Sequence[str | SourceSpec],
    opts: CollectOptions,
    progress: Progress | None = None,
) -> list[CollectResult]:
    """Collect every source named in ``specs``: one run per kind of source."""
    progress = progress or NullProgress()
    parsed = [s if isinstance(s, SourceSpec) else parse_spec(s) for s in specs]
    if not parsed:
        raise BadInput("name at least one source, e.g. git:. or github:owner/repo")
    results: list[CollectResult] = []
    by_kind: dict[tuple[str, str | None], list[SourceSpec]] = {}
    for spec in parsed:
        by_kind.setdefault((spec.kind, spec.api_url), []).append(spec)
    for (kind, api_url), group in by_kind.items():
        if kind == "git":
            r = collect_git(store, [s.target for s in group], opts, progress)
            results.append(
                CollectResult("git", r.run_id, r.repositories, r.commits, 0, r.files, r.authors)
            )
            continue
        group_opts = replace(opts, api_url=api_url) if api_url else opts  # the spec's server
        results.append(collect_forge(kind, store, group, group_opts, progress))
    return results
