"""Embedding feature classifier (the optional ``[ai]`` extra, ``--ai-features``).

Runs after the rules (``features.py``) and before What Shipped is written, on this run's PRs
whose rule outcome is weak (``feature_rule`` in ``ai_weak_rules``, default ``title`` and
``none``):

1. the PR's title, normalised (``normalise_title``), is embedded with the packaged
   all-MiniLM-L6-v2 model — unless its embedding is already cached in Milvus Lite under
   ``text_key(title)``, so a re-run embeds nothing it has seen;
2. Milvus Lite returns the ``ai_neighbours`` (k, default 7) labelled examples most similar by
   cosine similarity (built-in ``seed_examples()`` plus those ``--ai-learn`` added);
3. when the most similar example reaches ``ai_min_similarity`` (default 0.25), the PR gets
   ``feature_rule = 'embedding'`` and ``feature_confidence`` = the weighted share of ``feature``
   among the k neighbours, each weighing its similarity cubed (``max(s, 0) ** 3``: the nearest
   count most), rounded to 6 decimals; otherwise it keeps its rule outcome. ``is_feature``
   follows the usual ``feature_threshold``.

``--ai-learn`` first adds, as labelled examples, up to ``ai_learn_limit`` feature and as many
non-feature PRs of this run whose rule was not weak: ``feature`` when their confidence reaches
``feature_threshold``, else the conventional-commit type of the title (``fix``, ``docs``…) or
``other``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forgelens.analytics import _ai_runtime as rt
from forgelens.analytics._ai_examples import seed_examples
from forgelens.analytics._ctx import PR, RISK, Ctx
from forgelens.analytics.config import AnalyticsConfig
from forgelens.config import get_settings
from forgelens.errors import BadInput
from forgelens.store import Store
from forgelens.store import sql as _sql

RULES = ("label", "conventional_commit", "linked_issue", "branch", "title", "none")
AI_RULE = "embedding"
_WORK = "_fl_ai"
_EMBED_CHUNK = 256
_CONV = re.compile(r"^\s*([a-z]+)(\([^)]*\))?!?:\s*", re.IGNORECASE)
_PR_REF = re.compile(r"\s*\(#\d+\)\s*$")
_CONV_CLASS = {
    "fix": "fix",
    "revert": "fix",
    "docs": "docs",
    "chore": "chore",
    "build": "chore",
    "refactor": "refactor",
    "style": "refactor",
    "test": "test",
    "tests": "test",
    "ci": "ci",
    "perf": "perf",
}


@dataclass
class AiStats:
    weak: int = 0  # PRs whose rule outcome was weak
    classified: int = 0  # of those, given feature_rule = 'embedding'
    embedded: int = 0  # texts run through the model this run
    cached: int = 0  # texts whose embedding came from the cache
    learned: int = 0  # examples added by --ai-learn

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def normalise_title(title: str | None) -> str:
    """Whitespace collapsed, a conventional-commit prefix and a trailing ``(#123)`` dropped."""
    text = " ".join((title or "").split())
    return _PR_REF.sub("", _CONV.sub("", text, count=1)).strip()


def default_store_path(store: Store) -> Path:
    """``<db>.milvus.db`` beside a DuckDB file; else one per store URL in the cache dir."""
    path = getattr(store, "path", None)
    if path is not None and str(path) != ":memory:":
        return Path(f"{path}.milvus.db")
    key = rt.text_key(store.url)[:12]
    return get_settings().cache_dir / "ai" / f"{key}.milvus.db"


def check(cfg: AnalyticsConfig, store: Store) -> None:
    """Fail early (before any phase runs) on a store without ``UPDATE ... FROM`` (ClickHouse),
    a missing extra or a setting out of range."""
    if not store.capabilities.update_from:
        raise BadInput(
            "--ai-features re-classifies PRs with UPDATE ... FROM a work table, which ClickHouse "
            "does not have: run it on DuckDB (--db duckdb:///path) or PostgreSQL "
            "(--db postgresql://...)"
        )
    bad = sorted(set(cfg.ai_weak_rules) - set(RULES))
    if bad:
        raise BadInput(
            f"ai_weak_rules: unknown rule(s) {', '.join(bad)}; known: {', '.join(RULES)}"
        )
    if cfg.ai_neighbours < 1 or cfg.ai_learn_limit < 0:
        raise BadInput("ai_neighbours must be at least 1 and ai_learn_limit at least 0")
    rt.require_extra()


def _rules_sql(ctx: Ctx, rules: Sequence[str]) -> str:
    return ", ".join(ctx.lit(r) for r in rules) or "NULL"


def classify(ctx: Ctx, store_path: Path | None = None, *, learn: bool = False) -> AiStats:
    """Re-classify this run's weak PRs in ``_fl_risk`` by their nearest labelled examples."""
    cfg = ctx.config
    check(cfg, ctx.store)
    stats = AiStats()
    vectors = rt.VectorStore(store_path or default_store_path(ctx.store))
    try:
        _ensure_seed_examples(vectors, stats)
        if learn:
            _learn(ctx, vectors, stats)
        rows = ctx.store.query(
            f"SELECT r.pk, b.title FROM {RISK} r JOIN {PR} b ON b.pk = r.pk "
            f"WHERE r.feature_rule IN ({_rules_sql(ctx, cfg.ai_weak_rules)}) ORDER BY r.pk"
        )
        stats.weak = len(rows)
        rows = [(pk, text) for pk, title in rows if (text := normalise_title(title))]
        if not rows:
            return stats
        found = _embeddings(vectors, [text for _, text in rows], stats)
        hits = vectors.neighbours([found[rt.text_key(t)] for _, t in rows], cfg.ai_neighbours)
        decided = [
            (int(pk), conf)
            for (pk, _), near in zip(rows, hits, strict=True)
            if (conf := vote(near, cfg.ai_min_similarity)) is not None
        ]
        stats.classified = len(decided)
        _write(ctx, decided)
    finally:
        vectors.close()
    return stats


def vote(neighbours: Sequence[tuple[str, float]], min_similarity: float) -> float | None:
    """The feature confidence of k ``(label, similarity)`` neighbours; None when too far."""
    if not neighbours or max(s for _, s in neighbours) < min_similarity:
        return None
    total = sum(max(s, 0.0) ** 3 for _, s in neighbours)
    feature = sum(max(s, 0.0) ** 3 for label, s in neighbours if label == "feature")
    return round(feature / total, 6) if total > 0 else None


def _embeddings(
    vectors: rt.VectorStore, texts: Sequence[str], stats: AiStats
) -> dict[str, list[float]]:
    """Every text's embedding by ``text_key``: from the cache, the rest computed and cached."""
    keys = {rt.text_key(t): t for t in texts}
    found = vectors.get_vectors(rt.CACHE, list(keys))
    stats.cached += len(found)
    todo = [k for k in keys if k not in found]
    for start in range(0, len(todo), _EMBED_CHUNK):  # cached as we go: an interrupted run
        chunk = todo[start : start + _EMBED_CHUNK]  # keeps its work, Milvus is never idle long
        computed = rt.embedder().embed([keys[k] for k in chunk])
        stats.embedded += len(chunk)
        rows = [{"id": k, "vector": v.tolist()} for k, v in zip(chunk, computed, strict=True)]
        vectors.upsert(rt.CACHE, rows)
        found.update((r["id"], r["vector"]) for r in rows)
    return found


def _example_id(label: str, text: str) -> str:
    return rt.text_key(f"{label}\x1f{text}")


def _add_examples(
    vectors: rt.VectorStore, examples: Sequence[tuple[str, str]], origin: str, stats: AiStats
) -> int:
    """Upsert ``(label, text)`` examples not stored yet; return how many were new."""
    by_id = {_example_id(label, text): (label, text) for label, text in examples}
    have = vectors.get_vectors(rt.EXAMPLES, list(by_id))
    new = [i for i in by_id if i not in have]
    if new:
        found = _embeddings(vectors, [by_id[i][1] for i in new], stats)
        vectors.upsert(
            rt.EXAMPLES,
            [
                {
                    "id": i,
                    "vector": found[rt.text_key(by_id[i][1])],
                    "label": by_id[i][0],
                    "text": by_id[i][1],
                    "origin": origin,
                }
                for i in new
            ],
        )
    return len(new)


def _ensure_seed_examples(vectors: rt.VectorStore, stats: AiStats) -> None:
    """Store the built-in examples once; drop built-in ones this version no longer has."""
    seeds = seed_examples()
    _add_examples(vectors, seeds, "seed", stats)
    current = {_example_id(label, text) for label, text in seeds}
    stale = [i for i in vectors.ids(rt.EXAMPLES, 'origin == "seed"') if i not in current]
    vectors.delete(rt.EXAMPLES, stale)


def learned_label(title: str, confidence: float, threshold: float) -> str:
    if confidence >= threshold:
        return "feature"
    m = _CONV.match(title or "")
    return _CONV_CLASS.get(m.group(1).lower(), "other") if m else "other"


def _learn(ctx: Ctx, vectors: rt.VectorStore, stats: AiStats) -> None:
    cfg = ctx.config
    not_confident = _rules_sql(ctx, [*cfg.ai_weak_rules, AI_RULE])
    limit = int(cfg.ai_learn_limit)
    rows = ctx.store.query(
        f"""
        SELECT title, feature_confidence FROM (
            SELECT b.title, r.feature_confidence,
                row_number() OVER (
                    PARTITION BY r.feature_confidence >= {cfg.feature_threshold}
                    ORDER BY b.created_at DESC, b.pk) AS rn
            FROM {RISK} r JOIN {PR} b ON b.pk = r.pk
            WHERE r.feature_rule NOT IN ({not_confident})
        ) t WHERE rn <= {limit}
        """
    )
    examples = [
        (learned_label(title, float(conf), cfg.feature_threshold), text)
        for title, conf in rows
        if (text := normalise_title(title))
    ]
    stats.learned = _add_examples(vectors, examples, "learned", stats)


def _write(ctx: Ctx, decided: Sequence[tuple[int, float]]) -> None:
    """Set ``feature_rule``, ``feature_confidence`` and ``is_feature`` of the decided PRs."""
    if not decided:
        return
    store = ctx.store
    try:
        for start in range(0, len(decided), 5000):
            rows = [[str(pk), repr(conf)] for pk, conf in decided[start : start + 5000]]
            select = (
                "SELECT pk, CAST(conf AS DOUBLE PRECISION) AS conf "
                f"FROM ({_sql.values(store, ['pk', 'conf'], rows)}) v"
            )
            if start == 0:
                ctx.work(_WORK, select)
            else:
                _sql.run(store, f"INSERT INTO {_WORK} {select}", what=_WORK)
        _sql.run(
            store,
            f"UPDATE {RISK} SET feature_rule = {ctx.lit(AI_RULE)}, feature_confidence = a.conf, "
            f"is_feature = a.conf >= {ctx.config.feature_threshold} "
            f"FROM {_WORK} a WHERE {RISK}.pk = a.pk",
            what=RISK,
        )
    finally:
        _sql.drop_work_table(store, _WORK)
