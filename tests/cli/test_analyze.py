"""``forgelens analyze``: help, errors a user can act on, and a run on a real store file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from forgelens import records as R
from forgelens.cli import main
from forgelens.store import open_store

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
RID = R.repository_id("github", "octo/app")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """``main`` points structlog at the captured stderr; undo that for later tests."""
    yield
    structlog.reset_defaults()


def make_store(path: Path) -> str:
    url = f"duckdb:///{path}"
    store = open_store(url)
    store.write_records(
        [
            R.Repository(id=RID, source="github", full_name="octo/app", name="app"),
            R.PullRequest(
                repository_id=RID,
                number=1,
                title="feat: x",
                state="merged",
                created_at=T0,
                updated_at=T0,
                author="alice",
                merged_at=T0 + timedelta(hours=3),
                additions=3,
                deletions=1,
            ),
        ]
    )
    store.close()
    return url


@pytest.mark.parametrize("command", ["engineer-lens", "what-shipped", "all"])
def test_every_analyze_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", command, "--help"]) == 0
    assert "Example: forgelens analyze" in capsys.readouterr().out


def test_conflicting_flags_fail_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = make_store(tmp_path / "s.duckdb")
    code = main(["analyze", "all", "--db", url, "--force-refresh", "--incremental"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "either --force-refresh or --incremental" in err


def test_unknown_repo_fails_and_keeps_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = make_store(tmp_path / "s.duckdb")
    assert main(["analyze", "what-shipped", "--db", url, "--repo", "no/such"]) == 2
    assert "no repository no/such" in capsys.readouterr().err
    store = open_store(url)
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 1
    store.close()


def test_analyze_all_fills_the_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = make_store(tmp_path / "s.duckdb")
    assert main(["analyze", "all", "--db", url, "--repo", "octo/app", "-f", "json"]) == 0
    assert '"PRs (re)computed"' in capsys.readouterr().out
    store = open_store(url)
    assert store.query("SELECT author, feature_rule FROM repo_prs") == [
        ("alice", "conventional_commit")
    ]
    assert store.query("SELECT sum(prs_merged) FROM author_metrics_daily")[0][0] == 1
    store.close()
