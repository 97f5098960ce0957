"""``forgelens deployments record`` / ``incident``: what a CD script calls."""

from __future__ import annotations

from pathlib import Path

from forgelens import records as R
from forgelens.cli import main
from forgelens.store import open_store

SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def test_record_writes_a_deployment_and_refuses_an_unknown_repository(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    url = f"duckdb:///{tmp_path / 'c.duckdb'}"
    store = open_store(url)
    store.write_records([R.Repository(id="git:app", source="git", full_name="app", name="app")])
    store.close()
    base = ["deployments", "record", "--db", url, "--sha", SHA]
    assert main([*base, "--repository", "app", "--id", "7", "--status", "failed"]) == 0
    assert main([*base, "--repository", "nope"]) != 0
    assert "collect it first" in capsys.readouterr().err
    assert (
        main(
            [
                "deployments",
                "incident",
                "--db",
                url,
                "--repository",
                "git:app",
                "--id",
                "PD-1",
                "--created-at",
                "2026-03-01T10:00:00Z",
            ]
        )
        == 0
    )
    store = open_store(url)
    try:
        assert store.query("SELECT deployment_id, status FROM deployments") == [
            ("api:7", "failure")
        ]
        assert store.query("SELECT incident_id FROM incidents") == [("api:PD-1",)]
    finally:
        store.close()


def test_from_ci_takes_only_the_concluded_deploy_job_on_the_branch(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    url = f"duckdb:///{tmp_path / 'ci.duckdb'}"
    store = open_store(url)
    at = datetime(2026, 3, 1, tzinfo=UTC)

    def run(run_id: str, name: str, conclusion: str | None, branch: str = "main") -> R.CiRun:
        return R.CiRun(
            "git:app",
            run_id,
            name,
            "completed",
            conclusion,
            at,
            head_sha=SHA,
            head_branch=branch,
            started_at=at,
            completed_at=at,
        )

    store.write_records(
        [
            R.Repository(id="git:app", source="git", full_name="app", name="app"),
            run("1", "deploy-prod", "success"),
            run("2", "deploy-prod", "failure"),
            run("3", "deploy-prod", None),  # still running
            run("4", "deploy-prod", "skipped"),  # the deploy stage never ran
            run("5", "deploy-prod-healthcheck", "success"),  # a later job, not the deploy
            run("6", "deploy-prod", "success", branch="feature"),
            run("7", "build", "success"),
        ]
    )
    store.close()
    assert (
        main(
            [
                "deployments",
                "from-ci",
                "--db",
                url,
                "--repository",
                "app",
                "--name",
                "^deploy-prod$",
            ]
        )
        == 0
    )
    store = open_store(url)
    try:
        assert store.query(
            "SELECT deployment_id, status, environment_kind FROM deployments ORDER BY 1"
        ) == [("ci:1", "success", "production"), ("ci:2", "failure", "production")]
    finally:
        store.close()
