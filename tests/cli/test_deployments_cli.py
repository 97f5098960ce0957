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
