"""``forgelens collect gitea:...``, ``backfill`` and ``completeness`` end to end against the
simulated Gitea: the token from ``GITEA_TOKEN``, ``--api-url`` naming the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgelens.cli import main
from forgelens.config import get_settings
from forgelens.store import open_store
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GITEA_TOKEN", "gt-test")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_collect_an_organization_then_backfill_and_completeness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"duckdb:///{tmp_path / 'g.duckdb'}"
    sim = ForgeSim(generate(1, SimSize(repos=2, prs_per_repo=4)), tokens={"gt-test"})
    with serve(sim) as url:
        assert main(["collect", "gitea:acme", "--api-url", url, "--db", db]) == 0
        rid = "gitea:acme/service-1"
        args = ["backfill", "--repository-id", rid, "--api-url", url, "--db", db, "--no-sweep"]
        assert main([*args, "--chunk-size", "3"]) == 0
        capsys.readouterr()
        assert main(["completeness", "--format", "json", "--db", db]) == 0
        rows = {r["repository_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[rid]["stored_prs"] == rows[rid]["forge_prs"] == 4
    store = open_store(db)
    got = store.query("SELECT repository_id, count(*) FROM pull_requests GROUP BY 1 ORDER BY 1")
    assert got == [("gitea:acme/service-0", 4), ("gitea:acme/service-1", 4)]
    sources = store.query("SELECT DISTINCT data_source FROM git_collection_runs")
    assert ("insight_gitea",) in sources
    store.close()


def test_a_rejected_token_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"duckdb:///{tmp_path / 'g.duckdb'}"
    sim = ForgeSim(generate(1, SimSize(repos=1, prs_per_repo=1)), tokens={"another"})
    with serve(sim) as url:
        assert main(["collect", "gitea:acme/service-0", "--api-url", url, "--db", db]) != 0
    err = capsys.readouterr().err
    assert "GITEA_TOKEN" in err
    assert "gt-test" not in err
