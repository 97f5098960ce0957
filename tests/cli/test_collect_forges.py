"""``forgelens collect`` for GitLab/Bitbucket end to end: flags -> source -> store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from forgelens.cli import main
from forgelens.config import get_settings
from forgelens.store import open_store
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
from tests.sources.forgehelp import self_signed_cert


@pytest.fixture(autouse=True)
def _tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-test")
    monkeypatch.setenv("BITBUCKET_TOKEN", "me:app-password")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_collect_gitlab_over_tls_with_ca_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = self_signed_cert(tmp_path)
    db = f"duckdb:///{tmp_path / 'x.duckdb'}"
    sim = ForgeSim(generate(1, SimSize(repos=1, prs_per_repo=3)), tokens={"glpat-test"})
    with serve(sim, tls=(cert, key)) as url:
        args = ["collect", "gitlab:acme/service-0", "--api-url", url, "--db", db]
        assert main(args) != 0  # the certificate is not trusted yet
        assert "--ca-bundle" in capsys.readouterr().err
        assert main([*args, "--ca-bundle", cert]) == 0
    store = open_store(db)
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 3
    assert store.query(
        "SELECT DISTINCT data_source FROM git_collection_runs WHERE status = ?", ["completed"]
    ) == [("insight_gitlab",)]
    store.close()


def test_collect_bitbucket_cloud_workspace_with_app_password(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path / 'x.duckdb'}"
    sim = ForgeSim(generate(1, SimSize(repos=2, prs_per_repo=2)), tokens={"me:app-password"})
    with serve(sim) as url:
        assert main(["collect", "bitbucket:acme", "--api-url", url + "/2.0", "--db", db]) == 0
    store = open_store(db)
    rows = store.query("SELECT repository_id, count(*) FROM pull_requests GROUP BY 1 ORDER BY 1")
    assert rows == [("bitbucket:acme/service-0", 2), ("bitbucket:acme/service-1", 2)]
    store.close()
