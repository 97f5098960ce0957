"""Attribution over a recorded history (tests/fixtures/ai_history): every marked commit found
with its tool and evidence, none of the unmarked ones claimed (this project's own 291
commits among them), trailers mined by the git miner."""

from __future__ import annotations

from pathlib import Path

from forgelens.analytics.ai_attribution import attribute
from forgelens.analytics.ai_rules import load_rules
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.store import Store
from tests.fixtures.ai_history.build import build


def test_every_marked_commit_found_and_no_unmarked_one_claimed(
    store: Store, tmp_path: Path
) -> None:
    recs = build(tmp_path / "history.git")
    collect_git(store, [f"git:{tmp_path / 'history.git'}"], GitCollectOptions(cache_dir=tmp_path))
    attribute(store, load_rules())
    found = {
        message: (tool, kind)
        for message, tool, kind in store.query(
            "SELECT c.message, a.tool, a.evidence_kind FROM ai_attribution a "
            "JOIN commits c ON c.repository_id = a.repository_id AND c.sha = a.key "
            "WHERE a.kind = 'commit'"
        )
    }
    expected = {
        str(r["message"]).rstrip("\n"): tuple(r["ai"])  # type: ignore[arg-type]
        for r in recs
        if r["ai"]
    }
    assert len(recs) == 305
    assert len(expected) == 12
    assert found == expected
    # the miner stored every co-author, the humans' too
    coauthors = store.query("SELECT email FROM commit_coauthors ORDER BY email")
    assert [e for (e,) in coauthors].count("ivo@example.org") == 2
    assert ("583231+octocat@users.noreply.github.com",) in coauthors
