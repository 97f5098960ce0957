"""Swap the collection of one forge kind for a test's own collector.

``collect`` hands each forge's specs to ``engine.collect.collect_forge``; a test replaces it
for one kind and keeps the others (the monkeypatch undoes the swap)."""

from __future__ import annotations

import pytest

from forgelens.engine import collect as collect_module
from forgelens.engine.collect import CollectOptions, CollectResult, ForgeCollector
from forgelens.engine.progress import Progress
from forgelens.sources.spec import SourceSpec
from forgelens.store import Store

REAL_COLLECT_FORGE = collect_module.collect_forge


def swap_collector(mp: pytest.MonkeyPatch, kind: str, collector: ForgeCollector) -> None:
    """From now on (until ``mp`` undoes it), ``kind`` sources are collected by ``collector``."""
    previous = collect_module.collect_forge

    def collect_forge(
        k: str, store: Store, specs: list[SourceSpec], opts: CollectOptions, progress: Progress
    ) -> CollectResult:
        if k == kind:
            return collector(store, specs, opts, progress)
        return previous(k, store, specs, opts, progress)

    mp.setattr(collect_module, "collect_forge", collect_forge)
