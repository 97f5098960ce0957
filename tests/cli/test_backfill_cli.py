"""``forgelens backfill`` / ``backfill status`` / ``backfill resume`` / ``completeness``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgelens.cli import main
from forgelens.config import get_settings
from forgelens.store import open_store
from tests.engine.backfillhelp import big_sim, repo_id
from tests.sources.simhelp import running


@pytest.fixture(autouse=True)
def _no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _count(db: str, sql: str) -> int:
    store = open_store(db)
    try:
        return int(store.query(sql)[0][0])
    finally:
        store.close()


def test_backfill_status_resume_completeness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"duckdb:///{tmp_path / 'b.duckdb'}"
    sim = big_sim(60)
    repo = repo_id(sim)
    common = ["--repository-id", repo, "--api-url", "", "--db", db, "--no-sweep"]
    with running(sim) as url:
        common[3] = url
        assert main(["backfill", "--dry-run", "--chunk-size", "20", *common]) == 0
        out = capsys.readouterr().out
        assert "dry run: nothing written" in out
        assert "estimated API calls" in out
        assert _count(db, "SELECT count(*) FROM backfill_state") == 0

        summary = tmp_path / "out" / "summary.json"
        args = [
            "backfill",
            "--chunk-size",
            "20",
            "--max-chunks",
            "2",
            "--summary-json",
            str(summary),
        ]
        assert main([*args, *common]) == 0
        out = capsys.readouterr().out
        assert "chunks: 2  prs: 40" in out
        data = json.loads(summary.read_text())
        assert data["chunks"] == 2
        assert data["errors"]["totalErrors"] == 0
        assert data["repositories"][0]["status"] == "active"

        assert main(["backfill", "status", "--format", "json", "--db", db]) == 0
        out = capsys.readouterr().out
        assert '"progress": "40/60"' in out
        assert '"eta"' in out

        store = open_store(db)
        store.execute("UPDATE backfill_state SET status = 'paused', pause_reason = 'test'")
        store.close()
        assert main(["backfill", "status", "--db", db]) == 0
        assert "paused" in capsys.readouterr().out
        assert main(["backfill", *common]) == 0  # paused: left alone, said so
        assert "run `forgelens backfill resume" in capsys.readouterr().out
        assert main(["backfill", "resume", repo, "--db", db]) == 0
        assert f"{repo}: active" in capsys.readouterr().out
        assert main(["backfill", "--every", "1s", "--runs", "2", *common]) == 0
        assert capsys.readouterr().out.count("\nchunks: ") == 2

        assert main(["completeness", "--format", "json", "--db", db]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert rows[0]["repository_id"] == repo
        assert rows[0]["stored_prs"] == rows[0]["forge_prs"] == 60
    ledger = _count(db, "SELECT count(*) FROM git_collection_runs WHERE status = 'completed'")
    assert ledger == 4  # the dry run recorded nothing


def test_bad_input_and_critical_failures_exit_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"duckdb:///{tmp_path / 'b.duckdb'}"
    assert main(["backfill", "resume", "github:a/b", "--db", db]) == 2
    assert "no backfill for this repository" in capsys.readouterr().err
    assert main(["backfill", "--every", "soon", "--db", db]) == 2
    assert main(["backfill", "--repository-id", "nope", "--db", db]) == 2
    sim = big_sim(10, tokens={"good"})
    monkeypatch.setenv("GITHUB_TOKEN", "bad")
    get_settings.cache_clear()
    with running(sim) as url:
        code = main(["backfill", "--repository-id", repo_id(sim), "--api-url", url, "--db", db])
    assert code == 1
    assert "critical: github:acme/service-0: GitHub token rejected" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command", [["backfill"], ["backfill", "status"], ["backfill", "resume"], ["completeness"]]
)
def test_help_has_an_example(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    assert "Example: forgelens " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "target"), [("gitlab", "acme/service-0"), ("bitbucket-server", "ACME/service-0")]
)
def test_backfill_of_other_forges_through_the_cli(
    kind: str, target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"duckdb:///{tmp_path / 'b.duckdb'}"
    sim = big_sim(30)
    repo = f"{kind}:{target}"
    with running(sim) as url:
        common = ["--repository-id", repo, "--api-url", url, "--db", db, "--no-sweep"]
        assert main(["backfill", "--dry-run", "--chunk-size", "10", *common]) == 0
        assert "dry run: nothing written" in capsys.readouterr().out
        assert main(["backfill", "--chunk-size", "10", "--max-chunks", "5", *common]) == 0
    assert _count(db, "SELECT count(*) FROM pull_requests") == 30
    assert _count(db, "SELECT count(*) FROM pr_files") == sum(
        len(p.files) for p in sim.dataset.repos[0].prs
    )
    done = f"SELECT count(*) FROM backfill_state WHERE repository_id = '{repo}'"
    assert _count(db, done + " AND status = 'completed'") == 1
